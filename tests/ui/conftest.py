"""Fixtures for driving the lab with Textual's Pilot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_rows, write_csv


@pytest.fixture
def lab_config(tmp_path: Path):
    """A fast lab config: tiny data, tiny-bert, 2 epochs, runs under tmp."""
    from tui_lab.core.config import LabConfig

    data = tmp_path / "data"
    write_csv(data / "train.csv", make_rows(240, 1))
    write_csv(data / "dev.csv", make_rows(60, 2))
    cfg = LabConfig()
    cfg.data.train = str(data)
    cfg.data.max_length = 32
    cfg.model.vocab_size = 300
    cfg.train.epochs = 2
    cfg.train.batch_size = 16
    cfg.train.output_dir = str(tmp_path / "runs")
    return cfg


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
