"""The Training pane drawing a saved run: no training, one fixed ``events.jsonl``."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from tui_lab.core.training.events import read_events
from tui_lab.core.training.history import RunHistory, RunStatus
from tui_lab.ui.widgets.training_pane import TrainingPane

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "replayed_events.jsonl"
CSS = Path(__file__).resolve().parents[2] / "tui_lab" / "ui" / "lab.tcss"


class ReplayApp(App[None]):
    """Only the Training pane, fed the fixture's events as a replayed run."""

    CSS_PATH = str(CSS)

    def compose(self) -> ComposeResult:
        yield TrainingPane(id="training", classes="pane")

    def on_mount(self) -> None:
        history = RunHistory()
        history.extend(read_events(FIXTURE))
        self.query_one(TrainingPane).show_history(history)


def test_the_fixture_is_a_whole_finished_run() -> None:
    history = RunHistory()
    history.extend(read_events(FIXTURE))
    assert history.status == RunStatus.COMPLETED and history.step == history.started.total_steps == 45
    assert len(history.steps) == 45 and history.evaluated_at_steps == [15, 30, 45]
    assert history.test_eval is not None and history.baseline is not None and history.device


def test_snapshot_training_pane_replaying_a_saved_run(snap_compare) -> None:
    async def drawn(pilot) -> None:
        from tests.ui.conftest import wait_for
        from tui_lab.ui.widgets.charts import RunChart

        charts = list(pilot.app.query(RunChart))
        await wait_for(pilot, lambda: all(c.up_to_date() and c.points > 0 for c in charts), timeout=30)

    assert snap_compare(ReplayApp(), terminal_size=(120, 40), run_before=drawn)


def test_every_status_has_one_style_shared_by_the_pane_and_the_runs_screen() -> None:
    from tui_lab.ui.status import STATUS_STYLE, status_cell
    from tui_lab.ui.widgets.training_pane import status_text

    assert set(STATUS_STYLE) == set(RunStatus)
    history = RunHistory()
    history.extend(read_events(FIXTURE))
    line = status_text(history)
    cell = status_cell(history.status)
    assert cell.plain == "completed" and cell.style == STATUS_STYLE[RunStatus.COMPLETED]
    assert line.plain.startswith("● completed") and any(
        span.style == STATUS_STYLE[RunStatus.COMPLETED] for span in line.spans
    )


def test_a_pretraining_run_charts_dev_perplexity() -> None:
    import asyncio
    import dataclasses
    import math

    from tui_lab.core.training.events import Evaluated, RunStarted
    from tui_lab.ui.widgets.charts import MetricsChart

    def as_pretraining(event):
        if isinstance(event, RunStarted):
            return dataclasses.replace(event, config={**event.config, "model": {"task": "pretrain"}})
        if isinstance(event, Evaluated):
            loss = event.metrics["loss"]
            return dataclasses.replace(event, metrics={"loss": loss, "perplexity": math.exp(loss)})
        return event

    class PretrainReplay(App[None]):  # not a ReplayApp: Textual would run its on_mount too
        CSS_PATH = str(CSS)

        def compose(self) -> ComposeResult:
            yield TrainingPane(id="training", classes="pane")

        def on_mount(self) -> None:
            history = RunHistory()
            history.extend([as_pretraining(e) for e in read_events(FIXTURE)])
            self.query_one(TrainingPane).show_history(history)

    async def check() -> None:
        from tests.ui.conftest import wait_for

        app = PretrainReplay()
        async with app.run_test(size=(120, 40)) as pilot:
            chart = app.query_one(MetricsChart)
            await wait_for(pilot, lambda: chart.up_to_date() and chart.points > 0, timeout=30)
            assert chart.points == 3  # one perplexity point per dev evaluation (no accuracy, no F1)

    asyncio.run(check())
