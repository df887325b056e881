"""``tui-lab`` with no command: the Textual lab, its form prefilled from ``--config`` and the flags."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui_lab.cli.common import config_from_args
from tui_lab.core.errors import LabError


def run(args: argparse.Namespace) -> int:
    """Open the Textual lab, prefilled from ``--config`` and the flags."""
    config = config_from_args(args)
    from tui_lab.ui.app import run_lab  # imports textual

    if args.model_dir and not Path(args.model_dir).exists():
        raise LabError(f"--model-dir {args.model_dir} does not exist.")
    return run_lab(config, model_dir=args.model_dir, config_path=args.config)
