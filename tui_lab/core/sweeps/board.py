"""Reading a sweep folder back: its ``sweep.json``, its trials (from the study), its summary.

The faces (``tui-lab sweep --json``, the lab's Sweep screen) read a sweep only through here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_lab.core.sweeps.study import (
    SWEEP_FILE,
    SweepInfo,
    counted,
    open_storage,
    read_sweep_info,
    redacted,
    run_dir_of,
)

STATES = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running",
    "WAITING": "running",
}


@dataclass(frozen=True)
class TrialRow:
    """One trial of a sweep: a run folder and what it scored."""

    number: int
    state: str  # complete, pruned, failed or running
    params: dict[str, Any]
    value: float | None
    run_dir: str
    seconds: float | None
    epochs: float | None
    error: str = ""
    waiting: bool = False  # not started yet (shown as running in the summary's states)

    def to_dict(self) -> dict[str, Any]:
        """The trial as the ``--json`` summary lists it."""
        keys = ("number", "state", "params", "value", "run_dir", "seconds", "epochs")
        return {k: getattr(self, k) for k in keys}


def is_sweep_dir(path: str | Path) -> bool:
    """Whether ``path`` is a sweep folder (it has a ``sweep.json``)."""
    return (Path(path).expanduser() / SWEEP_FILE).is_file()


def load_sweep(path: str | Path) -> SweepInfo:
    """The sweep's ``sweep.json``.

    Raises:
        LabError: not a sweep folder.
    """
    return read_sweep_info(path)


def _study(path: str | Path) -> tuple[SweepInfo, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    info = read_sweep_info(path)
    return info, optuna.load_study(study_name=info.study, storage=open_storage(info.storage))


def rows_of(trials: list[Any], sweep_dir: str | Path, storage: str) -> list[TrialRow]:
    """The counted trials of a study as rows, by number (run folders read back in ``sweep_dir``)."""
    rows = []
    for t in sorted(counted(trials), key=lambda t: t.number):
        attrs = t.user_attrs
        run_dir = run_dir_of(t, sweep_dir, storage)
        rows.append(
            TrialRow(
                number=t.number,
                state=STATES.get(t.state.name, t.state.name.lower()),
                params=dict(t.params),
                value=t.value if t.state.name == "COMPLETE" else None,
                run_dir=str(run_dir or attrs.get("run_name", "")),  # a queued run: its name
                seconds=attrs.get("seconds"),
                epochs=attrs.get("epochs"),
                error=str(attrs.get("error", "")),
                waiting=t.state.name == "WAITING",
            )
        )
    return rows


def trial_rows(path: str | Path) -> list[TrialRow]:
    """Every trial of the sweep in ``path`` that holds a place, by number (read through Optuna)."""
    info, study = _study(path)
    return rows_of(study.get_trials(deepcopy=False), path, info.storage)


def best_row(rows: list[TrialRow], direction: str) -> TrialRow | None:
    """The completed trial with the best value."""
    done = [r for r in rows if r.state == "complete" and r.value is not None]
    if not done:
        return None
    pick = max if direction == "maximize" else min
    return pick(done, key=lambda r: r.value)


def importance(study: Any) -> dict[str, float]:
    """Each parameter's share of the value's variance (fANOVA); ``{}`` below 2 varied completed trials."""
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2 or all(t.params == complete[0].params for t in complete):
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # equal values: "importances will be equal"
            found = optuna.importance.get_param_importances(study)
        return {k: round(float(v), 4) for k, v in found.items()}
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def sweep_summary(path: str | Path) -> dict[str, Any]:
    """The object ``tui-lab sweep --json`` prints: the sweep, its trials, the best, importances."""
    info, study = _study(path)
    rows = rows_of(study.get_trials(deepcopy=False), path, info.storage)
    best = best_row(rows, info.direction)
    return {
        "sweep_dir": str(Path(path).expanduser().resolve()),
        "study": info.study,
        "storage": redacted(info.storage),
        "metric": info.metric,
        "direction": info.direction,
        "trials": [r.to_dict() for r in rows],
        "best": {k: getattr(best, k) for k in ("number", "params", "value", "run_dir")} if best else None,
        "importance": importance(study),
    }
