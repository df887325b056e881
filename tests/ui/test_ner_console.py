"""The Console pane showing a NER model's answer: entities highlighted with their type and score,
and the per-entity-type F1 bars the Training pane shows for a NER run."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from tui_lab.core.tasks.entities import EntityPrediction
from tui_lab.ui.messages import Predicted
from tui_lab.ui.widgets.console import ConsolePane, entity_card
from tui_lab.ui.widgets.training_pane import per_label_f1

CSS = Path(__file__).resolve().parents[2] / "tui_lab" / "ui" / "lab.tcss"
TEXT = "Anna Smith works for Acme Corp in Paris."
ENTITIES = [
    {"entity_group": "PER", "score": 0.981, "word": "anna smith", "start": 0, "end": 10},
    {"entity_group": "ORG", "score": 0.912, "word": "acme corp", "start": 21, "end": 30},
    {"entity_group": "LOC", "score": 0.874, "word": "paris", "start": 34, "end": 39},
]
PREDICTION = EntityPrediction(TEXT, "PER:Anna Smith, ORG:Acme Corp, LOC:Paris", 0.874, {}, ENTITIES)


class ConsoleApp(App[None]):
    """Only the console, shown one fixed NER prediction (no model is loaded)."""

    CSS_PATH = str(CSS)

    def compose(self) -> ComposeResult:
        yield ConsolePane(model_dir="runs/ner-demo", id="console", classes="pane")

    def on_mount(self) -> None:
        self.query_one(ConsolePane).post_message(Predicted([PREDICTION], "runs/ner-demo/best"))


def test_entities_are_highlighted_in_the_sentence_with_type_and_score() -> None:
    import io

    from rich.console import Console

    console = Console(width=100, record=True, file=io.StringIO())
    console.print(entity_card(PREDICTION))
    plain = console.export_text()
    assert "Anna Smith PER 0.98 works for Acme Corp ORG 0.91 in Paris LOC 0.87." in plain
    assert "3 entities" in plain
    styles = {str(s.style) for s in entity_card(PREDICTION).columns[1]._cells[0].spans}
    assert {
        "bold black on cyan",
        "bold black on magenta",
        "bold black on yellow",
    } <= styles  # one colour a type


def test_per_entity_type_f1_bars_come_from_the_metrics() -> None:
    metrics = {"f1": 0.9, "f1/LOC": 1.0, "f1/PER": 0.5}
    text = per_label_f1(7, ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"], metrics).plain
    assert text.splitlines() == [
        "F1 by entity type @ 7",
        "LOC        ████████ 1.000",
        "PER        ████░░░░ 0.500",
    ]


def test_snapshot_ner_console(snap_compare) -> None:
    async def shown(pilot) -> None:
        from tests.ui.conftest import wait_for

        await wait_for(pilot, lambda: len(pilot.app.query(".prediction")) == 1, timeout=30)

    assert snap_compare(ConsoleApp(), terminal_size=(100, 16), run_before=shown)
