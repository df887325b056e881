"""The tui-lab command: end to end on the sample data, exit codes, and one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLE, make_rows, tiny_train_flags, write_csv
from tui_lab.cli import main

CLI = [sys.executable, "-m", "tui_lab"]


def _cli(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=600,
    )


@pytest.fixture(scope="module")
def sentiment_run(tmp_path_factory) -> tuple[Path, dict]:
    """tiny-bert trained by the real command on sample_data/sentiment (the defaults)."""
    out = tmp_path_factory.mktemp("cli") / "runs"
    proc = _cli("train", "--output-dir", str(out), "--run-name", "sentiment", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return Path(summary["run_dir"]), summary


@pytest.mark.slow
def test_train_on_the_sample_data_reaches_the_target(sentiment_run) -> None:
    run_dir, summary = sentiment_run
    assert set(summary) >= {
        "run_dir",
        "best",
        "test",
        "baseline",
        "train_samples_per_second",
        "epochs_completed",
        "stopped_early",
    }
    assert summary["best"]["accuracy"] >= 0.85 and summary["test"]["accuracy"] >= 0.85
    assert summary["baseline"]["dev"]["accuracy"] > 0.5 and summary["epochs_completed"] == 5
    assert summary["stopped_early"] is False and summary["train_samples_per_second"] > 0
    assert (run_dir / "best" / "model.safetensors").exists()


@pytest.mark.slow
def test_pipeline_and_predict_agree(sentiment_run) -> None:
    from transformers import pipeline

    run_dir, _ = sentiment_run
    texts = [
        "The pasta was wonderful and the staff were kind.",
        "Not worth the money, the battery died in a day.",
        "I expected to hate it, but the film was brilliant.",
        "这家餐厅很好吃",
    ]
    proc = _cli("predict", str(run_dir), "-", "--json", stdin="\n".join(texts) + "\n")
    assert proc.returncode == 0, proc.stderr
    ours = json.loads(proc.stdout)["predictions"]
    theirs = pipeline("text-classification", model=str(run_dir / "best"), device="cpu")(texts)
    assert [p["label"] for p in ours] == [t["label"] for t in theirs]
    assert ours[0]["label"] == "positive" and ours[1]["label"] == "negative"
    assert set(ours[0]["probabilities"]) == {"negative", "positive"}


@pytest.mark.slow
def test_eval_and_runs_commands(sentiment_run, capsys) -> None:
    run_dir, summary = sentiment_run
    assert main(["eval", str(run_dir), "--data", str(SAMPLE / "sentiment" / "test.csv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {
        "accuracy",
        "f1_macro",
        "precision_macro",
        "recall_macro",
        "confusion_matrix",
        "labels",
        "n",
    }
    assert result["n"] == 300 and result["accuracy"] == pytest.approx(summary["test"]["accuracy"])
    assert main(["runs", "--output-dir", str(run_dir.parent), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert runs[0]["name"] == "sentiment" and runs[0]["status"] == "completed"
    assert main(["runs", "--output-dir", str(run_dir.parent)]) == 0
    listed = capsys.readouterr().out
    assert "sentiment" in listed and f"acc {summary['best']['accuracy']:.3f}" in listed


def test_multiclass_and_chinese_sample_sets_load(capsys) -> None:
    from tui_lab.core.data.splits import load_data
    from tui_lab.core.settings import DataConfig

    topics = load_data(DataConfig(train=str(SAMPLE / "topics")))
    assert len(topics.label_names) == 4 and len(topics.test) > 0
    zh = load_data(DataConfig(train=str(SAMPLE / "zh_sentiment")))
    assert zh.label_names == ["negative", "positive"] and any(
        "\u4e00" <= c <= "\u9fff" for c in zh.train.texts[0]
    )


@pytest.mark.slow  # 4,000 rows in a subprocess; make test keeps test_reliability's SIGTERM case
def test_sigint_saves_last_and_exits_130(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_csv(data / "train.csv", make_rows(4000, 1))
    write_csv(data / "dev.csv", make_rows(40, 2))
    out = tmp_path / "runs"
    proc = subprocess.Popen(
        [
            *CLI,
            "train",
            "--train",
            str(data),
            "--output-dir",
            str(out),
            "--run-name",
            "r",
            "--epochs",
            "50",
            "--no-baseline",
            "--max-length",
            "32",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    events = out / "r" / "events.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not events.exists() or '"step"' not in events.read_text()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    assert (out / "r" / "last" / "trainer_state.json").exists()
    assert '"status":"stopped"' in events.read_text()


# -- a user's errors: exit 2, one line on stderr, nothing written -----------------------------------
def _one_line_error(capsys, args: list[str], expect: str) -> None:
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert expect in err, err


@pytest.mark.parametrize(
    ("flags", "expect"),
    [
        (["--epochs", "0"], "train.epochs must be at least 1"),
        (["--epochs", "-2"], "train.epochs must be at least 1"),
        (["--batch-size", "0"], "train.batch_size must be at least 1"),
        (["--lr", "-0.1"], "train.learning_rate must be greater than 0"),
        (["--lr", "0"], "train.learning_rate must be greater than 0"),
        (["--patience", "-1"], "train.patience must be at least 0"),
        (["--precision", "fp8"], "train.precision must be one of"),
        (["--precision", "fp16"], "fp16 needs a CUDA GPU"),
        (["--epochs", "three"], "train.epochs must be a whole number"),
        (["--run-name", "../../etc"], "train.run_name must be a plain folder name"),
        (["--set", "train.nope=1"], "unknown configuration key 'train.nope'"),
        (["--train", "/no/such/file.csv"], "does not exist"),
        (["--model", "no-such-org/no-such-model"], "use an offline preset (--model tiny-bert or small-bert)"),
        (["--text-column", "body"], "has no column 'body'"),
    ],
)
def test_bad_train_flags(capsys, tmp_path: Path, flags: list[str], expect: str) -> None:
    out = tmp_path / "runs"
    _one_line_error(capsys, ["train", "--output-dir", str(out), *flags], expect)
    assert not out.exists() or not any(out.iterdir())


def test_bad_files_via_the_cli(capsys, tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(b"text,label\ncaf\xe9,pos\nx,neg\n")
    _one_line_error(capsys, ["train", "--train", str(tmp_path / "latin.csv")], "not UTF-8")
    write_csv(tmp_path / "one.csv", [(f"t {i}", "pos") for i in range(10)])
    _one_line_error(capsys, ["train", "--train", str(tmp_path / "one.csv")], "single label")
    (tmp_path / "bad.toml").write_text("[train]\nepochs = 'x'\n")
    _one_line_error(
        capsys, ["train", "--config", str(tmp_path / "bad.toml")], "train.epochs must be a whole number"
    )
    _one_line_error(capsys, ["predict", str(tmp_path), "hello"], "holds no model yet")
    _one_line_error(
        capsys, ["eval", str(tmp_path / "nope"), "--data", str(tmp_path / "one.csv")], "does not exist"
    )
    _one_line_error(capsys, ["train", "--resume", str(tmp_path)], "no last/ checkpoint")


def test_existing_run_name_is_not_overwritten(capsys, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "keep"
    run.mkdir(parents=True)
    (run / "events.jsonl").write_text("precious\n")
    _one_line_error(
        capsys,
        [
            "train",
            "--output-dir",
            str(tmp_path / "runs"),
            "--run-name",
            "keep",
            "--train",
            str(SAMPLE / "sentiment"),
        ],
        "already exists",
    )
    assert (run / "events.jsonl").read_text() == "precious\n"


def test_usage_errors_are_one_line_with_exit_2() -> None:
    proc = _cli("train", "--no-such-flag")
    assert proc.returncode == 2
    assert (
        proc.stderr.startswith("error: unrecognized arguments: --no-such-flag")
        and proc.stderr.count("\n") == 1
    )


def test_multi_label_data_in_a_classify_run_is_one_line_error(tmp_path: Path) -> None:
    rows = [
        {"text": f"{t} number {i}", "label": ["pos", "fun"] if i % 2 else ["neg"]}
        for i, (t, _) in enumerate(make_rows(20))
    ]
    data = tmp_path / "multi.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "runs"
    proc = _cli("train", "--train", str(data), "--output-dir", str(out), "--task", "classify")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "are lists (multi-label data" in proc.stderr and "--task multilabel" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_predict_and_eval_write_nothing_on_stderr(tiny_data: Path, tmp_path: Path) -> None:
    trained = _cli("train", *tiny_train_flags(tiny_data, tmp_path / "runs", "quiet", epochs=1))
    assert trained.returncode == 0, trained.stderr
    run_dir = json.loads(trained.stdout.strip().splitlines()[-1])["run_dir"]
    predicted = _cli("predict", run_dir, "the film was great")
    assert predicted.returncode == 0 and predicted.stdout.startswith(("pos", "neg"))
    assert predicted.stderr == ""
    evaluated = _cli("eval", run_dir, "--data", str(tiny_data / "test.csv"))
    assert evaluated.returncode == 0 and "accuracy" in evaluated.stdout
    assert evaluated.stderr == ""
