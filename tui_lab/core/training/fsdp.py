"""FSDP2 (``torch.distributed.fsdp.fully_shard``) for full fine-tuning beyond one GPU.

Each transformer layer is sharded on its own, then the root, so one layer's weights are gathered
at a time (the memory plan's "FSDP share").
"""

from __future__ import annotations

from typing import Any


def transformer_layers(model: Any) -> list[Any]:
    """The model's transformer layers: the members of its longest ``nn.ModuleList`` of blocks."""
    import torch

    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) > 0]
    best = max(lists, key=lambda m: (len(m), sum(p.numel() for p in m.parameters())), default=None)
    return list(best) if best is not None else []
