"""A token explanation as coloured text: green words pushed toward the label, red ones against.

Used by the console (ctrl+e), the Analysis screen and ``tui-lab explain`` on a terminal. Only
rich is imported here, so the CLI can use it without loading Textual.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text

TOWARD = (34, 197, 94)  # green: the word pushed toward the predicted label
AGAINST = (239, 68, 68)  # red: the word pushed away from it
MIN_SHOWN = 0.05  # weaker words (|score| under this) keep the text's own colour


def word_style(score: float) -> Style:
    """The style of a word with this score (in [-1, 1]): the colour's strength follows ``|score|``.

    The word is drawn on a background that blends from nothing to the full colour, bold from 0.5.
    """
    strength = min(abs(score), 1.0)
    if strength < MIN_SHOWN:
        return Style()
    r, g, b = TOWARD if score > 0 else AGAINST
    # blend with a dark grey so weak words are faint and strong ones saturated
    base = 40
    mix = 0.25 + 0.75 * strength
    colour = tuple(round(base + (c - base) * mix) for c in (r, g, b))
    return Style(bgcolor=f"rgb({colour[0]},{colour[1]},{colour[2]})", color="white", bold=strength >= 0.5)


def explanation_text(expl: Any) -> Text:
    """The explained text with each word coloured by its score; spacing kept as typed.

    Args:
        expl: an :class:`~tui_lab.core.analysis.explain.Explanation` (``.text`` and ``.words`` with
            ``.start``, ``.end`` and ``.score``).
    """
    text = Text()
    at = 0
    for word in sorted(expl.words, key=lambda w: w.start):
        if word.start < at:
            continue
        text.append(expl.text[at : word.start])
        text.append(expl.text[word.start : word.end], word_style(word.score))
        at = word.end
    text.append(expl.text[at:], "dim")  # what truncation left out (nothing, mostly)
    return text


def scores_text(expl: Any) -> Text:
    """Each word with its signed score, ``great +1.00  plot -0.12``, coloured like the words."""
    text = Text()
    for i, word in enumerate(expl.words):
        if i:
            text.append("  ")
        text.append(word.word, word_style(word.score))
        text.append(f" {word.score:+.2f}", "dim")
    return text
