"""A hyperparameter search: ``tui-lab sweep`` against ``Trainer.hyperparameter_search(backend="optuna")``.

Both search the same space over the same split, from the same initial ``tiny-bert`` weights and
tokenizer (written once by :func:`train_throughput.prepare`), with the same number of trials and
the same TPE seed, on the CPU:

* ``tui-lab sweep``: as a user runs it, every default on (length-grouped batches, the TF-IDF
  baseline, checkpoints, events), one trial per worker process (``--parallel``, default 2 on this
  2-core box: torch threads = cores / workers), the median pruner on (``--pruner``);
* ``hf-search``: ``transformers.Trainer.hyperparameter_search(backend="optuna")`` with
  ``model_init``, evaluation every epoch, default ``TrainingArguments`` except what must match,
  texts tokenised once with ``datasets.map``; trials one after another in one process (how it runs).

The space: ``learning_rate`` log-uniform over [1e-4, 3e-3], ``batch_size`` in {16, 32},
``warmup_ratio`` uniform over [0, 0.2]; ``--epochs`` each. Printed: the wall time of the whole
search (processes started, data loaded, every trial, the end), the best dev accuracy, and their
ratios. ``--pruning`` adds ``tui-lab sweep --pruner none``: the trial-seconds pruning saved at an
equal best. ``--cold`` adds the same sweep with every worker a fresh interpreter (as before the
warm fork server): when the first trial's run starts, what a worker's first trial costs against a
later one, and the whole search's wall time, side by side. The best value is each tool's own: the sweep's best dev accuracy over the trial's
evaluations (its ``best/``), the HF search's objective after the last epoch (``compute_objective``).

Usage::

    python benchmarks/sweep_vs_trainer.py                              # sample_data/sentiment, 8 trials
    python benchmarks/sweep_vs_trainer.py --train ../shared/data/uci_sentences --trials 12 --pruning
    python benchmarks/sweep_vs_trainer.py --trials 8 --epochs 2 --cold     # warm against cold workers
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

SPACE = {"learning_rate": "1e-4..3e-3:log", "batch_size": "16,32", "warmup_ratio": "0..0.2"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--train",
        default="sample_data/sentiment",
        help="train file or folder (default: sample_data/sentiment)",
    )
    p.add_argument("--dev", default="", help="dev file (default: the folder's, else 10%% of train)")
    p.add_argument("--repeat-train", type=int, default=1, metavar="N", help="the training texts N times")
    p.add_argument("--epochs", type=int, default=3, help="epochs per trial (default 3)")
    p.add_argument("--trials", type=int, default=8, help="trials per search (default 8)")
    p.add_argument("--parallel", type=int, default=2, help="tui-lab sweep workers (default 2)")
    p.add_argument("--pruner", default="median", help="tui-lab sweep --pruner (default median)")
    p.add_argument("--seed", type=int, default=42, help="the TPE sampler's seed and the runs' (default 42)")
    p.add_argument("--pruning", action="store_true", help="also run tui-lab sweep --pruner none")
    p.add_argument("--only", default="", help="comma-separated subset of sweep,hf-search")
    p.add_argument(
        "--cold",
        action="store_true",
        help="also run the sweep with every worker a fresh interpreter (TUI_LAB_WARM_WORKERS=0)",
    )
    p.add_argument("--worker", default="", help=argparse.SUPPRESS)
    p.add_argument("--workdir", default="", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# == tui-lab sweep ================================================================================
def run_sweep(s: Any, args: argparse.Namespace, pruner: str, cold: bool = False) -> dict[str, Any]:
    """``tui-lab sweep`` in a subprocess; its ``--json`` summary plus the wall time.

    ``cold``: every worker a fresh interpreter (``TUI_LAB_WARM_WORKERS=0``), as before the fork
    server; otherwise the default, workers forked warm."""
    out = Path(s.workdir) / f"sweeps-{pruner}{'-cold' if cold else ''}"
    cmd = [
        sys.executable, "-m", "tui_lab", "sweep",
        "--model", s.init_dir, "--train", s.train_file, "--dev", s.dev_file,
        "--epochs", str(args.epochs), "--trials", str(args.trials), "--parallel", str(args.parallel),
        "--sampler", "tpe", "--pruner", pruner, "--seed", str(args.seed), "--metric", "accuracy",
        "--output-dir", str(out), "--json",
    ]  # fmt: skip
    for key, spec in SPACE.items():
        cmd += ["--search", f"{key}={spec}"]
    env = {**os.environ, "TUI_LAB_WARM_WORKERS": "0" if cold else "1"}
    started_at, start = time.time(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=s.workdir, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"tui-lab sweep failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    trials = summary["trials"]
    workers = f"{args.parallel} {'cold' if cold else 'warm'} workers"
    return {
        "name": f"tui-lab sweep (pruner {pruner}, {workers})",
        **first_trials(trials, started_at, args.parallel),
        "wall": wall,
        "best": summary["best"]["value"],
        "trial_seconds": sum(t.get("seconds") or 0 for t in trials),
        "states": _count(t["state"] for t in trials),
        "best_params": summary["best"]["params"],
    }


def first_trials(trials: list[dict[str, Any]], started_at: float, parallel: int) -> dict[str, Any]:
    """When the first trial's run started (seconds after the command), and what each worker's first
    trial cost against a later one (seconds from the worker taking the trial to its end)."""
    starts = []
    for t in trials:
        events = Path(t["run_dir"]) / "events.jsonl"
        with events.open(encoding="utf-8") as fh:
            starts.append((json.loads(fh.readline())["time"], t.get("seconds") or 0.0))
    starts.sort()
    first = [secs for _, secs in starts[:parallel]]
    later = [secs for _, secs in starts[parallel:]]
    return {
        "first_start": starts[0][0] - started_at,
        "first_trial_s": sum(first) / len(first),
        "later_trial_s": sum(later) / len(later) if later else None,
    }


def _count(states: Any) -> str:
    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


# == Trainer.hyperparameter_search ==================================================================
def hf_search(s: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The worker: ``Trainer.hyperparameter_search`` with Optuna; prints one JSON line."""
    import datasets
    import optuna
    import train_throughput as tt
    from transformers import (
        AutoModelForSequenceClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    tt.quiet_transformers()
    tokenizer, _ = tt.load_init(s)
    data = tt.load_split(s)

    def encode(split: Any) -> Any:
        ds = datasets.Dataset.from_dict({"text": split.texts, "label": split.labels})
        return ds.map(lambda b: tokenizer(b["text"], truncation=True, max_length=s.max_length), batched=True)

    def hp_space(trial: Any) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
            "per_device_train_batch_size": trial.suggest_categorical("batch_size", [16, 32]),
            "warmup_steps": trial.suggest_float("warmup_ratio", 0.0, 0.2),  # a fraction (transformers 5)
        }

    def accuracy(pred: Any) -> dict[str, float]:
        return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}

    targs = TrainingArguments(
        output_dir=str(Path(s.workdir) / "hf-search"),
        num_train_epochs=args.epochs,
        weight_decay=s.weight_decay,
        seed=args.seed,
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
    )
    trainer = Trainer(
        model_init=lambda *_: AutoModelForSequenceClassification.from_pretrained(s.init_dir),
        args=targs,
        train_dataset=encode(data.train),
        eval_dataset=encode(data.dev),
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=accuracy,
    )
    best = trainer.hyperparameter_search(
        hp_space=hp_space,
        compute_objective=lambda m: m["eval_accuracy"],
        n_trials=args.trials,
        direction="maximize",
        backend="optuna",
        sampler=optuna.samplers.TPESampler(seed=args.seed),
    )
    return {"best": best.objective, "best_params": best.hyperparameters}


def run_hf(s: Any, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", "hf-search", "--workdir", s.workdir,
           "--epochs", str(args.epochs), "--trials", str(args.trials), "--seed", str(args.seed)]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"hf-search failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "name": "Trainer.hyperparameter_search (optuna)",
        "wall": wall,
        "trial_seconds": None,
        "states": "",
        **out,
    }


# == the table =====================================================================================
def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| contender | wall s | first trial starts at s | first / later trial s | best dev accuracy "
        "| trial-seconds | trials |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ts = f"{r['trial_seconds']:.0f}" if r.get("trial_seconds") else "-"
        first = f"{r['first_start']:.1f}" if r.get("first_start") is not None else "-"
        cost = "-"
        if r.get("first_trial_s") is not None:
            later = f"{r['later_trial_s']:.1f}" if r.get("later_trial_s") is not None else "-"
            cost = f"{r['first_trial_s']:.1f} / {later}"
        lines.append(
            f"| {r['name']} | {r['wall']:.0f} | {first} | {cost} | {r['best']:.4f} | {ts} | {r['states'] or '-'} |"
        )
    return "\n".join(lines)


def ratios(results: list[dict[str, Any]]) -> list[str]:
    by = {r["key"]: r for r in results}
    lines = []
    if "sweep" in by and "hf-search" in by:
        a, b = by["sweep"], by["hf-search"]
        lines.append(
            f"wall time: hf-search / tui-lab sweep = {b['wall'] / a['wall']:.2f}x; "
            f"best dev accuracy: {100 * (a['best'] - b['best']):+.2f} points (sweep - hf)"
        )
    if "sweep" in by and "sweep-cold" in by:
        a, b = by["sweep"], by["sweep-cold"]
        lines.append(
            f"warm workers: the first trial starts {b['first_start'] - a['first_start']:.1f} s sooner "
            f"({a['first_start']:.1f} vs {b['first_start']:.1f} s), a worker's first trial takes "
            f"{a['first_trial_s']:.1f} s against {b['first_trial_s']:.1f} s, the whole search "
            f"{b['wall'] / a['wall']:.2f}x less wall time ({a['wall']:.0f} vs {b['wall']:.0f} s)"
        )
        if "hf-search" in by:
            lines.append(
                f"wall time: hf-search / cold tui-lab sweep = {by['hf-search']['wall'] / b['wall']:.2f}x"
            )
    if "sweep" in by and "sweep-none" in by and by["sweep-none"]["trial_seconds"]:
        a, b = by["sweep"], by["sweep-none"]
        lines.append(
            f"pruning saved {100 * (1 - a['trial_seconds'] / b['trial_seconds']):.0f}% of trial-seconds "
            f"({a['trial_seconds']:.0f} vs {b['trial_seconds']:.0f}); best {100 * (a['best'] - b['best']):+.2f} points"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import train_throughput as tt

    if args.worker == "hf-search":
        print(json.dumps(hf_search(tt.Settings.load(args.workdir), args)))
        return 0
    only = set(filter(None, args.only.split(","))) or {"sweep", "hf-search"}
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        workdir = Path(tmp)
        prep = argparse.Namespace(train=args.train, dev=args.dev, repeat_train=args.repeat_train,
                                  epochs=args.epochs, threads=0, ref="")  # fmt: skip
        s = tt.prepare(prep, workdir)
        print(f"data: {s.n_train} train, {s.n_dev} dev rows; {args.trials} trials of {args.epochs} epochs; "
              f"space {SPACE}; load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
        results = []
        if "sweep" in only:
            results.append({"key": "sweep", **run_sweep(s, args, args.pruner)})
            print(json.dumps(results[-1]), flush=True)
        if args.cold:
            results.append({"key": "sweep-cold", **run_sweep(s, args, args.pruner, cold=True)})
            print(json.dumps(results[-1]), flush=True)
        if "hf-search" in only:
            results.append({"key": "hf-search", **run_hf(s, args)})
            print(json.dumps(results[-1]), flush=True)
        if args.pruning:
            results.append({"key": "sweep-none", **run_sweep(s, args, "none")})
            print(json.dumps(results[-1]), flush=True)
        print(table(results))
        for line in ratios(results):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
