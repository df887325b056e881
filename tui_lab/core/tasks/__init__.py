"""Stage 3, tasks: training objectives as plug-ins (single-label, multi-label, NER, masked LM).

A task says what it is: how rows are read and encoded, how a batch is collated, its head and
loss, its metrics (``metrics``, ``entities`` for NER), how a prediction looks (``predictions``)
and how an error-report row looks (``reports``, ``ner_report``). The loop, checkpoints, resume,
events and torchrun know no task; a new objective is a new
:class:`~tui_lab.core.tasks.base.Task` subclass registered here, never an ``if task == ...``.

Uses data and models; never training, analysis or deployment: where those need per-task
behaviour they call a task's hook and pass it what it needs (a predictor, logits, a split).
"""

from __future__ import annotations

from typing import Any

from tui_lab.core.models.heads import head_of
from tui_lab.core.settings import METRIC_CHOICES as SETTING_METRICS
from tui_lab.core.settings import TASK_NAMES
from tui_lab.core.tasks.base import Task
from tui_lab.core.tasks.classify import ClassifyTask
from tui_lab.core.tasks.multilabel import MultiLabelTask
from tui_lab.core.tasks.ner import NerTask
from tui_lab.core.tasks.pretrain import MaskedLMTask

TASKS: dict[str, type[Task]] = {
    ClassifyTask.name: ClassifyTask,
    MultiLabelTask.name: MultiLabelTask,
    NerTask.name: NerTask,
    MaskedLMTask.name: MaskedLMTask,
}
DEFAULT_TASK = ClassifyTask.name
# every metric some task can pick best/ by (the config's choices; setup checks the chosen task's)
METRIC_CHOICES: tuple[str, ...] = tuple(dict.fromkeys(m for t in TASKS.values() for m in t.metric_names))


def _check_settings() -> None:
    """The ``task`` and ``best metric`` settings accept exactly the registered tasks and metrics."""
    if tuple(TASKS) != TASK_NAMES or METRIC_CHOICES != SETTING_METRICS:
        raise RuntimeError(
            "tui_lab.core.settings.TASK_NAMES / METRIC_CHOICES differ from the task registry: "
            f"{tuple(TASKS)} / {METRIC_CHOICES}"
        )


_check_settings()


def task_for(name: str, label_names: list[str], config: Any = None) -> Task:
    """The task called ``name`` for these labels (with its settings from ``config``, if given).

    Raises:
        KeyError: no such task (the config's validation names the choices first).
    """
    cls = TASKS[name]
    return cls(label_names) if config is None else cls.from_config(config, label_names)


def detect_task(data_config: Any) -> tuple[str, str]:
    """(task, why) when the data alone says which task it is for (a CoNLL file: ner); else ("", "")."""
    for name, cls in TASKS.items():
        why = cls.detect(data_config)
        if why:
            return name, why
    return "", ""


def task_for_labels(multilabel: bool) -> str:
    """The task that trains on data whose labels are (``True``) or are not lists."""
    return next(name for name, t in TASKS.items() if t.multilabel == multilabel)


def task_for_model(model_config: Any) -> Task:
    """The task a saved model decodes with: by its head (``*ForTokenClassification``: ner), then its
    ``problem_type`` (single-label if unset)."""

    labels = [str(model_config.id2label[i]) for i in range(model_config.num_labels)]
    head = head_of(model_config)
    problem = getattr(model_config, "problem_type", None)
    heads = [t for t in TASKS.values() if t.head == head]
    cls = next((t for t in heads if t.problem_type == problem), heads[0] if heads else TASKS[DEFAULT_TASK])
    return cls.from_model_config(model_config, labels)


__all__ = [
    "DEFAULT_TASK",
    "METRIC_CHOICES",
    "TASKS",
    "ClassifyTask",
    "MaskedLMTask",
    "MultiLabelTask",
    "NerTask",
    "Task",
    "detect_task",
    "task_for",
    "task_for_labels",
    "task_for_model",
]
