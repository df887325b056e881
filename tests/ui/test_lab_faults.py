"""The lab survives what the world does to it: deleted runs, changing files, bad settings."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.widgets import Input, Static

from tests.conftest import make_rows, write_csv
from tests.ui.conftest import record_notifications, settle, wait_for
from tui_lab.core.training.loop import Trainer
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.dialogs import PathPrompt


def _text(app: LabApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def test_run_folder_deleted_while_training(lab_config, monkeypatch) -> None:
    import threading

    from tui_lab.core.training.runlog import RunLog

    closing = threading.Event()  # the failed run's thread is held while it closes its files
    close = RunLog.close

    def slow_close(self) -> None:
        closing.wait(timeout=60)
        close(self)

    monkeypatch.setattr(RunLog, "close", slow_close)
    lab_config.train.epochs, lab_config.train.patience = 30, 0
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        notes = record_notifications(app)
        await settle(pilot)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.history.started is not None and app.history.best_checkpoint_step)
        run_dir = Path(app.history.started.run_dir)

        def deleted() -> bool:  # as `rm -rf` would, again if the trainer wrote a file meanwhile
            shutil.rmtree(run_dir, ignore_errors=True)
            return not run_dir.exists()

        await wait_for(pilot, deleted, timeout=30)
        await wait_for(pilot, lambda: app.history.status == "failed")
        await wait_for(pilot, lambda: "is gone" in _text(app, "#train-status"), timeout=30)
        lab_config.train.epochs = 1
        # ctrl+t at once, while the failed run's thread still closes its files (slow on a busy
        # machine): the lab starts the new run when that thread ends, instead of refusing
        await pilot.press("ctrl+t")
        assert app.training and any("as soon as the last run" in n for n in notes)
        monkeypatch.setattr(RunLog, "close", close)
        closing.set()
        await wait_for(pilot, lambda: app.history.status == "completed")
        assert Path(app.history.started.run_dir) != run_dir
        assert not any("already in progress" in n for n in notes)


async def test_a_previewed_file_that_changes_on_disk_is_reloaded(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    train = Path(lab_config.data.train) / "train.csv"
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "neutral" not in _text(app, "#label-bars")
        write_csv(train, make_rows(90) + [(f"so so {i}", "neutral") for i in range(30)])
        await wait_for(pilot, lambda: "neutral" in _text(app, "#label-bars"), timeout=30)
        train.write_bytes(b"text,label\n\xff\xfe,broken\n")
        await wait_for(pilot, lambda: "not UTF-8" in _text(app, "#data-error"), timeout=30)
        train.unlink()
        await wait_for(pilot, lambda: "folder without a train file" in _text(app, "#data-error"), timeout=30)


async def test_unknown_model_offline_fails_in_place_and_writes_nothing(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        app.query_one("#hp-model-name", Input).value = "someone/not-a-model"
        await pilot.pause()
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.history.status == "failed")
        await wait_for(pilot, lambda: "offline preset" in _text(app, "#train-status"), timeout=30)
        out = Path(lab_config.train.output_dir)
        assert not out.exists() or not any(out.iterdir())


async def test_trust_remote_code_is_flagged_while_on(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert _text(app, "#hp-remote-code-warning") == ""
        app.query_one("#hp-model-trust_remote_code").value = True
        await pilot.pause()
        assert "trust_remote_code is ON" in _text(app, "#hp-remote-code-warning")
        assert "trust_remote_code ON" in app.sub_title
        app.query_one("#hp-model-trust_remote_code").value = False
        await pilot.pause()
        assert app.sub_title == "" and not app.config.model.trust_remote_code


async def test_a_bad_toml_is_refused_and_the_form_keeps_its_values(lab_config, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepochs = 'many'\n")
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, PathPrompt)
        app.screen.query_one(Input).value = str(bad)
        await pilot.press("enter")
        await pilot.pause()
        assert any("train.epochs must be a whole number" in n.message for n in app._notifications)
        assert app.config.train.epochs == 2


async def test_a_run_stopped_in_the_lab_resumes_headless(lab_config) -> None:
    import threading

    from tui_lab.core.training.events import StepLogged

    lab_config.train.epochs, lab_config.train.patience = 100, 0
    lab_config.train.run_name = "lab-stopped"
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: len(app.history.steps) >= 20)
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: app.history.status == "stopped")
        run_dir, stopped_at = app.history.started.run_dir, app.history.finished.step
    steps: list[int] = []
    stop = threading.Event()

    def two_more(event) -> None:
        if isinstance(event, StepLogged):
            steps.append(event.step)
            if len(steps) == 2:
                stop.set()

    resumed = Trainer(lab_config, [two_more], stop=stop, resume=run_dir).run()
    assert steps[0] == stopped_at + 1 and resumed.status == "stopped"
