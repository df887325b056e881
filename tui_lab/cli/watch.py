"""``tui-lab watch RUN_DIR``: the lab's charts on a run another process is writing (or has written)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui_lab.core.config import LabConfig
from tui_lab.core.errors import LabError
from tui_lab.core.training.runs import CONFIG_FILE, EVENTS_FILE

NAME = "watch"


def add_parser(sub: Any) -> None:
    """Add ``watch`` to the CLI's subparsers."""
    w = sub.add_parser(
        NAME, help="open the lab's charts on a run another process is writing (or has written)"
    )
    w.add_argument("run_dir", metavar="RUN_DIR")


def run(args: argparse.Namespace) -> int:
    """Open the lab on a run folder: replay its events, then follow new ones."""
    run_dir = Path(args.run_dir).expanduser()
    if not run_dir.is_dir():
        raise LabError(f"{run_dir} is not a run folder (it does not exist or is a file).")
    if not (run_dir / EVENTS_FILE).exists() and not (run_dir / CONFIG_FILE).exists():
        raise LabError(
            f"{run_dir} has no events.jsonl; give a folder that tui-lab train writes (runs/<name>)."
        )
    config = LabConfig()
    config.train.output_dir = str(run_dir.resolve().parent)
    from tui_lab.ui.app import run_lab  # imports textual

    return run_lab(config, watch=str(run_dir))
