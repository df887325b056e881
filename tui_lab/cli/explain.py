"""``tui-lab explain``: which words made a trained classifier choose its label.

Torch and captum are imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tui_lab.cli.common import EXIT_OK, add_setting_flags, quiet
from tui_lab.cli.common import read_texts as read_args
from tui_lab.core.config import LabConfig
from tui_lab.core.errors import LabError

NAME = "explain"

SETTINGS = ["explain.n_steps", "explain.internal_batch_size"]


def add_parser(sub: Any) -> None:
    """Add ``explain`` to the CLI's subparsers."""
    x = sub.add_parser(
        NAME,
        help="show which words pushed a run or model folder toward its label",
        description="Integrated Gradients on the input embeddings: per text the label, its "
        "probability and every word's score in [-1, 1] (positive = toward the label; the "
        "strongest word is +-1), coloured on a terminal.",
    )
    x.add_argument("model", metavar="MODEL_OR_RUN_DIR")
    x.add_argument("texts", nargs="+", metavar="TEXT", help="texts to explain; - reads lines from stdin")
    x.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    add_setting_flags(x, SETTINGS)
    x.add_argument("--json", action="store_true", help="print the results as one JSON line last")


def read_texts(args: list[str]) -> list[str]:
    """The TEXT arguments, ``-`` replaced by stdin's non-empty lines.

    Raises:
        LabError: no text at all, or an empty one.
    """
    texts = read_args(args)
    if not texts:
        raise LabError("no text to explain: give TEXT arguments or lines on stdin with -.")
    for i, text in enumerate(texts, 1):
        if not text.strip():
            raise LabError(f"text {i} is empty; give a sentence to explain.")
    return texts


def run(args: argparse.Namespace) -> int:
    """Explain each text; coloured words on a terminal, plain lines otherwise, or JSON last."""
    texts = read_texts(args.texts)
    config = LabConfig()
    for path in SETTINGS:
        if getattr(args, path) is not None:
            config.set(path, getattr(args, path))
    config.raise_if_invalid()
    quiet()
    from tui_lab.core.analysis.explain import explain_texts
    from tui_lab.core.deploy.predictor import Predictor

    predictor = Predictor.from_path(args.model, args.device)
    results = explain_texts(
        predictor, texts, config.explain.n_steps, config.explain.internal_batch_size or None
    )
    if args.json:
        print(json.dumps({"results": [r.to_dict() for r in results]}, ensure_ascii=False))
        return EXIT_OK
    print_explanations(results)
    return EXIT_OK


def print_explanations(results: list[Any]) -> None:
    """Per text: the label and its probability, the coloured text, every word's score."""
    from rich.console import Console
    from rich.text import Text

    from tui_lab.ui.widgets.explanation import explanation_text, scores_text

    console = Console(soft_wrap=True, highlight=False)
    for i, expl in enumerate(results):
        if i:
            console.print()
        head = Text()
        head.append(expl.label, "bold green")
        head.append(f"  {expl.score:.3f}")
        console.print(head)
        console.print(Text("  ").append_text(explanation_text(expl)))
        console.print(Text("  ").append_text(scores_text(expl)))
