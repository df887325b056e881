"""How far a classifier's confidence can be trusted: reliability bins, ECE, temperature scaling.

``expected_calibration_error`` is the usual 15-bin ECE (Guo et al., 2017): the confidences are
cut into equal-width bins and the gaps between each bin's mean confidence and its accuracy are
averaged, weighted by the bin's share of examples. ``fit_temperature`` finds the one scalar
``T`` that minimises the negative log-likelihood of ``softmax(logits / T)`` on dev (torch
LBFGS); it is saved beside the model as ``tui_lab_temperature`` and :class:`Predictor` divides
logits by it (``transformers.pipeline`` ignores the key, so its scores stay uncalibrated).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tui_lab.core.atomic import write_text_atomically
from tui_lab.core.deploy.predictor import TEMPERATURE_KEY
from tui_lab.core.tasks.metrics import softmax

N_BINS = 15


def _bin_index(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each confidence: (0, 1/n], (1/n, 2/n], ... (a confidence of 0 goes in the first)."""
    return np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)


def reliability(confidence: Any, correct: Any, n_bins: int = N_BINS) -> list[dict[str, float]]:
    """Each bin's range, example count, mean confidence and accuracy (empty bins: count 0)."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    which = _bin_index(conf, n_bins)
    bins = []
    for b in range(n_bins):
        inside = which == b
        n = int(inside.sum())
        bins.append(
            {
                "lower": b / n_bins,
                "upper": (b + 1) / n_bins,
                "count": n,
                "confidence": float(conf[inside].mean()) if n else 0.0,
                "accuracy": float(ok[inside].mean()) if n else 0.0,
            }
        )
    return bins


def expected_calibration_error(confidence: Any, correct: Any, n_bins: int = N_BINS) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over equal-width bins."""
    total = len(np.asarray(confidence))
    if total == 0:
        return 0.0
    bins = reliability(confidence, correct, n_bins)
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"]) for b in bins))


def nll(logits: Any, targets: Any, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the targets under ``softmax(logits / temperature)``."""
    p = softmax(logits, temperature)
    y = np.asarray(targets, dtype=np.int64)
    return float(-np.log(np.maximum(p[np.arange(len(y)), y], 1e-300)).mean()) if len(y) else 0.0


def fit_temperature(logits: Any, targets: Any, max_iter: int = 100) -> float:
    """The temperature that minimises dev NLL (LBFGS on log T, so T stays positive).

    Returns 1.0 for an empty split.
    """
    import torch

    y = torch.as_tensor(np.asarray(targets, dtype=np.int64))
    if len(y) == 0:
        return 1.0
    z = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0))


def save_temperature(model_dir: Any, temperature: float) -> None:
    """Add ``tui_lab_temperature`` to a model folder's ``config.json`` (atomically)."""
    import json
    from pathlib import Path

    path = Path(model_dir) / "config.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    saved[TEMPERATURE_KEY] = float(temperature)
    write_text_atomically(path, json.dumps(saved, indent=2, sort_keys=True) + "\n")
