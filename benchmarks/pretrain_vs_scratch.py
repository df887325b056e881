"""Does masked-LM pretraining on in-domain text help a tiny-bert classifier? One run, one table.

On the UCI sentiment sentences (``amazon.csv``, ``imdb.csv``, ``yelp.csv``: 3,000 labelled
sentences), with fixed seeds:

1. a fixed split: 20% test, 10% dev, 70% train (stratified by nothing, shuffled by seed 0);
2. ``tui-lab pretrain`` of ``tiny-bert`` on the train and dev texts (the test texts are never
   seen, labels are ignored): its vocabulary is learned first, then ``--pretrain-epochs`` of MLM;
3. ``tui-lab train`` of a classifier, once from scratch (``--model tiny-bert``) and once from the
   pretraining run (``--model RUN_DIR``), with the same settings (learning rate, epochs, patience,
   batch size, max length, seed), for each of ``--seeds``.

It prints dev/test accuracy and macro-F1 of each fine-tune, the minutes each command took (wall
clock, process start included), and how long pretraining ran. Every command runs in its own
process, exactly as a user would type it.

Usage::

    python benchmarks/pretrain_vs_scratch.py                       # ~15-25 min on 2 busy cores
    python benchmarks/pretrain_vs_scratch.py --pretrain-epochs 5 --seeds 1   # a quick look
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path("/work/shared/data/uci_sentences")


def write_split(src: Path, out: Path) -> Path:
    """train/dev/test CSVs of the three files and ``pretrain.txt`` (train + dev texts)."""
    rows: list[tuple[str, str]] = []
    for name in ("amazon.csv", "imdb.csv", "yelp.csv"):
        with open(src / name, newline="", encoding="utf-8") as fh:
            rows += [(r["text"].strip(), r["label"]) for r in csv.DictReader(fh) if r["text"].strip()]
    random.Random(0).shuffle(rows)
    n_test, n_dev = len(rows) // 5, len(rows) // 10
    splits = {"test": rows[:n_test], "dev": rows[n_test : n_test + n_dev], "train": rows[n_test + n_dev :]}
    out.mkdir(parents=True, exist_ok=True)
    for split, part in splits.items():
        with open(out / f"{split}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(("text", "label"))
            w.writerows(part)
    texts = [t for t, _ in splits["train"] + splits["dev"]]
    (out / "pretrain.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    return out


def run(args: list[str]) -> tuple[dict, float]:
    """``tui-lab ARGS --json`` in a subprocess: (its JSON summary, wall seconds)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "tui_lab", *args, "--json"], capture_output=True, text=True, env=os.environ
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"tui-lab {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    p.add_argument("--pretrain-epochs", type=int, default=30)
    p.add_argument("--finetune-epochs", type=int, default=10)
    p.add_argument("--lr", default="1e-3", help="fine-tuning learning rate (both variants)")
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    a = p.parse_args()
    work = a.out or Path(tempfile.mkdtemp(prefix="pretrain-vs-scratch-"))
    data = write_split(a.data, work / "data")
    runs = str(work / "runs")
    common = ["--max-length", str(a.max_length), "--batch-size", "32", "--output-dir", runs]
    print(f"work folder {work}; load before: {os.getloadavg()[0]:.1f}", file=sys.stderr)

    pre, pre_s = run(
        ["pretrain", "--train", str(data / "pretrain.txt"), "--model", "tiny-bert", "--run-name", "mlm"]
        + ["--epochs", str(a.pretrain_epochs), "--set", "train.patience=0"]
        + common
    )
    report = json.loads((Path(pre["run_dir"]) / "report.json").read_text())
    print(f"pretrain: {pre}", file=sys.stderr)

    results: dict[str, list[tuple[dict, float]]] = {"scratch": [], "pretrained": []}
    for seed in a.seeds:
        for variant, model in (("scratch", "tiny-bert"), ("pretrained", pre["run_dir"])):
            summary, secs = run(
                ["train", "--train", str(data), "--model", model, "--run-name", f"{variant}-{seed}"]
                + ["--epochs", str(a.finetune_epochs), "--lr", a.lr, "--seed", str(seed), "--no-baseline"]
                + common
            )
            results[variant].append((summary, secs))
            print(f"{variant} seed {seed}: {summary['best']} test {summary['test']}", file=sys.stderr)

    print(
        f"\npretraining: {pre['epochs_completed']} epochs on {report.get('steps')} steps, "
        f"{report['train_seconds'] / 60:.1f} min of training ({pre_s / 60:.1f} min wall), "
        f"{pre['train_samples_per_second']:.0f} train samples/s, best dev perplexity "
        f"{pre['best']['perplexity']:.1f} (loss {pre['best']['loss']:.3f})"
    )
    print(f"{'fine-tune from':<16} {'seed':>4} {'dev acc':>8} {'test acc':>9} {'test F1':>8} {'minutes':>8}")
    for variant, rows in results.items():
        for seed, (s, secs) in zip(a.seeds, rows):
            print(
                f"{variant:<16} {seed:>4} {s['best']['accuracy']:>8.4f} {s['test']['accuracy']:>9.4f} "
                f"{s['test']['f1_macro']:>8.4f} {secs / 60:>8.2f}"
            )

        def mean(key: str, split: str, rows: list = rows) -> float:
            return statistics.mean(s[split][key] for s, _ in rows)

        print(
            f"{variant + ' (mean)':<16} {'':>4} {mean('accuracy', 'best'):>8.4f} "
            f"{mean('accuracy', 'test'):>9.4f} {mean('f1_macro', 'test'):>8.4f} "
            f"{statistics.mean(x for _, x in rows) / 60:>8.2f}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()
