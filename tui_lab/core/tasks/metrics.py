"""Classification metrics (scikit-learn): accuracy, macro/weighted F1, confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

METRIC_NAMES = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted")


def classification_metrics(
    y_true: list[int], y_pred: list[int], label_names: list[str], loss: float | None = None
) -> dict[str, Any]:
    """Every metric of a prediction run.

    Returns:
        ``accuracy``, ``precision_macro``, ``recall_macro``, ``f1_macro``, ``f1_weighted``
        (and ``loss`` when given) as floats, plus ``confusion_matrix`` (rows: true labels) and
        ``per_class`` (``classification_report`` as a dict), and ``n``.
    """
    from sklearn.metrics import (
        accuracy_score,
        classification_report,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    labels = list(range(len(label_names)))
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    _, _, fw, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="weighted", zero_division=0
    )
    out: dict[str, Any] = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(p),
        "recall_macro": float(r),
        "f1_macro": float(f),
        "f1_weighted": float(fw),
    }
    if loss is not None:
        out["loss"] = float(loss)
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    out["per_class"] = classification_report(
        y_true, y_pred, labels=labels, target_names=label_names, output_dict=True, zero_division=0
    )
    out["n"] = len(y_true)
    return out


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """Only the float metrics (for events and charts)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, float)}


def is_improvement(value: float, best: float | None, metric: str) -> bool:
    """Whether ``value`` beats ``best`` (lower is better for ``loss``, higher for the rest)."""
    if best is None:
        return True
    return value < best if metric == "loss" else value > best


MULTILABEL_METRIC_NAMES = ("f1_micro", "f1_macro", "subset_accuracy", "precision_micro", "recall_micro")
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 ... 0.95


def multilabel_metrics(
    y_true: Any, y_pred: Any, label_names: list[str], loss: float | None = None
) -> dict[str, Any]:
    """Every metric of a multi-label prediction run; ``y_true``/``y_pred`` are ``(N, C)`` 0/1.

    Returns:
        ``f1_micro``, ``f1_macro``, ``subset_accuracy`` (every label of a row right),
        ``precision_micro``, ``recall_micro`` (and ``loss``) as floats, one ``f1/<label>`` float
        per label, ``per_class`` (``classification_report`` as a dict: per-label precision,
        recall, F1 and support) and ``n``.
    """
    import numpy as np
    from sklearn.metrics import accuracy_score, classification_report, precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1, len(label_names))
    y_pred = np.asarray(y_pred, dtype=np.int64).reshape(-1, len(label_names))
    out: dict[str, Any] = {}
    if len(y_true):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="micro", zero_division=0)
        _, _, f_macro, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
        out.update(
            f1_micro=float(f),
            f1_macro=float(f_macro),
            subset_accuracy=float(accuracy_score(y_true, y_pred)),
            precision_micro=float(p),
            recall_micro=float(r),
        )
    else:
        out.update(dict.fromkeys(MULTILABEL_METRIC_NAMES, 0.0))
    if loss is not None:
        out["loss"] = float(loss)
    report = (
        classification_report(
            y_true,
            y_pred,
            labels=list(range(len(label_names))),
            target_names=label_names,
            output_dict=True,
            zero_division=0,
        )
        if len(y_true)
        else {}
    )
    for name in label_names:
        out[f"f1/{name}"] = float(report.get(name, {}).get("f1-score", 0.0))
    out["per_class"] = report
    out["n"] = len(y_true)
    return out


def tune_threshold(y_true: Any, probs: Any, grid: tuple[float, ...] = THRESHOLD_GRID) -> tuple[float, float]:
    """The one global threshold on ``probs`` that maximises micro-F1 (ties: the one nearest 0.5).

    Returns:
        (threshold, micro-F1 at it)
    """
    import numpy as np
    from sklearn.metrics import f1_score

    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if len(y_true) == 0:
        return 0.5, 0.0
    scores = [
        float(f1_score(y_true, (probs >= t).astype(np.int64), average="micro", zero_division=0)) for t in grid
    ]
    best = max(range(len(grid)), key=lambda i: (scores[i], -abs(grid[i] - 0.5)))
    return float(grid[best]), scores[best]


def softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)
