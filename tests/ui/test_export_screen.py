"""The Export screen (F8): a run's trade-off table, and a server started and stopped from it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from textual.widgets import DataTable, Static

from tests.ui.conftest import wait_for
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.export_screen import _SERVERS, ExportScreen

SCREENSHOTS = Path(os.environ["TUI_LAB_SCREENSHOTS"]) if os.environ.get("TUI_LAB_SCREENSHOTS") else None


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


def _exported_folder(root: Path) -> Path:
    """A run folder with only an export report (what the screen reads), no weights."""
    run = root / "runs" / "tiny-bert-1"
    (run / "export").mkdir(parents=True)
    (run / "events.jsonl").write_text("", encoding="utf-8")
    variants = [
        ("pytorch", 17.2, 812.0, 2.1),
        ("onnx", 17.0, 1630.0, 1.2),
        ("onnx-int8", 4.4, 1420.0, 0.9),
    ]
    report = {
        "out": str(run / "export"),
        "threads": 2,
        "n": 60,
        "onnx_max_abs_logit_diff": 1e-6,
        "variants": [
            {
                "name": name,
                "size_mb": size,
                "accuracy": 0.9,
                "accuracy_delta": 0.0,
                "f1_macro": 0.9,
                "f1_macro_delta": 0.0,
                "latency_ms_p50": p50,
                "latency_ms_p95": p50 * 1.5,
                "throughput_sps": sps,
            }
            for name, size, sps, p50 in variants
        ],
    }
    (run / "export" / "export_report.json").write_text(json.dumps(report), encoding="utf-8")
    return run


async def test_export_screen_draws_the_trade_off_as_bars_beside_the_table(tmp_path: Path, lab_config) -> None:
    run = _exported_folder(tmp_path)
    lab_config.train.output_dir = str(run.parent)
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        await pilot.pause(0.3)
        table = app.screen.query_one("#export-table", DataTable)
        bars = app.screen.query_one("#export-bars", Static)
        assert table.row_count == 3
        assert bars.region.x >= table.region.right and bars.region.y <= table.region.y + 1  # beside it
        lines = str(bars.render()).splitlines()
        assert any(line.startswith("throughput") for line in lines)
        assert any(line.startswith("size") for line in lines)

        def bar(section: str, name: str) -> str:
            start = next(i for i, line in enumerate(lines) if line.startswith(section))
            row = next(line for line in lines[start:] if line.split()[:1] == [name])
            return row.split()[1]

        assert (
            len(bar("throughput", "onnx"))
            > len(bar("throughput", "onnx-int8"))
            > len(bar("throughput", "pytorch"))
        )
        assert len(bar("size", "onnx-int8")) < len(bar("size", "onnx")) <= len(bar("size", "pytorch"))
        assert all(len(line) <= bars.content_size.width for line in lines)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_every_bar_is_drawn_whole_in_the_space_the_screen_has(tmp_path: Path, lab_config, size) -> None:
    """At 80x24 the two sections one above the other were taller than their space and the size
    bars were cut; there they go side by side."""
    run = _exported_folder(tmp_path)
    lab_config.train.output_dir = str(run.parent)
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=size) as pilot:
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        await pilot.pause(0.3)
        bars = app.screen.query_one("#export-bars", Static)
        lines = str(bars.render()).splitlines()
        assert len(lines) <= bars.content_size.height, lines
        assert bars.region.bottom <= app.screen.query_one("#export-results").region.bottom
        assert all(len(line) <= bars.content_size.width for line in lines)
        for name in ("pytorch", "onnx", "onnx-int8"):  # a throughput bar and a size bar each
            assert sum(line.split().count(name) for line in lines) == 2, (name, lines)
        for title in ("throughput (samples/s)", "size (MB)"):
            assert any(title in line for line in lines), lines


def _student_folder(root: Path) -> Path:
    """A distilled run with only the export report of it beside its teacher (what the screen reads)."""
    run = _exported_folder(root)
    report = json.loads((run / "export" / "export_report.json").read_text(encoding="utf-8"))
    rows = []
    for model, scale, acc in (("teacher", 1.0, 0.9), ("student", 6.0, 0.88)):
        for v in report["variants"]:
            size = v["size_mb"] * 5 / scale
            rows.append(v | {"model": model, "size_mb": size, "throughput_sps": v["throughput_sps"] * scale})
            rows[-1] |= {"accuracy": acc, "accuracy_delta": acc - 0.9}
    report |= {"variants": rows, "teacher": {"path": str(root / "runs" / "minilm"), "reused": True}}
    (run / "export" / "export_report.json").write_text(json.dumps(report), encoding="utf-8")
    return run


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_a_student_is_shown_beside_its_teacher(tmp_path: Path, lab_config, size, monkeypatch) -> None:
    run = _student_folder(tmp_path)
    lab_config.train.output_dir = str(run.parent)
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=size) as pilot:
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        await pilot.pause(0.3)
        if SCREENSHOTS:
            app.save_screenshot(str(SCREENSHOTS / f"export-student-{size[0]}x{size[1]}.svg"))
        table = app.screen.query_one("#export-table", DataTable)
        names = [table.get_row_at(i)[0] for i in range(table.row_count)]
        assert names == [f"{m} {n}" for m in ("teacher", "student") for n in ("pytorch", "onnx", "onnx-int8")]
        assert table.get_row_at(3)[2] == "0.8800 (-0.0200)"  # Δ against the teacher
        bars = app.screen.query_one("#export-bars", Static)
        lines = str(bars.render()).splitlines()
        assert all(len(line) <= bars.content_size.width for line in lines)
        for name in names:  # every variant has a throughput bar and a size bar
            assert sum(line.startswith(name + " ") for line in lines) == 2, name
        results = app.screen.query_one("#export-results")
        results.scroll_end(animate=False)  # where the screen is short, the results scroll
        await pilot.pause(0.1)
        assert bars.size.height >= len(lines) and bars.region.bottom <= results.region.bottom
        assert "beside its teacher" in str(app.screen.query_one("#export-status", Static).render())

        calls = []  # e: the core decides whether a teacher is measured too
        monkeypatch.setattr(
            "tui_lab.core.deploy.compare.export_run", lambda path, **kw: calls.append((path, kw["fmt"]))
        )
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen.exporting is None)
        assert calls == [(str(run), "all")]
        await pilot.press("o")  # o: OpenVINO int8 beside ONNX, where OpenVINO is installed
        await wait_for(pilot, lambda: app.screen.exporting is None)
        from tui_lab.core.deploy import openvino

        if openvino.available():
            assert calls[-1] == (str(run), "all,openvino-int8")
        monkeypatch.setattr(openvino, "available", lambda: False)
        before = len(calls)
        await pilot.press("o")
        await pilot.pause(0.2)
        assert len(calls) == before  # nothing started: it says how to install OpenVINO instead
        notes = [n for n in app._notifications if "pip install" in n.message]
        assert notes and "pip install 'tui-lab[openvino]'" in notes[-1].message
        assert notes[-1].markup is False  # drawn as written: as markup, '[openvino]' would vanish
