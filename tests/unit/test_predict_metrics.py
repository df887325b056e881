"""Prediction from a run folder, metrics, the baseline and device readings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_lab.core.data.splits import Split
from tui_lab.core.deploy.predictor import Predictor, resolve_model_dir
from tui_lab.core.errors import ConfigError, ModelError
from tui_lab.core.tasks.metrics import classification_metrics, is_improvement
from tui_lab.core.training.baseline import run_baseline
from tui_lab.core.training.device import DeviceMonitor, resolve_precision
from tui_lab.core.training.loop import Trainer


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    from tests.conftest import make_rows, write_csv
    from tui_lab.core.config import LabConfig

    root = tmp_path_factory.mktemp("predict")
    write_csv(root / "data" / "train.csv", make_rows(240, 1))
    write_csv(root / "data" / "dev.csv", make_rows(60, 2))
    cfg = LabConfig()
    cfg.data.train, cfg.data.max_length, cfg.model.vocab_size = str(root / "data"), 32, 300
    cfg.train.epochs, cfg.train.batch_size, cfg.train.output_dir = 3, 16, str(root / "runs")
    return Path(Trainer(cfg).run().run_dir)


def test_predictor_from_a_run_folder(trained_run: Path) -> None:
    predictor = Predictor.from_path(trained_run)
    assert predictor.source.endswith("best") and predictor.labels == ["neg", "pos"]
    preds = predictor.predict(["the film was wonderful", "the pizza was awful", ""])
    assert [p.label for p in preds[:2]] == ["pos", "neg"]
    for p in preds:
        assert set(p.probabilities) == {"neg", "pos"}
        assert abs(sum(p.probabilities.values()) - 1.0) < 1e-5 and p.score == max(p.probabilities.values())


def test_best_folder_loads_with_the_transformers_pipeline(trained_run: Path) -> None:
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(trained_run / "best"), device="cpu")
    ours = Predictor.from_path(trained_run).predict(["the hotel was superb", "the staff was dreadful"])
    theirs = clf(["the hotel was superb", "the staff was dreadful"])
    assert [t["label"] for t in theirs] == [p.label for p in ours]
    assert abs(theirs[0]["score"] - ours[0].score) < 1e-4


def test_model_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model_dir(tmp_path / "nope")
    (tmp_path / "run").mkdir()
    with pytest.raises(ModelError, match="holds no model yet"):
        resolve_model_dir(tmp_path / "run")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ModelError, match="is a file"):
        resolve_model_dir(tmp_path / "f.txt")


def test_a_base_model_without_a_head_is_refused_for_prediction(tmp_path: Path) -> None:
    from tests.unit.test_modeling import _save_base_model

    folder = _save_base_model(tmp_path / "base")
    with pytest.raises(ModelError, match="without a classification head"):
        Predictor.from_path(folder)


def test_metrics_match_hand_counts() -> None:
    m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b"], loss=0.5)
    assert m["accuracy"] == 0.75 and m["confusion_matrix"] == [[1, 1], [0, 2]]
    assert m["recall_macro"] == pytest.approx(0.75) and m["precision_macro"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["per_class"]["b"]["recall"] == 1.0 and m["loss"] == 0.5 and m["n"] == 4
    assert is_improvement(0.3, 0.4, "loss") and not is_improvement(0.3, 0.4, "accuracy")


def test_baseline_on_words_and_on_cjk() -> None:
    from tests.conftest import make_rows

    rows = make_rows(200)
    split = Split([t for t, _ in rows], [int(lab == "pos") for _, lab in rows])
    result = run_baseline(split, split, None, ["neg", "pos"])
    assert result["dev"]["accuracy"] == 1.0 and result["test"] is None
    zh = Split(["很好吃", "太难吃了", "非常满意", "很失望"] * 10, [1, 0, 1, 0] * 10)
    assert run_baseline(zh, zh, zh, ["neg", "pos"])["test"]["accuracy"] == 1.0


def test_a_fitted_baseline_is_read_back_for_the_same_splits_only(tmp_path, monkeypatch) -> None:
    from tests.conftest import make_rows
    from tui_lab.core import cache
    from tui_lab.core.training import baseline

    monkeypatch.setenv("TUI_LAB_CACHE", str(tmp_path / "cache"))
    cache.clear_memory()
    fits: list[int] = []
    real = baseline.run_baseline
    monkeypatch.setattr(baseline, "run_baseline", lambda *a: fits.append(1) or real(*a))
    rows = make_rows(120)
    train = Split([t for t, _ in rows], [int(lab == "pos") for _, lab in rows])
    dev = train.subset(range(40))
    first = baseline.cached_baseline(train, dev, None, ["neg", "pos"])
    again = baseline.cached_baseline(train, dev, None, ["neg", "pos"])
    assert len(fits) == 1 and again.pop("cached") is True and again == first
    assert len(list((tmp_path / "cache" / "baselines").glob("*.json"))) == 1
    baseline.cached_baseline(train, train.subset(range(41)), None, ["neg", "pos"])  # another dev
    baseline.cached_baseline(train, dev, None, ["neg", "pos"], seed=7)  # another seed
    assert len(fits) == 3


def test_cpu_precision_and_readings() -> None:
    assert resolve_precision("auto", "cpu").precision == "fp32"
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", "cpu")
    sample = DeviceMonitor("cpu").sample()
    assert sample.device == "cpu" and sample.memory_total_mb > 0 and sample.process_memory_mb > 0


def test_baseline_keeps_one_character_words_and_never_raises() -> None:
    digits = Split(["1", "2", "1", "2"] * 5, [0, 1, 0, 1] * 5)
    result = run_baseline(digits, digits, None, ["a", "b"])
    assert result["dev"]["accuracy"] == 1.0
    assert (result["train_rows"], result["sampled"]) == (20, False)
    punctuation = Split(["!!", "?", "...", "--"] * 3, [0, 1, 0, 1] * 3)
    skipped = run_baseline(punctuation, punctuation, None, ["a", "b"])
    assert "empty vocabulary" in skipped["skipped"] and "\n" not in skipped["skipped"]
    assert "dev" not in skipped


def test_baseline_learns_from_a_stratified_sample_of_a_large_train(monkeypatch) -> None:
    from collections import Counter

    from tests.conftest import make_rows
    from tui_lab.core.training import baseline

    rows = make_rows(300)
    labels = [0] * 100 + [1] * 200
    train = Split([t for t, _ in rows], labels)
    monkeypatch.setattr(baseline, "MAX_TRAIN_ROWS", 60)
    result = run_baseline(train, train, None, ["neg", "pos"])
    assert (result["train_rows"], result["sampled"]) == (60, True)
    sample = baseline.sample_train(train, 60, 42)
    assert Counter(sample.labels) == {0: 20, 1: 40} and sample.rows == sorted(sample.rows)
    assert all(train.texts[r] == t for r, t in zip(sample.rows, sample.texts))


def scheduling_of_this_process() -> dict:
    """Run in the baseline's child process by the test below (it must be importable)."""
    import os

    from threadpoolctl import threadpool_info

    return {
        "policy": os.sched_getscheduler(0) if hasattr(os, "sched_getscheduler") else None,
        "nice": os.nice(0),
        "pid": os.getpid(),
        "blas_threads": sorted({p["num_threads"] for p in threadpool_info()}),
    }


def test_the_baseline_child_runs_at_idle_priority_with_one_thread_and_can_be_given_up() -> None:
    import os

    from tui_lab.core.training.background import IdleProcess

    job = IdleProcess("tests.unit.test_predict_metrics:scheduling_of_this_process", ())
    facts, error = job.result()
    assert error is None and facts["pid"] != os.getpid()
    assert facts["nice"] == 19 and facts["blas_threads"] == [1]
    if hasattr(os, "SCHED_IDLE"):
        idle = IdleProcess("tests.unit.test_predict_metrics:scheduling_of_this_process", (), priority="idle")
        assert idle.result()[0]["policy"] == os.SCHED_IDLE

    failing = IdleProcess("tui_lab.core.training.baseline:no_such_function", ())
    assert failing.result() == (
        None,
        "AttributeError: module 'tui_lab.core.training.baseline' has no attribute 'no_such_function'",
    )

    slow = IdleProcess("time:sleep", (30,))
    slow.cancel()  # a stopped run does not wait for its baseline
    assert slow._process.poll() is not None


@pytest.mark.slow  # the idle-priority child waits for a free core: under make test's busy workers, minutes
def test_a_run_on_the_cpu_gets_its_baseline_from_the_idle_child(tmp_path) -> None:
    """Above BASELINE_PROCESS_ROWS training rows the baseline is fitted by the low-priority child."""
    from tests.conftest import SAMPLE
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.background import IdleProcess
    from tui_lab.core.training.runlog import RunLog

    started: list[object] = []
    real = RunLog.start_baseline

    def spy(self, target, args, beside):
        real(self, target, args, beside)
        started.append(self._baseline)

    cfg = LabConfig()
    cfg.data.train, cfg.data.max_length = str(SAMPLE / "sentiment"), 32
    cfg.train.epochs, cfg.train.batch_size, cfg.train.output_dir = 1, 64, str(tmp_path)
    cfg.train.tensorboard = False
    from tui_lab.core.training import loop

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RunLog, "start_baseline", spy)
        mp.setattr(loop, "BASELINE_PROCESS_ROWS", 100)  # the sample's 1,500 rows count as many
        result = Trainer(cfg).run()
    assert len(started) == 1 and isinstance(started[0], IdleProcess)
    assert result.baseline["dev"]["accuracy"] > 0.5 and result.baseline["train_rows"] > 0
