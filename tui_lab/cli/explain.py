"""``tui-lab explain``: which words made a trained classifier choose its label.

Registered by :mod:`tui_lab.cli` with :func:`add_parsers` and :data:`COMMANDS`. Torch and captum
are imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tui_lab.core.errors import LabError

SETTINGS = ["explain.n_steps", "explain.internal_batch_size"]


def add_parsers(sub: Any) -> None:
    """Add the ``explain`` subcommand to the CLI's subparsers."""
    from tui_lab.cli import add_setting_flags

    x = sub.add_parser(
        "explain",
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
    texts: list[str] = []
    for text in args:
        if text == "-":
            texts.extend(line.rstrip("\n") for line in sys.stdin if line.strip())
        else:
            texts.append(text)
    if not texts:
        raise LabError("no text to explain: give TEXT arguments or lines on stdin with -.")
    for i, text in enumerate(texts, 1):
        if not text.strip():
            raise LabError(f"text {i} is empty; give a sentence to explain.")
    return texts


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain each text; coloured words on a terminal, plain lines otherwise, or JSON last."""
    from tui_lab.core.config import LabConfig

    texts = read_texts(args.texts)
    config = LabConfig()
    for path in SETTINGS:
        if getattr(args, path) is not None:
            config.set(path, getattr(args, path))
    config.raise_if_invalid()
    from tui_lab.cli import _quiet

    _quiet()
    from tui_lab.core.explain import explain_texts
    from tui_lab.core.predict import Predictor

    predictor = Predictor.from_path(args.model, args.device)
    results = explain_texts(
        predictor, texts, config.explain.n_steps, config.explain.internal_batch_size or None
    )
    if args.json:
        print(json.dumps({"results": [r.to_dict() for r in results]}, ensure_ascii=False))
        return 0
    print_explanations(results)
    return 0


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


COMMANDS = {"explain": cmd_explain}
