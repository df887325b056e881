"""Describing a data set before training, without a UI: label balance, token lengths, leakage.

The lab's Dataset pane renders a :class:`DatasetStats`; anything else (a report, a CLI command)
can too. Labels are counted over every row and train/dev overlap is exact; token lengths come
from at most ``LENGTH_SAMPLE`` rows per split (chosen with a fixed seed), measured with the
tokenizer the run would use: the cached preset tokenizer (:func:`presets.preset_tokenizer`,
so the training run that follows does not learn it again) or the model's own.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_lab.core.config import LabConfig
from tui_lab.core.data.files import resolve_sources
from tui_lab.core.data.splits import Split, length_stats, load_data, shared_texts
from tui_lab.core.errors import LabError
from tui_lab.core.models import loading, presets
from tui_lab.core.settings import DataConfig
from tui_lab.core.tasks import TASKS, detect_task, task_for, task_for_labels

LENGTH_SAMPLE = 100_000


@dataclass(frozen=True)
class SplitStats:
    """One split: its size, examples per label, and token lengths of (a sample of) its texts."""

    rows: int
    counts: dict[str, int]
    lengths: list[int]  # one per measured text, [CLS] and [SEP] included

    @property
    def sampled(self) -> bool:
        """Whether the lengths come from a sample of the rows."""
        return len(self.lengths) < self.rows


@dataclass(frozen=True)
class DatasetStats:
    """What the model would be trained on."""

    labels: list[str]
    splits: dict[str, SplitStats]  # "train", "dev" and, when there is one, "test"
    sources: dict[str, str]
    text_column: str
    label_column: str
    shared_train_dev: int  # distinct dev texts also in train (after strip + lower-case)
    notes: list[str]  # what loading did (dropped rows...)
    length_note: str = ""  # how the lengths were measured, when not exactly
    details: list[str] = field(default_factory=list)  # the task's own lines (NER: words a sentence)
    corrections: dict[str, Any] | None = None  # what the train file's corrections file did

    def lengths(self, max_length: int) -> dict[str, Any]:
        """Percentiles of the train token lengths and the share cut at ``max_length``."""
        return length_stats(self.splits["train"].lengths, max_length)


def describe(cfg: LabConfig) -> DatasetStats:
    """Load every split as a run would and describe it.

    Raises:
        DataError: the data cannot be loaded (the same sentence a run would give).
    """

    name = cfg.model.task or detect_task(cfg.data)[0]  # empty: list labels make it multi-label
    bundle = TASKS[name].load_data(cfg.data, cfg.train.seed) if name else load_data(cfg.data, cfg.train.seed)
    task = task_for(name or task_for_labels(bundle.multilabel), bundle.label_names, cfg)
    tokenizer, note = _tokenizer(cfg, task.plain_texts(bundle.train.texts))
    rng = random.Random(0)
    splits: dict[str, SplitStats] = {}
    details: list[str] = []
    for split_name in ("train", "dev", "test"):
        split: Split | None = getattr(bundle, split_name)
        if split is not None:
            texts = split.texts if len(split) <= LENGTH_SAMPLE else rng.sample(split.texts, LENGTH_SAMPLE)
            if tokenizer is None:
                lengths = [len(t.split()) + 2 for t in task.plain_texts(texts)]
            else:
                lengths, more = task.describe_lengths(tokenizer, texts)
                details = details or more
            splits[split_name] = SplitStats(len(split), task.label_counts(split), lengths)
    if splits["train"].sampled:
        note = "; ".join(filter(None, [note, f"lengths from {LENGTH_SAMPLE:,} sampled rows"]))
    return DatasetStats(
        labels=list(splits["train"].counts),
        splits=splits,
        sources=dict(bundle.sources),
        text_column=bundle.text_column,
        label_column=bundle.label_column,
        shared_train_dev=shared_texts(bundle.train, bundle.dev),
        notes=list(bundle.notes),
        length_note=note,
        details=details,
        corrections=bundle.corrections,
    )


def _tokenizer(cfg: LabConfig, train_texts: list[str]) -> tuple[Any, str]:
    """The run's tokenizer, or ``None`` and why (an unreachable hub id: lengths from words)."""

    try:
        if presets.is_preset(cfg.model.name):
            max_length = max(512, cfg.data.max_length)
            return presets.preset_tokenizer(train_texts, cfg.model.vocab_size, max_length), ""
        return loading.load_tokenizer(cfg.model.name, cfg.model.trust_remote_code), ""
    except Exception as exc:  # an offline hub id: estimate, and say so
        return None, f"token lengths estimated from words ({str(exc).split(';')[0]})"


def file_stamps(cfg: DataConfig) -> dict[str, tuple[float, int]]:
    """(mtime, size) of every local data file the config points at; missing files count too.

    Two equal results mean nothing changed on disk since the data was described. The corrections
    files a run would apply count too (the Analysis and Label screens append to them; one that
    appears, grows or goes changes the data a run sees).
    """
    try:
        sources = resolve_sources(cfg)
    except LabError:
        return {"?": (0.0, 0)}
    stamps: dict[str, tuple[float, int]] = {}
    for split, source in sources.items():
        if source and not source.startswith("hf:"):
            for path in (source, *_corrections_candidates(cfg, split, source)):
                try:
                    st = os.stat(path)
                    stamps[str(path)] = (st.st_mtime, st.st_size)
                except OSError:
                    stamps[str(path)] = (0.0, -1)
    return stamps


def _corrections_candidates(cfg: DataConfig, split: str, source: str) -> list[Path]:
    """Where the corrections file a run applies to ``source`` is or would be: ``data.corrections``
    for train, the file's own default for dev and test (as :func:`load_data` reads them)."""
    from tui_lab.core.data import corrections

    off = cfg.corrections.strip().lower() == corrections.NONE
    setting = cfg.corrections if split == "train" or off else ""
    return corrections.candidate_paths(setting, source)
