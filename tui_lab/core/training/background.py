"""Work beside a training run: a function on a thread, or in a child process at low priority.

The run's TF-IDF baseline is fitted while the model trains. When a GPU trains, the CPU is free
and a thread (:class:`Background`) is enough. On a CPU box the loop uses every core and a thread
would compete with it for them and for the GIL, so the work goes to a child process
(:class:`IdleProcess`) at ``nice 19`` with one BLAS/OpenMP thread: the kernel gives it the cycles
the loop leaves and very little more, yet it still moves on a machine other work keeps busy
(``SCHED_IDLE`` would starve it there, and the run's end waits for it).

The child is a plain ``python -m tui_lab.core.training.background`` (not ``multiprocessing``):
it never re-imports the caller's main script, needs no resource tracker (which fails under
Textual, whose stand-in stderr has no file descriptor), and never writes on the lab's terminal.
Its arguments and its answer are pickles in a private temporary folder.
"""

from __future__ import annotations

import importlib
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

CHILD_PRIORITY = "nice"
"""How :class:`IdleProcess` lowers its child: ``"nice"`` (nice 19) or ``"idle"`` (``SCHED_IDLE``,
Linux). ``benchmarks/train_throughput.py`` measures both (``core+baseline``, ``core+baseline-idle``)."""

ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class Background:
    """A function run on a daemon thread (a stopped run does not wait for it)."""

    def __init__(self, target: str, args: tuple[Any, ...]) -> None:
        self._out: tuple[Any, str | None] = (None, None)
        self._thread = threading.Thread(target=self._run, args=(target, args), daemon=True, name="baseline")
        self._thread.start()

    def _run(self, target: str, args: tuple[Any, ...]) -> None:
        self._out = call(target, args)

    def done(self) -> bool:
        """Whether the function has returned (or raised)."""
        return not self._thread.is_alive()

    def result(self) -> tuple[Any, str | None]:
        """(value, None) or (None, one-line error); waits for the thread."""
        self._thread.join()
        return self._out

    def cancel(self) -> None:
        """Nothing to do: the thread is a daemon and its result is dropped."""


class IdleProcess:
    """``target(*args)`` in a child process at low priority with one BLAS/OpenMP thread.

    Args:
        target: ``"module:function"``, imported by the child.
        args: its arguments (pickled).
        priority: ``"nice"`` or ``"idle"`` (default :data:`CHILD_PRIORITY`).
    """

    def __init__(self, target: str, args: tuple[Any, ...], priority: str | None = None) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="tui-lab-baseline-"))
        self._in, self._out_file = self._folder / "call.pkl", self._folder / "answer.pkl"
        self._in.write_bytes(pickle.dumps((target, args), protocol=pickle.HIGHEST_PROTOCOL))
        env = {**os.environ, **dict.fromkeys(ONE_THREAD, "1")}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # import what this process imports
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, priority or CHILD_PRIORITY, str(self._in), str(self._out_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self._answer: tuple[Any, str | None] | None = None

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._process.pid

    def done(self) -> bool:
        """Whether the child has ended."""
        return self._answer is not None or self._process.poll() is not None

    def result(self) -> tuple[Any, str | None]:
        """(value, None) or (None, one-line error); waits for the child."""
        if self._answer is None:
            code = self._process.wait()
            try:
                self._answer = pickle.loads(self._out_file.read_bytes())
            except (OSError, EOFError, pickle.UnpicklingError):
                self._answer = (None, f"the baseline process ended with exit code {code}")
            shutil.rmtree(self._folder, ignore_errors=True)
        return self._answer

    def cancel(self) -> None:
        """Stop the child if it is still working (a stopped or failed run does not wait for it)."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


def lower_priority(how: str = "nice") -> str:
    """Lower this process's CPU priority: ``"idle"`` = ``SCHED_IDLE`` where Linux offers it,
    ``"nice"`` (or no ``SCHED_IDLE``) = nice 19. Returns what was set."""
    if how == "idle" and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return "SCHED_IDLE"
        except OSError:
            pass
    os.nice(19 - os.nice(0))
    return "nice 19"


def call(target: str, args: tuple[Any, ...]) -> tuple[Any, str | None]:
    """``(target(*args), None)``, or ``(None, one-line error)``: work beside a run never takes it down."""
    module, _, name = target.partition(":")
    try:
        return getattr(importlib.import_module(module), name)(*args), None
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        return None, f"{type(exc).__name__}: {first}"


def main(argv: list[str]) -> int:
    """The child: ``PRIORITY CALL_FILE ANSWER_FILE``; low priority first, then unpickle and call."""
    priority, call_file, answer_file = argv
    lower_priority(priority)
    target, args = pickle.loads(Path(call_file).read_bytes())
    from threadpoolctl import threadpool_limits  # scikit-learn's own thread-pool control

    with threadpool_limits(1):
        answer = call(target, args)
    tmp = Path(answer_file + ".tmp")
    tmp.write_bytes(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(answer_file)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as the child
    sys.exit(main(sys.argv[1:]))
