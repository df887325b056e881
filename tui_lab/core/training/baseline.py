"""A TF-IDF + logistic regression baseline on the same split as the transformer.

Reported beside the fine-tuned model so a user sees whether the fine-tune was worth it. Word
unigrams and bigrams for space-separated languages (one-character words such as "1" count);
character n-grams when the texts are mostly CJK (no spaces between words). It learns from a
stratified sample of at most ``MAX_TRAIN_ROWS`` training rows, so it stays a side show at a
million rows, and it never takes a run down: any failure becomes ``{"skipped": reason}``.
Multi-label data (a list of label indices a row) gets one logistic regression per label
(one-vs-rest). A fitted baseline's metrics are kept in the project cache, keyed by the splits
and the seed (:func:`cached_baseline`), so a rerun on the same data, and every trial of a sweep,
reads them back instead of fitting again.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tui_lab.core.cache import get_text, put_text
from tui_lab.core.data.splits import Split, split_indices
from tui_lab.core.data.token_cache import content_key
from tui_lab.core.tasks.metrics import classification_metrics, multilabel_metrics, scalars

MAX_TRAIN_ROWS = 200_000
CACHE_KIND = "baselines"  # the project cache's sub-folder of fitted baselines' metrics
CACHE_VERSION = 1  # bump when the baseline's model or metrics change
TOKEN_PATTERN = r"(?u)\b\w+\b"  # scikit-learn's default drops one-character tokens


def is_cjk(texts: list[str]) -> bool:
    sample = "".join(texts[:200])
    cjk = sum("\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in sample)
    return cjk > 0.3 * max(len(sample.replace(" ", "")), 1)


def sample_train(train: Split, limit: int = MAX_TRAIN_ROWS, seed: int = 42) -> Split:
    """``train`` itself, or a stratified sample of ``limit`` of its rows (file order kept; the
    same rows every run, read back from the project cache after the first)."""
    if len(train) <= limit:
        return train
    from collections import Counter

    stratify = None
    if not is_multilabel(train):  # multi-label rows are sampled at random
        counts = Counter(train.labels)
        stratify = train.labels if min(counts.values()) >= 2 and limit >= len(counts) else None
    picked, _ = split_indices(len(train), stratify, len(train) - limit, seed)  # sklearn's train_size=limit
    return train.subset(picked.tolist())


def multi_hot(labels: list[Any], n_labels: int) -> Any:
    import numpy as np

    out = np.zeros((len(labels), n_labels), dtype=np.int64)
    for row, ids in enumerate(labels):
        out[row, list(ids)] = 1
    return out


def is_multilabel(split: Split) -> bool:
    return any(isinstance(v, list) for v in split.labels)


def fit_baseline(train: Split, seed: int = 42, n_labels: int = 0) -> Any:
    """A fitted scikit-learn pipeline (TfidfVectorizer -> LogisticRegression, one-vs-rest for
    multi-label data, whose ``n_labels`` columns it predicts)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    if is_cjk(train.texts):
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
    else:
        vec = TfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000, token_pattern=TOKEN_PATTERN
        )
    clf = LogisticRegression(max_iter=1000, C=10.0, random_state=seed)
    if is_multilabel(train):
        return make_pipeline(vec, OneVsRestClassifier(clf)).fit(
            train.texts, multi_hot(train.labels, n_labels)
        )
    return make_pipeline(vec, clf).fit(train.texts, train.labels)


def baseline_args(
    train: Split, dev: Split, test: Split | None, label_names: list[str], seed: int = 42
) -> tuple[Any, ...]:
    """The arguments of :func:`run_baseline` with train already cut to its sample, so a child
    process that fits it is sent at most ``MAX_TRAIN_ROWS`` training rows."""
    return sample_train(train, MAX_TRAIN_ROWS, seed), dev, test, label_names, seed, len(train)


def run_baseline(
    train: Split,
    dev: Split,
    test: Split | None,
    label_names: list[str],
    seed: int = 42,
    full_train_rows: int | None = None,
) -> dict[str, Any]:
    """Fit on (a sample of) train; metrics on dev (and test). Never raises.

    ``full_train_rows``: the size of the training split when ``train`` is already its sample
    (:func:`baseline_args`).

    Returns:
        ``{"dev": {...}, "test": {...} or None, "seconds": float, "train_rows": int,
        "sampled": bool}`` with scalar metrics (``train_rows``: the rows it learned from;
        ``sampled``: whether that is a sample of train), or ``{"skipped": "<one-line reason>",
        "seconds": float}`` when it could not be fitted or scored.
    """
    start = time.perf_counter()
    if not label_names:  # masked-LM pretraining: no labels to classify
        return {"skipped": "the data has no labels", "seconds": 0.0}
    if train.texts and not isinstance(train.texts[0], str):  # word lists: named-entity data
        return {"skipped": "a TF-IDF text classifier has no per-word (ner) form", "seconds": 0.0}
    try:
        fitted_on = sample_train(train, MAX_TRAIN_ROWS, seed)
        model = fit_baseline(fitted_on, seed, len(label_names))
        result: dict[str, Any] = {"dev": _score(model, dev, label_names), "test": None}
        if test is not None and len(test):
            result["test"] = _score(model, test, label_names)
    except Exception as exc:  # a side show: whatever goes wrong, the fine-tune carries on
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
        return {"skipped": reason or type(exc).__name__, "seconds": time.perf_counter() - start}
    full = len(train) if full_train_rows is None else full_train_rows
    result.update(
        seconds=time.perf_counter() - start, train_rows=len(fitted_on), sampled=len(fitted_on) < full
    )
    return result


def cached_baseline(
    train: Split,
    dev: Split,
    test: Split | None,
    label_names: list[str],
    seed: int = 42,
    full_train_rows: int | None = None,
) -> dict[str, Any]:
    """:func:`run_baseline`, read back from the project cache when the same splits were fitted
    with the same seed before (the result then says ``"cached": true``; its ``seconds`` are the
    original fit's). A skipped baseline is not stored: the next run tries again."""
    parts = [CACHE_VERSION, train.texts, train.labels, dev.texts, dev.labels, label_names, seed]
    parts += [test.texts, test.labels] if test is not None else [None]
    key = content_key(*parts, full_train_rows)
    stored = get_text(CACHE_KIND, key, ".json")
    if stored is not None:
        try:
            return {**json.loads(stored), "cached": True}
        except ValueError:  # a damaged entry: fit again
            pass
    result = run_baseline(train, dev, test, label_names, seed, full_train_rows)
    if "skipped" not in result:
        put_text(CACHE_KIND, key, ".json", json.dumps(result))
    return result


def _score(model: Any, split: Split, label_names: list[str]) -> dict[str, float]:
    pred = model.predict(split.texts)
    if is_multilabel(split):
        return scalars(multilabel_metrics(multi_hot(split.labels, len(label_names)), pred, label_names))
    return scalars(classification_metrics(split.labels, pred.tolist(), label_names))
