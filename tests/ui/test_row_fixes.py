"""Fixing the data from the Analysis screen: a digit relabels, l picks a label, k keeps, d drops,
u undoes, on a label issue and on a cell's examples; each decision lands in the corrections file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.conftest import make_rows, write_csv
from tests.ui.conftest import wait_for
from tui_lab.core.analysis.analyze import Analysis
from tui_lab.core.analysis.label_issues import LabelIssue
from tui_lab.core.config import LabConfig
from tui_lab.core.data import corrections
from tui_lab.core.tasks.reports import classify_report
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.analysis_screen import AnalysisScreen
from tui_lab.ui.widgets.analysis_views import IssuesTable
from tui_lab.ui.widgets.examples_screen import ExamplesScreen
from tui_lab.ui.widgets.row_fixes import LabelPicker


def _run(tmp_path: Path) -> tuple[Path, Path, Analysis]:
    """A run folder whose config names a small train file, and an analysis of it with 5 issues."""
    rows = make_rows(40, 1)
    data = write_csv(tmp_path / "data" / "train.csv", rows)
    write_csv(tmp_path / "data" / "dev.csv", make_rows(20, 2))
    cfg = LabConfig()
    cfg.data.train, cfg.data.dev = str(data), str(tmp_path / "data" / "dev.csv")
    run_dir = tmp_path / "runs" / "r"
    cfg.train.output_dir = str(tmp_path / "runs")
    cfg.save(run_dir / "config.toml")
    labels = ["neg", "pos"]
    dev = make_rows(20, 2)
    targets = np.array([labels.index(lab) for _, lab in dev])
    probs = np.eye(2)[1 - targets] * 0.7 + 0.15  # every dev row wrong: cells off the diagonal
    report = classify_report([t for t, _ in dev], list(range(20)), targets, probs, labels)
    issues = [
        LabelIssue(i, rows[i][0], rows[i][1], "neg" if rows[i][1] == "pos" else "pos", 0.1) for i in range(5)
    ]
    analysis = Analysis(
        str(run_dir), str(run_dir / "best"), "dev", "classify", labels, report, label_issues=issues
    )
    return run_dir, data, analysis


def _standing(data: Path) -> dict[int, dict]:
    found = corrections.read(corrections.default_path(data)).standing()
    return {row: record for (_, row), record in found.items()}


async def _open(pilot, app, run_dir: Path, analysis: Analysis) -> AnalysisScreen:
    await app.push_screen(AnalysisScreen(str(run_dir), analysis))
    await wait_for(pilot, lambda: isinstance(app.screen, AnalysisScreen))
    screen = app.screen
    screen.query_one(IssuesTable).focus()
    await pilot.pause(0.1)
    return screen


async def test_keys_on_a_label_issue_write_the_corrections_file(tmp_path, lab_config) -> None:
    run_dir, data, analysis = _run(tmp_path)
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, app, run_dir, analysis)
        footer = {b.binding.action for b in screen.active_bindings.values() if b.binding.show}
        assert {"fix_label(1)", "fix('keep')", "fix('drop')", "fix('undo')"} <= footer
        table = screen.query_one(IssuesTable)
        issue0 = analysis.label_issues[0]
        await pilot.press("1")  # label 1 = neg
        assert _standing(data)[0]["action"] == "relabel" and _standing(data)[0]["label"] == "neg"
        assert _standing(data)[0]["text"] == issue0.text and _standing(data)[0]["was"] == issue0.label
        assert str(table.get_row_at(0)[1]) == "→ neg"
        await pilot.press("down", "k")
        assert _standing(data)[1]["action"] == "keep"
        await pilot.press("down", "d")
        assert _standing(data)[2]["action"] == "drop"
        assert str(table.get_row_at(2)[1]) == "drop"
        await pilot.press("u")  # the drop taken back
        assert 2 not in _standing(data) and str(table.get_row_at(2)[1]) == ""
        await pilot.press("down", "l")
        await wait_for(pilot, lambda: isinstance(app.screen, LabelPicker))
        await pilot.press("down", "enter")  # the second label: pos
        await wait_for(pilot, lambda: isinstance(app.screen, AnalysisScreen))
        assert _standing(data)[3]["label"] == "pos"
        await pilot.press("7")  # no label 7: said, nothing written
        lines = corrections.default_path(data).read_text().splitlines()
        assert len(lines) == 5 and _standing(data)[3]["label"] == "pos"
    # what a run does with them: row 0 relabelled, row 2 back, row 3 relabelled, row 1 kept
    from tui_lab.core.data.splits import load_data

    bundle = load_data(LabConfig.load(run_dir / "config.toml").data)
    assert bundle.corrections["relabelled"] == 2 and bundle.corrections["kept"] == 1


async def test_keys_on_a_cells_examples_write_the_dev_files_corrections(tmp_path, lab_config) -> None:
    run_dir, data, analysis = _run(tmp_path)
    dev = data.with_name("dev.csv")
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, app, run_dir, analysis)
        cell = next(k for k, v in analysis.report.cells.items() if v)
        screen.open_cell(*cell)
        await wait_for(pilot, lambda: isinstance(app.screen, ExamplesScreen))
        await pilot.pause(0.2)
        examples = app.screen
        first = examples.selected()
        await pilot.press("2")
        assert _standing(dev)[first.row]["label"] == "pos"
        await pilot.press("d")  # a later decision on the same row wins
        assert _standing(dev)[first.row]["action"] == "drop"
        await pilot.press("u")
        assert _standing(dev)[first.row]["action"] == "relabel"
        await pilot.press("k")
        assert _standing(dev)[first.row]["action"] == "keep"
        assert "k keep" in str(examples.query_one("#examples-hint").render())
