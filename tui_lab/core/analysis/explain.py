"""Token explanations: which words pushed a classifier toward the label it chose.

Layer Integrated Gradients (``captum``) on the model's embeddings module: the path runs from a
baseline where every token but the special ones ([CLS], [SEP]) is [PAD] — same length, same
attention mask — to the text, and the gradient of the predicted class's probability (softmax; a
multi-label model: the sigmoid of its most probable label) is integrated along it. The
attributions are summed over the hidden dimension (one score per token), the sub-tokens of a word
are summed into the word the user typed (a run of non-space characters, so punctuation stays with
its word), special tokens are left out, and the scores are divided by the largest ``|score|``
among the text's words: the strongest word is ``+1`` or ``-1``, positive pushes toward the label.

Explanations need the PyTorch weights: a predictor on an ONNX export is reloaded from the
weights beside it (the run's ``best/``) with the PyTorch backend.
"""

from __future__ import annotations

import bisect
import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_lab.core.deploy.predictor import Predictor, resolve_model_dir
from tui_lab.core.errors import DataError, ModelError
from tui_lab.core.settings import ExplainConfig

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class WordScore:
    """One word of the text and its share of the prediction.

    Attributes:
        word: the word as typed (``text[start:end]``).
        score: in ``[-1, 1]``; positive = toward the predicted label.
        start: character offset of the word in the text.
        end: character offset just past the word.
    """

    word: str
    score: float
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"word": self.word, "score": self.score, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Explanation:
    """A text, the label the model gave it, that label's probability and every word's score."""

    text: str
    label: str
    score: float
    words: list[WordScore] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "text": self.text,
            "label": self.label,
            "score": self.score,
            "words": [w.to_dict() for w in self.words],
        }


def explain_texts(
    predictor: Any,
    texts: list[str],
    n_steps: int | None = None,
    internal_batch_size: int | None = None,
) -> list[Explanation]:
    """Explain the predictor's label for each text, word by word.

    Args:
        predictor: a :class:`~tui_lab.core.deploy.predictor.Predictor` (an ONNX one is reloaded in PyTorch).
        texts: the texts, none empty.
        n_steps: Integrated Gradients steps (default: the ``explain.n_steps`` setting's default).
        internal_batch_size: interpolated inputs per forward pass (``None``/0: all steps at once).

    Raises:
        DataError: an empty text.
        ModelError: not a text classifier (NER, masked LM), no PyTorch weights, no embeddings
            layer, or a slow (Python) tokenizer.
    """

    for i, text in enumerate(texts, 1):
        if not text.strip():
            raise DataError(f"text {i} is empty; give a sentence to explain.")
    head = getattr(getattr(predictor, "task", None), "head", "sequence")
    if head != "sequence":
        raise ModelError(
            f"{predictor.source} is a {predictor.task.name} model; explanations are for text "
            "classifiers (classify, multilabel)."
        )
    predictor = torch_predictor(predictor)
    if not getattr(predictor.tokenizer, "is_fast", False):
        raise ModelError(
            f"{predictor.source} has a slow tokenizer without character offsets; explanations "
            "need a fast tokenizer (tokenizer.json)."
        )
    steps = n_steps or ExplainConfig().n_steps
    explainer = _Explainer(predictor, steps, internal_batch_size or None)
    return [explainer.explain(text) for text in texts]


def torch_predictor(predictor: Any) -> Any:
    """The predictor itself when it runs PyTorch, else one loaded from the weights beside its export.

    Raises:
        ModelError: an ONNX export with no safetensors weights in its folder or its run folder.
    """
    if predictor.backend.name == "pytorch":
        return predictor

    source = Path(predictor.source)
    folder = source.parent if source.suffix == ".onnx" else source
    for candidate in (folder, folder.parent):
        try:
            model_dir = resolve_model_dir(candidate)
        except ModelError:
            continue
        if any(model_dir.glob("*.safetensors")):
            return Predictor.from_path(model_dir, device="cpu", backend="pytorch")
    raise ModelError(
        f"explanations need the PyTorch weights and {source} is an ONNX export without them; "
        "give its run folder or a model folder with model.safetensors."
    )


def embeddings_layer(model: Any) -> Any:
    """The module whose output Integrated Gradients attributes: ``<base>.embeddings`` (word +
    position + type embeddings, BERT-like encoders), else the input (word) embeddings (a decoder's
    ``embed_tokens`` or ``wte``, whose positions are rotary or added later).

    Raises:
        ModelError: the model has neither.
    """
    import torch

    base = getattr(model, "base_model", model)
    layer = getattr(base, "embeddings", None)
    if isinstance(layer, torch.nn.Module):
        return layer
    try:
        layer = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        layer = None
    if not isinstance(layer, torch.nn.Module):
        raise ModelError(
            f"{type(model).__name__} has no input embeddings layer, so its words cannot be "
            "explained; explanations need a transformer (encoder or decoder) with token embeddings."
        )
    return layer


def merge_words(text: str, offsets: list[tuple[int, int]], scores: list[float]) -> list[WordScore]:
    """Sum token scores into the text's words and scale them by the largest ``|score|``.

    Args:
        text: the text as typed.
        offsets: ``(start, end)`` character span of each token; special tokens have ``(0, 0)``.
        scores: one score per token.

    Returns:
        The words the model saw (a truncated tail is left out), in text order.
    """
    spans = [m.span() for m in _WORD.finditer(text)]
    starts = [s for s, _ in spans]
    totals: dict[int, float] = {}
    for (start, end), score in zip(offsets, scores):
        if end <= start:
            continue  # a special token (or an empty piece)
        # the word holding the token's last character: a piece that carries its leading space
        # (SentencePiece) still lands on its word
        i = bisect.bisect_right(starts, end - 1) - 1
        if i >= 0 and end - 1 < spans[i][1]:
            totals[i] = totals.get(i, 0.0) + float(score)
    scale = max((abs(v) for v in totals.values()), default=0.0) or 1.0
    return [
        WordScore(text[spans[i][0] : spans[i][1]], totals[i] / scale, spans[i][0], spans[i][1])
        for i in sorted(totals)
    ]


class _Explainer:
    """One model, its embeddings layer and captum's LayerIntegratedGradients over it."""

    def __init__(self, predictor: Any, n_steps: int, internal_batch_size: int | None) -> None:
        from captum.attr import LayerIntegratedGradients

        self.predictor = predictor
        self.model = predictor.backend.model
        self.device = predictor.backend.device
        self.n_steps = n_steps
        self.internal_batch_size = internal_batch_size
        self.sigmoid = bool(predictor.multi_label or len(predictor.labels) == 1)
        tokenizer = predictor.tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.lig = LayerIntegratedGradients(self._probabilities, embeddings_layer(self.model))

    def _probabilities(self, input_ids: Any, attention_mask: Any) -> Any:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
        return logits.sigmoid() if self.sigmoid else logits.softmax(-1)

    def _encode(self, text: str) -> Any:
        lock = getattr(self.predictor, "_tokenizer_lock", None)
        kwargs = {"truncation": True, "max_length": self.predictor.max_length, "return_tensors": "pt"}
        with lock if lock is not None else nullcontext():
            return self.predictor.tokenizer(
                [text], return_offsets_mapping=True, return_special_tokens_mask=True, **kwargs
            )

    def explain(self, text: str) -> Explanation:
        """The explanation of one text."""
        import torch

        enc = self._encode(text)
        ids = enc["input_ids"].to(self.device)
        mask = enc["attention_mask"].to(self.device)
        special = enc["special_tokens_mask"].to(self.device).bool()
        baseline = torch.where(special, ids, torch.full_like(ids, self.pad_id))  # keeps [CLS]/[SEP]
        with torch.no_grad():
            probs = self._probabilities(ids, mask)[0]
        target = int(probs.argmax())
        attributions = self.lig.attribute(
            inputs=ids,
            baselines=baseline,
            target=target,
            additional_forward_args=(mask,),
            n_steps=self.n_steps,
            internal_batch_size=self.internal_batch_size,
        )
        scores = attributions.sum(dim=-1)[0].detach().float().cpu().tolist()  # (T,) over hidden
        offsets = [tuple(o) for o in enc["offset_mapping"][0].tolist()]
        offsets = [(0, 0) if s else o for o, s in zip(offsets, special[0].tolist())]
        words = merge_words(text, offsets, scores)
        label = self.predictor.labels[target]
        return Explanation(text, label, float(probs[target]), words)
