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

from tui_lab.core.config import run_name_problem
from tui_lab.core.errors import ConfigError, LabError, setting_ref
from tui_lab.core.events import Evaluated, RunFailed, RunFinished, RunStarted, read_events

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
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabError(f"cannot create run folder {path}: {exc.strerror}.") from None
    return path


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` looks like a run folder (it has an event log or a config)."""
    p = Path(path)
    return (p / EVENTS_FILE).exists() or (p / CONFIG_FILE).exists()


@dataclass
class RunInfo:
    """A row of the runs list."""

    name: str
    path: str
    status: str
    model: str = ""
    started: float | None = None
    step: int = 0
    total_steps: int = 0
    best: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] | None = None
    world_size: int = 1
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


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

    Status is the last finish (completed, early_stopped, stopped) or failure; a run with
    neither is ``running`` while its process lives and ``interrupted`` after (a crash or a kill).
    """
    path = Path(path)
    info = RunInfo(name=path.name, path=str(path), status="empty")
    started: RunStarted | None = None
    for event in read_events(path / EVENTS_FILE):
        if isinstance(event, RunStarted):
            started = event
            info.status, info.model, info.total_steps = "running", event.model, event.total_steps
            info.world_size, info.step = event.world_size, event.start_step
            info.started = info.started or event.time
        elif isinstance(event, Evaluated) and event.split == "dev":
            info.step = max(info.step, event.step)
            if event.is_best:
                info.best = dict(event.metrics)
        elif isinstance(event, RunFinished):
            info.status, info.step, info.test = event.status, event.step, event.test
            info.best = dict(event.best or info.best)
        elif isinstance(event, RunFailed):
            info.status, info.message = "failed", event.message
        elif getattr(event, "step", None) is not None and isinstance(event.step, int):
            info.step = max(info.step, event.step)
    if info.status == "running" and started is not None and not _pid_alive(started.pid):
        info.status = "interrupted"
    return info


def list_runs(output_dir: str | Path) -> list[RunInfo]:
    """Every run folder under ``output_dir``, newest first."""
    root = Path(output_dir).expanduser()
    if not root.is_dir():
        return []
    infos = [run_info(p) for p in root.iterdir() if p.is_dir() and is_run_dir(p)]
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
        from tui_lab.core.config import LabConfig

        return LabConfig.load(Path(run_dir) / CONFIG_FILE).to_dict()
    except LabError:
        return {}


def config_diff(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(section.key, a's value, b's value)`` for every key whose values differ."""
    rows = []
    for section in sorted(set(a) | set(b)):
        sa, sb = a.get(section, {}), b.get(section, {})
        for key in sorted(set(sa) | set(sb)):
            if sa.get(key) != sb.get(key):
                rows.append((f"{section}.{key}", sa.get(key), sb.get(key)))
    return rows
