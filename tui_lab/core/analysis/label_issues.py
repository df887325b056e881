"""Training rows whose given label is probably wrong, found with cleanlab.

Every training row gets an out-of-sample probability for each class: the TF-IDF (word and, up to
20,000 rows, character n-grams) + logistic
regression baseline is fitted ``folds`` times on the other folds (scikit-learn's
``cross_val_predict``), ``repeats`` times over differently shuffled folds (twice up to 20,000 rows), and the runs are
averaged (a steadier estimate than one pass: this found more planted flips in
``benchmarks/label_noise.py``). ``cleanlab.filter.find_label_issues`` (confident learning) then
picks the rows whose given label disagrees with those probabilities and ranks them by
self-confidence, the likeliest issue first. The vocabulary is learned once on every training
text (no labels involved), so only the classifier is refitted per fold.

With an ``encoder`` (a transformers model folder: a sentence encoder, or a run's ``best/``),
a second classifier is cross-validated the same way on its mean-pooled embeddings and the two
sets of probabilities are averaged: word counts and a pretrained encoder err differently, and
the average finds far more planted flips on short movie reviews (``benchmarks/label_noise.py``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tui_lab.core.data.splits import Split
from tui_lab.core.deploy.predictor import load_for_inference
from tui_lab.core.errors import ModelError
from tui_lab.core.models import adapters
from tui_lab.core.models.loading import TOKENIZER_FILES, auto_config, check_weights, first_line_of
from tui_lab.core.training.baseline import TOKEN_PATTERN, is_cjk, is_multilabel, multi_hot
from tui_lab.core.training.device import pick_device

FOLDS = 5
REPEATS = 2
REPEAT_LIMIT = 20_000  # more training rows than this: one pass, word n-grams only (steady already)


@dataclass(frozen=True)
class LabelIssue:
    """A training row whose label looks wrong.

    Attributes:
        row: 0-based data row of the training file.
        text: the text.
        label: the given label (labels joined with ``|`` for multi-label data).
        suggested: the label the out-of-sample probabilities favour.
        score: cleanlab's label quality (self-confidence: p(given label)); lower is likelier wrong.
    """

    row: int
    text: str
    label: str
    suggested: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


def _features(texts: list[str], chars: bool = True) -> Any:
    """TF-IDF of word 1-2-grams, with character 2-5-grams beside them (``chars``): the character
    n-grams catch misspellings and word forms, and found more planted flips
    (``benchmarks/label_noise.py``); Chinese/Japanese text: character 1-2-grams."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if is_cjk(texts):
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
    else:
        vec = TfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, max_features=200_000, token_pattern=TOKEN_PATTERN
        )
        if chars:
            from scipy.sparse import hstack

            pieces = TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, max_features=200_000
            )
            return hstack([vec.fit_transform(texts), pieces.fit_transform(texts)]).tocsr()
    return vec.fit_transform(texts)


def out_of_sample_probs(
    split: Split,
    n_labels: int,
    folds: int = FOLDS,
    repeats: int | None = None,
    seed: int = 42,
    n_jobs: int | None = None,
    features: Any = None,
    chars: bool = True,
) -> np.ndarray:
    """Cross-validated class probabilities ``(N, n_labels)`` of every row (one-vs-rest sigmoids
    for multi-label data), each from a baseline that never saw that row, averaged over
    ``repeats`` shufflings of the folds (default: 2, or 1 above ``REPEAT_LIMIT`` rows). ``features`` (e.g.
    embeddings) replace the TF-IDF vectors; the classifier is then a plain logistic regression.
    ``chars=False``: word n-grams only (the naive anchor of ``benchmarks/label_noise.py``); above
    ``REPEAT_LIMIT`` rows too (character n-grams help small sets most and cost 4x at 100k rows).

    Raises:
        ValueError: a class with fewer than two rows (no fold could hold it out).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier

    x = _features(split.texts, chars and len(split) <= REPEAT_LIMIT) if features is None else features
    multilabel = is_multilabel(split)
    clf: Any = LogisticRegression(max_iter=1000, C=10.0 if features is None else 1.0, random_state=seed)
    if multilabel:
        y = multi_hot(split.labels, n_labels)
        clf, k = OneVsRestClassifier(clf), min(folds, len(y))
    else:
        y = np.asarray(split.labels, dtype=np.int64)
        k = min(folds, min(Counter(y.tolist()).values()))
        if len(set(y.tolist())) < n_labels:
            raise ValueError("some labels have no training rows")
    if k < 2:
        raise ValueError("a class has fewer than two training rows")
    repeats = repeats or (REPEATS if len(y) <= REPEAT_LIMIT else 1)
    total = np.zeros((len(y), n_labels))
    for r in range(repeats):
        cv = (KFold if multilabel else StratifiedKFold)(k, shuffle=True, random_state=seed + r)
        total += cross_val_predict(clf, x, y, cv=cv, method="predict_proba", n_jobs=n_jobs)
    return total / repeats


def check_encoder(encoder: str) -> None:
    """Refuse, before any work, an encoder that cannot load: a file, a folder without
    ``config.json``, tokenizer files or safetensors weights, or a name that is neither a local
    folder nor a model the Hugging Face hub (or its cache) has.

    Raises:
        ModelError: the encoder cannot be used; the message says what to give instead.
    """
    path = Path(encoder).expanduser()
    way_out = "give a model folder (a sentence encoder) or best for the run's best/"
    if path.is_file():
        raise ModelError(f"the encoder {path} is a file; {way_out}.")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"the encoder {path} is not a model folder (no config.json); {way_out}.")
        if not any((path / name).is_file() for name in TOKENIZER_FILES):
            raise ModelError(
                f"the encoder {path} has no tokenizer files (tokenizer.json, vocab.txt...); {way_out}."
            )
        check_weights(path)
        return
    if encoder.startswith((".", "/", "~")) or encoder.count("/") > 1:
        raise ModelError(f"the encoder folder {path} does not exist; {way_out}.")
    try:
        auto_config(encoder, False)
    except ModelError:
        raise ModelError(
            f"the encoder '{encoder}' is not a local folder and could not be fetched from the Hugging "
            f"Face hub (offline, or no such model); {way_out}."
        ) from None


def embed_texts(model_dir: str, texts: list[str], batch_size: int = 64, max_length: int = 128) -> np.ndarray:
    """Mean-pooled last hidden states ``(N, hidden)`` of a transformers encoder, length-sorted batches.

    Raises:
        ModelError: the folder holds no loadable model.
    """
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    device = pick_device("auto", 0, world_size=1)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        if adapters.is_adapter_dir(model_dir):  # a LoRA run: the merged model's encoder
            model = load_for_inference(Path(model_dir), AutoConfig.from_pretrained(model_dir)).base_model
        else:
            model = AutoModel.from_pretrained(model_dir, use_safetensors=True)
        model = model.to(device).eval()
    except Exception as exc:
        raise ModelError(f"{model_dir} is not a loadable encoder: {first_line_of(exc)}.") from None
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(device)
            hidden = model(**batch).last_hidden_state  # (B, T, H)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out[idx] = ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().cpu().numpy()
    return out


def rank_issues(
    split: Split, probs: np.ndarray, label_names: list[str], limit: int | None = None
) -> list[LabelIssue]:
    """cleanlab's label issues among the rows of ``split``, likeliest first."""

    if is_multilabel(split):
        from cleanlab.multilabel_classification.filter import find_label_issues
        from cleanlab.multilabel_classification.rank import get_label_quality_scores

        labels = [list(v) for v in split.labels]
        order = find_label_issues(labels, probs, return_indices_ranked_by="self_confidence", n_jobs=1)
        scores = get_label_quality_scores(labels, probs)
        given = ["|".join(label_names[c] for c in sorted(v)) for v in labels]
        suggested = ["|".join(label_names[c] for c in np.flatnonzero(p >= 0.5)) for p in probs]
    else:
        from cleanlab.filter import find_label_issues

        y = np.asarray(split.labels, dtype=np.int64)
        order = find_label_issues(
            y, probs, return_indices_ranked_by="self_confidence", n_jobs=1
        )  # one process: cleanlab's default forks a pool, which can hang a process that has threads
        scores = probs[np.arange(len(y)), y]
        given = [label_names[i] for i in y]
        suggested = [label_names[i] for i in probs.argmax(axis=1)]
    rows = split.rows or []
    return [
        LabelIssue(rows[i], split.texts[i], given[i], suggested[i], float(scores[i]))
        for i in list(order)[:limit]
    ]


def find_label_issues(
    train: Split,
    label_names: list[str],
    seed: int = 42,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
    timings: dict[str, float] | None = None,
    encoder: str | None = None,
    model_probs: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[LabelIssue]:
    """Cross-validated baseline probabilities (averaged with an encoder's, if given), then
    cleanlab's ranking of the rows.

    ``model_probs`` is ``(positions, probabilities)``: the fine-tuned model's out-of-sample
    probabilities for some of the rows (those held out of its training as dev); for those rows
    they are averaged with the baseline's. ``timings`` (if given) gets the seconds of each stage
    (``cross_val``, ``embed``, ``cleanlab``).
    """
    start = time.perf_counter()
    say = progress or (lambda _line: None)
    say(f"cross-validating the TF-IDF baseline on {len(train):,} training rows…")
    probs = out_of_sample_probs(train, len(label_names), seed=seed)
    if encoder:
        mid = time.perf_counter()
        say(f"embedding {len(train):,} training rows with {encoder}…")
        emb = embed_texts(encoder, train.texts)
        probs = (probs + out_of_sample_probs(train, len(label_names), seed=seed, features=emb)) / 2
        if timings is not None:
            timings["embed"] = time.perf_counter() - mid
    if model_probs is not None:
        at, theirs = model_probs
        probs[at] = (probs[at] + theirs) / 2
    mid = time.perf_counter()
    say("ranking label issues (cleanlab)…")
    issues = rank_issues(train, probs, label_names, limit)
    if timings is not None:
        timings.update(cross_val=mid - start - timings.get("embed", 0.0), cleanlab=time.perf_counter() - mid)
    return issues
