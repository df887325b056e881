"""The lab and distillation: the teacher field suggests finished classifier runs; a distilled
run's teacher is a horizontal line on the metrics chart and a line in the status."""

from __future__ import annotations

import json
from pathlib import Path

from textual.app import App, ComposeResult

from tests.ui.conftest import settle, wait_for
from tui_lab.core.config import LabConfig
from tui_lab.core.training.events import RunFinished, RunStarted, TeacherReady, read_events
from tui_lab.core.training.history import RunHistory
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.charts import MetricsChart
from tui_lab.ui.widgets.hparam_form import widget_id
from tui_lab.ui.widgets.training_pane import TrainingPane, status_text, teacher_line

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "replayed_events.jsonl"
CSS = Path(__file__).resolve().parents[2] / "tui_lab" / "ui" / "lab.tcss"


def fake_run(runs: Path, name: str, task: str, finished: bool = True) -> Path:
    """A run folder as the trainer leaves it, as far as the run lists read it (no weights)."""
    config = LabConfig()
    config.model.task = task
    config.save(runs / name / "config.toml")
    for which in ("best", "last"):
        (runs / name / which).mkdir(parents=True)
        (runs / name / which / "config.json").write_text("{}")
    state = {"step": 3, "finished": finished, "status": "completed"}
    (runs / name / "last" / "trainer_state.json").write_text(json.dumps(state))
    return runs / name


async def test_the_teacher_field_suggests_finished_classifier_runs(lab_config, tmp_path: Path) -> None:
    runs = Path(lab_config.train.output_dir)
    fake_run(runs, "sentiment-teacher", "classify")
    fake_run(runs, "mlm", "pretrain")
    fake_run(runs, "unfinished", "classify", finished=False)
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        field = app.query_one("#" + widget_id("train.teacher"))
        suggester = field.suggester
        assert await suggester.get_suggestion(str(runs / "s")) == str(runs / "sentiment-teacher")
        assert await suggester.get_suggestion(str(runs / "m")) is None  # a pretraining run teaches nothing
        assert await suggester.get_suggestion(str(runs / "u")) is None  # nor does an unfinished one
        field.focus()
        await pilot.press(*str(runs / "s"), "right")
        assert app.config.train.teacher == str(runs / "sentiment-teacher")


class DistilledReplay(App[None]):
    """The Training pane fed the fixture's run with a teacher event after its start."""

    CSS_PATH = str(CSS)

    def compose(self) -> ComposeResult:
        yield TrainingPane(id="training", classes="pane")

    def on_mount(self) -> None:
        events = read_events(FIXTURE)
        at = next(i for i, e in enumerate(events) if isinstance(e, RunStarted)) + 1
        teacher = TeacherReady(
            source="runs/teacher/best", dev={"accuracy": 0.875, "f1_macro": 0.87}, rows=240
        )
        history = RunHistory()
        history.extend([*events[:at], teacher, *events[at:]])
        self.query_one(TrainingPane).show_history(history)
        self.history = history


async def test_the_teacher_is_a_line_on_the_metrics_chart_and_in_the_status() -> None:
    app = DistilledReplay()
    async with app.run_test(size=(120, 40)) as pilot:
        chart = app.query_one(MetricsChart)
        await wait_for(pilot, lambda: chart.up_to_date() and chart.points > 0, timeout=30)
        assert (0.875, "cyan") in chart.levels
        assert any(color == "gray" for _, color in chart.levels)  # the baseline's, as before
        assert "teacher acc 0.8750" in status_text(app.history).plain


def test_a_ner_teachers_line_shows_its_entity_f1() -> None:
    assert teacher_line({"f1": 0.8, "accuracy": 0.95, "precision": 0.7}) == "teacher f1 0.8000 · acc 0.9500"
    assert teacher_line({"accuracy": 0.875, "f1_macro": 0.87}) == "teacher acc 0.8750"


async def test_the_augment_field_sets_the_copies_by_keyboard(lab_config, tmp_path: Path) -> None:
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        field = app.query_one("#" + widget_id("train.distill_augment"))
        field.focus()
        await pilot.press("ctrl+u", "1", "0")
        await pilot.pause()
        assert app.config.train.distill_augment == 10
        field.scroll_visible()
        await pilot.pause()
        app.save_screenshot(str(tmp_path / "augment.svg"))
        await pilot.press("ctrl+u", "1", "0", "1")  # past the limit of 100: the last valid value stays
        await pilot.pause()
        assert app.config.train.distill_augment == 10


def test_before_the_run_starts_the_status_shows_the_teachers_progress() -> None:
    from tui_lab.core.training.events import Notice

    history = RunHistory()
    history.apply(Notice(level="info", text="teacher: scoring 4,000 texts with t/model.onnx (onnx)"))
    history.apply(Notice(level="info", text="teacher: 3,000 of 4,000 texts scored, 150/s, 1:00 left"))
    assert "teacher: 3,000 of 4,000 texts scored, 150/s, 1:00 left" in status_text(history).plain
    stopped = RunHistory()
    stopped.extend([*history.notices, RunFinished("stopped", 0, 0.0, None, None, 0.0, False, "before")])
    assert "texts scored" not in status_text(stopped).plain  # stopped in the pass: no time left shown
    history.extend(read_events(FIXTURE))  # once it has started, its own lines take the place
    assert "texts scored" not in status_text(history).plain
