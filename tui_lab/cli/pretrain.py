"""``tui-lab pretrain``: masked-LM pretraining headless, i.e. ``tui-lab train`` with task pretrain.

The flags are the settings' own (declared once in :mod:`tui_lab.core.settings`); the loop, checkpoints, resume,
events and torchrun are the training command's.
"""

from __future__ import annotations

import argparse
from typing import Any

from tui_lab.cli.common import add_run_flags, config_from_args, run_training

NAME = "pretrain"

FLAGS = [
    "data.train",
    "data.text_column",
    "model.name",
    "train.epochs",
    "train.max_steps",
    "train.mlm_probability",
    "train.whole_word_mask",
    "data.max_length",
    "train.batch_size",
    "train.learning_rate",
    "train.eval_steps",
    "train.seed",
    "train.device",
    "train.output_dir",
    "train.run_name",
]
SUMMARY_KEYS = ("run_dir", "status", "best", "train_samples_per_second", "epochs_completed", "stopped_early")


def add_parser(sub: Any) -> None:
    """Add ``pretrain`` to the CLI's subparsers."""
    p = sub.add_parser(
        NAME,
        help="pretrain a masked language model on unlabelled text (then fine-tune from it)",
        description="Masked-LM pretraining: a .txt file (one text a line) or a file's text column; "
        "5% held out as dev; a preset learns its vocabulary first, a hub model or folder continues. "
        "Fine-tune afterwards with tui-lab train --model RUN_DIR.",
    )
    add_run_flags(p, "train.seed=1", "continue a stopped or crashed pretraining run", FLAGS)


def run(args: argparse.Namespace) -> int:
    """Pretrain with progress on stderr; ``--json`` prints the summary as the last stdout line."""
    config = config_from_args(args)
    config.model.task = "pretrain"
    if not args.config and not any(s.startswith("train.baseline") for s in args.set):
        config.train.baseline = False  # a TF-IDF classifier needs labels
    return run_training(
        config,
        args,
        NAME,
        summarize=lambda summary: {k: v for k, v in summary.items() if k in SUMMARY_KEYS},
        print_summary=lambda summary: print(summary_line(summary)),
    )


def summary_line(summary: dict[str, Any]) -> str:
    """The run, its best dev loss and perplexity, and how to fine-tune from it."""
    best = summary["best"] or {}
    scores = "  ".join(f"{k} {best[k]:.4f}" for k in ("loss", "perplexity") if k in best) or "-"
    return (
        f"run:      {summary['run_dir']}  ({summary['status']}, {summary['epochs_completed']} epochs, "
        f"{summary['train_samples_per_second']:.0f} samples/s)\nbest dev: {scores}\n"
        f"fine-tune: tui-lab train --model {summary['run_dir']}"
    )
