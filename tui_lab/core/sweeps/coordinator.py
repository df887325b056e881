"""The ``sweep`` process: plan a sweep, start K worker processes bound to devices, watch them.

:func:`plan_sweep` checks everything a user can get wrong (space, sampler, devices, metric,
an existing study's direction and space) before anything is written; :func:`run_sweep` keeps K
workers (:mod:`.worker`, each forked warm by :mod:`.warm` or a fresh interpreter) running while
the study has work, reports each finished trial, retries the trial of a worker that died (the
journal storage has no heartbeat), and stops every worker when asked (each saves ``last/``). On ``--resume`` the RUNNING trials of
this host whose worker is gone are retried the same way, so the sweep still ends with exactly N.
While it runs, the coordinator is recorded in ``<sweep>/coordinator.pid`` (:mod:`.control`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_lab.core.config import LabConfig
from tui_lab.core.errors import ConfigError, LabError
from tui_lab.core.sweeps import control
from tui_lab.core.sweeps import study as studies
from tui_lab.core.sweeps.space import SearchSpace
from tui_lab.core.sweeps.study import SweepInfo
from tui_lab.core.sweeps.warm import EXIT_COLD, WarmProcess, WarmStarter
from tui_lab.core.sweeps.worker import make_pruner
from tui_lab.core.training.runs import check_output_dir

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
MAX_WORKER_DEATHS = 3  # a device whose worker dies this many times in a row ends the sweep
POLL_SECONDS = 0.5


def resolve_metric(config: LabConfig, metric: str = "") -> tuple[str, str]:
    """(metric, default direction): the task's headline dev metric unless one is named.

    Reads the data once to know the task (as a run's set-up does).
    """
    from tui_lab.core.data.splits import load_data
    from tui_lab.core.tasks import TASKS, detect_task
    from tui_lab.core.training.prepare import resolve_task, task_name

    config = config.copy()
    if metric:
        config.train.metric_for_best_model = metric
    wanted = task_name(config) or detect_task(config.data)[0]
    config.model.task = wanted
    data = (
        TASKS[wanted].load_data(config.data, config.train.seed)
        if wanted
        else load_data(config.data, config.train.seed, None)
    )
    task, _ = resolve_task(config, data)
    chosen = config.train.metric_for_best_model
    return chosen, "minimize" if chosen in task.lower_is_better else "maximize"


def parse_devices(text: str, parallel: int | None) -> tuple[list[str], int]:
    """(one device per worker, K) from ``--devices`` (``cpu``, ``cuda:0,cuda:1``, ``auto``).

    Raises:
        ConfigError: an unknown or missing device, or more workers than the GPUs listed.
    """
    names = [d.strip() for d in (text or "auto").split(",") if d.strip()]
    for name in names:
        if not re.fullmatch(r"auto|cpu|cuda:\d+", name) or (name == "auto" and len(names) > 1):
            raise ConfigError(f"--devices: '{name}' is not cpu or cuda:N.")
    if names != ["cpu"]:  # only a GPU question pays for importing torch
        import torch

        count = torch.cuda.device_count()
        names = ([f"cuda:{i}" for i in range(count)] or ["cpu"]) if names == ["auto"] else names
        for name in names:
            if name.startswith("cuda") and int(name[5:]) >= count:
                raise ConfigError(f"--devices: {name} does not exist here ({count} CUDA devices visible).")
    gpus = [n for n in names if n != "cpu"]
    k = parallel if parallel is not None else (len(gpus) or 1)
    if k < 1:
        raise ConfigError("--parallel must be at least 1.")
    if gpus and k > len(gpus):
        raise ConfigError(f"--parallel {k} is more workers than the {len(gpus)} GPUs listed in --devices.")
    return [names[i % len(names)] for i in range(k)], k


def check_sampler_and_pruner(sampler: str, pruner: str, space: SearchSpace) -> None:
    """Raise a one-line :class:`ConfigError` for an unknown sampler or pruner, or a grid over a range."""
    if sampler not in SAMPLERS:
        raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}, got '{sampler}'.")
    if sampler == "grid":
        space.grid()
    name, _, value = pruner.partition(":")
    if name == "threshold":
        try:
            float(value)
        except ValueError:
            raise ConfigError(f"--pruner threshold:X needs a number, got '{pruner}'.") from None
    elif pruner not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, got '{pruner}'.")
    make_pruner(pruner, "maximize")


def prepare_sweep_dir(info: SweepInfo, sweep_dir: Path) -> None:
    """Check the study (an existing one must match), then create the folder and write ``sweep.json``.

    Raises:
        ConfigError: the folder holds something else, or the study disagrees.
    """
    if sweep_dir.exists() and any(sweep_dir.iterdir()):
        if not studies.is_rdb(info.storage) or not (sweep_dir / studies.SWEEP_FILE).exists():
            raise ConfigError(
                f"sweep folder {sweep_dir} already exists; continue it with --resume {sweep_dir}."
            )
    check_output_dir(sweep_dir.parent)
    if studies.is_rdb(info.storage):
        studies.open_study(info)  # reachable, same direction and space, before anything is written
    sweep_dir.mkdir(parents=True, exist_ok=True)
    info.write(sweep_dir)
    studies.open_study(info)


@dataclass
class _Slot:
    """One worker place: its device, its process, how often it died in a row."""

    device: str
    index: int
    proc: subprocess.Popen[bytes] | WarmProcess | None = None
    deaths: int = 0
    restarts: list[float] = field(default_factory=list)


def worker_threads(k: int, devices: list[str]) -> int:
    """Torch threads per worker on CPU: the cores shared out (0 = torch's default on GPUs)."""
    if any(d != "cpu" for d in devices):
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // k)


def run_sweep(
    sweep_dir: Path,
    info: SweepInfo,
    stop: threading.Event,
    on_finished: Callable[[Any], None] = lambda trial: None,
    warm: WarmStarter | None = None,
) -> str:
    """Run the sweep's workers until it has N finished trials; returns ``done`` or ``stopped``.

    Args:
        on_finished: called once with each trial (an Optuna ``FrozenTrial``) that finishes.
        warm: forks the workers from a server that has imported what they need (:mod:`.warm`);
            ``None``: each worker a fresh interpreter.

    Raises:
        LabError: the first trials all failed alike (their reason), or workers keep dying.
    """
    study = studies.open_study(info)
    # the journal has no heartbeat: trials of workers killed with a previous coordinator are
    # retried here (an RDB's heartbeat retries them by itself)
    own_retries = not studies.is_rdb(info.storage)
    for trial in studies.orphans(study) if own_retries else []:
        studies.retry(study, trial)
    slots = [_Slot(device, i) for i, device in enumerate(info.devices[: info.parallel])]
    threads = worker_threads(len(slots), [s.device for s in slots])
    reported: set[int] = set()
    control.record(sweep_dir)  # a face that shows the sweep can stop it (SIGTERM) by this
    try:
        while True:
            _reap(study, slots, stop, own_retries, warm)
            trials = study.get_trials(deepcopy=False)
            for t in studies.finished(trials):
                if t.number not in reported:
                    reported.add(t.number)
                    on_finished(t)
            if info.queue:  # configs added while it runs raise the count
                info = studies.read_sweep_info(sweep_dir)
            # a queue's configs differ: one failing says nothing of the next
            reason = None if info.queue else studies.fatal_reason(trials, info.trials)
            if reason:
                raise LabError(f"the sweep stopped: its first trials all failed: {reason}")
            if stop.is_set():
                return "stopped"
            if len(studies.finished(trials)) >= info.trials and not any(s.proc for s in slots):
                return "done"
            if studies.has_work(study, info.trials):
                for slot in slots:
                    if slot.proc is None:
                        slot.proc = _start_worker(sweep_dir, slot, threads, warm)
            time.sleep(POLL_SECONDS)
    finally:
        _stop_workers(slots)
        control.forget(sweep_dir)


def _reap(
    study: Any, slots: list[_Slot], stop: threading.Event, retries: bool, warm: WarmStarter | None = None
) -> None:
    """Notice workers that exited; a worker that died has its running trial retried (``retries``).

    A forked worker that exits :data:`~.warm.EXIT_COLD` (it found CUDA initialised in the fork
    server) did nothing: it and every later worker start as fresh interpreters instead."""
    for slot in slots:
        if slot.proc is None or slot.proc.poll() is None:
            continue
        code, pid, forked = slot.proc.returncode, slot.proc.pid, isinstance(slot.proc, WarmProcess)
        slot.proc = None
        if warm is not None and forked and code == EXIT_COLD:
            warm.usable = False
            continue
        if code == 0 or stop.is_set():
            slot.deaths = 0
            continue
        for trial in studies.orphans(study, gone={studies.worker_id(pid)}) if retries else []:
            studies.retry(study, trial)
        slot.deaths += 1
        if slot.deaths >= MAX_WORKER_DEATHS:
            raise LabError(
                f"the sweep's worker on {slot.device} exited {MAX_WORKER_DEATHS} times in a row "
                f"(last exit code {code}); see its messages above."
            )


def _start_worker(
    sweep_dir: Path, slot: _Slot, threads: int, warm: WarmStarter | None = None
) -> subprocess.Popen[bytes] | WarmProcess:
    """One worker on the slot's device: forked warm when it can be, else a fresh interpreter."""
    argv = ["--sweep-dir", str(sweep_dir), "--on", slot.device, "--index", str(slot.index)]
    argv += ["--threads", str(threads)]
    if warm is not None and warm.usable:
        return warm.start(argv, threads)
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "tui_lab.core.sweeps.worker", *argv]
    return subprocess.Popen(cmd, env=env, stdout=sys.stderr, stdin=subprocess.DEVNULL)


def _stop_workers(slots: list[_Slot]) -> None:
    """Ask every live worker to stop (it saves ``last/``) and wait for it."""
    live = [s.proc for s in slots if s.proc is not None and s.proc.poll() is None]
    for proc in live:
        proc.send_signal(signal.SIGTERM)
    for proc in live:
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
