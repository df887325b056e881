"""The Console pane: type a sentence, see its label and every class's probability (or, for a NER
model, the sentence with its entities highlighted).

With a masked language model (a pretraining run) it fills ``[MASK]``: the five most probable
tokens and their probabilities, shown the same way.

Predictions run in a thread worker on a :class:`tui_lab.core.deploy.predictor.Predictor`; ctrl+e explains
the sentence (the one typed, else the latest) word by word in another worker, under its prediction.
The model is the best checkpoint of the current run as soon as one exists (reloaded when a newer best is saved,
also while training goes on), or a run or model folder the user opened.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Input, Static

from tui_lab.core.settings import render_error
from tui_lab.ui.messages import Explained, Predicted
from tui_lab.ui.widgets.explanation import explanation_text

BAR_WIDTH = 24
MAX_HISTORY = 200


ENTITY_STYLES = ("bold black on cyan", "bold black on magenta", "bold black on yellow", "bold black on green")


def entity_card(pred: Any) -> Table:
    """A NER prediction: the sentence with each entity highlighted and tagged with its type and
    score, then one line per entity."""
    kinds = sorted({e["entity_group"] for e in pred.entities})
    style = {k: ENTITY_STYLES[i % len(ENTITY_STYLES)] for i, k in enumerate(kinds)}
    line = Text()
    line.append("› ", "dim")
    at = 0
    for e in pred.entities:
        line.append(pred.text[at : e["start"]])
        line.append(pred.text[e["start"] : e["end"]], style[e["entity_group"]])
        line.append(f" {e['entity_group']} {e['score']:.2f}", "dim " + style[e["entity_group"]].split()[-1])
        at = e["end"]
    line.append(pred.text[at:])
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column()
    found = f"{len(pred.entities)} entit{'y' if len(pred.entities) == 1 else 'ies'}"
    table.add_row(Text(found, style="bold green"), line)
    for e in pred.entities:
        table.add_row(
            Text(f"  {e['entity_group']}", style=style[e["entity_group"]].split()[-1]),
            Text(
                f"{pred.text[e['start'] : e['end']]}  {e['score']:.3f}  [{e['start']}:{e['end']}]",
                style="dim",
            ),
        )
    return table


def prediction_card(pred: Any, explanation: Any = None) -> Table:
    """The text, its label, one bar per class (highest first) and, when given, the coloured words;
    a NER model's entities."""
    if hasattr(pred, "entities"):
        return entity_card(pred)
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
    if explanation is not None:
        # a multi-label set is explained through its most probable label: name it
        named = "" if explanation.label == pred.label else f" ({explanation.label})"
        why = Text(f"  why{named}", style="dim")
        table.add_row(why, explanation_text(explanation), Text(""))
    return table


class PredictionCard(Static):
    """One prediction in the console's history."""

    def __init__(self, prediction: Any, explanation: Any = None) -> None:
        super().__init__(prediction_card(prediction, explanation), classes="prediction")
        self.prediction = prediction
        self.explanation = explanation


class ConsolePane(Vertical):
    """Enter a sentence; predictions stack up newest first; ctrl+e explains one."""

    # priority: the sentence box's own ctrl+e (cursor to the end; the end key still does that)
    BINDINGS = [Binding("ctrl+e", "explain", "Explain", priority=True)]

    def __init__(self, model_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_dir = model_dir
        self._predictor: Any = None
        self._loaded_from: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self._explaining: dict[int, Static] = {}  # key -> its "explaining…" card

    def compose(self) -> ComposeResult:
        yield Input(placeholder="type a sentence and press Enter", id="console-input")
        yield Static(self._model_line(), id="console-model")
        yield VerticalScroll(id="console-history")

    def on_mount(self) -> None:
        self.border_title = Content("Console  [F5]")

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
            self.post_message(Predicted([], model_dir, render_error(exc, "label")))
        except Exception as exc:
            self.post_message(Predicted([], model_dir, f"{type(exc).__name__}: {exc}"))

    def _predictor_for(self, model_dir: str) -> Any:
        from tui_lab.core.deploy.fill_mask import load_predictor
        from tui_lab.core.deploy.predictor import resolve_model_dir

        folder = resolve_model_dir(model_dir)
        weights = folder / "model.safetensors"
        stamp = (str(folder), weights.stat().st_mtime if weights.exists() else 0.0)
        if self._predictor is None or self._loaded_from != stamp:
            self._predictor = load_predictor(folder)  # a masked LM fills [MASK]: top tokens
            self._loaded_from = stamp
        return self._predictor

    @on(Predicted)
    def _show(self, message: Predicted) -> None:
        if message.error:
            self._add_card(Static(Text(message.error, style="bold red"), classes="prediction"))
            return
        self.query_one("#console-model", Static).update(Text(f"model: {message.model}", style="dim"))
        for pred in message.predictions:
            self._add_card(PredictionCard(pred))

    def _add_card(self, card: Static) -> None:
        """Put a card on top of the history (the oldest beyond MAX_HISTORY go)."""
        history = self.query_one("#console-history", VerticalScroll)
        if history.children:
            history.mount(card, before=0)
        else:
            history.mount(card)
        for old in list(history.children)[MAX_HISTORY:]:
            old.remove()
        history.scroll_home(animate=False)

    # -- explanations ----------------------------------------------------------------------------
    def action_explain(self) -> None:
        """Explain the typed sentence (else the latest one) in a worker; "explaining…" meanwhile."""
        box = self.query_one("#console-input", Input)
        text = box.value.strip()
        if not text:
            latest = next(iter(self.query(PredictionCard)), None)
            text = latest.prediction.text if latest is not None else ""
        if not text:
            self.notify("Type a sentence to explain first.", severity="warning")
            return
        if not self.model_dir:
            self.notify(
                "No model yet: train one with ctrl+t or open a folder with ctrl+l.", severity="warning"
            )
            return
        box.value = ""
        card = Static(Text(f"explaining… {text}", style="italic dim"), classes="prediction explaining")
        key = id(card)
        self._explaining[key] = card
        self._add_card(card)
        settings = getattr(getattr(self.app, "config", None), "explain", None)
        steps = getattr(settings, "n_steps", None)
        batch = getattr(settings, "internal_batch_size", None) or None
        self.explain(text, self.model_dir, key, steps, batch)

    @work(thread=True, group="explain", exit_on_error=False, description="explain")
    def explain(self, text: str, model_dir: str, key: int, n_steps: int | None, batch: int | None) -> None:
        """Predict and explain one text (Integrated Gradients: a second or two on a CPU)."""
        from tui_lab.core.errors import LabError
        from tui_lab.core.imports import import_heavy

        import_heavy()
        try:
            from tui_lab.core.analysis.explain import explain_texts

            with self._lock:
                predictor = self._predictor_for(model_dir)
                pred = predictor.predict([text])[0]
                expl = explain_texts(predictor, [text], n_steps, batch)[0]
            self.post_message(Explained(key, pred, expl, predictor.source))
        except LabError as exc:
            self.post_message(Explained(key, None, None, model_dir, render_error(exc, "label")))
        except Exception as exc:
            self.post_message(Explained(key, None, None, model_dir, f"{type(exc).__name__}: {exc}"))

    @on(Explained)
    def _show_explanation(self, message: Explained) -> None:
        pending = self._explaining.pop(message.key, None)
        if message.error:
            card: Static = Static(Text(message.error, style="bold red"), classes="prediction")
        else:
            card = PredictionCard(message.prediction, message.explanation)
        if pending is not None and pending.is_attached:
            pending.parent.mount(card, after=pending)
            pending.remove()
        else:
            self._add_card(card)

    def prefill(self, text: str, model_dir: str | None = None) -> None:
        """Put a text in the sentence box (Enter predicts it), with this model if given."""
        if model_dir:
            self.use_model(model_dir)
        self.query_one("#console-input", Input).value = text

    def focus_input(self) -> None:
        """Put the cursor in the sentence box."""
        self.query_one("#console-input", Input).focus()
