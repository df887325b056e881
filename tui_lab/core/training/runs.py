"""Run folders: creating them safely and reading back what happened in them.

``runs/<name>/`` holds ``config.toml``, ``events.jsonl``, ``best/``, ``last/`` and
``report.json``. A run's status is read from its event log, so a run another process is writing,
one that crashed, and one that finished are all told apart the same way.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_lab.core.config import LabConfig, run_name_problem, tomllib
from tui_lab.core.errors import ConfigError, LabError, setting_ref
from tui_lab.core.models import checkpoint
from tui_lab.core.training.events import RunStarted, read_events, read_events_checked
from tui_lab.core.training.history import RunHistory, RunStatus

EVENTS_FILE = "events.jsonl"
CONFIG_FILE = "config.toml"
REPORT_FILE = "report.json"
STOP_FILE = "STOP"


def default_run_name(model: str) -> str:
    """``<model>-YYYYmmdd-HHMMSS`` with the model name reduced to safe characters."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(model.rstrip("/")).name or model).strip("-.") or "run"
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def create_run_dir(output_dir: str | Path, run_name: str) -> Path:
    """Make ``output_dir/run_name``, refusing names that escape it or a run that exists.

    Raises:
        ConfigError: a bad name, or a run of that name already in the folder.
    """
    problem = run_name_problem(run_name)
    if problem:
        raise ConfigError(f"train.run_name '{run_name}' {problem}.", {"train.run_name": problem})
    root = Path(output_dir).expanduser().resolve()
    path = (root / run_name).resolve()
    if path.parent != root:
        raise ConfigError(
            f"train.run_name '{run_name}' would write outside {root}.",
            {"train.run_name": "must stay inside the output folder"},
        )
    if path.exists() and any(path.iterdir()):
        raise ConfigError(
            f"run folder {path} already exists; change {setting_ref('train.run_name')} or "
            f"continue it with --resume {path}.",
            {"train.run_name": "already exists"},
        )
    check_output_dir(root)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabError(
            f"cannot create run folder {path}: {exc.strerror}; choose another "
            f"{setting_ref('train.output_dir')}."
        ) from None
    return path


def check_output_dir(root: Path) -> None:
    """Refuse an output folder that is a file, or that lies under one (``notes.txt/runs``).

    Raises:
        ConfigError: naming the file and what to do.
    """
    file = next((p for p in (root, *root.parents) if p.exists() and not p.is_dir()), None)
    if file is None:
        return
    where = "is a file, not a folder" if file == root else f"is under {file}, which is a file"
    raise ConfigError(
        f"{setting_ref('train.output_dir')} {root} {where}; choose a folder (it is created when missing).",
        {"train.output_dir": "is a file, not a folder" if file == root else "is under a file"},
    )


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` looks like a run folder (it has an event log or a config)."""
    p = Path(path)
    return (p / EVENTS_FILE).exists() or (p / CONFIG_FILE).exists()


@dataclass
class RunInfo:
    """A row of the runs list."""

    name: str
    path: str
    status: RunStatus
    model: str = ""
    started: float | None = None
    step: int = 0
    total_steps: int = 0
    best: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] | None = None
    world_size: int = 1
    message: str = ""
    damage: str = ""  # what of a finished run's events.jsonl could not be read (a torn line), if any

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``status`` as its plain string)."""
        return {**self.__dict__, "status": str(self.status)}

    @property
    def model_label(self) -> str:
        """The model as a listing shows it (see :func:`model_label`)."""
        return model_label(self.model)


def model_label(model: str) -> str:
    """A model as a list shows it: a hub id as it is, a folder by its own name.

    ``/opt/venv/models/my-bert`` -> ``my-bert``; a run's checkpoint ``runs/x/best`` -> ``x/best``
    (``best`` alone says nothing); ``org/name`` (a hub id) -> ``org/name``.
    """
    text = model.strip().rstrip("/")
    if not _looks_like_path(text):
        return text
    path = Path(text).expanduser()
    if path.name in ("best", "last") and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name or text


def _looks_like_path(model: str) -> bool:
    """A hub id is ``name`` or ``org/name``; anything else with a separator, or a folder, is a path."""
    if model.startswith(("/", ".", "~")) or model.count("/") > 1:
        return True
    return "/" in model and Path(model).is_dir()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_info(path: str | Path) -> RunInfo:
    """What a run folder's event log says: status, model, progress, best and test metrics.

    The log is folded by :class:`RunHistory` (the same fold the lab's charts use). Status is the
    last finish (completed, early_stopped, stopped) or failure; a run with neither is ``running``
    while its process lives and ``interrupted`` after (a crash or a kill); ``empty`` before any
    ``run_started``.
    """
    path = Path(path)
    history = RunHistory()
    events, damage = read_events_checked(path / EVENTS_FILE)
    history.extend(events)
    info = _info_from_history(path, history)
    if not info.status.active:  # a live writer's last line may be unfinished yet
        info.damage = damage
    return info


def _info_from_history(path: Path, h: RunHistory) -> RunInfo:
    started: RunStarted | None = h.started
    info = RunInfo(name=path.name, path=str(path), status=settled_status(h))
    if started is not None:
        info.model, info.total_steps, info.world_size = started.model, started.total_steps, started.world_size
    info.started, info.step, info.best = h.first_started_at, h.step, h.best_metrics
    info.test = h.finished.test if h.finished is not None else None
    info.message = h.failure.message if h.failure is not None else ""
    return info


def settled_status(h: RunHistory) -> RunStatus:
    """The history's status, with a run whose writer is gone shown as ``interrupted``.

    A log without ``run_started`` is ``empty`` (unless it recorded a failure).
    """
    if h.status == RunStatus.IDLE:
        return RunStatus.EMPTY
    if h.status.active and h.started is not None and not _pid_alive(h.started.pid):
        return RunStatus.INTERRUPTED
    return h.status


def list_runs(output_dir: str | Path) -> list[RunInfo]:
    """Every run folder under ``output_dir``, newest first, with the runs of a folder of runs one
    level down (a sweep's trials, the run queue's runs) named ``folder/run``."""
    root = Path(output_dir).expanduser()
    if not root.is_dir():
        return []
    infos = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if is_run_dir(path):
            infos.append(run_info(path))
            continue
        for inner in sorted(p for p in path.iterdir() if p.is_dir() and is_run_dir(p)):
            info = run_info(inner)
            info.name = f"{path.name}/{inner.name}"
            infos.append(info)
    return sorted(infos, key=lambda i: i.started or 0.0, reverse=True)


def write_report(run_dir: Path, report: dict[str, Any]) -> Path:
    """Write ``report.json`` atomically."""
    path = Path(run_dir) / REPORT_FILE
    tmp = path.with_name(f".{REPORT_FILE}.tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


def request_stop(run_dir: str | Path) -> Path:
    """Ask the trainer writing ``run_dir`` (in any process) to stop: it polls a STOP file every
    step, saves ``last/`` and ends with status ``stopped``."""
    path = Path(run_dir) / STOP_FILE
    path.write_text(f"stop requested at {time.strftime('%Y-%m-%d %H:%M:%S')}\n", encoding="utf-8")
    return path


def run_config(run_dir: str | Path) -> dict[str, Any]:
    """The config a run used, as a nested dict (from its first ``run_started`` event, else
    ``config.toml``); empty when neither can be read."""
    for event in read_events(Path(run_dir) / EVENTS_FILE):
        if isinstance(event, RunStarted):
            return event.config
    try:
        return LabConfig.load(Path(run_dir) / CONFIG_FILE).to_dict()
    except LabError:
        return {}


def config_diff(*configs: dict[str, Any]) -> list[tuple[Any, ...]]:
    """``(section.key, first's value, second's value, ...)`` for every key whose values are not
    all the same across the configs (two or more; a key a config lacks reads as ``None``)."""
    rows: list[tuple[Any, ...]] = []
    for section in sorted(set().union(*configs)):
        tables = [c.get(section, {}) for c in configs]
        for key in sorted(set().union(*tables)):
            values = [t.get(key) for t in tables]
            if any(v != values[0] for v in values[1:]):
                rows.append((f"{section}.{key}", *values))
    return rows


def pretrained_runs(output_dir: str | Path) -> list[str]:
    """Finished pretraining runs in ``output_dir`` that have a ``best/`` (newest first): the
    folders a classifier can be fine-tuned from (``model.name``)."""

    return _finished_runs(output_dir, lambda task: task == "pretrain")


def classifier_runs(output_dir: str | Path) -> list[str]:
    """Finished classifier runs (classify, multilabel, ner) in ``output_dir`` with a ``best/``
    (newest first): the teachers a student can be distilled from (``train.teacher``)."""

    return _finished_runs(output_dir, lambda task: task in ("classify", "multilabel", "ner"))


def _finished_runs(output_dir: str | Path, wanted: Any) -> list[str]:
    """Finished runs with a ``best/`` whose ``model.task`` passes ``wanted``, newest first."""
    root = Path(output_dir).expanduser()
    found: list[tuple[float, str]] = []
    for run in root.iterdir() if root.is_dir() else ():
        try:
            task = tomllib.loads((run / CONFIG_FILE).read_text(encoding="utf-8")).get("model", {}).get("task")
            last = checkpoint.resolve(run / "last")
            finished = last is not None and checkpoint.load_state(last).get("finished", False)
        except (OSError, ValueError, LabError):
            continue
        if wanted(task) and finished and checkpoint.resolve(run / "best") is not None:
            found.append((run.stat().st_mtime, str(Path(output_dir) / run.name)))
    return [path for _, path in sorted(found, reverse=True)]
