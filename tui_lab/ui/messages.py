"""Messages that carry data from worker threads to the UI thread (``post_message`` is thread-safe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from tui_lab.core.training.events import Event
from tui_lab.core.training.preview import DatasetStats


@dataclass
class RunEvents(Message):
    """A batch of core events from a training worker (or a replayed / watched log).

    ``replay`` marks what a log already held when the lab opened it: it is drawn, but only events
    that happen while the lab watches (``replay=False``) raise notifications.
    """

    events: list[Event]
    source: str = "live"
    replay: bool = False


@dataclass
class DetachedFailed(Message):
    """A detached run's process exited before its trainer could write a word (bad flags, import error)."""

    run_dir: str
    message: str


@dataclass
class DatasetPreviewed(Message):
    """The first rows of a file, read quickly so the pane fills before the full load."""

    source: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class DatasetAnalysed(Message):
    """The whole split set loaded and described (or the reason it could not be), and the task
    the data asks for when the task setting is auto (``""``: cannot be told)."""

    stats: DatasetStats | None
    error: str | None = None
    task: str = ""


@dataclass
class ConfigChanged(Message):
    """The form or the dataset pane changed a config value."""

    path: str
    value: Any


@dataclass
class Predicted(Message):
    """Predictions for texts typed into the console (or the reason there are none)."""

    predictions: list[Any]
    model: str
    error: str | None = None


@dataclass
class Explained(Message):
    """A console sentence explained word by word (``key`` names its "explaining…" card), or why not."""

    key: int
    prediction: Any
    explanation: Any
    model: str
    error: str | None = None


@dataclass
class SweepRead(Message):
    """A sweep folder read again (a ``SweepSnapshot``: the study's trials and their curves)."""

    snapshot: Any


@dataclass
class ImportanceReady(Message):
    """Each searched setting's importance, computed off the UI thread over ``complete`` trials
    (empty, with ``error``, when Optuna could not tell)."""

    importances: dict[str, float]
    complete: int
    error: str = ""
