"""Training objectives as plug-ins: each task decides labels, batches, head, loss, metrics and decoding.

The loop, checkpoints, resume, events and torchrun know no task; a new objective is a new
:class:`~tui_lab.core.tasks.base.Task` subclass registered here, never an ``if task == ...``.
"""

from __future__ import annotations

from typing import Any

from tui_lab.core.tasks.base import Task
from tui_lab.core.tasks.classify import ClassifyTask
from tui_lab.core.tasks.multilabel import MultiLabelTask
from tui_lab.core.tasks.pretrain import MaskedLMTask

TASKS: dict[str, type[Task]] = {
    ClassifyTask.name: ClassifyTask,
    MultiLabelTask.name: MultiLabelTask,
    MaskedLMTask.name: MaskedLMTask,
}
DEFAULT_TASK = ClassifyTask.name
# every metric some task can pick best/ by (the config's choices; setup checks the chosen task's)
METRIC_CHOICES: tuple[str, ...] = tuple(dict.fromkeys(m for t in TASKS.values() for m in t.metric_names))


def task_for(name: str, label_names: list[str]) -> Task:
    """The task called ``name`` for these labels.

    Raises:
        KeyError: no such task (the config's validation names the choices first).
    """
    return TASKS[name](label_names)


def task_for_labels(multilabel: bool) -> str:
    """The task that trains on data whose labels are (``True``) or are not lists."""
    return next(name for name, t in TASKS.items() if t.multilabel == multilabel)


def task_for_model(model_config: Any) -> Task:
    """The task a saved classifier decodes with, from its ``problem_type`` (single-label if unset)."""
    labels = [str(model_config.id2label[i]) for i in range(model_config.num_labels)]
    problem = getattr(model_config, "problem_type", None)
    cls = next((t for t in TASKS.values() if t.problem_type == problem), TASKS[DEFAULT_TASK])
    return cls.from_model_config(model_config, labels)


__all__ = [
    "DEFAULT_TASK",
    "METRIC_CHOICES",
    "TASKS",
    "ClassifyTask",
    "MaskedLMTask",
    "MultiLabelTask",
    "Task",
    "task_for",
    "task_for_labels",
    "task_for_model",
]
