"""FSDP2 under torchrun: two gloo processes on the CPU train as DDP does, resume exactly, and
write ``best/`` as an ordinary model folder; ``--fsdp`` in one process is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_rows, stop_process_run_at_step, tiny_train_flags, write_csv
from tui_lab.core.training.events import StepLogged, read_events

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
LOSS_TOLERANCE = 1e-4  # FSDP's reduce-scatter sums in another order than DDP's all-reduce


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    write_csv(folder / "train.csv", make_rows(160, 1))
    write_csv(folder / "dev.csv", make_rows(50, 2))
    return folder


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    command = [*TORCHRUN, "-m", "tui_lab", "train", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=_env(), timeout=600)


def _losses(run: Path) -> list[float]:
    return [e.loss for e in read_events(run / "events.jsonl") if isinstance(e, StepLogged)]


def test_fsdp_outside_torchrun_is_one_line_and_writes_nothing(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, "-m", "tui_lab", "train", "--train", str(data), "--output-dir", str(out), "--fsdp"],
        capture_output=True, text=True, env=_env(), timeout=300,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: --fsdp") and done.stderr.count("\n") == 1, done.stderr
    assert not out.exists()


@pytest.mark.slow
def test_fsdp_trains_as_ddp_resumes_exactly_and_best_loads_in_pipeline(data: Path, tmp_path: Path) -> None:
    flags = lambda out, name: tiny_train_flags(data, tmp_path / out, name, epochs=2)  # noqa: E731
    fsdp = _torchrun([*flags("a", "fsdp"), "--fsdp"], tmp_path)
    assert fsdp.returncode == 0, fsdp.stderr[-3000:]
    ddp = _torchrun(flags("b", "ddp"), tmp_path)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    sharded, replicated = _losses(tmp_path / "a" / "fsdp"), _losses(tmp_path / "b" / "ddp")
    assert len(sharded) == len(replicated) == 10
    assert max(abs(a - b) for a, b in zip(sharded, replicated)) <= LOSS_TOLERANCE, (sharded, replicated)
    last = tmp_path / "a" / "fsdp" / "last"
    assert (last / "optimizer.dcp" / ".metadata").is_file() and not (last / "optimizer.pt").exists()
    # best/ is a whole model folder: pipeline loads it as it is
    from transformers import pipeline

    best = tmp_path / "a" / "fsdp" / "best"
    assert json.loads((best / "config.json").read_text())["architectures"] == [
        "BertForSequenceClassification"
    ]
    assert pipeline("text-classification", model=str(best))("a great film")[0]["label"] in {"neg", "pos"}
    # stopped at step 3, resumed from last/ (the optimiser's shards through torch.distributed.checkpoint)
    out = tmp_path / "c"
    command = [*TORCHRUN, "-m", "tui_lab", "train", *flags("c", "part"), "--fsdp"]
    stop_process_run_at_step(command, out / "part", tmp_path, _env())
    resumed = _torchrun(["--resume", str(out / "part"), "--json"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    again = _losses(out / "part")
    assert len(again) >= 10 and max(abs(a - b) for a, b in zip(again[-5:], sharded[-5:])) <= LOSS_TOLERANCE
    a = json.loads(fsdp.stdout.strip().splitlines()[-1])
    b = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert a["best"] == pytest.approx(b["best"], abs=1e-4)
