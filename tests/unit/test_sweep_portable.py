"""A sweep folder is portable: ``sweep.json`` stores a journal inside the folder relative to it and
trials store their run folders the same way, so a folder copied, moved or mounted at another path
resumes and opens there; entries an older tui-lab wrote as absolute paths are still read, an RDB
URL is left as it is."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_rows, write_csv
from tests.ui.fake_runs import TRIALS, fake_sweep
from tui_lab.core.sweeps import board
from tui_lab.core.sweeps import study as studies
from tui_lab.core.training.events import Notice, read_events

CLI = [sys.executable, "-m", "tui_lab"]


def info(storage: str) -> studies.SweepInfo:
    return studies.SweepInfo(
        "s", storage, "f1_macro", "maximize", {"train.learning_rate": "1e-4..1e-2:log"}, 2
    )


def test_a_journal_inside_the_folder_is_stored_relative_and_read_where_the_folder_is(tmp_path: Path) -> None:
    first = tmp_path / "a" / "s"
    first.mkdir(parents=True)
    written = info(str(first / studies.JOURNAL_FILE))
    written.write(first)
    study = studies.open_study(written)
    trial = study.ask()
    trial.set_user_attr("run_dir", studies.run_dir_attr(first / "trial-000", first, written.storage))
    assert json.loads((first / "sweep.json").read_text())["storage"] == "study.journal"
    assert trial.user_attrs["run_dir"] == "trial-000"
    (first / "trial-000").mkdir()
    moved = tmp_path / "elsewhere" / "s2"
    moved.parent.mkdir()
    shutil.move(first, moved)
    read = studies.read_sweep_info(moved)
    assert read.storage == str(moved.resolve() / "study.journal")
    (row,) = board.trial_rows(moved)  # the study, read from the new place, with its trial
    assert row.state == "running" and row.run_dir == str(moved.resolve() / "trial-000")


@pytest.mark.parametrize(
    "storage",
    ["postgresql://lab@db-host/optuna", "sqlite:///shared/optuna.db"],
)
def test_an_rdb_url_is_stored_as_it_is(tmp_path: Path, storage: str) -> None:
    info(storage).write(tmp_path)
    assert json.loads((tmp_path / "sweep.json").read_text())["storage"] == storage
    assert studies.read_sweep_info(tmp_path).storage == storage
    assert studies.run_dir_attr(tmp_path / "trial-000", tmp_path, storage) == str(
        tmp_path.resolve() / "trial-000"
    )


def test_a_journal_outside_the_folder_stays_absolute(tmp_path: Path) -> None:
    outside = tmp_path / "journals" / "s.journal"
    info(str(outside)).write(tmp_path / "s")
    assert json.loads((tmp_path / "s" / "sweep.json").read_text())["storage"] == str(outside)
    assert studies.read_sweep_info(tmp_path / "s").storage == str(outside)


def test_an_old_folder_with_absolute_paths_opens_after_a_move(tmp_path: Path) -> None:
    from tui_lab.ui.widgets.sweep_data import SweepReader

    old = fake_sweep(tmp_path / "old")  # written as before: absolute storage and run folders
    assert json.loads((old / "sweep.json").read_text())["storage"] == str(old / "study.journal")
    new = tmp_path / "new" / "sweep-a"
    new.parent.mkdir()
    shutil.move(old, new)
    assert studies.read_sweep_info(new).storage == str(new.resolve() / "study.journal")
    rows = board.trial_rows(new)
    assert len(rows) == len(TRIALS) and all(r.run_dir.startswith(str(new.resolve())) for r in rows)
    snap = SweepReader(new).read()  # the Sweep screen's reader: every run folder's curve found
    assert not snap.error and sum(bool(c.values) for c in snap.curves.values()) == 4


@pytest.mark.slow
def test_a_stopped_sweep_moved_elsewhere_resumes_there(tmp_path: Path) -> None:
    write_csv(tmp_path / "data" / "train.csv", make_rows(64, 1))
    write_csv(tmp_path / "data" / "dev.csv", make_rows(16, 2))
    args = [
        *CLI, "sweep", "--train", str(tmp_path / "data"), "--output-dir", str(tmp_path / "a"), "--study", "s",
        "--trials", "2", "--pruner", "none", "--max-length", "16", "--set", "model.vocab_size=200",
        "--batch-size", "8", "--epochs", "1", "--max-steps", "40", "--eval-steps", "1", "--patience", "0",
        "--no-baseline", "--no-tensorboard", "--search", "learning_rate=1e-4..1e-2:log", "--devices", "cpu",
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = tmp_path / "a" / "s"
    end = time.monotonic() + 300
    while not (first / "trial-000" / "last").exists():
        assert time.monotonic() < end and proc.poll() is None
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=300) == 130
    moved = tmp_path / "b" / "moved"
    moved.parent.mkdir()
    shutil.move(first, moved)
    done = subprocess.run([*CLI, "sweep", "--resume", str(moved), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["storage"] == str(moved.resolve() / "study.journal")
    assert [t["state"] for t in summary["trials"]] == ["complete", "complete"]
    assert {Path(t["run_dir"]).parent for t in summary["trials"]} == {moved.resolve()}
    notes = [e.text for e in read_events(moved / "trial-000" / "events.jsonl") if isinstance(e, Notice)]
    assert any(n.startswith("resumed from step") for n in notes)  # trial 0 went on from its last/
    assert not first.exists()  # nothing was written where the folder used to be
