"""ctrl+u queues the form's config (the run queue's own behaviour: tests/unit/test_queue.py)."""

from __future__ import annotations

from pathlib import Path

from tests.ui.conftest import settle, wait_for
from tui_lab.core.config import LabConfig
from tui_lab.core.sweeps import queue as runqueue
from tui_lab.ui.app import LabApp


async def test_ctrl_u_queues_the_form_config_and_says_where_it_shows(tmp_path: Path, monkeypatch) -> None:
    config = LabConfig()
    config.train.output_dir = str(tmp_path / "runs")
    added: list[LabConfig] = []

    def add(cfg: LabConfig, *_, **__) -> runqueue.Queued:
        added.append(cfg)
        return runqueue.Queued(0, runqueue.queue_dir(cfg.train.output_dir) / "q1", 1, True)

    monkeypatch.setattr(runqueue, "add", add)
    app = LabApp(config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.config.train.epochs = 7
        await pilot.press("ctrl+u")
        await wait_for(pilot, lambda: added and app._notifications, 10)
        assert added[0].train.epochs == 7 and added[0] is not app.config  # a copy of the form's config
        assert any("Queued q1" in n.message and "queue/q1" in n.message for n in app._notifications)
