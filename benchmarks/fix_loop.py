"""The fix loop: flip 20% of the training labels, train, fix the top label issues, train again.

For each seed, 20% of the training rows get another label (seeded). A model is trained on the
clean file and on the noisy file. The noisy file's label issues are ranked as ``tui-lab analyze``
ranks them (cross-validated TF-IDF + logistic regression, cleanlab's ``find_label_issues``,
likeliest first; when cleanlab flags fewer than K rows the rest follow by self-confidence, lowest
first). The top K rows are then reviewed with the true labels as the oracle: a row whose label was
flipped gets a ``relabel`` decision back to its true label, any other row a ``keep``. Decisions go
through the corrections file beside the noisy file (``core/data/corrections.py``), and the next
run applies them when it loads the data, as every run does. Dev accuracy (a clean dev file, the
best epoch's) is reported for clean, noisy and corrected training data, for K = 10% and 20%.

Usage::

    nice -n 10 python benchmarks/fix_loop.py                         # UCI sentences, tiny-bert, 1 seed
    nice -n 10 python benchmarks/fix_loop.py --seeds 3 --epochs 6
    nice -n 10 python benchmarks/fix_loop.py --data tui_lab/sample_data/sentiment/train.csv
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from label_noise import flip, read  # noqa: E402

from tui_lab.core.analysis.label_issues import out_of_sample_probs, rank_issues  # noqa: E402
from tui_lab.core.data import corrections  # noqa: E402
from tui_lab.core.data.splits import Split  # noqa: E402

UCI = Path("/work/shared/data/uci_sentences")
NOISE = 0.2
SHARES = (0.1, 0.2)


def load(paths: list[Path]) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts, label indices and label names of one or more text,label CSV files."""
    texts: list[str] = []
    labels: list[str] = []
    for path in paths:
        t, y, names = read(path)
        texts += t
        labels += [names[c] for c in y]
    names = sorted(set(labels))
    return texts, np.array([names.index(v) for v in labels]), names


def write(path: Path, texts: list[str], y: np.ndarray, names: list[str]) -> Path:
    """A text,label CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows((t, names[c]) for t, c in zip(texts, y, strict=True))
    return path


def train(train_file: Path, dev_file: Path, folder: Path, args: argparse.Namespace) -> tuple[float, str]:
    """Dev accuracy (best epoch) of a run on ``train_file``, and what the run noted on its data."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.loop import Trainer

    cfg = LabConfig()
    cfg.data.train, cfg.data.dev, cfg.data.max_length = str(train_file), str(dev_file), 64
    cfg.model.name, cfg.train.seed = args.model, args.train_seed
    cfg.train.epochs, cfg.train.batch_size, cfg.train.baseline = args.epochs, 32, False
    cfg.train.output_dir, cfg.train.run_name, cfg.train.tensorboard = (
        str(folder),
        train_file.parent.name,
        False,
    )
    result = Trainer(cfg, []).run()
    events = (Path(result.run_dir) / "events.jsonl").read_text(encoding="utf-8")
    said = next((line for line in events.splitlines() if "relabelled" in line), "")
    return float((result.best or {}).get("accuracy", float("nan"))), said


def ranked_rows(texts: list[str], noisy: np.ndarray, names: list[str]) -> tuple[list[int], int]:
    """Rows likeliest mislabelled first (cleanlab's flags, then self-confidence); how many flagged."""
    split = Split(texts, noisy.tolist())
    probs = out_of_sample_probs(split, len(names))
    flagged = [i.row for i in rank_issues(split, probs, names)]
    seen = set(flagged)
    own = probs[np.arange(len(noisy)), noisy]
    rest = [int(i) for i in np.argsort(own, kind="stable") if int(i) not in seen]
    return flagged + rest, len(flagged)


def fix(noisy_file: Path, folder: Path, order: list[int], k: int, texts, y, noisy, names) -> tuple[Path, int]:
    """A copy of the noisy file whose corrections file holds the oracle's decisions on the top
    ``k`` rows; how many of them were relabelled."""
    target = folder / noisy_file.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(noisy_file, target)
    path = corrections.default_path(target)
    fixed = 0
    for row in order[:k]:
        if noisy[row] != y[row]:
            record = corrections.decision(
                target, row, texts[row], "relabel", names[y[row]], names[noisy[row]]
            )
            fixed += 1
        else:
            record = corrections.decision(target, row, texts[row], "keep")
        corrections.append(path, record)
    return target, fixed


def one_seed(seed: int, texts, y, names, dev_file: Path, tmp: Path, args) -> dict[str, float]:
    """Clean, noisy and corrected dev accuracy for one flip of the labels."""
    noisy, flipped = flip(y, NOISE, seed)
    out: dict[str, float] = {}
    clean_file = write(tmp / f"clean{seed}" / "train.csv", texts, y, names)
    noisy_file = write(tmp / f"noisy{seed}" / "train.csv", texts, noisy, names)
    out["clean"], _ = train(clean_file, dev_file, tmp / "runs", args)
    out["noisy"], _ = train(noisy_file, dev_file, tmp / "runs", args)
    order, n_flagged = ranked_rows(texts, noisy, names)
    print(f"  seed {seed}: {len(flipped)} flipped, cleanlab flagged {n_flagged}", flush=True)
    for share in SHARES:
        k = int(round(share * len(texts)))
        target, fixed = fix(noisy_file, tmp / f"fix{seed}-{k}", order, k, texts, y, noisy, names)
        out[f"K={share:.0%}"], said = train(target, dev_file, tmp / "runs", args)
        out[f"fixed K={share:.0%}"] = fixed
        print(f"  seed {seed}, K={k}: {fixed} flips relabelled; the run said: {said[:160]}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", help="text,label CSVs (default: the three UCI sentence files)")
    parser.add_argument("--model", default="tiny-bert")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--train-seed", type=int, default=42)
    args = parser.parse_args()
    paths = [Path(p) for p in args.data] if args.data else sorted(UCI.glob("*.csv"))
    texts, y, names = load(paths)
    rng = np.random.default_rng(1234)
    order = rng.permutation(len(texts))
    n_dev = len(texts) // 5
    dev, tr = order[:n_dev], order[n_dev:]
    results: list[dict[str, float]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        dev_file = write(tmp / "dev" / "dev.csv", [texts[i] for i in dev], y[dev], names)
        tr_texts, tr_y = [texts[i] for i in tr], y[tr]
        for seed in range(args.seeds):
            results.append(one_seed(seed, tr_texts, tr_y, names, dev_file, tmp, args))
    report(results, len(tr), n_dev, args, time.perf_counter() - start)


def report(results: list[dict[str, float]], n_train: int, n_dev: int, args, seconds: float) -> None:
    """The markdown table of dev accuracies (mean over seeds) and the share of the loss recovered."""
    mean = {key: float(np.mean([r[key] for r in results])) for key in results[0]}
    print(
        f"\n{n_train} train / {n_dev} dev rows, {NOISE:.0%} of train flipped, {args.model}, "
        f"{args.epochs} epochs, {len(results)} seed(s), {seconds:.0f} s\n"
    )
    print("| training data | dev accuracy | flips relabelled | share of the noise's cost recovered |")
    print("|---|---:|---:|---:|")
    lost = mean["clean"] - mean["noisy"]
    print(f"| clean | {mean['clean']:.3f} | | |")
    print(f"| noisy ({NOISE:.0%} flipped) | {mean['noisy']:.3f} | | |")
    for share in SHARES:
        acc = mean[f"K={share:.0%}"]
        got = (acc - mean["noisy"]) / lost if lost > 0 else float("nan")
        print(f"| corrected, K = {share:.0%} | {acc:.3f} | {mean[f'fixed K={share:.0%}']:.0f} | {got:.0%} |")


if __name__ == "__main__":
    main()
