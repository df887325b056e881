"""The Export screen (F8): a run's trade-off table, and a server started and stopped from it."""

from __future__ import annotations

import httpx
from textual.widgets import DataTable, Static

from tests.ui.conftest import wait_for
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.export_screen import _SERVERS, ExportScreen


async def test_export_screen_shows_the_table_and_serves_the_export(exported_run, lab_config) -> None:
    run, report = exported_run
    lab_config.train.output_dir = str(run.parent)
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        screen = app.screen
        runs = screen.query_one("#export-runs", DataTable)
        assert runs.row_count == 1 and runs.get_row_at(0)[-1] == "yes"
        table = screen.query_one("#export-table", DataTable)
        assert [table.get_row_at(i)[0] for i in range(table.row_count)] == ["pytorch", "onnx", "onnx-int8"]
        assert report["out"] in str(screen.query_one("#export-status", Static).render())

        await pilot.press("s")
        proc, url = _SERVERS[str(run)]
        server_line = lambda: str(screen.query_one("#export-server", Static).render())  # noqa: E731
        await wait_for(pilot, lambda: "0 request(s) answered" in server_line(), timeout=120)
        assert url in server_line()
        httpx.post(f"{url}/predict", json={"inputs": "the film was great"}).raise_for_status()
        await wait_for(pilot, lambda: "1 request(s) answered" in server_line(), timeout=30)

        await pilot.press("s")
        assert proc.wait(timeout=30) == 0 and str(run) not in _SERVERS
        await pilot.press("f8")  # the key that opened the screen closes it
        assert not isinstance(app.screen, ExportScreen)
