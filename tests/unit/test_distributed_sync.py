"""Under torchrun the ranks meet once per logging step, and decide together on NaN and stop.

Two gloo processes run a small driver around the real ``Trainer``: it counts the collectives the
training loop calls (evaluation and checkpoints left out, DDP's own gradient all-reduce is not a
``torch.distributed`` call) and can make one rank's loss NaN.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_rows, write_csv
from tui_lab.core.training.events import RunFailed, read_events

pytestmark = pytest.mark.slow

DRIVER = r"""
import json, os, sys
from contextlib import contextmanager
import torch
import torch.distributed as dist
from tui_lab.core.config import LabConfig
from tui_lab.core.training.hooks import Hooks
from tui_lab.core.tasks.classify import ClassifyTask
from tui_lab.core.training.loop import Trainer

data, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
counts = {"loop": 0}
where = []

for name in ("all_reduce", "all_gather", "all_gather_object", "broadcast_object_list", "barrier", "broadcast"):
    original = getattr(dist, name)
    def wrapped(*a, _original=original, **k):
        if where and where[-1] == "train_loop":
            counts["loop"] += 1
        return _original(*a, **k)
    setattr(dist, name, wrapped)

class Where(Hooks):
    @contextmanager
    def phase(self, name):
        where.append(name)
        try:
            yield
        finally:
            where.pop()

if mode == "nan":
    calls = {"n": 0}
    loss = ClassifyTask.loss
    def nan_on_rank_1(self, logits, labels):
        calls["n"] += 1
        value = loss(self, logits, labels)
        return value * float("nan") if dist.get_rank() == 1 and calls["n"] >= 5 else value  # step 5 is a logging step
    ClassifyTask.loss = nan_on_rank_1

cfg = LabConfig()
cfg.data.train, cfg.data.max_length = data, 32
cfg.model.vocab_size = 300
cfg.train.epochs, cfg.train.batch_size, cfg.train.logging_steps = 1, 16, 5
cfg.train.baseline, cfg.train.patience = False, 0
cfg.train.output_dir, cfg.train.run_name = out, "sync"
steps = []
result = Trainer(cfg, [lambda e: steps.append(e)], hooks=[Where()]).run()
logged = sum(1 for e in steps if type(e).__name__ == "StepLogged")
print("@@" + json.dumps({"rank": int(os.environ["RANK"]), "loop": counts["loop"],
                         "steps": result.step, "logged": logged}), flush=True)
"""


def _torchrun(tmp_path: Path, mode: str) -> subprocess.CompletedProcess:
    write_csv(tmp_path / "data" / "train.csv", make_rows(320, 1))
    write_csv(tmp_path / "data" / "dev.csv", make_rows(64, 2))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(driver)]
    return subprocess.run(
        [*cmd, str(tmp_path / "data"), str(tmp_path / "runs"), mode],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )


def test_the_loop_meets_the_other_ranks_only_at_logging_steps(tmp_path: Path) -> None:
    proc = _torchrun(tmp_path, "count")
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = [json.loads(ln[2:]) for ln in proc.stdout.splitlines() if ln.startswith("@@")]
    assert len(reports) == 2
    rank0 = next(r for r in reports if r["rank"] == 0)
    assert rank0["steps"] == 10 and rank0["logged"] == 2  # 320 rows / 16 / 2 ranks, logged every 5
    # one collective per logging step, none on the other steps
    assert all(r["loop"] == 2 for r in reports), reports


def test_a_nan_on_one_rank_stops_every_rank_and_names_it(tmp_path: Path) -> None:
    proc = _torchrun(tmp_path, "nan")
    assert proc.returncode != 0
    failed = [e for e in read_events(tmp_path / "runs" / "sync" / "events.jsonl") if isinstance(e, RunFailed)]
    assert (
        failed and "at step 5 on rank 1;" in failed[0].message and "train.learning_rate" in failed[0].message
    )
    # the ranks decided together: the run ended with this reason long before any collective
    # timeout (gloo's default is 30 minutes; the subprocess is given 300 s)
    assert "TrainingAborted" in proc.stderr
