"""The teacher of a distilled run: found, checked against the run, and run once over its texts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tui_lab.core.deploy.predictor import Predictor, find_onnx, resolve_model_dir
from tui_lab.core.errors import ModelError, setting_ref
from tui_lab.core.models.loading import check_weights, first_line_of
from tui_lab.core.tasks import task_for_model
from tui_lab.core.tasks.metrics import scalars

DISTILLED_TASKS = ("classify", "multilabel")


@dataclass
class TeacherScores:
    """What the teacher said once, for the whole run."""

    source: str  # the model folder or ONNX file it was loaded from
    backend: str  # pytorch or onnx
    logits: np.ndarray  # (train + unlabelled rows, C) float16, columns in the run's label order
    dev: dict[str, float]  # its dev metrics
    seconds: float  # the time its forward passes took


def teacher_config(path: str) -> tuple[Path, Any]:
    """The teacher's model folder and its ``config.json``.

    Raises:
        ModelError: not a run or model folder, no weights, or an unreadable config.
    """
    from transformers import AutoConfig

    folder = resolve_model_dir(path)
    check_weights(folder)
    try:
        return folder, AutoConfig.from_pretrained(folder)
    except Exception as exc:
        raise ModelError(f"the teacher's {folder}/config.json is unreadable: {first_line_of(exc)}.") from None


def check_teacher(path: str, task: Any, label_names: list[str]) -> tuple[Path, list[int]]:
    """The teacher's folder and, per run label, the teacher's column of it.

    Raises:
        ModelError: the teacher is not a classifier of the run's task, or knows other labels.
    """
    folder, config = teacher_config(path)
    teacher_task = task_for_model(config)
    if task.name not in DISTILLED_TASKS:
        raise ModelError(
            f"distillation trains classify or multilabel students, not {task.name}; "
            f"clear {setting_ref('train.teacher')}."
        )
    if teacher_task.name != task.name:
        what = (
            "a masked-LM (pretraining) model"
            if teacher_task.name == "pretrain"
            else f"a {teacher_task.name} model"
        )
        raise ModelError(
            f"the teacher {path} is {what}, not a {task.name} classifier like this run; "
            f"give a fine-tuned {task.name} run as {setting_ref('train.teacher')}."
        )
    theirs = teacher_task.label_names
    if sorted(theirs) != sorted(label_names):
        raise ModelError(
            f"the teacher {path} knows the labels {', '.join(theirs)} but the data has "
            f"{', '.join(label_names)}; give a teacher trained on the same labels."
        )
    return folder, [theirs.index(name) for name in label_names]


def load_predictor(path: str, folder: Path, device: str) -> Predictor:
    """The teacher's predictor: its ONNX export when the run has one and the student trains on
    the CPU (ONNX Runtime runs on the CPU), else PyTorch on the student's device."""
    onnx = find_onnx(path) if device == "cpu" else None
    if onnx is not None:
        return Predictor.from_path(onnx, backend="onnx")
    return Predictor.from_path(folder, device=device, backend="pytorch")


def score(
    predictor: Predictor,
    task: Any,
    columns: list[int],
    texts: list[str],
    dev: Any,
    max_length: int,
    batch_size: int,
) -> TeacherScores:
    """Run the teacher once over ``texts`` and the dev split (one predictor call)."""
    predictor.max_length = min(predictor.max_length, max_length)
    start = time.perf_counter()
    logits = predictor.logits(list(texts) + list(dev.texts), batch_size)[:, columns]
    seconds = time.perf_counter() - start
    train, dev_logits = logits[: len(texts)], logits[len(texts) :]
    outputs = np.asarray(task.outputs(_tensor(dev_logits)))
    metrics = scalars(task.metrics(task.targets(dev.labels), outputs)) if len(dev_logits) else {}
    return TeacherScores(
        predictor.source, predictor.backend.name, train.astype(np.float16), metrics, round(seconds, 3)
    )


def _tensor(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
