"""The training loop: fine-tune a model and emit what happens as events.

A plain PyTorch loop around a :class:`~tui_lab.core.training.prepare.RunSetup` (data, task, model, optimiser,
schedule, state: :func:`~tui_lab.core.training.prepare.prepare`). Batches come length-grouped from flat token
arrays and are padded per batch; AdamW (fused where torch has it), linear warmup and decay,
clipping and accumulation; bf16/fp16 autocast and TF32 only on CUDA. Evaluation every epoch or
every N steps picks ``best/`` and stops early after ``patience`` evaluations without improvement;
``last/`` holds everything needed to resume with the same data order and RNG, so a resumed run
ends where an uninterrupted one would. What differs between objectives lives in the task.

The loop knows nothing of screens: it takes a ``threading.Event`` to stop (checked every step,
or at logging steps under torchrun, where the decision is one collective) and one to pause, and
sends :mod:`tui_lab.core.training.events` to any number of sinks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_lab.core.config import LabConfig
from tui_lab.core.errors import LabError, TrainingAborted, setting_ref
from tui_lab.core.tasks.metrics import scalars
from tui_lab.core.training import distributed, saving
from tui_lab.core.training.baseline import baseline_args
from tui_lab.core.training.clock import TrainClock
from tui_lab.core.training.eval_loop import evaluate
from tui_lab.core.training.events import CheckpointSaved, Evaluated, Notice, RunFinished, Sink
from tui_lab.core.training.hooks import HookList, Hooks, StoppedInSetup
from tui_lab.core.training.prepare import RunSetup, prepare
from tui_lab.core.training.runlog import RunLog
from tui_lab.core.training.runs import write_report
from tui_lab.core.training.stopping import stop_outcome

BASELINE_TARGET = "tui_lab.core.training.baseline:cached_baseline"  # what the baseline job calls
# Below this many training rows the baseline's fit (well under a second) costs the loop less than
# a child process's start (an interpreter and scikit-learn, ~1.5 CPU-seconds), so it runs on a
# thread; above it, in the low-priority child (benchmarks/train_throughput.py, core+baseline*).
BASELINE_PROCESS_ROWS = 10_000


@dataclass
class RunResult:
    """What a finished (completed, early-stopped or stopped) run reports."""

    run_dir: str
    status: str
    best: dict[str, float] | None
    test: dict[str, float] | None
    baseline: dict[str, Any] | None
    train_samples_per_second: float
    epochs_completed: int
    stopped_early: bool
    step: int
    report: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON object ``tui-lab train --json`` prints last."""
        pick = (
            "accuracy",
            "f1_micro",
            "f1_macro",
            "f1",
            "precision",
            "recall",
            "subset_accuracy",
            "precision_macro",
            "recall_macro",
            "loss",
            "perplexity",
        )
        return {
            "run_dir": self.run_dir,
            "status": self.status,
            "best": {k: self.best[k] for k in pick if k in self.best} if self.best else None,
            "test": {k: self.test[k] for k in pick if k in self.test} if self.test else None,
            "baseline": self.baseline,
            "train_samples_per_second": round(self.train_samples_per_second, 2),
            "epochs_completed": self.epochs_completed,
            "stopped_early": self.stopped_early,
        }

    def finished(self, epochs: float, reason: str) -> RunFinished:
        """The ``RunFinished`` event that says this result (``epochs``: the fractional count)."""
        return RunFinished(
            status=self.status,
            step=self.step,
            epochs_completed=epochs,
            best=self.best,
            test=self.test,
            train_samples_per_second=self.train_samples_per_second,
            stopped_early=self.stopped_early,
            reason=reason,
        )


class Trainer:
    """Trains one run. ``run()`` returns a :class:`RunResult` or raises.

    Args:
        config: the run's configuration (ignored when resuming: the run's own config is used).
        sinks: callables that receive every event (rank 0 only).
        stop: set it to stop at the next step; ``last/`` is saved and the run stays resumable.
        pause: while set, the loop waits (paused time is not training time; ``stop`` still works).
        resume: a run folder whose ``last/`` to continue from.
        hooks: :class:`~tui_lab.core.training.hooks.Hooks` called at set-up and around each phase.
    """

    def __init__(
        self,
        config: LabConfig,
        sinks: Iterable[Sink] = (),
        stop: threading.Event | None = None,
        pause: threading.Event | None = None,
        resume: str | Path | None = None,
        hooks: Iterable[Hooks] = (),
    ) -> None:
        self.config = config
        self.log = RunLog(sinks, distributed.from_env())
        self.stop = stop or threading.Event()
        self.pause = pause
        self.resume_dir = Path(resume).expanduser().resolve() if resume else None
        self.hooks = HookList(hooks)
        self.dist = self.log.dist
        self.s: RunSetup | None = None
        self.clock = TrainClock()

    # .. public ....................................................................................
    def run(self) -> RunResult:
        """Prepare, train, evaluate and report; every failure is also emitted as ``RunFailed``."""
        try:
            self.s = prepare(self.config, self.dist, self.resume_dir)
            self.config = self.s.config
            self.s.say = lambda text: self.log.emit(Notice(level="info", text=text))
            self.s.stop = self.stop
            try:
                self.hooks.on_setup(self.s)
            except StoppedInSetup:
                return _stopped_in_setup(self.log)
            self.run_dir = self.log.open(self.s, self.resume_dir)
            self.hooks.on_run_dir(self.s, self.run_dir)
            self.log.started(self.s)
            status, reason = self._train()
            with self.hooks.phase("finish"):
                return self._finish(status, reason)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            oom = _oom_message(exc, self.config)
            message = exc.message if isinstance(exc, LabError) else oom or f"{type(exc).__name__}: {exc}"
            self.log.failed(
                message, type(exc).__name__, self.step, isinstance(exc, LabError) or oom is not None
            )
            raise
        finally:
            self.log.close()
            distributed.shutdown(self.dist)
            self.s = None  # the model, optimiser and data go with the run, not with the trainer

    @property
    def step(self) -> int:
        """Optimiser steps taken so far."""
        return self.s.state.step if self.s else 0

    # .. the run .................................................................................
    def _train(self) -> tuple[str, str]:
        """Start the baseline beside training, restore the RNG on resume, run the loop."""
        s = self.s
        self.clock = TrainClock(s.device, s.state.train_time, s.state.samples_seen)
        if s.state.baseline is None and s.config.train.baseline:
            self.log.start_baseline(*_baseline_job(s))
        if s.last_dir is not None:
            warning = saving.restore_rng(s)
            if warning:
                self.log.emit(Notice(level="warning", text=warning))
            self.log.emit(Notice(level="info", text=f"resumed from step {s.state.step} of {s.total_steps}"))
        with self.hooks.phase("train_loop"):
            return self._loop(s.state.epoch, s.state.batch_in_epoch)

    def _loop(self, start_epoch: int, skip_batches: int) -> tuple[str, str]:
        """Run epochs from ``start_epoch``; returns (status, reason)."""
        s, tc = self.s, self.s.config.train
        s.model.train()
        self._steps = _StepStats(s, self.dist)
        for epoch in range(start_epoch, tc.epochs):
            batches = s.epoch_batches(epoch)
            self.clock.start()
            for b in range(skip_batches if epoch == start_epoch else 0, len(batches)):
                ended = self._micro_step(epoch, b, batches)
                if ended:
                    return ended
            self.clock.stop()
            s.state.batch_in_epoch = len(batches)
            if not tc.eval_steps or s.state.step == s.total_steps:
                if self._evaluate_and_save(epoch, len(batches), len(batches)):
                    return "early_stopped", f"no improvement in {tc.patience} evaluations"
            else:
                self._save_last(epoch, len(batches), len(batches))
            if s.state.step >= s.total_steps:  # train.max_steps reached at an epoch's end
                break
        return "completed", ""

    def _micro_step(self, epoch: int, b: int, batches: list[Any]) -> tuple[str, str] | None:
        """One micro-batch; at an accumulation boundary the optimiser step and what follows it."""
        s, tc = self.s, self.s.config.train
        accum, n = tc.gradient_accumulation_steps, len(batches)
        boundary = (b + 1) % accum == 0 or b + 1 == n
        in_step = min(accum, n - (b // accum) * accum)  # micro-batches in this step (the last may be short)
        self._steps.add(self._forward_backward(batches[b], in_step, sync_grads=boundary))
        self.clock.count(len(batches[b]) * self.dist.world_size)
        if not boundary:
            return None
        grad_norm = self._optimizer_step(tc.max_grad_norm)
        s.state.step += 1
        s.state.batch_in_epoch = b + 1
        stop_now = self._log_and_check(grad_norm, epoch + (b + 1) / n)
        last = s.state.step >= s.total_steps and b + 1 < n  # train.max_steps reached mid-epoch
        if last or (tc.eval_steps and s.state.step % tc.eval_steps == 0 and s.state.step < s.total_steps):
            self.clock.stop()
            if self._evaluate_and_save(epoch, b + 1, n):
                return "early_stopped", f"no improvement in {tc.patience} evaluations"
            if last:
                return "completed", ""
            self.clock.start()
        if stop_now:
            self.clock.stop()
            self._save_last(epoch, b + 1, n)
            return stop_outcome(self.stop)
        _wait_while_paused(self.pause, self.stop, self.clock)
        return None

    def _forward_backward(self, idx: Any, micro_batches: int, sync_grads: bool) -> Any:
        """Loss of one micro-batch, with its gradient added to the parameters' (returns the loss)."""
        import torch

        s = self.s
        batch = s.task.collate(s.train.tokens, idx, s.train.targets, s.pad_id, s.multiple)
        batch = {k: v.to(s.device, non_blocking=True) for k, v in batch.items()}
        labels = batch.pop("labels")
        dtype = s.device_info.autocast_dtype
        # DDP all-reduces gradients only on the micro-batch that completes an optimiser step
        ctx = s.ddp.no_sync() if self.dist.enabled and not sync_grads else nullcontext()
        with ctx:
            with torch.autocast(
                s.device.split(":")[0], dtype=dtype or torch.float32, enabled=dtype is not None
            ):
                loss = s.task.loss(s.ddp(**batch).logits, labels)
            # dividing by the micro-batches in this step keeps the gradient an average
            s.scaler.scale(loss / micro_batches if micro_batches > 1 else loss).backward()
        return loss.detach()

    def _optimizer_step(self, max_norm: float) -> Any:
        import torch

        s = self.s
        grad_norm = None
        if max_norm > 0:
            s.scaler.unscale_(s.optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(s.model.parameters(), max_norm)
        s.scaler.step(s.optimizer)
        s.scaler.update()
        s.scheduler.step()
        s.optimizer.zero_grad(set_to_none=True)
        return grad_norm

    def _log_and_check(self, grad_norm: Any, epoch: float) -> bool:
        """At logging steps: the (global) mean loss, a NaN check every rank agrees on, a
        ``StepLogged``; a device reading now and then. Returns whether to stop after this step."""
        s = self.s
        tc, step = s.config.train, s.state.step
        log_every = tc.logging_steps or (10 if s.device.startswith("cuda") else 1)
        if step % log_every and step != s.total_steps:
            # one process decides alone; under torchrun ranks decide together at the next logging step
            return not self.dist.enabled and self._stop_requested()
        requested = self._stop_requested()
        mean_loss, bad_ranks, stop_any = self._steps.reduce(requested)  # the sync point on CUDA
        if bad_ranks:
            where = f" on rank {', '.join(map(str, bad_ranks))}" if self.dist.enabled else ""
            raise TrainingAborted(
                f"the training loss became {mean_loss} at step {step}{where}; lower "
                f"{setting_ref('train.learning_rate')} (now {s.learning_rate:g}) or use "
                f"{setting_ref('train.precision', 'fp32')}. best/ is kept."
            )
        self.log.step_logged(s, self.clock, mean_loss, grad_norm, epoch)
        self.log.collect_baseline(s.state)
        return stop_any or (not self.dist.enabled and self._stop_requested())

    def _stop_requested(self) -> bool:
        """The stop event, or a STOP file in the run folder (rank 0 looks)."""
        return self.stop.is_set() or self.log.stop_file_exists()

    # .. evaluation and checkpoints ..................................................................
    def _evaluate_and_save(self, epoch: int, batch_in_epoch: int, n_batches: int) -> bool:
        """Evaluate on dev, save best/ and last/, emit; True when patience has run out."""
        s, tc, st = self.s, self.s.config.train, self.s.state
        with self.hooks.phase("evaluate"):
            metrics = evaluate(s, s.dev)
        value = metrics[tc.metric_for_best_model]
        improved = s.task.is_improvement(value, st.best_metric, tc.metric_for_best_model)
        if improved:
            st.best_metric, st.best, st.bad_evals = value, scalars(metrics), 0
        else:
            st.bad_evals += 1
        self.log.emit(
            Evaluated(
                step=st.step,
                epoch=round(epoch + batch_in_epoch / n_batches, 4),
                split="dev",
                metrics=scalars(metrics),
                confusion_matrix=metrics.get("confusion_matrix"),
                labels=s.data.label_names,
                is_best=improved,
                best_metric=st.best_metric,
            )
        )
        if improved:
            self._save("best")
        self._save_last(epoch, batch_in_epoch, n_batches)
        # out of patience with steps left to skip (at the last evaluation the run simply completes)
        return tc.patience > 0 and st.bad_evals >= tc.patience and st.step < s.total_steps

    def _save(self, which: str, state: dict[str, Any] | None = None) -> None:
        with self.hooks.phase("save"):
            path = saving.save(self.s, self.run_dir, which, state)
            if which == "last":
                distributed.barrier(self.dist)  # no rank runs ahead while rank 0 writes last/
        if path is not None:
            self.log.emit(CheckpointSaved(step=self.s.state.step, which=which, path=str(path)))

    def _save_last(self, epoch: int, batch_in_epoch: int, n_batches: int) -> None:
        """Save everything a resume needs; at an epoch's end the position is the next epoch's start."""
        s, st = self.s, self.s.state
        if batch_in_epoch >= n_batches:
            epoch, batch_in_epoch = epoch + 1, 0
        st.epoch, st.batch_in_epoch, st.total_steps = epoch, batch_in_epoch, s.total_steps
        st.train_time, st.samples_seen = self.clock.total, self.clock.samples
        st.metric_for_best_model = s.config.train.metric_for_best_model
        self._save("last", st.to_dict())

    # .. the end ....................................................................................
    def _final_evaluation(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Dev and test metrics of the best weights (test also emitted as an ``Evaluated``)."""
        s, st = self.s, self.s.state
        saving.load_best_weights(s, self.run_dir)
        with self.hooks.phase("evaluate"):
            dev = evaluate(s, s.dev)
            saving.calibrate(s, self.run_dir, dev)  # e.g. a multi-label threshold tuned on dev
            test = evaluate(s, s.test) if s.test is not None else None
        if test is not None:
            self.log.emit(
                Evaluated(
                    step=st.step,
                    epoch=st.step / s.steps_per_epoch,
                    split="test",
                    metrics=scalars(test),
                    confusion_matrix=test.get("confusion_matrix"),
                    labels=s.data.label_names,
                )
            )
        return dev, test

    def _finish(self, status: str, reason: str) -> RunResult:
        """Test the best weights, write report.json, emit ``RunFinished``."""
        s, st = self.s, self.s.state
        full_dev = full_test = test_metrics = None
        done = status not in ("stopped", "pruned")  # a stopped or pruned run is not tested
        if done and st.best is not None:
            full_dev, full_test = self._final_evaluation()
            test_metrics = scalars(full_test) if full_test is not None else None
        if done:
            self.log.collect_baseline(st, wait=True)
        rate = self.clock.samples / self.clock.total if self.clock.total else 0.0
        result = RunResult(
            str(self.run_dir),
            status,
            st.best,
            test_metrics,
            st.baseline,
            rate,
            st.step // s.steps_per_epoch,
            status == "early_stopped",
            st.step,
        )
        if self.dist.is_main and self.run_dir is not None:
            if status != "stopped":
                saving.mark_finished(self.run_dir, status)
            result.report = _report(s, self.clock, result, full_dev, full_test)
            write_report(self.run_dir, result.report)
        self.log.emit(result.finished(st.step / s.steps_per_epoch, reason))
        return result


def _stopped_in_setup(log: RunLog) -> RunResult:
    """The user stopped the run while a hook set it up: it ends with no folder and no step."""
    reason = "before the run began; nothing was saved"
    result = RunResult("", "stopped", None, None, None, 0.0, 0, False, 0, {"reason": reason})
    log.emit(result.finished(0.0, reason))
    return result


def _wait_while_paused(pause: threading.Event | None, stop: threading.Event, clock: TrainClock) -> None:
    """Wait while ``pause`` is set (``stop`` still ends the wait); paused time is not training time."""
    if pause is None or not pause.is_set():
        return
    clock.stop()
    while pause.is_set() and not stop.is_set():
        time.sleep(0.05)
    clock.start()


class _StepStats:
    """The training loss summed on the device between logging steps (no host sync per step)."""

    def __init__(self, s: RunSetup, dist: distributed.DistInfo) -> None:
        import torch

        self.dist, self.device = dist, s.device
        self.total = torch.zeros((), device=s.device)
        self.count = 0

    def add(self, loss: Any) -> None:
        self.total += loss
        self.count += 1

    def reduce(self, stop: bool) -> tuple[float, list[int], bool]:
        """(mean loss over every rank, ranks whose loss is not finite, any rank asked to stop)."""
        result = distributed.reduce_step_stats(self.dist, self.total, self.count, stop)
        self.total.zero_()
        self.count = 0
        return result


def _report(
    s: RunSetup, clock: TrainClock, result: RunResult, dev: dict[str, Any] | None, test: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "run_dir": result.run_dir,
        "status": result.status,
        "model": s.config.model.name,
        "task": s.task.name,
        "labels": s.data.label_names,
        "sources": s.data.sources,
        "steps": result.step,
        "epochs_completed": result.epochs_completed,
        "train_samples_per_second": result.train_samples_per_second,
        "train_seconds": clock.total,
        "device": s.device_info.name,
        "precision": s.device_info.precision,
        "world_size": s.dist.world_size,
        "best": result.best,
        "dev": dev,
        "test": test,
        "baseline": s.state.baseline,
        "config": s.config.to_dict(),
        **s.report,
    }


def _oom_message(exc: BaseException, config: LabConfig) -> str | None:
    """A one-sentence hint for a CUDA out-of-memory error, else ``None``."""
    name = type(exc).__name__
    if name == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        tc = config.train
        return (
            f"the GPU ran out of memory at batch size {tc.batch_size} and max length "
            f"{config.data.max_length}; lower {setting_ref('train.batch_size')} or "
            f"{setting_ref('data.max_length')} (or raise {setting_ref('train.gradient_accumulation_steps')} "
            f"to keep the effective batch)."
        )
    return None


def _baseline_job(s: RunSetup) -> tuple[str, tuple[Any, ...], bool]:
    """What fits the run's baseline: the function, its arguments, and whether on a thread beside
    the loop (a GPU trains, or too few rows to be worth a child process) rather than the child."""
    d = s.data
    args = baseline_args(d.train, d.dev, d.test, d.label_names, s.config.train.seed)
    return BASELINE_TARGET, args, s.device.startswith("cuda") or len(d.train) < BASELINE_PROCESS_ROWS
