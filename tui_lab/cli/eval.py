"""``tui-lab eval``: a trained model's metrics on a labelled file (single-label, multi-label or NER)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tui_lab.cli.common import EXIT_OK, add_setting_flags, quiet

NAME = "eval"


def add_parser(sub: Any) -> None:
    """Add ``eval`` to the CLI's subparsers."""
    e = sub.add_parser(NAME, help="evaluate a run or model folder on labelled data")
    e.add_argument("model", metavar="MODEL_OR_RUN_DIR")
    e.add_argument(
        "--data", required=True, metavar="PATH", help="a labelled file (or a folder: its test file)"
    )
    add_setting_flags(e, ["data.text_column", "data.label_column"])
    e.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    e.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Metrics of a trained model on a labelled file."""
    quiet()
    from tui_lab.core.deploy.eval_file import evaluate_path

    columns = [getattr(args, p) or "" for p in ("data.text_column", "data.label_column")]
    result = evaluate_path(args.model, args.data, *columns, device=args.device)
    if args.json:
        print(json.dumps(result))
        return EXIT_OK
    print(f"model:     {result['model']}")
    print(f"data:      {result['data']}  (n={result['n']})")
    if result.get("corrections"):
        print(f"corrected: {result['corrections']}")
    for key in result["headline"]:
        print(f"{key:<16} {result[key]:.4f}")
    per_type = {k: v for k, v in result.items() if k.startswith("f1/")}
    for key, value in per_type.items():
        print(f"{key:<16} {value:.4f}")
    if "confusion_matrix" in result:
        print_confusion(result["labels"], result["confusion_matrix"])
    return EXIT_OK


def print_confusion(labels: list[str], matrix: list[list[int]]) -> None:
    """The confusion matrix as a table (rows: true, columns: predicted)."""
    width = max(len(label) for label in labels)
    print("confusion matrix (rows: true, columns: predicted)")
    print(" " * (width + 2) + " ".join(f"{label[:8]:>8}" for label in labels))
    for label, row in zip(labels, matrix):
        print(f"{label:>{width}}  " + " ".join(f"{v:>8}" for v in row))
