"""LoRA and QLoRA through PEFT: wrapping a loaded model, saving and loading its adapter folders.

No adapter code of our own: :func:`wrap` is ``get_peft_model(model, LoraConfig(...))`` with the
run's settings, the task's head (``classifier`` / ``score``...) trained in full through
``modules_to_save``. A LoRA checkpoint (``best/``, ``last/``) is PEFT's adapter folder
(``adapter_config.json``, ``adapter_model.safetensors``: the adapter and the head) plus the
classifier's ``config.json`` (labels, calibration) and the tokenizer. The frozen base is named,
not copied, when it is a pretrained checkpoint loaded as it is (a hub id, or a local model folder,
resolved): ``base_model_name_or_path`` in the adapter config, as PEFT does; a 7B base is not
written again for every run and trial. A base that exists nowhere else (a preset's random
weights, or embeddings grown for an added pad token) is written once in the run folder's
``base/``, and ``best/``/``last/`` link to it (``model.safetensors -> ../base/model.safetensors``).
Either way ``transformers.pipeline(model=best_dir)`` loads it (transformers applies the
adapter when ``peft`` is installed), and every face of tui-lab loads it merged
(:func:`load_merged`: ``merge_and_unload`` in memory).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tui_lab.core.errors import ConfigError, ModelError, setting_ref
from tui_lab.core.models.checkpoint import write_atomically

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
BASE_DIR = "base"  # the run folder's frozen base, shared by best/ and last/
HEAD_NAMES = ("pre_classifier", "classifier", "score", "qa_outputs")  # trained in full
LORA_LEARNING_RATE = 2e-3  # all-linear r=16 reached full fine-tuning's accuracy at 2e-3 (issue 24)


def wanted(config: Any) -> bool:
    """Whether a run's config asks for adapters (``model.peft`` lora or qlora)."""
    return config.model.peft != "none"


def is_adapter_dir(folder: str | Path) -> bool:
    """Whether a model folder holds a PEFT adapter (a LoRA run's ``best/`` or ``last/``)."""
    return (Path(folder) / ADAPTER_CONFIG).is_file()


def default_learning_rate(config: Any, full_rate: float) -> float:
    """``learning_rate = auto`` under LoRA: adapters start at zero and want a higher rate than
    full fine-tuning (issue 24's measurement: 5e-4 missed the goal, 2e-3 met it)."""
    return max(full_rate, LORA_LEARNING_RATE) if wanted(config) else full_rate


def check_request(config: Any, task_name: str) -> None:
    """Refuse, before anything loads, what adapters cannot do here.

    Raises:
        ConfigError: pretraining with adapters, or qlora without CUDA or bitsandbytes.
    """
    if not wanted(config):
        return
    if task_name == "pretrain":
        raise ConfigError(
            f"adapters fine-tune a classifier; masked-LM pretraining trains every weight: "
            f"set {setting_ref('model.peft', 'none')}.",
            {"model.peft": "pretraining trains every weight"},
        )
    if config.model.peft == "qlora":
        check_qlora(config.train.device)


def check_qlora(device: str) -> None:
    """QLoRA needs a CUDA GPU and bitsandbytes (its CPU backend loads 4-bit weights, but the
    forward pass fails there: measured with bitsandbytes 0.50).

    Raises:
        ConfigError: no CUDA device for this run, or bitsandbytes is not installed.
    """
    import importlib.util

    import torch

    need = f"use {setting_ref('model.peft', 'lora')} instead"
    if not torch.cuda.is_available() or device == "cpu":
        raise ConfigError(
            f"qlora loads the base in 4 bits through bitsandbytes on a CUDA GPU, and this run has none; {need}.",
            {"model.peft": "qlora needs a CUDA GPU"},
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(
            f"qlora needs bitsandbytes: pip install 'tui-lab[qlora]', or {need}.",
            {"model.peft": "qlora needs bitsandbytes"},
        )


def quantization_config() -> Any:
    """QLoRA's 4-bit NF4 base with bf16 compute and double quantisation."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_use_double_quant=True,
    )


def quantization_for(config: Any) -> Any:
    """The ``BitsAndBytesConfig`` a run's base loads with: QLoRA's, else ``None``."""
    return quantization_config() if config.model.peft == "qlora" else None


def lora_config(config: Any, model: Any) -> Any:
    """PEFT's ``LoraConfig`` from the run's settings (alpha empty = 2 x r)."""
    from peft import LoraConfig

    m = config.model
    targets = m.lora_targets.strip()
    if targets == "auto":
        target_modules: Any = None  # PEFT's defaults for the architecture
    elif targets == "all-linear":
        target_modules = "all-linear"
    else:
        target_modules = [t.strip() for t in targets.split(",") if t.strip()]
    heads = [name for name, _ in model.named_children() if name in HEAD_NAMES]
    return LoraConfig(
        r=m.lora_r,
        lora_alpha=m.lora_alpha or 2 * m.lora_r,
        lora_dropout=m.lora_dropout,
        target_modules=target_modules,
        modules_to_save=heads or None,
        task_type=_task_type(model),
    )


def _task_type(model: Any) -> str | None:
    archs = " ".join(getattr(model.config, "architectures", None) or [type(model).__name__])
    if "TokenClassification" in archs:
        return "TOKEN_CLS"
    return "SEQ_CLS" if "SequenceClassification" in archs else None


@contextmanager
def _peft_quiet() -> Iterator[None]:
    """PEFT reads ``model.is_gradient_checkpointing``, which transformers 5 deprecated with a
    FutureWarning that every LoRA run would print; the user can do nothing about it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def wrap(config: Any, model: Any) -> Any:
    """``get_peft_model`` of a freshly built model with the run's LoRA settings (QLoRA: after
    ``prepare_model_for_kbit_training``).

    Raises:
        ModelError: PEFT cannot wrap this model, or ``model.lora_targets`` names none of its modules.
    """
    from peft import get_peft_model

    if config.model.peft == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    name = config.model.name
    try:
        with _peft_quiet():
            return get_peft_model(model, lora_config(config, model))
    except ValueError as exc:  # NoMatchingPeftModuleError is one
        if "not found in the base model" in str(exc) or "No modules were targeted" in str(exc):
            raise ConfigError(
                f"{setting_ref('model.lora_targets')} '{config.model.lora_targets}' names no module of '{name}'; use "
                f"all-linear, auto, or names of its linear layers (such as query,value).",
                {"model.lora_targets": "names no module of this model"},
            ) from None
        raise ModelError(
            f"PEFT cannot put LoRA adapters on '{name}' ({_first_line(exc)}); train it with "
            f"{setting_ref('model.peft', 'none')}."
        ) from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0].rstrip(".")


def trainable_share(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


# -- saving ---------------------------------------------------------------------------------------
def is_peft_model(model: Any) -> bool:
    """Whether ``model`` is a PEFT wrapper (its checkpoints are adapter folders)."""
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def save_adapter(folder: Path, model: Any, tokenizer: Any) -> None:
    """Write a LoRA checkpoint into ``folder`` (a temporary sibling of ``best/`` or ``last/``):
    the adapter and head, ``config.json``, the tokenizer and links to the run's ``base/``
    (written first, once)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    base = Path(folder).parent / BASE_DIR
    inner = model.get_base_model()
    quantized = getattr(inner, "is_quantized", False) or getattr(inner, "is_loaded_in_4bit", False)
    source, weights_dir = shared_base(inner)  # a 4-bit base is never copied either
    copy = not quantized and not source
    if copy:
        if not (base / "config.json").is_file():
            save_base(base, model, tokenizer)
        source, weights_dir = str(base.resolve()), None
    if source:
        model.peft_config["default"].base_model_name_or_path = source
    model.save_pretrained(folder, safe_serialization=True)
    inner.config.architectures = [type(inner).__name__]
    inner.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # links to the base's weights, so that the folder loads as a model (pipeline) and PEFT applies
    # the adapter: relative into the run's base/, absolute into a named checkpoint's folder
    for weights in sorted(base.glob("*.safetensors*")) if copy else []:
        os.symlink(Path("..") / BASE_DIR / weights.name, Path(folder) / weights.name)
    for weights in sorted(weights_dir.glob("*.safetensors*")) if weights_dir and not quantized else []:
        os.symlink(weights.resolve(), Path(folder) / weights.name)


def shared_base(inner: Any) -> tuple[str, Path | None]:
    """(the checkpoint a LoRA run's frozen base loads from again unchanged: a hub id or a local
    model folder, resolved; the folder its safetensors weights are in); ("", None) when the run
    must keep its own copy: no checkpoint (a preset's random weights), embeddings grown past the
    checkpoint's vocabulary (an added pad token), or no safetensors weights to link to."""
    source = str(getattr(inner.config, "_name_or_path", "") or "")
    local = Path(source).expanduser()
    if not source or (not local.is_dir() and (local.is_absolute() or source.startswith((".", "~")))):
        return "", None  # no checkpoint, or a folder that is gone
    source = str(local.resolve()) if local.is_dir() else source
    from transformers import AutoConfig
    from transformers.utils import cached_file

    try:  # the checkpoint was just loaded: its files are on disk (a local folder or the hub cache)
        original = AutoConfig.from_pretrained(source, local_files_only=True)
        config_file = cached_file(source, "config.json", local_files_only=True)
    except Exception:  # noqa: BLE001 - unreadable here: keep a copy
        return "", None
    weights_dir = Path(config_file).parent if config_file else None
    if weights_dir is None or not any(weights_dir.glob("*.safetensors")):
        return "", None
    vocab = getattr(original, "vocab_size", None)
    return (source, weights_dir) if vocab == inner.get_input_embeddings().num_embeddings else ("", None)


def save_base(target: Path, model: Any, tokenizer: Any) -> None:
    """The frozen base (with the head as it was initialised) as an ordinary model folder,
    written atomically: the PEFT wrapper's state without adapters or trained head copies."""
    inner = model.get_base_model()
    state = {}
    for key, value in inner.state_dict().items():
        if "lora_" in key or ".modules_to_save." in key:
            continue
        key = key.replace(".base_layer.", ".").replace(".original_module.", ".")
        state[key] = value

    def write(tmp: Path) -> None:
        inner.save_pretrained(tmp, state_dict=state, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    write_atomically(target, write)


# -- loading --------------------------------------------------------------------------------------
def base_folder(folder: str | Path) -> Path | str:
    """The base model folder of an adapter folder: where its weights link to, else the
    ``base_model_name_or_path`` PEFT recorded.

    Raises:
        ModelError: the base is gone.
    """
    import json

    folder = Path(folder)
    link = folder / "model.safetensors"
    if link.is_symlink() and link.exists():
        return link.resolve().parent
    recorded = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8")).get(
        "base_model_name_or_path"
    )
    if recorded and (Path(recorded).is_dir() or not Path(recorded).is_absolute()):
        return recorded  # a folder, or a hub id (a QLoRA run's base: loaded unquantised to merge)
    raise ModelError(
        f"{folder} is a LoRA adapter whose base model ({recorded or 'base/'}) is gone; "
        f"keep the run folder's base/ beside best/ and last/."
    )


def load_trainable(folder: str | Path, model_class: Any, config: Any, quantization: Any = None) -> Any:
    """A LoRA checkpoint (``last/``) as a trainable PEFT model in fp32 (QLoRA: on its 4-bit
    base again), to resume."""
    from peft import PeftModel, prepare_model_for_kbit_training

    from tui_lab.core.models.loading import quantized

    extra = quantized(quantization) if quantization is not None else {}
    base = model_class.from_pretrained(
        base_folder(folder), config=config, use_safetensors=True, dtype="float32", **extra
    )
    if quantization is not None:
        base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)
    with _peft_quiet():
        return PeftModel.from_pretrained(base, str(folder), is_trainable=True)


def load_merged(folder: str | Path, model_class: Any, config: Any, **kwargs: Any) -> Any:
    """A LoRA checkpoint with its adapter merged into the base (``merge_and_unload``), an
    ordinary ``transformers`` model for inference and export."""
    from peft import PeftModel

    base = model_class.from_pretrained(base_folder(folder), config=config, use_safetensors=True, **kwargs)
    with _peft_quiet():
        return PeftModel.from_pretrained(base, str(folder)).merge_and_unload()


def load_best_adapter(model: Any, folder: Path, device: str) -> None:
    """Put a LoRA ``best/``'s adapter and head into the live PEFT model."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(folder / ADAPTER_WEIGHTS), device=device))
