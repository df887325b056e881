"""The run queue: ``tui-lab queue`` adds configs that detached sweep workers run in order, each an
ordinary run folder ``<output>/queue/<name>`` that ``tui-lab runs`` lists; ctrl+u in the lab adds
the form's config."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_rows, write_csv
from tui_lab.cli import main
from tui_lab.core.config import LabConfig
from tui_lab.core.errors import LabError
from tui_lab.core.sweeps import board
from tui_lab.core.sweeps import queue as runqueue
from tui_lab.core.training.events import RunStarted, read_events

CLI = [sys.executable, "-m", "tui_lab"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("queuedata")
    write_csv(root / "train.csv", make_rows(48, 1))
    write_csv(root / "dev.csv", make_rows(12, 2))
    return root


def queue_args(data: Path, out: Path, name: str, *extra: str) -> list[str]:
    return [
        "queue", "--train", str(data), "--output-dir", str(out), "--run-name", name, "--max-length", "16",
        "--set", "model.vocab_size=200", "--batch-size", "8", "--epochs", "1", "--max-steps", "2",
        "--no-baseline", "--no-tensorboard", *extra,
    ]  # fmt: skip


def test_adding_checks_the_config_and_the_name_before_anything_is_queued(data: Path, tmp_path: Path) -> None:
    config = LabConfig()
    config.data.train, config.train.output_dir = str(data), str(tmp_path / "runs")
    config.train.learning_rate = -1.0
    with pytest.raises(LabError, match="learning_rate"):
        runqueue.add(config, start=False)
    assert not (tmp_path / "runs").exists()
    config.train.learning_rate, config.train.run_name = 1e-3, "a"
    first = runqueue.add(config, start=False)
    assert first.waiting == 1 and first.run_dir == runqueue.queue_dir(tmp_path / "runs") / "a"
    first.run_dir.mkdir()  # the run started: its folder exists
    with pytest.raises(LabError, match="already has a run named a"):
        runqueue.add(config, start=False)
    rows = board.trial_rows(runqueue.queue_dir(tmp_path / "runs"))
    assert [(r.number, r.waiting) for r in rows] == [(0, True)]


@pytest.mark.slow
def test_queued_runs_run_detached_in_order_and_list_as_runs(data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs"
    assert main(queue_args(data, out, "first", "--json")) == 0
    added = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert added["started_workers"] and added["waiting"] == 1
    assert main(queue_args(data, out, "second", "--json")) == 0
    added = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not added["started_workers"] and added["run_dir"].endswith("queue/second")
    folder = runqueue.queue_dir(out)
    assert runqueue.coordinator_alive(folder)  # detached: its own session, outlives this command
    end = time.monotonic() + 300
    while (
        not all(r.state == "complete" for r in board.trial_rows(folder)) or len(board.trial_rows(folder)) < 2
    ):
        assert time.monotonic() < end, (folder / runqueue.LOG_FILE).read_text()[-2000:]
        time.sleep(0.5)
    starts = {
        name: next(e.time for e in read_events(folder / name / "events.jsonl") if isinstance(e, RunStarted))
        for name in ("first", "second")
    }
    assert starts["first"] < starts["second"]  # one worker: in the order added
    listed = subprocess.run(
        [*CLI, "runs", "--output-dir", str(out), "--json"], capture_output=True, text=True
    )
    names = {r["name"]: r["status"] for r in json.loads(listed.stdout.strip().splitlines()[-1])}
    assert names == {"queue/first": "completed", "queue/second": "completed"}
    assert main(["queue", "--output-dir", str(out), "--list"]) == 0
    shown = capsys.readouterr().out
    assert "first" in shown and "second" in shown and shown.count("complete") == 2
