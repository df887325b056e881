"""Evaluating the current weights on a split, across every rank, through the run's task."""

from __future__ import annotations

from typing import Any

import numpy as np

from tui_lab.core.data.batching import TokenArrays
from tui_lab.core.tasks import Task
from tui_lab.core.training import distributed


def predict_tokens(
    model: Any,
    task: Task,
    tokens: TokenArrays,
    pad_id: int,
    device: str,
    batch_size: int,
    autocast_dtype: Any = None,
    multiple: int = 1,
) -> np.ndarray:
    """The task's outputs (e.g. class probabilities) for every row, under inference mode.

    Rows are visited in length order so each batch pads little; results come back in row order.
    """
    import torch

    model.eval()
    order = np.argsort(tokens.lengths, kind="stable")
    parts: list[Any] = []
    kind = device.split(":")[0]
    with (
        torch.inference_mode(),
        torch.autocast(kind, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None),
    ):
        for start in range(0, len(order), batch_size):
            batch = task.collate(tokens, order[start : start + batch_size], None, pad_id, multiple)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            labels = batch.pop("labels", None)  # only tasks whose inputs make their own labels (MLM)
            parts.append(task.eval_outputs(model(**batch).logits, labels))  # (B, ...) on the CPU
    model.train()
    if not parts:
        return np.zeros((0, len(task.label_names)), dtype=np.float32)
    out = torch.cat(parts).numpy()
    result = np.empty_like(out)
    result[order] = out
    return result


def evaluate(setup: Any, split: Any) -> dict[str, Any]:
    """Metrics of the current weights on one :class:`~tui_lab.core.training.prepare.EncodedSplit`.

    Each rank predicts every ``world_size``-th row; rank results are gathered so every rank
    computes the same metrics over the whole split.
    """
    dist = setup.dist
    shard = np.arange(dist.rank, len(split), dist.world_size)
    if dist.enabled:  # every rank runs as many batches (a sharded model gathers weights on each)
        even = -(-len(split) // dist.world_size)
        shard = np.concatenate([shard, np.full(even - len(shard), shard[-1] if len(shard) else 0)])
    outputs = predict_tokens(
        setup.model,
        setup.task,
        split.tokens.take(shard) if dist.enabled else split.tokens,
        setup.pad_id,
        setup.device,
        setup.config.train.batch_size * 2,
        setup.device_info.autocast_dtype,
        setup.multiple,
    )
    if dist.enabled:
        rows = sorted(
            dict(distributed.gather_lists(dist, list(zip(shard.tolist(), outputs.tolist())))).items()
        )
        outputs = np.asarray([o for _, o in rows], dtype=np.float32)
    return setup.task.metrics(split.targets, outputs)
