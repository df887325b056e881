"""The Dataset pane: files and columns, a preview, label balance and token lengths.

Everything slow happens in a thread worker: the first rows arrive within a moment (even from a
1,000,000-row file), then the full analysis (labels over every row, token lengths over a sample,
texts shared by train and dev). Errors appear in the pane; the app keeps running.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.suggester import Suggester
from textual.widgets import DataTable, Input, Label, Select, Static
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from tui_lab.core.config import LabConfig
from tui_lab.core.settings import help_text, label_of, render_error
from tui_lab.core.training.preview import DatasetStats, describe, file_stamps
from tui_lab.ui.messages import ConfigChanged, DatasetAnalysed, DatasetPreviewed

PREVIEW_ROWS = 100
BAR_COLORS = ("green", "red", "cyan", "magenta", "yellow", "blue")


class PathSuggester(Suggester):
    """Completes file and folder paths as they are typed (accept with → or End)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        path = Path(os.path.expanduser(value))
        folder, stem = (path, "") if value.endswith(os.sep) else (path.parent, path.name)
        try:
            names = sorted(
                p.name + (os.sep if p.is_dir() else "")
                for p in folder.iterdir()
                if p.name.startswith(stem) and not p.name.startswith(".")
            )
        except OSError:
            return None
        if not names:
            return None
        return value + names[0][len(stem) :]


def label_bars(stats: DatasetStats, width: int = 14) -> Text:
    """``positive ██████████░░░░ 752 50.1%``: one line per label of the train split."""
    text = Text()
    train = stats.splits["train"].counts
    if not train:  # unlabelled text (masked-LM pretraining)
        rows = stats.splits["train"].rows
        return Text(f"no labels: {rows:,} texts to pretrain on (task pretrain)", style="dim")
    total = max(sum(train.values()), 1)
    top = max(max(train.values()), 1)
    name_w = min(max(len(n) for n in stats.labels), 12)
    for i, label in enumerate(stats.labels):
        n = train[label]
        filled = round(width * n / top)
        text.append(f"{label[:name_w]:<{name_w}} ", "bold")
        text.append("█" * filled, BAR_COLORS[i % len(BAR_COLORS)])
        text.append("░" * (width - filled), "dim")
        text.append(f" {n:>6,} {100 * n / total:5.1f}%\n")
    text.rstrip()
    return text


def length_summary(stats: DatasetStats, max_length: int) -> Text:
    """Percentiles of train token lengths, the share cut at ``max_length``, and train/dev overlap."""
    ls = stats.lengths(max_length)
    cut = ls["truncated"]
    text = Text()
    text.append(f"p50 {ls['p50']} · p95 {ls['p95']} · max {ls['max']} · ")
    text.append(f"{100 * cut:.1f}% cut at {max_length}", "bold red" if cut > 0.05 else "")
    shared = stats.shared_train_dev
    text.append(f"\n{shared} shared by train/dev", "bold red" if shared else "dim")
    rows = " · ".join(f"{k} {v.rows:,}" for k, v in stats.splits.items())
    text.append(f" · {rows}", "dim")
    for line in stats.details:
        text.append(f"\n{line}", "dim")
    for note in stats.notes + ([stats.length_note] if stats.length_note else []):
        text.append(f"\n{note}", "yellow")
    return text


class LengthHistogram(PlotextPlot):
    """Histogram of train token lengths with the max-length cut marked."""

    def show(self, lengths: list[int], max_length: int, sampled: bool = False) -> None:
        """Draw ``lengths`` (of a sample of the train texts when ``sampled``)."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("token lengths (train, sampled)" if sampled else "token lengths (train)")
        if lengths:
            import numpy as np

            bins = min(40, max(5, len(set(lengths))))
            counts, _ = np.histogram(lengths, bins=bins)
            plt.hist(lengths, bins=bins, color="cyan")
            plt.vline(max_length, "red")
            top = int(counts.max())
            plt.yticks([0, top // 2, top], ["0", str(top // 2), str(top)])
            right = max(max_length, max(lengths))
            ticks = [round(right * i / 4) for i in range(5)]
            plt.xticks(ticks, [str(t) for t in ticks])
        self.refresh()


class DatasetPane(Vertical):
    """Pick files and columns; see what the model will be trained on."""

    def __init__(self, config: LabConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.stats: DatasetStats | None = None

    def compose(self) -> ComposeResult:
        d = self.config.data
        with Horizontal(classes="field-row"):
            yield Label(label_of("data.train"), classes="field-label")
            yield Input(
                d.train,
                placeholder="file, folder or HF dataset id",
                tooltip=help_text("data.train"),
                suggester=PathSuggester(),
                compact=True,
                id="data-train",
            )
        with Horizontal(classes="field-row"):
            yield Label(label_of("data.dev"), classes="field-label")
            yield Input(
                d.dev,
                placeholder="folder's / split",
                tooltip=help_text("data.dev"),
                suggester=PathSuggester(),
                compact=True,
                id="data-dev",
            )
            yield Label(label_of("data.test"), classes="field-label second")
            yield Input(
                d.test,
                placeholder="folder's, if any",
                tooltip=help_text("data.test"),
                suggester=PathSuggester(),
                compact=True,
                id="data-test",
            )
        with Horizontal(classes="field-row"):
            yield Label(label_of("data.text_column"), classes="field-label")
            yield Select([], prompt="(inferred)", compact=True, id="data-text-column")
            yield Label(label_of("data.label_column"), classes="field-label second")
            yield Select([], prompt="(inferred)", compact=True, id="data-label-column")
        yield Static("", id="data-error")
        yield DataTable(id="data-preview", zebra_stripes=True, cursor_type="row")
        yield Static("", id="label-bars")
        yield LengthHistogram(id="length-hist")
        yield Static("", id="length-summary")

    def on_mount(self) -> None:
        self.border_title = Content("Dataset  [F2]")  # plain text: "[F2]" is not markup
        self._reload_timer = None
        self._stamps: dict[str, tuple[float, int]] = {}
        self.load()
        self.set_interval(2.0, self._check_files)

    def _check_files(self) -> None:
        """Reload when a previewed file or its corrections file changed on disk (rewritten, grown,
        deleted); not while another screen (Analysis, Label: each decision appends) covers the pane."""
        if self.app.screen is not self.screen:
            return
        if self._stamps and file_stamps(self.config.data) != self._stamps:
            changed = [
                Path(p).name for p, st in file_stamps(self.config.data).items() if self._stamps.get(p) != st
            ]
            self.notify(f"{', '.join(changed) or 'a data file'} changed on disk; reloading.", timeout=3)
            self.load()

    def schedule_load(self, delay: float = 0.8) -> None:
        """Reload once typing has paused (a model name typed letter by letter loads once)."""
        if self._reload_timer is not None:
            self._reload_timer.stop()
        self._reload_timer = self.set_timer(delay, self.load)

    # .. loading ..................................................................................
    def _say(self, message: str, style: str = "dim") -> None:
        status = self.query_one("#data-error", Static)
        status.update(Text(message, style=style))
        status.display = bool(message)

    def load(self) -> None:
        """Read the preview, then analyse everything, in a worker."""
        self._stamps = file_stamps(self.config.data)
        self._say("loading…")
        self._load(self.config.copy())

    @work(thread=True, exclusive=True, group="dataset", exit_on_error=False, description="load dataset")
    def _load(self, cfg: LabConfig) -> None:
        from tui_lab.core.data.files import resolve_sources
        from tui_lab.core.data.tagged import read_preview
        from tui_lab.core.errors import LabError
        from tui_lab.core.imports import import_heavy

        worker = get_current_worker()
        try:
            source = resolve_sources(cfg.data)["train"]
            table = read_preview(source, PREVIEW_ROWS)
        except LabError as exc:
            self.post_message(DatasetAnalysed(None, render_error(exc, "label"), data_task(cfg, None, None)))
            return
        if worker.is_cancelled:
            return
        rows = [list(r) for r in zip(*table.columns.values())]
        self.post_message(DatasetPreviewed(table.source, table.column_names, rows))
        import_heavy()  # after the preview: the rows show while torch loads
        try:
            stats = describe(cfg)
        except LabError as exc:
            stats, error = None, render_error(exc, "label")
        except Exception as exc:  # the pane must survive anything a file can do
            stats, error = None, f"{type(exc).__name__}: {exc}"
        else:
            error = None
        if not worker.is_cancelled:
            self.post_message(DatasetAnalysed(stats, error, data_task(cfg, table, stats)))

    @on(DatasetPreviewed)
    def _show_preview(self, message: DatasetPreviewed) -> None:
        table = self.query_one("#data-preview", DataTable)
        table.clear(columns=True)
        order = _preview_order(message.columns, self.config.data.label_column)
        for i in order:
            table.add_column(message.columns[i], key=message.columns[i])
        for row in message.rows:
            table.add_row(*[_cell(row[i]) for i in order])
        options = [(c, c) for c in message.columns]
        for sid, current in (
            ("#data-text-column", self.config.data.text_column),
            ("#data-label-column", self.config.data.label_column),
        ):
            select = self.query_one(sid, Select)
            with select.prevent(Select.Changed):
                select.set_options(options)
                if current in message.columns:
                    select.value = current
        self._say("analysing labels and token lengths…")

    @on(DatasetAnalysed)
    def _show_stats(self, message: DatasetAnalysed) -> None:
        if message.error:
            self.stats = None
            self._say(message.error, "bold red")
            for wid in ("#label-bars", "#length-summary"):
                self.query_one(wid, Static).update("")
            self.query_one(LengthHistogram).show([], self.config.data.max_length)
            return
        stats = message.stats
        assert stats is not None
        self.stats = stats
        self._say("")
        for sid, col in (
            ("#data-text-column", stats.text_column),
            ("#data-label-column", stats.label_column),
        ):
            select = self.query_one(sid, Select)
            with select.prevent(Select.Changed):
                if col and any(value == col for _, value in select._options):
                    select.value = col
                else:  # no such column (unlabelled text has no label column)
                    select.clear()
        self.query_one("#label-bars", Static).update(label_bars(stats))
        self._mark_relabelled(stats)
        self.refresh_lengths()

    def _mark_relabelled(self, stats: DatasetStats) -> None:
        """Show the corrections file's new label on the preview's relabelled rows (yellow)."""
        fixes = stats.corrections or {}
        table = self.query_one("#data-preview", DataTable)
        if not fixes.get("relabelled_rows") or stats.label_column not in table.columns:
            return
        from textual.coordinate import Coordinate

        column = list(table.columns).index(stats.label_column)
        for row, label in fixes["relabelled_rows"]:
            if 0 <= row < table.row_count:
                old = table.get_cell_at(Coordinate(row, column))
                new = "|".join(map(str, label)) if isinstance(label, list) else str(label)
                table.update_cell_at(Coordinate(row, column), Text(f"{old} → {new}", style="bold yellow"))

    def refresh_lengths(self) -> None:
        """Redraw the length histogram and the truncation share for the current max length."""
        if self.stats is None:
            return
        max_length = self.config.data.max_length
        train = self.stats.splits["train"]
        self.query_one(LengthHistogram).show(train.lengths, max_length, train.sampled)
        self.query_one("#length-summary", Static).update(length_summary(self.stats, max_length))

    # .. edits ....................................................................................
    @on(Input.Submitted, "#data-train, #data-dev, #data-test")
    def _path_submitted(self, event: Input.Submitted) -> None:
        split = event.input.id.removeprefix("data-")
        self.set_path(split, event.value)

    @on(Input.Blurred, "#data-train, #data-dev, #data-test")
    def _path_blurred(self, event: Input.Blurred) -> None:
        split = event.input.id.removeprefix("data-")
        if getattr(self.config.data, split) != event.value.strip():
            self.set_path(split, event.value)

    def set_path(self, split: str, value: str) -> None:
        """Use another file for a split and reload."""
        setattr(self.config.data, split, value.strip())
        if split == "train":  # columns of another file are inferred afresh
            self.config.data.text_column = self.config.data.label_column = ""
        self.post_message(ConfigChanged(f"data.{split}", value.strip()))
        self.load()

    @on(Select.Changed, "#data-text-column, #data-label-column")
    def _column_changed(self, event: Select.Changed) -> None:
        key = "text_column" if event.select.id == "data-text-column" else "label_column"
        value = "" if event.value is Select.BLANK else str(event.value)
        if getattr(self.config.data, key) != value:
            setattr(self.config.data, key, value)
            self.post_message(ConfigChanged(f"data.{key}", value))
            self.load()

    def sync_from_config(self) -> None:
        """Show the config's paths (after a TOML load) and reload."""
        for split in ("train", "dev", "test"):
            self.query_one(f"#data-{split}", Input).value = getattr(self.config.data, split)
        self.load()


def data_task(cfg: LabConfig, preview: Any, stats: DatasetStats | None) -> str:
    """The task the data asks for when the task setting is auto, as a run would pick it.

    What the files say first (a ``.txt`` file: pretrain; CoNLL files or tokens and tags columns:
    ner); else multilabel when a label of the previewed rows is a list, classify when not; ``""``
    when the data could not be read.
    """
    from tui_lab.core.tasks import detect_task, task_for_labels

    name = detect_task(cfg.data)[0]
    if name or preview is None or stats is None:
        return name
    labels = preview.columns.get(stats.label_column, [])
    return task_for_labels(any(isinstance(v, (list, tuple)) for v in labels))


def _preview_order(columns: list[str], label_column: str) -> list[int]:
    """Short columns (the label) first so a long text column does not push them out of view."""
    from tui_lab.core.data.checks import LABEL_NAMES

    label = label_column or next((c for c in columns if c.lower() in LABEL_NAMES), "")
    return sorted(range(len(columns)), key=lambda i: columns[i] != label)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= 60 else text[:59] + "…"
