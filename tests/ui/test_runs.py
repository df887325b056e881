"""Runs that live outside the lab: watching another process, detached runs, the Runs screen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable

from tests.conftest import make_rows, tiny_train_flags, write_csv
from tests.ui.conftest import record_notifications, settle, wait_for
from tui_lab.core.training.loop import Trainer
from tui_lab.core.training.runs import run_info
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.runs_screen import CompareScreen, OverlayChart, RunsScreen


def _train_process(data: Path, out: Path, name: str, epochs: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tui_lab", "train", *tiny_train_flags(data, out, name, epochs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_watch_follows_a_run_another_process_is_writing(lab_config, tmp_path: Path) -> None:
    data = Path(lab_config.data.train)
    out = tmp_path / "elsewhere"
    proc = _train_process(data, out, "outside", epochs=8)
    try:
        run_dir = out / "outside"
        app = LabApp(lab_config, warm_imports=False, watch=str(run_dir))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: len(app.history.steps) > 0, timeout=120)
            first = len(app.history.steps)
            assert app.history.status == "running" and app.viewing == str(run_dir.resolve())
            await wait_for(pilot, lambda: app.history.status == "completed", timeout=300)
            assert len(app.history.steps) == 8 * 15 > first  # it followed the lines as they came
            assert len(app.history.evaluated_at_steps) == 8
    finally:
        proc.wait(timeout=300)
    assert proc.returncode == 0, proc.stderr.read()


async def test_a_finished_run_replays_into_the_same_charts(lab_config) -> None:
    lab_config.train.run_name = "done"
    result = Trainer(lab_config).run()
    app = LabApp(lab_config, warm_imports=False, watch=result.run_dir)
    notes = record_notifications(app)
    async with app.run_test(size=(120, 40)) as pilot:
        from tui_lab.ui.widgets.charts import LossChart

        await wait_for(pilot, lambda: app.history.status == "completed")
        await wait_for(pilot, lambda: app.query_one(LossChart).points > 0, timeout=30)
        assert len(app.history.steps) == result.step and app.history.best_eval is not None
        assert not any("Run completed" in n for n in notes)  # a replay is quiet


async def test_start_detached_then_stop_it_from_the_lab(lab_config) -> None:
    lab_config.train.epochs, lab_config.train.patience = 200, 0
    lab_config.train.run_name = "detached"
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.query_one("#hp-detached").value = True
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.detached is not None or app.history.status == "failed")
        process = app.detached.process
        run_dir = Path(lab_config.train.output_dir) / "detached"
        await wait_for(pilot, lambda: len(app.history.steps) >= 3, timeout=120)
        assert app.history.started.pid == process.pid != os.getpid()  # trained in another process
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: app.history.status == "stopped", timeout=120)
    assert process.wait(timeout=60) == 130
    assert (run_dir / "last" / "trainer_state.json").exists()
    assert run_info(run_dir).status == "stopped"


@pytest.mark.slow  # waits for a detached run to finish; the one above starts and stops one
async def test_a_detached_run_outlives_the_lab(lab_config) -> None:
    lab_config.train.epochs, lab_config.train.run_name = 3, "outlives"
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.query_one("#hp-detached").value = True
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.detached is not None)
        process = app.detached.process
        assert os.getsid(process.pid) == process.pid != os.getsid(0)  # a session of its own
        await pilot.press("ctrl+q")
    assert process.poll() is None or process.returncode == 0  # quitting the lab did not stop it
    assert process.wait(timeout=300) == 0
    assert run_info(Path(lab_config.train.output_dir) / "outlives").status == "completed"


async def test_runs_screen_lists_opens_and_compares_two_runs(lab_config) -> None:
    lab_config.train.epochs, lab_config.train.run_name = 2, "slow-lr"
    lab_config.train.learning_rate = 1e-4
    Trainer(lab_config).run()
    lab_config.train.run_name, lab_config.train.learning_rate = "fast-lr", 2e-3
    Trainer(lab_config).run()
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f6", "f6")  # f6 opens the list and closes it again
        assert not isinstance(app.screen, RunsScreen)
        await pilot.press("f6")
        assert isinstance(app.screen, RunsScreen)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 2
        assert {r.name for r in app.screen.runs} == {"slow-lr", "fast-lr"}
        await pilot.press("space", "down", "space", "c")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, CompareScreen)
                and all(c.points > 0 for c in app.screen.query(OverlayChart))
            ),
            timeout=30,
        )
        compare = app.screen
        diff = {key: {a, b} for key, a, b in compare.diff}
        assert diff["train.learning_rate"] == {1e-4, 2e-3} and diff["train.run_name"] == {
            "slow-lr",
            "fast-lr",
        }
        assert all(c.points > 0 for c in compare.query(OverlayChart))
        await pilot.press("escape", "enter")  # back to the list, open the run under the cursor
        await wait_for(pilot, lambda: not isinstance(app.screen, (RunsScreen, CompareScreen)), timeout=30)
        await wait_for(pilot, lambda: app.history.status == "completed")
        assert app.viewing.endswith(("slow-lr", "fast-lr"))


def test_watch_command_refuses_a_folder_that_is_not_a_run(tmp_path: Path, capsys) -> None:
    from tui_lab.cli import main

    assert main(["watch", str(tmp_path)]) == 2
    assert "has no events.jsonl" in capsys.readouterr().err
    write_csv(tmp_path / "x.csv", make_rows(3))
    assert main(["watch", str(tmp_path / "x.csv")]) == 2


async def test_watching_a_run_with_a_torn_event_log_shows_it_and_says_so(lab_config, tmp_path: Path) -> None:
    from tests.ui.fake_runs import fake_run

    done = fake_run(tmp_path / "runs" / "done", lab_config.copy(), [0.6, 0.8])
    log = done / "events.jsonl"
    log.write_bytes(log.read_bytes() + b'{"event": "step", "step": 9, "lo')  # a crash mid-write
    app = LabApp(lab_config, warm_imports=False, watch=str(done))
    notes = record_notifications(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.history.status == "completed")
        await wait_for(pilot, lambda: any("torn record" in n for n in notes), timeout=10)
        assert app.history.best_eval is not None  # what was read is shown
    # a live run whose last line is still being written is not damaged: nothing said
    live = fake_run(tmp_path / "runs" / "live", lab_config.copy(), [0.6], status="running")
    lines = (live / "events.jsonl").read_bytes().splitlines(keepends=True)
    (live / "events.jsonl").write_bytes(b"".join(lines[:-1]) + b'{"event": "st')
    app = LabApp(lab_config, warm_imports=False, watch=str(live))
    notes = record_notifications(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(app.history.steps) > 0)
        await pilot.pause(1.0)  # the replay's damage check runs right after the first read
        assert not any("torn" in n for n in notes)
