"""`tui-lab train` under torchrun: two gloo processes on the CPU, one run folder, same accuracy band."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_rows, stop_process_run_at_step, tiny_train_flags, write_csv
from tui_lab.core.config import LabConfig
from tui_lab.core.training.events import RunStarted, read_events
from tui_lab.core.training.runs import run_info

pytestmark = pytest.mark.slow

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    write_csv(folder / "train.csv", make_rows(320, 1))
    write_csv(folder / "dev.csv", make_rows(80, 2))
    return folder


def _train(args: list[str], cwd: Path, distributed: bool = True) -> subprocess.CompletedProcess:
    command = [*TORCHRUN, "-m", "tui_lab"] if distributed else [sys.executable, "-m", "tui_lab"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return subprocess.run(
        [*command, "train", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )


def test_two_processes_train_one_run_in_the_accuracy_band(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    ddp = _train(tiny_train_flags(data, out, "ddp", epochs=3), tmp_path)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    lines = [ln for ln in ddp.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1  # only rank 0 reports
    summary = json.loads(lines[0])
    assert [p.name for p in out.iterdir()] == ["ddp"]  # exactly one run folder
    single = _train(tiny_train_flags(data, tmp_path / "single", "one", epochs=3), tmp_path, distributed=False)
    assert single.returncode == 0, single.stderr[-3000:]
    one = json.loads(single.stdout.strip().splitlines()[-1])
    assert (
        summary["best"]["accuracy"] >= 0.9
        and abs(summary["best"]["accuracy"] - one["best"]["accuracy"]) <= 0.1
    )
    started = next(e for e in read_events(out / "ddp" / "events.jsonl") if isinstance(e, RunStarted))
    assert started.world_size == 2 and started.n_train == 320
    # each step consumed a batch per rank: half the steps of one process
    assert started.total_steps == 3 * 10
    assert "world_size = 2" in (out / "ddp" / "config.toml").read_text()
    assert LabConfig.load(out / "ddp" / "config.toml").train.epochs == 3  # the [run] table is skipped


def test_a_stopped_distributed_run_resumes_to_the_same_result(data: Path, tmp_path: Path) -> None:
    full = _train(tiny_train_flags(data, tmp_path / "a", "full", epochs=4), tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    out = tmp_path / "b"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    command = [*TORCHRUN, "-m", "tui_lab", "train", *tiny_train_flags(data, out, "part", epochs=4)]
    stop_process_run_at_step(command, out / "part", tmp_path, env)
    resumed = _train(["--resume", str(out / "part"), "--json"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = json.loads(full.stdout.strip().splitlines()[-1])
    b = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert a["best"] == b["best"] and a["epochs_completed"] == b["epochs_completed"] == 4
    shutil.rmtree(out, ignore_errors=True)


@pytest.mark.parametrize("task", ["ner", "pretrain"])
def test_other_tasks_train_under_torchrun_too(task: str, tmp_path: Path) -> None:
    """The loop knows no task: NER and masked-LM pretraining run on two gloo ranks as classify does."""
    ner = Path(__file__).resolve().parents[2] / "sample_data" / "ner"
    data = tmp_path / "data"
    data.mkdir()
    if task == "ner":
        for split, n in (("train", 160), ("dev", 40)):
            sentences = (ner / f"{split}.conll").read_text(encoding="utf-8").split("\n\n")[:n]
            (data / f"{split}.conll").write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    else:
        write_csv(data / "train.csv", make_rows(320, 1))
    out = tmp_path / "runs"
    flags = ["--train", str(data), "--output-dir", str(out), "--run-name", task, "--task", task]
    flags += ["--epochs", "2", "--batch-size", "16", "--max-length", "32", "--no-baseline", "--json"]
    ddp = _train(flags, tmp_path)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    summary = json.loads([ln for ln in ddp.stdout.splitlines() if ln.startswith("{")][-1])
    assert summary["status"] == "completed" and [p.name for p in out.iterdir()] == [task]
    started = next(e for e in read_events(out / task / "events.jsonl") if isinstance(e, RunStarted))
    assert started.world_size == 2 and started.task == task
    info = run_info(out / task)
    assert info.status == "completed" and (out / task / "best" / "config.json").exists()
    metric = "f1" if task == "ner" else "perplexity"
    assert 0 <= summary["best"][metric] < float("inf")


def test_a_distillation_under_torchrun_shares_the_teacher_pass(data: Path, tmp_path: Path) -> None:
    """Each rank scores half the texts; both train on all of the teacher's logits, in row order."""
    import numpy as np

    teacher = _train(tiny_train_flags(data, tmp_path / "runs", "teacher", epochs=1), tmp_path, False)
    assert teacher.returncode == 0, teacher.stderr[-3000:]
    (tmp_path / "more.txt").write_text("\n".join(t for t, _ in make_rows(30, 5)) + "\n")
    flags = ["--teacher", str(tmp_path / "runs" / "teacher"), "--unlabeled", str(tmp_path / "more.txt")]
    logits = {}
    for name, distributed in (("ddp", True), ("one", False)):
        out = tmp_path / name
        args = tiny_train_flags(data, out, name, epochs=1) + flags
        command = [*TORCHRUN, "-m", "tui_lab"] if distributed else [sys.executable, "-m", "tui_lab"]
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
        done = subprocess.run(
            [*command, "distill", *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        logits[name] = np.load(out / name / "teacher_logits.npy")
        report = json.loads((out / name / "report.json").read_text())
        assert report["teacher"]["rows"] == 320 + 30
    assert logits["ddp"].shape == logits["one"].shape == (350, 2)
    assert np.allclose(logits["ddp"].astype(np.float32), logits["one"].astype(np.float32), atol=2e-2)


def test_shares_are_dealt_and_gathered_back_in_row_order(monkeypatch) -> None:
    import numpy as np
    import torch.distributed as dist

    from tui_lab.core.training.distributed import DistInfo, gather_shares, my_share

    rows = list(range(11))
    shares = [my_share(DistInfo(rank=r, world_size=3), rows) for r in range(3)]
    assert shares == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8]]

    def all_gather_object(out, part):  # what the other two ranks would send
        for r in range(3):
            out[r] = np.array(shares[r]) * 10 if isinstance(part, np.ndarray) else [x * 10 for x in shares[r]]

    monkeypatch.setattr(dist, "all_gather_object", all_gather_object)
    me = DistInfo(rank=1, world_size=3)
    assert gather_shares(me, [x * 10 for x in shares[1]]) == [x * 10 for x in rows]
    assert gather_shares(me, np.array(shares[1]) * 10).tolist() == [x * 10 for x in rows]
