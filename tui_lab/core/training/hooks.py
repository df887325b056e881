"""Named points of a run that a benchmark, a profiler or a test can attach to.

The trainer calls :meth:`Hooks.on_setup` once the model, optimiser and data are ready (before
anything is written: a hook may still refuse the run, or raise :class:`StoppedInSetup` when the
user stops it meanwhile), :meth:`Hooks.on_run_dir` once the run
folder exists (before the first event), and wraps
each phase (``train_loop``, ``evaluate``, ``save``, ``finish``) in :meth:`Hooks.phase`. Nothing
in the trainer depends on what a hook does; the default hooks do nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

PHASES = ("train_loop", "evaluate", "save", "finish")


class StoppedInSetup(Exception):
    """Raised by a hook's long set-up work (e.g. a teacher's pass) when the run's stop is set
    (``setup.stop``): the run ends stopped before it has a folder, nothing saved."""


class Hooks:
    """Override what you need; every method is a no-op here."""

    def on_setup(self, setup: Any) -> None:
        """The run's :class:`~tui_lab.core.training.prepare.RunSetup` is built (model on its device, optimiser made)."""

    def on_run_dir(self, setup: Any, run_dir: Any) -> None:
        """The run folder exists (``run_dir``: a ``Path``; ``None`` on ranks other than 0 without one)."""

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Around one phase of the run (one of :data:`PHASES`)."""
        yield


class HookList(Hooks):
    """Several hooks called in order (phases nest: the first hook's is outermost)."""

    def __init__(self, hooks: Iterable[Hooks] = ()) -> None:
        self.hooks = list(hooks)

    def on_setup(self, setup: Any) -> None:
        for hook in self.hooks:
            hook.on_setup(setup)

    def on_run_dir(self, setup: Any, run_dir: Any) -> None:
        for hook in self.hooks:
            hook.on_run_dir(setup, run_dir)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        with ExitStack() as stack:
            for hook in self.hooks:
                stack.enter_context(hook.phase(name))
            yield
