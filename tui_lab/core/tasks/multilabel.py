"""Multi-label text classification: any number of labels a text; sigmoid, BCE, one tuned threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tui_lab.core.tasks.classify import ClassifyTask
from tui_lab.core.tasks.metrics import MULTILABEL_METRIC_NAMES, multilabel_metrics, tune_threshold
from tui_lab.core.tasks.predictions import MultiLabelPrediction
from tui_lab.core.tasks.reports import multilabel_report

THRESHOLD_KEY = "tui_lab_threshold"  # the decision threshold, saved in best/config.json


class MultiLabelTask(ClassifyTask):
    """Tags of a support ticket, topics of an article: every label over the threshold applies.

    During training a label applies when its probability is at least 0.5; at the end of the run
    :meth:`calibrate` picks the one threshold that maximises dev micro-F1, which the test
    metrics, ``best/config.json`` (``tui_lab_threshold``) and predictions use.
    """

    name = "multilabel"
    default_metric = "f1_micro"
    metric_names = (*MULTILABEL_METRIC_NAMES, "loss")
    multilabel = True
    problem_type = "multi_label_classification"
    temperature_refusal = (
        "temperature scaling is for single-label models; a multi-label run's threshold is "
        "already tuned on dev at the end of training."
    )

    def __init__(self, label_names: list[str], threshold: float = 0.5) -> None:
        super().__init__(label_names)
        self.threshold = threshold

    @classmethod
    def from_model_config(cls, model_config: Any, label_names: list[str]) -> MultiLabelTask:
        """The task with the threshold saved beside the model (0.5 when there is none)."""
        return cls(label_names, float(getattr(model_config, THRESHOLD_KEY, 0.5) or 0.5))

    def targets(self, labels: Sequence[Any]) -> np.ndarray:
        """Lists of label indices as an ``(N, num_labels)`` float32 multi-hot array."""
        out = np.zeros((len(labels), len(self.label_names)), dtype=np.float32)
        for row, ids in enumerate(labels):
            out[row, list(ids)] = 1.0
        return out

    def loss(self, logits: Any, labels: Any) -> Any:
        """Mean binary cross-entropy over every (row, label); ``(B, C), (B, C) -> ()``."""
        import torch.nn.functional as F

        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())

    def outputs(self, logits: Any) -> Any:
        """Per-label probabilities ``(B, num_labels)`` (sigmoid) as a float32 CPU tensor."""
        import torch

        return torch.sigmoid(logits.float()).cpu()

    def metrics(self, targets: np.ndarray, outputs: np.ndarray) -> dict[str, Any]:
        """Micro/macro F1, subset accuracy, per-label scores at the threshold; BCE; the tuned threshold."""
        probs = np.asarray(outputs, dtype=np.float64).reshape(-1, len(self.label_names))
        y_true = np.asarray(targets, dtype=np.float64).reshape(-1, len(self.label_names))
        p = np.clip(probs, 1e-12, 1 - 1e-12)
        loss = float(-(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)).mean()) if len(p) else 0.0
        out = multilabel_metrics(y_true, probs >= self.threshold, self.label_names, loss)
        out["threshold"] = self.threshold
        out["tuned"] = dict(zip(("threshold", "f1_micro"), tune_threshold(y_true, probs)))
        return out

    def scores(self, logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """Each label's own probability (a sigmoid; temperature scaling is single-label only)."""
        return 1.0 / (1.0 + np.exp(-logits))

    def confidence(self, targets: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(confidence, correct) of every (row, label) call: said or not said at the threshold."""
        said = probs >= self.threshold
        return np.where(said, probs, 1 - probs).ravel(), (said == (targets > 0.5)).ravel()

    def calibrate(self, dev_metrics: dict[str, Any]) -> dict[str, Any]:
        """Adopt the threshold that maximised dev micro-F1; it is saved as ``tui_lab_threshold``."""
        self.threshold = float(dev_metrics["tuned"]["threshold"])
        return {THRESHOLD_KEY: self.threshold}

    def error_report(
        self, texts: Sequence[str], rows: Sequence[int], targets: np.ndarray, outputs: np.ndarray
    ) -> Any:
        """Per label: scores, and its false negatives, false positives and true positives."""

        return multilabel_report(list(texts), list(rows), targets, outputs, self.label_names, self.threshold)

    def decode(self, text: str, output: Sequence[float]) -> Any:
        """Every label at or over the threshold (most probable first) and every label's probability."""

        row = [float(p) for p in output]
        order = sorted(range(len(row)), key=lambda i: -row[i])
        chosen = [self.label_names[i] for i in order if row[i] >= self.threshold]
        top = order[0] if order else 0
        return MultiLabelPrediction(
            text=text,
            label="|".join(chosen),
            score=row[top] if row else 0.0,
            probabilities=dict(zip(self.label_names, row)),
            labels=chosen,
            threshold=self.threshold,
        )
