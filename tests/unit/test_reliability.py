"""Nothing lost, nothing crashes: kills, signals, failed writes, untrusted files and bad input.

Each bad input is run through the real command line: exit code 2, one line on stderr that names
the problem, no traceback, and nothing written to (or changed in) the output folder.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLE, make_rows, tiny_train_flags, write_csv
from tui_lab.cli import main
from tui_lab.core.config import LabConfig
from tui_lab.core.deploy.predictor import Predictor
from tui_lab.core.errors import CheckpointError
from tui_lab.core.models import checkpoint
from tui_lab.core.training.events import StepLogged, read_events
from tui_lab.core.training.history import RunHistory
from tui_lab.core.training.loop import Trainer
from tui_lab.core.training.runs import list_runs, run_info

CLI = [sys.executable, "-m", "tui_lab"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "train", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )


def _wait_for(path: Path, needle: str, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and needle in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} never appeared in {path}")


# -- faults ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_ends_like_an_uninterrupted_run(
    tiny_data: Path, tmp_path: Path
) -> None:
    full = subprocess.run(
        [*CLI, "train", *tiny_train_flags(tiny_data, tmp_path / "a", "full")],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert full.returncode == 0, full.stderr
    out = tmp_path / "b"
    proc = _start(tiny_train_flags(tiny_data, out, "killed"))
    events = out / "killed" / "events.jsonl"
    _wait_for(events, '"which":"last"')  # the first epoch's last/ is on disk
    _wait_for(events, '"step":20,')  # ... and the second epoch is under way (15 steps an epoch)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert run_info(out / "killed").status == "interrupted"
    resumed = subprocess.run(
        [*CLI, "train", "--resume", str(out / "killed"), "--json"], capture_output=True, text=True, env=ENV
    )
    assert resumed.returncode == 0, resumed.stderr
    a, b = (json.loads(p.stdout.strip().splitlines()[-1]) for p in (full, resumed))
    assert a["best"] == b["best"] and a["test"] == b["test"] and b["epochs_completed"] == 4
    assert run_info(out / "killed").status == "completed"
    # the log kept every line, the replay restarted at the checkpoint's step
    history = RunHistory()
    history.extend(read_events(events))
    assert history.steps == list(range(1, 61))


@pytest.mark.parametrize(
    "sig",
    [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)],  # SIGINT: make test-slow
)
def test_sigterm_and_sigint_save_last_exit_130_and_resume(tiny_data: Path, tmp_path: Path, sig: int) -> None:
    out = tmp_path / "runs"
    proc = _start(tiny_train_flags(tiny_data, out, "sig", epochs=200))
    _wait_for(out / "sig" / "events.jsonl", '"event":"step"')
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    events = read_events(out / "sig" / "events.jsonl")
    assert events[-1].kind == "run_finished" and events[-1].status == "stopped"
    stopped_at = events[-1].step
    cfg = LabConfig.load(out / "sig" / "config.toml")
    cfg.train.epochs = 200
    seen: list[int] = []
    stop_soon = __import__("threading").Event()

    def after_two(event) -> None:
        if isinstance(event, StepLogged):
            seen.append(event.step)
            if len(seen) == 2:
                stop_soon.set()

    Trainer(cfg, [after_two], stop=stop_soon, resume=out / "sig").run()
    assert seen[0] == stopped_at + 1  # resume continued from the saved step


def test_a_failed_checkpoint_write_keeps_the_previous_one_and_says_why(
    tiny_config, monkeypatch, capsys
) -> None:
    tiny_config.train.epochs = 3
    real = checkpoint.save_model
    calls = {"n": 0}

    def disk_full_on_the_third_save(folder, model, tokenizer, *rest) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # epoch 1 wrote best/ and last/; epoch 2's best/ hits a full disk
            real(folder, model, tokenizer, *rest)
            raise OSError(28, "No space left on device")
        real(folder, model, tokenizer, *rest)

    monkeypatch.setattr(checkpoint, "save_model", disk_full_on_the_third_save)
    with pytest.raises(CheckpointError, match="No space left on device.*previous one is kept"):
        Trainer(tiny_config).run()
    run = Path(tiny_config.train.output_dir) / "t"
    assert Predictor.from_path(run).predict(["the film was great"])[0].label in ("neg", "pos")
    assert checkpoint.load_state(run / "last")["step"] == 15  # the previous last/ is intact
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temporary folder left
    assert run_info(run).status == "failed" and "No space left" in run_info(run).message


def test_a_deleted_run_folder_stops_the_run_with_a_clear_message(tiny_config) -> None:
    import shutil

    tiny_config.train.epochs = 3

    def delete_after_first_checkpoint(event) -> None:
        if event.kind == "checkpoint" and event.which == "last":
            shutil.rmtree(Path(event.path).parent)

    with pytest.raises(CheckpointError, match="run folder .* is gone"):
        Trainer(tiny_config, [delete_after_first_checkpoint]).run()


def test_truncated_event_log_is_read_by_every_reader(tiny_config, tmp_path: Path) -> None:
    from tui_lab.core.training.events import EventFollower

    tiny_config.train.epochs = 1
    result = Trainer(tiny_config).run()
    log = Path(result.run_dir) / "events.jsonl"
    with open(log, "a") as fh:
        fh.write('{"event":"step","step":99,"total_st')  # what a crash mid-write leaves
    assert run_info(result.run_dir).status == "completed"
    assert list_runs(Path(result.run_dir).parent)[0].step == 15
    history = RunHistory()
    history.extend(read_events(log))
    assert history.steps[-1] == 15
    follower = EventFollower(log)
    assert follower.poll()[-1].kind == "run_finished"
    assert main(["runs", "--output-dir", str(Path(result.run_dir).parent), "--json"]) == 0


# -- security ---------------------------------------------------------------------------------------
def test_resume_refuses_a_planted_pickle(tiny_config, capsys) -> None:
    stop = __import__("threading").Event()
    tiny_config.train.epochs = 3

    def stop_at_20(event) -> None:
        if isinstance(event, StepLogged) and event.step == 20:
            stop.set()

    run = Path(Trainer(tiny_config, [stop_at_20], stop=stop).run().run_dir)
    marker = Path("/tmp/tui-lab-planted-pickle-ran")
    marker.unlink(missing_ok=True)

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with open(run / "last" / "optimizer.pt", "wb") as fh:
        pickle.dump({"state": Evil()}, fh)
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "optimizer.pt holds more than tensors and was refused" in err and "\n" not in err.strip()
    assert not marker.exists()


def test_pickled_weights_are_not_loaded(tmp_path: Path, capsys) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    model = BertForSequenceClassification(
        BertConfig(
            vocab_size=60, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
        )
    )
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    from tui_lab.core.models.presets import train_wordpiece

    train_wordpiece(["some words here"] * 5, 60).save_pretrained(tmp_path)
    refusal = "has only pickled weights (pytorch_model.bin), which tui-lab does not load"
    assert main(["predict", str(tmp_path), "hello"]) == 2
    assert refusal in capsys.readouterr().err
    assert (
        main(
            ["train", "--model", str(tmp_path), "--output-dir", str(tmp_path / "runs"), "--max-length", "32"]
        )
        == 2
    )
    assert refusal in capsys.readouterr().err


def test_the_lab_opens_no_network_port() -> None:
    import asyncio

    import psutil

    from tui_lab.ui.app import LabApp

    async def run() -> list:
        app = LabApp(LabConfig())
        async with app.run_test(size=(120, 40)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause(0.2)
            return [
                c for c in psutil.Process().net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
            ]

    assert asyncio.run(run()) == []


# -- bad input: exit 2, one line, nothing written ------------------------------------------------------
def _bad(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


GOOD = make_rows(40)


def _csv(rows: list[tuple], header: str = "text,label") -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return buf.getvalue()


CASES: list[tuple[str, dict[str, str | bytes], list[str], str]] = [
    # (case id, files to write under tmp, flags (TMP/ is replaced), the message expected)
    ("missing file", {}, ["--train", "TMP/nope.csv"], "does not exist"),
    ("directory instead of a file", {"d/x.txt": "x"}, ["--train", "TMP/d"], "folder without a train file"),
    (
        "dev is a directory",
        {"t.csv": _csv(GOOD), "d/x": "x"},
        ["--train", "TMP/t.csv", "--dev", "TMP/d"],
        "is a folder, not a file",
    ),
    ("empty file", {"t.csv": ""}, ["--train", "TMP/t.csv"], "is empty"),
    ("header only", {"t.csv": "text,label\n"}, ["--train", "TMP/t.csv"], "header but no rows"),
    ("unknown format", {"t.xlsx": "PK"}, ["--train", "TMP/t.xlsx"], "unknown format '.xlsx'"),
    (
        "no text column",
        {"t.csv": _csv([(1, "a")] * 5, "id,label")},
        ["--train", "TMP/t.csv"],
        "no text column",
    ),
    (
        "no label column",
        {"t.csv": _csv([("some text here", 1)] * 5, "text,score")},
        ["--train", "TMP/t.csv"],
        "no label column",
    ),
    (
        "named column missing",
        {"t.csv": _csv(GOOD)},
        ["--train", "TMP/t.csv", "--label-column", "stars"],
        "no column 'stars'",
    ),
    (
        "single label",
        {"t.csv": _csv([(f"text {i}", "pos") for i in range(20)])},
        ["--train", "TMP/t.csv"],
        "single label",
    ),
    (
        "dev label unknown to train",
        {"t.csv": _csv(GOOD), "v.csv": _csv(GOOD[:5] + [("meh", "neutral")])},
        ["--train", "TMP/t.csv", "--dev", "TMP/v.csv"],
        "'neutral' that the training data does not have",
    ),
    (
        "test label unknown to train",
        {"t.csv": _csv(GOOD), "x.csv": _csv([("ok", "mixed")])},
        ["--train", "TMP/t.csv", "--test", "TMP/x.csv"],
        "'mixed' that the training data does not have",
    ),
    (
        "empty texts",
        {"t.csv": _csv(GOOD + [("", "pos"), ("  ", "neg")])},
        ["--train", "TMP/t.csv"],
        "2 row(s) with an empty text or label",
    ),
    (
        "NaN labels",
        {
            "t.jsonl": "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in GOOD)
            + '{"text": "x", "label": null}\n'
        },
        ["--train", "TMP/t.jsonl"],
        "empty text or label",
    ),
    (
        "non-UTF-8 bytes",
        {"t.csv": b"text,label\ncaf\xe9,pos\nok,neg\n"},
        ["--train", "TMP/t.csv"],
        "not UTF-8",
    ),
    (
        "ragged CSV rows",
        {"t.csv": "text,label\na,pos\nb,neg,oops\n"},
        ["--train", "TMP/t.csv"],
        "line 3 has 3 fields where the header has 2",
    ),
    (
        "broken JSONL",
        {"t.jsonl": '{"text": "a", "label": "x"}\n{"text": \n'},
        ["--train", "TMP/t.jsonl"],
        "not valid JSON Lines",
    ),
    (
        "duplicate column names",
        {"t.csv": "text,label,text\na,b,c\n"},
        ["--train", "TMP/t.csv"],
        "duplicate column names: text",
    ),
    (
        "dev with other columns",
        {"t.csv": _csv(GOOD), "v.csv": _csv(GOOD, "sentence,label")},
        ["--train", "TMP/t.csv", "--dev", "TMP/v.csv"],
        "has no column 'text' like the train file",
    ),
    ("zero epochs", {}, ["--epochs", "0"], "train.epochs must be at least 1"),
    ("negative batch size", {}, ["--batch-size", "-8"], "train.batch_size must be at least 1"),
    ("negative learning rate", {}, ["--lr", "-1e-5"], "train.learning_rate must be greater than 0"),
    ("zero learning rate", {}, ["--lr", "0"], "train.learning_rate must be greater than 0"),
    ("patience below 0", {}, ["--patience", "-1"], "train.patience must be at least 0"),
    ("unknown precision", {}, ["--precision", "fp64"], "train.precision must be one of"),
    ("fp16 on a CPU", {}, ["--precision", "fp16"], "fp16 needs a CUDA GPU"),
    ("max length above the limit", {}, ["--max-length", "100000"], "data.max_length must be at most"),
    ("not a number", {}, ["--lr", "fast"], "train.learning_rate must be a number"),
    (
        "unknown model id offline",
        {},
        ["--model", "someone/not-a-model"],
        "use an offline preset (--model tiny-bert or small-bert)",
    ),
    (
        "model folder without config",
        {"m/readme.txt": "x"},
        ["--model", "TMP/m"],
        "not a Hugging Face model folder",
    ),
    (
        "TOML unknown key",
        {"c.toml": "[train]\nlearnig_rate = 1e-3\n"},
        ["--config", "TMP/c.toml"],
        "unknown key 'train.learnig_rate' (did you mean 'train.learning_rate'?)",
    ),
    (
        "TOML wrong type",
        {"c.toml": '[train]\nbatch_size = "big"\n'},
        ["--config", "TMP/c.toml"],
        "train.batch_size must be a whole number",
    ),
    ("TOML syntax", {"c.toml": "[train\n"}, ["--config", "TMP/c.toml"], "not valid TOML"),
    ("run name with a separator", {}, ["--run-name", "a/b"], "train.run_name must be a plain folder name"),
    ("run name with ..", {}, ["--run-name", ".."], "train.run_name must be a plain folder name"),
    ("resume a folder that does not exist", {}, ["--resume", "TMP/no-run"], "cannot resume"),
    ("output dir is a file", {"out": "x"}, ["--output-dir", "TMP/out"], "is a file, not a folder"),
    ("--set without =", {}, ["--set", "train.epochs"], "--set needs KEY=VALUE"),
]


@pytest.mark.parametrize(("case", "files", "flags", "expect"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_exit_2_and_one_line(case, files, flags, expect, tmp_path: Path, capsys) -> None:
    for name, content in files.items():
        _bad(tmp_path, name, content)
    flags = [f.replace("TMP", str(tmp_path)) for f in flags]
    out = tmp_path / "runs-out"
    if "--output-dir" not in flags:
        flags += ["--output-dir", str(out)]
    code = main(["train", *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert expect in err, err
    assert not out.exists() or not any(out.iterdir())  # nothing written


def test_bf16_where_the_device_lacks_it(monkeypatch, capsys, tmp_path: Path) -> None:
    import torch

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert main(["train", "--precision", "bf16", "--output-dir", str(tmp_path)]) == 2
    assert "bf16 is not supported" in capsys.readouterr().err


def test_a_one_megabyte_text_is_truncated_not_a_crash(tmp_path: Path) -> None:
    data = tmp_path / "d"
    write_csv(data / "train.csv", make_rows(200) + [("word " * 220_000, "pos")])
    write_csv(data / "dev.csv", make_rows(40, 2) + [("word " * 220_000, "neg")])
    cfg = LabConfig()
    cfg.data.train, cfg.data.max_length, cfg.model.vocab_size = str(data), 32, 300
    cfg.train.epochs, cfg.train.output_dir = 1, str(tmp_path / "runs")
    assert Trainer(cfg).run().status == "completed"


def test_eval_and_predict_refuse_models_that_do_not_fit(tmp_path: Path, capsys, monkeypatch) -> None:
    import io

    from tests.unit.test_modeling import _save_base_model

    base = _save_base_model(tmp_path / "base")
    assert main(["predict", str(base), "hello"]) == 2
    assert "without a classification head" in capsys.readouterr().err
    clf = _save_base_model(tmp_path / "clf", labels=["spam", "ham"])
    assert main(["eval", str(clf), "--data", str(SAMPLE / "sentiment" / "test.csv")]) == 2
    assert "labels the model does not know (the model has: spam, ham)" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n\n"))
    assert main(["predict", str(clf), "-"]) == 2  # empty stdin
    assert "no text to label" in capsys.readouterr().err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    assert main(["predict", str(tmp_path / "broken"), "x"]) == 2
    assert "config.json is unreadable" in capsys.readouterr().err
