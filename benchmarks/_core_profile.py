"""Where a step of the core training loop spends its time (``train_throughput.py --profile``).

The real :class:`tui_lab.core.training.loop.Trainer` runs; its phases are labelled through its hooks
(:mod:`tui_lab.core.training.hooks`): the task's ``collate`` and the model's ``forward`` are wrapped at
set-up, the optimizer's step is timed by its own step hooks, ``Tensor.backward`` and
``clip_grad_norm_`` are wrapped while the run lasts, and evaluation and checkpoints (the
``evaluate``, ``save`` and ``finish`` phases) are timed apart and kept out of the phases.

Modes:

* ``phases``: wall-clock seconds per phase over the whole run (cheap wrappers, no profiler);
* ``torch``: ``torch.profiler`` over a window of steps (stepped by the loop's own ``StepLogged``
  events), op tables by total and self time, and the phases inside the profiled steps;
* ``cprofile``: the Python call graph of the whole run, by cumulative and own time.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from tui_lab.core.training.hooks import Hooks

PHASE_PREFIX = "## "


class PhaseClock:
    """Wall seconds and calls per labelled phase; paused while the loop evaluates or saves."""

    def __init__(self, record_ranges: bool = False) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.side_seconds = 0.0
        self.record_ranges = record_ranges
        self._paused = 0

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` timed under ``label`` (and a ``record_function`` range for torch.profiler)."""
        from torch.profiler import record_function

        def wrapper(*a: Any, **k: Any) -> Any:
            if self._paused:
                return fn(*a, **k)
            ctx = record_function(PHASE_PREFIX + label) if self.record_ranges else nullcontext()
            start = time.perf_counter()
            try:
                with ctx:
                    return fn(*a, **k)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1

        return wrapper

    def time_optimizer(self, optimizer: Any) -> None:
        """Time ``optimizer.step`` through its hooks (the LR scheduler wraps ``step`` itself)."""
        started: list[float] = []

        def pre(*_: Any) -> None:
            started.append(time.perf_counter())

        def post(*_: Any) -> None:
            self.seconds["optimizer.step"] += time.perf_counter() - started.pop()
            self.calls["optimizer.step"] += 1

        optimizer.register_step_pre_hook(pre)
        optimizer.register_step_post_hook(post)

    @contextmanager
    def aside(self) -> Iterator[None]:
        """Evaluation or checkpointing: timed as a whole, not split into phases."""
        self._paused += 1
        start = time.perf_counter()
        try:
            yield
        finally:
            self._paused -= 1
            if not self._paused:
                self.side_seconds += time.perf_counter() - start


class PhaseHooks(Hooks):
    """Labels the core's phases through its hooks: ``collate`` and the model's ``forward`` are
    wrapped once the run is set up, the optimizer's step is timed through its own hooks, and
    evaluation and checkpoints are timed apart (kept out of the phases)."""

    def __init__(self, clock: PhaseClock) -> None:
        self.clock = clock
        self.loop_seconds = 0.0

    def on_setup(self, setup: Any) -> None:
        setup.task.collate = self.clock.wrap("collate", setup.task.collate)
        setup.model.forward = self.clock.wrap("forward", setup.model.forward)
        if not self.clock.record_ranges:  # torch.profiler labels the optimizer's step itself
            self.clock.time_optimizer(setup.optimizer)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if name != "train_loop":
            with self.clock.aside():
                yield
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            self.loop_seconds += time.perf_counter() - start


@contextmanager
def patched_torch(clock: PhaseClock) -> Iterator[None]:
    """``Tensor.backward`` and ``clip_grad_norm_`` timed while the block runs."""
    import torch

    originals = (torch.nn.utils.clip_grad_norm_, torch.Tensor.backward)
    torch.nn.utils.clip_grad_norm_ = clock.wrap("clip_grad_norm_", originals[0])
    torch.Tensor.backward = clock.wrap("backward", originals[1])
    try:
        yield
    finally:
        torch.nn.utils.clip_grad_norm_, torch.Tensor.backward = originals


def phase_table(
    seconds: dict[str, float], calls: dict[str, int], total: float, steps: int, title: str
) -> str:
    """Milliseconds per step of each phase and its share of ``total``."""
    lines = [f"{title}: {1000 * total / max(steps, 1):.1f} ms per step over {steps} steps"]
    for label, sec in sorted(seconds.items(), key=lambda kv: -kv[1]):
        lines.append(
            f"  {label:<22} {1000 * sec / max(steps, 1):8.2f} ms  {100 * sec / total:5.1f}%"
            f"  ({calls.get(label, 0)} calls)"
        )
    rest = total - sum(seconds.values())
    lines.append(
        f"  {'rest of the loop':<22} {1000 * rest / max(steps, 1):8.2f} ms  {100 * rest / total:5.1f}%"
        f"  (loss, logging events, stop-file check, device sampling, python)"
    )
    return "\n".join(lines)


def run_phases(cfg: Any) -> None:
    from tui_lab.core.training.loop import Trainer

    clock = PhaseClock()
    hooks = PhaseHooks(clock)
    with patched_torch(clock):
        result = Trainer(cfg, hooks=[hooks]).run()
    loop = hooks.loop_seconds - clock.side_seconds
    print(
        phase_table(
            clock.seconds,
            clock.calls,
            loop,
            result.step,
            "core loop phases (wall clock, evaluation and checkpoints left out)",
        )
    )
    print(
        f"  (evaluation + checkpoints + final report: {clock.side_seconds:.2f} s; core's own train time "
        f"{result.report.get('train_seconds', 0.0):.2f} s)"
    )


def run_torch_profiler(cfg: Any, steps: int) -> None:
    from torch.profiler import ProfilerActivity, profile, schedule

    from tui_lab.core.training.events import StepLogged

    cfg.train.logging_steps = 1  # one StepLogged per step drives the profiler's schedule
    prof = profile(
        activities=[ProfilerActivity.CPU], schedule=schedule(wait=3, warmup=2, active=steps, repeat=1)
    )

    def sink(event: Any) -> None:
        if isinstance(event, StepLogged):
            prof.step()

    from tui_lab.core.training.loop import Trainer

    clock = PhaseClock(record_ranges=True)
    with patched_torch(clock), prof:
        Trainer(cfg, [sink], hooks=[PhaseHooks(clock)]).run()
    averages = prof.key_averages()
    print(averages.table(sort_by="cpu_time_total", row_limit=35))
    print(averages.table(sort_by="self_cpu_time_total", row_limit=25))
    totals = {a.key: a.cpu_time_total / 1e6 for a in averages}
    counts = {a.key: a.count for a in averages}
    step_total = sum(v for k, v in totals.items() if k.startswith("ProfilerStep"))
    mine = lambda k: k.startswith((PHASE_PREFIX, "Optimizer."))  # noqa: E731
    phases = {k.removeprefix(PHASE_PREFIX): v for k, v in totals.items() if mine(k)}
    calls = {k.removeprefix(PHASE_PREFIX): v for k, v in counts.items() if mine(k)}
    print(phase_table(phases, calls, step_total, steps, "phases inside the profiled steps (profiler time)"))


def run_cprofile(cfg: Any) -> None:
    import cProfile
    import pstats

    from tui_lab.core.training.loop import Trainer

    trainer = Trainer(cfg)
    prof = cProfile.Profile()
    prof.enable()
    trainer.run()
    prof.disable()
    stats = pstats.Stats(prof).strip_dirs().sort_stats("cumulative")
    stats.print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def profile(cfg: Any, mode: str, steps: int) -> None:
    """Run the core once under ``mode`` (``phases``, ``torch`` or ``cprofile``) and print the result."""
    if mode == "phases":
        run_phases(cfg)
    elif mode == "torch":
        run_torch_profiler(cfg, steps)
    else:
        run_cprofile(cfg)
