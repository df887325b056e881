"""``tui-lab sweep``: an Optuna hyperparameter sweep; each trial an ordinary run folder.

Takes every flag of ``train`` plus the search (``--search KEY=SPEC`` or ``--space FILE.toml``),
the budget (``--trials``, ``--timeout``), the sampler and pruner, and where trials run
(``--parallel K`` worker processes on ``--devices``). ``--study NAME --storage URL`` on several
machines share one study. ``--json`` prints the sweep's summary as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui_lab.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_run_flags,
    config_from_args,
    install_stop_handlers,
    quiet,
)
from tui_lab.core.errors import ConfigError, LabError

NAME = "sweep"


def add_parser(sub: Any) -> None:
    """Add ``sweep`` to the CLI's subparsers."""
    s = sub.add_parser(
        NAME,
        help="search hyperparameters with Optuna (each trial a run)",
        description="Run an Optuna sweep: N trials, each a run folder in <output-dir>/<study>/trial-NNN. "
        "Flags of train set the base config; --search KEY=SPEC (lo..hi, lo..hi:log, a,b,c) the space.",
    )
    add_run_flags(s, "train.warmup_ratio=0.06", "continue a killed or stopped sweep: its folder")
    g = s.add_argument_group("sweep")
    g.add_argument(
        "--trials",
        type=int,
        default=20,
        metavar="N",
        help="trials in all, over every worker and machine (default 20)",
    )
    g.add_argument("--timeout", type=float, metavar="SEC", help="stop starting trials after SEC seconds")
    g.add_argument(
        "--search",
        action="append",
        default=[],
        metavar="KEY=SPEC",
        help="a dimension: learning_rate=1e-5..1e-3:log, batch_size=16,32,64, warmup_ratio=0..0.2",
    )
    g.add_argument("--space", metavar="FILE.toml", help='the space as KEY = "SPEC" lines')
    g.add_argument("--direction", choices=("maximize", "minimize"), help="default: the metric's own")
    g.add_argument("--sampler", default="tpe", help="tpe (default, seeded with --seed), random or grid")
    g.add_argument("--pruner", default="median", help="median (default), hyperband or none")
    g.add_argument(
        "--parallel", type=int, metavar="K", help="worker processes (default: one per GPU, else 1)"
    )
    g.add_argument(
        "--devices",
        default="auto",
        metavar="DEVS",
        help="cpu or cuda:0,cuda:1,... (default: every GPU, else cpu)",
    )
    g.add_argument(
        "--study", metavar="NAME", help="study (and sweep folder) name; default sweep-<date>-<time>"
    )
    g.add_argument(
        "--storage",
        metavar="URL",
        help="postgresql://... or sqlite:///... to share; default <sweep>/study.journal",
    )
    g.add_argument(
        "--keep-best", type=int, default=0, metavar="K", help="keep best/ of the top K trials only (0 = all)"
    )


def run(args: argparse.Namespace) -> int:
    """Plan (or reopen) the sweep, run its workers, print trials and the summary."""
    from tui_lab.core.sweeps.warm import WarmStarter

    quiet()
    warm = WarmStarter()  # its fork server starts once the quick checks pass, before the data is read
    try:
        return _run(args, warm)
    finally:
        warm.close()


def _run(args: argparse.Namespace, warm: Any) -> int:
    from tui_lab.core.sweeps import board, coordinator

    if args.resume:
        sweep_dir = Path(args.resume).expanduser().resolve()
        if not board.is_sweep_dir(sweep_dir):
            raise LabError(
                f"--resume {args.resume} is not a sweep folder (no sweep.json); give a folder tui-lab sweep made."
            )
        info = board.load_sweep(sweep_dir)
        _repair_journal(info.storage)
        warm.start_server(str(info.config.get("model", {}).get("name", "")))
    else:
        sweep_dir, info = plan(args, warm.start_server)
        coordinator.prepare_sweep_dir(info, sweep_dir)
    out = sys.stderr if args.json else sys.stdout
    print(
        f"sweep {sweep_dir}  ({info.trials} trials, {info.parallel} x {','.join(sorted(set(info.devices)))}, "
        f"{info.direction} {info.metric})",
        file=out,
    )
    for key, spec in info.space.items():
        print(f"  {key:<28} {spec}", file=out)
    stop = threading.Event()
    restore = install_stop_handlers(stop)
    timer = _timer(stop, args.timeout)
    started = time.monotonic()
    try:
        outcome = coordinator.run_sweep(
            sweep_dir, info, stop, lambda t: _print_trial(t, info.metric, out), warm=warm
        )
    finally:
        restore()
        if timer:
            timer.cancel()
    summary = board.sweep_summary(sweep_dir)
    _print_best(summary, out, time.monotonic() - started)
    if args.json:
        print(json.dumps(summary))
    if outcome == "stopped" and not (args.timeout and time.monotonic() - started >= args.timeout):
        print(f"stopped: resume with: tui-lab sweep --resume {sweep_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _repair_journal(storage: str) -> None:
    """Set a torn journal's torn part aside before the sweep writes again, and say so (one line)."""
    from tui_lab.core.sweeps import study
    from tui_lab.core.sweeps.journal import repair_journal

    note = "" if study.is_rdb(storage) else repair_journal(storage)
    if note:
        print(f"note: {note}", file=sys.stderr)


def plan(
    args: argparse.Namespace, on_checked: Callable[[str], None] = lambda model: None
) -> tuple[Path, Any]:
    """The sweep folder and its :class:`SweepInfo` from the flags, every input checked.

    ``on_checked`` is told the model once the quick checks pass, before the data is read."""
    from tui_lab.core.sweeps import coordinator, space, study
    from tui_lab.core.training.runs import default_run_name

    if args.storage:  # before anything reads or writes: a typo must not become a folder
        study.check_storage(args.storage)
    config = config_from_args(args)
    config.raise_if_invalid()
    specs = space.read_space_file(args.space) if args.space else {}
    specs.update(space.parse_search_args(args.search))
    checked = space.space_from_specs(specs or space.default_space(config.model.name, config.model.peft))
    if args.trials < 1:
        raise ConfigError("--trials must be at least 1.")
    if args.keep_best < 0:
        raise ConfigError("--keep-best must be 0 (keep all) or more.")
    coordinator.check_sampler_and_pruner(args.sampler, args.pruner, checked)
    devices, k = coordinator.parse_devices(args.devices, args.parallel)
    on_checked(config.model.name)
    metric, direction = coordinator.resolve_metric(config)
    name = args.study or default_run_name("sweep")
    problem = _name_problem(name)
    if problem:
        raise ConfigError(f"--study '{name}' {problem}.")
    sweep_dir = (Path(config.train.output_dir).expanduser() / name).resolve()
    info = study.SweepInfo(
        study=name,
        storage=args.storage or str(sweep_dir / study.JOURNAL_FILE),
        metric=metric,
        direction=args.direction or direction,
        space=checked.specs(),
        trials=args.trials,
        parallel=k,
        devices=devices,
        sampler=args.sampler,
        pruner=args.pruner,
        keep_best=args.keep_best,
        created=study.now_iso(),
        config=config.to_dict(),
    )
    return sweep_dir, info


def _name_problem(name: str) -> str | None:
    from tui_lab.core.config import run_name_problem

    return run_name_problem(name)


def _timer(stop: threading.Event, seconds: float | None) -> threading.Timer | None:
    if not seconds:
        return None
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return timer


def _print_trial(trial: Any, metric: str, out: Any) -> None:
    """One line per finished trial."""
    state = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}.get(
        trial.state.name, trial.state.name
    )
    value = f"{metric} {trial.value:.4f}" if trial.value is not None else ""
    params = "  ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in trial.params.items())
    error = trial.user_attrs.get("error", "")
    secs = trial.user_attrs.get("seconds")
    took = f"{secs:.0f}s" if isinstance(secs, (int, float)) else ""
    print(f"trial {trial.number:3d}  {state:<8} {value:<18} {took:>5}  {params}  {error}".rstrip(), file=out)


def _print_best(summary: dict[str, Any], out: Any, seconds: float) -> None:
    best = summary["best"]
    states = [t["state"] for t in summary["trials"]]
    counts = ", ".join(
        f"{states.count(s)} {s}" for s in ("complete", "pruned", "failed", "running") if s in states
    )
    print(f"{len(states)} trials ({counts}) in {seconds:.0f}s", file=out)
    if best:
        params = "  ".join(f"{k}={_short(v)}" for k, v in best["params"].items())
        print(f"best: trial {best['number']}  {summary['metric']} {best['value']:.4f}  {params}", file=out)
        print(f"      {best['run_dir']}", file=out)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
