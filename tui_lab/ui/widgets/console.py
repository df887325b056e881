"""The Console pane: type a sentence, see its label and every class's probability.

Predictions run in a thread worker on a :class:`tui_lab.core.predict.Predictor`. The model is the
best checkpoint of the current run as soon as one exists (reloaded when a newer best is saved,
also while training goes on), or a run or model folder the user opened.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Static

from tui_lab.ui.messages import Predicted

BAR_WIDTH = 24
MAX_HISTORY = 200


def prediction_card(pred: Any) -> Table:
    """The text, its label, and one bar per class (highest first)."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column()
    table.add_column(justify="right")
    head = Text()
    head.append("› ", "dim")
    head.append(pred.text if len(pred.text) <= 200 else pred.text[:199] + "…")
    table.add_row(Text(pred.label, style="bold green"), head, Text(f"{pred.score:.1%}", style="bold"))
    for label, p in sorted(pred.probabilities.items(), key=lambda kv: -kv[1]):
        filled = round(BAR_WIDTH * p)
        bar = Text("█" * filled, style="green" if label == pred.label else "blue")
        bar.append("░" * (BAR_WIDTH - filled), style="dim")
        table.add_row(Text(f"  {label}", style="dim"), bar, Text(f"{p:.3f}", style="dim"))
    return table


class PredictionCard(Static):
    """One prediction in the console's history."""

    def __init__(self, prediction: Any) -> None:
        super().__init__(prediction_card(prediction), classes="prediction")
        self.prediction = prediction


class ConsolePane(Vertical):
    """Enter a sentence; predictions stack up newest first."""

    def __init__(self, model_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_dir = model_dir
        self._predictor: Any = None
        self._loaded_from: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def compose(self) -> ComposeResult:
        yield Input(placeholder="type a sentence and press Enter", id="console-input")
        yield Static(self._model_line(), id="console-model")
        yield VerticalScroll(id="console-history")

    def on_mount(self) -> None:
        self.border_title = "Console  [F5]"

    def _model_line(self) -> Text:
        if not self.model_dir:
            return Text("no model yet: train one (ctrl+t) or open a run/model folder (ctrl+l)", style="dim")
        return Text(f"model: {self.model_dir}", style="dim")

    def use_model(self, model_dir: str) -> None:
        """Predict with this run or model folder from now on (loaded on the next prediction)."""
        self.model_dir = model_dir
        self.query_one("#console-model", Static).update(self._model_line())

    @on(Input.Submitted, "#console-input")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if not self.model_dir:
            self.notify(
                "No model yet: train one with ctrl+t or open a folder with ctrl+l.", severity="warning"
            )
            return
        event.input.value = ""
        self.predict([text], self.model_dir)

    @work(thread=True, group="predict", exit_on_error=False, description="predict")
    def predict(self, texts: list[str], model_dir: str) -> None:
        """Load (or reload) the model if it changed on disk, then predict."""
        from tui_lab.core.errors import LabError
        from tui_lab.core.imports import import_heavy

        import_heavy()
        try:
            with self._lock:
                predictor = self._predictor_for(model_dir)
                preds = predictor.predict(texts)
            self.post_message(Predicted(preds, predictor.source))
        except LabError as exc:
            self.post_message(Predicted([], model_dir, exc.render("label")))
        except Exception as exc:
            self.post_message(Predicted([], model_dir, f"{type(exc).__name__}: {exc}"))

    def _predictor_for(self, model_dir: str) -> Any:
        from tui_lab.core.predict import Predictor, resolve_model_dir

        folder = resolve_model_dir(model_dir)
        weights = folder / "model.safetensors"
        stamp = (str(folder), weights.stat().st_mtime if weights.exists() else 0.0)
        if self._predictor is None or self._loaded_from != stamp:
            self._predictor = Predictor.from_path(folder)
            self._loaded_from = stamp
        return self._predictor

    @on(Predicted)
    def _show(self, message: Predicted) -> None:
        history = self.query_one("#console-history", VerticalScroll)
        if message.error:
            history.mount(Static(Text(message.error, style="bold red"), classes="prediction"), before=0)
            return
        self.query_one("#console-model", Static).update(Text(f"model: {message.model}", style="dim"))
        for pred in message.predictions:
            card = PredictionCard(pred)
            if history.children:
                history.mount(card, before=0)
            else:
                history.mount(card)
        for old in list(history.children)[MAX_HISTORY:]:
            old.remove()
        history.scroll_home(animate=False)

    def prefill(self, text: str, model_dir: str | None = None) -> None:
        """Put a text in the sentence box (Enter predicts it), with this model if given."""
        if model_dir:
            self.use_model(model_dir)
        self.query_one("#console-input", Input).value = text

    def focus_input(self) -> None:
        """Put the cursor in the sentence box."""
        self.query_one("#console-input", Input).focus()
