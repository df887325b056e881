"""Stopping and resuming a sweep from outside it (``core/sweeps/control.py``): the coordinator's
pid file names that very process, never a stale pid, a zombie or another folder's coordinator.
Each "coordinator" here is a real process that records itself as ``run_sweep`` does."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ui.fake_runs import fake_sweep
from tui_lab.core.sweeps import control

RECORDS_ITSELF = (
    "import signal, sys, time; from pathlib import Path; from tui_lab.core.sweeps import control; "
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(130)); "
    "control.record(Path(sys.argv[1])); print('recorded', flush=True); time.sleep(60)"
)


@pytest.fixture
def coordinator(tmp_path: Path):
    """A process that records itself as the coordinator of ``tmp_path/s`` and waits for SIGTERM."""
    folder = tmp_path / "s"
    folder.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", RECORDS_ITSELF, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "recorded"
    yield folder, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_live_coordinator_is_found_and_sigterm_stops_it(coordinator) -> None:
    folder, proc = coordinator
    assert json.loads((folder / control.PID_FILE).read_text())["pid"] == proc.pid
    assert control.live_coordinator(folder) == proc.pid
    assert control.stop_sweep(folder) == proc.pid
    assert proc.wait(timeout=10) == 130  # it got SIGTERM (the sweep's own handler exits 130)
    assert control.live_coordinator(folder) is None
    assert control.stop_sweep(folder) is None  # a pid that is gone is never signalled


def test_a_zombie_is_not_a_live_coordinator(coordinator) -> None:
    folder, proc = coordinator
    proc.send_signal(signal.SIGTERM)
    end = time.monotonic() + 10
    while control.live_coordinator(folder) is not None:  # exited, not yet reaped: a zombie
        assert time.monotonic() < end
        time.sleep(0.05)
    assert proc.poll() == 130


def test_a_reused_pid_or_another_folder_is_not_the_sweeps_coordinator(coordinator, tmp_path) -> None:
    folder, proc = coordinator
    record = json.loads((folder / control.PID_FILE).read_text())
    (folder / control.PID_FILE).write_text(json.dumps({**record, "started": record["started"] - 3600}))
    assert control.live_coordinator(folder) is None  # same pid, another process start: not it
    assert control.stop_sweep(folder) is None and proc.poll() is None  # and it was not signalled
    (folder / control.PID_FILE).write_text(json.dumps(record))
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    assert control.live_coordinator(copy) is None  # a copy of the folder is not what it coordinates
    assert control.live_coordinator(folder) == proc.pid


def test_only_the_coordinator_itself_forgets_its_record(coordinator) -> None:
    folder, _ = coordinator
    control.forget(folder)  # this test process is not the coordinator
    assert (folder / control.PID_FILE).exists()
    control.record(folder)
    control.forget(folder)
    assert not (folder / control.PID_FILE).exists()


def test_resume_detached_records_the_new_coordinator_at_once(tmp_path: Path) -> None:
    sweep = fake_sweep(tmp_path / "runs")  # every trial finished: the resumed sweep ends at once
    log = tmp_path / "resume.log"
    process = control.resume_detached(sweep, log)
    try:
        assert control.read_record(sweep).pid == process.pid
        assert process.wait(timeout=120) == 0, log.read_text()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.args == [sys.executable, "-m", "tui_lab", "sweep", "--resume", str(sweep.resolve())]
    assert f"sweep {sweep.resolve()}" in log.read_text()
    assert not (sweep / control.PID_FILE).exists()  # the coordinator forgot itself as it ended
