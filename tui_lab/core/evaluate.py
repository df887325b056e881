"""Evaluating a saved classifier on a labelled file (``tui-lab eval``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_lab.core.data import (
    clean_rows,
    encode_labels,
    find_split_files,
    infer_columns,
    label_map,
    read_table,
)
from tui_lab.core.errors import DataError
from tui_lab.core.metrics import classification_metrics


def eval_source(data: str) -> str:
    """A file as given; for a folder, its test file (else dev)."""
    p = Path(data).expanduser()
    if p.is_dir():
        found = find_split_files(p)
        for split in ("test", "dev"):
            if split in found:
                return found[split]
        raise DataError(f"{p} is a folder without a test or dev file; give the file itself.")
    return data


def evaluate_path(
    model: str,
    data: str,
    text_column: str = "",
    label_column: str = "",
    drop_empty: bool = False,
    device: str = "auto",
) -> dict[str, Any]:
    """Accuracy, macro precision/recall/F1 and the confusion matrix of a model on a file.

    Raises:
        LabError: the model or the data cannot be used (e.g. labels the model does not know).
    """
    from tui_lab.core.predict import Predictor

    table = read_table(eval_source(data))
    text_col, label_col = infer_columns(table, text_column, label_column)
    texts, raw, _ = clean_rows(table, text_col, label_col, drop_empty)
    predictor = Predictor.from_path(model, device)
    if predictor.task.multilabel:
        raise DataError(
            f"tui-lab eval does not score multi-label models yet; {predictor.source}'s test metrics "
            f"are in its run's report.json."
        )
    label2id = label_map(predictor.labels)
    try:
        y_true = encode_labels(raw, label2id, table.source, table.class_names)
    except DataError:
        raise DataError(
            f"{table.source} has labels the model does not know "
            f"(the model has: {', '.join(predictor.labels)})."
        ) from None
    preds = predictor.predict(texts)
    y_pred = [label2id[p.label] for p in preds]
    m = classification_metrics(y_true, y_pred, predictor.labels)
    keys = ("accuracy", "f1_macro", "precision_macro", "recall_macro", "f1_weighted", "confusion_matrix", "n")
    return {
        "model": predictor.source,
        "data": table.source,
        "labels": predictor.labels,
        **{k: m[k] for k in keys},
    }
