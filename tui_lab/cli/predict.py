"""``tui-lab predict``: label texts with a run or model folder (a masked LM fills ``[MASK]`` instead)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tui_lab.cli.common import EXIT_OK, quiet, read_texts
from tui_lab.core.errors import LabError

NAME = "predict"


def add_parser(sub: Any) -> None:
    """Add ``predict`` to the CLI's subparsers."""
    pr = sub.add_parser(NAME, help="label texts with a run or model folder")
    pr.add_argument("model", metavar="MODEL_OR_RUN_DIR")
    pr.add_argument("texts", nargs="+", metavar="TEXT", help="texts to label; - reads lines from stdin")
    pr.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    pr.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Label each text; ``-`` reads one text per line from stdin."""
    texts = read_texts(args.texts)
    if not texts:
        raise LabError("no text to label: give TEXT arguments or lines on stdin with -.")
    quiet()
    from tui_lab.core.deploy.fill_mask import load_predictor

    predictor = load_predictor(args.model, args.device)  # a masked LM fills [MASK] instead
    predictions = predictor.predict(texts)
    if args.json:
        out = {"model": predictor.source, "predictions": [p.to_dict() for p in predictions]}
        print(json.dumps(out, ensure_ascii=False))
        return EXIT_OK
    for p in predictions:
        probs = "  ".join(f"{k} {v:.3f}" for k, v in p.probabilities.items())
        print(f"{p.label}\t{p.score:.3f}\t{probs}\t{p.text}")
    return EXIT_OK
