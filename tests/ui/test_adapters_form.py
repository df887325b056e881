"""The form's adapters group: the LoRA fields show only when model.peft is lora or qlora."""

from __future__ import annotations

from textual.widgets import Select

from tests.ui.conftest import settle
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.hparam_form import widget_id

LORA_FIELDS = ("model.lora_r", "model.lora_alpha", "model.lora_dropout", "model.lora_targets")


def _shown(app: LabApp, path: str) -> bool:
    form, node = app.query_one("#hparams"), app.query_one("#" + widget_id(path) + "-row")
    while node is not form and node.display:
        node = node.parent
    return node is form


async def test_lora_fields_show_only_with_adapters(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert _shown(app, "model.peft") and not any(_shown(app, p) for p in LORA_FIELDS)
        peft = app.query_one("#" + widget_id("model.peft"), Select)
        peft.value = "lora"
        await pilot.pause()
        assert app.config.model.peft == "lora" and all(_shown(app, p) for p in LORA_FIELDS)
        peft.value = "none"
        await pilot.pause()
        assert not any(_shown(app, p) for p in LORA_FIELDS)
