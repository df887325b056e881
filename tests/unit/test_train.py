"""The training loop on tiny data: events, checkpoints, stop/resume, early stopping, failures."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tui_lab.core.data.batching import encode, from_lists, length_grouped_batches
from tui_lab.core.errors import CheckpointError, ConfigError, TrainingAborted
from tui_lab.core.models import checkpoint
from tui_lab.core.tasks import ClassifyTask
from tui_lab.core.training.events import (
    BaselineReady,
    CheckpointSaved,
    DeviceSampled,
    Evaluated,
    RunFailed,
    RunFinished,
    RunStarted,
    StepLogged,
    read_events,
)
from tui_lab.core.training.loop import Trainer
from tui_lab.core.training.optim import build_scheduler
from tui_lab.core.training.runs import list_runs, run_info


def _run(cfg, **kw):
    events: list = []
    result = Trainer(cfg, [events.append], **kw).run()
    return result, events


def test_a_run_emits_events_writes_the_run_folder_and_learns(tiny_config) -> None:
    tiny_config.train.epochs = 3
    result, events = _run(tiny_config)
    kinds = [type(e) for e in events]
    assert kinds[0] is RunStarted and kinds[-1] is RunFinished
    assert BaselineReady in kinds and DeviceSampled in kinds
    steps = [e for e in events if isinstance(e, StepLogged)]
    assert [s.step for s in steps] == list(range(1, 3 * 15 + 1))  # 240 rows / 16 = 15 steps an epoch
    dev = [e for e in events if isinstance(e, Evaluated) and e.split == "dev"]
    assert len(dev) == 3 and dev[0].labels == ["neg", "pos"]
    assert result.status == "completed" and result.best["accuracy"] >= 0.9
    assert result.test is not None and result.test["accuracy"] >= 0.9
    run = Path(result.run_dir)
    assert {"config.toml", "events.jsonl", "best", "last", "report.json"} <= {p.name for p in run.iterdir()}
    assert (run / "best" / "model.safetensors").exists() and not list((run / "best").glob("*.bin"))
    # the log on disk holds the same events as the live stream
    on_disk = read_events(run / "events.jsonl")
    assert [e.to_dict() for e in on_disk] == [e.to_dict() for e in events]
    report = json.loads((run / "report.json").read_text())
    assert report["test"]["confusion_matrix"] and "per_class" in report["dev"]
    assert run_info(run).status == "completed" and list_runs(run.parent)[0].name == "t"


def test_learning_rate_schedule_is_transformers_linear_warmup_and_decay() -> None:
    import torch
    from transformers import get_linear_schedule_with_warmup

    def rates(make) -> list[float]:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = make(opt)
        out = []
        for _ in range(10):
            out.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
        return out

    ours = rates(lambda opt: build_scheduler(opt, warmup_steps=2, total_steps=10))
    theirs = rates(lambda opt: get_linear_schedule_with_warmup(opt, 2, 10))
    assert ours == pytest.approx(theirs)
    assert ours[:4] == pytest.approx([0.0, 0.5, 1.0, 0.875])  # warm up from 0, peak at step 2, then decay


def test_length_grouping_reduces_padding_and_is_seeded() -> None:
    import random

    rng = random.Random(0)
    lengths = [rng.randint(3, 120) for _ in range(2000)]

    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    def batches(seed: int, group: bool = True) -> list[list[int]]:
        return [b.tolist() for b in length_grouped_batches(lengths, 32, seed=seed, group=group)]

    grouped = batches(1)
    plain = batches(1, group=False)
    assert sorted(i for b in grouped for i in b) == list(range(2000))
    assert padding(grouped) < padding(plain) / 5
    assert grouped == batches(1)
    assert grouped != batches(2)


def test_collate_pads_to_the_longest_in_the_batch() -> None:
    tokens = from_lists([[7, 7], [2, 5, 3], [2, 3]])
    task = ClassifyTask(["neg", "pos"])
    batch = task.collate(tokens, [1, 2], task.targets([0, 1, 0]), pad_id=0, multiple=8)
    assert batch["input_ids"].shape == (2, 8)
    assert batch["input_ids"][0, :3].tolist() == [2, 5, 3] and batch["input_ids"][1, 2:].sum() == 0
    assert batch["attention_mask"].sum().item() == 5 and batch["labels"].tolist() == [1, 0]


def test_token_arrays_hold_the_tokenizers_ids_in_chunks() -> None:
    from tui_lab.core.models.presets import train_wordpiece

    texts = [f"text number {i} " + "word " * (i % 7) for i in range(50)]
    tok = train_wordpiece(texts, vocab_size=200)
    flat = encode(tok, texts, max_length=6, chunk=7)  # several chunks, some rows truncated
    expected = tok(texts, truncation=True, max_length=6)["input_ids"]
    assert len(flat) == 50 and [flat.row(i).tolist() for i in range(50)] == expected
    assert flat.lengths.max() == 6 and flat.values.dtype.name == "int32"


def test_stop_saves_last_and_resume_matches_an_uninterrupted_run(tiny_config, tmp_path: Path) -> None:
    tiny_config.train.epochs = 3
    full, _ = _run(tiny_config)

    tiny_config.train.run_name = "interrupted"
    stop = threading.Event()

    def stop_at_20(event) -> None:
        if isinstance(event, StepLogged) and event.step == 20:
            stop.set()

    part = Trainer(tiny_config, [stop_at_20], stop=stop).run()
    assert part.status == "stopped" and part.step == 20
    state = checkpoint.load_state(Path(part.run_dir) / "last")
    assert (state["step"], state["epoch"], state["batch_in_epoch"]) == (20, 1, 5)
    assert run_info(part.run_dir).status == "stopped"

    resumed, events = _run(tiny_config, resume=part.run_dir)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.start_step == 20
    assert resumed.step == full.step and resumed.best == full.best and resumed.test == full.test


def test_a_second_run_on_the_same_data_reads_the_baseline_back(tiny_config, tmp_path, monkeypatch) -> None:
    from tui_lab.core import cache

    monkeypatch.setenv("TUI_LAB_CACHE", str(tmp_path / "cache"))  # other tests fit the same data
    cache.clear_memory()
    tiny_config.train.epochs = 1
    _, first = _run(tiny_config)
    tiny_config.train.run_name = "again"
    tiny_config.train.learning_rate = 1e-3  # another run, the same splits
    _, second = _run(tiny_config)
    a, b = (next(e for e in events if isinstance(e, BaselineReady)) for events in (first, second))
    assert (a.cached, b.cached) == (False, True) and a.dev == b.dev and a.test == b.test


def test_resume_refuses_a_finished_run_or_a_folder_without_last(tiny_config, tmp_path: Path) -> None:
    tiny_config.train.epochs = 1
    done, _ = _run(tiny_config)
    with pytest.raises(CheckpointError, match="already finished"):
        Trainer(tiny_config, resume=done.run_dir).run()
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(CheckpointError, match="no last/ checkpoint"):
        Trainer(tiny_config, resume=tmp_path / "empty-run").run()


def test_early_stopping_after_patience_evaluations(tiny_config) -> None:
    tiny_config.train.epochs = 30
    tiny_config.train.eval_steps = 3
    tiny_config.train.patience = 2
    tiny_config.train.metric_for_best_model = "accuracy"
    result, events = _run(tiny_config)
    assert result.status == "early_stopped" and result.stopped_early
    dev = [e for e in events if isinstance(e, Evaluated) and e.split == "dev"]
    assert [e.is_best for e in dev[-2:]] == [False, False]
    assert result.step < 30 * 15


def test_gradient_accumulation_counts_optimizer_steps(tiny_config) -> None:
    tiny_config.train.epochs = 1
    tiny_config.train.gradient_accumulation_steps = 4
    tiny_config.train.baseline = False
    result, events = _run(tiny_config)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.total_steps == 4 and result.step == 4  # 15 batches -> 4 optimiser steps
    assert not any(isinstance(e, BaselineReady) for e in events)


def test_nan_loss_stops_with_a_reason_and_keeps_best(tiny_config, monkeypatch) -> None:
    import torch.nn.functional as F

    tiny_config.train.epochs = 3
    real = F.cross_entropy
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] > 20 else loss

    monkeypatch.setattr(F, "cross_entropy", poisoned)
    events: list = []
    with pytest.raises(TrainingAborted, match="loss became nan at step 21.*best/ is kept"):
        Trainer(tiny_config, [events.append]).run()
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.user_error
    run = Path(tiny_config.train.output_dir) / "t"
    assert checkpoint.resolve(run / "best") is not None
    assert run_info(run).status == "failed"


def test_out_of_memory_gets_a_hint(tiny_config, monkeypatch) -> None:
    import torch

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr("tui_lab.core.training.loop.Trainer._optimizer_step", oom)
    events: list = []
    with pytest.raises(torch.OutOfMemoryError):
        Trainer(tiny_config, [events.append]).run()
    from tui_lab.core.settings import render_settings

    assert "lower --batch-size or --max-length" in render_settings(events[-1].message, "flag")


def test_invalid_config_is_refused_before_anything_is_written(tiny_config) -> None:
    tiny_config.train.learning_rate = -1.0
    with pytest.raises(ConfigError, match="train.learning_rate must be greater than 0"):
        Trainer(tiny_config).run()
    assert not Path(tiny_config.train.output_dir).exists()


def test_checkpoint_events_name_best_and_last(tiny_config) -> None:
    tiny_config.train.epochs = 1
    _, events = _run(tiny_config)
    saved = [(e.which, e.step) for e in events if isinstance(e, CheckpointSaved)]
    assert saved == [("best", 15), ("last", 15)]


def broken_baseline(*args, **kwargs):
    """A baseline fit that fails (called in the baseline's child process by the test below)."""
    raise ValueError("empty vocabulary; perhaps the documents only contain stop words")


def test_a_failing_baseline_is_skipped_with_its_reason_and_the_run_completes(
    tiny_config, monkeypatch
) -> None:
    from tui_lab.core.training import loop
    from tui_lab.core.training.events import Notice

    # the baseline runs in a child process: it calls a function it imports itself
    monkeypatch.setattr(loop, "BASELINE_TARGET", "tests.unit.test_train:broken_baseline")
    tiny_config.train.epochs = 1
    result, events = _run(tiny_config)
    assert result.status == "completed" and result.baseline["skipped"].startswith(
        "ValueError: empty vocabulary"
    )
    notes = [e.text for e in events if isinstance(e, Notice)]
    assert any(n.startswith("baseline skipped: ValueError: empty vocabulary") for n in notes)
    assert not any(isinstance(e, BaselineReady) for e in events)


def test_one_character_texts_train_with_a_baseline(tiny_config, tmp_path: Path) -> None:
    from tests.conftest import write_csv

    rows = [(str(i % 10), "odd" if i % 2 else "even") for i in range(200)]
    write_csv(tmp_path / "digits" / "train.csv", rows)
    tiny_config.data.train = str(tmp_path / "digits")
    tiny_config.train.epochs = 1
    result, events = _run(tiny_config)
    assert result.status == "completed"
    ready = [e for e in events if isinstance(e, BaselineReady)]
    assert ready and ready[0].dev["accuracy"] == 1.0  # "1", "3"... are odd: a 1-character vocabulary suffices
