"""The Hyperparameters pane: a form over ``LabConfig``, validated as it is typed.

Fields, groups, labels, help texts, placeholders, choices and limits all come from the settings'
declaration in :mod:`tui_lab.core.config`, so the form, the CLI flags and the TOML file cannot
drift apart; a value is checked by ``LabConfig.validate()``, whose reason shows beside the field. An invalid value is marked with its reason
beside the field and the config keeps its last valid value; starting a run is refused while any
field is invalid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Checkbox, Input, Label, Select, Static

from tui_lab.core.config import LabConfig, coerce
from tui_lab.core.errors import ConfigError, LabError
from tui_lab.core.models.presets import PRESETS
from tui_lab.core.settings import (
    field_spec,
    field_type,
    form_fields,
    help_text,
    label_of,
    placeholder_of,
    render_error,
    render_settings,
    task_of,
)
from tui_lab.ui.messages import ConfigChanged

# the settings the memory plan depends on: a change re-plans off the UI thread
PLAN_SETTINGS = {
    "model.name", "model.peft", "model.lora_r", "model.lora_targets", "model.task", "model.vocab_size",
    "data.max_length", "train.batch_size", "train.precision", "train.device",
    "train.gradient_checkpointing", "train.fsdp",
}  # fmt: skip


@dataclass
class MemoryPlanned(Message):
    """The memory plan of the form's config (from a worker thread): its line and whether it fits."""

    advice: str
    fits: bool | None


def widget_id(path: str) -> str:
    """DOM id of a field's widget."""
    return "hp-" + path.replace(".", "-")


def _display(value: Any) -> str:
    return "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def on_off(value: bool) -> str:
    """A checkbox's label: its state in words (``▐X▌`` alone looks the same on and off)."""
    return "on" if value else "off"


class HparamForm(VerticalScroll):
    """One row per field: a label, an input (or a choice, or a checkbox) and its error."""

    def __init__(self, config: LabConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.errors: dict[str, str] = {}
        self.data_task = ""  # the task the Dataset pane's data asks for (used while task is auto)
        self.plan_fits: bool | None = None  # the memory plan's verdict (None: not planned)
        self.plan_advice = ""

    def compose(self) -> ComposeResult:
        plan_line = Static("", id="hp-memory-plan")  # the memory plan, at the top: shown once planned
        plan_line.display = False
        yield plan_line
        group = None
        models = self._models()
        teachers = self._teachers()
        for path, field_group in form_fields():
            if field_group != group:
                group = field_group
                yield Label(group, classes="form-group")
            kind, meta = field_type(path), field_spec(path).metadata
            with Vertical(classes="field", id=widget_id(path) + "-field"):
                with Horizontal(classes="field-row", id=widget_id(path) + "-row"):
                    yield Label(label_of(path), classes="field-label")
                    yield self._control(path, kind, meta, self.config.get(path), models, teachers)
                yield Static("", classes="field-error", id=widget_id(path) + "-error")
        with Horizontal(classes="field-row"):
            yield Label("run detached", classes="field-label")
            yield Checkbox(
                on_off(False),
                False,
                compact=True,
                id="hp-detached",
                tooltip="train in a separate process that keeps going when the lab quits",
            )
        yield Static("", id="hp-remote-code-warning")

    def _models(self) -> list[str]:
        """What the model field suggests: the presets, then finished pretraining runs."""
        from tui_lab.core.training.runs import pretrained_runs

        return [*PRESETS, *pretrained_runs(self.config.train.output_dir)]

    def _teachers(self) -> list[str]:
        """What the teacher field suggests: finished classifier runs, newest first."""
        from tui_lab.core.training.runs import classifier_runs

        return classifier_runs(self.config.train.output_dir)

    @staticmethod
    def _control(
        path: str,
        kind: type,
        meta: Any,
        value: Any,
        models: list[str] | None = None,
        teachers: list[str] | None = None,
    ) -> Checkbox | Select | Input:
        """A checkbox for a flag, a choice for a fixed set, else a one-line input."""
        if kind is bool:
            return Checkbox(on_off(value), value, compact=True, id=widget_id(path), tooltip=help_text(path))
        if "choices" in meta:
            return Select(
                [(c or "auto", c) for c in meta["choices"]],  # "": decided by the run (task default)
                value=value,
                allow_blank=False,
                compact=True,
                id=widget_id(path),
                tooltip=help_text(path),
            )
        suggester = None
        if path == "model.name":
            suggester = SuggestFromList(models or list(PRESETS))
        elif path == "train.teacher" and teachers:
            suggester = SuggestFromList(teachers)
        return Input(
            _display(value),
            placeholder=placeholder_of(path),
            compact=True,
            suggester=suggester,
            id=widget_id(path),
            tooltip=help_text(path),
        )

    def on_mount(self) -> None:
        self.border_title = Content("Hyperparameters  [F3]")
        self.border_subtitle = "ctrl+s save · ctrl+o open"
        self._warn_remote_code()
        self._show_task_fields()
        if not self._plan_is_trivial():
            self._plan(self.config.copy())

    # .. validation .................................................................................
    def check(self, path: str, raw: Any) -> str | None:
        """Apply a typed value to the config; the reason it is invalid, or ``None``."""
        try:
            value = coerce(path, raw)
        except ConfigError as exc:
            return next(iter(exc.errors.values()), str(exc))
        previous = self.config.get(path)
        self.config.set(path, value)
        problem = self.config.validate().get(path)
        if problem is not None:
            self.config.set(path, previous)  # the config keeps its last valid value
        elif previous != value:
            self.post_message(ConfigChanged(path, value))
        return problem

    def _mark(self, path: str, problem: str | None) -> None:
        widget = self.query_one("#" + widget_id(path))
        widget.set_class(problem is not None, "-invalid")
        error = self.query_one("#" + widget_id(path) + "-error", Static)
        error.update(Text(f"  ✗ {problem}", style="bold red") if problem else "")
        error.display = problem is not None
        if problem:
            self.errors[path] = problem
        else:
            self.errors.pop(path, None)

    # .. a task's own fields ...........................................................................
    @property
    def task(self) -> str:
        """The task a run would train: the task setting, or on auto the one the data asks for."""
        return self.config.model.task or self.data_task

    def show_data_task(self, task: str) -> None:
        """The Dataset pane has told which task its data asks for."""
        self.data_task = task
        self._show_task_fields()

    def _show_task_fields(self) -> None:
        """Show each task's own fields only for that task, and the LoRA fields only with adapters
        (a field marked invalid stays in view)."""
        task = self.task
        adapters = self.config.model.peft != "none"
        for path, _ in form_fields():
            owner = task_of(path)
            if owner or path.startswith("model.lora_"):
                shown = (owner == task if owner else adapters) or path in self.errors
                self.query_one("#" + widget_id(path) + "-field").display = shown

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        path = self._path_of(event.input.id)
        if path:
            self._mark(path, self.check(path, event.value))

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        path = self._path_of(event.select.id)
        if path and event.value is not Select.BLANK:
            self._mark(path, self.check(path, event.value))
            if path in ("model.task", "model.peft"):
                self._show_task_fields()

    @on(Checkbox.Changed)
    def _checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.checkbox.label = on_off(event.value)
        path = self._path_of(event.checkbox.id)
        if path:
            self._mark(path, self.check(path, event.value))
            self._warn_remote_code()

    @property
    def detached(self) -> bool:
        """Whether ctrl+t starts a run in its own process (it outlives the lab)."""
        return self.query_one("#hp-detached", Checkbox).value

    def _path_of(self, wid: str | None) -> str | None:
        return next((p for p, _ in form_fields() if widget_id(p) == wid), None)

    def _warn_remote_code(self) -> None:
        on_ = self.config.model.trust_remote_code
        self.query_one("#hp-remote-code-warning", Static).update(
            Text("⚠ trust_remote_code is ON: the model's own Python code will run", style="bold yellow")
            if on_
            else ""
        )
        self.app.sub_title = "⚠ trust_remote_code ON" if on_ else ""

    # .. the memory plan ..........................................................................
    def _plan_is_trivial(self) -> bool:
        """A preset trained in full: megabytes, nothing to plan (and no transformers to import)."""
        return self.config.model.name.strip().lower() in PRESETS and self.config.model.peft == "none"

    @on(ConfigChanged)
    def _replan(self, message: ConfigChanged) -> None:
        if message.path not in PLAN_SETTINGS:
            return
        if self._plan_is_trivial():
            self.post_message(MemoryPlanned("", None))
            return
        self._plan(self.config.copy())

    @work(thread=True, exclusive=True, exit_on_error=False, group="memory-plan", description="memory plan")
    def _plan(self, config: LabConfig) -> None:
        from tui_lab.core.training.memory_plan import plan  # imports torch and transformers

        try:
            result = plan(config)
        except LabError as exc:
            self.post_message(MemoryPlanned(f"memory plan: {render_error(exc, 'label')}", None))
            return
        except Exception as exc:  # a model the meta device cannot build: no plan, never a crash
            self.post_message(MemoryPlanned(f"memory plan unavailable: {type(exc).__name__}", None))
            return
        self.post_message(MemoryPlanned(render_settings(result.advice, "label"), result.fits))

    @on(MemoryPlanned)
    def _show_plan(self, message: MemoryPlanned) -> None:
        message.stop()
        self.plan_fits, self.plan_advice = message.fits, message.advice
        style = "bold red" if message.fits is False else "dim"
        line = self.query_one("#hp-memory-plan", Static)
        line.update(Text(message.advice, style=style))
        line.display = bool(message.advice)

    # .. whole form ..................................................................................
    def all_errors(self) -> dict[str, str]:
        """The fields marked invalid plus anything the config itself rejects."""
        return {**self.config.validate(), **self.errors}

    def focus_field(self, path: str) -> None:
        """Focus the widget of a field (to show the user what to fix)."""
        try:
            self.query_one("#" + widget_id(path)).focus()
        except Exception:
            pass

    def sync_from_config(self) -> None:
        """Show the config's values (after a TOML load), clearing every error."""
        for path, _ in form_fields():
            widget = self.query_one("#" + widget_id(path))
            value = self.config.get(path)
            if isinstance(widget, Input):
                with widget.prevent(Input.Changed):
                    widget.value = _display(value)
            elif isinstance(widget, Select):
                with widget.prevent(Select.Changed):
                    widget.value = value
            elif isinstance(widget, Checkbox):
                with widget.prevent(Checkbox.Changed):
                    widget.value = bool(value)
                widget.label = on_off(bool(value))
            self._mark(path, None)
        self._warn_remote_code()
        self._show_task_fields()
        if not self._plan_is_trivial():
            self._plan(self.config.copy())

    def focus_first(self) -> None:
        """Focus the first field."""
        self.focus_field(form_fields()[0][0])
