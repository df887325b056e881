"""``tui-lab queue``: add a run to the output folder's run queue (or list the queue).

Each queued config runs as an ordinary run folder ``<output-dir>/queue/<run name>``, one per free
device, in the order added, by detached workers that outlive the terminal (the queue's coordinator
is ``tui-lab sweep --resume <output-dir>/queue``); ``--list`` shows what waits, runs and ended.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tui_lab.cli.common import EXIT_OK, add_run_flags, config_from_args, quiet
from tui_lab.core.errors import ConfigError

NAME = "queue"


def add_parser(sub: Any) -> None:
    """Add ``queue`` to the CLI's subparsers."""
    q = sub.add_parser(
        NAME,
        help="queue a run (detached workers run the queue in order, one per device)",
        description="Add the config (train's flags) to <output-dir>/queue; detached workers run queued "
        "runs in order, one per free device, and outlive the terminal. --list shows the queue.",
    )
    add_run_flags(q, "train.warmup_ratio=0.06", argparse.SUPPRESS)
    g = q.add_argument_group("queue")
    g.add_argument("--list", action="store_true", help="show the queue instead of adding to it")
    g.add_argument("--parallel", type=int, default=1, metavar="K", help="runs at once (default 1)")
    g.add_argument(
        "--devices",
        default="",
        metavar="DEVS",
        help="cpu or cuda:0,cuda:1,... (default: as before, else cpu)",
    )


def run(args: argparse.Namespace) -> int:
    """Add to the queue (starting its workers when none run), or list it."""
    from tui_lab.core.sweeps import board
    from tui_lab.core.sweeps import queue as runqueue

    quiet()
    if args.resume:
        raise ConfigError(
            "queue takes no --resume; a stopped queued run goes on with: tui-lab sweep --resume DIR/queue."
        )
    config = config_from_args(args)
    folder = runqueue.queue_dir(config.train.output_dir)
    if args.list:
        rows = board.trial_rows(folder) if board.is_sweep_dir(folder) else []
        return _print_rows(rows, folder, args.json)
    devices = [d.strip() for d in args.devices.split(",") if d.strip()] or None
    if args.parallel < 1:
        raise ConfigError("--parallel must be at least 1.")
    queued = runqueue.add(config, devices, args.parallel)
    if queued.repaired:
        print(f"note: {queued.repaired}", file=sys.stderr)
    summary = {"run_dir": str(queued.run_dir), "number": queued.number, "waiting": queued.waiting,
               "started_workers": queued.started_workers, "queue": str(folder)}  # fmt: skip
    if args.json:
        print(json.dumps(summary))
        return EXIT_OK
    workers = "workers started" if queued.started_workers else "workers already running"
    print(
        f"queued: {queued.run_dir}  ({queued.waiting} waiting; {workers}; log {folder / runqueue.LOG_FILE})"
    )
    return EXIT_OK


def _print_rows(rows: list[Any], folder: Path, as_json: bool) -> int:
    if as_json:
        print(json.dumps([r.to_dict() for r in rows]))
        return EXIT_OK
    if not rows:
        print(f"the queue is empty ({folder})")
        return EXIT_OK
    print(f"{'#':>3} {'run':<36} {'state':<10} {'value':>8} {'seconds':>8}")
    for r in rows:
        value = f"{r.value:.4f}" if isinstance(r.value, (int, float)) else "-"
        seconds = f"{r.seconds:.0f}" if isinstance(r.seconds, (int, float)) else "-"
        print(
            f"{r.number:>3} {Path(r.run_dir or '-').name[:36]:<36} {'waiting' if r.waiting else r.state:<10} {value:>8} {seconds:>8}"
        )
    return EXIT_OK
