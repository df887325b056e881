"""Warm sweep workers: forked from a server that has already imported what a trial needs.

A worker started as a fresh interpreter spends its first seconds importing torch, transformers
and the training code, and its first trial pays again for the modules a run loads lazily (the
model's code, the schedules, the integrations they pull in): on a 2-core box two such workers
importing at once doubled the first trial's time. Here the sweep starts one fork server
(:mod:`multiprocessing`'s ``forkserver``) as soon as it knows the model, while it still plans;
the server imports :mod:`.preload` (and the model's own modules) once, and every worker is a
``fork`` of it, ready to train.

The server never touches CUDA, so a forked worker can use a GPU. Should a library it imports
ever initialise CUDA, the worker sees it (``torch.cuda._is_in_bad_fork``), exits with
:data:`EXIT_COLD` before doing anything, and the coordinator starts that worker, and every later
one, as a fresh interpreter instead. ``TUI_LAB_WARM_WORKERS=0`` asks for fresh interpreters
from the start (``benchmarks/sweep_vs_trainer.py --cold`` measures the two side by side).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

PRELOAD = "tui_lab.core.sweeps.preload"
EXIT_COLD = 3  # a forked worker found CUDA initialised in the server: start it as a fresh interpreter
ENV_SWITCH = "TUI_LAB_WARM_WORKERS"


def wanted() -> bool:
    """Whether this platform and the environment allow warm workers."""
    return (
        os.environ.get(ENV_SWITCH, "1").strip() not in ("0", "false", "no", "off")
        and "forkserver" in multiprocessing.get_all_start_methods()
    )


def model_modules(model: str) -> list[str]:
    """The transformers modules of ``model``'s architecture (a local folder's ``config.json``, or a
    built-in preset): imported by the server too. A hub id is left to the worker (no download here)."""
    from tui_lab.core.models.presets import is_preset

    if is_preset(model):
        kind = "bert"
    else:
        try:
            config = json.loads((Path(model).expanduser() / "config.json").read_text(encoding="utf-8"))
            kind = config["model_type"]
        except (OSError, ValueError, KeyError, TypeError):
            return []
    kind = str(kind).replace("-", "_")
    return [f"transformers.models.{kind}.modeling_{kind}"] if kind.isidentifier() else []


class WarmProcess:
    """A forked worker, seen through the parts of :class:`subprocess.Popen` the coordinator uses."""

    def __init__(self, process: Any) -> None:
        self._process = process
        self.pid: int = process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def send_signal(self, sig: int) -> None:
        if self._process.exitcode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired("sweep worker", timeout or 0)
        return self._process.exitcode


class WarmStarter:
    """Starts the fork server (in the background) and forks workers from it; ``usable`` once
    started, and no longer once a forked worker found CUDA taken."""

    def __init__(self) -> None:
        self._context: Any = None  # no forkserver on every platform: asked for when started
        self.usable = False

    def start_server(self, model: str) -> None:
        """Launch the server for ``model`` (once; not where :func:`wanted` says no); it imports
        while the caller goes on (the first fork waits for it)."""
        from multiprocessing import forkserver

        if self.usable or not wanted():
            return
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload([PRELOAD, *model_modules(model)])
        forkserver.ensure_running()
        self.usable = True

    def start(self, argv: list[str], threads: int) -> WarmProcess:
        """Fork one worker running ``python -m tui_lab.core.sweeps.worker ARGV``."""
        process = self._context.Process(
            target=_child, args=(argv, threads), name="sweep-worker", daemon=False
        )
        process.start()
        return WarmProcess(process)

    def close(self) -> None:
        """Stop the server (it may still be importing); the workers are already gone."""
        from multiprocessing import forkserver

        server = forkserver._forkserver
        pid = server._forkserver_pid
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        server._stop()


def _child(argv: list[str], threads: int) -> None:
    """The forked worker: stdout to stderr (a ``--json`` sweep's stdout is its summary), then run."""
    sys.stdout.flush()
    os.dup2(2, 1)
    if threads:  # the libraries the server loaded have their thread pools: cap them as the env would
        os.environ["OMP_NUM_THREADS"] = str(threads)
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)  # OpenMP and the BLAS numpy and scikit-learn use
    import torch

    if torch.cuda._is_in_bad_fork():
        sys.exit(EXIT_COLD)
    from tui_lab.core.sweeps import worker

    sys.exit(worker.main(argv))
