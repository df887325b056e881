"""One fold of a run's events: the runs list, ``tui-lab runs`` and the lab's charts agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui_lab.core.training.events import (
    Evaluated,
    Event,
    JsonlSink,
    Notice,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStatus,
    StepLogged,
    read_events,
)
from tui_lab.core.training.history import RunHistory
from tui_lab.core.training.runs import list_runs, model_label, run_info


def _started(pid: int, start_step: int = 0, model: str = "tiny-bert") -> RunStarted:
    return RunStarted(
        run_dir="x", run_name="x", model=model, labels=["a", "b"], n_train=10, n_dev=2, n_test=0,
        epochs=2, steps_per_epoch=5, total_steps=10, device="cpu", precision="fp32",
        start_step=start_step, pid=pid, world_size=2,
    )  # fmt: skip


def _step(i: int) -> StepLogged:
    return StepLogged(
        step=i, total_steps=10, epoch=i / 5, loss=1.0, learning_rate=1e-3, grad_norm=None,
        samples_per_second=1.0, elapsed=1.0, eta_seconds=1.0,
    )  # fmt: skip


def _dev(step: int, acc: float, best: bool) -> Evaluated:
    return Evaluated(
        step=step, epoch=step / 5, split="dev", metrics={"accuracy": acc}, confusion_matrix=[[1]],
        labels=["a"], is_best=best,
    )  # fmt: skip


def _finished(status: str, step: int) -> RunFinished:
    return RunFinished(
        status=status, step=step, epochs_completed=2.0, best={"accuracy": 0.9}, test={"accuracy": 0.8},
        train_samples_per_second=1.0, stopped_early=False,
    )  # fmt: skip


def _write(folder: Path, events: list[Event]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sink = JsonlSink(folder / "events.jsonl")
    for e in events:
        sink(e)
    sink.close()
    return folder


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_status_of_every_kind_of_log(tmp_path: Path) -> None:
    live, dead = os.getpid(), _dead_pid()
    runs = {
        "empty": [Notice(level="info", text="hello")],
        "running": [_started(live), _step(1)],
        "interrupted": [_started(dead), _step(1)],
        "completed": [_started(dead), _step(5), _finished("completed", 10)],
        "early_stopped": [_started(dead), _finished("early_stopped", 6)],
        "failed": [_started(dead), _step(3), RunFailed(message="disk full.", error_type="OSError", step=3)],
    }
    for name, events in runs.items():
        info = run_info(_write(tmp_path / name, events))
        assert info.status == RunStatus(name) and info.status is RunStatus(name), name
    assert run_info(tmp_path / "failed").message == "disk full." and run_info(tmp_path / "failed").step == 3
    rows = {r.name: r.to_dict() for r in list_runs(tmp_path)}
    assert json.loads(json.dumps(rows["completed"]))["status"] == "completed"  # a plain string in --json
    assert set(rows["completed"]) == {
        "name", "path", "status", "model", "started", "step", "total_steps", "best", "test", "world_size",
        "message", "damage",
    }  # fmt: skip


def test_run_info_and_the_charts_fold_a_resumed_run_alike(tmp_path: Path) -> None:
    dead = _dead_pid()
    first = _started(dead)
    events = [first, _step(1), _dev(2, 0.6, True), _step(3), _dev(4, 0.5, False)]
    events += [_started(dead, start_step=2), _step(3), _dev(4, 0.7, True), _finished("stopped", 4)]
    info = run_info(_write(tmp_path / "r", events))
    history = RunHistory()
    history.extend(read_events(tmp_path / "r" / "events.jsonl"))
    assert info.status == history.status == RunStatus.STOPPED
    assert info.started == history.first_started_at == first.time  # the first start, not the resume's
    assert history.evaluated_at_steps == [2, 4] and history.metric_series("accuracy") == [0.6, 0.7]
    assert info.step == history.step == 4 and info.world_size == 2 and info.total_steps == 10
    assert info.best == {"accuracy": 0.9} and info.test == {"accuracy": 0.8}


def test_an_unknown_finish_word_reads_as_stopped() -> None:
    history = RunHistory()
    history.extend([_started(1), _finished("teleported", 3)])
    assert history.status == RunStatus.STOPPED


def test_old_logs_with_message_events_read_as_notices(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text('{"event":"message","time":1.0,"level":"warning","text":"dropped 3 rows"}\n')
    (event,) = read_events(log)
    assert isinstance(event, Notice) and event.text == "dropped 3 rows"
    assert json.loads(event.to_json())["event"] == "message"  # new logs read the same way
    history = RunHistory()
    history.apply(event)
    assert history.notices == [event]


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        ("tiny-bert", "tiny-bert"),
        ("distilbert-base-uncased", "distilbert-base-uncased"),
        ("org/some-model", "org/some-model"),
        ("/home/me/.venv/lib/python3.11/site-packages/models/my-bert", "my-bert"),
        ("/home/me/models/my-bert/", "my-bert"),
        ("./my-bert", "my-bert"),
        ("runs/sentiment/best", "sentiment/best"),
    ],
)
def test_model_label(model: str, shown: str) -> None:
    assert model_label(model) == shown


def test_model_label_of_a_relative_folder_with_one_slash(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "models" / "mine").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert model_label("models/mine") == "mine"  # a folder here, not a hub id


def test_runs_command_shows_a_folder_model_by_its_name(tmp_path: Path, capsys) -> None:
    from tui_lab.cli import main

    venv_model = "/opt/venvs/lab/.venv/lib/python3.11/site-packages/zoo/sentiment-bert"
    _write(tmp_path / "r", [_started(_dead_pid(), model=venv_model), _finished("completed", 10)])
    assert main(["runs", "--output-dir", str(tmp_path)]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert "sentiment-bert" in row and "completed" in row and "/opt" not in row
