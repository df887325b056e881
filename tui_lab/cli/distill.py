"""``tui-lab distill``: ``train`` with a teacher — a small student learns a fine-tuned classifier's soft labels."""

from __future__ import annotations

import argparse

from tui_lab.cli.common import add_run_flags, config_from_args, run_training
from tui_lab.cli.train import print_summary
from tui_lab.core.config import LabConfig
from tui_lab.core.errors import ConfigError

NAME = "distill"
TEACHER_LAYERS = "teacher:"  # --student teacher:K


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``distill`` to the CLI's subparsers."""
    d = sub.add_parser(
        NAME,
        help="distil a fine-tuned teacher into a small student (train with soft labels)",
        description=(
            "Train a student on the teacher's soft labels and the data's labels: tui-lab train with "
            "--teacher set. The teacher scores the texts once; the logits stay in the run folder."
        ),
    )
    d.add_argument(
        "--student",
        metavar="NAME",
        help="tiny-bert, small-bert, a HF model id or folder, or teacher:K (K of the teacher's layers)",
    )
    add_run_flags(d, "train.distill_alpha=0.7", "continue a stopped or crashed distillation from its last/")


def run(args: argparse.Namespace) -> int:
    """A distilled run with progress; ``--json`` prints the summary as the last stdout line."""
    config = config_from_args(args)
    if not args.resume:
        apply_student(config, args.student)
        if not config.train.teacher:
            raise ConfigError("distill needs a teacher: give --teacher RUN_OR_MODEL (a fine-tuned run).")
    return run_training(config, args, NAME, print_summary=print_summary)


def apply_student(config: LabConfig, student: str | None) -> None:
    """``--student``: a model name, or ``teacher:K`` (``train.student_layers``).

    Raises:
        ConfigError: ``teacher:K`` whose K is not a whole number of at least 1.
    """
    if not student:
        return
    if not student.startswith(TEACHER_LAYERS):
        config.set("model.name", student)
        return
    k = student.removeprefix(TEACHER_LAYERS)
    if not k.isdigit() or int(k) < 1:
        raise ConfigError(f"--student teacher:K needs a whole number K of at least 1, got '{student}'.")
    config.set("train.student_layers", int(k))
