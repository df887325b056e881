"""Label-issue search at 100k training rows: seconds per stage (read, cross-validation, cleanlab).

Writes a CSV of ``--rows`` short review sentences to a temporary folder (the UCI sentences in
``/work/shared/data/uci_sentences`` with light, seeded variation — an opener, a closer, one
inserted word — or generated sentences when that folder is absent), flips 5% of its labels, and
runs what ``tui-lab analyze`` runs on a run's training rows: ``load_data`` on the file, then
:func:`tui_lab.core.analysis.label_issues.find_label_issues` (TF-IDF + logistic regression cross-validated
5-fold — twice up to 20,000 rows —, then ``cleanlab.filter.find_label_issues``). The share of flips found in the top
2x-that-many rows is printed too, and the process's CPU seconds beside the wall time: on a
shared machine the CPU time says what the work costs, the wall time what the load allowed.

Usage::

    python benchmarks/analysis_scale.py                 # 100,000 rows
    python benchmarks/analysis_scale.py --rows 20000
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

UCI = Path("/work/shared/data/uci_sentences")
OPENERS = ["", "", "Honestly, ", "Overall, ", "Well, ", "To be fair, ", "In short, "]
CLOSERS = ["", "", " Really.", " That's it.", " Just saying.", " Anyway."]
EXTRA = ["really", "very", "quite", "so", "truly", "just"]


def sentences() -> list[tuple[str, str]]:
    """(text, label) pairs to vary: the UCI sentences, or generated ones."""
    pairs: list[tuple[str, str]] = []
    for path in sorted(UCI.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            pairs += [(r["text"].strip(), "pos" if r["label"] == "1" else "neg") for r in csv.DictReader(fh)]
    if pairs:
        return pairs
    good, bad = ["great", "lovely", "superb"], ["awful", "poor", "boring"]
    things = ["film", "phone", "pizza", "hotel", "book"]
    return [
        (f"the {t} was {w}", lab) for t in things for ws, lab in ((good, "pos"), (bad, "neg")) for w in ws
    ]


def write_rows(path: Path, rows: int, seed: int = 0) -> set[int]:
    """Write ``rows`` varied sentences with 5% of the labels flipped; returns the flipped rows."""
    rng = random.Random(seed)
    base = sentences()
    flipped: set[int] = set(rng.sample(range(rows), rows // 20))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(("text", "label"))
        for i in range(rows):
            text, label = base[rng.randrange(len(base))]
            words = text.split()
            words.insert(rng.randrange(len(words) + 1), rng.choice(EXTRA))
            text = rng.choice(OPENERS) + " ".join(words) + rng.choice(CLOSERS)
            if i in flipped:
                label = "neg" if label == "pos" else "pos"
            writer.writerow((text, label))
    return flipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    from tui_lab.core.analysis.label_issues import find_label_issues
    from tui_lab.core.data.splits import load_data
    from tui_lab.core.settings import DataConfig

    with tempfile.TemporaryDirectory(prefix="tui-lab-analysis-") as tmp:
        path = Path(tmp) / "train.csv"
        flipped = write_rows(path, args.rows)
        start, cpu_start = time.perf_counter(), time.process_time()
        data = load_data(DataConfig(train=str(path), dev_fraction=0.1), 42)
        read = time.perf_counter() - start
        timings: dict[str, float] = {}
        issues = find_label_issues(data.train, data.label_names, timings=timings)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    in_train = {r for r in flipped if r in set(data.train.rows or [])}
    top = [i.row for i in issues[: 2 * len(in_train)]]
    found = len(set(top) & in_train) / max(len(in_train), 1)
    print(f"rows: {args.rows:,} ({len(data.train):,} train after the 10% dev split)")
    print(f"read + split (load_data):   {read:6.1f} s")
    print(f"cross-validation (5-fold):   {timings['cross_val']:6.1f} s")
    print(f"cleanlab ranking:           {timings['cleanlab']:6.1f} s")
    print(f"total:                      {total:6.1f} s wall, {cpu:.1f} s CPU (this process, all threads)")
    print(f"label issues: {len(issues):,}; flips found in the top 2x: {found:.1%}")


if __name__ == "__main__":
    main()
