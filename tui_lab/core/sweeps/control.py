"""Stopping and resuming a sweep from outside its process: the coordinator's pid file.

A sweep's coordinator (``tui-lab sweep``, however it was started: a terminal, the lab's ctrl+t, the
run queue) records itself in ``<sweep>/coordinator.pid``: its pid, when that process started and
the sweep folder. A face that shows the sweep asks :func:`live_coordinator` whether that very
process still runs (alive, not a zombie, the same start time, so a pid the system gave to another
program since is not taken for it) and stops it with SIGTERM (:func:`stop_sweep`: every worker
saves ``last/``, the sweep exits 130). :func:`resume_detached` starts ``tui-lab sweep --resume``
on the folder in a process session of its own, as the lab starts a sweep.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from tui_lab.core.training import detached

PID_FILE = "coordinator.pid"
SAME_START = 0.05  # seconds: two readings of one process's start time agree to within this


@dataclass(frozen=True)
class CoordinatorRecord:
    """What ``coordinator.pid`` holds."""

    pid: int
    started: float  # the process's start time (psutil's create_time), so a reused pid is not it
    host: str
    sweep_dir: str


def record(sweep_dir: Path, pid: int | None = None) -> CoordinatorRecord | None:
    """Write the coordinator's record (this process, or ``pid``) into the sweep folder atomically.

    Returns the record, or ``None`` when the process is already gone.
    """
    import psutil

    pid = pid or os.getpid()
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        return None
    rec = CoordinatorRecord(pid, started, socket.gethostname(), str(Path(sweep_dir).resolve()))
    tmp = Path(sweep_dir) / f".{PID_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(asdict(rec)), encoding="utf-8")
    tmp.replace(Path(sweep_dir) / PID_FILE)
    return rec


def forget(sweep_dir: Path) -> None:
    """Remove the record when it is this process's (a coordinator that ends)."""
    rec = read_record(sweep_dir)
    if rec is not None and rec.pid == os.getpid() and rec.host == socket.gethostname():
        (Path(sweep_dir) / PID_FILE).unlink(missing_ok=True)


def read_record(sweep_dir: Path) -> CoordinatorRecord | None:
    """The sweep folder's record (``None``: none, or unreadable)."""
    try:
        raw = json.loads((Path(sweep_dir) / PID_FILE).read_text(encoding="utf-8"))
        return CoordinatorRecord(
            int(raw["pid"]), float(raw["started"]), str(raw["host"]), str(raw["sweep_dir"])
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


def live_coordinator(sweep_dir: Path) -> int | None:
    """The pid of the process that coordinates this sweep on this machine, if it still runs.

    The recorded process must be alive (not a zombie), have started when it was recorded, and
    coordinate this very folder (a copy of the folder elsewhere has no coordinator).
    """
    import psutil

    rec = read_record(sweep_dir)
    if rec is None or rec.host != socket.gethostname() or not _same_folder(rec.sweep_dir, sweep_dir):
        return None
    try:
        process = psutil.Process(rec.pid)
        if process.status() == psutil.STATUS_ZOMBIE or abs(process.create_time() - rec.started) > SAME_START:
            return None
    except psutil.Error:
        return None
    return rec.pid


def other_host(sweep_dir: Path) -> str | None:
    """The machine named by the folder's record when it is not this one (a shared folder whose
    sweep another machine coordinates: it cannot be told alive from here), else ``None``."""
    rec = read_record(sweep_dir)
    return rec.host if rec is not None and rec.host != socket.gethostname() else None


def _same_folder(recorded: str, sweep_dir: Path) -> bool:
    try:
        return os.path.samefile(recorded, sweep_dir)
    except OSError:
        return False


def stop_sweep(sweep_dir: Path) -> int | None:
    """Send SIGTERM to the sweep's live coordinator (its workers save ``last/``, it exits 130).

    Returns the pid signalled, or ``None`` when no coordinator of this sweep runs here.
    """
    pid = live_coordinator(sweep_dir)
    if pid is None:
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    return pid


def resume_command(sweep_dir: Path) -> list[str]:
    """``tui-lab sweep --resume <sweep>`` as a command line."""
    return [sys.executable, "-m", "tui_lab", "sweep", "--resume", str(Path(sweep_dir).resolve())]


def resume_detached(sweep_dir: Path, log: Path) -> subprocess.Popen:
    """Start ``tui-lab sweep --resume <sweep>`` in its own process session (it outlives the caller),
    its output going to ``log``; the coordinator's record is written before this returns."""
    process = detached.spawn_detached(resume_command(sweep_dir), log)
    record(sweep_dir, process.pid)  # at once: a second caller sees it running
    return process
