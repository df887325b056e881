"""A TF-IDF + logistic regression baseline on the same split as the transformer.

Reported beside the fine-tuned model so a user sees whether the fine-tune was worth it. Word
unigrams and bigrams for space-separated languages; character n-grams when the texts are mostly
CJK (no spaces between words).
"""

from __future__ import annotations

import time
from typing import Any

from tui_lab.core.data import Split
from tui_lab.core.metrics import classification_metrics, scalars


def _is_cjk(texts: list[str]) -> bool:
    sample = "".join(texts[:200])
    cjk = sum("\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in sample)
    return cjk > 0.3 * max(len(sample.replace(" ", "")), 1)


def fit_baseline(train: Split, seed: int = 42) -> Any:
    """A fitted scikit-learn pipeline (TfidfVectorizer -> LogisticRegression)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if _is_cjk(train.texts):
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
    else:
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000)
    clf = LogisticRegression(max_iter=1000, C=10.0, random_state=seed)
    return make_pipeline(vec, clf).fit(train.texts, train.labels)


def run_baseline(
    train: Split, dev: Split, test: Split | None, label_names: list[str], seed: int = 42
) -> dict[str, Any]:
    """Fit on train; metrics on dev (and test).

    Returns:
        ``{"dev": {...}, "test": {...} or None, "seconds": float}`` with scalar metrics.
    """
    start = time.perf_counter()
    model = fit_baseline(train, seed)
    result: dict[str, Any] = {
        "dev": scalars(classification_metrics(dev.labels, model.predict(dev.texts).tolist(), label_names))
    }
    result["test"] = (
        scalars(classification_metrics(test.labels, model.predict(test.texts).tolist(), label_names))
        if test is not None and len(test)
        else None
    )
    result["seconds"] = time.perf_counter() - start
    return result
