"""The help screen shows the machine's facts (those of ``tui-lab env``), gathered off the UI thread."""

from __future__ import annotations

from textual.widgets import Static

from tui_lab.core.config import LabConfig
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.dialogs import HelpScreen


async def test_help_screen_shows_versions_and_devices() -> None:
    app = LabApp(LabConfig(), warm_imports=False)
    async with app.run_test(size=(120, 44)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = str(app.screen.query_one("#help-env", Static).render())
        assert "torch 2." in text and "transformers" in text
        assert "no CUDA GPU: training runs on the CPU in fp32" in text
        assert "model(s) cached" in text
