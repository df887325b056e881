"""Loading any Hugging Face model: a hub id or a local folder, through the ``Auto*`` classes.

Only safetensors weights are read (a folder with only pickled weights is refused), ``trust_remote_code``
is off unless asked for, and a hub id that cannot be reached is one sentence naming the offline
presets and local folders as the way out. :func:`build` is what a new run calls: a preset from
scratch or a pretrained model with a new head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_lab.core import hub
from tui_lab.core.data.splits import label_map
from tui_lab.core.errors import ConfigError, ModelError, setting_ref
from tui_lab.core.models.checkpoint import model_folder
from tui_lab.core.models.decoders import pad_right, set_pad_token
from tui_lab.core.models.heads import auto_class, head_of
from tui_lab.core.models.presets import build_preset, is_preset, preset_tokenizer

# a folder with config.json needs one of these for its tokenizer to load
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")  # never loaded (they could run code)


def load_pretrained(
    name: str,
    label_names: list[str],
    max_length: int,
    trust_remote_code: bool = False,
    dtype: Any = "float32",
    problem_type: str | None = None,
    head: str = "sequence",
    overrides: dict[str, Any] | None = None,
    quantization: Any = None,
) -> tuple[Any, Any]:
    """Tokenizer and classifier from a hub id or a local folder, with a new head for our labels.

    A model whose head already has exactly these labels keeps it; any other head (or none) is
    replaced by a freshly initialised one of the right size. The weights are loaded in fp32 for
    training whatever dtype they were saved in (transformers 5 otherwise keeps a bf16 or fp16
    checkpoint's dtype, and the optimizer would then step half-precision master weights);
    mixed precision comes from autocast, not from the stored weights.

    Args:
        dtype: the parameters' dtype (a torch dtype or its name; ``"auto"`` keeps the saved one).
        overrides: model-config values to set (e.g. ``hidden_dropout_prob``); those the model's
            config does not have are left out.
        quantization: a ``BitsAndBytesConfig`` (QLoRA's 4-bit base, on the current CUDA device).

    Raises:
        ModelError: the model cannot be found or loaded.
        ConfigError: ``max_length`` is above what the model can take.
    """
    config = auto_config(name, trust_remote_code)
    tokenizer = load_tokenizer(name, trust_remote_code)
    check_positions(name, config, max_length)
    same_head = [config.id2label.get(i) for i in range(len(config.id2label))] == label_names
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "dtype": torch_dtype(dtype)}
    if problem_type:
        kwargs["problem_type"] = problem_type
    kwargs.update({k: v for k, v in (overrides or {}).items() if hasattr(config, k)})
    if not same_head:
        kwargs.update(
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id=label_map(label_names),
            ignore_mismatched_sizes=True,
        )
    if quantization is not None:
        kwargs.update(quantized(quantization))
    check_weights(name)
    try:
        # safetensors only: a pickled pytorch_model.bin could run code when it is loaded
        model = auto_class(head).from_pretrained(name, use_safetensors=True, **kwargs)
    except ValueError as exc:
        raise ModelError(f"'{name}' cannot be used as a text classifier: {first_line_of(exc)}.") from None
    except OSError as exc:
        raise _load_error(name, exc) from None
    set_pad_token(tokenizer, model)
    return tokenizer, model


def _load_error(name: str, exc: OSError) -> ModelError:
    """What went wrong loading ``name``'s weights, in one sentence."""
    if "safetensors" in str(exc).lower():
        return ModelError(
            f"'{name}' has no safetensors weights (only pickled ones, which tui-lab "
            f"does not load); re-save it with save_pretrained(safe_serialization=True)."
        )
    return ModelError(f"'{name}' could not be loaded: {first_line_of(exc)}.")


def quantized(quantization: Any) -> dict[str, Any]:
    """``from_pretrained`` arguments of a bitsandbytes-quantised base, placed on the current GPU."""
    import torch

    return {"quantization_config": quantization, "device_map": {"": torch.cuda.current_device()}}


def check_positions(name: str, config: Any, max_length: int) -> None:
    """Refuse a ``max_length`` beyond the model's position embeddings (one line naming the setting)."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions and max_length > positions:
        raise ConfigError(
            f"data.max_length {max_length} is above the {positions} positions of "
            f"'{name}'; set {setting_ref('data.max_length', positions)} or less.",
            {"data.max_length": f"must be at most {positions} for this model"},
        )


def load_for_training(folder: str | Path, dtype: Any = "float32") -> tuple[Any, Any]:
    """Tokenizer and model of a checkpoint folder (a run's ``last/``) to train on, in fp32: a
    classifier, or a masked LM when its ``config.json`` names one.

    Raises:
        ModelError: the folder cannot be loaded (only safetensors weights are read).
    """
    from transformers import AutoConfig

    tokenizer = load_tokenizer(str(folder))
    check_weights(folder)
    try:
        head = head_of(AutoConfig.from_pretrained(folder))
        model = auto_class(head).from_pretrained(folder, use_safetensors=True, dtype=torch_dtype(dtype))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder} could not be loaded: {first_line_of(exc)}.") from None
    pad_right(tokenizer, model.config)
    return tokenizer, model


def check_weights(folder: str | Path) -> None:
    """Refuse a local model folder without safetensors weights, in one sentence, before loading it.

    A hub id (no such local folder) passes: transformers finds its files.

    Raises:
        ModelError: the folder has only pickled weights, or none at all.
    """
    path = Path(folder).expanduser()
    if not path.is_dir() or any(path.glob("*.safetensors")) or any(path.glob("*.safetensors.index.json")):
        return
    if any((path / name).is_file() for name in PICKLED_WEIGHTS):
        raise ModelError(
            f"{path} has only pickled weights (pytorch_model.bin), which tui-lab does not load; "
            f"re-save the model with save_pretrained(safe_serialization=True)."
        )
    raise ModelError(
        f"{path} has no weights (model.safetensors); give a complete model folder, such as a run's best/."
    )


def torch_dtype(dtype: Any) -> Any:
    """A torch dtype from its name (``"float32"``, ``"bfloat16"``); ``"auto"`` passes through."""
    if not isinstance(dtype, str) or dtype == "auto":
        return dtype
    import torch

    return getattr(torch, dtype)


def load_tokenizer(name: str, trust_remote_code: bool = False) -> Any:
    """``AutoTokenizer.from_pretrained`` with a one-sentence error.

    A local folder must hold tokenizer files: without them transformers would build an empty
    vocabulary from ``config.json`` alone and every text would become ``[UNK]``.
    """
    from transformers import AutoTokenizer

    path = Path(name).expanduser()
    if (
        path.is_dir()
        and (path / "config.json").exists()
        and not any((path / f).is_file() for f in TOKENIZER_FILES)
    ):
        raise ModelError(
            f"{path} has no tokenizer files (tokenizer.json, vocab.txt...); copy them from the run or model "
            f"it came from, or save the model with its tokenizer."
        )

    try:
        return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ModelError(_unreachable(name, exc)) from None


def auto_config(name: str, trust_remote_code: bool) -> Any:
    from transformers import AutoConfig

    _probe_hub(name)
    try:
        return AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ModelError(
                f"'{name}' ships its own code; set {setting_ref('model.trust_remote_code', True)} only if you trust its author."
            ) from None
        raise ModelError(_unreachable(name, exc)) from None
    except Exception as exc:
        raise ModelError(_unreachable(name, exc)) from None


def _probe_hub(name: str) -> None:
    """Fail in a moment, not after ~25 s of retries, when a hub id cannot be loaded from the hub.

    Skipped for local paths and when the hub is switched off (the local cache may still have it).
    """

    if Path(name).expanduser().exists() or hub.offline() or not _looks_like_hub_id(name):
        return
    status = hub.probe(name, "model")
    if status != "ok":
        raise ModelError(hub.explain(name, status, "model", WAY_OUT))


def _looks_like_hub_id(name: str) -> bool:
    return not name.startswith((".", "/", "~")) and name.count("/") <= 1


WAY_OUT = (
    f"use an offline preset ({setting_ref('model.name', 'tiny-bert')} or small-bert) or a local model folder"
)


def _unreachable(name: str, exc: BaseException) -> str:
    path = Path(name).expanduser()
    if path.is_dir():
        missing = "config.json" if not (path / "config.json").exists() else "tokenizer files"
        return f"{path} is not a Hugging Face model folder ({missing} missing or unreadable: {first_line_of(exc)})."
    if path.exists():
        return f"{path} is a file; give the folder that holds config.json and the weights."
    if not _looks_like_hub_id(name):
        return f"model folder {name} does not exist."
    return (
        f"model '{name}' is not a local folder and could not be fetched from the Hugging Face "
        f"hub (offline, or no such model); {WAY_OUT}."
    )


def first_line_of(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")


def build(
    model_name: str,
    train_texts: list[str],
    label_names: list[str],
    max_length: int,
    vocab_size: int = 8000,
    trust_remote_code: bool = False,
    problem_type: str | None = None,
    head: str = "sequence",
    overrides: dict[str, Any] | None = None,
    quantization: Any = None,
) -> tuple[Any, Any]:
    """Tokenizer and classifier for a run: a preset trained from scratch or a pretrained model.

    ``problem_type`` (``"multi_label_classification"``...) is written into the model's config, so
    ``transformers.pipeline`` applies the right activation to a saved model; ``overrides`` are
    model-config values (:func:`config_overrides`); ``quantization`` loads a pretrained base in
    4 bits (QLoRA).
    """
    if is_preset(model_name):
        tokenizer = preset_tokenizer(train_texts, vocab_size, max(512, max_length))
        model = build_preset(model_name, tokenizer, label_names, max_length, problem_type, head, overrides)
        return tokenizer, model
    return load_pretrained(
        model_folder(model_name),
        label_names,
        max_length,
        trust_remote_code,
        problem_type=problem_type,
        head=head,
        overrides=overrides,
        quantization=quantization,
    )


def config_overrides(config: Any) -> dict[str, Any]:
    """The model-config values a run's settings ask for (the dropouts that are set)."""
    wanted = {
        "hidden_dropout_prob": config.model.hidden_dropout,
        "attention_probs_dropout_prob": config.model.attention_dropout,
    }
    return {k: v for k, v in wanted.items() if v is not None}


def check_classifier(path: str, model_config: Any) -> list[str]:
    """Label names of a saved classifier.

    Raises:
        ModelError: the folder holds a base model with no classification head.
    """
    archs = getattr(model_config, "architectures", None) or []
    if archs and not any("SequenceClassification" in a or "TokenClassification" in a for a in archs):
        raise ModelError(
            f"{path} holds a {archs[0]} without a classification head; fine-tune it "
            f"first: train with {setting_ref('model.name', path)}."
        )
    id2label = model_config.id2label
    return [str(id2label[i]) for i in range(len(id2label))]
