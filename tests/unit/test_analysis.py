"""Error analysis: ECE, temperature scaling, cleanlab label issues, the task reports, ``tui-lab analyze``."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tui_lab.cli import main
from tui_lab.core.analysis.calibration import expected_calibration_error, fit_temperature, nll, reliability
from tui_lab.core.analysis.label_issues import find_label_issues
from tui_lab.core.data.splits import Split
from tui_lab.core.deploy.predictor import TEMPERATURE_KEY
from tui_lab.core.tasks.metrics import softmax
from tui_lab.core.tasks.reports import classify_report, multilabel_report

SENTIMENT = Path(__file__).resolve().parents[2] / "tui_lab" / "sample_data" / "sentiment" / "train.csv"


def test_ece_matches_a_hand_computed_case() -> None:
    # bins are 1/15 wide: 0.9 falls in (0.867, 0.933], 0.55 in (0.533, 0.6]
    confidence = [0.9, 0.9, 0.55, 0.55]
    correct = [True, False, True, True]
    # |0.5 - 0.9| * 2/4 + |1.0 - 0.55| * 2/4 = 0.2 + 0.225
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.425)
    bins = reliability(confidence, correct)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 4
    assert [b["count"] for b in bins if b["count"]] == [2, 2]
    assert expected_calibration_error([0.8] * 5, [True] * 4 + [False]) == pytest.approx(0.0)


def test_temperature_lowers_nll_on_an_overconfident_model() -> None:
    rng = np.random.default_rng(0)
    n, k = 2000, 3
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    right = rng.random(n) < 0.7  # 70% right, but with huge margins either way
    guess = np.where(right, y, (y + 1) % k)
    logits[np.arange(n), guess] += 6.0
    t = fit_temperature(logits, y)
    assert t > 1.5  # overconfident: softened
    assert nll(logits, y, t) < nll(logits, y) - 0.3
    conf_before = softmax(logits).max(axis=1)
    conf_after = softmax(logits, t).max(axis=1)
    ok = softmax(logits).argmax(axis=1) == y
    assert expected_calibration_error(conf_after, ok) < expected_calibration_error(conf_before, ok) / 2


def test_label_issues_find_planted_flips_in_the_sample_data() -> None:
    with open(SENTIMENT, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    names = ["negative", "positive"]
    labels = [names.index(r["label"]) for r in rows]
    rng = np.random.default_rng(0)
    flipped = set(rng.choice(len(rows), len(rows) // 20, replace=False).tolist())
    noisy = [1 - y if i in flipped else y for i, y in enumerate(labels)]
    # rows numbered as in a file whose first 10 rows were dropped: the issue's row is the file's
    split = Split([r["text"] for r in rows], noisy, [i + 10 for i in range(len(rows))])
    issues = find_label_issues(split, names)
    top = {i.row - 10 for i in issues[: 2 * len(flipped)]}
    assert len(top & flipped) / len(flipped) >= 0.6  # measured 0.74 (benchmarks/label_noise.py)
    first = issues[0]
    assert first.text == rows[first.row - 10]["text"] and first.label != first.suggested
    assert [i.score for i in issues] == sorted(i.score for i in issues)


def test_classify_report_cells_put_the_most_confident_mistakes_first() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.05, 0.95], [0.7, 0.3]])
    targets = np.array([0, 0, 0, 1, 1])
    texts = [f"t{i}" for i in range(5)]
    r = classify_report(texts, [10, 11, 12, 13, 14], targets, probs, ["a", "b"])
    assert r.counts == [[1, 2], [1, 1]]
    assert [e.row for e in r.cells[(0, 1)]] == [11, 12]  # 0.8 before 0.6
    assert [e.row for e in r.mistakes] == [11, 14, 12]
    assert r.per_class["a"]["support"] == 3 and r.per_class["b"]["recall"] == pytest.approx(0.5)
    assert r.cells[(0, 1)][0].loss == pytest.approx(-np.log(0.2))


def test_multilabel_report_lists_false_negatives_and_positives_per_label() -> None:
    targets = np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float32)
    probs = np.array([[0.2, 0.7], [0.9, 0.8], [0.1, 0.4]])
    r = multilabel_report(["x", "y", "z"], [0, 1, 2], targets, probs, ["a", "b"], 0.5)
    assert r.grid_cols == ["false negative", "false positive", "true positive"]
    assert r.counts == [[1, 0, 1], [1, 1, 1]]
    assert [e.text for e in r.cells[(0, 0)]] == ["x"] and r.cells[(1, 1)][0].text == "x"
    assert r.cells[(1, 0)][0].label == "b" and r.cells[(1, 0)][0].predicted == ""
    assert r.per_class["b"]["precision"] == pytest.approx(0.5)


# -- tui-lab analyze ----------------------------------------------------------------------------------
def _analyze(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["analyze", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_analyze_json_contract(finished_run, capsys) -> None:
    code, out, _ = _analyze(capsys, str(finished_run), "--json", "--top", "3")
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert {"split", "labels", "per_class", "confusion_matrix", "ece", "worst", "label_issues"} <= set(result)
    assert result["split"] == "dev" and result["labels"] == ["neg", "pos"]
    assert set(result["per_class"]["pos"]) == {"precision", "recall", "f1", "support"}
    assert sum(map(sum, result["confusion_matrix"])) == 60 and 0.0 <= result["ece"] <= 1.0
    assert len(result["worst"]) <= 3
    for w in result["worst"]:
        assert set(w) == {"row", "text", "label", "predicted", "confidence"} and w["label"] != w["predicted"]
    with open(finished_run.parent.parent / "data" / "train.csv", newline="", encoding="utf-8") as fh:
        train = list(csv.DictReader(fh))
    for issue in result["label_issues"]:
        assert train[issue["row"]]["text"] == issue["text"] and train[issue["row"]]["label"] == issue["label"]
    saved = json.loads((finished_run / "analysis.json").read_text(encoding="utf-8"))
    assert saved["confusion_matrix"] == result["confusion_matrix"]
    assert result["label_issues_scope"] == "240 training rows"  # a dev file: its rows are not training rows


def test_dev_rows_cut_from_the_training_file_are_searched_with_the_models_probabilities(tmp_path) -> None:
    from tests.conftest import write_csv
    from tui_lab.core.analysis.analyze import analyze_run, load_run_data
    from tui_lab.core.analysis.label_issues import out_of_sample_probs, rank_issues
    from tui_lab.core.config import LabConfig
    from tui_lab.core.deploy.predictor import Predictor
    from tui_lab.core.training.loop import Trainer

    with open(SENTIMENT, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rng = np.random.default_rng(1)
    flipped = set(rng.choice(len(rows), len(rows) // 20, replace=False).tolist())
    other = {"negative": "positive", "positive": "negative"}
    noisy = [(r["text"], other[r["label"]] if i in flipped else r["label"]) for i, r in enumerate(rows)]
    write_csv(tmp_path / "data" / "train.csv", noisy)  # no dev file: dev is cut from this one
    cfg = LabConfig()
    cfg.data.train, cfg.data.dev_fraction, cfg.data.max_length = str(tmp_path / "data"), 0.2, 40
    cfg.model.vocab_size, cfg.train.epochs, cfg.train.batch_size = 1000, 3, 32
    cfg.train.baseline, cfg.train.tensorboard = False, False
    cfg.train.output_dir, cfg.train.run_name = str(tmp_path / "runs"), "noisy"
    run = Path(Trainer(cfg).run().run_dir)

    analysis = analyze_run(run, device="cpu")
    _, data = load_run_data(run)
    dev_rows = set(data.dev.rows)
    assert "and the 300 dev rows cut from the training file" in analysis.label_issues_scope
    found = [i.row for i in analysis.label_issues]
    assert dev_rows & set(found)  # dev rows are searched (before, only the other 1,200 were)
    # the ranking is the baseline's over all 1,500 rows with the model's probabilities averaged
    # in for the dev rows, which it never trained on
    union = Split(
        data.train.texts + data.dev.texts,
        data.train.labels + data.dev.labels,
        data.train.rows + data.dev.rows,
    )
    probs = out_of_sample_probs(union, 2)
    model = softmax(Predictor.from_path(run / "best", device="cpu").logits(data.dev.texts))
    probs[len(data.train) :] = (probs[len(data.train) :] + model) / 2
    assert found == [i.row for i in rank_issues(union, probs, data.label_names)]
    dev_flips = flipped & dev_rows
    in_dev = [r for r in found if r in dev_rows][: 2 * len(dev_flips)]
    assert len(set(in_dev) & dev_flips) / len(dev_flips) >= 0.6  # benchmarks/label_noise_finetuned.py: 0.84


def test_analyze_calibrate_saves_a_temperature_that_predict_uses(finished_run, tmp_path, capsys) -> None:
    from tui_lab.core.deploy.predictor import Predictor

    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    code, out, _ = _analyze(capsys, str(run), "--calibrate", "--no-label-issues", "--json")
    assert code == 0
    cal = json.loads(out.strip().splitlines()[-1])["calibration"]
    assert cal["nll_after"] <= cal["nll_before"] + 1e-9
    saved = json.loads((run / "best" / "config.json").read_text(encoding="utf-8"))
    assert saved[TEMPERATURE_KEY] == pytest.approx(cal["temperature"])
    predictor = Predictor.from_path(run, device="cpu")
    assert predictor.temperature == pytest.approx(cal["temperature"])
    logits = predictor.logits(["the film was great"])
    expected = softmax(logits, cal["temperature"])[0].max()
    assert predictor.predict(["the film was great"])[0].score == pytest.approx(expected, rel=1e-5)


def test_analyze_errors_are_one_line(finished_run, tmp_path, capsys) -> None:
    code, _, err = _analyze(capsys, str(finished_run), "--split", "test", "--no-label-issues")
    last = err.splitlines()[-1]  # after the progress lines
    assert code == 2 and last.startswith("error: ") and "no test split" in last

    no_best = Path(shutil.copytree(finished_run, tmp_path / "no-best", ignore=shutil.ignore_patterns("best")))
    code, _, err = _analyze(capsys, str(no_best))
    assert code == 2 and err.startswith("error: ") and "no best/" in err and len(err.splitlines()) == 1

    running = Path(shutil.copytree(finished_run, tmp_path / "running"))
    first = json.loads((running / "events.jsonl").read_text(encoding="utf-8").splitlines()[0])
    first["pid"] = os.getpid()  # a run_started whose process lives, and nothing after it
    (running / "events.jsonl").write_text(json.dumps(first) + "\n", encoding="utf-8")
    code, _, err = _analyze(capsys, str(running))
    assert code == 2 and "still running" in err and len(err.splitlines()) == 1

    code, _, err = _analyze(capsys, str(tmp_path / "nowhere"))
    assert code == 2 and "not a run folder" in err
