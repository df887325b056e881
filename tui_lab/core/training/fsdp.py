"""FSDP2 (``torch.distributed.fsdp.fully_shard``) for full fine-tuning beyond one GPU.

Under ``torchrun`` with ``train.fsdp`` each transformer layer is sharded on its own, then the
root, so every process holds 1/N of the weights, gradients and AdamW states and one layer's
weights are gathered at a time (the memory plan's "FSDP share"). Checkpoints go through
``torch.distributed.checkpoint``: ``last/`` keeps the optimiser's shards as written by every
rank (``optimizer.dcp/``) beside the full model gathered on rank 0, so ``best/`` and ``last/``
stay ordinary model folders that ``transformers.pipeline`` loads.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tui_lab.core.errors import ConfigError, setting_ref
from tui_lab.core.training import distributed

OPTIMIZER_DIR = "optimizer.dcp"  # in last/: the optimiser's shards, one file per rank
STAGING = ".optimizer-dcp-staging"  # in the run folder, while the ranks write them


def transformer_layers(model: Any) -> list[Any]:
    """The model's transformer layers: the members of its longest ``nn.ModuleList`` of blocks."""
    import torch

    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) > 0]
    best = max(lists, key=lambda m: (len(m), sum(p.numel() for p in m.parameters())), default=None)
    return list(best) if best is not None else []


def check(fsdp: bool, dist: distributed.DistInfo) -> None:
    """Refuse ``train.fsdp`` in a single process (there is nothing to shard across).

    Raises:
        ConfigError: FSDP asked for outside ``torchrun`` (or with one process).
    """
    if fsdp and not dist.enabled:
        raise ConfigError(
            f"{setting_ref('train.fsdp')} shards the model across processes and needs torchrun with 2 or "
            f"more (torchrun --nproc_per_node N -m tui_lab train ...); drop it for one process.",
            {"train.fsdp": "needs torchrun with 2 or more processes"},
        )


def is_sharded(setup: Any) -> bool:
    """Whether this run's model is sharded by FSDP."""
    return bool(setup.config.train.fsdp) and setup.dist.enabled


def shard(model: Any) -> None:
    """``fully_shard`` each transformer layer, then the root (in place: parameters become DTensors)."""
    from torch.distributed.fsdp import fully_shard

    for layer in transformer_layers(model):
        fully_shard(layer)
    fully_shard(model)


class ShardedModel:
    """The sharded model as the loop calls it: ``no_sync()`` as DDP's, for gradient accumulation."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Keep gradients unreduced on this micro-batch (reduced on the one that steps)."""
        self.model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            self.model.set_requires_gradient_sync(True)


def _options(**kwargs: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(**kwargs)


def full_state_dict(model: Any) -> dict[str, Any]:
    """The whole model's weights on rank 0's CPU (an empty dict elsewhere); every rank calls it."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_options(full_state_dict=True, cpu_offload=True))


def load_full_state_dict(model: Any, state: dict[str, Any]) -> None:
    """Put a full state dict (every rank has it) into the sharded model."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(model, state, options=_options(full_state_dict=True, strict=False))


def stage_optimizer(setup: Any, run_dir: Path) -> Path:
    """Every rank writes its optimiser shards (``torch.distributed.checkpoint``) to a staging folder
    of the run, which rank 0 then moves into ``last/``. Returns the folder."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    staging = Path(run_dir) / STAGING
    if setup.dist.is_main:
        shutil.rmtree(staging, ignore_errors=True)
    distributed.barrier(setup.dist)
    dcp.save(
        {"optimizer": get_optimizer_state_dict(setup.model, setup.optimizer)}, checkpoint_id=str(staging)
    )
    distributed.barrier(setup.dist)  # every shard is written before rank 0 moves the folder
    return staging


def load_optimizer(setup: Any, last: Path) -> None:
    """Read the optimiser's shards from ``last/optimizer.dcp`` into the sharded run's optimiser."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

    state = {"optimizer": get_optimizer_state_dict(setup.model, setup.optimizer)}
    dcp.load(state, checkpoint_id=str(Path(last) / OPTIMIZER_DIR))
    set_optimizer_state_dict(setup.model, setup.optimizer, state["optimizer"])
