"""``tui-lab watch RUN_DIR``: the lab's charts on a run another process is writing (or has written);
``tui-lab watch SWEEP_DIR`` (a folder with a ``sweep.json``): the lab's Sweep screen on that sweep."""

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
        NAME,
        help="open the lab's charts on a run another process is writing (or has written), "
        "or the Sweep screen on a sweep folder",
    )
    w.add_argument("run_dir", metavar="RUN_DIR", help="a run folder, or a sweep folder (it has sweep.json)")


def run(args: argparse.Namespace) -> int:
    """Open the lab on a run folder (replay its events, then follow new ones) or a sweep folder."""
    run_dir = Path(args.run_dir).expanduser()
    if not run_dir.is_dir():
        raise LabError(f"{run_dir} is not a run folder (it does not exist or is a file).")
    from tui_lab.ui.widgets.sweep_data import is_sweep_dir

    if is_sweep_dir(run_dir):
        return _watch_sweep(run_dir)
    if not (run_dir / EVENTS_FILE).exists() and not (run_dir / CONFIG_FILE).exists():
        raise LabError(
            f"{run_dir} has no events.jsonl (nor sweep.json); give a folder that tui-lab train writes "
            f"(runs/<name>) or one that tui-lab sweep writes."
        )
    config = LabConfig()
    config.train.output_dir = str(run_dir.resolve().parent)
    from tui_lab.ui.app import run_lab  # imports textual

    return run_lab(config, watch=str(run_dir))


def _watch_sweep(sweep_dir: Path) -> int:
    """The lab on the Sweep screen, with the sweep's base config in the form (when it reads)."""
    from tui_lab.ui.widgets.sweep_data import read_spec

    try:
        config = LabConfig.from_dict(
            read_spec(sweep_dir).get("config") or {}, source=f"{sweep_dir}/sweep.json"
        )
    except (AttributeError, LabError):
        config = LabConfig()  # the screen says what it cannot read; the form keeps the defaults
    config.train.output_dir = str(sweep_dir.resolve().parent)
    from tui_lab.ui.app import run_lab  # imports textual

    return run_lab(config, watch=str(sweep_dir))
