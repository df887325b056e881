"""``tui-lab suggest``: the pool texts a run's model is least sure of, to label next.

Torch is imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from tui_lab.cli.common import EXIT_OK, add_setting_flags, quiet
from tui_lab.core.errors import ConfigError

NAME = "suggest"


def add_parser(sub: Any) -> None:
    """Add ``suggest`` to the CLI's subparsers."""
    from tui_lab.core.active import STRATEGIES

    x = sub.add_parser(
        NAME,
        help="rank a pool of unlabelled texts by how unsure a run's model is of them",
        description="Score every text of --pool with the run's best model and list the ones worth "
        "labelling first (texts the corrections file already adds, skips or marks unusable are "
        "left out). Label them in the lab's Label screen, or add them with tui-lab corrections add.",
    )
    x.add_argument("run", metavar="RUN_DIR")
    add_setting_flags(x, ["data.pool", "data.corrections", "data.text_column"])
    x.add_argument("--top", type=int, default=20, metavar="K", help="how many texts to list (default 20)")
    x.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="diverse",
        help="diverse (default: the most uncertain of each cluster of uncertain texts), margin, "
        "entropy or random",
    )
    x.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    x.add_argument("--json", action="store_true", help='print {"strategy", "rows": [...]} as one JSON line')


def run(args: argparse.Namespace) -> int:
    """List the suggestions: a table, or one JSON line with ``--json``."""
    from tui_lab.core.active import suggest_for_run

    pool = getattr(args, "data.pool", None)
    if not pool:
        raise ConfigError(
            "suggest needs --pool PATH: a file of unlabelled texts (one a line, or a text column)."
        )
    if args.top < 1:
        raise ConfigError(f"--top must be at least 1, got {args.top}.")
    quiet()
    rows = suggest_for_run(
        args.run,
        pool,
        args.strategy,
        args.top,
        getattr(args, "data.corrections", None),
        ProgressLine(),
        args.device,
        getattr(args, "data.text_column", None) or "",
    )
    if args.json:
        out = {"strategy": args.strategy, "rows": [s.to_dict() for s in rows]}
        print(json.dumps(out, ensure_ascii=False))
        return EXIT_OK
    for s in rows:
        text = s.text if len(s.text) <= 80 else s.text[:79] + "…"
        print(f"{s.row:>7}  {s.predicted:<12} {s.confidence:.3f}  {s.score:.3f}  {text}")
    return EXIT_OK


class ProgressLine:
    """``scoring the pool: 12,800/100,000 texts`` on stderr, at most a few times a second."""

    def __init__(self, stream: Any = None, every_s: float = 0.5) -> None:
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.every_s:
            return
        self.last = now
        tty = self.stream.isatty()
        end = ("\n" if done >= total else "") if tty else "\n"
        print(
            f"{chr(13) if tty else ''}scoring the pool: {done:,}/{total:,} texts",
            end=end,
            file=self.stream,
            flush=True,
        )
