"""Single-label text classification: softmax over the classes, cross-entropy, sklearn metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tui_lab.core.data.batching import TokenArrays, pad_batch
from tui_lab.core.tasks.base import Task
from tui_lab.core.tasks.metrics import METRIC_NAMES, classification_metrics
from tui_lab.core.tasks.predictions import Prediction
from tui_lab.core.tasks.reports import classify_report


class ClassifyTask(Task):
    """One label per text (sentiment, topic, intent)."""

    name = "classify"
    default_metric = "f1_macro"
    metric_names = (*METRIC_NAMES, "loss")

    def targets(self, labels: Sequence[Any]) -> np.ndarray:
        """Class indices as an ``int64`` array (the data layer has mapped names to indices)."""
        return np.asarray(labels, dtype=np.int64)

    def collate(
        self, tokens: TokenArrays, idx: Sequence[int], targets: np.ndarray | None, pad_id: int, multiple: int
    ) -> dict[str, Any]:
        """Padded ids and mask, plus the class index of each row as ``labels``."""
        import torch

        batch = pad_batch(tokens.rows(idx), pad_id, multiple)
        if targets is not None:
            batch["labels"] = torch.from_numpy(targets[np.asarray(idx)])
        return batch

    def loss(self, logits: Any, labels: Any) -> Any:
        """Mean cross-entropy; ``(B, num_labels), (B,) -> ()``."""
        import torch.nn.functional as F

        return F.cross_entropy(logits.float(), labels)

    def outputs(self, logits: Any) -> Any:
        """Class probabilities ``(B, num_labels)`` as a float32 CPU tensor."""
        import torch

        return torch.softmax(logits.float(), dim=-1).cpu()

    def metrics(self, targets: np.ndarray, outputs: np.ndarray) -> dict[str, Any]:
        """Accuracy, macro/weighted F1 etc. of the arg-max class, and the mean cross-entropy."""
        probs = np.asarray(outputs, dtype=np.float64)
        y_true = np.asarray(targets, dtype=np.int64)
        if len(y_true) == 0:
            return classification_metrics([], [], self.label_names, 0.0)
        true_p = probs[np.arange(len(y_true)), y_true]
        loss = float(-np.log(np.maximum(true_p, 1e-12)).mean())
        y_pred = probs.argmax(axis=1)
        return classification_metrics(y_true.tolist(), y_pred.tolist(), self.label_names, loss)

    def error_report(
        self, texts: Sequence[str], rows: Sequence[int], targets: np.ndarray, outputs: np.ndarray
    ) -> Any:
        """The confusion matrix (true x predicted) and the examples in each cell."""

        return classify_report(list(texts), list(rows), targets, outputs, self.label_names)

    def decode(self, text: str, output: Sequence[float]) -> Any:
        """The most probable label and every class's probability."""

        row = [float(p) for p in output]
        best = max(range(len(row)), key=row.__getitem__)
        return Prediction(text, self.label_names[best], row[best], dict(zip(self.label_names, row)))
