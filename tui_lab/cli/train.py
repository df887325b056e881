"""``tui-lab train``: fine-tune a classifier headless (rich progress on a terminal, plain lines in a log)."""

from __future__ import annotations

import argparse
from typing import Any

from tui_lab.cli.common import add_run_flags, config_from_args, run_training

NAME = "train"


def add_parser(sub: Any) -> None:
    """Add ``train`` to the CLI's subparsers."""
    t = sub.add_parser(
        NAME,
        help="train headless (rich progress on a terminal, plain lines otherwise)",
        description="Fine-tune a classifier without the lab. Flags override --config.",
    )
    add_run_flags(t, "train.warmup_ratio=0.06", "continue a stopped or crashed run from its last/")


def run(args: argparse.Namespace) -> int:
    """Headless training with progress; ``--json`` prints the summary as the last stdout line."""
    return run_training(config_from_args(args), args, NAME, print_summary=print_summary)


def print_summary(summary: dict[str, Any]) -> None:
    """The run folder, best dev and test metrics and the baseline, a line each."""

    def fmt(metrics: dict[str, Any] | None) -> str:
        if not metrics:
            return "-"
        return "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))

    print(
        f"run:      {summary['run_dir']}  ({summary['status']}, {summary['epochs_completed']} epochs, "
        f"{summary['train_samples_per_second']:.0f} samples/s)"
    )
    print(f"best dev: {fmt(summary['best'])}")
    if summary["test"]:
        print(f"test:     {fmt(summary['test'])}")
    baseline = summary["baseline"]
    if baseline and "skipped" in baseline:
        print(f"baseline: skipped ({baseline['skipped']})")
    elif baseline:
        sample = f" (fitted on a {baseline['train_rows']:,}-row sample)" if baseline.get("sampled") else ""
        print(f"baseline: TF-IDF + logistic regression dev {fmt(baseline.get('dev'))}{sample}")
