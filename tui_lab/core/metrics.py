"""Classification metrics (scikit-learn): accuracy, macro/weighted F1, confusion matrix."""

from __future__ import annotations

from typing import Any

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
