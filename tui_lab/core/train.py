"""The training loop: fine-tune a model and emit what happens as events.

A plain PyTorch loop around a :class:`~tui_lab.core.setup.RunSetup` (data, task, model, optimiser,
schedule, state: :func:`~tui_lab.core.setup.prepare`). Batches come length-grouped from flat token
arrays and are padded per batch; AdamW (fused where torch has it), linear warmup and decay,
clipping and accumulation; bf16/fp16 autocast and TF32 only on CUDA. Evaluation every epoch or
every N steps picks ``best/`` and stops early after ``patience`` evaluations without improvement;
``last/`` holds everything needed to resume with the same data order and RNG, so a resumed run
ends where an uninterrupted one would. What differs between objectives lives in the task.

The loop knows nothing of screens: it takes a ``threading.Event`` to stop (checked every step,
or at logging steps under torchrun, where the decision is one collective) and one to pause, and
sends :mod:`tui_lab.core.events` to any number of sinks.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_lab.core import distributed, saving
from tui_lab.core.clock import TrainClock
from tui_lab.core.config import LabConfig
from tui_lab.core.errors import LabError, TrainingAborted
from tui_lab.core.evaluation import evaluate
from tui_lab.core.events import (
    BaselineReady,
    Broadcast,
    CheckpointSaved,
    Evaluated,
    Event,
    JsonlSink,
    Message,
    RunFailed,
    RunFinished,
    RunStarted,
    Sink,
    StepLogged,
)
from tui_lab.core.hooks import HookList, Hooks
from tui_lab.core.metrics import scalars
from tui_lab.core.runs import (
    CONFIG_FILE,
    EVENTS_FILE,
    STOP_FILE,
    create_run_dir,
    default_run_name,
    write_report,
)
from tui_lab.core.setup import RunSetup, prepare
from tui_lab.core.tensorboard_sink import make_tensorboard_sink

DEVICE_SAMPLE_SECONDS = 1.0


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
            "subset_accuracy",
            "precision_macro",
            "recall_macro",
            "loss",
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


class Trainer:
    """Trains one run. ``run()`` returns a :class:`RunResult` or raises.

    Args:
        config: the run's configuration (ignored when resuming: the run's own config is used).
        sinks: callables that receive every event (rank 0 only).
        stop: set it to stop at the next step; ``last/`` is saved and the run stays resumable.
        pause: while set, the loop waits (paused time is not training time; ``stop`` still works).
        resume: a run folder whose ``last/`` to continue from.
        hooks: :class:`~tui_lab.core.hooks.Hooks` called at set-up and around each phase.
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
        self.emit = Broadcast(sinks)
        self.stop = stop or threading.Event()
        self.pause = pause
        self.resume_dir = Path(resume).expanduser().resolve() if resume else None
        self.hooks = HookList(hooks)
        self.dist = distributed.from_env()
        self.run_dir: Path | None = None
        self.s: RunSetup | None = None
        self.clock = TrainClock()
        self._jsonl: JsonlSink | None = None
        self._tb: Any = None  # TensorBoardSink on rank 0 when tensorboard is installed and on
        self._baseline: _Background | None = None
        self._monitor: Any = None  # DeviceMonitor, made on rank 0 at the first logging step
        self._last_sample = 0.0

    # .. public ....................................................................................
    def run(self) -> RunResult:
        """Prepare, train, evaluate and report; every failure is also emitted as ``RunFailed``."""
        try:
            self.s = prepare(self.config, self.dist, self.resume_dir)
            self.config = self.s.config
            self.hooks.on_setup(self.s)
            self._open_run_dir()
            self._emit_started()
            status, reason = self._train()
            with self.hooks.phase("finish"):
                return self._finish(status, reason)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            oom = _oom_message(exc, self.config)
            message = str(exc) if isinstance(exc, LabError) else oom or f"{type(exc).__name__}: {exc}"
            self._fail(message, exc, user_error=isinstance(exc, LabError) or oom is not None)
            raise
        finally:
            if self._jsonl is not None:
                self._jsonl.close()
            if self._tb is not None:
                self._tb.close()
            distributed.shutdown(self.dist)
            self.s = None  # the model, optimiser and data go with the run, not with the trainer

    @property
    def step(self) -> int:
        """Optimiser steps taken so far."""
        return self.s.state.step if self.s else 0

    # .. events ....................................................................................
    def _emit(self, event: Event) -> None:
        if self.dist.is_main:
            self.emit(event)

    def _fail(self, message: str, exc: BaseException, user_error: bool) -> None:
        failed = RunFailed(
            message=message, error_type=type(exc).__name__, step=self.step, user_error=user_error
        )
        if self.dist.is_main:
            self.emit(failed)
        elif self.run_dir is not None:  # rank 0 writes the log; another rank's failure must reach it too
            sink = JsonlSink(self.run_dir / EVENTS_FILE)
            sink(RunFailed(f"rank {self.dist.rank}: {message}", failed.error_type, failed.step, user_error))
            sink.close()

    def _open_run_dir(self) -> None:
        """Create (or reuse, on resume) the run folder on rank 0 and tell every rank where it is."""
        s, run_dir = self.s, self.resume_dir
        if run_dir is None and self.dist.is_main:
            name = s.config.train.run_name or default_run_name(s.config.model.name)
            run_dir = create_run_dir(s.config.train.output_dir, name)
            s.config.train.run_name = name
            s.config.save(run_dir / CONFIG_FILE, run=_run_facts(s))
        shared = distributed.broadcast_object(self.dist, str(run_dir) if run_dir else None)
        self.run_dir = Path(shared) if shared else None
        if not all(distributed.gather_lists(self.dist, [self.run_dir is not None and self.run_dir.is_dir()])):
            raise LabError(  # every rank loads best/ from rank 0's folder: it must be shared
                f"the run folder {self.run_dir} is not visible on every node; put train.output_dir on a "
                f"file system that every node mounts at the same path."
            )
        if self.dist.is_main and self.run_dir is not None:
            self._jsonl = JsonlSink(self.run_dir / EVENTS_FILE)
            self.emit.add(self._jsonl)
            self._tb = make_tensorboard_sink(self.run_dir, s.config)
            if self._tb is not None:
                self.emit.add(self._tb)
            (self.run_dir / STOP_FILE).unlink(missing_ok=True)

    def _emit_started(self) -> None:
        s, cfg = self.s, self.s.config
        self._emit(
            RunStarted(
                run_dir=str(self.run_dir),
                run_name=cfg.train.run_name,
                model=cfg.model.name,
                labels=s.data.label_names,
                n_train=len(s.data.train),
                n_dev=len(s.data.dev),
                n_test=len(s.data.test) if s.data.test else 0,
                epochs=cfg.train.epochs,
                steps_per_epoch=s.steps_per_epoch,
                total_steps=s.total_steps,
                device=s.device_info.name,
                precision=s.device_info.precision,
                world_size=self.dist.world_size,
                start_step=s.state.step,
                pid=os.getpid(),
                config=cfg.to_dict(),
            )
        )
        for note in s.notes:
            self._emit(Message(level="info", text=note))
        for note in s.data.notes:
            self._emit(Message(level="warning", text=note))

    # .. the run .................................................................................
    def _train(self) -> tuple[str, str]:
        """Start the baseline beside training, restore the RNG on resume, run the loop."""
        s = self.s
        self.clock = TrainClock(s.device, s.state.train_time, s.state.samples_seen)
        if s.state.baseline is None and s.config.train.baseline and self.dist.is_main:
            self._baseline = _Background(_fit_baseline, s)
        if s.last_dir is not None:
            warning = saving.restore_rng(s)
            if warning:
                self._emit(Message(level="warning", text=warning))
            self._emit(Message(level="info", text=f"resumed from step {s.state.step} of {s.total_steps}"))
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
        if tc.eval_steps and s.state.step % tc.eval_steps == 0 and s.state.step < s.total_steps:
            self.clock.stop()
            if self._evaluate_and_save(epoch, b + 1, n):
                return "early_stopped", f"no improvement in {tc.patience} evaluations"
            self.clock.start()
        if stop_now:
            self.clock.stop()
            self._save_last(epoch, b + 1, n)
            return "stopped", "stopped by the user"
        self._wait_while_paused()
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
                f"the training loss became {mean_loss} at step {step}{where}; lower the learning "
                f"rate (train.learning_rate, now {s.learning_rate:g}) or use train.precision fp32. "
                f"best/ is kept."
            )
        self._log_step(mean_loss, grad_norm, epoch)
        self._sample_device()
        self._collect_baseline()
        return stop_any or (not self.dist.enabled and self._stop_requested())

    def _stop_requested(self) -> bool:
        """The stop event, or a STOP file in the run folder (rank 0 looks)."""
        return self.stop.is_set() or (
            self.dist.is_main and self.run_dir is not None and (self.run_dir / STOP_FILE).exists()
        )

    def _log_step(self, loss: float, grad_norm: Any, epoch: float) -> None:
        rate = self.clock.lap()
        s = self.s
        elapsed = self.clock.elapsed()
        per_step = elapsed / max(1, s.state.step)
        self._emit(
            StepLogged(
                step=s.state.step,
                total_steps=s.total_steps,
                epoch=round(epoch, 4),
                loss=loss,
                learning_rate=s.scheduler.get_last_lr()[0],
                grad_norm=float(grad_norm) if grad_norm is not None else None,
                samples_per_second=rate,
                elapsed=elapsed,
                eta_seconds=(s.total_steps - s.state.step) * per_step if per_step else None,
            )
        )

    def _sample_device(self) -> None:
        if not self.dist.is_main:
            return
        if self._monitor is None:
            from tui_lab.core.device import DeviceMonitor

            self._monitor = DeviceMonitor(self.s.device)
        now = time.perf_counter()
        if now - self._last_sample >= DEVICE_SAMPLE_SECONDS:
            self._emit(self._monitor.sample())
            self._last_sample = now

    def _collect_baseline(self, wait: bool = False) -> None:
        """Emit the baseline once its thread is done (``wait``: block until it is)."""
        job = self._baseline
        if job is None or not (wait or job.done()):
            return
        self._baseline = None
        result, error = job.result()
        if error is not None or result is None or "skipped" in result:
            reason = error or (result or {}).get("skipped", "no result")
            self.s.state.baseline = {"skipped": reason}
            self._emit(Message(level="warning", text=f"baseline skipped: {reason}"))
            return
        self.s.state.baseline = result
        self._emit(BaselineReady(dev=result["dev"], test=result["test"], seconds=result["seconds"]))

    def _wait_while_paused(self) -> None:
        if self.pause is None or not self.pause.is_set():
            return
        self.clock.stop()  # paused time is not training time
        while self.pause.is_set() and not self.stop.is_set():
            time.sleep(0.05)
        self.clock.start()

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
        self._emit(
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
        return tc.patience > 0 and st.bad_evals >= tc.patience

    def _save(self, which: str, state: dict[str, Any] | None = None) -> None:
        with self.hooks.phase("save"):
            path = saving.save(self.s, self.run_dir, which, state)
            if which == "last":
                distributed.barrier(self.dist)  # no rank runs ahead while rank 0 writes last/
        if path is not None:
            self._emit(CheckpointSaved(step=self.s.state.step, which=which, path=str(path)))

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
    def _finish(self, status: str, reason: str) -> RunResult:
        """Test the best weights, write report.json, emit ``RunFinished``."""
        s, st = self.s, self.s.state
        full_dev = full_test = test_metrics = None
        if status != "stopped" and st.best is not None:
            saving.load_best_weights(s, self.run_dir)
            with self.hooks.phase("evaluate"):
                full_dev = evaluate(s, s.dev)
                saving.calibrate(s, self.run_dir, full_dev)  # e.g. a multi-label threshold tuned on dev
                full_test = evaluate(s, s.test) if s.test is not None else None
            if full_test is not None:
                test_metrics = scalars(full_test)
                self._emit(
                    Evaluated(
                        step=st.step,
                        epoch=st.step / s.steps_per_epoch,
                        split="test",
                        metrics=test_metrics,
                        confusion_matrix=full_test.get("confusion_matrix"),
                        labels=s.data.label_names,
                    )
                )
        if status != "stopped":
            self._collect_baseline(wait=True)
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
        self._emit(
            RunFinished(
                status=status,
                step=st.step,
                epochs_completed=st.step / s.steps_per_epoch,
                best=st.best,
                test=test_metrics,
                train_samples_per_second=rate,
                stopped_early=status == "early_stopped",
                reason=reason,
            )
        )
        return result


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


class _Background:
    """A function run on a daemon thread (a stopped run does not wait for it)."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self._out: tuple[Any, str | None] = (None, None)
        self._thread = threading.Thread(target=self._run, args=(fn, *args), daemon=True, name="baseline")
        self._thread.start()

    def _run(self, fn: Any, *args: Any) -> None:
        try:
            self._out = (fn(*args), None)
        except Exception as exc:  # the baseline must never take the run down
            self._out = (None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> tuple[Any, str | None]:
        """(value, None) or (None, one-line error); waits for the thread."""
        self._thread.join()
        return self._out


def _fit_baseline(s: RunSetup) -> dict[str, Any]:
    from tui_lab.core.baseline import run_baseline

    d = s.data
    return run_baseline(d.train, d.dev, d.test, d.label_names, s.config.train.seed)


def _run_facts(s: RunSetup) -> dict[str, Any]:
    """What a run's config.toml records beside the settings."""
    import platform

    import torch
    import transformers

    from tui_lab import __version__

    return {
        "world_size": s.dist.world_size,
        "device": s.device_info.name,
        "precision": s.device_info.precision,
        "learning_rate": s.learning_rate,
        "tui_lab": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


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
    }


def _oom_message(exc: BaseException, config: LabConfig) -> str | None:
    """A one-sentence hint for a CUDA out-of-memory error, else ``None``."""
    name = type(exc).__name__
    if name == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        tc = config.train
        return (
            f"the GPU ran out of memory at batch size {tc.batch_size} and max length "
            f"{config.data.max_length}; lower train.batch_size or data.max_length (or raise "
            f"train.gradient_accumulation_steps to keep the effective batch)."
        )
    return None
