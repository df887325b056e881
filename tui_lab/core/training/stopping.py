"""A stop request that says why: the ``threading.Event`` the trainer checks, plus a status and reason.

The trainer takes any ``threading.Event`` as its stop; a plain one ends the run as ``stopped``
(resumable, "stopped by the user"). Whoever stops a run for another reason (a sweep's pruner)
passes a :class:`StopRequest` and calls :meth:`StopRequest.request` with the status the run ends
with, and ``RunFinished`` and ``report.json`` say it.
"""

from __future__ import annotations

import threading

from tui_lab.core.training.events import RunStatus

USER_STOP = (RunStatus.STOPPED.value, "stopped by the user")


class StopRequest(threading.Event):
    """A stop event that carries the status (``stopped``, ``pruned``) and the reason of the stop."""

    def __init__(self) -> None:
        super().__init__()
        self.status, self.reason = USER_STOP

    def request(self, status: str = RunStatus.STOPPED.value, reason: str = "stopped by the user") -> None:
        """Ask the run to stop at its next step, ending with ``status`` for ``reason``."""
        self.status, self.reason = status, reason
        self.set()


def stop_outcome(stop: threading.Event) -> tuple[str, str]:
    """(status, reason) a run stopped by ``stop`` ends with: its own when it says, else the user's."""
    return getattr(stop, "status", USER_STOP[0]), getattr(stop, "reason", USER_STOP[1])
