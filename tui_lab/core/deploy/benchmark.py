"""Measuring inference variants side by side: quality, latency at batch 1, throughput at batch 32.

Every variant is measured in the same process with the same thread count, and the rounds are
interleaved (a, b, c, a, b, c, ...) so a neighbour's load on a shared machine hits them alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui_lab.core.tasks.metrics import classification_metrics

ROUNDS = 5
LATENCY_CALLS = 20  # batch-1 calls per variant per round
THROUGHPUT_SAMPLES = 128  # texts per variant per round, in batches of 32
BATCH = 32


def quality(predictor: Any, texts: list[str], gold: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 of a predictor against gold label names."""

    index = {name: i for i, name in enumerate(predictor.labels)}
    y_pred = predictor.logits(texts).argmax(-1).tolist()
    y_true = [index.get(name, -1) for name in gold]
    m = classification_metrics(y_true, y_pred, predictor.labels)
    return {"accuracy": m["accuracy"], "f1_macro": m["f1_macro"]}


def _latencies(predictor: Any, texts: list[str], calls: int) -> list[float]:
    out = []
    for i in range(calls):
        t0 = time.perf_counter()
        predictor.logits([texts[i % len(texts)]])
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _throughput_round(predictor: Any, texts: list[str], samples: int) -> tuple[int, float, float]:
    """Texts done, wall seconds and process CPU seconds (the CPU time barely moves when neighbours
    load a shared machine, so its ratios hold where wall-clock ratios wander)."""
    pool = (texts * (samples // max(len(texts), 1) + 1))[:samples]
    t0, c0 = time.perf_counter(), time.process_time()
    predictor.logits(pool, batch_size=BATCH)
    return len(pool), time.perf_counter() - t0, time.process_time() - c0


def measure_variants(
    variants: dict[str, tuple[Any, Path]],
    texts: list[str],
    gold: list[str] | None,
    size_mb: Callable[[Path], float],
    rounds: int = ROUNDS,
) -> list[dict[str, Any]]:
    """One row per variant (the first is the reference for the deltas).

    Args:
        variants: name -> (predictor, path of its weights).
        texts: the texts to score and to time on.
        gold: their label names (None: no accuracy, e.g. a token classifier without tags).
        size_mb: size of a variant's weights from its path.
        rounds: interleaved timing rounds.
    """
    import numpy as np

    lat: dict[str, list[float]] = {name: [] for name in variants}
    done: dict[str, list[float]] = {name: [0, 0.0, 0.0] for name in variants}
    for predictor, _ in variants.values():
        predictor.logits(texts[:BATCH], batch_size=BATCH)  # warm-up
    for _ in range(rounds):
        for name, (predictor, _) in variants.items():
            lat[name] += _latencies(predictor, texts, LATENCY_CALLS)
            for i, value in enumerate(_throughput_round(predictor, texts, THROUGHPUT_SAMPLES)):
                done[name][i] += value
    rows = []
    for name, (predictor, path) in variants.items():
        q = quality(predictor, texts, gold) if gold is not None else {"accuracy": None, "f1_macro": None}
        rows.append(
            {
                "name": name,
                "path": str(path),
                "size_mb": size_mb(path),
                **q,
                "latency_ms_p50": round(float(np.percentile(lat[name], 50)), 3),
                "latency_ms_p95": round(float(np.percentile(lat[name], 95)), 3),
                "throughput_sps": round(done[name][0] / done[name][1], 1),
                "throughput_per_cpu_s": round(done[name][0] / max(done[name][2], 1e-9), 1),
            }
        )
    for row in rows:
        for key in ("accuracy", "f1_macro"):
            row[f"{key}_delta"] = None if gold is None else row[key] - rows[0][key]
    return rows
