"""Writing and reading checkpoint folders, atomically and without unpickling code.

A checkpoint is a Hugging Face model folder (``config.json`` with id2label/label2id,
``model.safetensors``, tokenizer files) that ``transformers.pipeline`` loads; ``last/`` adds
``trainer_state.json`` and the optimizer, scheduler and RNG state for resume. A folder is written
under a temporary name and renamed into place, so a crash or a full disk mid-write never leaves a
broken ``best/`` or ``last/``: the previous one stays loadable. Tensors other than weights go
through ``torch.save`` and come back only through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

from tui_lab.core.errors import CheckpointError

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
RNG_FILE = "rng_state.pt"
SCALER_FILE = "scaler.pt"


def write_atomically(target: Path, write: Any) -> Path:
    """Call ``write(tmp_dir)``, then swap ``tmp_dir`` in as ``target``.

    The previous ``target`` is moved aside (``target.old``) before the new one is renamed into
    place and removed after, so at every instant one complete folder exists under ``target`` or
    ``target.old`` (:func:`resolve` falls back to the latter).

    Raises:
        CheckpointError: the folder could not be written (disk full, permissions...); the
            previous checkpoint is untouched.
    """
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    old = target.with_name(f"{target.name}.old")
    gone = CheckpointError(
        f"the run folder {target.parent} is gone (deleted or unmounted while "
        f"training); nothing more can be saved there."
    )
    if not target.parent.is_dir():
        raise gone
    try:
        tmp.mkdir()
        write(tmp)
        _fsync_dir(tmp)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.parent.is_dir():
            raise gone from exc
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CheckpointError(
            f"could not write checkpoint {target.name}/ ({reason}); the previous one is kept. "
            f"Free disk space or check permissions."
        ) from exc
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)
    return target


def resolve(folder: Path) -> Path | None:
    """The complete checkpoint folder at ``folder``, or its ``.old`` twin after a crash mid-swap."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(f"{folder.name}.old")):
        if (candidate / "config.json").exists():
            return candidate
    return None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_model(folder: Path, model: Any, tokenizer: Any, state_dict: dict[str, Any] | None = None) -> None:
    """``save_pretrained`` of model (safetensors) and tokenizer into ``folder``; ``state_dict``:
    the weights to write instead of the model's own (a sharded model's, gathered)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model.save_pretrained(folder, safe_serialization=True, state_dict=state_dict)
    tokenizer.save_pretrained(folder)


def save_checkpoint(
    target: Path,
    model: Any,
    tokenizer: Any,
    state: dict[str, Any] | None = None,
    optimizer: Any = None,
    scheduler: Any = None,
    rng: dict[str, Any] | None = None,
    scaler: Any = None,
    writer: Any = None,
    state_dict: dict[str, Any] | None = None,
    folders: dict[str, Path] | None = None,
) -> Path:
    """Write a model folder (and, for ``last/``, the state to resume from) atomically.

    Args:
        writer: ``writer(folder, model, tokenizer)`` writes the model (default :func:`save_model`;
            a LoRA run's is :func:`tui_lab.core.models.adapters.save_adapter`).
        state_dict: the weights to write instead of the model's own (a sharded model's, gathered).
        folders: name -> a finished folder to move in (an optimiser's distributed checkpoint).
    """
    import torch

    def write(tmp: Path) -> None:
        if writer is not None:
            writer(tmp, model, tokenizer)
        else:
            save_model(tmp, model, tokenizer, state_dict)
        for name, folder in (folders or {}).items():
            shutil.move(str(folder), tmp / name)
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / OPTIMIZER_FILE)
        if scheduler is not None:
            torch.save(scheduler.state_dict(), tmp / SCHEDULER_FILE)
        if scaler is not None:
            torch.save(scaler.state_dict(), tmp / SCALER_FILE)
        if rng is not None:
            torch.save(rng, tmp / RNG_FILE)
        if state is not None:
            (tmp / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")

    return write_atomically(target, write)


def load_state(folder: Path) -> dict[str, Any]:
    """``trainer_state.json`` of a ``last/`` folder.

    Raises:
        CheckpointError: missing or unreadable.
    """
    path = Path(folder) / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{folder} has no {STATE_FILE}; it is not a resumable checkpoint.") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is unreadable ({exc}).") from None


def load_tensor_file(path: Path) -> Any:
    """``torch.load(weights_only=True)``: a pickle that would run code is refused.

    Raises:
        CheckpointError: missing, corrupt, or holding anything but tensors and plain values.
    """
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete.") from None
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} holds more than tensors and was refused (it could run code): {str(exc).splitlines()[0]}"
        ) from None
    except Exception as exc:
        raise CheckpointError(f"{path} is unreadable ({type(exc).__name__}).") from None


def rng_state(device: str | None = None) -> dict[str, Any]:
    """The torch (CPU and the training GPU's) and Python RNG states, in a form ``weights_only`` loads.

    Only the RNG of the device the process trains on is kept (``cuda`` is one state, with its
    ``cuda_index``), so a run resumed with fewer or other GPUs visible restores it.

    Args:
        device: the training device (``cuda:N``, ``cpu``); ``None`` is the current CUDA device
            when CUDA is in use.
    """
    import random

    import torch

    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
    }
    index = _cuda_index(device)
    if index is not None:
        state["cuda"] = torch.cuda.get_rng_state(index)
        state["cuda_index"] = index
    return state


def _cuda_index(device: str | None) -> int | None:
    """The CUDA device index whose RNG matters, or ``None`` for a CPU run (or no CUDA)."""
    import torch

    if device is None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch.cuda.current_device()
        return None
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    return int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()


def set_rng_state(state: dict[str, Any], device: str | None = None) -> None:
    """Restore what :func:`rng_state` captured; the GPU state goes to ``device``.

    A checkpoint written before (a list with every visible GPU's state) gives the state saved
    for the same index when there is one; otherwise the GPU's stream is left as seeded, with a
    warning. A GPU state is not restored on a CPU run (a GPU -> CPU resume), nor asked for.
    """
    import random

    import torch

    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    index = _cuda_index(device)
    saved = state.get("cuda")
    if index is None or saved is None:
        return
    if isinstance(saved, (list, tuple)):  # older checkpoints: every visible GPU's state
        saved_index = index if index < len(saved) else None
        if saved_index is None:
            warnings.warn(
                f"the checkpoint's GPU random state has no entry for cuda:{index}; "
                "dropout continues from the seed, not from where the run stopped",
                stacklevel=2,
            )
            return
        saved = saved[saved_index]
    torch.cuda.set_rng_state(saved, index)


def model_folder(name: str) -> str:
    """A run folder given as a model stands for its ``best/`` (else ``last/``); other names pass."""
    path = Path(name).expanduser()
    if path.is_dir() and not (path / "config.json").exists():
        for sub in ("best", "last"):
            found = resolve(path / sub)
            if found is not None:
                return str(found)
    return name
