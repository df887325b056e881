"""The hook that turns a run into a distilled one (see the package docstring).

:func:`hooks_for` is what a face passes to the trainer: nothing for a run without a teacher.
At set-up the :class:`Distiller` checks the teacher against the run, scores the texts once (or, on
resume, reads the scores the run folder keeps), adds the unlabelled rows, builds a
``teacher:K`` student, and swaps the task for the distilling wrapper; once the run folder
exists it writes the scores there and trains from the memory-mapped file. A NER run (a task
whose head is per token) is scored and trained word by word: the same steps with the
per-word scoring and the per-word wrapper.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from tui_lab.core.atomic import write_text_atomically
from tui_lab.core.config import LabConfig
from tui_lab.core.data.batching import TokenArrays, concat, encode
from tui_lab.core.data.checks import infer_text_column
from tui_lab.core.data.files import FORMATS, TOKEN_SUFFIXES, read_table
from tui_lab.core.data.tagged import DOCSTART, token_columns
from tui_lab.core.distill import augment, layers, teacher
from tui_lab.core.distill.loss import DistillTask, TokenDistillTask
from tui_lab.core.errors import ConfigError, DataError, setting_ref
from tui_lab.core.tasks.ner import IGNORE, TokenTargets
from tui_lab.core.training.events import TeacherReady
from tui_lab.core.training.hooks import Hooks
from tui_lab.core.training.prepare import build_optimisation
from tui_lab.core.training.runs import CONFIG_FILE

TEACHER_LOGITS_FILE = "teacher_logits.npy"  # (train + unlabelled rows, labels) float16, in the run folder;
# NER: (rows, words, labels), NaN where the teacher saw no word
TEACHER_FILE = "teacher.json"  # the teacher's source, backend and dev metrics, in the run folder
TEACHER_BATCH = 64


def hooks_for(config: LabConfig, resume: str | Path | None = None) -> list[Hooks]:
    """The hooks a run needs for distillation: none without a teacher.

    A ``teacher:K`` student (``train.student_layers``) starts from the teacher's folder, so its
    ``model.name`` becomes that folder here (the run's config.toml records it).

    Raises:
        LabError: the teacher cannot be read, or it has too few layers for the student.
        ConfigError: unlabelled texts or augmentation asked for without a teacher to label them.
    """
    if not config.train.teacher and not resume:
        for key in ("train.unlabeled", "train.distill_augment"):
            if config.get(key):
                raise ConfigError(
                    f"{setting_ref(key)} needs a teacher to label its texts: give "
                    f"{setting_ref('train.teacher')} (a fine-tuned run) or clear it."
                )
    resume_dir = Path(resume).expanduser().resolve() if resume else None
    if resume_dir is not None and (resume_dir / CONFIG_FILE).is_file():
        config = LabConfig.load(resume_dir / CONFIG_FILE)
        return [Distiller(resume_dir)] if config.train.teacher else []
    where = Path(config.train.teacher).expanduser()
    if config.train.teacher and where.exists():
        config.train.teacher = str(where.resolve())  # absolute in config.toml: export finds it later
    if config.train.student_layers and config.train.teacher:
        folder, model_config = teacher.teacher_config(config.train.teacher)
        layers.chosen_layers(int(model_config.num_hidden_layers), config.train.student_layers)
        config.model.name = str(folder)
    return [Distiller(resume_dir)] if config.train.teacher else []


class Distiller(Hooks):
    """Distils ``train.teacher`` into the run's model (see the module docstring)."""

    def __init__(self, resume_dir: Path | None = None) -> None:
        self.resume_dir = resume_dir
        self.scores: teacher.TeacherScores | None = None  # computed now, written once the folder exists
        self.task: DistillTask | None = None

    def on_setup(self, setup: Any) -> None:
        """Score (or reload) the teacher's logits, add unlabelled rows, shrink, wrap the task."""
        tc = setup.config.train
        if not tc.teacher:
            return
        unlabeled = unlabeled_rows(setup.task, read_unlabeled(tc.unlabeled, setup.config.data.text_column))
        copies = augmented_rows(setup)
        if copies:
            setup.notes.append(
                f"augmented: {len(copies):,} teacher-labelled copies of the training texts "
                f"({tc.distill_augment} drawn from each: words masked, n-grams cut)"
            )
        unlabeled += copies
        saved = self.resume_dir / TEACHER_LOGITS_FILE if self.resume_dir else None
        if saved is not None and saved.is_file():
            logits = np.load(saved, mmap_mode="r")
            facts = json.loads((self.resume_dir / TEACHER_FILE).read_text(encoding="utf-8"))
        else:
            self.scores = self._score(setup, unlabeled)
            logits, facts = self.scores.logits, _facts(self.scores)
        rows = len(setup.train) + len(unlabeled)
        if len(logits) != rows:
            raise DataError(
                f"the run's {TEACHER_LOGITS_FILE} has {len(logits)} rows but the training and unlabelled "
                f"texts are {rows}; the {setting_ref('train.unlabeled')} file or "
                f"{setting_ref('train.distill_augment')} changed since the run began."
            )
        changed = _add_unlabeled(setup, unlabeled)
        if tc.student_layers and setup.last_dir is None:
            model, chosen = layers.shrink(setup.model, tc.student_layers)
            setup.model = model.to(setup.device)
            setup.notes.append(f"student: layers {', '.join(map(str, chosen))} of the teacher")
            changed = True
        if changed:
            build_optimisation(setup)
        has_label = np.arange(rows) < rows - len(unlabeled)
        wrapper = TokenDistillTask if per_token(setup.task) else DistillTask
        self.task = wrapper(
            setup.task, setup.train.targets, logits, has_label, tc.distill_temperature, tc.distill_alpha
        )
        setup.task = self.task
        setup.events.append(TeacherReady(**facts))
        setup.report["teacher"] = facts

    def on_run_dir(self, setup: Any, run_dir: Any) -> None:
        """Keep the scores in the run folder (rank 0) and train from the memory-mapped file."""
        if self.scores is None or run_dir is None or not setup.dist.is_main:
            return
        path = Path(run_dir) / TEACHER_LOGITS_FILE
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, self.scores.logits)
        os.replace(tmp, path)
        write_text_atomically(Path(run_dir) / TEACHER_FILE, json.dumps(_facts(self.scores), indent=2))
        self.task.teacher = np.load(path, mmap_mode="r")
        self.scores = None

    def _score(self, setup: Any, unlabeled: list[Any]) -> teacher.TeacherScores:
        tc = setup.config.train
        folder, columns = teacher.check_teacher(tc.teacher, setup.task, setup.data.label_names)
        predictor = teacher.load_predictor(tc.teacher, folder, setup.device)
        texts = list(setup.data.train.texts) + unlabeled
        score = teacher.score_words if per_token(setup.task) else teacher.score
        max_length = setup.config.data.max_length
        return score(
            predictor,
            setup.task,
            columns,
            texts,
            setup.data.dev,
            max_length,
            TEACHER_BATCH,
            setup.dist,
            setup.say,
            None if setup.dist.enabled else setup.stop,  # one rank alone must not leave the others waiting
        )


def per_token(task: Any) -> bool:
    """Whether the task labels every token (NER): its teacher is scored and compared word by word."""
    return task.head == "token"


def augmented_rows(setup: Any) -> list[Any]:
    """``train.distill_augment`` copies of each training text, as the task's rows (see
    :mod:`~tui_lab.core.distill.augment`); masked words become the student's mask token."""
    n = setup.config.train.distill_augment
    if not n:
        return []
    ner = per_token(setup.task)  # its rows are words already
    rows = [list(t) if ner else str(t).split() for t in setup.data.train.texts]
    mask = getattr(setup.tokenizer, "mask_token", None)
    copies = augment.augmented(rows, n, setup.config.train.seed, mask)
    return copies if ner else [" ".join(words) for words in copies]


def unlabeled_rows(task: Any, texts: list[Any]) -> list[Any]:
    """The unlabelled texts as the task's rows: a NER sentence is its words (a line split on
    whitespace, or a tokens column's list as it is); a sentence task's text is a string."""
    if per_token(task):
        return [text.split() if isinstance(text, str) else [str(w) for w in text] for text in texts]
    return [text if isinstance(text, str) else " ".join(map(str, text)) for text in texts]


def read_unlabeled(path: str, text_column: str = "", setting: str = "train.unlabeled") -> list[Any]:
    """The texts of ``train.unlabeled`` (none when it is not set); ``setting`` names another
    setting that gives such a file (``data.pool``) in the messages.

    A CSV/TSV/JSONL/Parquet file gives its text column (``text_column`` if named, else the usual
    names, as for unlabelled prediction files; a ``tokens``/``words`` column of word lists for
    NER); a CoNLL file its sentences' words; any other file its non-empty lines, one text a line.

    Raises:
        DataError: the file is missing, unreadable, not UTF-8, lacks the column, or has no text.
    """
    if not path:
        return []
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(
            f"{setting_ref(setting)} {p} is not a file; give a text file (one text a line) "
            "or a CSV/JSONL/Parquet file with a text column."
        )
    suffix = p.suffix.lower()
    if suffix in FORMATS and suffix != ".txt":  # a table (the data reader's .txt is a TSV; here it is lines)
        texts = _table_texts(p, text_column)
    else:
        try:
            lines = [line.strip() for line in p.read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError:
            raise DataError(f"{p} is not UTF-8 text; re-encode it, e.g. iconv -f latin1 -t utf-8.") from None
        texts = _conll_words(lines) if suffix in TOKEN_SUFFIXES else [line for line in lines if line]
    if not texts:
        raise DataError(
            f"{setting_ref(setting)} {p} has no text; give one text a line (or a text column) "
            "or leave it empty."
        )
    return texts


def _conll_words(lines: list[str]) -> list[list[str]]:
    """The sentences of a CoNLL file, tagged or not: the first column, blank lines between."""
    sentences: list[list[str]] = [[]]
    for line in lines:
        word = line.split()[0] if line else ""
        if word and word != DOCSTART:
            sentences[-1].append(word)
        elif sentences[-1]:
            sentences.append([])
    return [words for words in sentences if words]


def _table_texts(path: Path, text_column: str) -> list[Any]:
    """The non-empty values of a data file's text column (or its word-list column)."""
    table = read_table(str(path))
    words, _ = token_columns(table.column_names)
    column = words if words and not text_column else infer_text_column(table, text_column)
    values = table.columns[column]
    return [v for v in values if (v.strip() if isinstance(v, str) else v)]


def _add_unlabeled(setup: Any, texts: list[Any]) -> bool:
    """Append the unlabelled texts to the training split (labels that the task's loss never sees)."""
    if not texts:
        return False
    if per_token(setup.task):
        return _add_unlabeled_sentences(setup, texts)
    tokens = encode(setup.tokenizer, texts, setup.config.data.max_length)
    targets = setup.train.targets
    filler = np.full((len(texts), *targets.shape[1:]), -100 if targets.ndim == 1 else 0, dtype=targets.dtype)
    setup.train.tokens = concat([setup.train.tokens, tokens])
    setup.train.targets = np.concatenate([targets, filler])
    return True


def _add_unlabeled_sentences(setup: Any, sentences: list[list[str]]) -> bool:
    """Append unlabelled sentences to a NER training split: every sub-token's tag ``-100``."""
    tags = [[0] * len(words) for words in sentences]
    tokens, targets = setup.task.encode(setup.tokenizer, sentences, tags, setup.config.data.max_length)
    train = setup.train.targets
    ignored = TokenArrays(np.full_like(targets.labels.values, IGNORE), targets.labels.offsets)
    setup.train.tokens = concat([setup.train.tokens, tokens])
    setup.train.targets = TokenTargets(
        concat([train.labels, ignored]), np.concatenate([train.word_start, targets.word_start])
    )
    return True


def _facts(scores: teacher.TeacherScores) -> dict[str, Any]:
    """The ``TeacherReady`` event's fields (also report.json's ``teacher`` and teacher.json)."""
    return {
        "source": scores.source,
        "dev": scores.dev,
        "backend": scores.backend,
        "rows": len(scores.logits),
        "seconds": scores.seconds,
    }
