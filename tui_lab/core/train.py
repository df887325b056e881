"""The training loop: fine-tune a classifier and emit what happens as events.

A plain PyTorch loop, fast on the data path first: texts are tokenised once (batched, by the
Rust tokenizer), each batch is padded only to its own longest text, and batches are drawn from
groups of similar length. AdamW (fused where torch has it) with no weight decay on bias and
LayerNorm, linear warmup and decay, gradient clipping and accumulation; bf16/fp16 autocast and
TF32 only on CUDA. Evaluation every epoch or every N steps picks ``best/`` and stops early after
``patience`` evaluations without improvement; ``last/`` holds everything needed to resume with
the same data order and RNG, so a resumed run ends where an uninterrupted one would.

The loop knows nothing of screens: it takes a ``threading.Event`` to stop (checked every step)
and one to pause, and sends :mod:`tui_lab.core.events` to any number of sinks.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from tui_lab.core import checkpoint, distributed, modeling
from tui_lab.core.config import LabConfig
from tui_lab.core.data import DataBundle, load_data
from tui_lab.core.errors import CheckpointError, LabError, TrainingAborted
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
from tui_lab.core.metrics import classification_metrics, is_improvement, scalars
from tui_lab.core.runs import (
    CONFIG_FILE,
    EVENTS_FILE,
    STOP_FILE,
    create_run_dir,
    default_run_name,
    write_report,
)

DEVICE_SAMPLE_SECONDS = 1.0
MEGABATCH_FACTOR = 50  # length grouping sorts within windows of 50 batches, like HF's sampler


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
        pick = ("accuracy", "f1_macro", "precision_macro", "recall_macro", "loss")
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


class TrainClock:
    """Wall seconds and samples spent training: evaluation, checkpoints and pauses are left out.

    Time is counted in segments (``start`` .. ``stop``) that include everything in between
    (logging, device readings), so samples/s is what a user waits for. On CUDA a segment ends
    with a synchronize, so queued GPU work is not mistaken for speed.
    """

    def __init__(self, device: str = "cpu", total: float = 0.0, samples: int = 0, window: int = 20) -> None:
        self.cuda = device.startswith("cuda")
        self.total, self.samples = total, samples
        self._start: float | None = None
        self._lap_time = 0.0
        self._lap_samples = 0
        self._window: deque[tuple[float, int]] = deque(maxlen=window)

    def start(self) -> None:
        """Begin a training segment."""
        self._start = self._lap_time = time.perf_counter()
        self._lap_samples = 0

    def stop(self) -> None:
        """End the segment (before evaluation, a checkpoint, a pause or the end)."""
        if self._start is None:
            return
        self._sync()
        self.total += time.perf_counter() - self._start
        self._start = None

    def count(self, samples: int) -> None:
        """Samples trained on (all ranks)."""
        self.samples += samples
        self._lap_samples += samples

    def lap(self) -> float:
        """Samples/s over the last laps (call it where the host has waited for the device)."""
        now = time.perf_counter()
        if self._start is not None:
            self._window.append((now - self._lap_time, self._lap_samples))
            self._lap_time, self._lap_samples = now, 0
        seconds = sum(t for t, _ in self._window)
        return sum(n for _, n in self._window) / seconds if seconds > 0 else 0.0

    def elapsed(self) -> float:
        """Training seconds so far, the open segment included."""
        return self.total + (time.perf_counter() - self._start if self._start is not None else 0.0)

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()


# -- the data path ------------------------------------------------------------------------------
def encode(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids of every text, truncated to ``max_length``; one batched call, no padding."""
    return tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=False,
    )["input_ids"]


def length_grouped_batches(
    lengths: list[int], batch_size: int, seed: int, group: bool = True
) -> list[list[int]]:
    """Indices of each batch for one epoch, in a random order fixed by ``seed``.

    With ``group``, a random permutation is cut into windows of ``MEGABATCH_FACTOR`` batches and
    each window is sorted by length before it is cut into batches, so a batch holds texts of
    similar length (little padding) while the order of batches stays random.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(lengths), generator=gen).tolist()
    if not group:
        return [perm[i : i + batch_size] for i in range(0, len(perm), batch_size)]
    window = batch_size * MEGABATCH_FACTOR
    batches: list[list[int]] = []
    for start in range(0, len(perm), window):
        chunk = sorted(perm[start : start + window], key=lambda i: -lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    order = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in order]


def collate(ids: list[list[int]], labels: list[int] | None, pad_id: int, multiple: int = 1) -> dict[str, Any]:
    """Pad a batch to its longest sequence (rounded up to ``multiple``) as tensors, in a few ops."""
    import torch

    lengths = torch.tensor([len(x) for x in ids])
    width = -(-int(lengths.max()) // multiple) * multiple
    mask = torch.arange(width) < lengths[:, None]  # (B, T) bool
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)  # (B, T)
    input_ids[mask] = torch.tensor(list(chain.from_iterable(ids)), dtype=torch.long)
    batch = {"input_ids": input_ids, "attention_mask": mask.long()}
    if labels is not None:
        batch["labels"] = torch.tensor(labels, dtype=torch.long)
    return batch


def build_optimizer(model: Any, lr: float, weight_decay: float, device: str) -> Any:
    """AdamW with no decay on bias and LayerNorm weights; fused kernels where torch has them."""
    import torch

    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if not n.endswith(no_decay)], "weight_decay": weight_decay},
        {"params": [p for n, p in named if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device/dtype
        return torch.optim.AdamW(groups, lr=lr)


def linear_schedule(optimizer: Any, warmup_steps: int, total_steps: int) -> Any:
    """Linear warmup to the peak rate, then linear decay to zero (``get_linear_schedule_with_warmup``)."""
    from torch.optim.lr_scheduler import LambdaLR

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return LambdaLR(optimizer, factor)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# -- evaluation ----------------------------------------------------------------------------------
def predict_encoded(
    model: Any,
    ids: list[list[int]],
    pad_id: int,
    device: str,
    batch_size: int,
    autocast_dtype: Any = None,
    multiple: int = 1,
) -> list[list[float]]:
    """Class probabilities of every encoded text, under inference mode.

    Texts are visited in length order so each batch pads little; results come back in input order.
    """
    import torch

    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    probs: list[list[float]] = [[] for _ in ids]
    kind = device.split(":")[0]
    with (
        torch.inference_mode(),
        torch.autocast(kind, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None),
    ):
        for start in range(0, len(order), batch_size):
            part = order[start : start + batch_size]
            batch = collate([ids[i] for i in part], None, pad_id, multiple)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            logits = model(**batch).logits.float()  # (B, num_labels)
            for i, row in zip(part, torch.softmax(logits, dim=-1).cpu().tolist()):
                probs[i] = row
    model.train()
    return probs


# -- the trainer ---------------------------------------------------------------------------------
class Trainer:
    """Fine-tunes one run. ``run()`` returns a :class:`RunResult` or raises.

    Args:
        config: the run's configuration (ignored when resuming: the run's own config is used,
            with ``epochs`` and ``patience`` taken from ``config`` only if ``override_resume``).
        sinks: callables that receive every event (rank 0 only).
        stop: set it to stop at the next step; ``last/`` is saved and the run stays resumable.
        pause: while set, the loop waits (and still honours ``stop``).
        resume: a run folder whose ``last/`` to continue from.
    """

    def __init__(
        self,
        config: LabConfig,
        sinks: Iterable[Sink] = (),
        stop: threading.Event | None = None,
        pause: threading.Event | None = None,
        resume: str | Path | None = None,
    ) -> None:
        self.config = config.copy()
        self.emit = Broadcast(sinks)
        self.stop = stop or threading.Event()
        self.pause = pause
        self.resume_dir = Path(resume).expanduser().resolve() if resume else None
        self.dist = distributed.from_env()
        self.run_dir: Path | None = None
        self.step = 0
        self._jsonl: JsonlSink | None = None

    # .. public ....................................................................................
    def run(self) -> RunResult:
        """Prepare, train, evaluate and report; every failure is also emitted as ``RunFailed``."""
        try:
            return self._run()
        except LabError as exc:
            self._fail(str(exc), exc, user_error=True)
            raise
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            self._fail(
                _oom_message(exc, self.config) or f"{type(exc).__name__}: {exc}",
                exc,
                user_error=_oom_message(exc, self.config) is not None,
            )
            raise
        finally:
            if self._jsonl is not None:
                self._jsonl.close()
            distributed.shutdown(self.dist)

    def _fail(self, message: str, exc: BaseException, user_error: bool) -> None:
        self._emit(
            RunFailed(message=message, error_type=type(exc).__name__, step=self.step, user_error=user_error)
        )

    def _emit(self, event: Event) -> None:
        if self.dist.is_main:
            self.emit(event)

    # .. set-up ....................................................................................
    def _prepare(self) -> None:
        from tui_lab.core.device import configure_cuda_speed, pick_device, resolve_precision

        state: dict[str, Any] | None = None
        if self.resume_dir is not None:
            self.config, state = self._load_resume()
        cfg = self.config
        cfg.raise_if_invalid()
        self.device = pick_device(self.dist.local_rank)
        self.dev_info = resolve_precision(cfg.train.precision, self.device)
        configure_cuda_speed(self.device)
        distributed.init(self.dist, self.device)
        seed_everything(cfg.train.seed)
        self.data: DataBundle = load_data(cfg.data, cfg.train.seed)
        self.tokenizer, self.model = self._build_model()
        self.lr = cfg.train.learning_rate or modeling.default_learning_rate(cfg.model.name)
        cfg.train.learning_rate = self.lr
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.multiple = 8 if self.device.startswith("cuda") else 1
        self.train_ids = encode(self.tokenizer, self.data.train.texts, cfg.data.max_length)
        self.dev_ids = encode(self.tokenizer, self.data.dev.texts, cfg.data.max_length)
        self.test_ids = (
            encode(self.tokenizer, self.data.test.texts, cfg.data.max_length) if self.data.test else None
        )
        self.lengths = [len(x) for x in self.train_ids]
        self.model.to(self.device)
        self.state = state or {}
        self.run_dir = self._open_run_dir()

    def _load_resume(self) -> tuple[LabConfig, dict[str, Any]]:
        run_dir = self.resume_dir
        assert run_dir is not None
        if not run_dir.is_dir():
            raise CheckpointError(f"cannot resume: {run_dir} is not a run folder.")
        last = checkpoint.resolve(run_dir / "last")
        if last is None:
            raise CheckpointError(
                f"cannot resume: {run_dir} has no last/ checkpoint (it was stopped before the first save)."
            )
        config = LabConfig.load(run_dir / CONFIG_FILE)
        state = checkpoint.load_state(last)
        if state.get("finished"):
            raise CheckpointError(
                f"cannot resume: {run_dir.name} already finished "
                f"({state.get('status', 'completed')}); start a new run."
            )
        self._last_dir = last
        return config, state

    def _build_model(self) -> tuple[Any, Any]:
        cfg = self.config
        if self.resume_dir is not None:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            tok = AutoTokenizer.from_pretrained(self._last_dir)
            model = AutoModelForSequenceClassification.from_pretrained(self._last_dir, use_safetensors=True)
            if [model.config.id2label[i] for i in range(model.config.num_labels)] != self.data.label_names:
                raise CheckpointError("cannot resume: the data's labels differ from the checkpoint's.")
            return tok, model
        if modeling.is_preset(cfg.model.name) and self.dist.enabled:
            return self._build_preset_distributed()
        return modeling.build(
            cfg.model.name,
            self.data.train.texts,
            self.data.label_names,
            cfg.data.max_length,
            cfg.model.vocab_size,
            cfg.model.trust_remote_code,
        )

    def _build_preset_distributed(self) -> tuple[Any, Any]:
        """Rank 0 trains the tokenizer and sends it, so every rank has the same vocabulary."""
        from tokenizers import Tokenizer

        cfg = self.config
        max_length = max(512, cfg.data.max_length)
        spec = None
        if self.dist.is_main:
            tok = modeling.train_wordpiece(self.data.train.texts, cfg.model.vocab_size, max_length)
            spec = tok.backend_tokenizer.to_str()
        spec = distributed.broadcast_object(self.dist, spec)
        tok = modeling.wrap_wordpiece(Tokenizer.from_str(spec), max_length)
        return tok, modeling.build_preset(cfg.model.name, tok, self.data.label_names, cfg.data.max_length)

    def _run_facts(self) -> dict[str, Any]:
        """What a run's config.toml records beside the settings."""
        import platform

        import torch
        import transformers

        from tui_lab import __version__

        return {
            "world_size": self.dist.world_size,
            "device": self.dev_info.name,
            "precision": self.dev_info.precision,
            "learning_rate": self.lr,
            "tui_lab": __version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def _open_run_dir(self) -> Path | None:
        cfg = self.config
        run_dir: Path | None
        if self.resume_dir is not None:
            run_dir = self.resume_dir
        elif self.dist.is_main:
            name = cfg.train.run_name or default_run_name(cfg.model.name)
            run_dir = create_run_dir(cfg.train.output_dir, name)
            cfg.train.run_name = name
            cfg.save(run_dir / CONFIG_FILE, run=self._run_facts())
        else:
            run_dir = None
        run_dir = distributed.broadcast_object(self.dist, str(run_dir) if run_dir else None)
        run_dir = Path(run_dir) if run_dir else None
        if self.dist.is_main and run_dir is not None:
            self._jsonl = JsonlSink(run_dir / EVENTS_FILE)
            self.emit.add(self._jsonl)
            (run_dir / STOP_FILE).unlink(missing_ok=True)
        return run_dir

    # .. the run .................................................................................
    def _run(self) -> RunResult:
        import torch

        self._prepare()
        tc = self.config.train
        world = self.dist.world_size
        batches_per_epoch = len(self._epoch_batches(0))
        accum = tc.gradient_accumulation_steps
        self.steps_per_epoch = max(1, math.ceil(batches_per_epoch / accum))
        self.total_steps = self.steps_per_epoch * tc.epochs
        self.optimizer = build_optimizer(self.model, self.lr, tc.weight_decay, self.device)
        self.scheduler = linear_schedule(
            self.optimizer, int(tc.warmup_ratio * self.total_steps), self.total_steps
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dev_info.precision == "fp16")
        st = self.state
        if st:
            self.optimizer.load_state_dict(
                checkpoint.load_tensor_file(self._last_dir / checkpoint.OPTIMIZER_FILE)
            )
            self.scheduler.load_state_dict(
                checkpoint.load_tensor_file(self._last_dir / checkpoint.SCHEDULER_FILE)
            )
            if (self._last_dir / checkpoint.SCALER_FILE).exists():
                self.scaler.load_state_dict(
                    checkpoint.load_tensor_file(self._last_dir / checkpoint.SCALER_FILE)
                )
        self.step = st.get("step", 0)
        self.best_metric: float | None = st.get("best_metric")
        self.best: dict[str, float] | None = st.get("best")
        self.bad_evals = st.get("bad_evals", 0)
        self.clock = TrainClock(self.device, st.get("train_time", 0.0), st.get("samples_seen", 0))
        self.baseline = st.get("baseline")
        self.ddp = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.ddp = DDP(self.model, device_ids=[self.device] if self.device.startswith("cuda") else None)
        self._emit_started(world)
        if self.baseline is None and tc.baseline and self.dist.is_main:
            self._run_baseline()
        if st:
            self._restore_rng()
            self._emit(Message(level="info", text=f"resumed from step {self.step} of {self.total_steps}"))
        status, reason = self._train_loop(st.get("epoch", 0), st.get("batch_in_epoch", 0))
        return self._finish(status, reason)

    def _restore_rng(self) -> None:
        """Each rank continues its own random stream (dropout) from where the checkpoint left it."""
        ranks = checkpoint.load_tensor_file(self._last_dir / checkpoint.RNG_FILE)["ranks"]
        if len(ranks) != self.dist.world_size:
            self._emit(
                Message(
                    level="warning",
                    text=f"resumed with {self.dist.world_size} process(es) "
                    f"where the run had {len(ranks)}: the data order and "
                    f"dropout differ from an uninterrupted run",
                )
            )
        checkpoint.set_rng_state(ranks[min(self.dist.rank, len(ranks) - 1)])

    def _emit_started(self, world: int) -> None:
        cfg = self.config
        self._emit(
            RunStarted(
                run_dir=str(self.run_dir),
                run_name=cfg.train.run_name,
                model=cfg.model.name,
                labels=self.data.label_names,
                n_train=len(self.data.train),
                n_dev=len(self.data.dev),
                n_test=len(self.data.test) if self.data.test else 0,
                epochs=cfg.train.epochs,
                steps_per_epoch=self.steps_per_epoch,
                total_steps=self.total_steps,
                device=f"{self.dev_info.name}",
                precision=self.dev_info.precision,
                world_size=world,
                start_step=self.step,
                pid=os.getpid(),
                config=cfg.to_dict(),
            )
        )
        for note in self.data.notes:
            self._emit(Message(level="warning", text=note))

    def _run_baseline(self) -> None:
        from tui_lab.core.baseline import run_baseline

        d = self.data
        self.baseline = run_baseline(d.train, d.dev, d.test, d.label_names, self.config.train.seed)
        self._emit(
            BaselineReady(
                dev=self.baseline["dev"], test=self.baseline["test"], seconds=self.baseline["seconds"]
            )
        )

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches for one epoch: the same global order on every rank, dealt out."""
        tc = self.config.train
        batches = length_grouped_batches(self.lengths, tc.batch_size, tc.seed + epoch, tc.group_by_length)
        world = self.dist.world_size
        if world > 1:
            usable = (len(batches) // world) * world or world
            batches = (batches * world)[:usable]  # every rank gets the same number of batches
            batches = batches[self.dist.rank :: world]
        return batches

    def _train_loop(self, start_epoch: int, skip_batches: int) -> tuple[str, str]:
        """Run epochs from ``start_epoch``; returns (status, reason)."""
        import torch

        from tui_lab.core.device import DeviceMonitor

        tc = self.config.train
        accum = tc.gradient_accumulation_steps
        log_every = tc.logging_steps or (10 if self.device.startswith("cuda") else 1)
        monitor = DeviceMonitor(self.device) if self.dist.is_main else None
        last_sample = 0.0
        self.model.train()
        loss_acc = torch.zeros((), device=self.device)  # summed on the device: no sync per step
        n_loss = 0
        for epoch in range(start_epoch, tc.epochs):
            batches = self._epoch_batches(epoch)
            self.clock.start()
            for b in range(skip_batches if epoch == start_epoch else 0, len(batches)):
                boundary = (b + 1) % accum == 0 or b + 1 == len(batches)
                loss_acc += self._forward_backward(
                    batches[b], self._micro_in_step(b, len(batches), accum), sync_grads=boundary
                )
                n_loss += 1
                self.clock.count(len(batches[b]) * self.dist.world_size)
                if not boundary:
                    continue
                grad_norm = self._optimizer_step(tc.max_grad_norm)
                self.step += 1
                self.batch_in_epoch = b + 1
                if self.step % log_every == 0 or self.step == self.total_steps:
                    mean_loss = loss_acc.item() / n_loss  # the sync point on CUDA
                    loss_acc.zero_()
                    n_loss = 0
                    if not math.isfinite(mean_loss):
                        raise TrainingAborted(
                            f"the training loss became {mean_loss} at step {self.step}; lower the "
                            f"learning rate (now {self.lr:g}) or use --precision fp32. best/ is kept."
                        )
                    self._log_step(mean_loss, grad_norm, epoch + (b + 1) / len(batches))
                now = time.perf_counter()
                if monitor is not None and now - last_sample >= DEVICE_SAMPLE_SECONDS:
                    self._emit(monitor.sample())
                    last_sample = now
                stop_now = self._should_stop()
                if tc.eval_steps and self.step % tc.eval_steps == 0 and self.step < self.total_steps:
                    self.clock.stop()
                    if self._evaluate_and_save(epoch, b + 1, len(batches)):
                        return "early_stopped", f"no improvement in {tc.patience} evaluations"
                    self.clock.start()
                if stop_now:
                    self.clock.stop()
                    self._save_last(epoch, b + 1, len(batches))
                    return "stopped", "stopped by the user"
                self._wait_while_paused()
            self.clock.stop()
            self.batch_in_epoch = len(batches)
            if not tc.eval_steps or self.step == self.total_steps:
                if self._evaluate_and_save(epoch, len(batches), len(batches)):
                    return "early_stopped", f"no improvement in {tc.patience} evaluations"
            else:
                self._save_last(epoch, len(batches), len(batches))
        return "completed", ""

    def _forward_backward(self, idx: list[int], micro_batches: int, sync_grads: bool) -> Any:
        """Loss of one micro-batch, with its gradient added to the parameters' (returns the loss)."""
        import torch
        import torch.nn.functional as F

        batch = collate(
            [self.train_ids[i] for i in idx],
            [self.data.train.labels[i] for i in idx],
            self.pad_id,
            self.multiple,
        )
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        dtype = self.dev_info.autocast_dtype
        # DDP all-reduces gradients only on the micro-batch that completes an optimiser step
        ctx = self.ddp.no_sync() if self.dist.enabled and not sync_grads else nullcontext()
        with ctx:
            with torch.autocast(
                self.device.split(":")[0], dtype=dtype or torch.float32, enabled=dtype is not None
            ):
                logits = self.ddp(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                loss = F.cross_entropy(logits.float(), batch["labels"])  # (B, num_labels) -> scalar
            # dividing by the micro-batches in this step keeps the gradient an average
            scaled = loss / micro_batches if micro_batches > 1 else loss
            self.scaler.scale(scaled).backward()
        return loss.detach()

    def _micro_in_step(self, b: int, n_batches: int, accum: int) -> int:
        """Micro-batches in the optimiser step that batch ``b`` belongs to (the last may be short)."""
        start = (b // accum) * accum
        return min(accum, n_batches - start)

    def _optimizer_step(self, max_norm: float) -> float | None:
        import torch

        grad_norm = None
        if max_norm > 0:
            self.scaler.unscale_(self.optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm

    def _log_step(self, loss: float, grad_norm: Any, epoch: float) -> None:
        rate = self.clock.lap()
        if not self.dist.is_main:
            return
        elapsed = self.clock.elapsed()
        per_step = elapsed / max(1, self.step)
        remaining = self.total_steps - self.step
        self._emit(
            StepLogged(
                step=self.step,
                total_steps=self.total_steps,
                epoch=round(epoch, 4),
                loss=loss,
                learning_rate=self.scheduler.get_last_lr()[0],
                grad_norm=float(grad_norm) if grad_norm is not None else None,
                samples_per_second=rate,
                elapsed=elapsed,
                eta_seconds=remaining * per_step if per_step else None,
            )
        )

    def _should_stop(self) -> bool:
        requested = self.stop.is_set()
        if not requested and self.run_dir is not None and self.dist.is_main:
            requested = (self.run_dir / STOP_FILE).exists()
        return distributed.any_flag(self.dist, requested, self.device)

    def _wait_while_paused(self) -> None:
        while self.pause is not None and self.pause.is_set() and not self.stop.is_set():
            time.sleep(0.05)

    # .. evaluation and checkpoints ..................................................................
    def _evaluate(self, split: str, ids: list[list[int]], labels: list[int]) -> dict[str, Any]:
        """Metrics of the current weights on one split, computed across all ranks."""
        shard = list(range(self.dist.rank, len(ids), self.dist.world_size))
        probs = predict_encoded(
            self.model,
            [ids[i] for i in shard],
            self.pad_id,
            self.device,
            self.config.train.batch_size * 2,
            self.dev_info.autocast_dtype,
            self.multiple,
        )
        rows = sorted(distributed.gather_lists(self.dist, list(zip(shard, probs))))
        y_pred = [max(range(len(p)), key=p.__getitem__) for _, p in rows]
        # mean cross-entropy of the true class
        loss = sum(-math.log(max(p[labels[i]], 1e-12)) for i, p in rows) / max(len(rows), 1)
        return classification_metrics(labels, y_pred, self.data.label_names, loss)

    def _evaluate_and_save(self, epoch: int, batch_in_epoch: int, n_batches: int) -> bool:
        """Evaluate on dev, save best/ and last/, emit; True when patience has run out."""
        tc = self.config.train
        metrics = self._evaluate("dev", self.dev_ids, self.data.dev.labels)
        value = metrics[tc.metric_for_best_model]
        improved = is_improvement(value, self.best_metric, tc.metric_for_best_model)
        if improved:
            self.best_metric, self.best, self.bad_evals = value, scalars(metrics), 0
        else:
            self.bad_evals += 1
        self._emit(
            Evaluated(
                step=self.step,
                epoch=round(epoch + batch_in_epoch / n_batches, 4),
                split="dev",
                metrics=scalars(metrics),
                confusion_matrix=metrics["confusion_matrix"],
                labels=self.data.label_names,
                is_best=improved,
                best_metric=self.best_metric,
            )
        )
        if improved:
            self._save("best")
        self._save_last(epoch, batch_in_epoch, n_batches)
        return tc.patience > 0 and self.bad_evals >= tc.patience

    def _save(self, which: str, state: dict[str, Any] | None = None) -> None:
        """Write ``best/`` or ``last/`` (rank 0; for ``last/`` every rank must call it)."""
        # every rank's RNG (dropout masks differ per rank), gathered before rank 0 writes
        rngs = distributed.gather_lists(self.dist, [checkpoint.rng_state()]) if which == "last" else None
        if not self.dist.is_main or self.run_dir is None:
            return
        extra: dict[str, Any] = {}
        if which == "last":
            extra = dict(
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                rng={"ranks": rngs},
                scaler=self.scaler if self.scaler.is_enabled() else None,
            )
        path = checkpoint.save_checkpoint(
            self.run_dir / which, self.model, self.tokenizer, state=state, **extra
        )
        self._emit(CheckpointSaved(step=self.step, which=which, path=str(path)))

    def _save_last(self, epoch: int, batch_in_epoch: int, n_batches: int, finished: str = "") -> None:
        """Save everything a resume needs; at an epoch's end the position is the next epoch's start."""
        if batch_in_epoch >= n_batches:
            epoch, batch_in_epoch = epoch + 1, 0
        state = {
            "step": self.step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "total_steps": self.total_steps,
            "best_metric": self.best_metric,
            "best": self.best,
            "bad_evals": self.bad_evals,
            "train_time": self.clock.total,
            "samples_seen": self.clock.samples,
            "baseline": self.baseline,
            "metric_for_best_model": self.config.train.metric_for_best_model,
            "finished": bool(finished),
            "status": finished or "running",
        }
        self._save("last", state)
        distributed.barrier(self.dist)

    # .. the end ....................................................................................
    def _finish(self, status: str, reason: str) -> RunResult:
        """Test the best weights, write report.json, emit ``RunFinished``."""
        test_metrics = full_test = full_dev = None
        if status != "stopped" and self.best is not None:
            self._load_best_weights()
            full_dev = self._evaluate("dev", self.dev_ids, self.data.dev.labels)
            if self.data.test is not None:
                full_test = self._evaluate("test", self.test_ids, self.data.test.labels)
                test_metrics = scalars(full_test)
                self._emit(
                    Evaluated(
                        step=self.step,
                        epoch=self.step / self.steps_per_epoch,
                        split="test",
                        metrics=test_metrics,
                        confusion_matrix=full_test["confusion_matrix"],
                        labels=self.data.label_names,
                    )
                )
        if status != "stopped" and self.dist.is_main and self.run_dir is not None:
            self._mark_finished(status)
        rate = self.clock.samples / self.clock.total if self.clock.total else 0.0
        epochs_done = self.step // self.steps_per_epoch
        result = RunResult(
            str(self.run_dir),
            status,
            self.best,
            test_metrics,
            self.baseline,
            rate,
            epochs_done,
            status == "early_stopped",
            self.step,
        )
        if self.dist.is_main and self.run_dir is not None:
            result.report = self._report(result, full_dev, full_test)
            write_report(self.run_dir, result.report)
        self._emit(
            RunFinished(
                status=status,
                step=self.step,
                epochs_completed=self.step / self.steps_per_epoch,
                best=self.best,
                test=test_metrics,
                train_samples_per_second=rate,
                stopped_early=status == "early_stopped",
                reason=reason,
            )
        )
        return result

    def _mark_finished(self, status: str) -> None:
        """Record in last/trainer_state.json that the run ended, so it is not resumed by mistake."""
        import json

        last = checkpoint.resolve(self.run_dir / "last") if self.run_dir else None
        if last is None:
            return
        path = last / checkpoint.STATE_FILE
        state = json.loads(path.read_text(encoding="utf-8"))
        state.update(finished=True, status=status)
        tmp = path.with_name(".trainer_state.tmp")
        tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
        tmp.replace(path)

    def _load_best_weights(self) -> None:
        from safetensors.torch import load_file

        best = checkpoint.resolve(self.run_dir / "best") if self.run_dir else None
        best = distributed.broadcast_object(self.dist, str(best) if best else None)
        if best:
            state = load_file(str(Path(best) / "model.safetensors"), device=self.device)
            self.model.load_state_dict(state, strict=False)

    def _report(
        self, result: RunResult, dev_full: dict[str, Any] | None, test_full: dict[str, Any] | None
    ) -> dict[str, Any]:
        return {
            "run_dir": result.run_dir,
            "status": result.status,
            "model": self.config.model.name,
            "labels": self.data.label_names,
            "sources": self.data.sources,
            "steps": result.step,
            "epochs_completed": result.epochs_completed,
            "train_samples_per_second": result.train_samples_per_second,
            "train_seconds": self.clock.total,
            "device": self.dev_info.name,
            "precision": self.dev_info.precision,
            "world_size": self.dist.world_size,
            "best": result.best,
            "dev": dev_full,
            "test": test_full,
            "baseline": self.baseline,
            "config": self.config.to_dict(),
        }


def _oom_message(exc: BaseException, config: LabConfig) -> str | None:
    """A one-sentence hint for a CUDA out-of-memory error, else ``None``."""
    name = type(exc).__name__
    if name == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        tc = config.train
        return (
            f"the GPU ran out of memory at batch size {tc.batch_size} and max length "
            f"{config.data.max_length}; lower --batch-size or --max-length (or raise "
            f"gradient_accumulation_steps to keep the effective batch)."
        )
    return None


def train(
    config: LabConfig,
    sinks: Iterable[Sink] = (),
    stop: threading.Event | None = None,
    resume: str | Path | None = None,
) -> RunResult:
    """Run one training with the given sinks (a convenience around :class:`Trainer`)."""
    return Trainer(config, sinks, stop=stop, resume=resume).run()
