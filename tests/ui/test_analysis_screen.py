"""The Analysis screen (F9): walk the confusion grid, list a cell's examples, filter, explain one,
send one to the console."""

from __future__ import annotations

import numpy as np
from textual.widgets import DataTable, Input, Static

from tests.ui.conftest import wait_for
from tui_lab.core.analysis.analyze import Analysis
from tui_lab.core.tasks.reports import multilabel_report
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.analysis_screen import AnalysisScreen
from tui_lab.ui.widgets.analysis_views import ClassTable, ErrorGrid, IssuesTable
from tui_lab.ui.widgets.console import ConsolePane
from tui_lab.ui.widgets.examples_screen import ExamplesScreen


def _target_cell(counts: list[list[int]]) -> tuple[int, int]:
    """A mistake cell with examples if there is one, else the second class's diagonal."""
    wrong = [(i, j) for i, row in enumerate(counts) for j, n in enumerate(row) if i != j and n]
    return wrong[0] if wrong else (1, 1)


async def test_walk_a_cell_filter_and_send_an_example_to_the_console(finished_run, lab_config) -> None:
    lab_config.train.output_dir = str(finished_run.parent)
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(130, 42)) as pilot:
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, AnalysisScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.analysis is not None and not screen.busy)
        assert screen.query_one(ClassTable).row_count == 2
        # the pane keys are off here, so the footer has room for the screen's own keys
        footer = {b.binding.action for b in screen.active_bindings.values() if b.binding.show}
        assert {"sort", "calibrate", "export_issues", "analyse", "help"} <= footer
        assert not footer & {"show('dataset')", "show('console')", "runs", "pause"}
        await pilot.press("f5")
        assert app.screen is screen and app.active != "console"
        assert screen.query_one("#an-grid-box").border_title.startswith("Confusion: true")
        grid = screen.query_one(ErrorGrid)
        assert grid.has_focus and grid.cursor_coordinate == (0, 0)
        i, j = _target_cell(screen.analysis.report.counts)
        await pilot.press(*(["down"] * i + ["right"] * j))
        assert grid.cell_at_cursor() == (i, j)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExamplesScreen))
        examples = app.screen
        cell = screen.analysis.report.cells[(i, j)]
        assert len(examples.shown) == len(cell)
        assert examples.shown[0].row == cell[0].row  # the worst first, as the report ranks them

        word = cell[-1].text.split()[3]
        await pilot.press("slash", *word, "enter")
        assert examples.shown and all(word in e.text.lower() for e in examples.shown)
        table = examples.query_one("#examples-table", DataTable)
        assert table.row_count == len(examples.shown) <= len(cell)
        picked = examples.selected().text
        await pilot.press("e")  # explain the selected example: coloured words under the list
        shown = examples.query_one("#examples-explain", Static)
        await wait_for(pilot, lambda: str(shown.render()).strip() not in ("", "explaining…"))
        first_word = picked.split()[0]
        assert first_word in str(shown.render()) and "could not explain" not in str(shown.render())
        await pilot.press("c")
        await wait_for(pilot, lambda: not isinstance(app.screen, (ExamplesScreen, AnalysisScreen)))
        console = app.query_one(ConsolePane)
        assert console.query_one("#console-input", Input).value == picked
        assert console.model_dir == str(finished_run)


def _multilabel_analysis() -> Analysis:
    rng = np.random.default_rng(0)
    labels = ["billing", "bug", "refund"]
    targets = (rng.random((40, 3)) < 0.4).astype(np.float32)
    probs = np.clip(targets * 0.45 + rng.random((40, 3)) * 0.5, 0, 1)
    texts = [
        f"ticket {i} about {' and '.join(labels[c] for c in np.flatnonzero(t)) or 'nothing'}"
        for i, t in enumerate(targets)
    ]
    report = multilabel_report(texts, list(range(40)), targets, probs, labels, 0.5)
    return Analysis("runs/x", "runs/x/best", "dev", "multilabel", labels, report, reliability=[], ece=0.1)


async def test_multilabel_grid_lists_false_negatives_per_label(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    analysis = _multilabel_analysis()
    async with app.run_test(size=(130, 42)) as pilot:
        await app.push_screen(AnalysisScreen("runs/x", analysis))
        await wait_for(pilot, lambda: isinstance(app.screen, AnalysisScreen))
        grid = app.screen.query_one(ErrorGrid)
        assert [c.label.plain for c in grid.columns.values()] == [
            "false negative",
            "false positive",
            "true positive",
        ]
        assert grid.row_count == 3
        row = next(i for i, counts in enumerate(analysis.report.counts) if counts[0])
        await pilot.press(*["down"] * row, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExamplesScreen))
        shown = app.screen.shown
        assert shown == analysis.report.cells[(row, 0)]
        assert all(
            analysis.labels[row] in e.label.split("|") and analysis.labels[row] not in e.predicted.split("|")
            for e in shown
        )
        await pilot.press("escape")
        assert isinstance(app.screen, AnalysisScreen)


async def test_f9_on_a_ner_run_shows_entity_types_and_lists_missed_sentences(ner_run, lab_config) -> None:
    lab_config.train.output_dir = str(ner_run.parent)
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(130, 42)) as pilot:
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, AnalysisScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.analysis is not None and not screen.busy)
        report = screen.analysis.report
        assert screen.analysis.task == "ner" and report.labels == ["LOC", "MISC", "ORG", "PER"]
        assert screen.query_one(ClassTable).row_count == 4
        grid = screen.query_one(ErrorGrid)
        assert [c.label.plain for c in grid.columns.values()][-3:] == ["missed", "spurious", "correct"]
        assert screen.query_one("#an-grid-box").border_title.startswith("Errors per label")
        row = next(i for i, counts in enumerate(report.counts) if counts[0])
        await pilot.press(*["down"] * row, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExamplesScreen))
        shown = app.screen.shown
        assert shown == report.cells[(row, 0)]
        kind = report.labels[row]
        assert all(f"{kind}: " in e.label and e.text.count(" ") >= 1 for e in shown)
        await pilot.press("escape")
        assert isinstance(app.screen, AnalysisScreen)
        await pilot.press("f9")  # the key that opened the screen closes it
        assert not isinstance(app.screen, AnalysisScreen)


def _classify_analysis_with_issues() -> Analysis:
    from tui_lab.core.analysis.label_issues import LabelIssue
    from tui_lab.core.tasks.reports import classify_report

    rng = np.random.default_rng(1)
    labels = ["negative", "positive"]
    targets = np.arange(60) % 2
    probs = np.clip(np.eye(2)[targets] * 0.6 + rng.random((60, 2)) * 0.5, 0, None)
    probs /= probs.sum(axis=1, keepdims=True)
    texts = [f"review {i}: the room was quiet but the breakfast was cold and late" for i in range(60)]
    report = classify_report(texts, list(range(60)), targets, probs, labels)
    issues = [
        LabelIssue(
            i,
            f"row {i}: the staff were lovely and the view from the balcony was superb",
            "negative",
            "positive",
            0.01 * i,
        )
        for i in range(30)
    ]
    return Analysis("runs/x", "runs/x/best", "dev", "classify", labels, report, ece=0.1, label_issues=issues)


async def test_label_issue_texts_get_the_room_beside_a_small_confusion_grid(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    analysis = _classify_analysis_with_issues()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.push_screen(AnalysisScreen("runs/x", analysis))
        await wait_for(pilot, lambda: isinstance(app.screen, AnalysisScreen))
        await pilot.pause(0.3)
        table = app.screen.query_one(IssuesTable)
        columns = list(table.columns.values())
        assert columns[-1].label.plain == "text"
        left = sum(c.get_render_width(table) for c in columns[:-1])
        room = table.scrollable_content_region.width - left  # what the text column can show
        text_width = columns[-1].get_render_width(table)
        assert text_width <= room, "the text runs past the box (cut by its edge, no …)"
        shown = table.get_row_at(0)[-1]
        assert len(shown) >= 40 and shown.startswith("row 0: the staff were lovely"), shown
