"""Named-entity recognition: CoNLL reading, IOB2 conversion, sub-word alignment, the CLI end to end,
pipeline agreement, eval, resume and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLE, stop_at_step_then_resume, write_csv
from tui_lab.cli import main
from tui_lab.core.config import LabConfig
from tui_lab.core.data.tagged import load_token_data, read_conll, to_iob2
from tui_lab.core.errors import DataError
from tui_lab.core.settings import DataConfig
from tui_lab.core.tasks import NerTask, detect_task
from tui_lab.core.tasks.ner import IGNORE, align_labels
from tui_lab.core.training.events import Evaluated, Notice
from tui_lab.core.training.loop import Trainer

NER = SAMPLE / "ner"
# tiny-bert, 2 epochs, batch 16, max length 32 on sample_data/ner: dev entity F1 0.98 (README
# has the 3-epoch number); the bar leaves room for other CPUs and library versions
MIN_F1 = 0.9
E2E_FLAGS = ["--max-length", "32", "--epochs", "2", "--batch-size", "16", "--no-baseline", "--patience", "0"]


def _conll(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- reading -----------------------------------------------------------------------------------------
def test_conll_skips_docstart_and_blank_lines_and_reads_the_last_column(tmp_path: Path) -> None:
    path = _conll(
        tmp_path / "a.conll",
        "-DOCSTART- -X- -X- O\n\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\n"
        "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n-DOCSTART- O\nBonn B-LOC\n",
    )
    words, tags, starts = read_conll(path)
    assert words == [["EU", "rejects"], ["Peter", "Blackburn"], ["Bonn"]]
    assert tags == [["B-ORG", "O"], ["B-PER", "I-PER"], ["B-LOC"]]
    assert starts == [4, 8, 11]  # the line of each sentence's first token


def test_a_token_without_a_tag_names_file_and_line(tmp_path: Path) -> None:
    path = _conll(tmp_path / "a.conll", "EU B-ORG\n\nPeter B-PER\nBlackburn\n")
    with pytest.raises(DataError, match=r"a\.conll:4 has a token but no tag"):
        read_conll(path)


def test_iob1_and_iob2_breaks_become_b_and_bioes_converts_with_notes() -> None:
    tags, note = to_iob2([["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]], "x.conll", [10], conll=True)
    assert tags == [["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]]
    assert "2 entities opened with I-" in note and "first at x.conll:10" in note
    tags, note = to_iob2([["S-PER", "O", "B-ORG", "I-ORG", "E-ORG"]], "x.conll", [1], conll=True)
    assert tags == [["B-PER", "O", "B-ORG", "I-ORG", "I-ORG"]] and "BIOES tags converted to IOB2" in note
    assert to_iob2([["B-PER", "I-PER", "O"]], "x", [1], conll=True) == ([["B-PER", "I-PER", "O"]], "")
    with pytest.raises(DataError, match=r"x\.conll:2 has the tag 'PERSON', which is not IOB2"):
        to_iob2([["O", "PERSON"]], "x.conll", [1], conll=True)


def test_tokens_and_tags_jsonl_is_detected_and_loaded(tmp_path: Path) -> None:
    rows = [{"tokens": ["Anna", "lives", "in", "Oslo"], "tags": ["B-PER", "O", "O", "B-LOC"]}] * 10
    path = tmp_path / "d" / "train.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = DataConfig(train=str(path.parent))
    assert detect_task(cfg) == ("ner", "train.jsonl has tokens and tags columns")
    bundle = load_token_data(cfg)
    assert bundle.label_names == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert bundle.train.texts[0] == ["Anna", "lives", "in", "Oslo"] and bundle.train.labels[0] == [3, 0, 0, 1]
    assert detect_task(DataConfig(train=str(SAMPLE / "sentiment"))) == ("", "")


# -- alignment -----------------------------------------------------------------------------------
def test_a_word_split_into_sub_tokens_carries_its_tag_on_the_first_only() -> None:
    from tui_lab.core.models.presets import train_wordpiece

    tok = train_wordpiece(["anna went to oslo", "washington is big"] * 5, vocab_size=40)
    task = NerTask(["O", "B-LOC", "I-LOC", "B-PER", "I-PER"])
    words, tags = ["Anna", "visited", "Washingtonians"], [3, 0, 1]
    tokens, targets = task.encode(tok, [words], [tags], 64)
    pieces = tok.convert_ids_to_tokens(tokens.row(0).tolist())
    word_ids = tok([words], is_split_into_words=True).word_ids(0)
    washington = [i for i, w in enumerate(word_ids) if w == 2]
    assert len(washington) >= 3 and pieces[washington[1]].startswith("##")  # really split
    labels = targets.labels.row(0).tolist()
    assert labels[0] == labels[-1] == IGNORE  # [CLS], [SEP]
    assert labels[washington[0]] == 1 and all(labels[i] == IGNORE for i in washington[1:])
    assert targets.word_start.sum() == 3 and targets.word_start[washington[0]]
    every, first = align_labels(word_ids, tags, True, task._to_inside)
    assert [every[i] for i in washington] == [1] + [2] * (len(washington) - 1)  # B-LOC, then I-LOC
    assert sum(first) == 3


def test_a_slow_tokenizer_is_refused_in_one_sentence_before_any_encoding() -> None:
    from types import SimpleNamespace

    from tui_lab.core.errors import ModelError

    def never(*args, **kwargs):
        raise AssertionError("a slow tokenizer must not be called: it has no word_ids()")

    slow = SimpleNamespace(is_fast=False, name_or_path="some/sentencepiece-model", __call__=never)
    with pytest.raises(ModelError, match="some/sentencepiece-model has only a slow .* tokenizer.json"):
        NerTask(["O", "B-PER", "I-PER"]).encode(slow, [["Anna"]], [[1]], 16)


def test_entity_metrics_are_strict_iob2_per_type() -> None:
    from tui_lab.core.data.batching import from_lists
    from tui_lab.core.tasks.ner import TokenTargets

    names = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    gold = [[IGNORE, 3, 4, 0, 1, IGNORE]]  # [CLS] Anna Smith in Oslo [SEP]
    targets = TokenTargets(from_lists(gold), np.array([False, True, True, True, True, False]))
    pred = [0, 3, 4, 0, 2, 0]  # Oslo tagged I-LOC after O: not an entity in strict IOB2
    probs = np.eye(5, dtype=np.float32)[pred][None] * 0.9 + 0.02
    m = NerTask(names).metrics(targets, probs)
    assert m["precision"] == 1.0 and m["recall"] == 0.5 and m["f1/PER"] == 1.0 and m["f1/LOC"] == 0.0
    assert m["accuracy"] == 0.75 and m["entities"] == {"LOC": 1, "PER": 1}


# -- bad input through the CLI ----------------------------------------------------------------------
def _fails(capsys, tmp_path: Path, argv: list[str], expected: str) -> None:
    out = tmp_path / "runs"
    assert main(["train", *argv, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
    assert not out.exists()  # nothing saved


def test_bad_ner_inputs_are_one_line_and_save_nothing(capsys, tmp_path: Path) -> None:
    bad = _conll(tmp_path / "bad" / "train.conll", "Anna B-PER\nlives O\n\nOslo\n")
    _fails(capsys, tmp_path, ["--train", str(bad)], "train.conll:4 has a token but no tag")
    write_csv(tmp_path / "s" / "train.csv", [("a fine film", "pos"), ("a dull one", "neg")] * 10)
    _fails(
        capsys,
        tmp_path,
        ["--train", str(tmp_path / "s"), "--task", "ner"],
        "--task ner needs token tags (a .conll/.bio file, or JSONL/Parquet with tokens and tags "
        "columns), but train.csv is sentence data (columns: text, label)",
    )
    uneven = tmp_path / "u" / "train.jsonl"
    uneven.parent.mkdir()
    uneven.write_text(json.dumps({"tokens": ["Anna", "sings"], "tags": ["B-PER"]}) + "\n", encoding="utf-8")
    _fails(capsys, tmp_path, ["--train", str(uneven)], "row 1 has 2 tokens but 1 tags")
    conll = _conll(tmp_path / "c" / "train.conll", "Anna B-PER\n\nOslo B-LOC\n")
    _fails(capsys, tmp_path, ["--train", str(conll), "--task", "classify"], "train it with --task ner")


# -- end to end ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ner_run(tmp_path_factory) -> tuple[Path, dict, str]:
    """tiny-bert trained on sample_data/ner by the real command (task detected from the files)."""
    out = tmp_path_factory.mktemp("ner")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_lab",
            "train",
            "--train",
            str(NER),
            "--output-dir",
            str(out),
            *E2E_FLAGS,
            "--json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return Path(summary["run_dir"]), summary, proc.stderr


@pytest.mark.slow
def test_cli_detects_conll_and_reaches_a_clear_entity_f1(ner_run) -> None:
    run_dir, summary, stderr = ner_run
    first = stderr.splitlines()[0]  # the run's first line names the task it read from the data
    assert first.startswith("run ") and ": ner with tiny-bert on " in first
    assert stderr.splitlines()[1] == "info: task: ner (train.conll is a CoNLL file of token tags)"
    assert summary["best"]["f1"] >= MIN_F1 and summary["test"]["f1"] >= MIN_F1
    report = json.loads((run_dir / "report.json").read_text())
    assert report["task"] == "ner" and report["config"]["train"]["metric_for_best_model"] == "f1"
    assert set(report["test"]["entities"]) == {"LOC", "MISC", "ORG", "PER"} and "f1/PER" in report["test"]
    assert json.loads((run_dir / "best" / "config.json").read_text())["architectures"] == [
        "BertForTokenClassification"
    ]


@pytest.mark.slow
def test_pipeline_and_predict_find_the_same_entities(ner_run, capsys) -> None:
    from transformers import pipeline

    run_dir, _, _ = ner_run
    texts = [
        "Anna Smith works for Acme Corp in Paris.",
        "Officials from the World Bank visited Cape Town on Friday .",
        "Nobody expected Zorblaxian Quuxcorp to win in Lagos",
    ]
    assert main(["predict", str(run_dir), "--json", *texts]) == 0
    ours = json.loads(capsys.readouterr().out)["predictions"]
    pipe = pipeline("token-classification", model=str(run_dir / "best"), aggregation_strategy="simple")
    assert sum(len(p["entities"]) for p in ours) >= 5  # not two empty lists
    for p, theirs in zip(ours, pipe(texts)):
        assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in p["entities"]] == [
            (e["entity_group"], e["word"], e["start"], e["end"]) for e in theirs
        ]
        assert [e["score"] for e in p["entities"]] == pytest.approx(
            [float(e["score"]) for e in theirs], abs=1e-4
        )


@pytest.mark.slow
def test_eval_scores_a_ner_model_as_its_run_did(ner_run, capsys) -> None:
    run_dir, summary, _ = ner_run
    assert main(["eval", str(run_dir), "--data", str(NER), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["data"].endswith("test.conll") and result["f1"] == pytest.approx(
        summary["test"]["f1"], abs=1e-6
    )
    assert result["headline"] == ["f1", "precision", "recall", "accuracy"]


# -- resume ------------------------------------------------------------------------------------------
def _subset(folder: Path) -> Path:
    """The first sentences of sample_data/ner: 120 train, 40 dev."""
    for split, n in (("train", 120), ("dev", 40)):
        sentences = (NER / f"{split}.conll").read_text(encoding="utf-8").split("\n\n")[:n]
        _conll(folder / f"{split}.conll", "\n\n".join(sentences) + "\n")
    return folder


def test_ner_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    cfg = LabConfig()
    cfg.data.train = str(_subset(tmp_path / "data"))
    cfg.data.max_length = 32
    cfg.model.vocab_size = 300
    cfg.train.epochs = 2
    cfg.train.batch_size = 16
    cfg.train.baseline = False
    cfg.train.tensorboard = False
    cfg.train.output_dir = str(tmp_path / "runs")
    cfg.train.run_name = "full"
    events: list = []
    full = Trainer(cfg, [events.append]).run()
    assert any(isinstance(e, Notice) and e.text.startswith("task: ner (") for e in events)
    dev = [e for e in events if isinstance(e, Evaluated)]
    assert dev and dev[0].confusion_matrix is None and "f1/PER" in dev[0].metrics

    part, resumed, start_step = stop_at_step_then_resume(cfg, 5)
    assert part.status == "stopped" and part.step == 5 and start_step == 5
    assert resumed.step == full.step and resumed.best == full.best


@pytest.mark.slow
def test_explain_refuses_a_ner_model_in_one_line(ner_run, capsys) -> None:
    run_dir, _, _ = ner_run
    assert main(["explain", str(run_dir), "Anna Smith works for Acme Corp in Paris."]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "ner model" in err and len(err.splitlines()) == 1
