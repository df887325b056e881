"""What a prediction looks like, per task: a label and every class's probability, the labels of a
multi-label model, the tokens that fill a ``[MASK]``.

A task's :meth:`~tui_lab.core.tasks.base.Task.decode` builds these; the predictor, the console,
the CLI and the server show them (``to_dict`` is their JSON form). Entity spans of a NER model
are :class:`~tui_lab.core.tasks.entities.EntityPrediction`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Prediction:
    """The label of one text and the probability of every class."""

    text: str
    label: str
    score: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "text": self.text,
            "label": self.label,
            "score": self.score,
            "probabilities": self.probabilities,
        }


@dataclass(frozen=True)
class MultiLabelPrediction(Prediction):
    """A multi-label model's answer: ``labels`` are those at or over ``threshold`` (most probable
    first), ``label`` is them joined with ``|``, ``score`` the highest probability."""

    labels: list[str] = field(default_factory=list)
    threshold: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: every label's score plus the chosen set and the threshold."""
        return {**super().to_dict(), "labels": self.labels, "threshold": self.threshold}


TOP_K = 5


# -- fill-mask ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FillMask:
    """The most probable tokens for the first ``[MASK]`` of a text (shown like a prediction)."""

    text: str
    label: str  # the most probable token
    score: float
    probabilities: dict[str, float]  # token -> probability, most probable first
    candidates: list[list[dict[str, Any]]]  # per mask: [{token, score}], most probable first

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the text and its first mask's candidates as ``[{token, score}]``."""
        out: dict[str, Any] = {"text": self.text, "predictions": self.candidates[0]}
        if len(self.candidates) > 1:
            out["masks"] = self.candidates
        return out


def fill_result(text: str, mask_probs: Any, tokenizer: Any, top_k: int = TOP_K) -> FillMask:
    """A :class:`FillMask` from each mask's probabilities over the vocabulary (``(M, V)``)."""
    import numpy as np

    candidates = []
    for probs in mask_probs:
        probs = np.asarray(probs, dtype=np.float64)
        top = np.argsort(-probs, kind="stable")[:top_k]
        candidates.append([{"token": tokenizer.decode([int(i)]), "score": float(probs[i])} for i in top])
    first = candidates[0]
    return FillMask(
        text, first[0]["token"], first[0]["score"], {c["token"]: c["score"] for c in first}, candidates
    )
