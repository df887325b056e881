"""Teacher-labelled augmentation (``train.distill_augment``, Tang et al.'s masking and n-grams)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import record_calls
from tests.unit.test_distill import distill_flags, place  # noqa: F401  (the module's teacher and data)
from tui_lab.cli import main
from tui_lab.core.deploy.predictor import Predictor
from tui_lab.core.distill import TEACHER_LOGITS_FILE
from tui_lab.core.distill.augment import MAX_N, P_MASK, P_NGRAM, augmented
from tui_lab.core.training.events import RunStarted, TeacherReady, read_events

_rng = np.random.default_rng(0)
ROWS = [[f"w{i}" for i in _rng.integers(0, 5000, 12)] for _ in range(200)]  # distinct 12-word texts


def _from(copy: list[str], words: list[str], mask: str) -> bool:
    """Whether ``copy`` is a contiguous run of ``words`` with some words masked."""
    n = len(copy)
    return any(
        all(c == w or c == mask for c, w in zip(copy, words[i : i + n])) for i in range(len(words) - n + 1)
    )


def test_copies_follow_the_masking_and_ngram_rules_at_their_rates() -> None:
    copies = augmented(ROWS, 10, seed=7, mask="[MASK]")
    originals = {tuple(r) for r in ROWS}
    assert len(copies) == len({tuple(c) for c in copies})  # no copy twice
    assert not any(tuple(c) in originals for c in copies)  # and none is a training text
    # dropped: the uncut copies with no word masked (0.75 x 0.9^12 = 21% of them)
    assert 0.7 * 10 * len(ROWS) < len(copies) <= 0.85 * 10 * len(ROWS)
    full = [c for c in copies if len(c) == len(ROWS[0])]
    cut = [c for c in copies if len(c) < len(ROWS[0])]
    assert all(len(c) <= MAX_N for c in cut)
    assert all(any(_from(c, r, "[MASK]") for r in ROWS) for c in copies)
    # the rates: a tenth of the words masked (in the uncut copies kept: those with a mask at all),
    # a quarter of the copies cut to an n-gram
    masked = sum(w == "[MASK]" for c in full for w in c) / sum(len(c) for c in full)
    assert abs(masked - P_MASK / (1 - (1 - P_MASK) ** 12)) < 0.01, masked
    # cut copies are rarely dropped as duplicates
    assert abs(len(cut) / (10 * len(ROWS)) - P_NGRAM) < 0.04, len(cut)


def test_the_same_seed_gives_the_same_copies_and_no_mask_drops_words() -> None:
    assert augmented(ROWS, 3, 1, "[MASK]") == augmented(ROWS, 3, 1, "[MASK]")
    assert augmented(ROWS, 3, 1, "[MASK]") != augmented(ROWS, 3, 2, "[MASK]")
    assert augmented(ROWS, 0, 1, "[MASK]") == []
    dropped = augmented(ROWS, 5, 1, None)
    assert dropped and not any("[MASK]" in c for c in dropped)

    # a dropped word leaves the rest in order: each copy is a subsequence of a training text
    def subsequence(c, r):
        it = iter(r)
        return all(w in it for w in c)

    assert all(any(subsequence(c, r) for r in ROWS) for c in dropped)


@pytest.mark.slow
def test_distill_augment_scores_the_copies_once_and_trains_on_them(place: Path, monkeypatch, capsys) -> None:  # noqa: F811
    seen = record_calls(monkeypatch, Predictor, "logits", 1)
    code = main(distill_flags(place, "augmented", "--augment", "3", "--max-steps", "4"))
    out = capsys.readouterr()
    summary = json.loads(out.out.strip().splitlines()[-1])
    assert code == 0 and summary["status"] == "completed", out.err
    run = Path(summary["run_dir"])
    logits = np.load(run / TEACHER_LOGITS_FILE, mmap_mode="r")
    extra = len(logits) - 240
    assert 240 < extra <= 3 * 240  # templated short texts: many copies repeat one another
    assert len(seen) == 1 and len(seen[0]) == 240 + extra + 60  # one pass: train, copies, dev
    train, copies = seen[0][:240], seen[0][240 : 240 + extra]
    words = [t.split() for t in train]
    assert any("[MASK]" in c for c in copies)
    assert all(any(_from(c.split(), w, "[MASK]") for w in words) for c in copies)
    events = read_events(run / "events.jsonl")
    assert next(e for e in events if isinstance(e, TeacherReady)).rows == 240 + extra
    assert next(e for e in events if isinstance(e, RunStarted)).steps_per_epoch == -(-(240 + extra) // 16)
    assert f"augmented: {extra:,} teacher-labelled copies" in out.err
    assert f"info: teacher: scoring {240 + extra + 60:,} texts with " in out.err  # before the pass


def test_the_teacher_pass_reports_its_progress_with_the_time_left(monkeypatch) -> None:
    from types import SimpleNamespace

    from tui_lab.core.distill import teacher

    lines: list[str] = []
    clock = iter([0.0, 10.0, 20.0, 30.0])  # start, then after each batch
    monkeypatch.setattr(teacher.time, "perf_counter", lambda: next(clock))
    predictor = SimpleNamespace(source="t/model.onnx", backend=SimpleNamespace(name="onnx"))
    # shortest first: 3,000 texts of 10 characters, then 1,000 of 90 (three quarters of the work)
    tick = teacher.Ticker(predictor, ["x" * 90] * 1000 + ["y" * 10] * 3000, lines.append)
    tick(1000)  # 10 s after the start: too soon for a line
    tick(3000)  # 20 s: 150 texts/s; a quarter of the length in 20 s, so 60 s left
    tick(4000)  # the end: the run's own line follows
    assert lines == [
        "teacher: scoring 4,000 texts with t/model.onnx (onnx)",
        "teacher: 3,000 of 4,000 texts scored, 150/s, 1:00 left",
    ]


def test_a_negative_augment_is_one_line_and_writes_nothing(place: Path, capsys) -> None:  # noqa: F811
    code = main(distill_flags(place, "bad-augment", "--augment", "-1"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "train.distill_augment" in err, err
    assert not (place / "runs" / "bad-augment").exists()


@pytest.mark.parametrize("flags", [["--augment", "3"], ["--unlabeled", "unlabeled.txt"]])
def test_copies_or_unlabelled_texts_without_a_teacher_are_refused(place: Path, capsys, flags) -> None:  # noqa: F811
    flags = [str(place / f) if f.endswith(".txt") else f for f in flags]
    args = ["train", "--train", str(place / "data"), "--output-dir", str(place / "runs")]
    code = main([*args, "--run-name", "no-teacher", "--no-baseline", *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and flags[0] in err and "--teacher" in err, err
    assert not (place / "runs" / "no-teacher").exists()


def test_a_stop_during_the_teachers_pass_ends_the_run_with_nothing_saved(place: Path, monkeypatch) -> None:  # noqa: F811
    import threading

    from tests.unit.test_distill import student_config
    from tui_lab.core.distill import hooks_for
    from tui_lab.core.training.events import RunFinished
    from tui_lab.core.training.loop import Trainer

    stop = threading.Event()
    batches: list[int] = []
    cfg = student_config(place, "stopped-in-setup")
    cfg.train.teacher, cfg.train.distill_augment = str(place / "runs" / "teacher"), 3
    events: list = []

    original = Predictor.encode

    def encode_then_stop(self, texts):  # the user stops during the pass's first batch
        batches.append(len(texts))
        stop.set()
        return original(self, texts)

    monkeypatch.setattr(Predictor, "encode", encode_then_stop)
    result = Trainer(cfg, [events.append], stop=stop, hooks=hooks_for(cfg)).run()
    assert result.status == "stopped" and result.run_dir == "" and result.step == 0
    assert len(batches) == 1  # the pass ended after the batch it was stopped in
    assert not (place / "runs" / "stopped-in-setup").exists()
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert (
        len(finished) == 1 and finished[0].status == "stopped" and "nothing was saved" in finished[0].reason
    )
