"""A model's head (sequence, token or masked-LM classification) and the classes that build and load it."""

from __future__ import annotations

from typing import Any

# a task's head -> (the presets' BERT class, the Auto class of hub models and saved folders)
HEADS: dict[str, tuple[str, str]] = {
    "sequence": ("BertForSequenceClassification", "AutoModelForSequenceClassification"),
    "token": ("BertForTokenClassification", "AutoModelForTokenClassification"),
    "mlm": ("BertForMaskedLM", "AutoModelForMaskedLM"),
}


def head_of(model_config: Any) -> str:
    """The head of a saved model, from its ``architectures`` (``"sequence"`` when unknown)."""
    archs = getattr(model_config, "architectures", None) or []
    return next((h for h, (bert, _) in HEADS.items() for a in archs if a.endswith(bert[4:])), "sequence")


def auto_class(head: str) -> Any:
    """The transformers Auto class that loads a model with this head."""
    import transformers

    return getattr(transformers, HEADS[head][1])
