"""Errors a user can cause: one sentence that says what was wrong and what to do.

The faces show these without a traceback (the CLI prints ``error: ...`` and exits 2, the lab
shows a notification or an inline field error). Anything else is a bug.
"""

from __future__ import annotations

from typing import Any


def setting_ref(path: str, value: Any = None) -> str:
    """A marker that names a setting in a message; each face renders it its own way.

    ``f"... or {setting_ref('train.precision', 'fp32')}"`` reads ``--precision fp32`` in the CLI
    and ``"precision" = fp32`` in the lab (see :func:`tui_lab.core.config.render_settings`).

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
    setting paths (``data.drop_empty = true``); a face calls :meth:`render` instead, and anything
    that passes the message on (an event) keeps :attr:`message`, markers and all.
    """

    @property
    def message(self) -> str:
        """The message as raised, setting markers included."""
        return str(self.args[0]) if self.args else ""

    def render(self, style: str) -> str:
        """The message for one face: ``"flag"`` (CLI), ``"label"`` (lab) or ``"path"``."""
        from tui_lab.core.config import render_settings

        return render_settings(self.message, style)

    def __str__(self) -> str:
        return self.render("path")


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
