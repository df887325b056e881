"""The Label screen (F11): the pool ranked by the run's model; a digit labels a row, ``s`` skips it,
``x`` marks it unusable, ``r`` ranks again, ctrl+t goes back and retrains."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from tests.conftest import make_rows, save_tiny_classifier
from tests.ui.conftest import record_notifications, wait_for
from tui_lab.core import active
from tui_lab.core.data import corrections
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.label_screen import TOP, LabelScreen


def _run_with_pool(lab_config, tmp_path: Path) -> Path:
    """A run folder (a tiny random classifier as best/) and a pool of 60 texts; the corrections file."""
    run = tmp_path / "runs" / "r"
    save_tiny_classifier(run / "best")
    (run / "events.jsonl").write_text("")
    lab_config.train.output_dir = str(tmp_path / "runs")
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(text for text, _ in make_rows(60, 7)) + "\n")
    lab_config.data.pool = str(pool)
    return active.corrections_file(lab_config)


async def _open(pilot, app) -> LabelScreen:
    await pilot.press("f11")
    await wait_for(pilot, lambda: isinstance(app.screen, LabelScreen))
    screen = app.screen
    await wait_for(pilot, lambda: not screen.busy and screen.rows)
    return screen


async def test_digits_label_s_skips_x_marks_unusable_and_r_ranks_the_rest(lab_config, tmp_path: Path) -> None:
    path = _run_with_pool(lab_config, tmp_path)
    assert path == Path(lab_config.data.train) / "train.csv.corrections.jsonl"
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, app)
        footer = {b.binding.action for b in screen.active_bindings.values() if b.binding.show}
        assert {"label(1)", "decide('skip')", "decide('unusable')", "rank", "retrain"} <= footer
        table = screen.query_one("#label-table", DataTable)
        assert table.row_count == len(screen.rows) == TOP
        first, second, third = screen.rows[:3]
        await pilot.press("2")  # the second label: pos
        added = corrections.read(path).records
        assert [(r["action"], r["label"], r["text"], r["row"]) for r in added] == [
            ("add", "pos", first.text, first.row)
        ]
        assert table.cursor_row == 1 and "pos" in str(table.get_row_at(0)[-1])
        await pilot.press("s", "x")
        skipped = active.read_records(active.skipped_file(path)).records
        assert [(r["action"], r["text"]) for r in skipped] == [
            ("skip", second.text),
            ("unusable", third.text),
        ]
        seen = record_notifications(app)
        await pilot.press("9")  # two labels: nothing written
        assert any("no label 9" in m for m in seen) and len(corrections.read(path).records) == 1
        await pilot.press("r")
        await wait_for(pilot, lambda: not screen.busy)
        assert not {s.text for s in screen.rows} & {first.text, second.text, third.text}
        await pilot.press("escape")
        assert not isinstance(app.screen, LabelScreen)


async def test_ctrl_t_goes_back_and_retrains_with_the_forms_settings(
    lab_config, tmp_path: Path, monkeypatch
) -> None:
    _run_with_pool(lab_config, tmp_path)
    app = LabApp(lab_config, warm_imports=False)
    started: list[str] = []
    monkeypatch.setattr(app, "action_start", lambda: started.append(app.active))
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, app)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: not isinstance(app.screen, LabelScreen))
        assert started == ["training"]


async def test_without_a_pool_f11_says_what_to_set(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        seen = record_notifications(app)
        await pilot.press("f11")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, LabelScreen)
        assert any("No pool to label" in m for m in seen)
