"""A run's checkpoints: ``best/`` when dev improves, ``last/`` with everything a resume needs.

Every rank calls :func:`save_last` (each rank's RNG is gathered first, so dropout continues per
rank after a resume); only rank 0 writes. Folders are written atomically by
:func:`tui_lab.core.models.checkpoint.save_checkpoint`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tui_lab.core.atomic import write_text_atomically
from tui_lab.core.models import adapters, checkpoint
from tui_lab.core.training import distributed, fsdp


def save(setup: Any, run_dir: Path | None, which: str, state: dict[str, Any] | None = None) -> Path | None:
    """Write ``best/`` or ``last/``; returns the folder on rank 0 (``None`` on the other ranks).

    For ``last/`` every rank must call it: each rank's RNG state is gathered before rank 0 writes.
    """
    rngs = (
        distributed.gather_lists(setup.dist, [checkpoint.rng_state(setup.device)])
        if which == "last"
        else None
    )
    sharded = fsdp.is_sharded(setup)
    extra: dict[str, Any] = {}
    if sharded:  # every rank: the weights gathered on rank 0, the optimiser's shards written by each
        extra["state_dict"] = fsdp.full_state_dict(setup.model)
        if which == "last":
            where = Path(distributed.broadcast_object(setup.dist, str(run_dir)))
            extra["folders"] = {fsdp.OPTIMIZER_DIR: fsdp.stage_optimizer(setup, where)}
    if not setup.dist.is_main or run_dir is None:
        return None
    if which == "last":
        extra.update(
            optimizer=None if sharded else setup.optimizer,
            scheduler=setup.scheduler,
            rng={"ranks": rngs},
            scaler=setup.scaler if setup.scaler.is_enabled() else None,
        )
    if adapters.is_peft_model(setup.model):
        extra["writer"] = adapters.save_adapter
    return checkpoint.save_checkpoint(run_dir / which, setup.model, setup.tokenizer, state=state, **extra)


def mark_finished(run_dir: Path, status: str) -> None:
    """Record in ``last/trainer_state.json`` that the run ended, so it is not resumed by mistake."""
    last = checkpoint.resolve(run_dir / "last")
    if last is None:
        return
    path = last / checkpoint.STATE_FILE
    state = json.loads(path.read_text(encoding="utf-8"))
    state.update(finished=True, status=status)
    write_text_atomically(path, json.dumps(state, indent=2))


def load_best_weights(setup: Any, run_dir: Path | None) -> None:
    """Put ``best/``'s weights into the model (every rank loads rank 0's folder)."""
    from safetensors.torch import load_file

    best = checkpoint.resolve(run_dir / "best") if run_dir else None
    best = distributed.broadcast_object(setup.dist, str(best) if best else None)
    if best and adapters.is_peft_model(setup.model):
        adapters.load_best_adapter(setup.model, Path(best), setup.device)
    elif best:
        state = load_file(str(Path(best) / "model.safetensors"), device=setup.device)
        if fsdp.is_sharded(setup):
            fsdp.load_full_state_dict(setup.model, state)
        else:
            setup.model.load_state_dict(state, strict=False)


def restore_rng(setup: Any) -> str | None:
    """Continue this rank's random stream from ``last/``; a warning when the world size changed."""
    ranks = checkpoint.load_tensor_file(setup.last_dir / checkpoint.RNG_FILE)["ranks"]
    checkpoint.set_rng_state(ranks[min(setup.dist.rank, len(ranks) - 1)], setup.device)
    if len(ranks) != setup.dist.world_size:
        return (
            f"resumed with {setup.dist.world_size} process(es) where the run had {len(ranks)}: "
            f"the data order and dropout differ from an uninterrupted run"
        )
    return None


def calibrate(setup: Any, run_dir: Path | None, dev_metrics: dict[str, Any]) -> None:
    """Let the task settle its decoding on the best weights' dev metrics (every rank), and add
    what it returns to ``best/config.json`` (rank 0), so predictions decode the same way."""
    values = setup.task.calibrate(dev_metrics)
    if not values:
        return
    for key, value in values.items():
        setattr(setup.model.config, key, value)  # a later save of the live model keeps it too
    best = checkpoint.resolve(run_dir / "best") if run_dir is not None else None
    if setup.dist.is_main and best is not None:
        path = best / "config.json"
        saved = json.loads(path.read_text(encoding="utf-8"))
        saved.update(values)
        write_text_atomically(path, json.dumps(saved, indent=2, sort_keys=True) + "\n")
