"""``tui-lab runs``: the runs in the output folder with their status and best metrics."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from tui_lab.cli.common import EXIT_OK
from tui_lab.core.errors import LabError
from tui_lab.core.settings import TrainConfig

NAME = "runs"
DEFAULT_DIR = TrainConfig().output_dir

# (label, metric, format) in the order a run's headline shows them
HEADLINE = (
    ("acc", "accuracy", ".3f"),
    ("f1", "f1_macro", ".3f"),
    ("f1_micro", "f1_micro", ".3f"),
    ("entity f1", "f1", ".3f"),
    ("ppl", "perplexity", ".1f"),
)


def add_parser(sub: Any) -> None:
    """Add ``runs`` to the CLI's subparsers."""
    r = sub.add_parser(NAME, help="list the runs in the output folder")
    r.add_argument(
        "--output-dir",
        metavar="DIR",
        help=f"the folder tui-lab train writes runs into (default: {DEFAULT_DIR})",
    )
    r.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    """The runs in the output folder with status and best metrics."""
    from tui_lab.core.training.runs import list_runs

    folder = Path(args.output_dir or DEFAULT_DIR).expanduser()
    if folder.exists() and not folder.is_dir():
        raise LabError(f"{folder} is a file; give --output-dir the folder tui-lab train writes runs into.")
    if args.output_dir and not folder.exists():
        raise LabError(
            f"{folder} does not exist; give --output-dir the folder tui-lab train writes runs into."
        )
    runs = list_runs(folder)
    if args.json:
        print(json.dumps([r.to_dict() for r in runs]))
        return EXIT_OK
    if not runs:
        print(f"no runs in {folder}/" + ("" if folder.exists() else " (train one with tui-lab train)"))
        return EXIT_OK
    print(f"{'run':<36} {'status':<14} {'model':<24} {'started':<17} {'step':>11}  best")
    for r in runs:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)) if r.started else "-"
        print(
            f"{r.name[:36]:<36} {r.status:<14} {r.model_label[:24]:<24} {started:<17} "
            f"{f'{r.step}/{r.total_steps}':>11}  {headline(r.best)}"
        )
    for r in runs:
        if r.damage:  # a torn events.jsonl: what was read is listed, the rest said in one line
            print(f"note: {r.damage} (run {r.name})", file=sys.stderr)
    return EXIT_OK


def headline(best: dict[str, Any]) -> str:
    """A run's best dev metrics in a few words, whatever its task: ``acc 0.912 f1 0.910``,
    ``f1_micro 0.95``, ``entity f1 0.98``, ``ppl 41.2``; ``-`` before the first evaluation."""
    shown = [
        (label, best[key], fmt)
        for label, key, fmt in HEADLINE
        if isinstance(best.get(key), (int, float)) and not (key == "f1" and "f1_macro" in best)
    ]
    return "  ".join(f"{label} {value:{fmt}}" for label, value, fmt in shown) or "-"
