"""Errors a user can cause: one sentence that says what was wrong and what to do.

The faces show these without a traceback (the CLI prints ``error: ...`` and exits 2, the lab
shows a notification or an inline field error). Anything else is a bug.
"""

from __future__ import annotations


class LabError(Exception):
    """A problem the user can fix (bad path, bad column, invalid hyperparameter...)."""


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
