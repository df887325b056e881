"""The training clock: wall seconds and samples spent training, evaluation and pauses left out."""

from __future__ import annotations

import time
from collections import deque


class TrainClock:
    """Wall seconds and samples spent training: evaluation, checkpoints and pauses are left out.

    Time is counted in segments (``start`` .. ``stop``) that include everything in between
    (logging, device readings), so samples/s is what a user waits for. On CUDA a segment ends
    with a synchronize, so queued GPU work is not mistaken for speed.
    """

    def __init__(self, device: str = "cpu", total: float = 0.0, samples: int = 0, window: int = 20) -> None:
        self.cuda = device.startswith("cuda")
        self.total, self.samples = total, samples
        self._start: float | None = None
        self._lap_time = 0.0
        self._lap_samples = 0
        self._window: deque[tuple[float, int]] = deque(maxlen=window)

    def start(self) -> None:
        """Begin a training segment."""
        self._start = self._lap_time = time.perf_counter()
        self._lap_samples = 0

    def stop(self) -> None:
        """End the segment (before evaluation, a checkpoint, a pause or the end)."""
        if self._start is None:
            return
        self._sync()
        self.total += time.perf_counter() - self._start
        self._start = None

    def count(self, samples: int) -> None:
        """Samples trained on (all ranks)."""
        self.samples += samples
        self._lap_samples += samples

    def lap(self) -> float:
        """Samples/s over the last laps (call it where the host has waited for the device)."""
        now = time.perf_counter()
        if self._start is not None:
            self._window.append((now - self._lap_time, self._lap_samples))
            self._lap_time, self._lap_samples = now, 0
        seconds = sum(t for t, _ in self._window)
        return sum(n for _, n in self._window) / seconds if seconds > 0 else 0.0

    def elapsed(self) -> float:
        """Training seconds so far, the open segment included."""
        return self.total + (time.perf_counter() - self._start if self._start is not None else 0.0)

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()


def format_seconds(seconds: float | None) -> str:
    """``1:02:03`` / ``2:03`` / ``-``."""
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
