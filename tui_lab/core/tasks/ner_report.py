"""Error analysis of a named-entity (NER) run: entity types, missed/spurious/correct entities, sentences.

The NER task's :meth:`~tui_lab.core.tasks.ner.NerTask.analyse_split` predicts every word's tag
(the first sub-token of each word, as training scores it) and builds an
:class:`~tui_lab.core.tasks.reports.ErrorReport`: per entity type seqeval's strict IOB2
precision, recall, F1 and support; a grid of entity types x ``missed`` (false negatives),
``spurious`` (false positives) and ``correct`` (true positives), counted in entities, each cell
listing the sentences behind it, the worst first; and every wrong sentence, the most confident
first. Calibration is read per word: the top tag's probability against whether it is the gold tag.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from tui_lab.core.data.tagged import entity_types
from tui_lab.core.tasks.reports import MAX_CELL_EXAMPLES, ErrorReport, Example

NER_COLUMNS = ("missed", "spurious", "correct")


def word_probs(
    predictor: Any, sentences: Sequence[Sequence[str]], temperature: float = 1.0, batch_size: int = 64
) -> list[np.ndarray]:
    """Tag probabilities ``(words, tags)`` of each sentence's words (their first sub-tokens).

    Words cut off by the model's ``max_length`` get no row, as in training's metrics.
    """
    out = []
    for logits in word_logits(predictor, sentences, batch_size):
        kept = logits[~np.isnan(logits).any(axis=1)]
        out.append(np.asarray(predictor.scores(kept / temperature, "softmax"), dtype=np.float64))
    return out


def word_logits(
    predictor: Any,
    sentences: Sequence[Sequence[str]],
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """Raw tag scores ``(words, tags)`` (float32) of each sentence's words, read at their first sub-tokens.

    Row ``j`` is word ``j``; a word with no sub-token within the model's ``max_length`` (cut off by
    truncation, or dropped whole by the tokenizer) is a row of NaN. ``progress`` is told how many
    sentences are scored after each batch.
    """
    out = [np.full((len(s), len(predictor.labels)), np.nan, dtype=np.float32) for s in sentences]
    order = [i for i in sorted(range(len(sentences)), key=lambda i: len(sentences[i])) if sentences[i]]
    for start in range(0, len(order), batch_size):
        ids = order[start : start + batch_size]
        with predictor._tokenizer_lock:
            enc = predictor.tokenizer(
                [list(sentences[i]) for i in ids],
                is_split_into_words=True,
                truncation=True,
                padding=True,
                max_length=predictor.max_length,
                return_tensors="np",
            )
            word_ids = [enc.word_ids(r) for r in range(len(ids))]
        logits = predictor.backend.logits(dict(enc))  # (B, T, C)
        for r, i in enumerate(ids):
            words, positions = first_subtokens(word_ids[r])
            out[i][words] = logits[r][positions]
        if progress is not None:
            progress(start + len(ids))
    return out


def first_subtokens(word_ids: Sequence[int | None]) -> tuple[list[int], list[int]]:
    """(each word, the position of its first sub-token) of one encoded sentence, in order."""
    words: list[int] = []
    positions: list[int] = []
    for t, w in enumerate(word_ids):
        if w is not None and w != (word_ids[t - 1] if t else None):
            words.append(w)
            positions.append(t)
    return words, positions


def _entities(tags: list[list[str]]) -> list[set[tuple[str, int, int]]]:
    """Each sentence's entities as (type, first word, end word), strict IOB2."""
    from seqeval.scheme import IOB2, Entities

    return [{(e.tag, e.start, e.end) for e in row} for row in Entities(tags, IOB2).entities]


def _describe(words: Sequence[str], entities: set[tuple[str, int, int]]) -> str:
    """``PER: Anna Smith; LOC: Paris`` in sentence order."""
    return "; ".join(f"{t}: {' '.join(words[s:e])}" for t, s, e in sorted(entities, key=lambda x: x[1:]))


def _per_type(
    y_true: list[list[str]], y_pred: list[list[str]], types: list[str]
) -> dict[str, dict[str, float]]:
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    report = (
        classification_report(y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
        if any(y_true)
        else {}
    )
    zero = {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0}
    return {
        t: {
            "precision": float(report.get(t, zero)["precision"]),
            "recall": float(report.get(t, zero)["recall"]),
            "f1": float(report.get(t, zero)["f1-score"]),
            "support": int(report.get(t, zero)["support"]),
        }
        for t in types
    }


def _fill_cells(
    base: Example,
    gold: set[tuple[str, int, int]],
    pred: set[tuple[str, int, int]],
    sure: np.ndarray,
    types: list[str],
    counts: list[list[int]],
    cells: dict[tuple[int, int], list[Example]],
) -> None:
    """Count one sentence's missed, spurious and correct entities per type; list it in those cells.

    Its confidence in a cell is the mean top-tag probability over the entity's words: the
    surest of its missed or spurious entities, the least sure of its correct ones.
    """
    for j, found in enumerate((gold - pred, pred - gold, gold & pred)):
        for k, kind in enumerate(types):
            spans = [(s, e) for t, s, e in found if t == kind]
            if not spans:
                continue
            counts[k][j] += len(spans)
            scores = [float(sure[s:e].mean()) for s, e in spans]
            cells.setdefault((k, j), []).append(
                replace(base, confidence=min(scores) if j == 2 else max(scores))
            )


def ner_report(
    sentences: Sequence[Sequence[str]],
    rows: Sequence[int],
    tags: Sequence[Sequence[int]],
    probs: list[np.ndarray],
    label_names: list[str],
) -> tuple[ErrorReport, np.ndarray, np.ndarray]:
    """The error report of a tagged split, and every word's (confidence, correct) for calibration.

    Args:
        sentences: each sentence's words.
        rows: each sentence's 0-based position in its source file.
        tags: each sentence's gold tag ids.
        probs: each sentence's word tag probabilities (:func:`word_probs`; may cover fewer words).
        label_names: the tag names in id order.
    """

    names = np.asarray(label_names, dtype=object)
    gold = [np.asarray(t[: len(p)], dtype=np.int64) for t, p in zip(tags, probs)]
    pred = [p.argmax(axis=1) if len(p) else np.zeros(0, dtype=np.int64) for p in probs]
    y_true = [list(names[g]) for g in gold]
    y_pred = [list(names[p]) for p in pred]
    sure = [p.max(axis=1) if len(p) else np.zeros(0) for p in probs]
    types = entity_types(label_names)
    per_class = _per_type(y_true, y_pred, types)
    gold_ents, pred_ents = _entities(y_true), _entities(y_pred)
    counts = [[0, 0, 0] for _ in types]
    cells: dict[tuple[int, int], list[Example]] = {}
    mistakes: list[Example] = []
    for i, words in enumerate(sentences):
        word_loss = -np.log(np.maximum(probs[i][np.arange(len(gold[i])), gold[i]], 1e-12))
        base = Example(
            i,
            int(rows[i]),
            " ".join(words),
            _describe(words, gold_ents[i]),
            _describe(words, pred_ents[i]),
            float(sure[i].mean()) if len(sure[i]) else 0.0,
            float(word_loss.mean()) if len(word_loss) else 0.0,
        )
        _fill_cells(base, gold_ents[i], pred_ents[i], sure[i], types, counts, cells)
        if gold_ents[i] != pred_ents[i]:
            mistakes.append(base)
    for (_, j), members in cells.items():
        # missed and spurious: the most confident first; correct: the least sure first
        members.sort(key=(lambda e: -e.confidence) if j < 2 else (lambda e: e.confidence))
        del members[MAX_CELL_EXAMPLES:]
    mistakes.sort(key=lambda e: -e.confidence)
    report = ErrorReport(
        types, per_class, list(types), list(NER_COLUMNS), counts, cells, mistakes[:MAX_CELL_EXAMPLES]
    )
    conf = np.concatenate(sure) if sure else np.zeros(0)
    ok = np.concatenate([p == g for p, g in zip(pred, gold)]) if gold else np.zeros(0, dtype=bool)
    return report, conf, ok
