"""Modal screens: the help screen and a one-line path prompt."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui_lab.ui.widgets.dataset_pane import PathSuggester

KEYS: list[tuple[str, str]] = [
    ("ctrl+t", "start training with the form's settings"),
    ("ctrl+x", "stop training (saves last/, the run stays resumable; also a watched or detached run)"),
    ("f7", "pause the lab's own run between two steps; f7 again resumes"),
    ("f1", "this help"),
    ("f2", "Dataset: files, columns, preview, labels, token lengths"),
    ("f3", "Hyperparameters: the form (validated as you type)"),
    ("f4", "Training: live charts, progress, confusion matrix"),
    ("f5", "Console: type a sentence, see the label"),
    ("ctrl+e", "Console: explain the sentence word by word (green: toward the label, red: against)"),
    ("f6", "Runs: open, stop (s) or compare up to 8 (space, c) the runs in the output folder"),
    ("f8", "Export: ONNX fp32/int8 with a trade-off table (e); serve it over HTTP (s)"),
    ("f9", "Analysis: per-class scores, confusions to walk, calibration, likely label issues"),
    ("f10", "Sweep: search ranges per setting, start (ctrl+t), leaderboard, copy a trial's params (p)"),
    (
        "f11",
        "Label: the pool texts the model is least sure of; 1-9 label, s skip, x unusable, ctrl+t retrain",
    ),
    ("ctrl+x / ctrl+r", "on the Sweep screen: stop the sweep shown (trials save last/) / resume one stopped"),
    ("ctrl+u", "queue the form's config: detached workers run the queue in order (f6 lists queue/NAME)"),
    ("ctrl+s", "save the config as TOML (tui-lab train --config reads it)"),
    ("ctrl+o", "open a TOML config"),
    ("ctrl+l", "open a run or model folder in the console"),
    ("ctrl+p", "command palette: every action by name"),
    ("tab / shift+tab", "next / previous field"),
    ("→ or end", "accept a path completion"),
    ("ctrl+q", "quit (a run in progress is stopped and saved first)"),
]


def keys_table() -> Table:
    """The key reference as a table."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key, what in KEYS:
        table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and a two-line how-to. Any of escape, f1 or q closes it."""

    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(Text("tui-lab — fine-tune a text classifier from the keyboard", style="bold"))
            yield Static(
                Text(
                    "Pick data (F2), check the settings (F3), press ctrl+t and watch (F4); "
                    "then type sentences in the console (F5).\n",
                    style="dim",
                )
            )
            yield Static(keys_table(), id="help-keys")
            yield Static(Text("\nthis machine: …", style="dim"), id="help-env")
            yield Static(Text("\nescape closes this help · tui-lab env shows more", style="dim"))

    def on_mount(self) -> None:
        self._gather_env()

    @work(thread=True, exit_on_error=False, group="help-env")
    def _gather_env(self) -> None:
        """The same facts as ``tui-lab env`` (torch is imported off the UI thread)."""
        from tui_lab.core.training.envinfo import gather, summary_lines

        try:
            text = "\n".join(summary_lines(gather(free_memory=False)))
        except Exception as exc:  # a fact that cannot be read must not break the help
            text = f"machine facts unavailable: {exc}"
        try:
            self.app.call_from_thread(self._show_env, text)
        except RuntimeError:  # the app closed meanwhile
            pass

    def _show_env(self, text: str) -> None:
        for static in self.query("#help-env").results(Static):
            static.update(Text(f"\nthis machine:\n{text}", style="dim"))

    def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


class PathPrompt(ModalScreen[str | None]):
    """Ask for one path (with completion); Enter accepts, escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text, self.value, self.placeholder = title, value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Label(self.title_text)
            yield Input(
                self.value, placeholder=self.placeholder, suggester=PathSuggester(), id="prompt-input"
            )
            yield Static(Text("enter: ok · escape: cancel · →: complete", style="dim"))

    @on(Input.Submitted)
    def _ok(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question; ``y`` or Enter says yes, ``n`` or escape says no."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Label(Text(self.question))
            yield Static(Text("y / enter: yes · n / escape: no", style="dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
