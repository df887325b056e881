"""Training throughput of every task the core knows, so that a regression in one task shows.

Each registered task (``tui_lab.core.tasks.TASKS``) trains ``tiny-bert`` from scratch on its
bundled sample set with the same batch size, sequence limit and number of optimiser steps, in its
own subprocess (a fresh interpreter: no warm caches from the task before). The numbers are the
core's own: training samples per second and training tokens per second over the loop, without
evaluation and checkpoints (measured through :class:`tui_lab.core.training.hooks.Hooks`).

Used by ``python benchmarks/train_throughput.py --per-task`` (see there for the options).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MARKER = "@@TASK_RESULT "
# each task's bundled sample set (tasks without one here are skipped with a note)
TASK_DATA = {
    "classify": "sample_data/sentiment",
    "multilabel": "sample_data/tickets",
    "ner": "sample_data/ner",
    "pretrain": "sample_data/sentiment",
}


def task_config(task: str, out: str, steps: int, batch_size: int, max_length: int) -> Any:
    """The core's config for one task: tiny-bert, fixed steps, no evaluation before the end."""
    from tui_lab.core.config import LabConfig

    cfg = LabConfig()
    cfg.data.train = str(REPO / TASK_DATA[task])
    cfg.data.max_length = max_length
    cfg.model.name, cfg.model.task = "tiny-bert", task
    tc = cfg.train
    tc.batch_size, tc.max_steps, tc.epochs = batch_size, steps, 100
    tc.eval_steps, tc.patience, tc.baseline = 0, 0, False
    tc.output_dir, tc.run_name = out, task
    return cfg


def measure_task(task: str, steps: int, batch_size: int, max_length: int) -> dict[str, Any]:
    """Train one task in this process; samples/s and tokens/s of its training loop."""
    from tui_lab.core.training.hooks import Hooks
    from tui_lab.core.training.loop import Trainer

    class Timer(Hooks):
        def __init__(self) -> None:
            self.loop = self.side = 0.0
            self.tokens_per_row = 0.0
            self._depth = 0

        def on_setup(self, setup: Any) -> None:
            lengths = setup.train.tokens.lengths
            self.tokens_per_row = float(lengths.mean()) if len(lengths) else 0.0

        @contextmanager
        def phase(self, name: str) -> Iterator[None]:
            start = time.perf_counter()
            self._depth += name != "train_loop"
            try:
                yield
            finally:
                took = time.perf_counter() - start
                if name == "train_loop":
                    self.loop += took
                else:
                    self._depth -= 1
                    if self._depth == 0 and name != "finish":
                        self.side += took

    timer = Timer()
    with tempfile.TemporaryDirectory() as out:
        result = Trainer(task_config(task, out, steps, batch_size, max_length), hooks=[timer]).run()
    seconds = max(1e-9, timer.loop - timer.side)
    samples = result.step * batch_size
    return {
        "task": task,
        "status": result.status,
        "steps": result.step,
        "loop_seconds": seconds,
        "samples_per_second": samples / seconds,
        "tokens_per_second": samples * timer.tokens_per_row / seconds,
        "best": result.best,
    }


def run_all(tasks: list[str], steps: int, batch_size: int, max_length: int) -> list[dict[str, Any]]:
    """Every task in its own subprocess, one after the other."""
    results = []
    for task in tasks:
        if not (REPO / TASK_DATA.get(task, "-")).exists():
            results.append({"task": task, "status": "skipped", "why": "no sample data for this task"})
            continue
        argv = [sys.executable, __file__, task, str(steps), str(batch_size), str(max_length)]
        env = {
            **os.environ,
            "CUDA_VISIBLE_DEVICES": "",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, check=False)
        line = next((x for x in proc.stdout.splitlines() if x.startswith(MARKER)), None)
        if line is None:
            results.append(
                {"task": task, "status": "failed", "why": (proc.stderr.strip().splitlines() or ["?"])[-1]}
            )
        else:
            results.append(json.loads(line[len(MARKER) :]))
    return results


def format_table(results: list[dict[str, Any]], markdown: bool) -> str:
    """The per-task table (markdown or plain)."""
    head = ["task", "steps", "samples/s", "tokens/s", "status"]
    rows = []
    for r in results:
        if "samples_per_second" in r:
            rows.append(
                [
                    r["task"],
                    str(r["steps"]),
                    f"{r['samples_per_second']:.1f}",
                    f"{r['tokens_per_second']:.0f}",
                    r["status"],
                ]
            )
        else:
            rows.append([r["task"], "-", "-", "-", f"{r['status']}: {r.get('why', '')}"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows])


def main(args: Any) -> int:
    """``--per-task``: print the table of every registered task."""
    import torch

    from tui_lab.core.tasks import TASKS

    tasks = [t for t in (args.tasks.split(",") if args.tasks else TASKS) if t]
    print(
        f"per-task training throughput: tiny-bert from scratch, batch {args.batch_size}, "
        f"max length {args.max_length}, {args.steps} steps, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    print(format_table(run_all(tasks, args.steps, args.batch_size, args.max_length), args.markdown))
    return 0


if __name__ == "__main__":
    name, n_steps, batch, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    out = measure_task(name, n_steps, batch, length)
    print(MARKER + json.dumps(out, default=float), flush=True)
