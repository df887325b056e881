"""The run queue: configs run one after another (one per free device) by detached sweep workers.

A queue is a sweep folder (``<output_dir>/queue/``, ``sweep.json`` with ``queue: true``) whose
trials are fixed: each added config is an Optuna trial enqueued with the whole config as its user
attribute ``config`` (``enqueue_trial``), run by the same workers as a sweep, in order, with the same
fault handling (a killed worker's run is retried from its ``last/``). Each queued run is an ordinary
run folder ``queue/<run name>``. The queue outlives the lab: its coordinator
(``tui-lab sweep --resume <queue>``) runs detached and ends when nothing waits; adding a config
starts it again when it is not running.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tui_lab.core.config import LabConfig, run_name_problem
from tui_lab.core.errors import LabError
from tui_lab.core.sweeps import control
from tui_lab.core.sweeps import study as studies
from tui_lab.core.sweeps.journal import repair_journal
from tui_lab.core.training.runs import default_run_name

QUEUE_DIR = "queue"
LOCK_FILE = ".queue.lock"
LOG_FILE = "queue.log"


@dataclass(frozen=True)
class Queued:
    """A config just added: its place, its run folder, and whether workers had to be started."""

    number: int
    run_dir: Path
    waiting: int
    started_workers: bool
    repaired: str = ""  # what was set aside of a torn queue journal first (one line), if anything


def queue_dir(output_dir: str | Path) -> Path:
    """The queue folder of an output folder."""
    return Path(output_dir).expanduser().resolve() / QUEUE_DIR


def add(config: LabConfig, devices: list[str] | None = None, parallel: int = 1, start: bool = True) -> Queued:
    """Add ``config`` to its output folder's queue and make sure workers run it.

    Args:
        config: the run to queue (validated here; its ``train.output_dir`` names the queue).
        devices: the devices the queue's workers use (kept from the first add when None).
        parallel: workers at once (one per device on GPUs).
        start: start the detached coordinator when it is not running.

    Raises:
        ConfigError: an invalid config or run name (nothing is queued).
    """
    config = config.copy()
    config.raise_if_invalid()
    folder = queue_dir(config.train.output_dir)
    name = config.train.run_name or default_run_name(config.model.name)
    problem = run_name_problem(name)
    if problem:
        raise LabError(f"run name '{name}' {problem}.")
    if (folder / name).exists():
        raise LabError(f"the queue already has a run named {name}; choose another run name.")
    config.train.output_dir, config.train.run_name = str(folder), name
    with _locked(folder):
        info = _info(folder, devices, parallel)
        repaired = repair_journal(info.storage)
        study = studies.open_study(info)
        study.enqueue_trial({}, user_attrs={"config": config.to_dict(), "run_name": name})
        info.trials += 1
        info.write(folder)
        number = study.get_trials(deepcopy=False)[-1].number
        waiting = sum(1 for t in study.get_trials(deepcopy=False) if t.state.name == "WAITING")
    started = start and not coordinator_alive(folder)
    if started:
        start_coordinator(folder)
    return Queued(number, folder / name, waiting, started, repaired)


def _info(folder: Path, devices: list[str] | None, parallel: int) -> studies.SweepInfo:
    """The queue's ``sweep.json`` (created on the first add)."""
    if (folder / studies.SWEEP_FILE).exists():
        info = studies.read_sweep_info(folder)
        if devices:
            info.devices, info.parallel = devices, parallel
        return info
    folder.mkdir(parents=True, exist_ok=True)
    return studies.SweepInfo(
        study=QUEUE_DIR,
        storage=str(folder / studies.JOURNAL_FILE),
        metric="",  # each queued run is judged by its own metric
        direction="maximize",
        space={},
        trials=0,
        parallel=parallel,
        devices=devices or ["cpu"],
        pruner="none",
        created=studies.now_iso(),
        queue=True,
    )


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One adder at a time (the count in ``sweep.json`` and the study move together)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def coordinator_alive(folder: Path) -> bool:
    """Whether the queue's detached coordinator (recorded in ``coordinator.pid``) still runs."""
    return control.live_coordinator(folder) is not None


def start_coordinator(folder: Path) -> int:
    """Start ``tui-lab sweep --resume <queue>`` detached (it outlives the lab); returns its pid."""
    return control.resume_detached(folder, folder / LOG_FILE).pid
