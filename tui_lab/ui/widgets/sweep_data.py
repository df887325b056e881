"""What the Sweep screen shows, read from a sweep folder (``tui-lab sweep`` writes it).

The study comes through the core's sweep modules (:mod:`tui_lab.core.sweeps`: ``sweep.json``,
its storage, a journal file or an RDB URL, and which trials count, so a surplus trial or one
replaced by its retry is not shown); each trial's run folder gives its dev curve by epoch (its
``events.jsonl``, folded by the same :class:`RunHistory` as every other run). What is here is the
screen's own: snapshots, curves, re-reading only what grew. Everything here runs off the UI thread.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tui_lab.core.errors import LabError
from tui_lab.core.sweeps import control
from tui_lab.core.sweeps import study as studies
from tui_lab.core.sweeps.board import is_sweep_dir
from tui_lab.core.sweeps.study import JOURNAL_FILE, SWEEP_FILE
from tui_lab.core.training.events import read_events
from tui_lab.core.training.history import RunHistory

__all__ = ["SweepReader", "SweepSnapshot", "find_sweep", "is_sweep_dir", "load_study", "read_spec"]
STATES = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running",
    "WAITING": "waiting",
}
UNFINISHED = ("running", "waiting")  # shown as "stopped" when no coordinator runs the sweep


def read_spec(sweep_dir: str | Path) -> dict[str, Any]:
    """The sweep's ``sweep.json``.

    Raises:
        LabError: no readable ``sweep.json`` in the folder.
    """
    path = Path(sweep_dir) / SWEEP_FILE
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabError(f"{path} cannot be read ({exc}); give a folder that tui-lab sweep writes.") from None
    if not isinstance(spec, dict):
        raise LabError(f"{path} is not a JSON object; give a folder that tui-lab sweep writes.")
    return spec


def load_study(sweep_dir: str | Path, spec: dict[str, Any] | None = None) -> Any:
    """The sweep's ``optuna.Study`` through the core's storage (quietly: Optuna's log lines would
    draw over the screen); a journal path that is not absolute is taken inside the sweep folder."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = spec if spec is not None else read_spec(sweep_dir)
    storage = str(spec.get("storage") or JOURNAL_FILE)
    if not studies.is_rdb(storage):
        storage = str(studies.read_path(storage, sweep_dir))
    name = spec.get("study") or Path(sweep_dir).name
    return optuna.load_study(study_name=name, storage=studies.open_storage(storage))


@dataclass(frozen=True)
class TrialRow:
    """One trial as the leaderboard shows it."""

    number: int
    state: str  # complete, pruned, failed, running, waiting, stopped (no coordinator runs it)
    params: dict[str, Any]
    value: float | None
    epochs: float
    seconds: float
    run_dir: str
    device: str = ""


@dataclass(frozen=True)
class Curve:
    """A trial's dev metric at each evaluation, x in epochs."""

    epochs: list[float]
    values: list[float]


@dataclass
class SweepSnapshot:
    """Everything the Sweep screen draws at one moment."""

    sweep_dir: str
    spec: dict[str, Any]
    trials: list[TrialRow] = field(default_factory=list)
    curves: dict[int, Curve] = field(default_factory=dict)
    error: str = ""
    running: bool = False  # its coordinator runs on this machine (ctrl+x can stop it)
    elsewhere: str = ""  # the machine whose coordinator the folder records, when not this one

    @property
    def metric(self) -> str:
        """The metric the trials are ranked by."""
        return str(self.spec.get("metric") or "f1_macro")

    @property
    def maximize(self) -> bool:
        """Whether a higher value is better."""
        return str(self.spec.get("direction", "maximize")).lower().startswith("max")

    @property
    def complete(self) -> list[TrialRow]:
        """The trials that finished with a value."""
        return [t for t in self.trials if t.state == "complete" and t.value is not None]

    def best(self) -> TrialRow | None:
        """The best complete trial."""
        done = self.complete
        if not done:
            return None
        pick = max if self.maximize else min
        return pick(done, key=lambda t: t.value)

    def signature(self) -> tuple[Any, ...]:
        """Changes exactly when something the screen draws changes (the error, a trial, a curve)."""
        rows = tuple(
            (t.number, t.state, t.value, t.epochs, int(t.seconds), len(self.curves[t.number].values))
            for t in self.trials
        )
        return self.sweep_dir, self.error, self.running, self.elsewhere, rows

    def best_so_far(self) -> tuple[list[int], list[float]]:
        """The best value reached by each complete trial's number (in trial order)."""
        xs: list[int] = []
        ys: list[float] = []
        for t in sorted(self.complete, key=lambda t: t.number):
            value = float(t.value)  # type: ignore[arg-type]
            better = not ys or (value > ys[-1] if self.maximize else value < ys[-1])
            xs.append(t.number)
            ys.append(value if better else ys[-1])
        return xs, ys


class SweepReader:
    """Reads a sweep folder again and again, re-reading a run's events only when they grew."""

    def __init__(self, sweep_dir: str | Path) -> None:
        self.sweep_dir = Path(sweep_dir)
        self._curves: dict[str, tuple[tuple[int, float], Curve, float]] = {}
        self._study: Any = None  # kept: its journal storage reads only the lines added since

    def read(self) -> SweepSnapshot:
        """The sweep as it stands (``error`` says why the study could not be read, if so)."""
        try:
            spec = read_spec(self.sweep_dir)
        except LabError as exc:
            return SweepSnapshot(str(self.sweep_dir), {}, error=str(exc))
        snap = SweepSnapshot(
            str(self.sweep_dir), spec, running=control.live_coordinator(self.sweep_dir) is not None
        )
        # a journal is this machine's: with no coordinator here, its unfinished trials wait for a resume
        snap.elsewhere = control.other_host(self.sweep_dir) or ""
        stopped = (
            not snap.running and not snap.elsewhere and not studies.is_rdb(str(spec.get("storage") or ""))
        )
        try:
            self._study = self._study or load_study(self.sweep_dir, spec)
            trials = studies.counted(self._study.get_trials(deepcopy=False))
        except Exception as exc:  # noqa: BLE001 - a study not created yet, a storage still being written
            snap.error = f"the study cannot be read yet ({type(exc).__name__}: {exc})"
            return snap
        for t in trials:
            default = self.sweep_dir / t.user_attrs.get(
                "run_name", f"trial-{t.number:03d}"
            )  # a queued run: its name
            run_dir = str(studies.run_dir_of(t, self.sweep_dir, str(spec.get("storage") or "")) or default)
            curve, last_epoch = self._curve(run_dir, snap.metric)
            snap.curves[t.number] = curve
            row = _row(t, run_dir, last_epoch)
            snap.trials.append(replace(row, state="stopped") if stopped and row.state in UNFINISHED else row)
        return snap

    def _curve(self, run_dir: str, metric: str) -> tuple[Curve, float]:
        path = Path(run_dir) / "events.jsonl"
        try:
            stat = path.stat()
            key = (stat.st_size, stat.st_mtime)
        except OSError:
            return Curve([], []), 0.0
        cached = self._curves.get(run_dir)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        history = RunHistory()
        history.extend(read_events(path))
        per_epoch = (
            history.started.steps_per_epoch if history.started and history.started.steps_per_epoch else 1
        )
        epochs = [s / per_epoch for s in history.evaluated_at_steps]
        curve = Curve(epochs, history.metric_series(metric))
        last = history.step / per_epoch
        self._curves[run_dir] = (key, curve, last)
        return curve, last


def find_sweep(output_dir: str | Path, since: float) -> Path | None:
    """The newest sweep folder in ``output_dir`` whose ``sweep.json`` was written after ``since``
    (a started sweep whose folder is not where it was expected)."""
    found = [
        (p.stat().st_mtime, p.parent)
        for p in Path(output_dir).expanduser().glob(f"*/{SWEEP_FILE}")
        if p.stat().st_mtime >= since
    ]
    return max(found)[1] if found else None


def _row(t: Any, run_dir: str, last_epoch: float) -> TrialRow:
    """A trial as a leaderboard row (user attributes first, else what the study and run tell)."""
    attrs = t.user_attrs
    state = STATES.get(t.state.name, t.state.name.lower())
    seconds = attrs.get("seconds")
    if seconds is None and t.datetime_start is not None:
        end = t.datetime_complete.timestamp() if t.datetime_complete is not None else time.time()
        seconds = end - t.datetime_start.timestamp()
    epochs = attrs.get("epochs")
    return TrialRow(
        number=t.number,
        state=state,
        params=dict(t.params),
        value=t.value if state == "complete" else None,
        epochs=float(epochs if epochs is not None else last_epoch),
        seconds=float(seconds or 0.0),
        run_dir=run_dir,
        device=str(attrs.get("device", "")),
    )


def param_importances(sweep_dir: str | Path) -> dict[str, float]:
    """Each searched setting's share of the variance of the value (Optuna's fANOVA), over the
    complete trials; empty below three of them."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator

    study = load_study(sweep_dir)
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(done) < 3:
        return {}
    return dict(optuna.importance.get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0)))
