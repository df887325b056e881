"""The Sweep screen (F10): plan a hyperparameter search, start it, watch its trials.

Left, the plan: each searchable setting of the hyperparameter form takes a range (``1e-5..1e-3:log``,
``0..0.2``) or a list (``16,32,64``), checked as typed with the reason beside the field, plus the
number of trials, the trials run at once and the pruner; ctrl+t starts ``tui-lab sweep`` on the
lab's config in its own process. Right, the sweep (read every second off the UI thread): the
leaderboard of trials, the best value so far by trial, every trial's dev curve by epoch (pruned
ones dimmed) and, once three trials are complete, how much each setting mattered (Optuna's
fANOVA importances, computed off the UI thread). Enter opens a trial's run in the Training
pane; ``p`` copies a trial's params into the hyperparameter form. ctrl+x stops the sweep shown
(SIGTERM to its coordinator, however it was started: every worker saves ``last/``) and ctrl+r
resumes a stopped or killed one (``tui-lab sweep --resume``, detached like ctrl+t's).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Select, Static
from textual_plotext import PlotextPlot

from tui_lab.core.errors import LabError
from tui_lab.core.settings import label_of, render_error
from tui_lab.core.sweeps import control
from tui_lab.core.training import detached
from tui_lab.ui.messages import ImportanceReady, SweepRead
from tui_lab.ui.widgets import sweep_form
from tui_lab.ui.widgets.charts import yticks
from tui_lab.ui.widgets.export_screen import bar
from tui_lab.ui.widgets.sweep_data import (
    SweepReader,
    SweepSnapshot,
    TrialRow,
    find_sweep,
    is_sweep_dir,
    param_importances,
)
from tui_lab.ui.widgets.sweep_form import (
    PRUNERS,
    StartedSweep,
    SweepPlan,
    is_fixed,
    searchable,
    spec_problem,
)

POLL_SECONDS = 1.0
STATE_STYLE = {
    "complete": "green",
    "pruned": "dim",
    "failed": "red",
    "running": "bold yellow",
    "waiting": "dim",
    "stopped": "dark_orange",
}
SORTS = ("value", "trial", "time", "epochs")  # the leaderboard's sort keys, in the order `o` cycles them
RUN_EPOCHS = "epochs run"  # the column of the epochs a trial ran, apart from a searched "epochs" setting


def space_id(path: str) -> str:
    """DOM id of a setting's search field."""
    return "sw-" + path.replace(".", "-")


class BestChart(PlotextPlot):
    """The best value reached so far, by trial number."""

    def show(self, snap: SweepSnapshot) -> None:
        """Draw a snapshot's best-so-far line (complete trials as dots)."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(f"best {snap.metric} so far")
        xs, ys = snap.best_so_far()
        self.points = len(xs)
        if xs:
            done = snap.complete
            plt.scatter([t.number for t in done], [float(t.value) for t in done], color="gray", marker="dot")
            plt.plot(xs, ys, color="green", marker="braille")
            yticks(plt, ys + [float(t.value) for t in done], "{:.3f}")
            plt.xticks(sorted({0, xs[-1]}))
        self.refresh()


class CurvesChart(PlotextPlot):
    """Every trial's dev metric by epoch; the best trial bright, pruned and failed ones dimmed."""

    def show(self, snap: SweepSnapshot) -> None:
        """Draw every trial's curve from a snapshot."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(f"dev {snap.metric} by epoch")
        best = snap.best()
        values: list[float] = []
        self.curves = 0
        for t in sorted(snap.trials, key=lambda t: (best is not None and t.number == best.number, t.number)):
            curve = snap.curves.get(t.number)
            pairs = [(x, y) for x, y in zip(curve.epochs, curve.values) if math.isfinite(y)] if curve else []
            if not pairs:
                continue
            color = "green" if best is not None and t.number == best.number else _curve_color(t)
            plt.plot([p[0] for p in pairs], [p[1] for p in pairs], color=color, marker="braille")
            values += [p[1] for p in pairs]
            self.curves += 1
        yticks(plt, values, "{:.3f}")
        self.refresh()


def _curve_color(t: TrialRow) -> str:
    return {"running": "yellow", "complete": "cyan"}.get(t.state, "gray")


class SweepScreen(Screen[str | None]):
    """Plan, start and watch a sweep. Dismisses with a trial's run folder to open, or ``None``."""

    owns_start = True  # ctrl+t starts the sweep here, not a training run
    BINDINGS = [
        Binding("escape,f10", "close", "Back"),
        Binding("ctrl+t", "start_sweep", "Start sweep"),
        Binding("ctrl+x", "stop_sweep", "Stop sweep", priority=True),  # over the fields' cut
        Binding("ctrl+r", "resume_sweep", "Resume", priority=True),
        Binding("enter", "open", "Open trial", show=False),
        Binding("p", "use_params", "Use params"),
        Binding("o", "sort", "Sort"),
    ]

    DEFAULT_CSS = """
    SweepScreen #sweep-main { height: 1fr; }
    SweepScreen #sweep-form { width: 44; height: 1fr; }
    SweepScreen #sweep-form .field-label { width: 14; }
    SweepScreen #sweep-form .field-error { padding-left: 14; color: $error; }
    SweepScreen #sweep-form Input { text-style: bold; }  /* what is typed, apart from the placeholder */
    SweepScreen #sweep-form Input > .input--placeholder { text-style: not bold italic; }
    SweepScreen #sweep-right { width: 1fr; }
    SweepScreen #sweep-board { height: 1fr; min-height: 8; }
    SweepScreen #sweep-status { height: auto; text-wrap: nowrap; text-overflow: ellipsis; }
    SweepScreen #sweep-charts { height: 1fr; min-height: 10; }
    SweepScreen #sweep-charts PlotextPlot { width: 1fr; }
    SweepScreen #sweep-importance { height: auto; min-height: 3; max-height: 9; }
    """

    def __init__(self, plan: SweepPlan) -> None:
        super().__init__()
        self.plan = plan
        self.errors: dict[str, str] = {}
        self.snapshot: SweepSnapshot | None = None
        self.rows: list[TrialRow] = []
        self.sort_key = "value"
        self.param_keys: list[str] | None = None  # the leaderboard's param columns (one a searched setting)
        self.started: StartedSweep | None = None
        self.importance_for = -1  # complete trials the importances shown were computed over
        self.importances: dict[str, float] = {}
        self._drawn: Any = None  # the signature of the snapshot drawn last

    # .. layout ......................................................................................
    def compose(self) -> ComposeResult:
        task = self.app.config.model.task
        with Horizontal(id="sweep-main"):
            with VerticalScroll(id="sweep-form", classes="pane"):
                yield Static(
                    Text(
                        "a range lo..hi[:log], a list a,b,c or\none value (fixed); empty: form's value", "dim"
                    )
                )
                yield from self._plan_rows()
                yield Label("searched settings", classes="form-group")
                for path in searchable(task):
                    yield from self._space_row(path)
            with Vertical(id="sweep-right"):
                with Vertical(id="sweep-board", classes="pane"):
                    yield Static("", id="sweep-status")
                    yield DataTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
                with Horizontal(id="sweep-charts"):
                    yield BestChart(id="sweep-best")
                    yield CurvesChart(id="sweep-curves")
                yield Static("", id="sweep-importance", classes="pane")
        yield Footer()

    def _plan_rows(self) -> ComposeResult:
        plan = self.plan
        for name, value, hint in (
            ("trials", plan.trials, "trials in all"),
            ("parallel", plan.parallel, "at once"),
        ):
            with Horizontal(classes="field-row"):
                yield Label(name, classes="field-label")
                yield Input(str(value), compact=True, id=f"sw-{name}", type="integer", tooltip=hint)
            yield Static("", classes="field-error", id=f"sw-{name}-error")
        with Horizontal(classes="field-row"):
            yield Label("pruner", classes="field-label")
            yield Select(
                [(p, p) for p in PRUNERS], value=plan.pruner, allow_blank=False, compact=True, id="sw-pruner"
            )

    def _space_row(self, path: str) -> ComposeResult:
        current = self.app.config.get(path)
        shown = (
            "auto" if current is None else (f"{current:g}" if isinstance(current, float) else str(current))
        )
        with Horizontal(classes="field-row"):
            yield Label(label_of(path), classes="field-label")
            yield Input(
                self.plan.space.get(path, ""),
                placeholder=f"{shown or 'auto'}",
                compact=True,
                id=space_id(path),
                tooltip=f"{path}: now {shown or 'auto'}; e.g. 1e-5..1e-3:log, 0..0.2 or 16,32,64",
            )
        yield Static("", classes="field-error", id=space_id(path) + "-error")

    def on_mount(self) -> None:
        self.query_one("#sweep-form").border_title = Content("Sweep: search space  [F10]")
        self.query_one("#sweep-importance").border_title = "importance"
        for path in self.plan.space:
            self._check_space(path, self.plan.space[path])
        self._show_board_title()
        self._poll()

    def _show_board_title(self) -> None:
        where = Path(self.plan.sweep_dir).name if self.plan.sweep_dir else "no sweep yet"
        by = _label(self.sort_key.split(":", 1)[1]) if self.sort_key.startswith("param:") else self.sort_key
        by = RUN_EPOCHS if by == "epochs" and not self.sort_key.startswith("param:") else by
        self.query_one("#sweep-board").border_title = f"Trials · {where} · sorted by {by} (o)"

    # .. the plan ....................................................................................
    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        wid = event.input.id or ""
        if wid in ("sw-trials", "sw-parallel"):
            self._check_count(wid[3:], event.value)
            return
        path = next((p for p in searchable(self.app.config.model.task) if space_id(p) == wid), None)
        if path is not None:
            self._check_space(path, event.value)

    @on(Select.Changed, "#sw-pruner")
    def _pruner_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.BLANK:
            self.plan.pruner = str(event.value)

    def _check_space(self, path: str, text: str) -> None:
        problem = spec_problem(path, text)
        if problem is None and text.strip():
            self.plan.space[path] = text.strip()
        else:
            self.plan.space.pop(path, None)
        self._mark(space_id(path), path, problem)

    def _check_count(self, name: str, text: str) -> None:
        try:
            value = int(text)
            problem = None if value >= 1 else "must be at least 1"
        except ValueError:
            value, problem = 0, "must be a whole number"
        if problem is None:
            setattr(self.plan, name, value)
        self._mark(f"sw-{name}", name, problem)

    def _mark(self, wid: str, key: str, problem: str | None) -> None:
        self.query_one("#" + wid, Input).set_class(problem is not None, "-invalid")
        error = self.query_one(f"#{wid}-error", Static)
        error.update(Text(f"✗ {problem}", style="bold red") if problem else "")
        error.display = problem is not None
        if problem:
            self.errors[key] = problem
        else:
            self.errors.pop(key, None)

    def _show_space(self, spec: dict[str, Any]) -> None:
        """Fill the form with a sweep's own plan (a sweep opened, not started here)."""
        for path, text in (spec.get("space") or {}).items():
            found = self.query("#" + space_id(str(path)))
            if found:
                found.first(Input).value = str(text)  # checked by its Changed handler
        for name in ("trials", "parallel"):
            if isinstance(spec.get(name), int):
                self.query_one(f"#sw-{name}", Input).value = str(spec[name])
        if spec.get("pruner") in PRUNERS:
            self.query_one("#sw-pruner", Select).value = spec["pruner"]

    def action_start_sweep(self) -> None:
        """Start ``tui-lab sweep`` with the plan on the lab's config, in its own process."""
        if self.errors:
            key, reason = next(iter(self.errors.items()))
            self.notify(f"Cannot start: {key} {reason}.", title="Invalid search", severity="error")
            return
        if all(is_fixed(spec) for spec in self.plan.space.values()):  # nothing searched: N equal trials
            self.notify("Give at least one setting a range or a list to search.", severity="warning")
            return
        config_errors = self.app.config.validate()
        if config_errors:
            path, reason = next(iter(config_errors.items()))
            self.notify(
                f"Cannot start: {label_of(path)} {reason}.", title="Invalid setting", severity="error"
            )
            return
        try:
            self.started = sweep_form.start_sweep(self.app.config, self.plan)
        except (LabError, OSError) as exc:
            self.notify(render_error(exc, "label"), title="Sweep not started", severity="error")
            return
        self.plan.sweep_dir = str(self.started.sweep_dir)
        self._show_board_title()
        self._poll()
        self.notify(
            f"Started {self.started.sweep_dir.name} ({self.plan.trials} trials, {self.plan.parallel} at once) "
            f"in its own process; its log: {self.started.log}",
            timeout=6,
        )

    def action_stop_sweep(self) -> None:
        """Stop the sweep shown: SIGTERM to its coordinator (its workers save ``last/``)."""
        sweep_dir = self._sweep_dir("stop")
        if sweep_dir is None:
            return
        pid = control.stop_sweep(sweep_dir)
        if pid is None:
            more = "; ctrl+r resumes it" if self._unfinished() else ""
            self.notify(f"{sweep_dir.name} is not running here: nothing to stop{more}.", severity="warning")
            return
        self.notify(f"Stopping {sweep_dir.name} (pid {pid}): each trial saves last/; ctrl+r resumes it.")

    def action_resume_sweep(self) -> None:
        """Continue a stopped or killed sweep: ``tui-lab sweep --resume`` in its own process."""
        sweep_dir = self._sweep_dir("resume")
        if sweep_dir is None:
            return
        host = control.other_host(sweep_dir)
        if host:
            self.notify(
                f"{sweep_dir.name} is coordinated on {host}: resume it there (or delete its "
                f"{control.PID_FILE} if that sweep is gone).",
                severity="warning",
            )
            return
        if control.live_coordinator(sweep_dir) is not None:
            self.notify(
                f"{sweep_dir.name} is running: nothing to resume (ctrl+x stops it).", severity="warning"
            )
            return
        if not self._unfinished():
            self.notify(
                f"{sweep_dir.name} has finished all its trials: nothing to resume.", severity="warning"
            )
            return
        log = sweep_dir.parent / detached.DETACHED_DIR / f"{sweep_dir.name}.resume.log"
        try:
            process = control.resume_detached(sweep_dir, log)
        except OSError as exc:
            self.notify(f"{sweep_dir.name} not resumed: {exc}", severity="error")
            return
        command = control.resume_command(sweep_dir)
        self.started = StartedSweep(sweep_dir, log, process, command, time.time())
        self._poll()
        self.notify(f"Resuming {sweep_dir.name} in its own process; its log: {log}", timeout=6)

    def _sweep_dir(self, verb: str) -> Path | None:
        """The sweep the screen shows (a notification says so when there is none)."""
        if not self.plan.sweep_dir or not is_sweep_dir(self.plan.sweep_dir):
            self.notify(
                f"No sweep to {verb}: start one with ctrl+t or open one with tui-lab watch SWEEP_DIR.",
                severity="warning",
            )
            return None
        return Path(self.plan.sweep_dir)

    def _unfinished(self) -> bool:
        """Whether the sweep shown has trials left to run (as last read; unknown counts as yes)."""
        snap = self.snapshot
        if snap is None or snap.error or not isinstance(snap.spec.get("trials"), int):
            return True
        done = sum(t.state in ("complete", "pruned", "failed") for t in snap.trials)
        return done < snap.spec["trials"]

    # .. the sweep ...................................................................................
    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep-poll", description="read the sweep")
    def _poll(self) -> None:
        """Read the sweep folder every second and post what it holds (this thread only reads)."""
        from textual.worker import get_current_worker

        worker = get_current_worker()
        reader = SweepReader(self.plan.sweep_dir) if self.plan.sweep_dir else None
        started = self.started
        while not worker.is_cancelled and reader is not None:
            if started is not None and not is_sweep_dir(reader.sweep_dir):
                moved = find_sweep(started.sweep_dir.parent, started.started)  # named otherwise
                reader = SweepReader(moved) if moved is not None else reader
            self.post_message(SweepRead(reader.read()))
            if worker.cancelled_event.wait(POLL_SECONDS):
                break

    @on(SweepRead)
    def _sweep_read(self, message: SweepRead) -> None:
        snap: SweepSnapshot = message.snapshot
        news = snap.signature()
        if news == self._drawn:
            return  # nothing new since the last read: the UI thread does nothing
        self._drawn = news
        if snap.sweep_dir != self.plan.sweep_dir and not snap.error:
            self.plan.sweep_dir = snap.sweep_dir
            self._show_board_title()
        if self.snapshot is None and not self.plan.space:
            self._show_space(snap.spec)
        self.snapshot = snap
        self._show_status(snap)
        self._fill_table(snap)
        with self.app.batch_update():
            self.query_one(BestChart).show(snap)
            self.query_one(CurvesChart).show(snap)
        done = len(snap.complete)
        if done >= 3 and done != self.importance_for:
            self.importance_for = done
            self._importance(snap.sweep_dir, done)
        elif done < 3:
            self._show_importance_hint(done)

    def _show_status(self, snap: SweepSnapshot) -> None:
        if snap.error:
            text = Text(snap.error, "yellow")
            if self.started is not None:
                text = Text(f"starting… (its output: {self.started.log})", "yellow")
            failure = self._launch_failure()
            if failure:
                text = Text(f"the sweep process stopped: {failure}", "bold red")
        else:
            counts = {s: sum(t.state == s for t in snap.trials) for s in STATE_STYLE}
            best = snap.best()
            text = Text(f"{len(snap.trials)}/{snap.spec.get('trials', '?')} trials · ")
            text.append(" · ".join(f"{n} {s}" for s, n in counts.items() if n))
            text.append("\n")  # the best on a line of its own: the counts alone can fill one
            if best is not None:
                text.append(f"best {best.value:.4f} (trial {best.number})", "bold green")
                text.append(" · " + ", ".join(f"{_label(k)} {_short(v)}" for k, v in best.params.items()))
            else:
                text.append("no complete trial yet", "dim")
        self.query_one("#sweep-status", Static).update(text)
        board = self.query_one("#sweep-board")
        if snap.error:
            board.border_subtitle = ""
        elif snap.running:
            board.border_subtitle = "running · ctrl+x stops"
        elif snap.elsewhere:
            board.border_subtitle = f"coordinated on {snap.elsewhere}"
        else:
            board.border_subtitle = "stopped · ctrl+r resumes" if self._unfinished() else "finished"

    def _launch_failure(self) -> str | None:
        started = self.started
        if started is None or started.process.poll() in (None, 0):
            return None
        try:
            lines = [ln for ln in started.log.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except OSError:
            lines = []
        return lines[-1] if lines else f"exit code {started.process.poll()}"

    def _fill_table(self, snap: SweepSnapshot) -> None:
        table = self.query_one("#sweep-table", DataTable)
        cursor = table.cursor_row
        self.rows = sort_rows(snap.trials, self.sort_key, snap.maximize)
        keys = list(snap.spec.get("space") or {})
        keys += [k for t in snap.trials for k in t.params if k not in keys]
        if keys != self.param_keys:  # trial, value, state, time first (seen at any width), then params
            self.param_keys = keys
            table.clear(columns=True)
            for name in ("trial", "value", "state", "time"):
                table.add_column(name, key=name)
            for key in keys:
                table.add_column(_label(key), key=f"param:{key}")
            table.add_column(RUN_EPOCHS, key="epochs")  # the epochs run (a searched "epochs" is a param)
        table.clear()
        for t in self.rows:
            value = f"{t.value:.4f}" if t.value is not None else "-"
            params = [_short(t.params[k]) if k in t.params else "-" for k in keys]
            state = Text(t.state, STATE_STYLE.get(t.state, ""), justify="left")
            table.add_row(
                str(t.number), value, state, f"{t.seconds:.0f}s", *params, f"{t.epochs:g}", key=str(t.number)
            )
        if self.rows:
            table.move_cursor(row=min(max(cursor, 0), len(self.rows) - 1))

    @work(thread=True, exclusive=True, exit_on_error=False, group="importance", description="importance")
    def _importance(self, sweep_dir: str, complete: int) -> None:
        """Optuna's fANOVA over the complete trials (a second or more: never on the UI thread)."""
        try:
            importances = param_importances(sweep_dir)
        except Exception as exc:  # noqa: BLE001 - e.g. one value of every setting so far
            why = f"{type(exc).__name__}: {exc}"
            if "zero total variance" in str(exc):
                why = "every complete trial has the same value, so no setting explains a difference"
            self.post_message(ImportanceReady({}, complete, why))
            return
        self.post_message(ImportanceReady(importances, complete))

    @on(ImportanceReady)
    def _importance_ready(self, message: ImportanceReady) -> None:
        self.importances = message.importances
        box = self.query_one("#sweep-importance", Static)
        if message.error:
            box.update(Text(f"importance not known yet: {message.error}", "dim"))
            return
        width = max(10, box.content_size.width or 60)
        box.update(importance_bars(message.importances, width))
        box.border_title = f"importance · over {message.complete} complete trials (fANOVA)"

    def _show_importance_hint(self, done: int) -> None:
        self.query_one("#sweep-importance", Static).update(
            Text(f"how much each setting matters: shown once 3 trials are complete ({done} so far)", "dim")
        )

    # .. a trial .....................................................................................
    def selected(self) -> TrialRow | None:
        """The trial under the leaderboard's cursor."""
        table = self.query_one("#sweep-table", DataTable)
        if not self.rows or table.cursor_row < 0:
            return None
        return self.rows[min(table.cursor_row, len(self.rows) - 1)]

    def action_open(self) -> None:
        """Open the selected trial's run in the Training pane (replayed, followed while it runs)."""
        trial = self.selected()
        if trial is None:
            return
        if not (Path(trial.run_dir) / "events.jsonl").exists():
            self.notify(f"Trial {trial.number} has no run folder yet.", severity="warning")
            return
        self.dismiss(trial.run_dir)

    @on(DataTable.RowSelected, "#sweep-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    @on(DataTable.HeaderSelected, "#sweep-table")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key in SORTS or key.startswith("param:"):
            self.sort_by(key)

    def action_sort(self) -> None:
        """Sort the leaderboard by the next key (value, trial, time, epochs)."""
        self.sort_by(SORTS[(SORTS.index(self.sort_key) + 1) % len(SORTS)])

    def sort_by(self, key: str) -> None:
        """Sort the leaderboard by ``key``: one of :data:`SORTS`, or ``param:<setting>``."""
        self.sort_key = key
        self._show_board_title()
        if self.snapshot is not None:
            self._fill_table(self.snapshot)

    def action_use_params(self) -> None:
        """Copy the selected trial's params into the hyperparameter form (the lab's config)."""
        trial = self.selected()
        if trial is None or not trial.params:
            self.notify("Select a trial with params first.", severity="warning")
            return
        app: Any = self.app
        try:
            paths = sweep_form.apply_params(app.config, trial.params)
        except LabError as exc:
            self.notify(render_error(exc, "label"), title="Params not copied", severity="error")
            return
        app.sync_form()
        shown = ", ".join(f"{label_of(p)} {_short(app.config.get(p))}" for p in paths)
        self.notify(f"Trial {trial.number}'s params are in the form: {shown}.", timeout=5)

    def action_close(self) -> None:
        self.dismiss(None)


def sort_rows(rows: list[TrialRow], key: str, maximize: bool = True) -> list[TrialRow]:
    """The leaderboard's order: by value (best first, trials without one last), trial number,
    time or epochs (most first), or a param (``param:<setting>``, smallest first)."""
    if key.startswith("param:"):
        name = key.split(":", 1)[1]
        return sorted(
            rows,
            key=lambda t: (
                name not in t.params,
                str(type(t.params.get(name))),
                t.params.get(name, 0),
                t.number,
            ),
        )
    if key == "value":
        sign = -1.0 if maximize else 1.0
        return sorted(rows, key=lambda t: (t.value is None, sign * (t.value or 0.0), t.number))
    if key == "trial":
        return sorted(rows, key=lambda t: t.number)
    attr = "seconds" if key == "time" else "epochs"
    return sorted(rows, key=lambda t: (-getattr(t, attr), t.number))


def _label(key: str) -> str:
    """A param's setting label (a key that names no setting as it is)."""
    try:
        return label_of(key)
    except (LabError, KeyError, ValueError):
        return key


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def importance_bars(importances: dict[str, float], width: int) -> Text:
    """A bar a setting, most important first, its share written at the end."""
    text = Text()
    if not importances:
        return Text("no setting varied enough to tell", "dim")
    names = {k: _label(k) for k in importances}
    name_w = max(map(len, names.values()))
    bar_w = max(4, width - name_w - 6)
    for i, (key, share) in enumerate(sorted(importances.items(), key=lambda kv: -kv[1])):
        text.append(("\n" if i else "") + f"{names[key]:<{name_w}} ")
        text.append(bar(share, 1.0, bar_w), "magenta")
        text.append(f" {share:.2f}")
    return text
