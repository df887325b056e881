"""torch.distributed glue for runs under ``torchrun``: ranks, reductions, and who writes.

One process (no ``WORLD_SIZE`` in the environment) is the world of size 1 and touches no
process group. Under ``torchrun`` the group uses NCCL on CUDA and gloo on CPU; only rank 0
writes the run folder, events and checkpoints.
"""

from __future__ import annotations

import datetime
import inspect
import os
from dataclasses import dataclass
from typing import Any

from tui_lab.core.errors import ConfigError

# How long a collective waits for the slowest rank before the job fails. Long enough for rank 0 to
# tokenise a big dataset, run the baseline or write last/ of a large model while the others wait
# at a barrier; short enough that a dead rank ends the job instead of hanging it for hours.
PROCESS_GROUP_TIMEOUT = datetime.timedelta(minutes=30)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run folder and emits events."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1


def from_env() -> DistInfo:
    """Read ``RANK``/``LOCAL_RANK``/``WORLD_SIZE`` as set by ``torchrun``."""
    return DistInfo(
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("LOCAL_RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
    )


def check_local_world(device: str, local_world_size: int | None = None) -> None:
    """Refuse more processes on this machine than it has visible GPUs (CUDA only).

    Call it at set-up, before the process group is joined: two ranks on one GPU would share its
    memory and compute (or fail deep inside NCCL).

    Args:
        device: the device this process trains on.
        local_world_size: processes on this machine; ``LOCAL_WORLD_SIZE`` when ``None``.

    Raises:
        ConfigError: ``torchrun --nproc_per_node`` is larger than the visible GPU count.
    """
    if not device.startswith("cuda"):
        return
    import torch

    local = int(os.environ.get("LOCAL_WORLD_SIZE", 1)) if local_world_size is None else local_world_size
    count = torch.cuda.device_count()
    if local > count:
        raise ConfigError(
            f"torchrun started {local} processes on this machine but only {count} CUDA GPU(s) "
            f"are visible; use --nproc_per_node {count} or less (or train.device cpu).",
            {"train.device": f"{count} GPU(s) for {local} processes"},
        )


def init(info: DistInfo, device: str) -> None:
    """Join the process group (NCCL on CUDA, gloo elsewhere) when there is more than one rank.

    The group waits :data:`PROCESS_GROUP_TIMEOUT` for a slow rank; on CUDA the process's device
    is set first and passed as ``device_id`` (where torch takes it), which binds NCCL to it
    eagerly instead of guessing GPU 0.
    """
    if not info.enabled:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        kwargs: dict[str, Any] = {"backend": backend, "timeout": PROCESS_GROUP_TIMEOUT}
        if device.startswith("cuda"):
            import torch

            torch.cuda.set_device(torch.device(device))
            if "device_id" in inspect.signature(dist.init_process_group).parameters:
                kwargs["device_id"] = torch.device(device)
        dist.init_process_group(**kwargs)


def shutdown(info: DistInfo) -> None:
    """Leave the process group."""
    if info.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def gather_lists(info: DistInfo, items: list[Any]) -> list[Any]:
    """Concatenate every rank's list, in rank order (identity for one process)."""
    if not info.enabled:
        return items
    import torch.distributed as dist

    out: list[list[Any]] = [[] for _ in range(info.world_size)]
    dist.all_gather_object(out, items)
    return [x for part in out for x in part]


def my_share(info: DistInfo, rows: list[Any]) -> list[Any]:
    """This rank's share of ``rows``: every ``world_size``-th one from ``rank`` (all for one process)."""
    return rows[info.rank :: info.world_size] if info.enabled else rows


def gather_shares(info: DistInfo, part: Any) -> Any:
    """Every rank's result for its :func:`my_share` (a list, or an array of one row a row) put
    back in the rows' order on every rank (identity for one process)."""
    if not info.enabled:
        return part
    import numpy as np
    import torch.distributed as dist

    parts: list[Any] = [None] * info.world_size
    dist.all_gather_object(parts, part)
    total = sum(len(p) for p in parts)
    if isinstance(part, np.ndarray):
        out: Any = np.empty((total, *part.shape[1:]), dtype=part.dtype)
    else:
        out = [None] * total
    for rank, rows in enumerate(parts):
        out[rank :: info.world_size] = rows if isinstance(part, np.ndarray) else list(rows)
    return out


def any_flag(info: DistInfo, flag: bool, device: str) -> bool:
    """True when any rank's ``flag`` is true (so every rank stops at the same step)."""
    if not info.enabled:
        return flag
    import torch
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_object(info: DistInfo, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: DistInfo) -> None:
    """Wait for every rank."""
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()


def reduce_step_stats(info: DistInfo, loss_sum: Any, count: int, stop: bool) -> tuple[float, list[int], bool]:
    """What every rank must agree on at a logging step, in one collective.

    Args:
        loss_sum: this rank's summed micro-batch losses since the last logging step (a device scalar).
        count: how many losses ``loss_sum`` holds.
        stop: whether a stop was requested on this rank.

    Returns:
        (mean loss over every rank's micro-batches, the ranks whose loss is not finite, whether any
        rank asked to stop). Every rank gets the same answer, so all stop or abort together.
    """
    import math

    import torch

    if not info.enabled:
        total = float(loss_sum.item())  # the host waits for the device here, once per logging step
        mean = total / max(count, 1)
        return mean, ([] if math.isfinite(mean) else [0]), stop
    import torch.distributed as dist

    mine = torch.stack(
        [
            loss_sum.float(),
            torch.tensor(float(count), device=loss_sum.device),
            torch.tensor(float(stop), device=loss_sum.device),
        ]
    )  # (3,)
    parts = [torch.empty_like(mine) for _ in range(info.world_size)]
    dist.all_gather(parts, mine)
    rows = torch.stack(parts).cpu().tolist()  # (world, 3)
    bad = [r for r, (s, n, _) in enumerate(rows) if not math.isfinite(s / max(n, 1))]
    total, n = sum(r[0] for r in rows), sum(r[1] for r in rows)
    return total / max(n, 1), bad, any(r[2] > 0 for r in rows)
