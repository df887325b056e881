"""The search space of a sweep: ``KEY=SPEC`` strings checked against the settings' declarations.

A SPEC is ``lo..hi`` (uniform), ``lo..hi:log`` (log-uniform) or ``a,b,c`` (categorical); an int
setting gets an int distribution. The key is a setting path like ``--set`` takes
(``train.learning_rate``), its section optional when the key is unique (``learning_rate``). Every
value is checked against the one declaration of its setting (type, limits, choices), so a space
never proposes a trial the run would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_lab.core.config import check_value, coerce, tomllib
from tui_lab.core.errors import ConfigError
from tui_lab.core.models.presets import is_preset
from tui_lab.core.settings import field_spec, field_type, iter_fields

# settings a sweep may not vary: where and how a trial runs, not what it learns
NOT_SWEPT = frozenset({"train.device", "train.output_dir", "train.run_name", "model.name", "model.task"})

PRESET_SPACE = {
    "train.learning_rate": "1e-4..3e-3:log",
    "train.batch_size": "16,32,64",
    "train.warmup_ratio": "0..0.2",
    "train.epochs": "2..8",
    "model.hidden_dropout": "0..0.3",
}
PRETRAINED_SPACE = {
    "train.learning_rate": "1e-5..1e-4:log",
    "train.batch_size": "16,32",
    "train.warmup_ratio": "0..0.2",
    "train.epochs": "2..5",
    "model.hidden_dropout": "0..0.3",
}

# adapters (model.peft lora/qlora): the rank, its scale and a rate around LoRA's 2e-3
LORA_SPACE = {
    "train.learning_rate": "3e-4..5e-3:log",
    "model.lora_r": "4,8,16,32",
    "model.lora_alpha": "8,16,32,64",
    "train.warmup_ratio": "0..0.2",
    "train.epochs": "2..5",
}


@dataclass(frozen=True)
class Param:
    """One dimension of the space: a setting and the values it may take."""

    path: str
    spec: str
    kind: type  # int, float, str or bool
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial proposes for this setting."""
        if self.choices:
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.kind is int:
            return trial.suggest_int(self.path, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.path, float(self.low), float(self.high), log=self.log)


def resolve_key(key: str) -> str:
    """``learning_rate`` -> ``train.learning_rate``; a full path is returned as it is.

    Raises:
        ConfigError: an unknown key, or one that more than one section has.
    """
    key = key.strip()
    paths = [p for p, _ in iter_fields()]
    if key in paths:
        return key
    matches = [p for p in paths if p.split(".", 1)[1] == key]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"--search key '{key}' is ambiguous; write one of {', '.join(matches)}.")
    raise ConfigError(f"--search key '{key}' is not a setting; use a key like train.learning_rate.")


def parse_param(path: str, spec: str) -> Param:
    """A checked :class:`Param` from a setting path and a SPEC string.

    Raises:
        ConfigError: a setting a sweep cannot vary, a malformed SPEC, a range upside down, a log
            range reaching 0, or a value outside the setting's limits.
    """
    kind = field_type(path)
    spec = spec.strip()
    meta = field_spec(path).metadata
    if path in NOT_SWEPT or (kind is str and "choices" not in meta):
        raise ConfigError(f"--search {path}: this setting cannot be swept (only numbers and choices can).")
    if ".." in spec:
        if kind not in (int, float):
            raise ConfigError(
                f"--search {path}={spec}: a range needs a number setting; list values as a,b,c."
            )
        return _range(path, spec, kind)
    values = tuple(_checked(path, v) for v in spec.split(",") if v.strip())
    if not values:
        raise ConfigError(f"--search {path}: give values as lo..hi, lo..hi:log or a,b,c.")
    return Param(path, spec, kind, choices=values)


def _range(path: str, spec: str, kind: type) -> Param:
    body, _, flag = spec.partition(":")
    if flag not in ("", "log"):
        raise ConfigError(f"--search {path}={spec}: the only range option is :log.")
    lo_text, _, hi_text = body.partition("..")
    low, high = _checked(path, lo_text), _checked(path, hi_text)
    if low is None or high is None:
        raise ConfigError(f"--search {path}={spec}: a range needs two numbers, lo..hi.")
    if low > high:
        raise ConfigError(f"--search {path}={spec}: the low end {low} is above the high end {high}.")
    if flag == "log" and low <= 0:
        raise ConfigError(f"--search {path}={spec}: a log range must start above 0.")
    return Param(path, spec, kind, low=low, high=high, log=flag == "log")


def _checked(path: str, text: str) -> Any:
    """One value of a SPEC as the setting's type, within its limits."""
    value = coerce(path, text.strip())
    problem = check_value(path, value)
    if problem:
        raise ConfigError(f"--search {path}: {text.strip()} {problem}.", {path: problem})
    return value


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions of a sweep, in the order given."""

    params: tuple[Param, ...]

    def specs(self) -> dict[str, str]:
        """``{setting path: SPEC}``, as written in ``sweep.json``."""
        return {p.path: p.spec for p in self.params}

    def suggest(self, trial: Any) -> dict[str, Any]:
        """``{setting path: value}`` proposed by an Optuna trial."""
        return {p.path: p.suggest(trial) for p in self.params}

    def grid(self) -> dict[str, list[Any]]:
        """The grid of a categorical-only space (``--sampler grid``).

        Raises:
            ConfigError: a dimension is a range.
        """
        ranges = [p.path for p in self.params if not p.choices]
        if ranges:
            raise ConfigError(f"--sampler grid needs listed values (a,b,c); {', '.join(ranges)} is a range.")
        return {p.path: list(p.choices) for p in self.params}


def space_from_specs(specs: dict[str, str]) -> SearchSpace:
    """A checked space from ``{key: SPEC}`` (keys resolved to setting paths)."""
    params: dict[str, Param] = {}
    for key, spec in specs.items():
        path = resolve_key(key)
        params[path] = parse_param(path, str(spec))
    if not params:
        raise ConfigError("the search space is empty; give --search KEY=SPEC or --space FILE.toml.")
    return SearchSpace(tuple(params.values()))


def parse_search_args(items: list[str]) -> dict[str, str]:
    """``["learning_rate=1e-5..1e-3:log", ...]`` -> ``{key: SPEC}``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, spec = item.partition("=")
        if not sep or not key.strip() or not spec.strip():
            raise ConfigError(f"--search needs KEY=SPEC (e.g. learning_rate=1e-5..1e-3:log), got '{item}'.")
        out[key.strip()] = spec.strip()
    return out


def read_space_file(path: str | Path) -> dict[str, str]:
    """``{key: SPEC}`` from a TOML file: ``learning_rate = "1e-5..1e-3:log"`` (tables of sections allowed).

    Raises:
        ConfigError: a missing file, bad TOML, or a value that is not a SPEC string.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"space file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"space file {path} cannot be read: {exc}.") from None
    out: dict[str, str] = {}
    for key, value in raw.items():
        items = {f"{key}.{k}": v for k, v in value.items()} if isinstance(value, dict) else {key: value}
        for name, spec in items.items():
            if isinstance(spec, list):
                spec = ",".join(str(v).lower() if isinstance(v, bool) else str(v) for v in spec)
            if not isinstance(spec, str):
                raise ConfigError(f'space file {path}: {name} must be a SPEC string like "1e-5..1e-3:log".')
            out[name] = spec
    return out


def default_space(model_name: str, peft: str = "none") -> dict[str, str]:
    """The space swept when none is given: a LoRA run's, a from-scratch preset's or a pretrained model's."""
    if peft != "none":
        return dict(LORA_SPACE)
    return dict(PRESET_SPACE if is_preset(model_name) else PRETRAINED_SPACE)
