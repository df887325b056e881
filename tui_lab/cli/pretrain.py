"""``tui-lab pretrain``: masked-LM pretraining headless, i.e. ``tui-lab train`` with task pretrain.

Registered by :mod:`tui_lab.cli` with :func:`add_parsers` and :data:`COMMANDS`. The flags are the
settings' own (declared once in :mod:`tui_lab.core.config`); the loop, checkpoints, resume,
events and torchrun are the training command's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from typing import Any

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


def add_parsers(sub: Any) -> None:
    """Add the ``pretrain`` subcommand to the CLI's subparsers."""
    from tui_lab.cli import add_run_flags

    p = sub.add_parser(
        "pretrain",
        help="pretrain a masked language model on unlabelled text (then fine-tune from it)",
        description="Masked-LM pretraining: a .txt file (one text a line) or a file's text column; "
        "5% held out as dev; a preset learns its vocabulary first, a hub model or folder continues. "
        "Fine-tune afterwards with tui-lab train --model RUN_DIR.",
    )
    add_run_flags(p, "train.seed=1", "continue a stopped or crashed pretraining run", FLAGS)


def cmd_pretrain(args: argparse.Namespace) -> int:
    """Pretrain with progress on stderr; ``--json`` prints the summary as the last stdout line."""
    from tui_lab import cli

    config = cli.config_from_args(args)
    config.model.task = "pretrain"
    if not args.config and not any(s.startswith("train.baseline") for s in args.set):
        config.train.baseline = False  # a TF-IDF classifier needs labels
    if not args.resume:
        config.raise_if_invalid()
    cli._quiet()
    stop = threading.Event()
    restore = cli._install_stop_handlers(stop)
    from tui_lab.progress import make_progress_sink

    main = os.environ.get("RANK", "0") == "0"
    sink = make_progress_sink(sys.stderr) if main else None
    try:
        from tui_lab.core.train import Trainer

        result = Trainer(config, [sink] if sink else [], stop=stop, resume=args.resume).run()
    finally:
        if sink:
            sink.close()
        restore()
    summary = {k: v for k, v in result.summary().items() if k in SUMMARY_KEYS}
    if main:
        print(json.dumps(summary) if args.json else _summary_line(summary))
    if result.status == "stopped":
        if main:
            print(
                f"stopped: last/ saved; resume with: tui-lab pretrain --resume {result.run_dir}",
                file=sys.stderr,
            )
        return cli.EXIT_INTERRUPTED
    return cli.EXIT_OK


def _summary_line(summary: dict[str, Any]) -> str:
    best = summary["best"] or {}
    scores = "  ".join(f"{k} {best[k]:.4f}" for k in ("loss", "perplexity") if k in best) or "-"
    return (
        f"run:      {summary['run_dir']}  ({summary['status']}, {summary['epochs_completed']} epochs, "
        f"{summary['train_samples_per_second']:.0f} samples/s)\nbest dev: {scores}\n"
        f"fine-tune: tui-lab train --model {summary['run_dir']}"
    )


COMMANDS = {"pretrain": cmd_pretrain}
