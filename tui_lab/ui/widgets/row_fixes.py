"""Decisions on the row under the cursor, for the Analysis screen's label issues and a cell's examples.

A digit sets the row's label (``1`` = the first label; on multi-label data it adds or removes
that label), ``l`` picks a label from a list, ``k`` keeps the row as it is (reviewed), ``d`` drops
it and ``u`` undoes the latest decision on it. Each decision is appended at once to the
corrections file of the row's data file (:mod:`tui_lab.core.data.corrections`); the next run
applies it. The file is never the data itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import OptionList

from tui_lab.core.data import corrections
from tui_lab.core.errors import LabError

# the keys of a screen that lists rows: shown once in the footer as "1-9 Label"
FIX_BINDINGS = [
    Binding("1", "fix_label(1)", "Label", key_display="1-9"),
    *(Binding(str(n), f"fix_label({n})", show=False) for n in range(2, 10)),
    Binding("l", "pick_label", "Pick label"),
    Binding("k", "fix('keep')", "Keep"),
    Binding("d", "fix('drop')", "Drop"),
    Binding("u", "fix('undo')", "Undo"),
]


@dataclass
class RowFixes:
    """Where the decisions on one data file's rows go, and the ones that stand."""

    data_file: str
    path: Path
    labels: list[str]
    multilabel: bool = False
    standing: dict[int, dict[str, Any]] = field(default_factory=dict)  # data row -> its decision

    @classmethod
    def for_run(cls, run_dir: str, split: str, labels: list[str], task: str) -> RowFixes | None:
        """The decisions on the rows of a run's ``split`` (``train``, ``dev``, ``test``): the file
        they come from (dev cut from train: the train file); ``None`` for a hub dataset, a
        token-tagging run or a run whose config cannot be read.

        Raises:
            LabError: the corrections file is not JSON lines.
        """
        from tui_lab.core.config import LabConfig
        from tui_lab.core.data.files import resolve_sources
        from tui_lab.core.training.runs import run_config

        if task not in ("classify", "multilabel", ""):
            return None
        try:
            config = LabConfig.from_dict(run_config(run_dir))
            sources = resolve_sources(config.data)
        except LabError:
            return None
        data_file = sources.get(split) or sources["train"]
        if not data_file or data_file.startswith("hf:"):
            return None
        given = config.data.corrections.strip()
        if data_file == sources["train"] and given and given.lower() != corrections.NONE:
            path = Path(given).expanduser()
        else:
            path = corrections.default_path(data_file, config.train.output_dir)
        fixes = cls(data_file, path, list(labels), task == "multilabel")
        fixes.reload()
        return fixes

    def reload(self) -> None:
        """Read the standing decisions back from the file (``LabError``: it is not JSON lines)."""
        name = Path(self.data_file).name
        found = corrections.read(self.path).standing()
        self.standing = {row: rec for (file, row), rec in found.items() if file in (name, "")}

    def label_for(self, item: Any, number: int) -> Any:
        """The label digit ``number`` gives ``item`` (multi-label: its labels with that one
        added or taken away).

        Raises:
            LabError: no label has that number.
        """
        if not 1 <= number <= len(self.labels):
            raise LabError(f"there is no label {number}; the labels are {self.legend()}.")
        name = self.labels[number - 1]
        if not self.multilabel:
            return name
        current = self.current(item)
        return [v for v in current if v != name] if name in current else [*current, name]

    def current(self, item: Any) -> list[str]:
        """The labels ``item`` has now (a standing relabel, else as given) as a list."""
        record = self.standing.get(item.row)
        if record is not None and record["action"] == "relabel":
            label = record["label"]
            return list(label) if isinstance(label, list) else [label]
        return [v for v in str(item.label).split("|") if v]

    def decide(self, item: Any, action: str, label: Any = None) -> str:
        """Append a decision on ``item`` (a label issue or an example); what to tell the user.

        Raises:
            LabError: the row was added (no row of the file), or nothing to undo.
        """
        if item.row < 0:
            raise LabError("this row was added by a corrections file, not read from the data; undo it there.")
        if action == "undo" and item.row not in self.standing:
            raise LabError(f"row {item.row} has no decision to undo.")
        was = item.label.split("|") if self.multilabel else item.label
        record = corrections.decision(self.data_file, item.row, item.text, action, label, was)
        corrections.append(self.path, record)
        self.reload()
        now = self.standing.get(item.row)
        done = f"row {item.row}: {describe(now) or 'as in the file'}"
        return f"{done} · {self.path.name}"

    def legend(self) -> str:
        """``1 negative · 2 positive`` (the first nine labels)."""
        return " · ".join(f"{i} {name}" for i, name in enumerate(self.labels[:9], start=1))


def describe(record: dict[str, Any] | None) -> str:
    """A standing decision in a few words ("→ positive", "drop", "keep"); "" for none."""
    if record is None:
        return ""
    if record["action"] == "relabel":
        label = record["label"]
        return "→ " + ("|".join(label) if isinstance(label, list) else str(label))
    return str(record["action"])


def fix_cell(record: dict[str, Any] | None) -> Text:
    """The ``fix`` column's cell: the decision, coloured by what it does."""
    style = {"relabel": "bold yellow", "drop": "bold red", "keep": "green", "add": "cyan"}
    return Text(describe(record), style=style.get(record["action"], "") if record else "")


class LabelPicker(ModalScreen[str | None]):
    """A list of the data's labels; Enter picks one, escape leaves."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Back")]
    DEFAULT_CSS = """
    LabelPicker { align: center middle; }
    LabelPicker OptionList { width: 40; max-height: 20; border: round $accent; }
    """

    def __init__(self, labels: list[str]) -> None:
        super().__init__()
        self.labels = labels

    def compose(self) -> ComposeResult:
        yield OptionList(*self.labels, id="label-picker")

    def on_mount(self) -> None:
        self.query_one(OptionList).border_title = "Set the label"

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.labels[event.option_index])


class RowFixing:
    """The actions behind :data:`FIX_BINDINGS`, mixed into a screen that lists rows.

    The screen gives :meth:`fix_target` (the item under the cursor and its :class:`RowFixes`, or
    ``None``) and :meth:`fixes_changed` (redraw the marks); the rest is here.
    """

    def fix_target(self) -> tuple[Any, RowFixes] | None:  # pragma: no cover - each screen's own
        raise NotImplementedError

    def fixes_changed(self, row: int) -> None:  # pragma: no cover - each screen's own
        raise NotImplementedError

    def action_fix_label(self, number: int) -> None:
        """Set the label of the row under the cursor to label ``number``."""
        target = self.fix_target()
        if target is None:
            return
        item, fixes = target
        try:
            label = fixes.label_for(item, number)
        except LabError as exc:
            self.notify(str(exc), severity="warning", timeout=4)  # type: ignore[attr-defined]
            return
        self._decide(item, fixes, "relabel", label)

    def action_pick_label(self) -> None:
        """Choose the label of the row under the cursor from a list."""
        target = self.fix_target()
        if target is None:
            return
        item, fixes = target

        def picked(name: str | None) -> None:
            if name is not None:
                self.action_fix_label(fixes.labels.index(name) + 1)

        self.app.push_screen(LabelPicker(fixes.labels), picked)  # type: ignore[attr-defined]

    def action_fix(self, action: str) -> None:
        """Keep, drop or undo the row under the cursor."""
        target = self.fix_target()
        if target is not None:
            self._decide(*target, action)

    def _decide(self, item: Any, fixes: RowFixes, action: str, label: Any = None) -> None:
        try:
            said = fixes.decide(item, action, label)
        except LabError as exc:
            self.notify(str(exc), severity="warning", timeout=4)  # type: ignore[attr-defined]
            return
        except OSError as exc:
            self.notify(f"cannot write {fixes.path}: {exc.strerror or exc}", severity="error")  # type: ignore[attr-defined]
            return
        self.notify(said, timeout=3)  # type: ignore[attr-defined]
        self.fixes_changed(item.row)
