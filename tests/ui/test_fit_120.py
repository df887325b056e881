"""What a new user sees at 120x40 (issue 19): every screen's key in the footer, checkboxes and
placeholders drawn whole."""

from __future__ import annotations

from textual.widgets import Checkbox, Footer, Input
from textual.widgets._footer import FooterKey, FooterLabel

from tests.ui.conftest import settle, wait_for
from tui_lab.ui.app import LabApp

SCREEN_KEYS = ("f1", "f2", "f3", "f4", "f5", "f6", "f8", "f9", "f10")


def footer_line(screen) -> tuple[str, list[str], int]:
    """The footer as drawn: its text, the keys shown whole left of ``^p palette``, and the free
    columns between the last of them and the palette key. Nothing yet while the footer is being
    recomposed (just after a screen switch its keys are briefly absent)."""
    footer = screen.query_one(Footer)
    palettes = footer.query(".-command-palette")
    if not palettes:
        return "", [], 0
    width = screen.size.width
    cells = [" "] * width
    parts = [w for w in footer.query("*") if isinstance(w, (FooterKey, FooterLabel))]
    for part in parts:
        text = str(part.render()) if isinstance(part, FooterKey) else str(part.render()).strip()
        x = part.region.x + (part.styles.padding.left if isinstance(part, FooterKey) else 0)
        for i, ch in enumerate(text[: part.region.width]):
            if 0 <= x + i < width:
                cells[x + i] = ch
    palette = palettes.first()
    shown = [
        k
        for k in footer.query(FooterKey)
        if k is not palette and k.region.width and k.region.right <= palette.region.x
    ]
    free = palette.region.x - max((p.region.right for p in parts if p is not palette), default=0)
    return "".join(cells).rstrip(), [k.key for k in shown], free


def _displayed(widget, within) -> bool:
    """Whether ``widget`` and its containers up to ``within`` are displayed (scrolled to or not)."""
    node = widget
    while node is not within and node.display:
        node = node.parent
    return node is within


async def test_the_footer_shows_every_screen_key_and_the_palette_at_120_columns() -> None:
    app = LabApp(warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: footer_line(app.screen)[1], 10)  # laid out (late on a busy machine)
        line, keys, free = footer_line(app.screen)
        for key in (*SCREEN_KEYS, "ctrl+t", "ctrl+x", "ctrl+q"):
            assert key in keys, line
        for words in ("f6 Runs", "f8 Export", "f9 Analysis", "f10 Sweep", "^p palette"):
            assert words in line, line
        assert free >= 1, f"the last key runs into the palette key: {line!r}"


async def test_checkboxes_are_drawn_whole_with_their_state_at_120_columns(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        form = app.query_one("#hparams")
        boxes = [b for b in form.query(Checkbox) if _displayed(b, form)]
        assert len(boxes) >= 5  # trust remote code, group by length, TF-IDF baseline, ..., run detached
        for box in boxes:
            drawn = str(box.render())
            assert len(drawn) <= box.content_size.width, f"{box.id} cut: {drawn!r}"
            assert drawn.split()[-1] == ("on" if box.value else "off")


async def test_placeholders_are_drawn_whole_at_120_columns(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for field in (*app.query_one("#hparams").query(Input), *app.query_one("#dataset").query(Input)):
            if field.placeholder and field.parent.parent.display:  # a hidden field (LoRA without adapters)
                width = field.content_size.width
                assert len(field.placeholder) <= width, f"{field.id}: {field.placeholder!r} > {width}"


async def test_each_pane_border_names_its_key(lab_config) -> None:
    app = LabApp(lab_config, warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        drawn = app.export_screenshot()
        for title in ("Dataset", "Hyperparameters", "Training", "Console"):
            assert title in drawn
        for key in ("F2", "F3", "F4", "F5"):
            assert f"[{key}]" in drawn  # a title string reads "[F2]" as markup and draws nothing


async def test_the_sweep_screens_footer_shows_its_keys_at_120_columns() -> None:
    app = LabApp(warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f10")
        await wait_for(pilot, lambda: footer_line(app.screen)[1], 10)
        line, keys, free = footer_line(app.screen)
        for key in ("ctrl+t", "ctrl+x", "ctrl+r", "p", "o"):
            assert key in keys, line
        for words in ("^t Start sweep", "^x Stop sweep", "^r Resume", "^p palette"):
            assert words in line, line
        assert free >= 1, f"the last key runs into the palette key: {line!r}"


async def test_the_runs_screens_footer_shows_stop_beside_stop_run() -> None:
    """The Runs screen's ``s`` (stop the run under the cursor) once hid the lab's ``^x`` (both were
    the action ``stop``, and the footer shows one key an action)."""
    app = LabApp(warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f6")
        await wait_for(pilot, lambda: "s" in footer_line(app.screen)[1], 10)
        line, keys, free = footer_line(app.screen)
        assert "ctrl+x" in keys and "^x Stop" in line and "s Stop run" in line, line
        assert free >= 1, f"the last key runs into the palette key: {line!r}"
