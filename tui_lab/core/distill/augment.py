"""Teacher-labelled augmentation: more text for the student to learn the teacher from.

Tang et al. 2019 ("Distilling Task-Specific Knowledge from BERT into Simple Neural Networks",
§3.2) distil into small students with many synthetic copies of the training texts, which the
teacher labels: a small student learns far more from the teacher's scores on 20 perturbed copies
of a sentence than from the sentence alone. Their rules, applied to each copy of each text:

- every word, with probability ``P_MASK``, becomes the mask token (the model reads "some word
  was here"); a student without a mask token drops the word instead;
- then, with probability ``P_NGRAM``, the copy is cut to one of its n-grams, n drawn from 1..5.

Their third rule (a word swapped for another of the same part of speech) needs a tagger and is
left out. Copies equal to a training text or to an earlier copy are dropped, so a text yields at
most ``copies`` new ones. The same rows, seed and mask give the same copies (a resumed run
rebuilds them and checks them against its stored teacher scores by count).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

P_MASK = 0.1
P_NGRAM = 0.25
MAX_N = 5


def augmented(rows: Sequence[Sequence[str]], copies: int, seed: int, mask: str | None) -> list[list[str]]:
    """Up to ``copies`` new word lists per row, by Tang et al.'s masking and n-gram rules.

    Args:
        rows: the training texts as words (a sentence task splits on whitespace; NER rows are
            already words).
        copies: how many copies to draw from each row (0 = none).
        seed: the run's seed; the copies depend on nothing else but the rows and ``mask``.
        mask: the word a masked word becomes (the student's mask token); ``None`` drops it.
    """
    rng = random.Random(seed)
    seen = {tuple(words) for words in rows}
    out: list[list[str]] = []
    for words in rows:
        if not words:
            continue
        for _ in range(copies):
            new = [mask if rng.random() < P_MASK else w for w in words]
            new = [w for w in new if w is not None]
            if new and rng.random() < P_NGRAM:
                n = rng.randint(1, min(MAX_N, len(new)))
                start = rng.randint(0, len(new) - n)
                new = new[start : start + n]
            key = tuple(new)
            if new and key not in seen:
                seen.add(key)
                out.append(new)
    return out
