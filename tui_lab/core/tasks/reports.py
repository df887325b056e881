"""Where a classifier goes wrong on a split: per-class scores, a grid of cells, the examples behind each.

A task builds an :class:`ErrorReport` from a split's texts, targets and outputs
(:meth:`~tui_lab.core.tasks.base.Task.error_report`), so every objective shows its own kind of
table the same way: single-label classification a confusion matrix (true label x predicted
label), multi-label one row per label with its false negatives, false positives and true
positives. Each cell lists its examples, the worst first: the most confident mistakes, or in a
cell of correct answers the least sure ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_CELL_EXAMPLES = 2000  # a cell lists at most this many examples (the worst ones)
MULTILABEL_COLUMNS = ("false negative", "false positive", "true positive")


@dataclass(frozen=True)
class Example:
    """One row of a split as a cell shows it.

    Attributes:
        index: position in the split.
        row: 0-based data row of the split's source file.
        text: the text.
        label: the given label (labels joined with ``|`` for multi-label data).
        predicted: what the model said.
        confidence: the probability of the predicted label (of the cell's label, multi-label).
        loss: the example's cross-entropy (binary, of the cell's label, multi-label).
    """

    index: int
    row: int
    text: str
    label: str
    predicted: str
    confidence: float
    loss: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


@dataclass
class ErrorReport:
    """Per-class scores and a walkable grid of cells.

    Attributes:
        labels: class names, in the per-class table's order.
        per_class: label -> ``precision``, ``recall``, ``f1``, ``support``.
        grid_rows: the grid's row names (true labels; multi-label: labels).
        grid_cols: the grid's column names (predicted labels; multi-label: FN/FP/TP).
        counts: ``counts[i][j]``, examples in each cell.
        cells: ``(i, j)`` -> that cell's examples, worst first (at most ``MAX_CELL_EXAMPLES``).
        mistakes: every wrong example, most confident first (at most ``MAX_CELL_EXAMPLES``).
    """

    labels: list[str]
    per_class: dict[str, dict[str, float]]
    grid_rows: list[str]
    grid_cols: list[str]
    counts: list[list[int]]
    cells: dict[tuple[int, int], list[Example]] = field(default_factory=dict)
    mistakes: list[Example] = field(default_factory=list)


def _per_class(y_true: Any, y_pred: Any, labels: list[str]) -> dict[str, dict[str, float]]:
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(len(labels))), average=None, zero_division=0
    )
    return {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(labels)
    }


def classify_report(
    texts: list[str], rows: list[int], targets: np.ndarray, probs: np.ndarray, labels: list[str]
) -> ErrorReport:
    """The confusion matrix of a single-label split and the examples in each of its cells."""
    from sklearn.metrics import confusion_matrix

    y_true = np.asarray(targets, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64).reshape(len(y_true), len(labels))
    y_pred = probs.argmax(axis=1) if len(y_true) else y_true
    idx = np.arange(len(y_true))
    confidence = probs[idx, y_pred] if len(y_true) else np.zeros(0)
    loss = -np.log(np.maximum(probs[idx, y_true], 1e-12)) if len(y_true) else np.zeros(0)
    examples = [
        Example(
            i, rows[i], texts[i], labels[y_true[i]], labels[y_pred[i]], float(confidence[i]), float(loss[i])
        )
        for i in range(len(y_true))
    ]
    cells: dict[tuple[int, int], list[Example]] = {}
    for ex in examples:
        cells.setdefault((int(y_true[ex.index]), int(y_pred[ex.index])), []).append(ex)
    for (i, j), members in cells.items():
        # a mistake: the most confident first; a correct answer: the least sure (highest loss) first
        members.sort(key=(lambda e: -e.confidence) if i != j else (lambda e: -e.loss))
        del members[MAX_CELL_EXAMPLES:]
    wrong = sorted((e for e in examples if e.label != e.predicted), key=lambda e: -e.confidence)
    return ErrorReport(
        labels=list(labels),
        per_class=_per_class(y_true, y_pred, labels),
        grid_rows=list(labels),
        grid_cols=list(labels),
        counts=confusion_matrix(y_true, y_pred, labels=list(range(len(labels)))).tolist(),
        cells=cells,
        mistakes=wrong[:MAX_CELL_EXAMPLES],
    )


def multilabel_report(
    texts: list[str],
    rows: list[int],
    targets: np.ndarray,
    probs: np.ndarray,
    labels: list[str],
    threshold: float,
) -> ErrorReport:
    """Per-label scores and, per label, its false negatives, false positives and true positives."""
    y_true = np.asarray(targets, dtype=np.float64).reshape(-1, len(labels)) > 0.5
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(labels))
    y_pred = probs >= threshold
    p = np.clip(probs, 1e-12, 1 - 1e-12)
    bce = -(y_true * np.log(p) + (~y_true) * np.log(1 - p))
    given = ["|".join(labels[c] for c in np.flatnonzero(r)) for r in y_true]
    said = ["|".join(labels[c] for c in np.flatnonzero(r)) for r in y_pred]
    cells: dict[tuple[int, int], list[Example]] = {}
    counts = []
    for c in range(len(labels)):
        kinds = (y_true[:, c] & ~y_pred[:, c], ~y_true[:, c] & y_pred[:, c], y_true[:, c] & y_pred[:, c])
        counts.append([int(k.sum()) for k in kinds])
        for j, kind in enumerate(kinds):
            members = [
                Example(int(i), rows[i], texts[i], given[i], said[i], float(probs[i, c]), float(bce[i, c]))
                for i in np.flatnonzero(kind)
            ]
            # FN: the surest "no" first; FP: the surest "yes" first; TP: the least sure first
            members.sort(key=lambda e, j=j: e.confidence if j != 1 else -e.confidence)
            cells[(c, j)] = members[:MAX_CELL_EXAMPLES]
    per_class = {}
    for c, name in enumerate(labels):
        per_class[name] = _per_class(y_true[:, c].astype(int), y_pred[:, c].astype(int), ["no", "yes"])["yes"]
    wrong = [e for (_, j), members in cells.items() if j < 2 for e in members]
    wrong.sort(key=lambda e: -e.loss)
    return ErrorReport(
        labels=list(labels),
        per_class=per_class,
        grid_rows=list(labels),
        grid_cols=list(MULTILABEL_COLUMNS),
        counts=counts,
        cells=cells,
        mistakes=wrong[:MAX_CELL_EXAMPLES],
    )
