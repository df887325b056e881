"""The Sweep screen's plan: which settings to search and how, checked as typed, and the
``tui-lab sweep`` command that runs it in its own process.

A searched setting is written ``lo..hi`` (uniform), ``lo..hi:log`` (log-uniform) or ``a,b,c`` (a
choice); one value fixes the setting for every trial (a choice of one); which settings can be searched, their types, choices and limits all come from the
settings' declaration, so a range that the setting would refuse is refused beside the field.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_lab.core.config import LabConfig, check_value, coerce
from tui_lab.core.errors import ConfigError
from tui_lab.core.settings import field_spec, field_type, form_fields, task_of
from tui_lab.core.training import detached

SEARCH_GROUPS = ("model", "training", "data")  # form groups whose numbers and choices can be searched
NOT_SEARCHED = ("model.task",)  # it changes what is measured, not how well
PRUNERS = ("median", "hyperband", "none")


def searchable(task: str = "") -> list[str]:
    """The settings a sweep can search for ``task``: numbers and choices of the model, training
    and data groups of the hyperparameter form."""
    paths = []
    for path, group in form_fields():
        if group not in SEARCH_GROUPS or path in NOT_SEARCHED or task_of(path) not in ("", task):
            continue
        if field_type(path) in (int, float) or "choices" in field_spec(path).metadata:
            paths.append(path)
    return paths


def spec_problem(path: str, text: str) -> str | None:
    """Why ``text`` is not a search spec for the setting at ``path`` (``None``: it is, or empty).

    One value (no ``..`` nor ``,``) is a spec too: it fixes the setting for every trial."""
    text = text.strip()
    if not text:
        return None
    body, _, mode = text.partition(":")
    if ".." in body:
        return _range_problem(path, body, mode.strip())
    if mode:
        return "':log' goes after a range (lo..hi:log)"
    values = [v.strip() for v in body.split(",")]
    if not all(values):
        return "give a range lo..hi, a list a,b,c or one value"
    return next((p for p in (_value_problem(path, v) for v in values) if p), None)


def is_fixed(spec: str) -> bool:
    """Whether a (valid) spec is one value: the setting fixed for every trial, not searched."""
    return ".." not in spec and "," not in spec


def _range_problem(path: str, body: str, mode: str) -> str | None:
    if field_type(path) not in (int, float):
        return "a choice is searched as a list a,b,c"
    if mode not in ("", "log"):
        return f"unknown scale ':{mode}' (only ':log')"
    lo_text, _, hi_text = body.partition("..")
    for text in (lo_text, hi_text):
        problem = _value_problem(path, text.strip())
        if problem:
            return problem
    lo, hi = coerce(path, lo_text.strip()), coerce(path, hi_text.strip())
    if lo > hi:
        return f"the low end {lo:g} is above the high end {hi:g}"
    if mode == "log" and lo <= 0:
        return "a log range needs a low end above 0"
    return None


def _value_problem(path: str, text: str) -> str | None:
    try:
        value = coerce(path, text)
    except ConfigError as exc:
        return next(iter(exc.errors.values()), str(exc))
    if value is None:
        return "auto cannot be searched: give numbers"
    problem = check_value(path, value)
    return f"{text} {problem}" if problem else None


@dataclass
class SweepPlan:
    """What the Sweep screen's form holds (kept by the lab while the screen is closed)."""

    space: dict[str, str] = field(default_factory=dict)  # setting -> spec (searched ones only)
    trials: int = 20
    parallel: int = 1
    pruner: str = "median"
    sweep_dir: str = ""  # the sweep the screen shows ("" before one is started or opened)


def sweep_command(plan: SweepPlan, config_path: str | Path, output_dir: str, name: str) -> list[str]:
    """The ``tui-lab sweep`` command line that runs ``plan`` on the config saved at ``config_path``
    as the study (and sweep folder) ``name``."""
    argv = [sys.executable, "-m", "tui_lab", "sweep", "--config", str(config_path), "--study", name]
    argv += ["--trials", str(plan.trials), "--parallel", str(plan.parallel), "--pruner", plan.pruner]
    for path, spec in plan.space.items():
        argv += ["--search", f"{path}={spec}"]
    return argv + ["--output-dir", output_dir]


@dataclass
class StartedSweep:
    """A sweep started in its own process: where it will write, its log and the process."""

    sweep_dir: Path
    log: Path
    process: Any
    command: list[str]
    started: float


def start_sweep(config: LabConfig, plan: SweepPlan) -> StartedSweep:
    """Save the lab's config as TOML and start ``tui-lab sweep`` on it, detached (it outlives the
    lab); the sweep (its study and folder) is named ``sweep-<date>-<time>``."""
    name = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    output_dir = config.train.output_dir
    side = Path(output_dir).expanduser() / detached.DETACHED_DIR
    config_path = config.save(side / f"{name}.toml")
    log = side / f"{name}.log"
    command = sweep_command(plan, config_path, output_dir, name)
    process = detached.spawn_detached(command, log)
    sweep_dir = Path(output_dir).expanduser().resolve() / name
    return StartedSweep(sweep_dir, log, process, command, time.time())


def apply_params(config: LabConfig, params: dict[str, Any]) -> list[str]:
    """Set a trial's params in ``config`` (the form's source of truth); returns the settings set.

    A key is a setting path (``train.learning_rate``) or a bare setting name (``learning_rate``).

    Raises:
        ConfigError: a value the setting refuses.
    """
    names = {p.split(".", 1)[1]: p for p, _ in form_fields()}
    done = []
    for key, value in params.items():
        path = key if "." in key else names.get(key, key)
        config.set(path, value)
        done.append(path)
    problems = {p: e for p, e in config.validate().items() if p in done}
    if problems:
        path, reason = next(iter(problems.items()))
        raise ConfigError(f"{path} {reason}.", problems)
    return done
