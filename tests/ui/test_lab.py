"""The lab driven by keys through Textual's Pilot: each pane, and the whole flow."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from tests.conftest import make_rows, write_csv
from tests.ui.conftest import record_notifications, settle, wait_for
from tui_lab.core.config import LabConfig
from tui_lab.core.settings import form_fields, help_text, label_of, task_of
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.charts import RunChart
from tui_lab.ui.widgets.console import ConsolePane, PredictionCard
from tui_lab.ui.widgets.dataset_pane import DatasetPane
from tui_lab.ui.widgets.dialogs import HelpScreen, PathPrompt
from tui_lab.ui.widgets.hparam_form import widget_id


def _text(app: LabApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def _visible(app: LabApp) -> set[str]:
    return {
        p
        for p in ("dataset", "hparams", "training", "console")
        if app.query_one(f"#{p}").display and app.query_one(f"#{p}").parent.display
    }


async def test_all_panes_at_120x40_and_one_at_a_time_at_80x24(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert _visible(app) == {"dataset", "hparams", "training", "console"}
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert _visible(app) == {"dataset"}
        await pilot.press("f3")
        assert _visible(app) == {"hparams"} and app.focused.id == widget_id("model.name")
        await pilot.press("f4")
        assert _visible(app) == {"training"}
        await pilot.press("f5")
        assert _visible(app) == {"console"} and app.focused.id == "console-input"
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert len(_visible(app)) == 4


async def test_dataset_pane_previews_and_describes_the_sample_data() -> None:
    app = LabApp(LabConfig(), warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.query_one("#data-preview", DataTable)
        assert table.row_count == 100 and [c.label.plain for c in table.columns.values()] == ["label", "text"]
        bars = _text(app, "#label-bars")
        assert "negative" in bars and "positive" in bars and "750" in bars
        summary = _text(app, "#length-summary")
        assert "p95" in summary and "cut at 128" in summary and "0 shared by train/dev" in summary
        # a smaller max length in the form updates the truncated share without a reload
        form_input = app.query_one("#" + widget_id("data.max_length"), Input)
        form_input.value = "16"
        await pilot.pause()
        assert "cut at 16" in _text(app, "#length-summary")


async def test_a_bad_file_shows_in_the_pane_and_the_app_keeps_working(tmp_path: Path, lab_config) -> None:
    good = lab_config.data.train
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pane = app.query_one(DatasetPane)
        pane.set_path("train", str(tmp_path / "missing.csv"))
        await settle(pilot)
        assert "does not exist" in _text(app, "#data-error")
        write_csv(tmp_path / "one.csv", [(f"text {i}", "same") for i in range(20)])
        pane.set_path("train", str(tmp_path / "one.csv"))
        await settle(pilot)
        assert "single label" in _text(app, "#data-error")
        pane.set_path("train", good)
        await settle(pilot)
        assert not app.query_one("#data-error").display, _text(app, "#data-error")
        assert "pos" in _text(app, "#label-bars")


async def test_typed_path_loads_another_file_with_other_columns(tmp_path: Path, lab_config) -> None:
    other = write_csv(
        tmp_path / "reviews.csv",
        [(t, lab, "x") for t, lab in make_rows(60)],
        header=("review", "sentiment", "source"),
    )
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        box = app.query_one("#data-train", Input)
        box.value = str(other)
        await pilot.press("enter")
        await settle(pilot)
        assert app.config.data.train == str(other)
        assert "review" in [c.label.plain for c in app.query_one("#data-preview", DataTable).columns.values()]
        assert "neg" in _text(app, "#label-bars")


@pytest.mark.slow  # writes and analyses 300,000 rows
async def test_large_file_preview_arrives_before_the_full_analysis(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with open(big, "w") as fh:
        fh.write("text,label\n")
        fh.writelines(
            f"sentence number {i} is {'good' if i % 2 else 'bad'},{i % 2}\n" for i in range(300_000)
        )
    cfg = LabConfig()
    cfg.data.train = str(big)
    app = LabApp(cfg, warm_imports=False)
    seen: list[str] = []
    async with app.run_test(size=(120, 40), message_hook=lambda m: seen.append(type(m).__name__)) as pilot:
        await wait_for(pilot, lambda: "DatasetPreviewed" in seen, timeout=60)
        assert "DatasetAnalysed" not in seen  # the screen has rows while the rest still loads
        assert app.query_one("#data-preview", DataTable).row_count == 100
        await pilot.press("f3")  # the app still answers keys
        assert app.focused.id == widget_id("model.name")
        await settle(pilot)
        assert "train 270,000 · dev 30,000" in _text(app, "#length-summary")  # a 10% dev split


async def test_invalid_field_is_marked_and_refuses_to_start(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        # classification: no task's own fields; no adapters: no LoRA fields
        shown = [p for p, _ in form_fields() if not task_of(p) and not p.startswith("model.lora_")]
        tabs = ["tab"] * shown.index("train.epochs")
        await pilot.press("f3", *tabs)  # model -> epochs
        assert app.focused.id == widget_id("train.epochs")
        await pilot.press("0")  # focusing selected the old value; typing replaces it
        await pilot.pause()
        error = app.query_one("#" + widget_id("train.epochs") + "-error", Static)
        assert error.display and "must be at least 1" in str(error.render())
        assert app.config.train.epochs == 2  # the config keeps its last valid value
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not app.training
        assert any('Cannot start: the "epochs" field' in n.message for n in app._notifications)
        await pilot.press("f3", *tabs, "3")
        await pilot.pause()
        assert not error.display and app.config.train.epochs == 3
        lr = app.query_one("#" + widget_id("train.learning_rate"), Input)
        lr.value = "-1e-3"
        await pilot.pause()
        assert "greater than 0" in str(
            app.query_one("#" + widget_id("train.learning_rate") + "-error").render()
        )


async def test_save_and_load_toml_from_the_form(tmp_path: Path, lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    target = tmp_path / "saved.toml"
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.query_one("#" + widget_id("train.epochs"), Input).value = "7"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, PathPrompt)
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        saved = LabConfig.load(target)  # the very file `tui-lab train --config` reads
        assert saved.train.epochs == 7 and saved.data.train == lab_config.data.train
        saved.train.epochs, saved.train.batch_size = 4, 8
        saved.save(target)
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        assert app.config.train.batch_size == 8
        assert app.query_one("#" + widget_id("train.epochs"), Input).value == "4"


async def test_whole_flow_train_watch_predict(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    notes = record_notifications(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        app.query_one("#" + widget_id("train.epochs"), Input).value = "3"
        await pilot.pause()
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: len(app.history.steps) > 0)
        await wait_for(pilot, lambda: not app.training)
        charts = list(app.query(RunChart))
        await wait_for(
            pilot, lambda: all(c.up_to_date() for c in charts), timeout=15
        )  # within a redraw period
        await wait_for(pilot, lambda: "completed" in _text(app, "#train-status"), timeout=15)
        h = app.history
        assert h.status == "completed" and h.started.epochs == 3
        assert len(h.steps) == 3 * 15 and len(h.evaluated_at_steps) == 3 and h.baseline is not None
        assert all(c.points > 0 for c in charts)  # every chart drew the final state
        status = _text(app, "#train-status")
        assert "completed" in status and "best f1_macro" in status and "baseline" in status
        assert "confusion" in _text(app, "#confusion")
        assert any("Run completed" in n for n in notes)  # a live finish is announced

        await pilot.press("f5")
        await pilot.press(*"the hotel was superb")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.query(".prediction")) > 0)
        card = app.query(PredictionCard).first().prediction
        assert card.label == "pos" and set(card.probabilities) == {"neg", "pos"}
        console = app.query_one(ConsolePane)
        assert console.model_dir == h.started.run_dir and console._predictor.source.endswith("best")


async def test_pause_then_resume_a_run(lab_config) -> None:
    from tui_lab.core.training.events import StepLogged, read_events

    lab_config.train.epochs, lab_config.train.patience = 200, 0  # long enough not to end by itself
    lab_config.train.logging_steps = 1
    app = LabApp(lab_config, warm_imports=False)

    def logged_steps() -> int:
        log = Path(app.history.started.run_dir) / "events.jsonl"
        return sum(isinstance(e, StepLogged) for e in read_events(log))

    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: len(app.history.steps) >= 3)
        await pilot.press("f7")
        await wait_for(pilot, lambda: "● paused" in _text(app, "#train-status"), timeout=30)
        assert app.history.status == "paused" and app.training
        paused_at = logged_steps()
        await pilot.pause(2.0)  # a window in which an unpaused run logs several steps
        assert logged_steps() <= paused_at + 1  # at most the step in flight when f7 was pressed
        assert app.training and app.history.status == "paused"
        await pilot.press("f7")
        await wait_for(pilot, lambda: "● running" in _text(app, "#train-status"), timeout=30)
        await wait_for(pilot, lambda: logged_steps() >= paused_at + 5)  # it goes on where it paused
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: not app.training and app.history.status == "stopped", timeout=120)
        assert app.history.last_step.step == logged_steps() < app.history.started.total_steps


async def test_a_failed_run_lets_go_of_its_model(lab_config, monkeypatch) -> None:
    import gc
    import weakref

    models: list[weakref.ref] = []

    def boom(self, *a, **k):
        models.append(weakref.ref(self.s.model))
        raise RuntimeError("kaboom after the first backward pass")

    monkeypatch.setattr("tui_lab.core.training.loop.Trainer._optimizer_step", boom)
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.history.status == "failed" and not app.training)
        # until the next run, the worker's error would hold the trainer through its traceback
        await wait_for(pilot, lambda: models and gc.collect() >= 0 and models[0]() is None, timeout=30)
        assert app.train_worker.error is not None  # the message is kept, only its frames went


async def test_stop_mid_run_then_start_again(lab_config) -> None:
    lab_config.train.epochs, lab_config.train.patience = 50, 0
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: len(app.history.steps) >= 3)
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: not app.training and app.history.finished is not None)
        first = app.history
        assert first.status == "stopped" and first.last_step.step < 50 * 15
        run_dir = Path(first.started.run_dir)
        assert (run_dir / "last" / "trainer_state.json").exists()
        await wait_for(pilot, lambda: "stopped" in _text(app, "#train-status"), timeout=30)
        app.config.train.epochs = 1
        await pilot.press("ctrl+t")
        await wait_for(
            pilot, lambda: not app.training and app.history is not first and app.history.status == "completed"
        )
        assert Path(app.history.started.run_dir) != run_dir


async def test_a_training_failure_is_shown_and_the_app_survives(tmp_path: Path, lab_config) -> None:
    write_csv(tmp_path / "d" / "train.csv", [(f"text {i}", "only") for i in range(30)])
    good = lab_config.data.train
    app = LabApp(lab_config, warm_imports=False)
    errors: list[str] = []  # kept after the toast expires (a loaded machine is slow)
    notify = app.notify

    def recording(message, *args, **kwargs):
        if kwargs.get("severity") == "error":
            errors.append(str(message))
        return notify(message, *args, **kwargs)

    app.notify = recording
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.config.data.train = str(tmp_path / "d")
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.history.status == "failed")
        await wait_for(pilot, lambda: "single label" in _text(app, "#train-status"), timeout=30)
        assert any("single label" in n for n in errors)
        app.config.data.train = good
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.history.status == "completed")


async def test_an_unexpected_exception_in_the_worker_is_reported(lab_config, monkeypatch) -> None:
    def boom(self, *a, **k):
        raise RuntimeError("kaboom in the loop")

    monkeypatch.setattr("tui_lab.core.training.loop.Trainer._optimizer_step", boom)
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.history.status == "failed")
        await wait_for(pilot, lambda: "kaboom in the loop" in _text(app, "#train-status"), timeout=30)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)


async def test_console_opens_a_model_folder(tmp_path: Path, lab_config) -> None:
    from tui_lab.core.training.loop import Trainer

    lab_config.train.epochs = 2
    run = Trainer(lab_config).run()
    app = LabApp(lab_config, model_dir=run.run_dir, warm_imports=False)
    notes = record_notifications(app)  # kept after the toast expires (a loaded machine is slow)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f5", *"the plot was dreadful", "enter")
        await wait_for(pilot, lambda: len(app.query(".prediction")) > 0)
        assert app.query(PredictionCard).first().prediction.label == "neg"
        await pilot.press("ctrl+l")
        await pilot.pause()
        app.screen.query_one(Input).value = str(tmp_path / "nowhere")
        await pilot.press("enter")
        await pilot.pause()
        assert any("not a folder" in n for n in notes)


async def test_help_screen_and_command_palette() -> None:
    app = LabApp(LabConfig(), warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        from rich.console import Console

        console = Console(width=120, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#help-keys", Static).content)
        assert re.search(r"^f7 +pause", console.export_text(), re.MULTILINE)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        expected_titles = ("Start training", "Stop training", "Pause or resume training", "Show Console")
        for expected in (*expected_titles, "Save config", "Open model"):
            assert expected in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert type(app.screen).__name__ == "CommandPalette"


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_snapshot_main_screen(snap_compare, size) -> None:
    async def loaded(pilot) -> None:
        await settle(pilot, 0.5)

    app = LabApp(LabConfig(), warm_imports=False)
    assert snap_compare(app, terminal_size=size, run_before=loaded)


async def test_the_form_has_a_field_per_setting_from_the_declaration(lab_config) -> None:
    from textual.widgets import Label

    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        form = app.query_one("#hparams")
        for path, _ in form_fields():
            row = form.query_one("#" + widget_id(path) + "-row")
            assert str(row.query_one(Label).render()) == label_of(path)
            assert row.query_one("#" + widget_id(path)).tooltip == help_text(path)
        groups = [str(g.render()) for g in form.query(".form-group")]
        assert groups == list(dict.fromkeys(g for _, g in form_fields()))
        run_name = app.query_one("#" + widget_id("train.run_name"), Input)
        run_name.value = "../elsewhere"  # refused by LabConfig.validate(), shown beside the field
        await pilot.pause()
        error = _text(app, "#" + widget_id("train.run_name") + "-error")
        assert "must be a plain folder name" in error and app.config.train.run_name == ""


async def test_a_core_message_names_the_field_label_in_the_lab(tmp_path: Path, lab_config) -> None:
    write_csv(tmp_path / "gaps" / "train.csv", make_rows(60) + [("", "pos")])
    lab_config.data.train = str(tmp_path / "gaps")
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        error = _text(app, "#data-error")
        assert error.endswith('fix them or set "drop empty rows" = on.'), error
        app.query_one("#" + widget_id("data.drop_empty")).value = True  # the field it names
        pane = app.query_one(DatasetPane)
        await wait_for(pilot, lambda: pane.stats is not None, timeout=60)  # reloaded, rows dropped
        assert app.config.data.drop_empty is True and "dropped 1" in " ".join(pane.stats.notes)
