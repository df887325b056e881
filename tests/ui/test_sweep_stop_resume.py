"""ctrl+x stops and ctrl+r resumes the sweep the Sweep screen shows, however it was started.

The fast tests drive a fake sweep folder (tests/ui/fake_runs.py) with one trial still running and a
real process standing in for its coordinator (it records itself as ``run_sweep`` does and exits 130
on SIGTERM); the slow one stops and resumes a real ``tui-lab sweep`` from the keyboard."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.conftest import make_rows, write_csv
from tests.ui.conftest import record_notifications, settle, wait_for
from tests.ui.fake_runs import fake_sweep
from tui_lab.core.config import LabConfig
from tui_lab.core.sweeps import board, control
from tui_lab.core.training import detached
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.sweep_screen import SweepScreen

COORDINATOR = (
    "import signal, sys, time; from pathlib import Path; from tui_lab.core.sweeps import control; "
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(130)); "
    "control.record(Path(sys.argv[1])); print('recorded', flush=True); time.sleep(120)"
)


@pytest.fixture
def config(tmp_path: Path) -> LabConfig:
    config = LabConfig()
    config.train.output_dir = str(tmp_path / "runs")
    return config


def with_a_running_trial(sweep: Path) -> Path:
    """Add a sixth trial, RUNNING on a worker of this host that is gone, to a fake sweep."""
    import optuna

    spec = json.loads((sweep / "sweep.json").read_text())
    spec["trials"] += 1
    (sweep / "sweep.json").write_text(json.dumps(spec))
    storage = board.open_storage(spec["storage"])
    study = optuna.load_study(study_name=spec["study"], storage=storage)
    trial = study.ask({"train.learning_rate": optuna.distributions.FloatDistribution(1e-5, 1e-3, log=True)})
    trial.set_user_attr("worker", f"{socket.gethostname()}:999999")
    return sweep


def start_coordinator(sweep: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", COORDINATOR, str(sweep)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "recorded"
    return proc


def row_state(screen: SweepScreen, number: int) -> str:
    return next((t.state for t in screen.rows if t.number == number), "")


async def test_ctrl_x_stops_the_coordinator_and_ctrl_r_starts_it_again(config, tmp_path, monkeypatch) -> None:
    sweep = with_a_running_trial(fake_sweep(tmp_path / "runs"))
    first = start_coordinator(sweep)
    resumed: list[subprocess.Popen] = []

    def spawn(command: list[str], log: Path) -> subprocess.Popen:  # the resumed coordinator
        assert command == [sys.executable, "-m", "tui_lab", "sweep", "--resume", str(sweep.resolve())]
        resumed.append(start_coordinator(sweep))
        return resumed[-1]

    monkeypatch.setattr(detached, "spawn_detached", spawn)
    app = LabApp(config, warm_imports=False, watch=str(sweep))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            notes = record_notifications(app)
            await wait_for(
                pilot, lambda: isinstance(app.screen, SweepScreen) and len(app.screen.rows) == 6, 30
            )
            screen = app.screen
            board_pane = screen.query_one("#sweep-board")
            await wait_for(pilot, lambda: board_pane.border_subtitle == "running · ctrl+x stops", 10)
            assert row_state(screen, 5) == "running"
            await pilot.press("ctrl+r")  # it runs: nothing to resume, nothing started
            assert "nothing to resume" in notes[-1] and not resumed
            screen.query_one("#sw-trials", Input).focus()  # ctrl+x reaches the screen over a field's cut
            await pilot.press("ctrl+x")
            assert first.wait(timeout=10) == 130 and control.live_coordinator(sweep) is None
            assert f"Stopping {sweep.name} (pid {first.pid})" in notes[-1]
            await wait_for(pilot, lambda: row_state(screen, 5) == "stopped", 10)
            assert board_pane.border_subtitle == "stopped · ctrl+r resumes"
            assert screen.query_one("#sw-trials", Input).value == "6"  # the field kept its text
            await pilot.press("ctrl+x")
            assert "not running here: nothing to stop; ctrl+r resumes it" in notes[-1]
            await pilot.press("ctrl+r")
            assert len(resumed) == 1 and control.live_coordinator(sweep) == resumed[0].pid
            await wait_for(pilot, lambda: row_state(screen, 5) == "running", 10)  # it goes on
            assert board_pane.border_subtitle == "running · ctrl+x stops"
            assert screen.started.log == sweep.parent / ".detached" / f"{sweep.name}.resume.log"
    finally:
        for proc in (first, *resumed):
            proc.kill()
            proc.wait()


async def test_stop_and_resume_say_when_there_is_nothing_to_do(config, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(detached, "spawn_detached", lambda *a: pytest.fail("nothing should start"))
    app = LabApp(config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        notes = record_notifications(app)
        await settle(pilot)
        await pilot.press("f10", "ctrl+x")
        assert notes[-1].startswith("No sweep to stop: start one with ctrl+t")
        await pilot.press("ctrl+r")
        assert notes[-1].startswith("No sweep to resume")
    sweep = fake_sweep(tmp_path / "runs")  # every trial finished, no coordinator
    app = LabApp(config, warm_imports=False, watch=str(sweep))
    async with app.run_test(size=(120, 40)) as pilot:
        notes = record_notifications(app)
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and len(app.screen.rows) == 5, 30)
        assert app.screen.query_one("#sweep-board").border_subtitle == "finished"
        await pilot.press("ctrl+x")
        assert notes[-1] == "sweep-a is not running here: nothing to stop."
        await pilot.press("ctrl+r")
        assert notes[-1] == "sweep-a has finished all its trials: nothing to resume."


async def test_the_palette_lists_stop_and_resume_on_the_sweep_screen(config) -> None:
    app = LabApp(config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Stop sweep" not in titles
        await pilot.press("f10")
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert commands["Stop sweep"].callback == app.screen.action_stop_sweep
        assert commands["Resume sweep"].callback == app.screen.action_resume_sweep


@pytest.mark.slow
async def test_a_real_sweep_stopped_and_resumed_from_the_keyboard_ends_with_n_trials(
    config, tmp_path
) -> None:
    # 320 rows: 40 steps a trial, not 8, so ctrl+x lands mid-trial even when the screen opens
    # slowly (with 8, both trials once finished first under CI load and none showed stopped)
    write_csv(tmp_path / "train.csv", make_rows(320, 1))
    write_csv(tmp_path / "dev.csv", make_rows(16, 2))
    args = [
        sys.executable, "-m", "tui_lab", "sweep", "--train", str(tmp_path), "--output-dir", str(tmp_path / "runs"),
        "--study", "s", "--trials", "2", "--pruner", "none", "--max-length", "16", "--set", "model.vocab_size=200",
        "--batch-size", "8", "--epochs", "1", "--max-steps", "40", "--eval-steps", "1", "--patience", "0",
        "--no-baseline", "--no-tensorboard", "--search", "learning_rate=1e-4..1e-2:log", "--devices", "cpu",
    ]  # fmt: skip
    sweep = tmp_path / "runs" / "s"
    headless = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    app = LabApp(config, warm_imports=False)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: (sweep / "trial-000" / "last").exists(), 120)
            app.action_sweep(str(sweep))
            await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen.rows, 30)
            screen = app.screen
            await wait_for(pilot, lambda: control.live_coordinator(sweep) == headless.pid, 30)
            await pilot.press("ctrl+x")
            assert headless.wait(timeout=120) == 130  # every worker saved last/ first
            # the unfinished trial (its number depends on when the stop landed) shows as stopped
            await wait_for(pilot, lambda: any(t.state == "stopped" for t in screen.rows), 60)
            await pilot.press("ctrl+r")
            assert screen.started is not None
            await wait_for(pilot, lambda: screen.started.process.poll() is not None, 240)
            assert screen.started.process.returncode == 0, screen.started.log.read_text()[-2000:]
    finally:
        if headless.poll() is None:
            headless.send_signal(signal.SIGKILL)
    rows = board.trial_rows(sweep)
    assert len(rows) == 2 and [r.state for r in rows] == ["complete", "complete"]
    assert rows[0].run_dir.endswith("trial-000")  # the stopped trial went on in its own folder


async def test_a_sweep_another_machine_coordinates_is_not_shown_stopped(
    config, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(detached, "spawn_detached", lambda *a: pytest.fail("nothing should start"))
    sweep = with_a_running_trial(fake_sweep(tmp_path / "runs"))
    record = {"pid": 1, "started": 0.0, "host": "other-machine", "sweep_dir": str(sweep)}
    (sweep / control.PID_FILE).write_text(json.dumps(record))  # a folder shared with that machine
    app = LabApp(config, warm_imports=False, watch=str(sweep))
    async with app.run_test(size=(120, 40)) as pilot:
        notes = record_notifications(app)
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and len(app.screen.rows) == 6, 30)
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one("#sweep-board").border_subtitle != "", 10)
        assert screen.query_one("#sweep-board").border_subtitle == "coordinated on other-machine"
        assert row_state(screen, 5) == "running"
        await pilot.press("ctrl+r")
        assert notes[-1].startswith("sweep-a is coordinated on other-machine: resume it there")
        await pilot.press("ctrl+x")
        assert "not running here: nothing to stop" in notes[-1]
