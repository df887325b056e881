"""Multi-label classification: list labels, the task, the CLI end to end, pipeline agreement, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLE, stop_at_step_then_resume, tiny_train_flags, write_csv
from tui_lab.cli import main
from tui_lab.core.config import LabConfig
from tui_lab.core.data.splits import load_data
from tui_lab.core.errors import DataError
from tui_lab.core.settings import DataConfig
from tui_lab.core.tasks import MultiLabelTask
from tui_lab.core.tasks.metrics import tune_threshold
from tui_lab.core.training.events import Evaluated, Notice
from tui_lab.core.training.loop import Trainer

TICKETS = SAMPLE / "tickets"
MIN_F1_MICRO = 0.9  # tiny-bert, 5 epochs on sample_data/tickets: dev 0.949, test 0.937 (README)


def _subset(folder: Path, sizes: dict[str, int]) -> Path:
    """The first rows of each tickets/ split, as JSONL in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        lines = (TICKETS / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[:n]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _train(*flags: str) -> tuple[Path, dict, str]:
    """``tui-lab train ... --json`` in a subprocess: (run folder, summary, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "tui_lab", "train", *flags],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return Path(summary["run_dir"]), summary, proc.stderr


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, dict, str]:
    """tiny-bert trained briefly on a subset of sample_data/tickets by the real command."""
    tmp = tmp_path_factory.mktemp("ml")
    data = _subset(tmp / "data", {"train": 160, "dev": 40, "test": 40})
    return _train(*tiny_train_flags(data, tmp / "runs", "tickets", epochs=2))


# -- data --------------------------------------------------------------------------------------------
def test_list_labels_are_detected_and_encoded_as_index_lists(tmp_path: Path) -> None:
    rows = [
        {"text": f"t{i}", "labels": labels} for i, labels in enumerate([["b", "a"], ["c"], [], ["a", "c"]])
    ]
    bundle = load_data(DataConfig(train=str(_jsonl(tmp_path / "train.jsonl", rows)), dev_fraction=0.25))
    assert bundle.multilabel and bundle.label_names == ["a", "b", "c"]
    encoded = sorted(bundle.train.labels + bundle.dev.labels, key=len)
    assert encoded == [[], [2], [1, 0], [0, 2]]  # order within a row as given, names -> indices


def test_delimited_string_labels_need_the_multilabel_task(tmp_path: Path) -> None:
    rows = [("a ticket", "billing;refund"), ("b ticket", "bug"), ("c ticket", "refund"), ("d", "bug;billing")]
    path = write_csv(tmp_path / "t.csv", rows)
    single = load_data(DataConfig(train=str(path), dev_fraction=0.25))
    assert not single.multilabel and "billing;refund" in single.label_names  # a plain class name
    multi = load_data(DataConfig(train=str(path), dev_fraction=0.25, label_delimiter=";"), multilabel=True)
    assert multi.multilabel and multi.label_names == ["billing", "bug", "refund"]
    with pytest.raises(DataError, match="no text of .* has more than one label"):
        load_data(DataConfig(train=str(path), dev_fraction=0.25), multilabel=True)  # "|" splits nothing


@pytest.mark.parametrize(
    ("rows", "flags", "expect"),
    [
        (
            [["x"], ["y"], ["x", "y"]],
            ["--task", "classify"],
            "are lists (multi-label data, e.g.",
        ),
        ([[], [], []], [], "every label list of"),
        ([["x"], ["x"], ["x"]], [], "has a single label ('x')"),
    ],
)
def test_bad_multilabel_inputs_are_one_line_via_the_cli(capsys, tmp_path: Path, rows, flags, expect) -> None:
    data = [{"text": f"text number {i}", "labels": labels} for i, labels in enumerate(rows * 4)]
    path = _jsonl(tmp_path / "train.jsonl", data)
    code = main(["train", "--train", str(path), "--output-dir", str(tmp_path / "runs"), *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and expect in err
    assert not (tmp_path / "runs").exists()


def test_a_metric_the_task_lacks_is_refused(capsys, tmp_path: Path) -> None:
    data = _subset(tmp_path / "data", {"train": 40})
    code = main(["train", "--train", str(data), "--metric", "accuracy", "--output-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "train.metric_for_best_model accuracy is not a metric of the multilabel task" in err


# -- the task ----------------------------------------------------------------------------------------
def test_targets_metrics_and_decoding() -> None:
    from sklearn.metrics import f1_score

    task = MultiLabelTask(["a", "b", "c"])
    y = task.targets([[0], [1, 2], []])
    assert y.dtype == np.float32 and y.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]
    probs = np.array([[0.9, 0.2, 0.3], [0.1, 0.7, 0.4], [0.3, 0.1, 0.2]], dtype=np.float32)
    m = task.metrics(y, probs)
    pred = (probs >= 0.5).astype(int)  # row 1 misses c at the default threshold
    assert m["f1_micro"] == pytest.approx(f1_score(y, pred, average="micro"))
    assert m["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))
    assert m["subset_accuracy"] == pytest.approx(2 / 3) and m["per_class"]["b"]["support"] == 1
    assert m["f1/a"] == 1.0 and m["f1/c"] == 0.0 and "confusion_matrix" not in m
    # 0.35 and 0.4 get every label right; the tie goes to the one nearer 0.5
    assert m["tuned"] == {"threshold": 0.4, "f1_micro": pytest.approx(1.0)}
    assert task.decode("text", probs[1]).labels == ["b"]
    assert task.calibrate(m) == {"tui_lab_threshold": 0.4}
    p = task.decode("text", probs[1])
    assert p.labels == ["b", "c"] and p.label == "b|c" and p.score == pytest.approx(0.7)
    assert p.to_dict()["threshold"] == 0.4 and set(p.to_dict()["probabilities"]) == {"a", "b", "c"}


def test_threshold_ties_go_to_the_one_nearest_one_half() -> None:
    y = np.array([[1, 0], [0, 1]])
    probs = np.array([[0.9, 0.1], [0.1, 0.9]])
    assert tune_threshold(y, probs)[0] == 0.5


# -- end to end ----------------------------------------------------------------------------------
def test_cli_detects_list_labels_and_saves_a_multilabel_model(tiny_run) -> None:
    run_dir, summary, stderr = tiny_run
    assert stderr.splitlines()[1] == "info: task: multilabel (labels are lists)"  # right after "run ..."
    assert {"f1_micro", "f1_macro", "subset_accuracy", "loss"} <= set(summary["best"])
    config = json.loads((run_dir / "best" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    report = json.loads((run_dir / "report.json").read_text())
    assert report["task"] == "multilabel" and report["config"]["train"]["metric_for_best_model"] == "f1_micro"
    assert report["config"]["model"]["task"] == "multilabel"
    assert config["tui_lab_threshold"] == report["dev"]["tuned"]["threshold"] == report["test"]["threshold"]
    assert {"train/loss", "eval/f1_micro", "test/f1_micro"} <= set(_tb_tags(run_dir / "tb"))


def _tb_tags(log_dir: Path) -> list[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return acc.Tags()["scalars"]


@pytest.mark.slow
def test_cli_trains_the_tickets_sample_to_a_clear_micro_f1(tmp_path: Path) -> None:
    _, summary, _ = _train(
        "--train", str(TICKETS), "--epochs", "5", "--output-dir", str(tmp_path), "--no-baseline", "--json"
    )
    assert summary["best"]["f1_micro"] >= MIN_F1_MICRO and summary["test"]["f1_micro"] >= MIN_F1_MICRO


def test_pipeline_and_predict_choose_the_same_labels(tiny_run, capsys) -> None:
    from transformers import pipeline

    run_dir, _, _ = tiny_run
    best = run_dir / "best"
    threshold = json.loads((best / "config.json").read_text())["tui_lab_threshold"]
    texts = [json.loads(line)["text"] for line in (TICKETS / "test.jsonl").read_text().splitlines()[100:130]]
    assert main(["predict", str(run_dir), "--json", *texts]) == 0
    ours = json.loads(capsys.readouterr().out)["predictions"]
    pipe = pipeline("text-classification", model=str(best), top_k=None, function_to_apply="sigmoid")
    theirs = pipe(texts)
    assert any(p["labels"] for p in ours)  # the comparison is not between two empty sets
    for p, scores in zip(ours, theirs):
        assert p["threshold"] == threshold and set(p["probabilities"]) == {s["label"] for s in scores}
        chosen = sorted(s["label"] for s in scores if s["score"] >= threshold)
        assert sorted(p["labels"]) == chosen
        for s in scores:
            assert p["probabilities"][s["label"]] == pytest.approx(s["score"], abs=1e-4)


def test_eval_scores_a_multilabel_model_as_its_run_did(tiny_run, capsys) -> None:
    run_dir, _, _ = tiny_run
    test_file = run_dir.parent.parent / "data" / "test.jsonl"
    assert main(["eval", str(run_dir), "--data", str(test_file), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    report = json.loads((run_dir / "report.json").read_text())
    for key in ("f1_micro", "f1_macro", "subset_accuracy"):
        assert result[key] == pytest.approx(report["test"][key], abs=1e-6)
    assert result["headline"][0] == "f1_micro" and "confusion_matrix" not in result
    assert main(["eval", str(run_dir), "--data", str(test_file)]) == 0
    assert "f1/billing" in capsys.readouterr().out


def _ml_config(tmp_path: Path) -> LabConfig:
    cfg = LabConfig()
    cfg.data.train = str(_subset(tmp_path / "data", {"train": 160, "dev": 40, "test": 40}))
    cfg.data.max_length = 32
    cfg.model.vocab_size = 300
    cfg.train.epochs = 2
    cfg.train.batch_size = 16
    cfg.train.baseline = False
    cfg.train.tensorboard = False
    cfg.train.output_dir = str(tmp_path / "runs")
    cfg.train.run_name = "full"
    return cfg


def test_multilabel_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    cfg = _ml_config(tmp_path)
    events: list = []
    full = Trainer(cfg, [events.append]).run()
    assert any(isinstance(e, Notice) and e.text == "task: multilabel (labels are lists)" for e in events)
    dev = [e for e in events if isinstance(e, Evaluated) and e.split == "dev"]
    assert dev and dev[0].confusion_matrix is None and "f1_micro" in dev[0].metrics

    part, resumed, start_step = stop_at_step_then_resume(cfg, 13)
    assert part.status == "stopped" and part.step == 13 and start_step == 13
    assert resumed.step == full.step and resumed.best == full.best and resumed.test == full.test
