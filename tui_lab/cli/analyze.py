"""``tui-lab analyze``: why a run's model is wrong, headless.

The work is :func:`tui_lab.core.analysis.analyze.analyze_run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tui_lab.cli.common import quiet
from tui_lab.core.errors import LabError

NAME = "analyze"


def add_parser(sub: Any) -> None:
    """Add ``analyze`` to the CLI's subparsers."""
    a = sub.add_parser(
        NAME,
        help="error analysis of a finished run: per-class scores, worst mistakes, label issues, calibration",
        description="Predict a split with the run's best/ weights and write RUN_DIR/analysis.json: "
        "per-class precision/recall/F1, the confusion matrix, the most confident mistakes, the "
        "15-bin ECE, and training rows whose label looks wrong (cleanlab on cross-validated "
        "TF-IDF probabilities).",
    )
    a.add_argument("run_dir", metavar="RUN_DIR")
    a.add_argument("--split", default="dev", choices=("dev", "test"))
    a.add_argument("--top", type=int, default=20, metavar="N", help="mistakes and label issues to print")
    a.add_argument(
        "--calibrate",
        action="store_true",
        help="fit a softmax temperature on dev and save it in best/config.json (tui_lab_temperature)",
    )
    a.add_argument("--no-label-issues", action="store_true", help="skip the cross-validation and cleanlab")
    a.add_argument(
        "--encoder",
        metavar="DIR",
        help="a model folder (a sentence encoder, or 'best' for the run's best/) whose embeddings "
        "add a second cross-validated classifier to the label-issue search (slower; a pretrained "
        "encoder finds more, 'best' of a model trained from scratch finds fewer: see the README)",
    )
    a.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N")
    a.add_argument("--json", action="store_true", help="print the analysis as one JSON line last")


def run(args: argparse.Namespace) -> int:
    """Analyse, write analysis.json, print a summary (``--json``: the object as the last line)."""
    from tui_lab.core.analysis.analyze import analyze_run, write_analysis

    if args.top < 0:
        raise LabError(f"--top must be 0 or more, got {args.top}.")
    quiet()
    analysis = analyze_run(
        args.run_dir,
        args.split,
        calibrate=args.calibrate,
        label_issues=not args.no_label_issues,
        device=args.device,
        encoder=args.encoder,
        progress=None if args.json else _stderr,
    )
    path = write_analysis(analysis, args.top)
    if args.json:
        print(json.dumps(analysis.to_json(args.top), ensure_ascii=False))
        return 0
    print_summary(analysis, args.top)
    print(f"written: {path}")
    return 0


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _clip(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def print_summary(analysis: Any, top: int) -> None:
    """Per-class table, ECE, the worst mistakes and the likeliest label issues."""
    print(f"{analysis.split} of {analysis.run_dir} ({analysis.task}, best/ weights)")
    print(f"{'label':<20} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}")
    for label, m in analysis.report.per_class.items():
        print(
            f"{label[:20]:<20} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>7.3f} {m['support']:>8}"
        )
    print(f"ECE (15 bins): {analysis.ece:.4f} at temperature {analysis.temperature:.3f}")
    if analysis.calibration:
        c = analysis.calibration
        print(
            f"calibrated on dev: T = {c['temperature']:.3f}, ECE {c['ece_before']:.4f} -> {c['ece_after']:.4f}, "
            f"NLL {c['nll_before']:.4f} -> {c['nll_after']:.4f} (saved in best/config.json)"
        )
    print(f"most confident mistakes (top {top}):")
    for e in analysis.report.mistakes[:top]:
        print(f"  row {e.row:>6}  {e.label} -> {e.predicted} ({e.confidence:.2f})  {_clip(e.text)}")
    scope = f"in {analysis.label_issues_scope}" if analysis.label_issues_scope else ""
    print(f"likely label issues: {len(analysis.label_issues)} {analysis.label_issues_note or scope}".rstrip())
    for i in analysis.label_issues[:top]:
        print(f"  row {i.row:>6}  {i.label} -> {i.suggested} ({i.score:.3f})  {_clip(i.text)}")
