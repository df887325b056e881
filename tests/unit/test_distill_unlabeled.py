"""``--unlabeled``: a text file (one text a line), a data file's text column, or a CoNLL file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import record_calls
from tests.unit.test_distill import distill_flags, place  # noqa: F401  (the module's teacher and data)
from tui_lab.cli import main
from tui_lab.core.deploy.predictor import Predictor
from tui_lab.core.distill.hooks import read_unlabeled, unlabeled_rows
from tui_lab.core.errors import DataError
from tui_lab.core.tasks import ClassifyTask, NerTask

TEXTS = ["the film was great", "a dull and slow plot", "service was fine"]


def test_a_csv_jsonl_or_parquet_gives_its_text_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [1, 2, 3, 4], "review": [*TEXTS, " "], "stars": [5, 1, 3, 2]})
    frame.to_csv(tmp_path / "u.csv", index=False)
    frame.to_json(tmp_path / "u.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "u.parquet")
    for name in ("u.csv", "u.jsonl", "u.parquet"):
        assert read_unlabeled(str(tmp_path / name)) == TEXTS, name  # the blank one is left out
    frame.assign(body=["x y"] * 4).to_csv(tmp_path / "two.csv", index=False)
    assert read_unlabeled(str(tmp_path / "two.csv"), "body") == ["x y"] * 4  # data.text_column names it


def test_a_text_file_is_one_text_a_line_and_conll_its_words(tmp_path: Path) -> None:
    (tmp_path / "u.txt").write_text("\n".join(TEXTS) + "\n\n")
    assert read_unlabeled(str(tmp_path / "u.txt")) == TEXTS
    (tmp_path / "u.conll").write_text("-DOCSTART- O\n\nAnna B-PER\nsang O\n\n\nOslo\nrains\n")
    sentences = read_unlabeled(str(tmp_path / "u.conll"))
    assert sentences == [["Anna", "sang"], ["Oslo", "rains"]]  # tagged or not: the first column
    ner, classify = NerTask(["O", "B-PER", "I-PER"]), ClassifyTask(["neg", "pos"])
    assert unlabeled_rows(ner, sentences) == sentences
    assert unlabeled_rows(classify, sentences) == ["Anna sang", "Oslo rains"]
    assert unlabeled_rows(ner, TEXTS)[0] == ["the", "film", "was", "great"]


def test_a_tokens_column_gives_a_ner_run_its_word_lists(tmp_path: Path) -> None:
    rows = [{"tokens": ["Anna", "sang"]}, {"tokens": []}, {"tokens": ["in", "Oslo"]}]
    (tmp_path / "u.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    words = read_unlabeled(str(tmp_path / "u.jsonl"))
    assert unlabeled_rows(NerTask(["O", "B-PER", "I-PER"]), words) == [["Anna", "sang"], ["in", "Oslo"]]


@pytest.mark.parametrize(
    ("name", "content", "column", "expect"),
    [
        ("nums.csv", "a,b\n1,2\n3,4\n", "", "has no text column I can recognise"),
        ("u.csv", "text\nfine\n", "body", "has no column 'body'"),
        ("blank.csv", "text,n\n ,1\n,2\n", "", "has no text"),
        ("latin.txt", "caf\xe9 ok\n", "", "is not UTF-8"),
        ("gone.txt", None, "", "is not a file"),
    ],
)
def test_bad_unlabeled_files_say_what_to_fix(tmp_path: Path, name, content, column, expect) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content.encode("latin-1"))
    with pytest.raises(DataError, match=expect):
        read_unlabeled(str(tmp_path / name), column)


def test_distill_scores_a_csvs_text_column_as_unlabelled_rows(place: Path, monkeypatch, capsys) -> None:  # noqa: F811
    seen = record_calls(monkeypatch, Predictor, "logits", 1)
    frame = pd.DataFrame({"text": [f"{t} number {i}" for i, t in enumerate(TEXTS * 4)], "n": range(12)})
    frame.to_csv(place / "more.csv", index=False)
    code = main(distill_flags(place, "from-csv", "--unlabeled", str(place / "more.csv"), "--max-steps", "2"))
    out = capsys.readouterr()
    assert code == 0 and json.loads(out.out.strip().splitlines()[-1])["status"] == "completed", out.err
    assert len(seen) == 1 and seen[0][240 : 240 + 12] == list(frame["text"])  # after train, before dev
