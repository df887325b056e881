"""Fixtures for driving the lab with Textual's Pilot."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch):
    """A steady cursor, so a screenshot never catches it half-way through a blink."""
    from textual.widgets import Input

    monkeypatch.setattr(Input, "cursor_blink", False)


@pytest.fixture
def lab_config(tiny_config):
    """The tests' fast config (tiny data, tiny-bert, 2 epochs) with an automatic run name."""
    tiny_config.train.run_name = ""
    return tiny_config


async def settle(pilot, seconds: float = 0.2) -> None:
    """Wait for every worker, then let messages drain."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(seconds)


async def wait_for(pilot, predicate, timeout: float = 120.0) -> None:
    """Pump the app until ``predicate()`` holds (or fail after ``timeout`` seconds)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.1)


def record_notifications(app) -> list[str]:
    """Every message the app notifies from now on (kept after the toast expires)."""
    seen: list[str] = []
    notify = app.notify

    def recording(message, *args, **kwargs):
        seen.append(str(message))
        return notify(message, *args, **kwargs)

    app.notify = recording
    return seen
