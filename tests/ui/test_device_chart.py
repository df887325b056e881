"""Every local GPU in the device chart (a utilisation band and the fullest card) and the status box."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui_lab.core.training.events import DeviceSampled
from tui_lab.core.training.history import RunHistory
from tui_lab.ui.widgets.charts import DeviceChart, _gpu_band_title, gpu_status_line
from tui_lab.ui.widgets.training_pane import status_text


def _gpu(index: int, util: float | None, used: float, temp: float) -> dict:
    return {
        "index": index,
        "name": "H200",
        "util": util,
        "mem_used": used,
        "mem_total": 1000.0,
        "temp": temp,
        "power": 300.0,
    }


def _history(samples: int, gpus: int) -> RunHistory:
    h = RunHistory()
    for t in range(samples):
        per_gpu = [_gpu(i, 90.0 - 40 * i if i != 2 else None, 100.0 * (i + 1), 60.0 + i) for i in range(gpus)]
        h.apply(
            DeviceSampled(
                device="cuda:0",
                utilization=90.0,
                memory_used_mb=100.0,
                memory_total_mb=1000.0,
                gpus=per_gpu if gpus else [],
                time=float(t),
            )
        )
    return h


class ChartApp(App):
    def compose(self) -> ComposeResult:
        yield DeviceChart()


async def test_several_gpus_draw_a_band_and_one_gpu_its_own_lines() -> None:
    app = ChartApp()
    async with app.run_test(size=(80, 20)) as pilot:
        chart = app.query_one(DeviceChart)
        chart.show(_history(5, 3))
        await pilot.pause()
        assert chart.points == 3 * 5  # lowest util, highest util, fullest memory
        chart.show(_history(5, 0))
        await pilot.pause()
        assert chart.points == 2 * 5  # util and memory of the one device


def test_titles_and_the_status_line_name_every_gpu() -> None:
    h = _history(2, 3)
    last = h.device[-1]
    assert _gpu_band_title(last) == "3 GPUs 50-90% mem≤30% ≤62°C"
    assert gpu_status_line(last) == "GPUs 0:90% 1:50% 2:- · ≤62°C"
    assert "GPUs 0:90% 1:50% 2:-" in status_text(h).plain
    assert gpu_status_line(_history(2, 1).device[-1]) is None
    assert "GPUs" not in status_text(_history(2, 0)).plain
