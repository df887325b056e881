"""The Training pane drawing a saved run: no training, one fixed ``events.jsonl``."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from tui_lab.core.events import read_events
from tui_lab.core.history import RunHistory, RunStatus
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
        await wait_for(pilot, lambda: all(c.up_to_date() and c.points > 0 for c in charts), timeout=10)

    assert snap_compare(ReplayApp(), terminal_size=(120, 40), run_before=drawn)
