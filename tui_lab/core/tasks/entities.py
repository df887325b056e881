"""Entity metrics and entity spans of a token-classification (NER) model.

Metrics are seqeval's (strict mode, IOB2) over the tag of each word's first sub-token. A prediction
is the list of entities the Hugging Face pipeline's ``aggregation_strategy="simple"`` would give:
each sub-token's most probable tag, adjacent sub-tokens of one type grouped (a ``B-`` starts a new
entity), ``O`` dropped; ``score`` is the mean of the grouped sub-tokens' probabilities, ``start``
and ``end`` are character offsets into the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tui_lab.core.errors import ModelError

IGNORE = -100


@dataclass(frozen=True)
class EntityPrediction:
    """The entities found in one text (``label`` and ``score`` summarise them for plain output)."""

    text: str
    label: str  # "PER:Anna Smith, LOC:Paris" (empty when none)
    score: float  # the lowest entity score (1.0 when none)
    probabilities: dict[str, float] = field(default_factory=dict)  # none per text; kept for the CLI
    entities: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the text and its entities (``entity_group``, ``score``, ``word``, ``start``, ``end``)."""
        return {"text": self.text, "entities": self.entities}


def require_fast_tokenizer(tokenizer: Any) -> None:
    """NER needs a fast tokenizer: ``word_ids()`` aligns tags, character offsets place entities."""
    if getattr(tokenizer, "is_fast", None) is False:
        name = getattr(tokenizer, "name_or_path", "") or "this model"
        raise ModelError(
            f"{name} has only a slow (Python) tokenizer; NER needs a fast one (a tokenizer.json) to "
            "align tags to sub-words and place entities in the text: pick a model that ships one."
        )


def entity_metrics(targets: Any, probs: np.ndarray, label_names: list[str]) -> dict[str, Any]:
    """Entity precision/recall/F1 (micro) and per type, word accuracy, and the mean token loss.

    Args:
        targets: a :class:`~tui_lab.core.tasks.ner.TokenTargets` of the split.
        probs: ``(N, width, C)`` tag probabilities of every row's sub-tokens (zero-padded).
        label_names: the tag names in id order.
    """
    from seqeval.metrics import accuracy_score, classification_report
    from seqeval.scheme import IOB2

    labels, starts = targets.labels, targets.word_start
    lengths = labels.lengths
    if len(lengths) == 0 or probs.size == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0, "accuracy": 0.0, "loss": 0.0, "n": 0}
    rows = np.repeat(np.arange(len(lengths)), lengths)
    flat = probs.reshape(len(lengths), -1, len(label_names))[
        rows, np.arange(len(rows)) - labels.offsets[rows]
    ]
    gold = labels.values.astype(np.int64)
    scored = gold != IGNORE
    loss = float(-np.log(np.maximum(flat[scored, gold[scored]], 1e-12)).mean()) if scored.any() else 0.0
    names = np.asarray(label_names, dtype=object)
    pred = flat.argmax(axis=1)
    cuts = np.cumsum(np.add.reduceat(starts.astype(np.int64), labels.offsets[:-1]) if len(starts) else [0])[
        :-1
    ]
    y_true = [list(s) for s in np.split(names[gold[starts]], cuts)]
    y_pred = [list(s) for s in np.split(names[pred[starts]], cuts)]
    report = classification_report(
        y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    micro = report.get("micro avg", {})
    out: dict[str, Any] = {
        "f1": float(micro.get("f1-score", 0.0)),
        "precision": float(micro.get("precision", 0.0)),
        "recall": float(micro.get("recall", 0.0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "loss": loss,
    }
    types = [k for k in report if not k.endswith(" avg")]
    for kind in sorted(types):
        for key, name in (("f1-score", "f1"), ("precision", "precision"), ("recall", "recall")):
            out[f"{name}/{kind}"] = float(report[kind][key])
    out["entities"] = {kind: int(report[kind]["support"]) for kind in sorted(types)}
    out["n"] = len(lengths)
    return out


def predict_entities(
    predictor: Any, label_names: list[str], texts: list[str], batch_size: int = 64
) -> list[Any]:
    """The entities of each text, through the predictor's tokenizer and forward pass."""
    require_fast_tokenizer(predictor.tokenizer)
    out: list[Any] = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        ids = order[start : start + batch_size]
        batch = [texts[i] for i in ids]
        with predictor._tokenizer_lock:
            enc = predictor.tokenizer(
                batch,
                truncation=True,
                padding=True,
                max_length=predictor.max_length,
                return_tensors="np",
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
            )
        offsets = enc.pop("offset_mapping")
        special = enc.pop("special_tokens_mask")
        logits = predictor.backend.logits(dict(enc))  # (B, T, C)
        probs = predictor.scores(logits, "softmax")
        for row, i in enumerate(ids):
            keep = (special[row] == 0) & (enc["attention_mask"][row] == 1)
            entities = group_entities(
                predictor.tokenizer,
                texts[i],
                enc["input_ids"][row][keep],
                probs[row][keep],
                offsets[row][keep],
                label_names,
            )
            out[i] = _prediction(texts[i], entities)
    return out


def group_entities(
    tokenizer: Any, text: str, ids: np.ndarray, probs: np.ndarray, offsets: np.ndarray, label_names: list[str]
) -> list[dict[str, Any]]:
    """Sub-tokens grouped into entities as the pipeline's ``simple`` aggregation does."""
    tokens: list[dict[str, Any]] = []
    for tid, p, (s, e) in zip(ids.tolist(), probs, offsets.tolist()):
        best = int(p.argmax())
        word = text[s:e] if tid == tokenizer.unk_token_id else tokenizer.convert_ids_to_tokens(tid)
        tokens.append(
            {"entity": label_names[best], "score": float(p[best]), "word": word, "start": s, "end": e}
        )
    groups: list[list[dict[str, Any]]] = []
    for tok in tokens:
        bi, tag = _tag(tok["entity"])
        if groups and bi != "B" and _tag(groups[-1][-1]["entity"])[1] == tag:
            groups[-1].append(tok)
        else:
            groups.append([tok])
    entities = []
    for g in groups:
        kind = g[0]["entity"].split("-", 1)[-1]
        if kind == "O":
            continue
        entities.append(
            {
                "entity_group": kind,
                "score": float(np.mean([t["score"] for t in g])),
                "word": tokenizer.convert_tokens_to_string([t["word"] for t in g]),
                "start": int(g[0]["start"]),
                "end": int(g[-1]["end"]),
            }
        )
    return entities


def _tag(name: str) -> tuple[str, str]:
    """(``B`` or ``I``, type) as the pipeline reads a tag (``O`` and others continue: ``I``)."""
    if name.startswith(("B-", "I-")):
        return name[0], name[2:]
    return "I", name


def _prediction(text: str, entities: list[dict[str, Any]]) -> EntityPrediction:
    label = ", ".join(f"{e['entity_group']}:{text[e['start'] : e['end']]}" for e in entities)
    score = min((e["score"] for e in entities), default=1.0)
    return EntityPrediction(text, label, score, {}, entities)
