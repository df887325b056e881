"""The teacher of a distilled run: found, checked against the run, and run once over its texts.

A classifier's logits are one row a text; a NER teacher's are one row a word (read at the word's
first sub-token, the position the NER task labels), so a student with another tokenizer is
compared with it word by word.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tui_lab.core.data.batching import from_lists
from tui_lab.core.deploy.predictor import Predictor, find_onnx, resolve_model_dir
from tui_lab.core.errors import ModelError, setting_ref
from tui_lab.core.models.loading import check_weights, first_line_of
from tui_lab.core.tasks import task_for_model
from tui_lab.core.tasks.metrics import scalars, softmax
from tui_lab.core.tasks.ner import TokenTargets
from tui_lab.core.tasks.ner_report import word_logits
from tui_lab.core.training.clock import format_seconds
from tui_lab.core.training.distributed import DistInfo, gather_shares, my_share
from tui_lab.core.training.hooks import StoppedInSetup

DISTILLED_TASKS = ("classify", "multilabel", "ner")
ALONE = DistInfo()  # one process: it scores every text
PROGRESS_SECONDS = 15.0  # a progress line at most this often while the teacher scores


@dataclass
class TeacherScores:
    """What the teacher said once, for the whole run."""

    source: str  # the model folder or ONNX file it was loaded from
    backend: str  # pytorch or onnx
    # (train + unlabelled rows, C) float16, columns in the run's label order; NER: (rows, words, C),
    # NaN for a word the teacher did not see (cut off by max_length) and past a sentence's end
    logits: np.ndarray
    dev: dict[str, float]  # its dev metrics
    seconds: float  # the time its forward passes took


def teacher_config(path: str) -> tuple[Path, Any]:
    """The teacher's model folder and its ``config.json``.

    Raises:
        ModelError: not a run or model folder, no weights, or an unreadable config.
    """
    from transformers import AutoConfig

    folder = resolve_model_dir(path)
    check_weights(folder)
    try:
        return folder, AutoConfig.from_pretrained(folder)
    except Exception as exc:
        raise ModelError(f"the teacher's {folder}/config.json is unreadable: {first_line_of(exc)}.") from None


def check_teacher(path: str, task: Any, label_names: list[str]) -> tuple[Path, list[int]]:
    """The teacher's folder and, per run label, the teacher's column of it.

    Raises:
        ModelError: the teacher is not a classifier of the run's task, or knows other labels.
    """
    folder, config = teacher_config(path)
    teacher_task = task_for_model(config)
    if task.name not in DISTILLED_TASKS:
        raise ModelError(
            f"distillation trains classify, multilabel or ner students, not {task.name}; "
            f"clear {setting_ref('train.teacher')}."
        )
    if teacher_task.name != task.name:
        what = (
            "a masked-LM (pretraining) model"
            if teacher_task.name == "pretrain"
            else f"a {teacher_task.name} model"
        )
        raise ModelError(
            f"the teacher {path} is {what}, not a {task.name} classifier like this run; "
            f"give a fine-tuned {task.name} run as {setting_ref('train.teacher')}."
        )
    theirs = teacher_task.label_names
    if sorted(theirs) != sorted(label_names):
        raise ModelError(
            f"the teacher {path} knows the labels {', '.join(theirs)} but the data has "
            f"{', '.join(label_names)}; give a teacher trained on the same labels."
        )
    return folder, [theirs.index(name) for name in label_names]


def load_predictor(path: str, folder: Path, device: str) -> Predictor:
    """The teacher's predictor: its ONNX export when the run has one and the student trains on
    the CPU (ONNX Runtime runs on the CPU), else PyTorch on the student's device."""
    onnx = find_onnx(path) if device == "cpu" else None
    if onnx is not None:
        return Predictor.from_path(onnx, backend="onnx")
    return Predictor.from_path(folder, device=device, backend="pytorch")


class Ticker:
    """Progress of the teacher's pass for the user: a line as it starts, then one every
    :data:`PROGRESS_SECONDS` with the count, the rate and the time left (nothing without ``say``).
    It raises :class:`StoppedInSetup` after the batch during which ``stop`` (an Event) was set.

    The predictor scores the shortest texts first, so the time left is estimated from the length
    still to score (characters, or words of a NER sentence), not from the count.
    """

    def __init__(
        self, predictor: Predictor, rows: list[Any], say: Callable[[str], None] | None, stop: Any = None
    ) -> None:
        self.total, self.say, self.stop = len(rows), say, stop
        self.done_length = np.cumsum(sorted(len(r) for r in rows if len(r)), dtype=np.float64)
        self.start = self.last = time.perf_counter()
        if say is not None:
            say(f"teacher: scoring {self.total:,} texts with {predictor.source} ({predictor.backend.name})")

    def __call__(self, done: int) -> None:
        if self.stop is not None and self.stop.is_set():
            raise StoppedInSetup
        now = time.perf_counter()
        if self.say is None or now - self.last < PROGRESS_SECONDS or done >= self.total:
            return
        self.last = now
        elapsed = now - self.start
        share = self.done_length[min(done, len(self.done_length)) - 1] / max(self.done_length[-1], 1.0)
        left = format_seconds(elapsed * (1 - share) / max(share, 1e-9))
        rate = done / max(elapsed, 1e-9)
        self.say(f"teacher: {done:,} of {self.total:,} texts scored, {rate:,.0f}/s, {left} left")


def score(
    predictor: Predictor,
    task: Any,
    columns: list[int],
    texts: list[str],
    dev: Any,
    max_length: int,
    batch_size: int,
    dist: DistInfo = ALONE,
    say: Callable[[str], None] | None = None,
    stop: Any = None,
) -> TeacherScores:
    """Run the teacher once over ``texts`` and the dev split (one predictor call); under torchrun
    each rank scores its share (``dist``) and every rank gets all the logits. ``say`` gets
    progress lines (:class:`Ticker`); a set ``stop`` ends the pass."""
    predictor.max_length = min(predictor.max_length, max_length)
    start = time.perf_counter()
    mine = my_share(dist, list(texts) + list(dev.texts))
    ticker = Ticker(predictor, mine, say, stop)
    logits = gather_shares(dist, predictor.logits(mine, batch_size, progress=ticker)[:, columns])
    seconds = time.perf_counter() - start
    train, dev_logits = logits[: len(texts)], logits[len(texts) :]
    outputs = np.asarray(task.outputs(_tensor(dev_logits)))
    metrics = scalars(task.metrics(task.targets(dev.labels), outputs)) if len(dev_logits) else {}
    return TeacherScores(
        predictor.source, predictor.backend.name, train.astype(np.float16), metrics, round(seconds, 3)
    )


def score_words(
    predictor: Predictor,
    task: Any,
    columns: list[int],
    sentences: list[list[str]],
    dev: Any,
    max_length: int,
    batch_size: int,
    dist: DistInfo = ALONE,
    say: Callable[[str], None] | None = None,
    stop: Any = None,
) -> TeacherScores:
    """Run a NER teacher once over ``sentences`` and the dev split: logits a word (one pass; under
    torchrun each rank scores its share, ``dist``, and every rank gets all of them). ``say`` gets
    progress lines (:class:`Ticker`); a set ``stop`` ends the pass."""
    predictor.max_length = min(predictor.max_length, max_length)
    start = time.perf_counter()
    mine = my_share(dist, list(sentences) + list(dev.texts))
    ticker = Ticker(predictor, mine, say, stop)
    scored = word_logits(predictor, mine, batch_size, progress=ticker)
    rows = gather_shares(dist, [r[:, columns] for r in scored])
    seconds = time.perf_counter() - start
    train, dev_rows = rows[: len(sentences)], rows[len(sentences) :]
    metrics = word_metrics(task, dev_rows, dev.labels) if dev_rows else {}
    return TeacherScores(
        predictor.source, predictor.backend.name, pack_words(train), metrics, round(seconds, 3)
    )


def pack_words(rows: list[np.ndarray]) -> np.ndarray:
    """Each sentence's ``(words, C)`` logits in one ``(N, W, C)`` float16 array, NaN where none.

    ``W`` is the most words any sentence had scored (words past every sentence's truncation are
    not kept).
    """
    seen = [np.flatnonzero(~np.isnan(r).any(axis=1)) for r in rows]
    width = max([int(s[-1]) + 1 for s in seen if len(s)], default=1)
    classes = rows[0].shape[1] if rows else 0
    out = np.full((len(rows), width, classes), np.nan, dtype=np.float16)
    for i, r in enumerate(rows):
        out[i, : min(len(r), width)] = r[:width]
    return out


def word_metrics(task: Any, logits: list[np.ndarray], tags: list[list[int]]) -> dict[str, float]:
    """The NER task's metrics of per-word logits against the words' tags (unscored words left out)."""
    keep = [~np.isnan(r).any(axis=1) for r in logits]
    gold = from_lists([np.asarray(t, dtype=np.int64)[k] for t, k in zip(tags, keep)])
    probs = np.zeros((len(logits), max(int(gold.lengths.max()), 1), len(task.label_names)))
    for i, (r, k) in enumerate(zip(logits, keep)):
        probs[i, : int(k.sum())] = softmax(r[k])
    targets = TokenTargets(gold, np.ones(len(gold.values), dtype=bool))
    return scalars(task.metrics(targets, probs))


def _tensor(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
