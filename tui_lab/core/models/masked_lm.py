"""Masked-LM models: a preset BERT from scratch or a pretrained model continued with ``AutoModelForMaskedLM``.

:func:`build_model` is a preset BERT from scratch (its WordPiece vocabulary learned first) or a
hub model / folder continued (domain-adaptive pretraining); :func:`is_masked_lm` tells a saved
masked LM from a classifier by its ``config.json``.
"""

from __future__ import annotations

from typing import Any

from tui_lab.core.errors import ModelError
from tui_lab.core.models import checkpoint, loading, presets
from tui_lab.core.models.presets import build_preset


# -- models ---------------------------------------------------------------------------------------
def build_model(config: Any, train_texts: list[str]) -> tuple[Any, Any]:
    """(tokenizer, masked-LM model): a preset from scratch or a pretrained model continued."""

    name = config.model.name
    max_length = config.data.max_length
    if presets.is_preset(name):
        tokenizer = presets.preset_tokenizer(train_texts, config.model.vocab_size, max(512, max_length))
        return tokenizer, preset_model(name, tokenizer, max_length)
    return load_pretrained(checkpoint.model_folder(name), max_length, config.model.trust_remote_code)


def preset_model(name: str, tokenizer: Any, max_length: int) -> Any:
    """A randomly initialised ``BertForMaskedLM`` of a preset's shape (no labels in its config)."""

    model = build_preset(name, tokenizer, [], max_length, head="mlm")
    model.config.id2label = {}  # a language model has no classes (resume compares them with the data's)
    return model


def load_pretrained(name: str, max_length: int, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """Tokenizer and ``AutoModelForMaskedLM`` of a hub id or folder, in fp32, to continue pretraining.

    Raises:
        ModelError: unloadable, no mask token, or no masked-LM head for this architecture.
    """
    from transformers import AutoModelForMaskedLM

    config = loading.auto_config(name, trust_remote_code)
    tokenizer = loading.load_tokenizer(name, trust_remote_code)
    loading.check_positions(name, config, max_length)
    if tokenizer.mask_token is None:
        raise ModelError(f"'{name}' has no mask token, so it cannot be pretrained as a masked LM.")
    loading.check_weights(name)
    try:
        model = AutoModelForMaskedLM.from_pretrained(
            name,
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
            dtype=loading.torch_dtype("float32"),
        )
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"'{name}' cannot be loaded as a masked language model: {loading.first_line_of(exc)}."
        ) from None
    model.config.id2label = {}
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer, model


def is_masked_lm(model_config: Any) -> bool:
    """Whether a saved model's config names a masked-LM head (``BertForMaskedLM``...)."""
    return any("MaskedLM" in a for a in (getattr(model_config, "architectures", None) or []))
