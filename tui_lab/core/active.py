"""Labelling the pool (active learning): which unlabelled texts the model is least sure of.

A pool (``data.pool``) is a file of unlabelled texts in any format the data readers take; it is
read with the distillation's reader of unlabelled texts. The run's best model scores it through
the core's one :class:`~tui_lab.core.deploy.predictor.Predictor`, and a strategy ranks it:

* ``margin``: the smallest gap between the two most probable classes first (multi-label: the
  label probability closest to 0.5);
* ``entropy``: the flattest distribution first (multi-label: the sum of the labels' binary
  entropies);
* ``random``: a seeded shuffle, the yardstick the others must beat;
* ``diverse`` (the default): the margin's top candidates clustered on the model's sentence
  embeddings (mean-pooled last hidden state) with k-means, the most uncertain of each cluster
  taken, so the top is not twenty near-copies.

Texts the corrections file already has a decision on (added, skipped, unusable) are left out.
No UI here: the Label screen and ``tui-lab suggest`` are faces on :func:`suggest`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tui_lab.core.errors import ConfigError, setting_ref
from tui_lab.core.jsonl import append_record, read_records

STRATEGIES = ("diverse", "margin", "entropy", "random")
POOL_ACTIONS = ("add", "skip", "unusable")  # decisions on pool texts, in the corrections file
CANDIDATES_PER_PICK = 5  # diverse: cluster the top K x 5 most uncertain texts into K clusters
MIN_CANDIDATES = 200

Progress = Callable[[int, int], None]  # (texts scored, texts in all)


@dataclass(frozen=True)
class Suggestion:
    """One pool text worth labelling.

    Attributes:
        row: the text's 0-based position among the pool's texts (empty lines are not counted).
        text: the text.
        predicted: the model's guess (multi-label: the labels at or over 0.5, joined by ``|``).
        confidence: the probability of that guess (multi-label: the highest label probability).
        score: how unsure the model is (higher: less sure; ``random``: the draw).
    """

    row: int
    text: str
    predicted: str
    confidence: float
    score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def read_pool(path: str, text_column: str = "") -> list[str]:
    """The texts of a pool file (``data.pool``), in file order, empty ones left out.

    Raises:
        ConfigError: no pool given.
        DataError: the file is missing, not UTF-8, lacks a text column, or has no text.
    """
    from tui_lab.core.distill.hooks import read_unlabeled

    if not path:
        raise ConfigError(f"{setting_ref('data.pool')} is empty; give a file of unlabelled texts.")
    return [str(t) for t in read_unlabeled(path, text_column, setting="data.pool")]


def decided_texts(corrections: str | Path | None) -> set[str]:
    """The pool texts a corrections file adds and its :func:`skipped_file` skips or marks
    unusable (an ``undo`` takes the latest decision on its file + row back; no file: none)."""
    if not corrections:
        return set()
    stacks: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for path in (Path(corrections), skipped_file(corrections)):
        lines = read_records(path).records if path.is_file() else []
        for line in (x for x in lines if isinstance(x, dict)):
            stack = stacks.setdefault((line.get("file"), line.get("row")), [])
            if line.get("action") == "undo":
                if stack:
                    stack.pop()
            else:
                stack.append(line)
    standing = (stack[-1] for stack in stacks.values() if stack)
    return {r["text"] for r in standing if r.get("action") in POOL_ACTIONS and isinstance(r.get("text"), str)}


def corrections_file(config: Any) -> Path | None:
    """The corrections file that a run of ``config`` reads and the Label screen writes: the
    explicit ``data.corrections``, else the training file's default (``None``: ``none`` or no file)."""
    from tui_lab.core.data import corrections

    value = (config.data.corrections or "").strip()
    if value.lower() == corrections.NONE:
        return None
    if value:
        return Path(value).expanduser()
    from tui_lab.core.data.files import resolve_sources
    from tui_lab.core.errors import LabError

    try:
        train = resolve_sources(config.data)["train"]
    except LabError:
        return None
    if not train or train.startswith("hf:"):
        return None
    return corrections.default_path(train, config.train.output_dir)


def skipped_file(corrections: str | Path) -> Path:
    """Where skip and unusable decisions on pool texts go: beside the corrections file
    (``train.csv.corrections.skipped.jsonl``), since they change no training example and a
    corrections file holds only relabel, drop, keep, add and undo lines."""
    path = Path(corrections)
    return path.with_name(path.name.removesuffix(".jsonl") + ".skipped.jsonl")


def record(
    path: str | Path, pool: str, row: int, text: str, action: str, label: Any = None
) -> dict[str, Any]:
    """Append one decision on a pool text (flushed, fsynced) and return it.

    ``add`` (with its label) goes to the corrections file ``path``: a new training example for
    the next run. ``skip`` and ``unusable`` go to :func:`skipped_file`: they only keep the text
    out of later suggestions.
    """
    from tui_lab.core.data import corrections

    if action == "add":
        line = corrections.decision(pool, row, text, "add", label)
        corrections.append(path, line)
        return line
    if action not in POOL_ACTIONS:
        raise ConfigError(f"'{action}' is no decision on a pool text; use one of {', '.join(POOL_ACTIONS)}.")
    line = corrections.decision(pool, row, text, "keep")  # the same fields and time stamp
    line["action"] = action
    append_record(skipped_file(path), line)
    return line


def uncertainty(probs: np.ndarray, strategy: str, multi_label: bool) -> np.ndarray:
    """How unsure the model is of each row (higher: less sure), by ``margin`` or ``entropy``."""
    p = np.clip(probs.astype(np.float64), 1e-12, 1.0)
    if multi_label:
        if strategy == "entropy":
            q = np.clip(1.0 - p, 1e-12, 1.0)
            return -(p * np.log(p) + q * np.log(q)).sum(axis=1)
        return 1.0 - 2.0 * np.abs(p - 0.5).min(axis=1)  # the label nearest 0.5
    if strategy == "entropy":
        return -(p * np.log(p)).sum(axis=1)
    if p.shape[1] < 2:
        return 1.0 - 2.0 * np.abs(p[:, 0] - 0.5)
    top2 = np.sort(p, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def rank(
    probs: np.ndarray,
    strategy: str,
    top: int,
    multi_label: bool = False,
    embed: Callable[[list[int]], np.ndarray] | None = None,
    seed: int = 0,
) -> tuple[list[int], np.ndarray]:
    """The ``top`` rows to label, best first, and every row's score.

    Args:
        probs: ``(N, labels)`` probabilities (softmax, or sigmoids for a multi-label model).
        strategy: one of :data:`STRATEGIES`.
        top: how many rows to pick.
        multi_label: the probabilities are independent sigmoids.
        embed: ``diverse`` only: the sentence embeddings of the given rows.
        seed: for ``random`` and the k-means step.
    """
    check_strategy(strategy)
    n, top = len(probs), min(top, len(probs))
    if strategy == "random":
        draw = np.random.default_rng(seed).random(n)
        return [int(i) for i in np.argsort(draw)[:top]], draw
    scores = uncertainty(probs, "entropy" if strategy == "entropy" else "margin", multi_label)
    order = np.argsort(-scores, kind="stable")
    if strategy != "diverse" or embed is None or top < 2:
        return [int(i) for i in order[:top]], scores
    pool = [int(i) for i in order[: min(n, max(top * CANDIDATES_PER_PICK, MIN_CANDIDATES))]]
    picks = _one_per_cluster(pool, scores, embed(pool), top, seed)
    rest = [i for i in order if i not in set(picks)][: top - len(picks)]
    return picks + [int(i) for i in rest], scores


def _one_per_cluster(
    rows: list[int], scores: np.ndarray, vectors: np.ndarray, k: int, seed: int
) -> list[int]:
    """The most uncertain row of each of ``k`` k-means clusters, most uncertain first."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.exceptions import ConvergenceWarning

    k = min(k, len(rows))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    x = vectors / np.maximum(norms, 1e-12)  # cosine geometry: k-means on unit vectors
    kind = MiniBatchKMeans if len(rows) > 2000 else KMeans
    with warnings.catch_warnings():  # near-copies make fewer distinct clusters than k: fine
        warnings.simplefilter("ignore", ConvergenceWarning)
        clusters = kind(n_clusters=k, n_init=3, random_state=seed).fit_predict(x)
    best: dict[int, int] = {}
    for row, cluster in zip(rows, clusters, strict=True):
        if cluster not in best or scores[row] > scores[best[cluster]]:
            best[cluster] = row
    return sorted(best.values(), key=lambda r: -scores[r])


def check_strategy(strategy: str) -> None:
    """Raises ConfigError when ``strategy`` is not one of :data:`STRATEGIES`."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got '{strategy}'.")


def score_pool(predictor: Any, texts: list[str], progress: Progress | None = None) -> np.ndarray:
    """Every text's probabilities from the predictor (the saved temperature applied)."""
    tick = (lambda done: progress(done, len(texts))) if progress else None
    logits = predictor.logits(texts, batch_size=64, progress=tick)
    if not predictor.multi_label:
        logits = logits / float(predictor.temperature or 1.0)
    return predictor.scores(logits)


def suggest(
    predictor: Any,
    texts: list[str],
    strategy: str = "diverse",
    top: int = 20,
    exclude: Iterable[str] = (),
    progress: Progress | None = None,
    seed: int = 0,
) -> list[Suggestion]:
    """The ``top`` pool texts to label next, best first.

    Args:
        predictor: a loaded :class:`~tui_lab.core.deploy.predictor.Predictor` (the run's best).
        texts: the pool's texts (:func:`read_pool`).
        strategy: one of :data:`STRATEGIES`.
        top: how many to suggest.
        exclude: texts already decided on (:func:`decided_texts`); they are not suggested.
        progress: told (texts scored, texts in all) after each batch.
        seed: for ``random`` and the k-means step.
    """
    check_strategy(strategy)
    skip = set(exclude)
    rows = [i for i, t in enumerate(texts) if t not in skip]
    if not rows:
        return []
    todo = [texts[i] for i in rows]
    if strategy == "random":  # the draw needs no model: score only the picks
        picks, scores = rank(np.zeros((len(todo), 1)), strategy, top, seed=seed)
        probs = dict(zip(picks, score_pool(predictor, [todo[i] for i in picks], progress), strict=True))
    else:
        probs = score_pool(predictor, todo, progress)
        embed = _embedder(predictor, todo) if strategy == "diverse" else None
        picks, scores = rank(probs, strategy, top, predictor.multi_label, embed, seed)
    return [_suggestion(predictor, rows[i], todo[i], probs[i], float(scores[i])) for i in picks]


def _embedder(predictor: Any, texts: list[str]) -> Callable[[list[int]], np.ndarray]:
    """Sentence embeddings of some of ``texts`` from the predictor's own PyTorch model."""

    def embed(rows: list[int]) -> np.ndarray:
        from tui_lab.core.analysis.label_issues import embed_texts

        source = Path(predictor.source)
        folder = source if source.is_dir() else source.parent
        return embed_texts(str(folder), [texts[i] for i in rows], max_length=predictor.max_length)

    return embed


def _suggestion(predictor: Any, row: int, text: str, p: np.ndarray, score: float) -> Suggestion:
    labels = predictor.labels
    if predictor.multi_label:
        said = [labels[j] for j in np.argsort(-p) if p[j] >= 0.5]
        return Suggestion(row, text, "|".join(said), float(p.max()), score)
    j = int(np.argmax(p))
    return Suggestion(row, text, labels[j], float(p[j]), score)


def run_config_of(run_dir: str | Path) -> Any:
    """The LabConfig a run used (the defaults when it cannot be read)."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.errors import LabError
    from tui_lab.core.training.runs import run_config

    try:
        return LabConfig.from_dict(run_config(run_dir))
    except LabError:
        return LabConfig()


def suggest_for_run(
    run_dir: str | Path,
    pool: str,
    strategy: str = "diverse",
    top: int = 20,
    corrections: str | None = None,
    progress: Progress | None = None,
    device: str = "cpu",
    text_column: str = "",
) -> list[Suggestion]:
    """:func:`suggest` with a run's best model on a pool file, leaving out the texts that the
    run's corrections file (or ``corrections``: a path, or ``none``) already decides on.
    ``text_column`` names the pool's text column (default: the usual names).

    Raises:
        LabError: a bad strategy, pool file or model folder (nothing is written).
    """
    from tui_lab.core.deploy.predictor import Predictor

    check_strategy(strategy)
    texts = read_pool(pool, text_column)
    config = run_config_of(run_dir)
    if corrections is not None:
        config.data.corrections = corrections
    predictor = Predictor.from_path(run_dir, device)
    return suggest(predictor, texts, strategy, top, decided_texts(corrections_file(config)), progress)
