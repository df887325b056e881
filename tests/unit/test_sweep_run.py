"""``tui-lab sweep`` end to end on tiny data: trials are real runs, pruning, two workers on one
journal, a killed worker's trial resumed, a killed sweep resumed, and PostgreSQL shared by two
sweep processes. Each sweep is the real command in a subprocess (its workers are processes too)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import make_rows, write_csv
from tui_lab.core.sweeps import board
from tui_lab.core.sweeps import study as studies
from tui_lab.core.training.events import Notice, RunStarted, read_events

CLI = [sys.executable, "-m", "tui_lab"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweepdata")
    write_csv(root / "train.csv", make_rows(64, 1))
    write_csv(root / "dev.csv", make_rows(16, 2))
    return root


def sweep_args(data: Path, out: Path, *extra: str, steps: int = 2) -> list[str]:
    """A fast sweep: tiny-bert on 64 rows, ``steps`` optimiser steps a trial, no baseline."""
    return [
        *CLI, "sweep", "--train", str(data), "--output-dir", str(out), "--study", "s",
        "--max-length", "16", "--set", "model.vocab_size=200", "--batch-size", "8", "--epochs", "1",
        "--max-steps", str(steps), "--eval-steps", "1", "--patience", "0", "--no-baseline", "--no-tensorboard",
        "--search", "learning_rate=1e-4..1e-2:log", "--search", "warmup_ratio=0..0.2",
        "--devices", "cpu", "--json", *extra,
    ]  # fmt: skip


def run_sweep(args: list[str]) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc, json.loads(proc.stdout.strip().splitlines()[-1])


def wait_for(check: Callable[[], bool], timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def assert_exactly(summary: dict, n: int) -> None:
    numbers = [t["number"] for t in summary["trials"]]
    run_dirs = [t["run_dir"] for t in summary["trials"]]
    assert len(numbers) == n and len(set(numbers)) == n and len(set(run_dirs)) == n
    assert all(t["state"] in ("complete", "pruned", "failed") for t in summary["trials"])


@pytest.mark.slow
def test_a_sweep_of_four_trials_on_two_workers(data: Path, tmp_path: Path) -> None:
    proc, summary = run_sweep(
        sweep_args(data, tmp_path, "--trials", "4", "--parallel", "2", "--pruner", "none", "--keep-best", "1")
    )
    assert_exactly(summary, 4)
    assert summary["metric"] == "f1_macro" and summary["direction"] == "maximize"
    assert all(t["state"] == "complete" and isinstance(t["value"], float) for t in summary["trials"])
    sweep_dir = Path(summary["sweep_dir"])
    assert summary["storage"] == str(sweep_dir / "study.journal") and (sweep_dir / "study.journal").exists()
    info = json.loads((sweep_dir / "sweep.json").read_text())
    assert info["parallel"] == 2 and info["trials"] == 4 and info["config"]["train"]["max_steps"] == 2
    assert set(info["space"]) == {"train.learning_rate", "train.warmup_ratio"}
    workers = {board_row_worker(sweep_dir, t["number"]) for t in summary["trials"]}
    assert len(workers) == 2  # both workers took trials from the one journal
    for t in summary["trials"]:  # each trial is an ordinary run with its own parameters
        run = Path(t["run_dir"])
        report = json.loads((run / "report.json").read_text())
        assert (
            report["status"] == "completed"
            and report["config"]["train"]["learning_rate"] == t["params"]["train.learning_rate"]
        )
        assert (run / "config.toml").exists() and (run / "last").exists() and t["epochs"] > 0
    kept = [t for t in summary["trials"] if (Path(t["run_dir"]) / "best").exists()]
    assert [t["number"] for t in kept] == [summary["best"]["number"]]  # --keep-best 1
    assert set(summary["importance"]) <= {"train.learning_rate", "train.warmup_ratio"}
    listed = subprocess.run(
        [*CLI, "runs", "--output-dir", str(sweep_dir), "--json"], capture_output=True, text=True
    )
    names = {r["name"] for r in json.loads(listed.stdout.strip().splitlines()[-1])}
    assert names == {f"trial-{i:03d}" for i in range(4)}
    assert "best: trial" in proc.stderr and proc.stderr.count("\ntrial ") == 4
    assert board.sweep_summary(sweep_dir) == summary


def board_row_worker(sweep_dir: Path, number: int) -> str:
    import optuna

    info = board.load_sweep(sweep_dir)
    study = optuna.load_study(study_name=info.study, storage=board.open_storage(info.storage))
    return study.trials[number].user_attrs["worker"]


@pytest.mark.slow
def test_a_pruned_trial_is_a_pruned_run_with_last(data: Path, tmp_path: Path) -> None:
    # f1 can never reach 1.01: the threshold pruner prunes at the first evaluation
    _, summary = run_sweep(sweep_args(data, tmp_path, "--trials", "1", "--pruner", "threshold:1.01", steps=4))
    (trial,) = summary["trials"]
    assert trial["state"] == "pruned" and trial["value"] is None and summary["best"] is None
    run = Path(trial["run_dir"])
    report = json.loads((run / "report.json").read_text())
    assert report["status"] == "pruned" and report["steps"] < 4 and (run / "last").exists()
    finished = [e for e in read_events(run / "events.jsonl") if e.kind == "run_finished"]
    assert finished[-1].status == "pruned" and "pruned" in finished[-1].reason


def _resumed(run_dir: Path) -> bool:
    notes = [e.text for e in read_events(run_dir / "events.jsonl") if isinstance(e, Notice)]
    return any(n.startswith("resumed from step") for n in notes)


@pytest.mark.slow
def test_killed_workers_and_a_killed_sweep_end_with_exactly_n_trials(data: Path, tmp_path: Path) -> None:
    args = sweep_args(data, tmp_path, "--trials", "3", "--pruner", "none", steps=12)
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    sweep_dir = tmp_path / "s"
    # a worker killed mid-trial: the coordinator retries its trial, which resumes the run from last/
    wait_for(lambda: (sweep_dir / "trial-000" / "last").exists())
    (started,) = [
        e for e in read_events(sweep_dir / "trial-000" / "events.jsonl") if isinstance(e, RunStarted)
    ]
    # the worker was forked from the fork server that imported the training code (warm), and the
    # liveness check that decides what to retry knows it for a worker
    assert b"tui_lab.core.sweeps.preload" in Path(f"/proc/{started.pid}/cmdline").read_bytes()
    assert studies.is_alive(started.pid)
    os.kill(started.pid, signal.SIGKILL)
    # then the whole sweep killed mid-trial, its worker too, with no chance to save
    wait_for(lambda: (sweep_dir / "trial-002" / "last").exists())
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert any(r.state == "running" for r in board.trial_rows(sweep_dir))
    _, summary = run_sweep([*CLI, "sweep", "--resume", str(sweep_dir), "--json"])
    assert_exactly(summary, 3)
    assert [t["state"] for t in summary["trials"]] == ["complete"] * 3
    folders = {Path(t["run_dir"]).name for t in summary["trials"]}
    assert {"trial-000", "trial-002"} <= folders  # each retry kept its trial's folder...
    assert _resumed(sweep_dir / "trial-000") and _resumed(sweep_dir / "trial-002")  # ...and resumed it
    assert {t["number"] for t in summary["trials"]}.isdisjoint({0, 2})  # the killed trials gave their place


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL cluster in tmp on a free local port; yields its URL.

    initdb refuses root: as root the cluster belongs to the ``postgres`` user (``runuser``)."""
    pg = _pg_bin()
    if pg is None:
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed")
    pytest.importorskip("psycopg", reason="psycopg (the postgres extra) is not installed")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="tui-lab-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to own a cluster")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster, port = base / "data", _free_port()
    run = lambda *a: subprocess.run([*as_user, *map(str, a)], check=True, capture_output=True)  # noqa: E731
    run(pg / "initdb", "-D", cluster, "-U", "lab", "--auth=trust")
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    run(pg / "pg_ctl", "-D", cluster, "-o", opts, "-w", "-l", base / "pg.log", "start")
    try:
        yield f"postgresql://lab@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(pg / "pg_ctl"), "-D", str(cluster), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_two_sweeps_share_one_postgres_study(data: Path, tmp_path: Path, postgres: str) -> None:
    args = [*sweep_args(data, tmp_path / "a", "--trials", "3", "--pruner", "none", "--storage", postgres)]
    other = [*sweep_args(data, tmp_path / "b", "--trials", "3", "--pruner", "none", "--storage", postgres)]
    procs = [
        subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for a in (args, other)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results[0][1][-2000:] + results[1][1][-2000:]
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in results]
    assert_exactly(summaries[0], 3)
    assert summaries[0]["trials"] == summaries[1]["trials"]  # one study, seen from either machine
    folders = {Path(t["run_dir"]).parent.parent.name for t in summaries[0]["trials"]}
    assert folders <= {"a", "b"}  # each trial ran in the folder of the sweep that took it
    bad = subprocess.run(
        [*sweep_args(data, tmp_path / "c", "--direction", "minimize", "--storage", postgres)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "already maximizes" in bad.stderr and not (tmp_path / "c").exists()


@pytest.mark.slow
def test_sigterm_stops_every_worker_with_last_saved_and_exits_130(data: Path, tmp_path: Path) -> None:
    # 50 epochs of 8 steps, not 1: under load a one-epoch trial could finish between its first
    # last/ and the signal (failed once in CI); the signal stops it long before either ends
    args = sweep_args(data, tmp_path, "--trials", "2", "--pruner", "none", "--epochs", "50", steps=400)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sweep_dir = tmp_path / "s"
    wait_for(lambda: (sweep_dir / "trial-000" / "last").exists())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and f"tui-lab sweep --resume {sweep_dir}" in err
    finished = [e for e in read_events(sweep_dir / "trial-000" / "events.jsonl") if e.kind == "run_finished"]
    assert finished[-1].status == "stopped"  # the run saved last/ and can continue
    (row,) = board.trial_rows(sweep_dir)  # the trial waits for --resume, in the same folder
    assert row.state == "running" and row.number == 1 and row.run_dir.endswith("trial-000")


@pytest.mark.slow
def test_trials_failing_alike_stop_the_sweep_with_their_reason(data: Path, tmp_path: Path) -> None:
    args = sweep_args(data, tmp_path, "--trials", "5", "--model", str(tmp_path / "no-such-model"))
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and last.startswith("error: the sweep stopped") and "no-such-model" in last
    rows = board.trial_rows(tmp_path / "s")
    assert [r.state for r in rows] == ["failed"] * 3 and all("no-such-model" in r.error for r in rows)
