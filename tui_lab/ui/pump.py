"""The sink a training worker hands to the core: events leave the thread only by ``post_message``.

Rare events (run started, evaluated, checkpoint, finished...) are posted at once; frequent ones
(step losses, device samples) are gathered and posted together at most ``interval`` seconds
apart, so a fast run sends the UI ten small messages a second instead of thousands.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tui_lab.core.training.events import DeviceSampled, Event, StepLogged

FREQUENT = (StepLogged, DeviceSampled)


class EventPump:
    """Batches core events into ``post(list_of_events)`` calls from the producing thread."""

    def __init__(self, post: Callable[[list[Event]], object], interval: float = 0.1) -> None:
        self._post = post
        self.interval = interval
        self._pending: list[Event] = []
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._pending.append(event)
            now = time.monotonic()
            if not isinstance(event, FREQUENT) or now - self._last >= self.interval:
                self._flush(now)

    def flush(self) -> None:
        """Post whatever is pending (at the end of a run)."""
        with self._lock:
            self._flush(time.monotonic())

    def _flush(self, now: float) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self._last = now
            self._post(batch)
