"""The optimiser and learning-rate schedule of a run (the idioms of ``run_glue_no_trainer.py``)."""

from __future__ import annotations

from typing import Any

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


def build_optimizer(model: Any, lr: float, weight_decay: float) -> Any:
    """AdamW with no decay on bias and LayerNorm weights; fused kernels where torch has them.

    Build it after the model is on its device: the fused kernel is chosen for the parameters' device.
    """
    import torch

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if not n.endswith(NO_DECAY)], "weight_decay": weight_decay},
        {"params": [p for n, p in named if n.endswith(NO_DECAY)], "weight_decay": 0.0},
    ]
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device/dtype
        return torch.optim.AdamW(groups, lr=lr)


def build_scheduler(optimizer: Any, warmup_steps: int, total_steps: int) -> Any:
    """Linear warmup to the peak rate, then linear decay to zero: ``transformers.get_scheduler("linear")``."""
    from transformers import get_scheduler

    return get_scheduler("linear", optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps)
