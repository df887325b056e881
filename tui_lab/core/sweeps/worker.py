"""One sweep worker process: ask the study for a trial, train it as a run, tell the study; repeat.

Started by the coordinator with ``--sweep-dir DIR --on DEV --index I --threads T``, bound to one
device: forked warm from the sweep's fork server, which has imported torch, transformers and the
training code once (:mod:`.warm`), or, where that cannot be, as a fresh interpreter
(``python -m tui_lab.core.sweeps.worker ...``).
Each trial is an ordinary run folder ``<sweep_dir>/trial-NNN``; every dev evaluation is reported
to the pruner, and a pruned trial stops its run as ``pruned`` (``last/`` saved). A retried trial
(its worker died, or the sweep was stopped) continues its run folder from ``last/``. SIGINT or
SIGTERM, or the coordinator's death, stops the current run (``last/`` saved) and puts the trial
back in the queue for ``--resume``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tui_lab.core.config import LabConfig
from tui_lab.core.errors import LabError
from tui_lab.core.sweeps import study as studies
from tui_lab.core.sweeps.space import SearchSpace, space_from_specs
from tui_lab.core.training.events import Evaluated, Event, RunFinished, RunStatus, StepLogged, read_events
from tui_lab.core.training.runs import EVENTS_FILE
from tui_lab.core.training.stopping import StopRequest

EXIT_STOPPED = 130


class _Surplus(Exception):
    """This trial came after every place of the sweep was taken."""


class _Stopped(Exception):
    """The worker was asked to stop; the trial waits in the queue for a resume."""


class PruningSink:
    """Reports each dev evaluation to the trial and stops the run when the pruner says so."""

    def __init__(self, trial: Any, metric: str, stop: StopRequest) -> None:
        self.trial, self.metric, self.stop = trial, metric, stop
        self.evaluations = 0

    def __call__(self, event: Event) -> None:
        if not isinstance(event, Evaluated) or event.split != "dev" or self.metric not in event.metrics:
            return
        self.trial.report(float(event.metrics[self.metric]), step=self.evaluations)
        self.evaluations += 1
        if self.trial.should_prune():
            self.stop.request(RunStatus.PRUNED.value, f"pruned after {self.evaluations} evaluations")


def make_sampler(name: str, space: SearchSpace, seed: int) -> Any:
    """The Optuna sampler ``tpe``, ``random`` or ``grid`` (seeded)."""
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(spec: str, direction: str) -> Any:
    """The Optuna pruner ``median``, ``hyperband``, ``none`` or ``threshold:X`` (prunes below X
    when maximising, above it when minimising; deterministic, for tests)."""
    import optuna

    name, _, value = spec.partition(":")
    if name == "threshold":
        bound = float(value)
        kwargs = {"lower": bound} if direction == "maximize" else {"upper": bound}
        return optuna.pruners.ThresholdPruner(**kwargs)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    if name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)


class Worker:
    """Runs trials of one sweep on one device until the sweep has no place left or is stopped."""

    def __init__(self, sweep_dir: Path, device: str, index: int, stop: StopRequest) -> None:
        import optuna

        self.sweep_dir, self.device, self.stop = sweep_dir, device, stop
        self.info = studies.read_sweep_info(sweep_dir)
        self.base = LabConfig.from_dict(self.info.config)
        # a queue's trials carry whole configs: nothing to search
        self.space = SearchSpace(()) if self.info.queue else space_from_specs(self.info.space)
        self.study = studies.open_study(self.info, heartbeat=True)
        self.study.sampler = make_sampler(self.info.sampler, self.space, self.base.train.seed + index)
        self.study.pruner = make_pruner(self.info.pruner, self.info.direction)
        self._optuna = optuna

    def run(self) -> int:
        """Take trials while there is work; returns the exit code (130 when stopped)."""
        while not self.stop.is_set():
            if self.info.queue:  # configs added while it runs raise the count
                self.info = studies.read_sweep_info(self.sweep_dir)
            n, trials = self.info.trials, self.study.get_trials(deepcopy=False)
            fatal = not self.info.queue and studies.fatal_reason(trials, n)
            if fatal or not studies.has_work(self.study, n):
                break
            self.study.optimize(self.objective, n_trials=1, catch=(Exception,))
            studies.keep_best(
                self.study, self.info.keep_best, self.info.direction, self.sweep_dir, self.info.storage
            )
        return EXIT_STOPPED if self.stop.is_set() else 0

    def objective(self, trial: Any) -> float:
        """Train one trial's run; its best dev value of the sweep's metric."""
        trial.set_user_attr("worker", studies.worker_id())
        if studies.is_surplus(self.study, trial.number, self.info.trials):
            trial.set_user_attr("surplus", True)
            raise _Surplus(f"trial {trial.number} is beyond the sweep's {self.info.trials} trials")
        params = self.space.suggest(trial)
        default_dir = self.sweep_dir / trial.user_attrs.get("run_name", f"trial-{trial.number:03d}")
        run_dir = studies.run_dir_of(trial, self.sweep_dir, self.info.storage) or default_dir
        trial.set_user_attr("run_dir", self._stored(run_dir))
        trial.set_user_attr("device", self.device)
        started = time.monotonic()
        try:
            return self._train(trial, params, run_dir)
        except LabError as exc:
            trial.set_user_attr("error", str(exc))
            raise
        except (_Stopped, self._optuna.TrialPruned):
            raise
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            trial.set_user_attr("error", f"{type(exc).__name__}: {first}".rstrip(": "))
            raise
        finally:
            trial.set_user_attr("seconds", round(time.monotonic() - started, 2))
            trial.set_user_attr("epochs", _epochs(run_dir))

    def _stored(self, run_dir: Path) -> str:
        return studies.run_dir_attr(run_dir, self.sweep_dir, self.info.storage)

    def _train(self, trial: Any, params: dict[str, Any], run_dir: Path) -> float:
        from tui_lab.core.distill import hooks_for
        from tui_lab.core.training.loop import Trainer

        report = _finished_report(run_dir)
        if report is None:
            config, resume = self._trial_config(trial, params, run_dir)
            self.stop.status, self.stop.reason = "stopped", "stopped by the user"
            sink = PruningSink(trial, self.info.metric, self.stop)
            hooks = hooks_for(config, resume)  # a base config with a teacher: every trial distils
            trainer = Trainer(config, [sink], stop=self.stop, resume=resume, hooks=hooks)
            result = trainer.run()
            report = {"status": result.status, "best": result.best, "config": trainer.config.to_dict()}
            if self.stop.is_set() and self.stop.status == RunStatus.PRUNED:  # even at the last evaluation
                report["status"] = RunStatus.PRUNED
        if report["status"] == RunStatus.PRUNED:
            self.stop.clear()
            raise self._optuna.TrialPruned(f"trial {trial.number} pruned")
        if report["status"] == RunStatus.STOPPED:
            attrs = {
                "retry_of": trial.number,
                "run_dir": self._stored(run_dir),
                **studies.fixed_attrs(trial),
            }
            self.study.enqueue_trial(trial.params, user_attrs=attrs)
            raise _Stopped(f"trial {trial.number} stopped; it continues on --resume")
        # a queued run is judged by its own metric (the queue's configs may differ in task)
        metric = self.info.metric or report.get("config", {}).get("train", {}).get(
            "metric_for_best_model", ""
        )
        value = (report.get("best") or {}).get(metric)
        if value is None:
            raise LabError(f"the run had no dev evaluation of {metric or 'its metric'}.")
        return float(value)

    def _trial_config(
        self, trial: Any, params: dict[str, Any], run_dir: Path
    ) -> tuple[LabConfig, Path | None]:
        """The trial's config (the base, its parameters, its folder and device), and what to resume."""
        if (run_dir / "last").exists():
            return self.base, run_dir
        if run_dir.exists():  # a retry of a trial that died before its first checkpoint
            shutil.rmtree(run_dir)
        fixed = trial.user_attrs.get("config")  # a queued run: its own whole config
        config = LabConfig.from_dict(fixed) if fixed else self.base.copy()
        for path, value in params.items():
            config.set(path, value)
        config.train.output_dir = str(run_dir.parent)
        config.train.run_name = run_dir.name
        config.train.device = self.device
        return config, None


def _finished_report(run_dir: Path) -> dict[str, Any] | None:
    """``report.json`` of a run that already ended (its worker died before telling the study)."""
    try:
        report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if report.get("status") != RunStatus.STOPPED else None


def _epochs(run_dir: Path) -> float:
    """Epochs the trial's run trained (fractional), from its event log."""
    for event in reversed(read_events(run_dir / EVENTS_FILE)):
        if isinstance(event, RunFinished):
            return round(event.epochs_completed, 3)
        if isinstance(event, StepLogged):
            return round(event.epoch, 3)
    return 0.0


def _watch_parent(stop: StopRequest) -> None:
    """Stop when the coordinator that started this worker is gone (the sweep was killed)."""
    parent = os.getppid()

    def watch() -> None:
        while not stop.is_set():
            if os.getppid() != parent:
                stop.set()
                return
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def main(argv: list[str] | None = None) -> int:
    """The worker's entry point; returns its exit code."""
    p = argparse.ArgumentParser(prog="python -m tui_lab.core.sweeps.worker")
    p.add_argument("--sweep-dir", required=True)
    p.add_argument("--on", dest="device", default="cpu", help="the device this worker trains on")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    stop = StopRequest()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    _watch_parent(stop)
    from tui_lab.core.imports import quiet_libraries

    quiet_libraries()
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    try:
        return Worker(Path(args.sweep_dir), args.device, args.index, stop).run()
    except LabError as exc:
        print(f"error: sweep worker: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
