"""The lab: a Textual app over the shared core, driven entirely from the keyboard.

Four panes (Dataset, Hyperparameters, Training, Console) share one :class:`LabConfig`. Training
runs in a thread worker; its events reach the UI only as :class:`RunEvents` messages and feed one
:class:`RunHistory` that the charts draw at a bounded rate. When a run's worker ends, the lab drops
every reference to its trainer (and the model and optimizer it holds), so their memory is freed
before the next run. On a small terminal (under 100x32) one pane fills the screen at a time and
F2-F5 switch between them.
"""

from __future__ import annotations

import gc
import sys
import threading
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import Worker, WorkerState

from tui_lab.core.config import LabConfig
from tui_lab.core.errors import LabError, setting_ref
from tui_lab.core.settings import render_error, render_settings
from tui_lab.core.training.detached import Detached
from tui_lab.core.training.events import CheckpointSaved, RunFailed, RunFinished, RunStatus
from tui_lab.core.training.history import RunHistory
from tui_lab.ui.messages import ConfigChanged, DatasetAnalysed, DetachedFailed, RunEvents
from tui_lab.ui.pump import EventPump
from tui_lab.ui.widgets.console import ConsolePane
from tui_lab.ui.widgets.dataset_pane import DatasetPane
from tui_lab.ui.widgets.dialogs import ConfirmDialog, HelpScreen, PathPrompt
from tui_lab.ui.widgets.hparam_form import HparamForm
from tui_lab.ui.widgets.training_pane import TrainingPane

PANES = ("dataset", "hparams", "training", "console")
PANE_KEYS = Binding.Group("Panes")
COMPACT_WIDTH, COMPACT_HEIGHT = 100, 32


class LabApp(App[int]):
    """The tui-lab application."""

    CSS_PATH = "lab.tcss"
    TITLE = "tui-lab"
    # The footer at 120 columns: every screen's key (f10 Sweep the last that fits) and ^p palette.
    # The four pane keys share one entry ("f2 f3 f4 f5 Panes"; each pane's border names its key);
    # f7 is in the Training pane's border, the help and the palette.
    BINDINGS = [
        Binding("ctrl+t", "start", "Train", priority=True),
        Binding("ctrl+x", "stop", "Stop", priority=True),
        Binding("f1", "help", "Help", priority=True),
        Binding("f2", "show('dataset')", "Dataset", priority=True, group=PANE_KEYS),
        Binding("f3", "show('hparams')", "Hyperparameters", priority=True, group=PANE_KEYS),
        Binding("f4", "show('training')", "Training", priority=True, group=PANE_KEYS),
        Binding("f5", "show('console')", "Console", priority=True, group=PANE_KEYS),
        Binding("f6", "runs", "Runs", priority=True),
        Binding("f7", "pause", "Pause", show=False, priority=True),
        Binding("f8", "export", "Export", priority=True),
        Binding("f9", "analysis", "Analysis", priority=True),
        Binding("f10", "sweep", "Sweep", priority=True),
        # no room in the footer at 120 columns ("f11 Label" needs 3 more): the help and palette name it
        Binding("f11", "label", "Label", priority=True),
        Binding(
            "ctrl+u", "queue", "Queue", show=False, priority=True
        ),  # no room left in the footer at 120 columns
        Binding("ctrl+s", "save_config", "Save", show=False, priority=True),
        Binding("ctrl+o", "open_config", "Open", show=False, priority=True),
        Binding("ctrl+l", "open_model", "Model", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        config: LabConfig | None = None,
        model_dir: str | None = None,
        config_path: str | None = None,
        warm_imports: bool = True,
        watch: str | None = None,
    ) -> None:
        super().__init__()
        self.config = config or LabConfig()
        self.config_path = config_path
        self.model_dir = model_dir
        self.warm_imports = warm_imports
        self.active = "dataset"
        self.compact = False
        self.stop_event = threading.Event()
        self.pause_event = threading.Event()  # the trainer waits between steps while it is set
        self.train_worker: Worker | None = None
        self.history = RunHistory()
        self.viewing = "live"  # "live" (this process's run) or the folder of a watched run
        self._live_ended = (
            False  # the live run has said it finished or failed (its thread may still close files)
        )
        self._plan_confirmed = False  # the user said "train anyway" to a plan that does not fit
        self._start_queued = False  # ctrl+t came while that thread was closing: start when it ends
        self.watch = watch
        self.detached: Detached | None = None
        self.sweep_plan: Any = None  # the Sweep screen's plan (a SweepPlan), kept while it is closed

    # .. layout ......................................................................................
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield DatasetPane(self.config, id="dataset", classes="pane")
                yield HparamForm(self.config, id="hparams", classes="pane")
            with Vertical(id="right"):
                yield TrainingPane(id="training", classes="pane")
                yield ConsolePane(self.model_dir, id="console", classes="pane")
        yield Footer(compact=True)  # compact: every screen key fits at 120 columns (F11 Label too)

    def on_mount(self) -> None:
        self.query_one(TrainingPane).show_history(self.history)
        self._apply_layout(self.size.width, self.size.height)
        from tui_lab.ui.widgets.sweep_data import is_sweep_dir

        if self.watch and is_sweep_dir(self.watch):
            self.action_sweep(self.watch)
        elif self.watch:
            self.view_run(self.watch)
        if self.warm_imports:
            self.call_after_refresh(self._warm_up)

    @work(thread=True, group="warm", description="import torch in the background")
    def _warm_up(self) -> None:
        """Import torch and transformers after the first frame, so ctrl+t starts at once."""
        from tui_lab.core.imports import import_heavy

        import_heavy()

    @on(Resize)
    def _resized(self, event: Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        """Wide: all four panes. Compact (small terminal): only the active pane, full screen."""
        self.compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        self.screen.set_class(self.compact, "-compact")
        for name in PANES:
            self.query_one(f"#{name}").display = not self.compact or name == self.active
        self.query_one("#left").display = not self.compact or self.active in ("dataset", "hparams")
        self.query_one("#right").display = not self.compact or self.active in ("training", "console")

    # .. actions .....................................................................................
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """On a screen over the panes (Analysis, Runs, Export, examples) the pane keys are off and
        out of its footer: they would change panes nobody sees, and the screen's own keys need
        the room. f6, f8, f9 and f10 then reach the screen, which closes on its own key. A screen
        that starts its own job (the Sweep screen) takes ctrl+t and ctrl+x."""
        if action in SCREEN_HIDDEN_ACTIONS and len(self.screen_stack) > 1:
            return False
        if action in ("start", "stop") and getattr(self.screen, "owns_start", False):
            return False
        return True

    def action_show(self, pane: str) -> None:
        """Bring a pane forward (and focus its first field)."""
        self.active = pane
        self._apply_layout(self.size.width, self.size.height)
        if pane == "dataset":
            self.query_one("#data-train").focus()
        elif pane == "hparams":
            self.query_one(HparamForm).focus_first()
        elif pane == "training":
            self.query_one(TrainingPane).focus()
        else:
            self.query_one(ConsolePane).focus_input()

    def action_help(self) -> None:
        """Show the keys."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_start(self) -> None:
        """Start a run with the form's settings, unless one is running or a field is invalid."""
        if self.training:
            if self._live_ended:  # the run is over; its thread is only closing files
                self._start_queued = True
                self.notify("Starting as soon as the last run has closed its files.", timeout=2)
                return
            self.notify("A run is already in progress; ctrl+x stops it.", severity="warning")
            return
        form = self.query_one(HparamForm)
        errors = form.all_errors()
        if errors:
            path, reason = next(iter(errors.items()))
            name = render_settings(setting_ref(path), "label")
            self.notify(f"Cannot start: {name} {reason}.", title="Invalid setting", severity="error")
            self.action_show("hparams")
            form.focus_field(path)
            return
        if form.plan_fits is False and not self._plan_confirmed:
            self.push_screen(ConfirmDialog(f"{form.plan_advice}.\nTrain anyway?"), self._start_anyway)
            return
        self._plan_confirmed = False
        if form.detached:
            self._start_detached()
            return
        self.stop_event, self.pause_event = threading.Event(), threading.Event()
        self._live_ended = False
        self._show_new_history("live")
        self.train_worker = self._train(self.config.copy(), self.stop_event, self.pause_event)
        self.notify("Training started.", timeout=2)

    def _start_anyway(self, yes: bool | None) -> None:
        """The answer to "will not fit: train anyway?"."""
        if yes:
            self._plan_confirmed = True
            self.action_start()

    def action_queue(self) -> None:
        """Add the form's config to the run queue (detached workers run it, one per free device)."""
        errors = self.query_one(HparamForm).all_errors()
        if errors:
            path, reason = next(iter(errors.items()))
            name = render_settings(setting_ref(path), "label")
            self.notify(f"Cannot queue: {name} {reason}.", title="Invalid setting", severity="error")
            return
        self._queue(self.config.copy())

    @work(thread=True, exit_on_error=False, group="queue", description="add to the run queue")
    def _queue(self, config: LabConfig) -> None:
        from tui_lab.core.sweeps import queue as runqueue

        try:
            queued = runqueue.add(config)
        except LabError as exc:
            self.call_from_thread(
                self.notify, render_error(exc, "label"), title="Not queued", severity="error"
            )
            return
        workers = "workers started" if queued.started_workers else "workers already running"
        text = f"Queued {queued.run_dir.name} ({queued.waiting} waiting; {workers}); f6 shows it as queue/{queued.run_dir.name}."
        text += f"\n{queued.repaired}." if queued.repaired else ""  # a torn queue journal, set aside first
        self.call_from_thread(self.notify, text, timeout=6)

    def _start_detached(self) -> None:
        from tui_lab.core.training.detached import start_detached

        try:
            self.detached = start_detached(self.config)
        except LabError as exc:
            self.notify(render_error(exc, "label"), title="Not started", severity="error")
            return
        self.view_run(str(self.detached.run_dir))
        self.notify(
            f"Started {self.detached.run_dir.name} in its own process: it keeps going if you quit; "
            f"ctrl+x stops it.",
            timeout=6,
        )

    def _show_new_history(self, source: str) -> None:
        self.viewing = source
        self.history = RunHistory()
        self.history.status = RunStatus.STARTING
        self.query_one(TrainingPane).show_history(self.history)

    def action_stop(self) -> None:
        """Ask the run to stop after the current step; it saves last/ first.

        The lab's own run gets the stop event; a watched run (detached, or started in another
        terminal) gets a STOP file in its folder, which its trainer polls every step.
        """
        if self.viewing == "live" and self.training:
            self.stop_event.set()
            self.notify("Stopping after this step; saving last/…", timeout=3)
        elif self.viewing != "live" and self.history.status.active:
            from tui_lab.core.training.runs import request_stop

            request_stop(self.viewing)
            self.notify(f"Asked {Path(self.viewing).name} to stop; it saves last/ first.", timeout=4)
        else:
            self.notify("No run in progress.", severity="information", timeout=2)

    def action_pause(self) -> None:
        """Pause the lab's own run between two steps, or resume it."""
        if self.viewing != "live" or not self.training:
            self.notify("No run of this lab to pause (a detached or watched run cannot).", timeout=3)
            return
        if self.pause_event.is_set():
            self.pause_event.clear()
            self.notify("Resumed.", timeout=2)
        else:
            self.pause_event.set()
            self.notify("Paused after this step; f7 resumes.", timeout=3)
        self._show_pause()

    def _show_pause(self) -> None:
        """Show the pause in the status line (a paused run is still a run in progress)."""
        h = self.history
        wanted = RunStatus.PAUSED if self.pause_event.is_set() else RunStatus.RUNNING
        if h.status in (RunStatus.RUNNING, RunStatus.PAUSED) and h.status != wanted:
            h.status = wanted
            h.version += 1

    async def action_quit(self) -> None:
        """Stop this process's run (it saves last/) before leaving; detached runs go on."""
        if self.training:
            self.stop_event.set()
            self.notify("Stopping the run and saving last/ before quitting…")
            if self.train_worker is not None:
                await self.train_worker.wait()
        self.exit(0)

    def action_runs(self) -> None:
        """The runs in the output folder: open, stop, compare."""
        from tui_lab.ui.widgets.runs_screen import RunsScreen

        def opened(run_dir: str | None) -> None:
            if run_dir:
                self.view_run(run_dir)
                self.action_show("training")

        if not isinstance(self.screen, RunsScreen):
            self.push_screen(RunsScreen(self.config.train.output_dir), opened)

    def action_export(self) -> None:
        """Export a run to ONNX, see the trade-off table, serve it (F8)."""
        from tui_lab.ui.widgets.export_screen import ExportScreen

        if not isinstance(self.screen, ExportScreen):
            self.push_screen(ExportScreen(self.config.train.output_dir))

    def action_analysis(self) -> None:
        """Why is it wrong: the Analysis screen on the console's run (else the newest run) (F9)."""
        from tui_lab.ui.widgets.analysis_screen import AnalysisScreen, pick_run

        if isinstance(self.screen, AnalysisScreen):
            return
        run_dir = pick_run(self.query_one(ConsolePane).model_dir, self.config.train.output_dir)
        if run_dir is None:
            self.notify("No run with best/ weights to analyse yet: train one (ctrl+t) or open one (f6).")
            return

        def send(text: str | None) -> None:
            if text:
                self.query_one(ConsolePane).prefill(text, run_dir)
                self.action_show("console")

        self.push_screen(AnalysisScreen(run_dir), send)

    def action_label(self) -> None:
        """Label the pool texts the model is least sure of (F11): the Label screen on the console's
        run (else the newest run); its labels go to the corrections file the next run reads."""
        from tui_lab.core.active import corrections_file
        from tui_lab.ui.widgets.analysis_screen import pick_run
        from tui_lab.ui.widgets.label_screen import LabelScreen

        if isinstance(self.screen, LabelScreen):
            return
        pool, path = self.config.data.pool.strip(), corrections_file(self.config)
        run_dir = pick_run(self.query_one(ConsolePane).model_dir, self.config.train.output_dir)
        if not pool:
            self.notify("No pool to label: give a file of unlabelled texts as pool in the form (f3, data).")
        elif path is None:
            self.notify(
                "Labels need a corrections file: set a training file (f2) and leave corrections on (f3, data)."
            )
        elif run_dir is None:
            self.notify(
                "No run with best/ weights to rank the pool yet: train one (ctrl+t) or open one (f6)."
            )
        else:
            self.push_screen(LabelScreen(run_dir, pool, path), self._labelled)

    def _labelled(self, retrain: bool | None) -> None:
        """Back from the Label screen: ctrl+t there trains again with the form's settings."""
        if retrain:
            self.action_show("training")
            self.action_start()

    def action_sweep(self, sweep_dir: str = "") -> None:
        """Plan, start and watch a hyperparameter sweep (F10); ``sweep_dir``: open that sweep."""
        from tui_lab.ui.widgets.sweep_form import SweepPlan
        from tui_lab.ui.widgets.sweep_screen import SweepScreen

        if isinstance(self.screen, SweepScreen):
            return
        self.sweep_plan = self.sweep_plan or SweepPlan()
        if sweep_dir:
            self.sweep_plan.sweep_dir = str(Path(sweep_dir).expanduser().resolve())

        def opened(run_dir: str | None) -> None:
            if run_dir:
                self.view_run(run_dir)
                self.action_show("training")

        self.push_screen(SweepScreen(self.sweep_plan), opened)

    def sync_form(self) -> None:
        """Show the config's values in the form and the Dataset pane (after it changed elsewhere)."""
        lab = self.screen_stack[0]
        lab.query_one(HparamForm).sync_from_config()
        lab.query_one(DatasetPane).sync_from_config()

    def view_run(self, run_dir: str) -> None:
        """Show a run from its event log in the Training pane, following it while it grows."""
        run_dir = str(Path(run_dir).expanduser().resolve())
        self._show_new_history(run_dir)
        self.history.status = RunStatus.IDLE
        self.query_one(ConsolePane).use_model(run_dir)
        detached = self.detached if self.detached and str(self.detached.run_dir) == run_dir else None
        self._follow(run_dir, detached)

    @work(thread=True, exclusive=True, exit_on_error=False, group="follow", description="follow a run")
    def _follow(self, run_dir: str, detached: Detached | None) -> None:
        """Replay events.jsonl, then post each new batch of lines as it is written.

        What the log holds at the first read is a replay; later lines are live. This thread only
        reads and posts messages; it waits on the worker's cancel event, so it ends at once.
        """
        from textual.worker import get_current_worker

        from tui_lab.core.training.events import EventFollower, RunFailed, RunFinished, damage_note

        worker = get_current_worker()
        follower = EventFollower(Path(run_dir) / "events.jsonl")
        replay = True
        while not worker.is_cancelled:
            events = follower.poll()
            if events:
                self.post_message(RunEvents(events, source=run_dir, replay=replay))
            if replay:  # a torn log is shown as far as it reads, and said in one line
                over = bool(events) and isinstance(events[-1], (RunFinished, RunFailed))
                note = damage_note(follower.path, over)
                if note:
                    self.call_from_thread(self.notify, note, severity="warning", timeout=10)
            replay = False
            failure = detached.failed_early() if detached is not None else None
            if failure:
                detached = None
                self.post_message(DetachedFailed(run_dir, failure))
            if worker.cancelled_event.wait(0.25 if events else 0.5):
                break

    @on(DetachedFailed)
    def _detached_failed(self, message: DetachedFailed) -> None:
        if self.detached is not None and str(self.detached.run_dir) == message.run_dir:
            self.detached = None
        failed = RunFailed(message=message.message, error_type="exit", user_error=True)
        self.post_message(RunEvents([failed], source=message.run_dir))

    def action_save_config(self) -> None:
        """Save the config as TOML."""

        def save(path: str | None) -> None:
            if not path:
                return
            try:
                saved = self.config.save(path)
            except OSError as exc:
                self.notify(f"Could not save {path}: {exc.strerror}.", severity="error")
                return
            self.config_path = str(saved)
            self.notify(f"Saved {saved}", timeout=3)

        self.push_screen(PathPrompt("Save the config as TOML", self.config_path or "tui-lab.toml"), save)

    def action_open_config(self) -> None:
        """Load a TOML config into the form and the dataset pane."""

        def load(path: str | None) -> None:
            if not path:
                return
            try:
                loaded = LabConfig.load(path)
            except LabError as exc:
                self.notify(render_error(exc, "label"), title="Config not loaded", severity="error")
                return
            for section in ("data", "model", "train", "explain"):
                setattr(self.config, section, getattr(loaded, section))
            self.config_path = path
            self.query_one(HparamForm).sync_from_config()
            self.query_one(DatasetPane).sync_from_config()
            self.notify(f"Loaded {path}", timeout=3)

        self.push_screen(
            PathPrompt("Open a TOML config", self.config_path or "", "path/to/config.toml"), load
        )

    def action_open_model(self) -> None:
        """Use a run or model folder in the console."""

        def use(path: str | None) -> None:
            if not path:
                return
            if not Path(path).expanduser().is_dir():
                self.notify(f"{path} is not a folder.", severity="error")
                return
            self.query_one(ConsolePane).use_model(path)
            self.action_show("console")

        self.push_screen(
            PathPrompt("Open a run or model folder for the console", self.model_dir or "runs/"), use
        )

    def _sweep_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Stop and resume, on the Sweep screen (its module is imported only once it is open)."""
        from tui_lab.ui.widgets.sweep_screen import SweepScreen

        if isinstance(screen, SweepScreen):
            yield SystemCommand(
                "Stop sweep",
                "Stop the sweep shown; every trial saves last/ (ctrl+x)",
                screen.action_stop_sweep,
            )
            yield SystemCommand(
                "Resume sweep",
                "Continue a stopped or killed sweep to its N trials (ctrl+r)",
                screen.action_resume_sweep,
            )

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Start training", "Train with the form's settings (ctrl+t)", self.action_start)
        yield SystemCommand("Stop training", "Stop after this step, saving last/ (ctrl+x)", self.action_stop)
        yield SystemCommand(
            "Queue run",
            "Add the form's settings to the run queue; detached workers run it (ctrl+u)",
            self.action_queue,
        )
        yield SystemCommand(
            "Pause or resume training", "Wait between two steps, or go on (f7)", self.action_pause
        )
        for pane, key, what in (
            ("dataset", "f2", "Dataset"),
            ("hparams", "f3", "Hyperparameters"),
            ("training", "f4", "Training"),
            ("console", "f5", "Console"),
        ):
            yield SystemCommand(
                f"Show {what}", f"Go to the {what} pane ({key})", lambda pane=pane: self.action_show(pane)
            )
        yield SystemCommand("Save config", "Save the settings as TOML (ctrl+s)", self.action_save_config)
        yield SystemCommand("Open config", "Load settings from TOML (ctrl+o)", self.action_open_config)
        yield SystemCommand(
            "Open model", "Use a run or model folder in the console (ctrl+l)", self.action_open_model
        )
        yield SystemCommand(
            "Explain sentence",
            "Which words made the console's sentence get its label (ctrl+e)",
            self.query_one(ConsolePane).action_explain,
        )
        yield SystemCommand("Reload dataset", "Read the data files again", self.query_one(DatasetPane).load)
        yield SystemCommand("Runs", "List, open, stop and compare runs (f6)", self.action_runs)
        yield SystemCommand("Export", "Export a run to ONNX, compare, serve it (f8)", self.action_export)
        yield SystemCommand(
            "Sweep", "Search hyperparameters: plan, start and watch an Optuna sweep (f10)", self.action_sweep
        )
        yield from self._sweep_commands(screen)
        yield SystemCommand(
            "Analysis",
            "Why is it wrong: per class, confusions, calibration, label issues (f9)",
            self.action_analysis,
        )
        yield SystemCommand(
            "Label the pool",
            "Label the pool texts the model is least sure of; ctrl+t retrains with them (f11)",
            self.action_label,
        )
        yield SystemCommand("Show keys", "The help screen (f1)", self.action_help)

    # .. training ....................................................................................
    @property
    def training(self) -> bool:
        """Whether a run is in progress."""
        return self.train_worker is not None and self.train_worker.state in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="train", description="training")
    def _train(self, config: LabConfig, stop: threading.Event, pause: threading.Event) -> Any:
        """Run the core trainer; its events leave this thread only as posted messages.

        The trainer is never stored: when this returns (or raises) it is garbage.
        """
        from tui_lab.core.distill import hooks_for
        from tui_lab.core.imports import import_heavy
        from tui_lab.core.training.loop import Trainer

        import_heavy()
        pump = EventPump(lambda events: self.post_message(RunEvents(events, source="live")))
        try:
            return Trainer(config, [pump], stop=stop, pause=pause, hooks=hooks_for(config)).run()
        finally:
            pump.flush()

    @on(RunEvents)
    def _run_events(self, message: RunEvents) -> None:
        if message.source == "live" and any(isinstance(e, (RunFinished, RunFailed)) for e in message.events):
            self._live_ended = True
        if message.source != self.viewing:
            return  # a run the Training pane no longer shows
        self.history.extend(message.events)
        if message.source == "live":
            self._show_pause()  # a run_started that arrives after f7 still shows "paused"
        for event in message.events:
            if isinstance(event, CheckpointSaved) and event.which == "best":
                self.query_one(ConsolePane).use_model(str(Path(event.path).parent))
            elif message.replay:
                continue  # an opened log's past: drawn, never announced
            elif isinstance(event, RunFinished) and event.status == "stopped" and not event.step:
                self.notify(f"Training stopped {event.reason}.", timeout=6)
            elif isinstance(event, RunFinished):
                acc = (event.best or {}).get("accuracy")
                best = f" best dev accuracy {acc:.3f}." if acc is not None else ""
                self.notify(f"Run {event.status.replace('_', ' ')}.{best} F5 to try it.", timeout=6)
            elif isinstance(event, RunFailed):
                text = render_settings(event.message, "label")
                self.notify(text, title="Training failed", severity="error", timeout=10)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "train" or event.state not in (
            WorkerState.ERROR,
            WorkerState.SUCCESS,
            WorkerState.CANCELLED,
        ):
            return
        error = event.worker.error
        if event.state == WorkerState.ERROR and self.history.failure is None:
            # failed before the trainer could say why
            text = render_error(error, "label")
            self.notify(text, title="Training failed", severity="error", timeout=10)
            self.history.status = RunStatus.FAILED
            self.history.version += 1
        release_run_memory(error)
        if self._start_queued:
            self._start_queued = False
            self.action_start()

    @on(DatasetAnalysed)
    def _data_analysed(self, message: DatasetAnalysed) -> None:
        # its fields follow the data's task; none once the lab is closing (a load that ended as the
        # app shut down, its screen's widgets already gone: failed once in CI)
        for form in self.query(HparamForm):
            form.show_data_task(message.task)

    @on(ConfigChanged)
    def _config_changed(self, message: ConfigChanged) -> None:
        if message.path == "data.max_length":
            self.query_one(DatasetPane).refresh_lengths()
        elif message.path in ("model.name", "model.vocab_size"):
            self.query_one(DatasetPane).schedule_load()  # token lengths depend on the tokenizer
        elif message.path in ("data.drop_empty", "data.dev_fraction"):
            self.query_one(DatasetPane).schedule_load()  # the rows and the split they keep


SCREEN_HIDDEN_ACTIONS = frozenset({"show", "runs", "pause", "export", "analysis", "sweep", "label"})


def release_run_memory(error: BaseException | None) -> None:
    """Let a finished run's trainer, model and optimizer go, and give their memory back.

    A failed worker keeps its exception, whose traceback frames hold the trainer (and through it
    the model, the optimizer state and the batch tensors) until the next run replaces it. Clear
    those frames and drop the traceback (of the chained exceptions too; the message stays), collect,
    and hand cached CUDA blocks back.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        error.__traceback__ = None  # and the frames themselves (a cleared frame may keep a locals dict)
        error = error.__cause__ or error.__context__
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_lab(
    config: LabConfig, model_dir: str | None = None, config_path: str | None = None, watch: str | None = None
) -> int:
    """Open the lab (showing a run to watch, if given); returns the exit code."""
    result = LabApp(config, model_dir=model_dir, config_path=config_path, watch=watch).run()
    return int(result or 0)
