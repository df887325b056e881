"""`LabConfig`: the one configuration object of a run, and its TOML form.

The hyperparameter form edits it, CLI flags override it, TOML saves and loads it, and
:meth:`LabConfig.validate` returns field-level errors (``{"train.epochs": "must be at least 1"}``)
that the form shows beside each field and the CLI prints as one line. The settings themselves
(types, defaults, limits, flags, labels) are declared in :mod:`tui_lab.core.settings`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_lab.core.errors import ConfigError
from tui_lab.core.settings import (
    RUN_SECTION,
    SECTIONS,
    DataConfig,
    ExplainConfig,
    ModelConfig,
    TrainConfig,
    field_names,
    field_spec,
    field_type,
    iter_fields,
    split_path,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@dataclass
class LabConfig:
    """The whole configuration of a run: ``data``, ``model``, ``train`` and ``explain`` sections."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)

    # -- access by dotted path ---------------------------------------------------------------
    def get(self, path: str) -> Any:
        """The value at ``"section.key"``."""
        section, key = split_path(path)
        return getattr(getattr(self, section), key)

    def set(self, path: str, value: Any) -> None:
        """Set ``"section.key"`` from a typed value or a string typed into a form or a flag.

        Raises:
            ConfigError: unknown key, or a value that cannot be read as the field's type.
        """
        section, key = split_path(path)
        setattr(getattr(self, section), key, coerce(path, value))

    def copy(self) -> LabConfig:
        """A deep copy."""
        return LabConfig.from_dict(self.to_dict())

    # -- validation ----------------------------------------------------------------------------
    def validate(self) -> dict[str, str]:
        """Field-level errors, ``{"train.epochs": "must be at least 1"}``; empty when valid."""
        errors: dict[str, str] = {}
        for path, _ in iter_fields():
            problem = check_value(path, self.get(path))
            if problem:
                errors[path] = problem
        if not self.data.train.strip():
            errors["data.train"] = "is required: a file, a folder or a dataset id"
        if not self.model.name.strip():
            errors["model.name"] = "is required: tiny-bert, small-bert, a HF model id or a folder"
        if self.train.run_name:
            problem = run_name_problem(self.train.run_name)
            if problem:
                errors["train.run_name"] = problem
        return errors

    def raise_if_invalid(self) -> None:
        """Raise one :class:`ConfigError` that lists every invalid field on one line."""
        errors = self.validate()
        if errors:
            raise ConfigError(format_errors(errors), errors)

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict; unset (``None``) values are left out, as TOML has no null."""
        out: dict[str, dict[str, Any]] = {}
        for name in SECTIONS:
            values = dataclasses.asdict(getattr(self, name))
            out[name] = {k: v for k, v in values.items() if v is not None}
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> LabConfig:
        """Build from a nested dict, naming the first unknown key or wrongly typed value.

        Raises:
            ConfigError: an unknown section or key, or a value of the wrong type.
        """
        config = cls()
        for section, values in raw.items():
            if section == RUN_SECTION:
                continue  # facts a run recorded (world size, versions), not settings
            if section not in SECTIONS:
                known = ", ".join(SECTIONS)
                raise ConfigError(f"{source}: unknown section [{section}] (known: {known}).")
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: '{section}' must be a table like [{section}].")
            for key, value in values.items():
                path = f"{section}.{key}"
                if key not in field_names(section):
                    raise ConfigError(f"{source}: unknown key '{path}'{_suggest(section, key)}.")
                try:
                    config.set(path, _strict(path, value))
                except ConfigError as exc:
                    raise ConfigError(f"{source}: {exc}", exc.errors) from None
        return config

    def to_toml(self, run: dict[str, Any] | None = None) -> str:
        """The TOML text of this config (the file ``tui-lab train --config`` reads).

        Args:
            run: facts about the run that used it (world size, versions), written as a ``[run]``
                table that loading skips.
        """
        import tomli_w

        header = "# tui-lab configuration: tui-lab train --config THIS_FILE\n"
        data: dict[str, Any] = self.to_dict()
        if run:
            data[RUN_SECTION] = run
        return header + tomli_w.dumps(data)

    def save(self, path: str | Path, run: dict[str, Any] | None = None) -> Path:
        """Write the TOML file, atomically (a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.to_toml(run), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LabConfig:
        """Read a TOML config file.

        Raises:
            ConfigError: missing or unreadable file, bad TOML, unknown key or wrong type.
        """
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist.")
        if path.is_dir():
            raise ConfigError(f"config file {path} is a directory; give a .toml file.")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not UTF-8 text.") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}.") from None
        return cls.from_dict(raw, source=str(path))


def coerce(path: str, value: Any) -> Any:
    """Turn a typed value or a string into the field's type.

    Raises:
        ConfigError: the value cannot be read as that type.
    """
    kind = field_type(path)
    optional = field_spec(path).default is None
    if isinstance(value, str):
        text = value.strip()
        if optional and text.lower() in ("", "auto", "none"):
            return None
        if kind is bool:
            lowered = text.lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise ConfigError(
                f"{path} must be true or false, got '{value}'.", {path: "must be true or false"}
            )
        if kind is int:
            try:
                return int(text)
            except ValueError:
                raise ConfigError(
                    f"{path} must be a whole number, got '{value}'.", {path: "must be a whole number"}
                ) from None
        if kind is float:
            try:
                return float(text)
            except ValueError:
                raise ConfigError(
                    f"{path} must be a number, got '{value}'.", {path: "must be a number"}
                ) from None
        return value
    if value is None and optional:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        name = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}[kind]
        raise ConfigError(f"{path} must be {name}, got {value!r}.", {path: f"must be {name}"})
    return value


def check_value(path: str, value: Any) -> str | None:
    """The reason a (typed) value is out of its field's limits, or ``None`` when it is fine."""
    meta = field_spec(path).metadata
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if "choices" in meta and value not in meta["choices"]:
        return f"must be one of {', '.join(meta['choices'])}"
    if "min" in meta and value < meta["min"]:
        return f"must be at least {meta['min']}"
    if "max" in meta and value > meta["max"]:
        return f"must be at most {meta['max']}"
    if "gt" in meta and value <= meta["gt"]:
        return f"must be greater than {meta['gt']}"
    if "lt" in meta and value >= meta["lt"]:
        return f"must be less than {meta['lt']}"
    if "pattern" in meta and not re.fullmatch(meta["pattern"], str(value)):
        return f"must be {meta.get('pattern_help', 'like ' + meta['pattern'])}"
    return None


def run_name_problem(name: str) -> str | None:
    """Why a run name cannot be a folder name inside the output directory, or ``None``."""
    if name in (".", "..") or "/" in name or "\\" in name or ".." in name:
        return "must be a plain folder name (no '/', '\\' or '..')"
    if name.startswith(".") or any(ord(c) < 32 for c in name):
        return "must not start with '.' or contain control characters"
    return None


def format_errors(errors: dict[str, str]) -> str:
    """``"invalid configuration: train.epochs must be at least 1; ..."`` on one line."""
    parts = "; ".join(f"{path} {reason}" for path, reason in errors.items())
    return f"invalid configuration: {parts}."


def _strict(path: str, value: Any) -> Any:
    """TOML values are typed: refuse strings where a number or a flag is expected."""
    if isinstance(value, str) and field_type(path) is not str:
        if not (field_spec(path).default is None and value.lower() == "auto"):
            kind = {int: "a whole number", float: "a number", bool: "true or false"}[field_type(path)]
            raise ConfigError(f"{path} must be {kind}, got {value!r}.", {path: f"must be {kind}"})
    return value


def _suggest(section: str, key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, field_names(section), n=1)
    return f" (did you mean '{section}.{close[0]}'?)" if close else ""
