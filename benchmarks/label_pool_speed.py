"""How long the Label screen takes to rank a big pool: 100,000 generated reviews, one run's model.

The pool is written by the sample data's own generator (``sample_data/generate.py``'s
``sentiment_text``), one text a line. The ranking is what the Label screen runs in its worker,
:func:`tui_lab.core.active.suggest_for_run` (read the pool, load ``best/``, score every text
through the predictor, cluster the least sure), timed end to end, with the progress line's
updates counted.

Usage::

    tui-lab train --train sample_data/sentiment --model tiny-bert --epochs 2 --output-dir runs --run-name demo
    nice -n 10 python benchmarks/label_pool_speed.py runs/demo --texts 100000
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui_lab.core import active  # noqa: E402
from tui_lab.sample_data.generate import sentiment_text  # noqa: E402


def write_pool(path: Path, n: int, seed: int = 0) -> None:
    """``n`` generated reviews, one a line."""
    rng = random.Random(seed)
    lines = (sentiment_text(rng, rng.choice(("positive", "negative"))) for _ in range(n))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder with best/")
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument("--strategy", default="diverse", choices=active.STRATEGIES)
    args = parser.parse_args()
    import torch

    from tui_lab.core.imports import quiet_libraries

    quiet_libraries()  # as the lab and tui-lab suggest do: no load reports or progress bars

    updates: list[tuple[float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        pool = Path(tmp) / "pool.txt"
        write_pool(pool, args.texts)
        start, cpu = time.perf_counter(), time.process_time()

        def progress(done: int, total: int) -> None:
            updates.append((time.perf_counter() - start, done))

        rows = active.suggest_for_run(args.run, str(pool), args.strategy, args.top, "none", progress)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
    scored = updates[-1][0] if updates else float("nan")
    first = updates[0][0] if updates else float("nan")
    print(
        f"{args.texts:,} texts, {args.strategy}, top {len(rows)}, torch threads {torch.get_num_threads()}: "
        f"first progress update at {first:.1f} s, all scored at {scored:.1f} s, ranked at {total:.1f} s "
        f"({args.texts / total:,.0f} texts/s; {len(updates)} progress updates); "
        f"CPU time {cpu:.1f} s (all threads)"
    )


if __name__ == "__main__":
    main()
