"""The events a training run emits, their JSON-lines form, and the sinks that receive them.

The trainer is a producer of small frozen dataclasses. Every event serialises to one JSON object
on one line (``{"event": "step", "time": ..., ...}``); a run's ``events.jsonl`` is written from
the same stream that the lab's charts consume, so a live run and a replayed or watched run go
through the same code. Readers tolerate a truncated last line (a crash mid-write).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from tui_lab.core.jsonl import read_records


class RunStatus(StrEnum):
    """Where a run stands. A ``StrEnum``: it compares equal to, and serialises as, its value.

    ``RunFinished.status`` is one of completed, early_stopped, stopped, pruned (a sweep's pruner
    stopped a trial that was not promising; see :mod:`tui_lab.core.training.stopping`). ``interrupted`` is read
    from a log that ends without a finish while the process that wrote it is gone; ``starting``
    and ``paused`` are the lab's own (a run it launched that has not spoken yet, or is paused).
    """

    EMPTY = "empty"  # a run folder with no run_started yet
    IDLE = "idle"  # nothing shown yet
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    EARLY_STOPPED = "early_stopped"
    STOPPED = "stopped"
    PRUNED = "pruned"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def active(self) -> bool:
        """Whether the run may still make progress (starting, running or paused)."""
        return self in (RunStatus.STARTING, RunStatus.RUNNING, RunStatus.PAUSED)


@dataclass(frozen=True)
class Event:
    """Base of all events; ``kind`` names the event in its JSON line."""

    kind: ClassVar[str] = "event"
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """``{"event": kind, **fields}``."""
        return {"event": self.kind, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        """One JSON line (no newline)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class RunStarted(Event):
    """Training is about to start (or resume)."""

    kind: ClassVar[str] = "run_started"
    run_dir: str
    run_name: str
    model: str
    labels: list[str]
    n_train: int
    n_dev: int
    n_test: int
    epochs: int
    steps_per_epoch: int
    total_steps: int
    device: str
    precision: str
    world_size: int = 1
    start_step: int = 0
    pid: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    task: str = ""  # the task the run trains (logs written before tasks existed: "")


@dataclass(frozen=True)
class BaselineReady(Event):
    """The TF-IDF + logistic regression baseline's dev (and test) metrics."""

    kind: ClassVar[str] = "baseline"
    dev: dict[str, Any]
    test: dict[str, Any] | None = None
    seconds: float = 0.0
    train_rows: int | None = None  # rows it was fitted on
    sampled: bool = False  # fitted on a stratified sample of the training rows
    cached: bool = False  # read back from the project cache (fitted by an earlier run on the same splits)


@dataclass(frozen=True)
class TeacherReady(Event):
    """A distilled run's teacher: its dev metrics, and how its logits were computed."""

    kind: ClassVar[str] = "teacher"
    source: str  # the teacher's model folder (or ONNX file)
    dev: dict[str, Any]
    backend: str = "pytorch"  # pytorch or onnx
    rows: int = 0  # texts it scored once for the student (train + unlabelled)
    seconds: float = 0.0


@dataclass(frozen=True)
class StepLogged(Event):
    """Training progress every ``logging_steps`` optimiser steps."""

    kind: ClassVar[str] = "step"
    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: float
    grad_norm: float | None
    samples_per_second: float
    elapsed: float
    eta_seconds: float | None


@dataclass(frozen=True)
class Evaluated(Event):
    """Metrics on the dev set (``split="dev"``) or on the test set at the end (``"test"``)."""

    kind: ClassVar[str] = "evaluated"
    step: int
    epoch: float
    split: str
    metrics: dict[str, float]
    confusion_matrix: list[list[int]] | None  # None for tasks without one (multi-label)
    labels: list[str]
    is_best: bool = False
    best_metric: float | None = None


@dataclass(frozen=True)
class CheckpointSaved(Event):
    """A checkpoint folder (``best`` or ``last``) was written and renamed into place."""

    kind: ClassVar[str] = "checkpoint"
    step: int
    which: str
    path: str


@dataclass(frozen=True)
class DeviceSampled(Event):
    """A reading of the GPU (NVML) or of the CPU and RAM (psutil)."""

    kind: ClassVar[str] = "device"
    device: str
    utilization: float | None
    memory_used_mb: float | None
    memory_total_mb: float | None
    temperature_c: float | None = None
    power_w: float | None = None
    process_memory_mb: float | None = None
    # every GPU this process sees (index, name, util %, mem_used/mem_total MB, temp °C, power W);
    # the fields above summarise the run's own device, so older logs and readers keep working
    gpus: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Notice(Event):
    """A one-line note for the user (a warning, a resumed run, a dropped row count).

    Its JSON ``event`` name stays ``"message"`` (the name it had before), so old logs still read.
    """

    kind: ClassVar[str] = "message"
    level: str
    text: str


@dataclass(frozen=True)
class RunFinished(Event):
    """The run ended: ``status`` is completed, early_stopped, stopped or pruned (a :class:`RunStatus` value)."""

    kind: ClassVar[str] = "run_finished"
    status: str
    step: int
    epochs_completed: float
    best: dict[str, float] | None
    test: dict[str, float] | None
    train_samples_per_second: float
    stopped_early: bool
    reason: str = ""


@dataclass(frozen=True)
class RunFailed(Event):
    """The run failed; ``message`` is one sentence for the user."""

    kind: ClassVar[str] = "run_failed"
    message: str
    error_type: str
    step: int = 0
    user_error: bool = False


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        BaselineReady,
        TeacherReady,
        StepLogged,
        Evaluated,
        CheckpointSaved,
        DeviceSampled,
        Notice,
        RunFinished,
        RunFailed,
    )
}

Sink = Callable[[Event], None]


def event_from_dict(raw: dict[str, Any]) -> Event | None:
    """Rebuild an event from its JSON object; ``None`` for an unknown kind (a newer writer)."""
    cls = EVENT_TYPES.get(raw.get("event", ""))
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in raw.items() if k in names})


def parse_lines(lines: Iterable[str]) -> Iterator[Event]:
    """Events from JSON lines, skipping blank, truncated or unknown lines."""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash mid-write
        if isinstance(raw, dict):
            event = event_from_dict(raw)
            if event is not None:
                yield event


def read_events(path: str | Path) -> list[Event]:
    """Every readable event of an ``events.jsonl``; a missing file gives no events."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return list(parse_lines(fh))
    except FileNotFoundError:
        return []


def read_events_checked(path: str | Path) -> tuple[list[Event], str]:
    """Every readable event of an ``events.jsonl`` and one sentence on what could not be read (a
    torn last line, unreadable lines; "" when the log is whole). A log still being written can end
    in a line not finished yet: report the sentence only for a run that is over."""
    read = read_records(path, _event_or_none)
    return [e for e in read.records if e is not None], read.describe()


def damage_note(path: str | Path, over: bool) -> str:
    """One sentence on what of an ``events.jsonl`` cannot be read, for a face that replays it ("":
    nothing). A run that is ``over`` reports a torn last line too; a live run only damage before
    its last line (a crash then a resume leaves a torn line in the middle), since its last line
    may still be being written."""
    read = read_records(path, _event_or_none)
    if not over and not (read.bad_lines or read.glued):
        return ""
    return read.describe()


def _event_or_none(line: str) -> Event | None:
    """One line's event (None for a kind this version does not know).

    Raises:
        ValueError: the line is no event.
    """
    raw = json.loads(line)
    if not isinstance(raw, dict):
        raise ValueError("not an event")
    try:
        return event_from_dict(raw)
    except TypeError:  # a known kind without its fields
        raise ValueError("not an event") from None


class EventFollower:
    """Reads complete new lines of a growing ``events.jsonl`` (a run written elsewhere)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[Event]:
        """Events appended since the last poll; an unfinished last line waits for its end."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        if not chunk:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        return list(parse_lines(line.decode("utf-8", "replace") for line in lines))


class JsonlSink:
    """Appends every event as one line to a file, flushed at once (a crash loses at most a line)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh = open(self.path, "a", encoding="utf-8")
        self._repair_tail()

    def _repair_tail(self) -> None:
        """After a crash the file may end mid-line: start the next event on a line of its own."""
        size = self.path.stat().st_size
        if size:
            with open(self.path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    self._fh.write("\n")

    def __call__(self, event: Event) -> None:
        with self._lock:
            if self._fh.closed:
                return
            self._fh.write(event.to_json() + "\n")
            self._fh.flush()
            if isinstance(event, (CheckpointSaved, RunFinished, RunFailed)):
                os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            if not self._fh.closed:
                self._fh.close()


class Broadcast:
    """Sends each event to every sink; a sink that raises is reported once and dropped."""

    def __init__(self, sinks: Iterable[Sink] = ()) -> None:
        self.sinks: list[Sink] = list(sinks)
        self.errors: list[BaseException] = []

    def add(self, sink: Sink) -> None:
        """Add a sink."""
        self.sinks.append(sink)

    def __call__(self, event: Event) -> None:
        for sink in list(self.sinks):
            try:
                sink(event)
            except Exception as exc:  # a broken face must not kill the run
                self.errors.append(exc)
                self.sinks.remove(sink)
