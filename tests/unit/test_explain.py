"""Token explanations: words merged from sub-tokens, faithful to the model, and ``tui-lab explain``."""

from __future__ import annotations

import csv
import json
import random

import pytest

from tests.conftest import SAMPLE
from tui_lab.cli import main
from tui_lab.core.analysis.explain import explain_texts, merge_words
from tui_lab.core.deploy.predictor import Predictor, TorchBackend

SPLIT_WORD = "unbelievably"
TEXT = f"The receptionist was  {SPLIT_WORD} rude, honestly!"


@pytest.fixture(scope="module")
def predictor(sentiment_run):
    return Predictor.from_path(sentiment_run, device="cpu")


def test_sub_tokens_are_summed_into_the_typed_words(predictor) -> None:
    tok = predictor.tokenizer
    assert len(tok.tokenize(SPLIT_WORD)) >= 2  # the case under test: one word, several pieces
    enc = tok(TEXT, return_offsets_mapping=True, return_special_tokens_mask=True)
    offsets = [(0, 0) if s else tuple(o) for o, s in zip(enc["offset_mapping"], enc["special_tokens_mask"])]
    scores = [100.0 if s else float(i) for i, s in enumerate(enc["special_tokens_mask"])]
    words = merge_words(TEXT, offsets, scores)

    assert [w.word for w in words] == TEXT.split()
    assert all(TEXT[w.start : w.end] == w.word for w in words)
    raw = {}
    for (start, end), score in zip(offsets, scores):
        if end > start:
            word = next(w for w in words if w.start <= start < w.end)
            raw[word.word] = raw.get(word.word, 0.0) + score
    top = max(abs(v) for v in raw.values())  # special tokens' 100s are left out of the scale too
    for w in words:
        assert w.score == pytest.approx(raw[w.word] / top)
    pieces = [i for i, (s, e) in enumerate(offsets) if e > s and TEXT.index(SPLIT_WORD) <= s < e]
    assert len(pieces) >= 2


def test_explanation_of_a_text(predictor) -> None:
    (expl,) = explain_texts(predictor, [TEXT], n_steps=8)
    assert [w.word for w in expl.words] == TEXT.split()
    assert not any(w.word in ("[CLS]", "[SEP]", "[PAD]") for w in expl.words)
    assert all(TEXT[w.start : w.end] == w.word for w in expl.words)
    assert max(abs(w.score) for w in expl.words) == pytest.approx(1.0)
    pred = predictor.predict([TEXT])[0]
    assert (expl.label, expl.score) == (pred.label, pytest.approx(pred.score, abs=1e-5))


def _probability(predictor, texts: list[str], labels: list[str]) -> list[float]:
    index = {label: i for i, label in enumerate(predictor.labels)}
    probs = predictor.scores(predictor.logits(texts))
    return [float(row[index[label]]) for row, label in zip(probs, labels)]


def _without(text: str, words: list) -> str:
    cut = sorted((w.start, w.end) for w in words)
    out, at = [], 0
    for start, end in cut:
        out.append(text[at:start])
        at = end
    return " ".join("".join(out + [text[at:]]).split())


def test_deleting_the_top_words_hurts_more_than_random_words(predictor) -> None:
    with open(SAMPLE / "sentiment" / "dev.csv", encoding="utf-8") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)][:60]
    explanations = [e for e in explain_texts(predictor, texts, n_steps=8) if len(e.words) > 5]
    rng = random.Random(0)
    top = [_without(e.text, sorted(e.words, key=lambda w: -w.score)[:3]) for e in explanations]
    rand = [_without(e.text, rng.sample(e.words, 3)) for e in explanations]
    labels = [e.label for e in explanations]
    before = [e.score for e in explanations]
    drop_top = [b - a for b, a in zip(before, _probability(predictor, top, labels))]
    drop_rand = [b - a for b, a in zip(before, _probability(predictor, rand, labels))]
    assert len(explanations) >= 40
    assert sum(drop_top) / len(drop_top) > sum(drop_rand) / len(drop_rand)


def test_cli_prints_one_json_line_last(sentiment_run, capsys) -> None:
    code = main(["explain", str(sentiment_run), "A lovely stay", "the plot was dreadful", "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    results = json.loads(out[-1])["results"]
    assert [r["text"] for r in results] == ["A lovely stay", "the plot was dreadful"]
    for r in results:
        assert r["label"] in ("positive", "negative") and 0.5 <= r["score"] <= 1
        assert [w["word"] for w in r["words"]] == r["text"].split()
        assert all(-1 <= w["score"] <= 1 for w in r["words"])


def test_cli_plain_output_names_label_and_scores(sentiment_run, capsys) -> None:
    assert main(["explain", str(sentiment_run), "A lovely stay", "--explain-steps", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] in ("positive", "negative") and "\x1b[" not in "".join(lines)
    assert lines[1].strip() == "A lovely stay" and lines[2].split()[::2] == ["A", "lovely", "stay"]


def test_cli_empty_text_is_one_error_line(sentiment_run, capsys) -> None:
    assert main(["explain", str(sentiment_run), "fine", "  "]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: text 2 is empty; give a sentence to explain."]


def test_a_model_without_embeddings_is_one_error_line(predictor, sentiment_run, monkeypatch, capsys) -> None:
    import torch

    class NoEmbeddings(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None):
            raise AssertionError("never called")

    fake = Predictor(TorchBackend(NoEmbeddings(), "cpu"), predictor.tokenizer, predictor.labels)
    monkeypatch.setattr(Predictor, "from_path", classmethod(lambda cls, *a, **k: fake))
    assert main(["explain", str(sentiment_run), "fine"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: NoEmbeddings has no input embeddings layer")
