"""Error analysis of a NER run: entity types x missed/spurious/correct, sentences, per-word calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tui_lab.cli import main
from tui_lab.core.analysis.analyze import analyze_run
from tui_lab.core.errors import ModelError
from tui_lab.core.tasks.ner_report import NER_COLUMNS, ner_report

TAGS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def _probs(tags: list[int], sure: float = 0.9) -> np.ndarray:
    """Word probabilities that put ``sure`` on each given tag."""
    p = np.full((len(tags), len(TAGS)), (1 - sure) / (len(TAGS) - 1))
    p[np.arange(len(tags)), tags] = sure
    return p


def test_ner_report_counts_missed_spurious_and_correct_entities() -> None:
    words = [["Anna", "Smith", "lives", "in", "Paris"], ["Bob", "went", "to", "Rome"]]
    gold = [[3, 4, 0, 0, 1], [3, 0, 0, 1]]
    said = [[3, 4, 0, 0, 0], [3, 0, 0, 3]]  # Paris missed; Rome called a person
    report, conf, ok = ner_report(words, [7, 8], gold, [_probs(said[0]), _probs(said[1], 0.6)], TAGS)
    assert report.grid_rows == ["LOC", "PER"] and report.grid_cols == list(NER_COLUMNS)
    assert report.counts == [[2, 0, 0], [0, 1, 2]]
    assert report.per_class["PER"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": 0.8,
        "support": 2,
    }
    assert report.per_class["LOC"]["support"] == 2 and report.per_class["LOC"]["recall"] == 0.0
    missed = report.cells[(0, 0)]
    assert [e.row for e in missed] == [7, 8]  # the surer mistake first
    assert missed[0].label == "PER: Anna Smith; LOC: Paris" and missed[0].predicted == "PER: Anna Smith"
    assert missed[0].text == "Anna Smith lives in Paris"
    assert report.cells[(1, 1)][0].predicted == "PER: Bob; PER: Rome"
    assert [e.row for e in report.mistakes] == [7, 8]
    assert len(conf) == len(ok) == 9 and ok.sum() == 7


def test_analyze_json_on_a_ner_run(ner_run: Path, capsys) -> None:
    assert main(["analyze", str(ner_run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["task"] == "ner" and set(out["per_class"]) == {"LOC", "MISC", "ORG", "PER"}
    assert out["labels"] == sorted(out["per_class"])
    assert out["grid"] == {"rows": out["labels"], "columns": list(NER_COLUMNS)}
    counts = np.asarray(out["confusion_matrix"])
    assert counts.shape == (4, 3)
    supports = [out["per_class"][t]["support"] for t in out["labels"]]
    assert (counts[:, 0] + counts[:, 2]).tolist() == supports and sum(supports) > 0
    assert 0.0 <= out["ece"] <= 1.0 and sum(b["count"] for b in out["reliability"]) > sum(supports)
    assert set(out["test_per_class"]) == set(out["labels"])
    assert out["label_issues"] == [] and "tag per word" in out["label_issues_note"]
    confidences = [w["confidence"] for w in out["worst"]]
    assert confidences == sorted(confidences, reverse=True)
    assert all(w["label"] != w["predicted"] for w in out["worst"])


def test_calibrate_is_refused_for_ner(ner_run: Path, capsys) -> None:
    with pytest.raises(ModelError, match="temperature scaling is for sentence classifiers"):
        analyze_run(ner_run, calibrate=True, label_issues=False)
    assert main(["analyze", str(ner_run), "--calibrate"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: temperature scaling")
