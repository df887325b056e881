"""Training objectives as plug-ins: each task decides labels, batches, head, loss, metrics and decoding.

The loop, checkpoints, resume, events and torchrun know no task; a new objective is a new
:class:`~tui_lab.core.tasks.base.Task` subclass registered here, never an ``if task == ...``.
"""

from __future__ import annotations

from tui_lab.core.tasks.base import Task
from tui_lab.core.tasks.classify import ClassifyTask

TASKS: dict[str, type[Task]] = {ClassifyTask.name: ClassifyTask}
DEFAULT_TASK = ClassifyTask.name


def task_for(name: str, label_names: list[str]) -> Task:
    """The task called ``name`` for these labels.

    Raises:
        KeyError: no such task (the config's validation names the choices first).
    """
    return TASKS[name](label_names)


__all__ = ["DEFAULT_TASK", "TASKS", "ClassifyTask", "Task", "task_for"]
