"""The Runs screen compares up to eight marked runs: a curve a run (x in epochs) and a table of the
settings that differ. Run folders are written with the project's event classes (no training)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from tests.ui.conftest import settle, wait_for
from tests.ui.fake_runs import fake_run
from tui_lab.core.config import LabConfig
from tui_lab.core.training.runs import config_diff
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.runs_screen import MAX_COMPARED, CompareScreen, OverlayChart, RunsScreen


def test_config_diff_lists_the_keys_that_differ_across_many_configs() -> None:
    a = {"train": {"lr": 1, "seed": 1}, "model": {"name": "x"}}
    b = {"train": {"lr": 1, "seed": 2}, "model": {"name": "x"}}
    c = {"train": {"lr": 3, "seed": 1}, "model": {"name": "x"}, "data": {"max_length": 9}}
    assert config_diff(a, b) == [("train.seed", 1, 2)]  # two configs: as before
    assert config_diff(a, b, c) == [
        ("data.max_length", None, None, 9),
        ("train.lr", 1, 1, 3),
        ("train.seed", 1, 2, 1),
    ]
    assert config_diff(a, a, a) == []


def _runs(output: Path, n: int) -> list[Path]:
    """``n`` finished runs of 2 to 4 epochs, each with its own learning rate and seed."""
    runs = []
    for i in range(n):
        config = LabConfig()
        config.train.output_dir, config.train.run_name = str(output), f"run-{i}"
        config.train.learning_rate, config.train.seed = 1e-4 * (i + 1), 42 + (i % 2)
        dev = [0.5 + 0.1 * e + 0.01 * i for e in range(2 + i % 3)]
        runs.append(fake_run(output / f"run-{i}", config, dev))
    return runs


async def test_three_marked_runs_show_three_curves_and_the_settings_that_differ(tmp_path: Path) -> None:
    runs = _runs(tmp_path / "runs", 3)
    config = LabConfig()
    config.train.output_dir = str(tmp_path / "runs")
    app = LabApp(config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f6")
        assert isinstance(app.screen, RunsScreen) and app.screen.query_one(DataTable).row_count == 3
        await pilot.press("space", "down", "space", "down", "space", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), 10)
        compare = app.screen
        charts = list(compare.query(OverlayChart))
        assert [c.curves for c in charts] == [3, 3]  # loss and the metric, a curve a run
        assert compare.metric == "f1_macro"
        diff = {key: values for key, *values in compare.diff}
        assert set(diff) == {"train.learning_rate", "train.run_name", "train.seed"}
        assert sorted(diff["train.learning_rate"]) == pytest.approx([1e-4, 2e-4, 3e-4])
        table = compare.query_one("#compare-diff", DataTable)
        assert len(table.columns) == 1 + 3 and table.row_count == 3
        legend = str(compare.query_one("#compare-legend").render())
        assert all(r.name in legend for r in runs)
        assert charts[1].x_max == max(2 + i % 3 for i in range(3))  # x in epochs, not in steps
        assert charts[0].x_max == charts[1].x_max  # the loss too


async def test_marks_keep_the_last_eight_runs(tmp_path: Path) -> None:
    _runs(tmp_path / "runs", MAX_COMPARED + 1)
    config = LabConfig()
    config.train.output_dir = str(tmp_path / "runs")
    app = LabApp(config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f6")
        await pilot.press("c")  # nothing marked: a warning, no comparison
        assert isinstance(app.screen, RunsScreen)
        await pilot.press(*["space", "down"] * (MAX_COMPARED + 1))
        assert len(app.screen.marked) == MAX_COMPARED
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), 10)
        assert [c.curves for c in app.screen.query(OverlayChart)] == [MAX_COMPARED] * 2
