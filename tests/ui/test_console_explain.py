"""The console explains a sentence with ctrl+e: a worker, then coloured words under the prediction."""

from __future__ import annotations

import io

from rich.console import Console

from tests.ui.conftest import settle, wait_for
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.console import ConsolePane, PredictionCard
from tui_lab.ui.widgets.explanation import explanation_text

SENTENCE = "The staff were lovely and the room was spotless."


def _plain(renderable) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def test_ctrl_e_explains_the_typed_sentence(lab_config, sentiment_run) -> None:
    app = LabApp(lab_config, model_dir=str(sentiment_run), warm_imports=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f5", "ctrl+e")  # nothing typed, nothing predicted yet
        await pilot.pause()
        assert any("Type a sentence" in n.message for n in app._notifications)
        assert not app.query_one(ConsolePane).query(".prediction")
        await pilot.press(*SENTENCE)
        active = app.active_bindings.get("ctrl+e")
        assert active is not None and active.binding.show and active.binding.description == "Explain"
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: any(c.explanation for c in app.query(PredictionCard)))
        card = app.query_one(PredictionCard)
        expl = card.explanation
        assert expl.text == SENTENCE and [w.word for w in expl.words] == SENTENCE.split()
        assert expl.label == card.prediction.label
        shown = _plain(card.content)
        assert "why" in shown and "spotless." in shown
        assert not app.query(".explaining")  # the "explaining…" card was replaced
        assert app.query_one("#console-input").value == ""
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Explain sentence" in titles


def test_explanation_text_keeps_the_spacing_and_colours_by_sign() -> None:
    from tui_lab.core.analysis.explain import Explanation, WordScore

    text = "so  good,  not bad"
    words = [WordScore("so", 0.01, 0, 2), WordScore("good,", 1.0, 4, 9), WordScore("not", -0.6, 11, 14)]
    rendered = explanation_text(Explanation(text, "positive", 0.9, words))
    assert rendered.plain == text
    styles = {text[s.start : s.end]: s.style for s in rendered.spans}
    assert "so" not in styles  # under MIN_SHOWN: the text's own colour
    assert styles["good,"].bgcolor.triplet.green > styles["good,"].bgcolor.triplet.red
    assert styles["not"].bgcolor.triplet.red > styles["not"].bgcolor.triplet.green
