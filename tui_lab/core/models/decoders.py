"""Decoder LLMs (Llama, Qwen, Mistral, Gemma, GPT-2...) as classifiers and taggers.

A causal LM's ``*ForSequenceClassification`` reads the hidden state of the last token that is not
a pad, and needs ``pad_token_id`` in its config to find it; its ``*ForTokenClassification`` reads
every token. Both score a text the same alone and in a batch when the batch is padded on the right
(real tokens keep their positions and, causal, never see a pad): these helpers see to the pad token
and the padding side. Gradient checkpointing and the KV cache: :func:`prepare_for_training`.
"""

from __future__ import annotations

from typing import Any

from tui_lab.core.errors import ConfigError, setting_ref


def set_pad_token(tokenizer: Any, model: Any) -> None:
    """Give a tokenizer without a pad token one, and the model's config the tokenizer's pad id.

    Decoder LLMs (Llama, Mistral, GPT-2...) ship without a pad token: their EOS pads (it is
    masked out, and the classification head reads the last token that is not a pad, so a text that
    itself ends in EOS is read at the same token alone and in a batch); with no EOS either a
    ``<pad>`` token is added. The embeddings grow to the tokenizer's size when it has tokens the
    weights lack (such as that ``<pad>``). ``config.json`` then carries
    ``pad_token_id``, without which ``*ForSequenceClassification`` of a decoder refuses batches.
    A decoder's tokenizer pads on the right (:func:`pad_right`).
    """
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            tokenizer.add_special_tokens({"pad_token": "<pad>"})
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:  # a token the weights lack
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    pad_right(tokenizer, model.config)


def is_decoder_lm(model_config: Any) -> bool:
    """Whether a model config is a causal (decoder-only) LM's: Llama, Qwen, Mistral, GPT-2..., not BERT."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = getattr(model_config, "model_type", "")
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def pad_right(tokenizer: Any, model_config: Any) -> None:
    """A decoder's tokenizer pads on the right, whatever it was saved with.

    On the right a causal model's real tokens keep positions ``0..n-1`` and never see a pad, so a
    text scores the same alone and in a batch; on the left, a model with absolute positions
    (GPT-2) would shift them (0.2 apart in the logits of a tiny GPT-2) unless ``position_ids`` are
    passed. Saved with the tokenizer, so ``transformers.pipeline`` pads on the right too.
    """
    if is_decoder_lm(model_config):
        tokenizer.padding_side = "right"


def prepare_for_training(model: Any, gradient_checkpointing: bool = False) -> list[str]:
    """Ready a model to train: no KV cache, and gradient checkpointing when asked.

    A decoder's forward otherwise builds a KV cache a classifier never reads (memory for nothing,
    and transformers turns it off itself under checkpointing with a warning). Checkpointing is
    the non-reentrant kind (``use_reentrant=False``): it works with frozen inputs (LoRA) and under
    DDP, and recomputes dropout with the same random masks, so the losses are those of a run
    without it.

    Returns:
        Info lines for the start of the run.

    Raises:
        ConfigError: checkpointing asked of a model that does not support it.
    """
    if getattr(model.config, "use_cache", None):
        model.config.use_cache = False
    if not gradient_checkpointing:
        return []
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise ConfigError(
            f"{type(model).__name__} does not support gradient checkpointing; train without "
            f"it ({setting_ref('train.gradient_checkpointing', False)}).",
            {"train.gradient_checkpointing": "this model does not support it"},
        )
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers 5's name (the old one warns)
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    return ["gradient checkpointing: on (activations recomputed in the backward pass)"]
