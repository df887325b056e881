"""Errors a user can cause: one sentence that says what was wrong and what to do.

The faces show these without a traceback (the CLI prints ``error: ...`` and exits 2, the lab
shows a notification or an inline field error). Anything else is a bug.
"""

from __future__ import annotations

import re
from typing import Any

SETTING_MARKER = re.compile(r"\{setting:([a-z_]+\.[a-z_]+)(?:=([^}]*))?\}")
"""A :func:`setting_ref` marker in a message: group 1 the setting's path, group 2 the value (or None)."""


def setting_ref(path: str, value: Any = None) -> str:
    """A marker that names a setting in a message; each face renders it its own way.

    ``f"... or {setting_ref('train.precision', 'fp32')}"`` reads ``--precision fp32`` in the CLI
    and ``"precision" = fp32`` in the lab (see :func:`tui_lab.core.settings.render_settings`).

    Args:
        path: the setting, ``"section.key"``.
        value: the value to suggest, if any (``True``/``False`` for a boolean setting).
    """
    if value is None:
        return "{setting:" + path + "}"
    shown = str(value).lower() if isinstance(value, bool) else str(value)
    return "{setting:" + path + "=" + shown + "}"


class LabError(Exception):
    """A problem the user can fix (bad path, bad column, invalid hyperparameter...).

    The message may name settings with :func:`setting_ref` markers. ``str(exc)`` renders them as
    setting paths (``data.drop_empty = true``); a face renders :attr:`message` with
    :func:`tui_lab.core.settings.render_settings` instead, and anything
    that passes the message on (an event) keeps :attr:`message`, markers and all.
    """

    @property
    def message(self) -> str:
        """The message as raised, setting markers included."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        """The message with each setting named by its path (``data.drop_empty = true``).

        A face names settings its own way: ``render_settings(exc.message, "flag")`` in the CLI,
        ``"label"`` in the lab (:func:`tui_lab.core.settings.render_settings`).
        """
        return SETTING_MARKER.sub(_path_form, self.message)


def _path_form(match: re.Match[str]) -> str:
    path, value = match.group(1), match.group(2)
    return path if value is None else f"{path} = {value}"


class ConfigError(LabError):
    """An invalid configuration value or config file.

    Attributes:
        errors: field path (``"train.epochs"``) -> reason, when known.
    """

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = dict(errors or {})


class DataError(LabError):
    """A dataset that cannot be read or used as asked."""


class ModelError(LabError):
    """A model that cannot be built, loaded or used as asked."""


class CheckpointError(LabError):
    """A checkpoint that cannot be written or read."""


class TrainingAborted(LabError):
    """Training stopped for a reason the user must act on (NaN loss, out of memory)."""
