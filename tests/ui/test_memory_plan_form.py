"""The form's memory-plan line: it follows the settings, and ctrl+t asks first when it will not fit."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from tests.ui.conftest import settle, wait_for
from tests.unit.test_memory_plan import llama_folder
from tui_lab.core.training import memory_plan
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.dialogs import ConfirmDialog
from tui_lab.ui.widgets.hparam_form import HparamForm, widget_id


async def test_plan_line_follows_the_form_and_ctrl_t_asks_before_a_run_that_will_not_fit(
    tmp_path: Path, lab_config, monkeypatch
) -> None:
    free = {"bytes": 10**12}
    monkeypatch.setattr(memory_plan, "device_memory", lambda where, processes: [("cpu", free["bytes"])])
    lab_config.model.name = str(llama_folder(tmp_path))
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        form = app.query_one(HparamForm)
        line = app.query_one("#hp-memory-plan", Static)
        await wait_for(pilot, lambda: "free on cpu" in str(line.render()), 120)
        assert form.plan_fits is True and str(line.render()).startswith("est. ")
        free["bytes"] = 1000  # the device fills up; a bigger batch re-plans
        app.query_one("#" + widget_id("train.batch_size"), Input).value = "64"
        await wait_for(pilot, lambda: form.plan_fits is False, 120)
        assert str(line.render()).startswith("will not fit")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await pilot.pause()
        assert not app.training and not isinstance(app.screen, ConfirmDialog)
