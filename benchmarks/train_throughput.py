"""Training throughput: the core loop against ``transformers.Trainer`` and the tutorial loop.

Four contenders train the same ``tiny-bert`` on the same split, from the same initial weights
and tokenizer, with the same batch size, epochs, learning rate, schedule, clipping and seed:

* ``core``: the project's own loop, :class:`tui_lab.core.training.loop.Trainer` (its defaults:
  length-grouped batches padded per batch, fused AdamW, one evaluation and checkpoint per epoch);
* ``hf-trainer``: ``transformers.Trainer`` with default ``TrainingArguments`` except what must
  match, texts tokenised once with ``datasets.map`` and padded by ``DataCollatorWithPadding``;
* ``hf-trainer-group-by-length``: the same with length grouping (``group_by_length=True`` in
  transformers 4, ``train_sampling_strategy="group_by_length"`` in transformers 5);
* ``tutorial``: the classic loop: a ``Dataset`` that tokenises one text per ``__getitem__`` with
  ``padding="max_length"``, ``DataLoader(shuffle=True)``, ``torch.optim.AdamW``,
  ``get_linear_schedule_with_warmup`` and ``clip_grad_norm_``.

The parent process loads the data once with :func:`tui_lab.core.data.splits.load_data` (a folder
without ``train.*`` files, such as ``uci_sentences/``, is merged into one file first), writes the
split (training texts repeated ``--repeat-train`` times) and the initial model + tokenizer
(built with the core's preset functions, ``save_pretrained``) to a temporary folder, then runs
each contender in its own subprocess (``--worker NAME``) so that peak RSS is per contender. A
worker loads fresh copies with ``from_pretrained``, trains, evaluates its final weights with one
shared function (batched, ``torch.inference_mode()``) and prints one JSON line.

"Train seconds" is the training loop only: no model loading, no tokenisation done before the
loop, no evaluation. For the core it is the core's own figure (the time of its steps, without its
per-epoch evaluation and checkpoints), for the HF Trainer its own ``train_runtime`` (from the
start of its loop, after data loader and optimizer set-up), for the tutorial a stopwatch around
its loop. The whole ``Trainer.run()`` and ``Trainer.train()`` wall times are printed too.

Everything runs on the CPU (``CUDA_VISIBLE_DEVICES`` is emptied), in fp32.

Each run also records how much CPU other processes used meanwhile; on a shared machine a run
during which they used more than ``--busy`` cores is repeated after waiting for a quiet machine,
as other processes slow a 2-thread torch run far more than their share (up to 10x on 2 cores).

Usage::

    python benchmarks/train_throughput.py                        # sample_data/sentiment, 2 epochs
    python benchmarks/train_throughput.py --train /path/uci_sentences --epochs 1 --repeat-train 3
    python benchmarks/train_throughput.py --only core,tutorial --markdown
    python benchmarks/train_throughput.py --profile phases       # where a core step spends its time
    python benchmarks/train_throughput.py --per-task --markdown  # samples/s and tokens/s of every task
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONTENDERS = ("core", "hf-trainer", "hf-trainer-group-by-length", "tutorial", "core+baseline")
# where the TF-IDF baseline is fitted while the core trains (core+baseline: the default, a child
# process at nice 19); measured with --only core,core+baseline,core+baseline-idle,core+baseline-thread
PLACEMENTS = ("core+baseline-idle", "core+baseline-thread")
REF = "core-ref"  # the core of another checkout (--ref DIR): a before/after comparison in one run
REFERENCE = "hf-trainer"
RESULT_MARKER = "@@BENCH_RESULT "
SETTINGS_FILE = "settings.json"
INIT_DIR = "init"
EVAL_BATCH_SIZE = 64
DATA_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".pq")

# a CPU benchmark: the core would pick a GPU by itself while the HF contenders run with use_cpu
os.environ["CUDA_VISIBLE_DEVICES"] = ""
# nothing may download: every library reads local files only
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass
class Settings:
    """Everything a worker needs; the parent writes it as JSON into the work folder."""

    workdir: str
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_length: int = 128
    seed: int = 42
    threads: int = 0  # 0: torch's default
    preset: str = "tiny-bert"
    vocab_size: int = 8000
    n_train: int = 0
    n_dev: int = 0
    total_steps: int = 0
    warmup_steps: int = 0
    sources: dict[str, str] = dataclasses.field(default_factory=dict)
    ref: str = ""  # --ref: the other checkout whose core runs as core-ref

    @property
    def train_file(self) -> str:
        return str(Path(self.workdir) / "train.jsonl")

    @property
    def dev_file(self) -> str:
        return str(Path(self.workdir) / "dev.jsonl")

    @property
    def init_dir(self) -> str:
        return str(Path(self.workdir) / INIT_DIR)

    def save(self) -> None:
        (Path(self.workdir) / SETTINGS_FILE).write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, workdir: str) -> Settings:
        return cls(**json.loads((Path(workdir) / SETTINGS_FILE).read_text()))


# == the parent: data, initial weights, subprocesses, the table ====================================
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--train",
        "--data",
        dest="train",
        default="sample_data/sentiment",
        help="train file, a folder with train/dev files, or a folder of data files to merge "
        "(default: the repo's sample_data/sentiment)",
    )
    p.add_argument("--dev", default="", help="dev file (default: the folder's, else 10%% of train)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument(
        "--repeat-train",
        type=int,
        default=1,
        metavar="N",
        help="concatenate the training texts N times (a longer, steadier measurement)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="run every contender N times, interleaved, and report medians (default 3)",
    )
    p.add_argument(
        "--busy",
        type=float,
        default=0.25,
        metavar="CORES",
        help="a run during which other processes used more than CORES cores is contended: "
        "wait for a quiet machine and run it again (default 0.25)",
    )
    p.add_argument("--retries", type=int, default=3, help="reruns of a contended run (default 3)")
    p.add_argument(
        "--max-wait",
        type=float,
        default=300,
        metavar="S",
        help="seconds to wait for a quiet machine before each run (default 300)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch.set_num_threads in every worker (default: leave torch's default)",
    )
    p.add_argument(
        "--only",
        default="",
        help=f"comma-separated subset of {','.join(CONTENDERS)} (also: {','.join(PLACEMENTS)})",
    )
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--verbose", action="store_true", help="show the workers' stderr")
    p.add_argument("--keep", action="store_true", help="keep the work folder (runs, init model)")
    p.add_argument(
        "--profile",
        choices=("phases", "torch", "cprofile"),
        help="instead of the comparison, profile one core run: wall time per phase, "
        "torch.profiler op tables, or cProfile",
    )
    p.add_argument("--profile-steps", type=int, default=20, help="steps recorded by --profile torch")
    p.add_argument(
        "--ref",
        default="",
        metavar="DIR",
        help=f"another checkout of tui-lab (e.g. a git worktree of an older commit): adds '{REF}', its core "
        "run through the public Trainer API only, to compare before/after side by side",
    )
    p.add_argument(
        "--per-task",
        action="store_true",
        help="instead of the comparison, the core's throughput for every task (classify, multilabel, "
        "ner, pretrain...) on its sample set: samples/s and tokens/s",
    )
    p.add_argument("--tasks", default="", help="with --per-task: comma-separated subset of the tasks")
    p.add_argument(
        "--steps", type=int, default=60, help="with --per-task: optimiser steps per task (default 60)"
    )
    p.add_argument("--batch-size", type=int, default=32, help="with --per-task: batch size (default 32)")
    p.add_argument("--max-length", type=int, default=128, help="with --per-task: token limit (default 128)")
    p.add_argument("--worker", choices=CONTENDERS + PLACEMENTS + (REF, "floor"), help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if min(args.epochs, args.repeat_train, args.rounds) < 1 or min(args.threads, args.retries) < 0:
        p.error("--epochs, --repeat-train and --rounds must be at least 1; --threads, --retries at least 0")
    args.contenders = [c.strip() for c in args.only.split(",") if c.strip()] or list(CONTENDERS)
    unknown = sorted(set(args.contenders) - set(CONTENDERS + PLACEMENTS))
    if unknown:
        p.error(
            f"unknown contender(s) {', '.join(unknown)}; choose from {', '.join(CONTENDERS + PLACEMENTS)}"
        )
    if args.ref:
        core = Path(args.ref) / "tui_lab" / "core"
        if not ((core / "training" / "loop.py").exists() or (core / "train.py").exists()):
            p.error(f"--ref {args.ref} is not a tui-lab checkout (no tui_lab/core/training/loop.py)")
        args.contenders.append(REF)
    return args


def resolve_train_source(train: str, workdir: Path) -> tuple[str, str]:
    """``train`` as ``DataConfig.train`` takes it, and its description; loose files are merged first.

    A folder with ``train.*`` (and ``dev.*``) files goes to the core as it is. A folder without
    them (``uci_sentences/``: ``amazon.csv``, ``imdb.csv``, ``yelp.csv``) becomes one JSONL file
    of all its rows, so that ``load_data`` cuts the usual stratified dev split from it.
    """
    from tui_lab.core.data.checks import clean_rows, infer_columns
    from tui_lab.core.data.files import find_split_files, read_table

    path = Path(train).expanduser()
    if not path.exists() and not path.is_absolute() and (REPO / train).exists():
        path = REPO / train
    if not path.is_dir() or "train" in find_split_files(path):
        return str(path), str(path)
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)
    if not files:
        raise SystemExit(f"{path} has no data files")
    merged = workdir / "merged.jsonl"
    with merged.open("w", encoding="utf-8") as out:
        for file in files:
            table = read_table(str(file))
            text_col, label_col = infer_columns(table)
            texts, labels, _ = clean_rows(table, text_col, label_col, drop_empty=True)
            for text, label in zip(texts, labels, strict=True):
                out.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    return str(merged), f"{path} (merged: {', '.join(f.name for f in files)})"


def write_split(path: str, texts: list[str], labels: list[int], names: list[str]) -> None:
    """One JSONL split with label names (read back by ``load_data`` like any user file)."""
    with open(path, "w", encoding="utf-8") as out:
        for text, label in zip(texts, labels, strict=True):
            out.write(json.dumps({"text": text, "label": names[label]}, ensure_ascii=False) + "\n")


def prepare(args: argparse.Namespace, workdir: Path) -> Settings:
    """Write the split and the shared initial model + tokenizer; return the workers' settings."""
    from tui_lab.core.data.splits import load_data
    from tui_lab.core.models import loading
    from tui_lab.core.settings import DataConfig
    from tui_lab.core.training.prepare import seed_everything

    quiet_transformers()
    s = Settings(
        workdir=str(workdir),
        epochs=args.epochs,
        threads=args.threads,
        ref=str(Path(args.ref).resolve()) if args.ref else "",
    )
    source, described = resolve_train_source(args.train, workdir)
    bundle = load_data(DataConfig(train=source, dev=args.dev, max_length=s.max_length), s.seed)
    write_split(
        s.train_file,
        bundle.train.texts * args.repeat_train,
        bundle.train.labels * args.repeat_train,
        bundle.label_names,
    )
    write_split(s.dev_file, bundle.dev.texts, bundle.dev.labels, bundle.label_names)
    data = load_data(DataConfig(train=s.train_file, dev=s.dev_file, max_length=s.max_length), s.seed)
    # the core's own recipe for a from-scratch preset (tokenizer learned on the unrepeated texts)
    seed_everything(s.seed)
    tokenizer, model = loading.build(
        s.preset, bundle.train.texts, data.label_names, s.max_length, s.vocab_size
    )
    tokenizer.save_pretrained(s.init_dir)
    model.save_pretrained(s.init_dir)
    steps_per_epoch = -(-len(data.train) // s.batch_size)
    s.n_train, s.n_dev = len(data.train), len(data.dev)
    s.total_steps = steps_per_epoch * s.epochs
    s.warmup_steps = int(s.warmup_ratio * s.total_steps)  # the core's rounding, given to all as steps
    s.sources = {**bundle.sources, "repeat_train": str(args.repeat_train)}
    if source != described:
        s.sources["train"] = described
    s.save()
    return s


def run_worker(name: str, settings: Settings, verbose: bool) -> dict[str, Any]:
    """Run one contender in a fresh interpreter; its JSON result (or an ``error``)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--workdir", settings.workdir]
    env = dict(os.environ)
    if name == REF:  # the other checkout's tui_lab comes first on the path
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [settings.ref, env.get("PYTHONPATH", "")]))
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=None if verbose else subprocess.PIPE, text=True
    )
    wall = time.perf_counter() - started
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARKER)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-15:])
        return {
            "name": name,
            "error": f"exit {proc.returncode}",
            "stderr_tail": tail,
            "process_seconds": wall,
        }
    result = json.loads(lines[-1][len(RESULT_MARKER) :])
    result["process_seconds"] = wall
    return result


def summarize(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One contender over its rounds: medians of the uncontended runs (all runs if none was)."""
    done = [r for r in runs if "error" not in r]
    if not done:
        return {"name": name, "error": runs[0]["error"], "stderr_tail": runs[0]["stderr_tail"]}
    clean = [r for r in done if not r["contended"]]
    ok = clean or done
    med = lambda key: statistics.median(r[key] for r in ok)  # noqa: E731
    rates = [r["samples_per_second"] for r in ok]
    extras = [r["extra"] for r in ok]
    numeric = {k for k, v in extras[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {
        "name": name,
        "rounds": len(ok),
        "failed_runs": len(runs) - len(done),
        "contended_runs": len(done) - len(clean),
        "all_contended": not clean,
        "samples_per_second": med("samples_per_second"),
        "rate_min": min(rates),
        "rate_max": max(rates),
        "train_seconds": med("train_seconds"),
        "accuracy": med("accuracy"),
        "accuracies": sorted({round(r["accuracy"], 4) for r in ok}),
        "peak_rss_mb": med("peak_rss_mb"),
        "cpu_per_wall": med("cpu_per_wall"),
        "others_per_wall": max(r["others_per_wall"] for r in ok),
        "torch_threads": ok[0]["torch_threads"],
        "attn_implementation": ok[0]["attn_implementation"],
        "extra": {**extras[0], **{k: statistics.median(e[k] for e in extras) for k in numeric}},
    }


def format_table(results: list[dict[str, Any]], markdown: bool) -> str:
    """Contender, samples/s, ratio to hf-trainer, dev accuracy, peak RSS and train seconds."""
    ref = next((r for r in results if r["name"] == REFERENCE and "error" not in r), None)
    header = ["contender", "train samples/s", f"vs {REFERENCE}", "dev accuracy", "peak RSS MB", "train s"]
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["name"], "failed", "", "", "", ""])
            continue
        rate = f"{r['samples_per_second']:.0f}"
        if r["rounds"] > 1:
            rate += f" ({r['rate_min']:.0f}-{r['rate_max']:.0f})"
        ratio = f"{r['samples_per_second'] / ref['samples_per_second']:.2f}x" if ref else "n/a"
        acc = (
            f"{r['accuracy']:.4f}"
            if len(r["accuracies"]) == 1
            else f"{r['accuracy']:.4f} ({r['accuracies'][0]:.3f}-{r['accuracies'][-1]:.3f})"
        )
        rows.append([r["name"], rate, ratio, acc, f"{r['peak_rss_mb']:.0f}", f"{r['train_seconds']:.2f}"])
    if markdown:
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = lambda row: "  ".join(  # noqa: E731
        str(c).ljust(w) if i == 0 else str(c).rjust(w)
        for i, (c, w) in enumerate(zip(row, widths, strict=True))
    )
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(row) for row in rows])


def ratio_lines(results: list[dict[str, Any]]) -> list[str]:
    """``core / X: 1.23x`` for every other contender that finished."""
    ok = {r["name"]: r for r in results if "error" not in r}
    if "core" not in ok:
        return []
    core = ok["core"]["samples_per_second"]
    lines = [
        f"core / {name}: {core / ok[name]['samples_per_second']:.2f}x train samples/s"
        for name in (*CONTENDERS[1:], *PLACEMENTS, REF)
        if name in ok
    ]
    wall = ok["core"]["extra"]["run_wall_seconds"]
    for name in ("core+baseline", *PLACEMENTS):
        if name in ok:
            x = ok[name]
            lines.append(
                f"baseline cost ({name} vs core): train samples/s {x['samples_per_second'] / core - 1:+.1%}, "
                f"whole run wall {x['extra']['run_wall_seconds'] / wall - 1:+.1%} "
                f"(baseline fit {x['extra']['baseline_seconds']:.1f} s)"
            )
    if "core+baseline" in ok and REFERENCE in ok:
        lines.append(
            f"core with every default on (core+baseline) / {REFERENCE}: "
            f"{ok['core+baseline']['samples_per_second'] / ok[REFERENCE]['samples_per_second']:.2f}x train samples/s"
        )
    return lines


def header_lines(
    s: Settings, args: argparse.Namespace, results: list[dict[str, Any]], floor: dict[str, Any] | None
) -> list[str]:
    import torch
    import transformers

    ok = [r for r in results if "error" not in r]
    threads = sorted({r["torch_threads"] for r in ok}) or [torch.get_num_threads()]
    attn = sorted({str(r["attn_implementation"]) for r in ok}) or ["?"]
    out = [
        f"python {platform.python_version()}, torch {torch.__version__}, transformers "
        f"{transformers.__version__}, {platform.machine()} with {os.cpu_count()} CPUs; device cpu, fp32; "
        f"torch threads {'/'.join(map(str, threads))}{'' if s.threads else ' (default)'}; attention "
        f"{'/'.join(attn)}",
        f"data: train {s.sources.get('train')}, repeated x{s.sources.get('repeat_train')}; dev {s.sources.get('dev')}",
        f"      {s.n_train} train / {s.n_dev} dev texts; {s.total_steps} steps ({s.epochs} epoch(s))",
        f"settings: {s.preset} (same init weights and tokenizer for all), batch {s.batch_size}, "
        f"lr {s.learning_rate:g}, weight decay {s.weight_decay:g}, warmup {s.warmup_steps} steps "
        f"({s.warmup_ratio:g}), grad clip {s.max_grad_norm:g}, max_length {s.max_length}, seed {s.seed}",
        f"rounds: {args.rounds}, interleaved, each contender in its own process; samples/s = median "
        f"(min-max) of the uncontended runs",
    ]
    if floor and "error" not in floor:
        out.append(
            f"RSS floor (a worker that only imports and loads the init model): {floor['peak_rss_mb']:.0f} MB"
        )
    return out


def condition_lines(results: list[dict[str, Any]], busy: float) -> list[str]:
    """CPU use per contender: this loop's, and other processes' (which spoils a measurement)."""
    out = [
        "conditions (CPU-seconds per wall-second during the training loop: the contender's own, "
        "and the most other processes used in a kept run):"
    ]
    spoiled = []
    for r in results:
        if "error" in r:
            continue
        dropped = f", {r['contended_runs']} contended run(s) left out" if r["contended_runs"] else ""
        dropped += f", {r['failed_runs']} run(s) failed" if r["failed_runs"] else ""
        out.append(
            f"  {r['name']:<28} own {r['cpu_per_wall']:.2f} ({r['torch_threads']} threads), "
            f"others {r['others_per_wall']:.2f}{dropped}"
        )
        if r["all_contended"]:
            spoiled.append(r["name"])
    if spoiled:
        out.append(
            f"  WARNING: every run of {', '.join(spoiled)} shared the CPUs with other processes "
            f"(> {busy:g} cores): those figures are unreliable; rerun on a quiet machine."
        )
    return out


def core_notes(results: list[dict[str, Any]]) -> list[str]:
    """The core's train time measured three ways, and the HF Trainer's whole ``train()`` call."""
    out = [
        f"{r['name']}: own train_runtime {r['train_seconds']:.2f} s, whole Trainer.train() call "
        f"{r['extra']['train_call_seconds']:.2f} s (set-up and clean-up included)"
        for r in results
        if r["name"].startswith("hf-") and "error" not in r
    ]
    core = next((r for r in results if r["name"] == "core" and "error" not in r), None)
    if core is None:
        return out
    x = core["extra"]
    return out + [
        f"core, in detail: own train time {core['train_seconds']:.2f} s; its loop wall minus per-epoch "
        f"evaluation and checkpoints {x['loop_minus_eval_ckpt_seconds']:.2f} s "
        f"({x['loop_minus_eval_ckpt_samples_per_second']:.0f} samples/s); evaluation + checkpoints "
        f"{x['eval_ckpt_seconds']:.2f} s; whole Trainer.run() {x['run_wall_seconds']:.2f} s "
        f"({x['run_wall_samples_per_second']:.0f} samples/s, with data loading, tokenisation, model "
        f"loading, evaluation and checkpoints)",
    ]


def other_cores_in_use(seconds: float = 1.0) -> float:
    """Cores busy over ``seconds`` while this process sleeps: other processes' load."""
    import psutil

    return psutil.cpu_percent(interval=seconds) / 100 * (os.cpu_count() or 1)


def wait_for_quiet(busy: float, max_wait: float) -> float:
    """Wait (up to ``max_wait`` seconds) until other processes use at most ``busy`` cores."""
    deadline = time.monotonic() + max_wait
    used = other_cores_in_use()
    told = False
    while used > busy and time.monotonic() < deadline:
        if not told:
            print(f"    the machine is busy ({used:.2f} cores used by others); waiting...", file=sys.stderr)
            told = True
        time.sleep(4)
        used = other_cores_in_use()
    return used


def measure(name: str, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """One run of a contender on a quiet machine; rerun (``--retries``) while it was contended."""
    for attempt in range(args.retries + 1):
        wait_for_quiet(args.busy, args.max_wait)
        r = run_worker(name, settings, args.verbose)
        if "error" in r:
            print(f"    {name}: failed ({r['error']})", file=sys.stderr)
            return r
        r["contended"] = r["others_per_wall"] > args.busy
        note = f" (contended: others used {r['others_per_wall']:.2f} cores)" if r["contended"] else ""
        print(f"    {name}: {r['samples_per_second']:.1f} samples/s{note}", file=sys.stderr)
        if not r["contended"] or attempt == args.retries:
            return r
    raise AssertionError("unreachable")


def compare(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="tui-lab-bench-") as tmp:
        workdir = Path(tmp)
        settings = prepare(args, workdir)
        print(
            f"work folder {workdir}; {args.rounds} round(s) of {', '.join(args.contenders)}", file=sys.stderr
        )
        floor = run_worker("floor", settings, args.verbose)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.contenders}
        for round_no in range(1, args.rounds + 1):
            print(f"  round {round_no}", file=sys.stderr)
            for name in args.contenders:
                runs[name].append(measure(name, settings, args))
        results = [summarize(name, rs) for name, rs in runs.items()]
        print("\n".join(header_lines(settings, args, results, floor)))
        print()
        print(format_table(results, args.markdown))
        print()
        for line in ratio_lines(results) + core_notes(results) + condition_lines(results, args.busy):
            print(line)
        for r in results:
            if "error" in r:
                print(f"\n{r['name']} failed ({r['error']}):\n{r['stderr_tail']}")
        if args.keep:
            keep = Path(tempfile.mkdtemp(prefix="tui-lab-bench-kept-"))
            shutil.copytree(workdir, keep, dirs_exist_ok=True)
            print(f"\nwork folder kept in {keep}")
        return 1 if any("error" in r for r in results) else 0


# == the workers ===================================================================================
@dataclass
class Trained:
    """A contender's final model, its training time, and the CPU time/wall time of its loop."""

    model: Any
    seconds: float
    cpu_per_wall: float
    others_per_wall: float
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


def busy_cpu_seconds() -> float:
    """CPU-seconds the whole machine has spent busy (steal included: the hypervisor's share)."""
    import psutil

    t = psutil.cpu_times()
    return (
        t.user
        + t.nice
        + t.system
        + getattr(t, "irq", 0.0)
        + getattr(t, "softirq", 0.0)
        + getattr(t, "steal", 0.0)
    )


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """A block's wall seconds, this process's CPU seconds (all threads) and everyone else's.

    Yields ``{"wall", "cpu", "others"}`` (filled in when the block ends): ``others`` is the CPU
    time of every other process on the machine meanwhile, the measure of a contended run.
    """
    took: dict[str, float] = {}
    wall, cpu, busy = time.perf_counter(), tree_cpu_seconds(), busy_cpu_seconds()
    try:
        yield took
    finally:
        took["wall"] = time.perf_counter() - wall
        took["cpu"] = tree_cpu_seconds() - cpu
        took["others"] = max(0.0, busy_cpu_seconds() - busy - took["cpu"])


def tree_cpu_seconds() -> float:
    """CPU-seconds of this process and its children (the core's baseline child is its own work)."""
    import psutil

    total = time.process_time()
    times = os.times()
    total += times.children_user + times.children_system  # children already waited for
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def load_init(s: Settings) -> tuple[Any, Any]:
    """Fresh copies of the shared initial tokenizer and model."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoTokenizer.from_pretrained(s.init_dir), AutoModelForSequenceClassification.from_pretrained(
        s.init_dir
    )


def load_split(s: Settings) -> Any:
    from tui_lab.core.data.splits import load_data
    from tui_lab.core.settings import DataConfig

    return load_data(DataConfig(train=s.train_file, dev=s.dev_file, max_length=s.max_length), s.seed)


def evaluate(model: Any, tokenizer: Any, texts: list[str], labels: list[int], max_length: int) -> float:
    """Dev accuracy of a model: the same batched, inference-mode function for every contender."""
    import torch

    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(texts), EVAL_BATCH_SIZE):
            enc = tokenizer(
                texts[start : start + EVAL_BATCH_SIZE],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            pred = model(**enc).logits.argmax(dim=-1).tolist()
            correct += sum(
                int(p == y) for p, y in zip(pred, labels[start : start + EVAL_BATCH_SIZE], strict=True)
            )
    return correct / max(1, len(texts))


def timed_hooks() -> Any:
    """Stopwatches around the core's loop and its evaluation/checkpoints, through its hooks."""
    from tui_lab.core.training.hooks import Hooks

    class TimedHooks(Hooks):
        """Stopwatches around the core's loop and its evaluation/checkpoints, through its hooks."""

        def __init__(self) -> None:
            self.loop_seconds = self.loop_cpu_seconds = self.loop_others_seconds = 0.0
            self.side_seconds = 0.0
            self._depth = 0

        @contextmanager
        def phase(self, name: str) -> Iterator[None]:
            if name == "train_loop":
                took: dict[str, float] = {}
                try:
                    with stopwatch() as took:
                        yield
                finally:
                    self.loop_seconds += took.get("wall", 0.0)
                    self.loop_cpu_seconds += took.get("cpu", 0.0)
                    self.loop_others_seconds += took.get("others", 0.0)
                return
            self._depth += 1
            start = time.perf_counter()
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and name != "finish":
                    self.side_seconds += time.perf_counter() - start

    return TimedHooks()


def core_config(s: Settings, output_dir: str) -> Any:
    """The core's config for this benchmark: its defaults, with the shared init and settings."""
    from tui_lab.core.config import LabConfig

    cfg = LabConfig()
    cfg.data.train, cfg.data.dev, cfg.data.max_length = s.train_file, s.dev_file, s.max_length
    cfg.model.name = s.init_dir  # a local HF folder: same weights and tokenizer as the others
    tc = cfg.train
    tc.epochs, tc.batch_size, tc.learning_rate = s.epochs, s.batch_size, s.learning_rate
    tc.weight_decay, tc.warmup_ratio, tc.max_grad_norm, tc.seed = (
        s.weight_decay,
        s.warmup_ratio,
        s.max_grad_norm,
        s.seed,
    )
    tc.eval_steps, tc.patience, tc.baseline = 0, 0, False
    tc.output_dir, tc.run_name = output_dir, "core"
    return cfg


def train_core(s: Settings, baseline: str = "") -> Trained:
    """The core with its defaults; ``baseline``: fit the TF-IDF baseline too, ``"nice"`` (the
    default placement: a child process at nice 19), ``"idle"`` (SCHED_IDLE) or ``"thread"``."""
    from transformers import AutoModelForSequenceClassification

    from tui_lab.core.models import checkpoint
    from tui_lab.core.training import background, runlog

    runs = Path(s.workdir) / f"core-runs-{os.getpid()}"  # one per worker: rounds share the work folder
    from tui_lab.core.training.loop import Trainer

    trainer = timed_hooks()
    config = core_config(s, str(runs))
    config.train.baseline = bool(baseline)
    if baseline == "idle":
        background.CHILD_PRIORITY = "idle"
    if baseline == "thread":
        start = runlog.RunLog.start_baseline
        runlog.RunLog.start_baseline = lambda log, target, args, beside: start(log, target, args, True)
    started = time.perf_counter()
    result = Trainer(config, hooks=[trainer]).run()
    wall = time.perf_counter() - started
    train_seconds = float(result.report.get("train_seconds") or 0.0)
    samples = s.n_train * s.epochs
    loop_only = trainer.loop_seconds - trainer.side_seconds
    last = checkpoint.resolve(Path(result.run_dir) / "last")
    model = AutoModelForSequenceClassification.from_pretrained(str(last))
    shutil.rmtree(runs, ignore_errors=True)
    loop = trainer.loop_seconds or 1.0
    return Trained(
        model,
        train_seconds,
        trainer.loop_cpu_seconds / loop,
        trainer.loop_others_seconds / loop,
        {
            "core_reported_samples_per_second": result.train_samples_per_second,
            "loop_minus_eval_ckpt_seconds": loop_only,
            "loop_minus_eval_ckpt_samples_per_second": samples / loop_only if loop_only else 0.0,
            "eval_ckpt_seconds": trainer.side_seconds,
            "run_wall_seconds": wall,
            "run_wall_samples_per_second": samples / wall,
            "best_dev": result.best,
            "status": result.status,
            "baseline_seconds": (result.baseline or {}).get("seconds", 0.0),
        },
    )


def hf_sampling_kwargs(group_by_length: bool) -> dict[str, Any]:
    """Length grouping as this transformers version spells it (renamed in transformers 5)."""
    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    if "train_sampling_strategy" in names:
        return {"train_sampling_strategy": "group_by_length" if group_by_length else "random"}
    return {"group_by_length": group_by_length}


def train_hf(s: Settings, group_by_length: bool) -> Trained:
    import datasets
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    tokenizer, model = load_init(s)
    data = load_split(s)
    ds = datasets.Dataset.from_dict({"text": data.train.texts, "label": data.train.labels})
    ds = ds.map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=s.max_length),
        batched=True,
        remove_columns=["text"],
    )
    if group_by_length:  # precomputed lengths, the documented way (see the README on what v5 does)
        ds = ds.map(lambda b: {"length": [len(x) for x in b["input_ids"]]}, batched=True)
    args = TrainingArguments(
        output_dir=str(Path(s.workdir) / ("hf-group" if group_by_length else "hf")),
        num_train_epochs=s.epochs,
        per_device_train_batch_size=s.batch_size,
        learning_rate=s.learning_rate,
        weight_decay=s.weight_decay,
        warmup_steps=s.warmup_steps,
        max_grad_norm=s.max_grad_norm,
        seed=s.seed,
        report_to="none",
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        use_cpu=True,
        **hf_sampling_kwargs(group_by_length),
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=ds,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    with stopwatch() as took:
        out = trainer.train()
    # HF's own train_runtime starts after the dataloader, optimizer and accelerate set-up, at the
    # loop, like the core's own figure; the whole train() call is kept as an extra
    seconds = float(out.metrics.get("train_runtime") or took["wall"])
    return Trained(
        trainer.model,
        seconds,
        took["cpu"] / took["wall"],
        took["others"] / took["wall"],
        {"train_call_seconds": took["wall"], "optim": str(args.optim), "steps": out.global_step},
    )


def train_tutorial(s: Settings) -> Trained:
    """The loop of countless tutorials, as written there."""
    import torch
    from torch.utils.data import DataLoader, Dataset
    from transformers import get_linear_schedule_with_warmup

    tokenizer, model = load_init(s)
    data = load_split(s)

    class TextDataset(Dataset):
        def __init__(self, texts: list[str], labels: list[int]) -> None:
            self.texts, self.labels = texts, labels

        def __len__(self) -> int:
            return len(self.texts)

        def __getitem__(self, i: int) -> dict[str, Any]:
            enc = tokenizer(
                self.texts[i],
                padding="max_length",
                truncation=True,
                max_length=s.max_length,
                return_tensors="pt",
            )
            item = {k: v.squeeze(0) for k, v in enc.items()}
            item["labels"] = torch.tensor(self.labels[i], dtype=torch.long)
            return item

    torch.manual_seed(s.seed)
    loader = DataLoader(
        TextDataset(data.train.texts, data.train.labels), batch_size=s.batch_size, shuffle=True
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.learning_rate, weight_decay=s.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, s.warmup_steps, len(loader) * s.epochs)
    model.train()
    with stopwatch() as took:
        for _ in range(s.epochs):
            for batch in loader:
                loss = model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), s.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
    return Trained(model, took["wall"], took["cpu"] / took["wall"], took["others"] / took["wall"])


def train_core_ref(s: Settings) -> Trained:
    """The other checkout's core through its public API: ``Trainer(config).run()`` and its report."""
    from transformers import AutoModelForSequenceClassification

    try:
        from tui_lab.core.models import checkpoint
        from tui_lab.core.training.loop import Trainer
    except ImportError:  # a checkout from before the core was laid out by stage
        from tui_lab.core.train import Trainer  # type: ignore[no-redef]

        from tui_lab.core import checkpoint  # type: ignore[no-redef]

    runs = Path(s.workdir) / f"core-ref-runs-{os.getpid()}"
    with stopwatch() as took:
        result = Trainer(core_config(s, str(runs))).run()
    last = checkpoint.resolve(Path(result.run_dir) / "last")
    model = AutoModelForSequenceClassification.from_pretrained(str(last))
    shutil.rmtree(runs, ignore_errors=True)
    train_seconds = float(result.report.get("train_seconds") or 0.0)
    return Trained(
        model,
        train_seconds,
        took["cpu"] / took["wall"],
        took["others"] / took["wall"],
        {"core_reported_samples_per_second": result.train_samples_per_second, "status": result.status},
    )


TRAINERS: dict[str, Callable[[Settings], Trained]] = {
    "core": train_core,
    "core+baseline": lambda s: train_core(s, "nice"),
    "core+baseline-idle": lambda s: train_core(s, "idle"),
    "core+baseline-thread": lambda s: train_core(s, "thread"),
    REF: train_core_ref,
    "hf-trainer": lambda s: train_hf(s, group_by_length=False),
    "hf-trainer-group-by-length": lambda s: train_hf(s, group_by_length=True),
    "tutorial": train_tutorial,
}


def quiet_transformers() -> None:
    """No info logs or progress bars from transformers (save_pretrained draws one)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def worker(name: str, workdir: str) -> int:
    """Train one contender, evaluate it, print one JSON line."""
    import torch
    import transformers

    quiet_transformers()
    s = Settings.load(workdir)
    if s.threads:
        torch.set_num_threads(s.threads)
    if name == "floor":  # what any worker costs before training: imports plus one model
        load_init(s)
        print(RESULT_MARKER + json.dumps({"name": name, "peak_rss_mb": peak_rss_mb()}), flush=True)
        return 0
    trained = TRAINERS[name](s)
    rss_after_train = peak_rss_mb()
    dev = load_split(s).dev
    tokenizer = transformers.AutoTokenizer.from_pretrained(s.init_dir)
    accuracy = evaluate(trained.model, tokenizer, dev.texts, dev.labels, s.max_length)
    result = {
        "name": name,
        "train_seconds": trained.seconds,
        "samples_per_second": s.n_train * s.epochs / trained.seconds,
        "accuracy": accuracy,
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_after_train_mb": rss_after_train,
        "cpu_per_wall": trained.cpu_per_wall,
        "others_per_wall": trained.others_per_wall,
        "torch_threads": torch.get_num_threads(),
        "attn_implementation": getattr(trained.model.config, "_attn_implementation", None),
        "extra": trained.extra,
    }
    print(RESULT_MARKER + json.dumps(result, default=str), flush=True)
    return 0


# == profiling the core ===========================================================================
def profile_core(args: argparse.Namespace) -> int:
    """Run the core once on the prepared data, instrumented (see ``_core_profile.py``)."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _core_profile

    with tempfile.TemporaryDirectory(prefix="tui-lab-profile-") as tmp:
        s = prepare(args, Path(tmp))
        if args.threads:
            torch.set_num_threads(args.threads)
        print(
            f"profiling the core ({args.profile}): {s.n_train} train texts, {s.total_steps} steps, "
            f"torch threads {torch.get_num_threads()}, torch {torch.__version__}\n"
        )
        _core_profile.profile(core_config(s, str(Path(tmp) / "core-runs")), args.profile, args.profile_steps)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        if not args.workdir:
            raise SystemExit("--worker needs --workdir")
        return worker(args.worker, args.workdir)
    if args.profile:
        return profile_core(args)
    if args.per_task:
        import _task_throughput

        return _task_throughput.main(args)
    return compare(args)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
