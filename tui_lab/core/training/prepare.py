"""Setting up a run: data, task, tokenizer, model, token ids, optimiser, schedule and state.

:func:`prepare` returns one :class:`RunSetup` that the loop, evaluation and checkpoints read; it
writes nothing, so a run that fails here leaves no folder behind. A resume reads the run's own
``config.toml`` and ``last/`` and rebuilds the same setup, so the loop goes on where it stopped.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tui_lab.core.config import LabConfig
from tui_lab.core.data.batching import TokenArrays, length_grouped_batches
from tui_lab.core.data.splits import DataBundle, load_data
from tui_lab.core.data.streaming import StreamedTokens, streamable
from tui_lab.core.data.token_cache import TokenCache, tokenizer_key
from tui_lab.core.errors import CheckpointError, ConfigError
from tui_lab.core.models import adapters, checkpoint, presets
from tui_lab.core.models.decoders import prepare_for_training
from tui_lab.core.models.loading import load_for_training
from tui_lab.core.tasks import TASKS, Task, detect_task, task_for, task_for_labels
from tui_lab.core.training import distributed, fsdp
from tui_lab.core.training.device import configure_cuda_speed, resolve_precision, select_device
from tui_lab.core.training.optim import build_optimizer, build_scheduler
from tui_lab.core.training.runs import CONFIG_FILE


@dataclass
class TrainState:
    """Where a run is; saved as ``last/trainer_state.json`` (the keys are that file's)."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    total_steps: int = 0
    best_metric: float | None = None
    best: dict[str, float] | None = None
    bad_evals: int = 0
    train_time: float = 0.0
    samples_seen: int = 0
    baseline: dict[str, Any] | None = None
    metric_for_best_model: str = ""
    finished: bool = False
    status: str = "running"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainState:
        """From a saved ``trainer_state.json`` (unknown keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass
class EncodedSplit:
    """One split ready for the loop: token ids and the task's targets, row for row."""

    tokens: TokenArrays | StreamedTokens
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass
class RunSetup:
    """Everything a run computes with; built by :func:`prepare`."""

    config: LabConfig
    dist: distributed.DistInfo
    device: str  # "cuda:0", "cpu"
    device_info: Any  # tui_lab.core.training.device.DeviceInfo: name, precision, autocast dtype
    task: Task
    data: DataBundle
    tokenizer: Any
    model: Any  # the bare model (what is saved)
    learning_rate: float
    pad_id: int
    multiple: int  # pad widths to a multiple of this (8 on CUDA, for tensor cores)
    train: EncodedSplit
    dev: EncodedSplit
    test: EncodedSplit | None
    state: TrainState
    last_dir: Path | None = None  # the last/ a resume continues from
    steps_per_epoch: int = 1
    total_steps: int = 1
    optimizer: Any = None
    scheduler: Any = None
    scaler: Any = None
    ddp: Any = None  # the model as the loop calls it (DistributedDataParallel under torchrun)
    notes: list[str] = field(default_factory=list)  # info lines for the start of the run
    events: list[Any] = field(default_factory=list)  # events a hook adds for the start of the run
    report: dict[str, Any] = field(default_factory=dict)  # what a hook adds to report.json
    say: Callable[[str], None] | None = None  # an info line for the user now, before the run starts
    stop: Any = None  # the run's stop (a threading.Event): long set-up work checks it

    def epoch_batches(self, epoch: int) -> Sequence[np.ndarray]:
        """This rank's batches of one epoch: the same global order on every rank, dealt out."""
        tc = self.config.train
        tokens = self.train.tokens
        plan = (tc.batch_size, tc.seed + epoch, tc.group_by_length)
        if isinstance(tokens, StreamedTokens) and tokens.plan == plan and not self.dist.enabled:
            return tokens.epoch0_batches()  # the same batches, each waiting only for its own window
        batches = length_grouped_batches(tokens.lengths, *plan)
        world = self.dist.world_size
        if world > 1:
            usable = (len(batches) // world) * world or world
            batches = (batches * world)[:usable]  # every rank gets the same number of batches
            batches = batches[self.dist.rank :: world]
        return batches


def task_name(config: LabConfig) -> str:
    """The task a config asks for (``model.task``); empty = decided by the data."""
    return config.model.task


def resolve_task(config: LabConfig, data: DataBundle) -> tuple[Task, list[str]]:
    """The run's task, with ``model.task`` and ``train.metric_for_best_model`` filled in on ``config``.

    Returns:
        (task, info notes: the task the data decided, if it did)

    Raises:
        ConfigError: the metric that picks best/ is not one this task reports.
    """
    notes: list[str] = []
    name = task_name(config)
    if not name:
        name = task_for_labels(data.multilabel)
        if data.multilabel:
            notes.append(f"task: {name} (labels are lists)")
    config.model.task = name
    task = task_for(name, data.label_names, config)
    metric = config.train.metric_for_best_model or task.default_metric
    if metric not in task.metric_names:
        raise ConfigError(
            f"train.metric_for_best_model {metric} is not a metric of the {name} task; use one of "
            f"{', '.join(task.metric_names)}.",
            {"train.metric_for_best_model": f"must be one of {', '.join(task.metric_names)}"},
        )
    config.train.metric_for_best_model = metric
    return task, notes


def prepare(config: LabConfig, dist: distributed.DistInfo, resume: Path | None = None) -> RunSetup:
    """Build a run's setup (or a resumed run's, from its folder).

    Raises:
        LabError: an invalid config, unusable data or model, or a run that cannot be resumed.
    """
    state, last_dir = TrainState(), None
    if resume is not None:
        config, state, last_dir = load_resume(resume)
    config = config.copy()
    config.raise_if_invalid()
    fsdp.check(config.train.fsdp, dist)
    # the device first: a CUDA call before set_device would open a context on GPU 0 on every rank
    device = select_device(config.train.device, dist.local_rank, dist.world_size)
    distributed.check_local_world(device)
    device_info = resolve_precision(config.train.precision, device)
    configure_cuda_speed(device)
    distributed.init(dist, device)
    seed_everything(config.train.seed)
    wanted, why = task_name(config), ""
    if not wanted:  # the data may say (a CoNLL file: ner)
        wanted, why = detect_task(config.data)
        config.model.task = wanted
    if wanted:
        data = TASKS[wanted].load_data(config.data, config.train.seed)
    else:
        data = load_data(config.data, config.train.seed, None)
    task, notes = resolve_task(config, data)
    notes[:0] = [f"task: {wanted} ({why})"] if why else []
    adapters.check_request(config, config.model.task)
    tokenizer, model = _build_model(config, task, data, last_dir)
    notes += prepare_for_training(model, config.train.gradient_checkpointing)

    lr = config.train.learning_rate = _learning_rate(config)
    enc = _encoder(config, task, tokenizer)
    tc = config.train
    stream = (
        (tc.batch_size, tc.seed, tc.group_by_length) if streamable(len(data.train), dist.world_size) else None
    )
    setup = RunSetup(
        config=config,
        dist=dist,
        device=device,
        device_info=device_info,
        task=task,
        data=data,
        tokenizer=tokenizer,
        model=model.to(device),
        learning_rate=lr,
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        multiple=8 if device.startswith("cuda") else 1,
        train=enc(data.train, stream),  # on a thread while the first batches train, if large
        dev=enc(data.dev),
        test=enc(data.test) if data.test is not None else None,
        state=state,
        last_dir=last_dir,
        notes=notes,
    )
    build_optimisation(setup)
    return setup


def _learning_rate(config: LabConfig) -> float:
    """The set learning rate, else the model's default (higher under LoRA)."""
    default = presets.default_learning_rate(config.model.name)
    return config.train.learning_rate or adapters.default_learning_rate(config, default)


def _encoder(config: LabConfig, task: Task, tokenizer: Any) -> Any:
    """A function from a split (and epoch 0's plan, when it may stream) to its
    :class:`EncodedSplit`, through the token cache unless ``data.token_cache_mb`` is 0 (the
    tokenizer is hashed once for every split)."""
    max_length = config.data.max_length
    cache = TokenCache.from_megabytes(config.data.token_cache_mb)
    digest = tokenizer_key(tokenizer) if cache is not None else ""
    return lambda split, stream=None: EncodedSplit(
        *task.encode_cached(tokenizer, split.texts, split.labels, max_length, cache, digest, stream)
    )


def load_resume(run_dir: Path) -> tuple[LabConfig, TrainState, Path]:
    """The config, state and ``last/`` folder of a run to resume.

    Raises:
        CheckpointError: not a run folder, nothing saved yet, or the run already finished.
    """
    if not run_dir.is_dir():
        raise CheckpointError(f"cannot resume: {run_dir} is not a run folder.")
    last = checkpoint.resolve(run_dir / "last")
    if last is None:
        raise CheckpointError(
            f"cannot resume: {run_dir} has no last/ checkpoint (it was stopped before the first save)."
        )
    config = LabConfig.load(run_dir / CONFIG_FILE)
    state = TrainState.from_dict(checkpoint.load_state(last))
    if state.finished:
        raise CheckpointError(
            f"cannot resume: {run_dir.name} already finished ({state.status or 'completed'}); start a new run."
        )
    return config, state, last


def _build_model(config: LabConfig, task: Task, data: DataBundle, last_dir: Path | None) -> tuple[Any, Any]:
    if last_dir is not None:
        return _load_checkpoint(last_dir, data, adapters.quantization_for(config))
    # every rank builds the same tokenizer: the preset vocabulary learner is deterministic across
    # processes, so no rank waits in a collective while another learns it
    tokenizer, model = task.build_model(config, data.train.texts)
    return tokenizer, adapters.wrap(config, model) if adapters.wanted(config) else model


def _load_checkpoint(last_dir: Path, data: DataBundle, quantization: Any = None) -> tuple[Any, Any]:
    """Tokenizer and model of ``last/``, in fp32 whatever dtype they were saved in (a LoRA
    run's: its base with the adapter, trainable)."""

    tok, model = (
        load_for_training(last_dir)
        if not adapters.is_adapter_dir(last_dir)
        else _load_lora(last_dir, quantization)
    )
    if [model.config.id2label[i] for i in range(model.config.num_labels)] != data.label_names:
        raise CheckpointError("cannot resume: the data's labels differ from the checkpoint's.")
    return tok, model


def _load_lora(last_dir: Path, quantization: Any) -> tuple[Any, Any]:
    from transformers import AutoConfig

    from tui_lab.core.models.heads import auto_class, head_of
    from tui_lab.core.models.loading import load_tokenizer

    config = AutoConfig.from_pretrained(last_dir)
    model = adapters.load_trainable(last_dir, auto_class(head_of(config)), config, quantization)
    return load_tokenizer(str(last_dir)), model


def build_optimisation(s: RunSetup) -> None:
    """Steps, optimiser, schedule, loss scaler and the DDP wrapper; state restored on resume.

    A hook that changes the model or the training rows calls it again.
    """
    import torch

    tc = s.config.train
    batches_per_epoch = len(s.epoch_batches(0))
    s.steps_per_epoch = max(1, math.ceil(batches_per_epoch / tc.gradient_accumulation_steps))
    s.total_steps = s.steps_per_epoch * tc.epochs
    if tc.max_steps:
        s.total_steps = min(s.total_steps, tc.max_steps)
    sharded = fsdp.is_sharded(s)
    if sharded and s.ddp is None:  # the optimiser is built on the shards (a hook's rebuild keeps them)
        fsdp.shard(s.model)
    s.optimizer = build_optimizer(s.model, s.learning_rate, tc.weight_decay)
    s.scheduler = build_scheduler(s.optimizer, int(tc.warmup_ratio * s.total_steps), s.total_steps)
    s.scaler = torch.amp.GradScaler("cuda", enabled=s.device_info.precision == "fp16")
    if s.last_dir is not None:
        _restore_optimisation(s, s.last_dir)
    s.ddp = fsdp.ShardedModel(s.model) if sharded else s.model
    if s.dist.enabled and not sharded:
        from torch.nn.parallel import DistributedDataParallel as DDP

        s.ddp = DDP(
            s.model,
            device_ids=[s.device] if s.device.startswith("cuda") else None,
            broadcast_buffers=False,  # BERT's buffers (position ids) never change
            find_unused_parameters=s.config.train.find_unused_parameters,
        )


def _restore_optimisation(s: RunSetup, last: Path) -> None:
    if fsdp.is_sharded(s):
        fsdp.load_optimizer(s, last)
    else:
        s.optimizer.load_state_dict(checkpoint.load_tensor_file(last / checkpoint.OPTIMIZER_FILE))
    s.scheduler.load_state_dict(checkpoint.load_tensor_file(last / checkpoint.SCHEDULER_FILE))
    if (last / checkpoint.SCALER_FILE).exists():
        s.scaler.load_state_dict(checkpoint.load_tensor_file(last / checkpoint.SCALER_FILE))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
