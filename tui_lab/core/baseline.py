"""A TF-IDF + logistic regression baseline on the same split as the transformer.

Reported beside the fine-tuned model so a user sees whether the fine-tune was worth it. Word
unigrams and bigrams for space-separated languages; character n-grams when the texts are mostly
CJK (no spaces between words). Multi-label data (a list of label indices a row) gets one
logistic regression per label (one-vs-rest).
"""

from __future__ import annotations

import time
from typing import Any

from tui_lab.core.data import Split
from tui_lab.core.metrics import classification_metrics, multilabel_metrics, scalars


def _is_cjk(texts: list[str]) -> bool:
    sample = "".join(texts[:200])
    cjk = sum("\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in sample)
    return cjk > 0.3 * max(len(sample.replace(" ", "")), 1)


def _multi_hot(labels: list[Any], n_labels: int) -> Any:
    import numpy as np

    out = np.zeros((len(labels), n_labels), dtype=np.int64)
    for row, ids in enumerate(labels):
        out[row, list(ids)] = 1
    return out


def _is_multilabel(split: Split) -> bool:
    return any(isinstance(v, list) for v in split.labels)


def fit_baseline(train: Split, seed: int = 42, n_labels: int = 0) -> Any:
    """A fitted scikit-learn pipeline (TfidfVectorizer -> LogisticRegression, one-vs-rest for
    multi-label data, whose ``n_labels`` columns it predicts)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    if _is_cjk(train.texts):
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
    else:
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000)
    clf = LogisticRegression(max_iter=1000, C=10.0, random_state=seed)
    if _is_multilabel(train):
        return make_pipeline(vec, OneVsRestClassifier(clf)).fit(
            train.texts, _multi_hot(train.labels, n_labels)
        )
    return make_pipeline(vec, clf).fit(train.texts, train.labels)


def run_baseline(
    train: Split, dev: Split, test: Split | None, label_names: list[str], seed: int = 42
) -> dict[str, Any]:
    """Fit on train; metrics on dev (and test).

    Returns:
        ``{"dev": {...}, "test": {...} or None, "seconds": float}`` with scalar metrics.
    """
    start = time.perf_counter()
    model = fit_baseline(train, seed, len(label_names))
    multi = _is_multilabel(train)

    def score(split: Split) -> dict[str, float]:
        pred = model.predict(split.texts)
        if multi:
            return scalars(multilabel_metrics(_multi_hot(split.labels, len(label_names)), pred, label_names))
        return scalars(classification_metrics(split.labels, pred.tolist(), label_names))

    result: dict[str, Any] = {"dev": score(dev)}
    result["test"] = score(test) if test is not None and len(test) else None
    result["seconds"] = time.perf_counter() - start
    return result
