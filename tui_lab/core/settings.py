"""Every setting of a run, declared once: its type, default, limits, help, CLI flag and form label.

Each setting is a field of one section (``data``, ``model``, ``train``, ``explain``) declared with
:func:`setting`; the CLI's flags, the lab's form, TOML loading and validation are generated from
that declaration (:mod:`tui_lab.core.config` holds the machinery: :class:`~tui_lab.core.config.LabConfig`,
reading values, checking limits, TOML). Core messages name a setting with
:func:`~tui_lab.core.errors.setting_ref`; :func:`render_settings` turns that into a flag for the
CLI or a field label for the lab.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from tui_lab.core.errors import SETTING_MARKER, ConfigError, LabError

PRESETS = ("tiny-bert", "small-bert")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# The task plug-ins (tui_lab.core.tasks) sit above the settings; these are the names the settings
# accept, and the task registry checks at import that its tasks and their metrics are exactly these.
TASK_NAMES = ("classify", "multilabel", "ner", "pretrain")
METRIC_CHOICES = (
    "accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "loss",
    "f1_micro", "subset_accuracy", "precision_micro", "recall_micro",
    "f1", "precision", "recall",
    "perplexity", "masked_accuracy",
)  # fmt: skip
BEST_METRICS = ("", *METRIC_CHOICES)  # "" = the task's default; setup checks the task has it
DEFAULT_DATA = "sample_data/sentiment"


FORM_GROUPS = ("model", "adapters", "training", "evaluation", "data", "explain", "distill", "run")
"""The hyperparameter form's groups, in the order they are shown."""
DATASET_PANE = "dataset"
"""``form=DATASET_PANE``: edited in the Dataset pane, not in the hyperparameter form."""
_SECTION_GROUP = {"data": "data", "model": "model", "train": "training", "explain": "explain"}
_DEFAULT_METAVAR = {int: "N", float: "F", str: "TEXT"}


def setting(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    metavar: str | None = None,
    label: str | None = None,
    form: str | None = "",
    placeholder: str | None = None,
    task: str = "",
    **limits: Any,
) -> Any:
    """Declare one setting: the only place its default, limits, help, flag and label are written.

    Args:
        default: the value when nothing sets it (``None`` = unset, chosen at run time).
        help: one line for ``--help``, the form's tooltip and its placeholder (the part after
            ``"; "``, e.g. ``"empty = <model>-<date>-<time>"``).
        flag: the CLI flag; default ``--`` + the key with dashes (``--max-length``). A boolean gets
            the pair ``--flag`` / ``--no-flag``.
        metavar: the flag's value placeholder; default N (int), F (float), TEXT (str).
        label: the field's label in the lab; default the key with spaces (``max length``).
        form: the form group it shows in (one of :data:`FORM_GROUPS`); ``""`` = its section's
            group; :data:`DATASET_PANE` = edited in the Dataset pane; ``None`` = not in the lab.
        placeholder: what an empty form field means, when the part of ``help`` after ``"; "``
            is too long for the form or does not say it.
        task: the one task that reads this setting (one of :data:`TASK_NAMES`); the lab shows
            it only while that task is chosen. ``""`` = every task reads it.
        **limits: ``min``, ``max``, ``gt``, ``lt``, ``choices``, or ``pattern`` (a full-match
            regular expression) with ``pattern_help`` (what a valid value looks like).
    """
    meta = {
        "help": help,
        "flag": flag,
        "metavar": metavar,
        "label": label,
        "form": form,
        "placeholder": placeholder,
        "task": task,
        **limits,
    }
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    """Where the examples come from and how they are cut."""

    train: str = setting(
        DEFAULT_DATA,
        "train file, a folder with train/dev/test files, or a HF dataset id",
        metavar="PATH",
        form=DATASET_PANE,
    )
    dev: str = setting(
        "",
        "dev file; empty = the folder's dev file or a stratified split of train",
        metavar="PATH",
        form=DATASET_PANE,
    )
    test: str = setting(
        "", "test file; empty = the folder's test file, if any", metavar="PATH", form=DATASET_PANE
    )
    text_column: str = setting(
        "",
        "text column; empty = inferred (text, sentence, review...)",
        metavar="C",
        label="text",
        form=DATASET_PANE,
    )
    label_column: str = setting(
        "",
        "label column; empty = inferred (label, labels, sentiment...)",
        metavar="C",
        label="label",
        form=DATASET_PANE,
    )
    max_length: int = setting(
        128,
        "tokens kept per text; longer texts are truncated",
        placeholder="longer texts are cut",
        min=8,
        max=8192,
    )
    dev_fraction: float = setting(
        0.1, "share of train held out as dev when no dev file", label="dev share", gt=0.0, lt=0.5
    )
    drop_empty: bool = setting(
        False, "drop rows with an empty text or label instead of failing", label="drop empty rows"
    )
    label_delimiter: str = setting(
        "|",
        "separates a text's labels in a string label (multilabel only)",
        label="label delimiter",
        task="multilabel",
    )
    label_all_subtokens: bool = setting(
        False,
        "ner: every sub-token of a word learns its tag (default: the first only, the rest ignored)",
        label="tag all sub-tokens",
        task="ner",
    )
    token_cache_mb: int = setting(
        2048,
        "disk cache of encoded token ids, reused by every run on the same data (least recently "
        "used dropped past this size); 0 = off",
        label="token cache MB",
        form="run",
        min=0,
    )
    corrections: str = setting(
        "",
        "decisions on rows (relabel, drop, keep, add) applied when the data is loaded; "
        "empty = <train file>.corrections.jsonl if it exists, none = ignore it",
        metavar="PATH",
        placeholder="beside the data, if any",
        form="data",
    )
    pool: str = setting(
        "",
        "unlabelled texts to label where the model is least sure (the Label screen, tui-lab suggest)",
        metavar="PATH",
        form="data",
    )


@dataclass
class ModelConfig:
    """Which network to fine-tune."""

    name: str = setting(
        "tiny-bert",
        "a preset (tiny-bert, small-bert), a HF model id or a local dir",
        flag="--model",
        metavar="NAME_OR_PATH",
        label="model",
    )
    trust_remote_code: bool = setting(False, "run code shipped with a hub model (off unless you trust it)")
    vocab_size: int = setting(
        8000, "WordPiece vocabulary size of a from-scratch preset", label="preset vocab", min=100
    )
    task: str = setting(
        "",
        "objective: classify (one label a text), multilabel, ner (a tag a word) or pretrain (masked LM "
        "on unlabelled text); empty = from the data (list labels: multilabel; a .conll file or "
        "tokens+tags columns: ner)",
        metavar="TASK",
        choices=("", *TASK_NAMES),
    )
    hidden_dropout: float | None = setting(
        None,
        "dropout on hidden states (hidden_dropout_prob); empty = the model's own",
        placeholder="the model's own",
        min=0.0,
        lt=1.0,
    )
    attention_dropout: float | None = setting(
        None,
        "dropout on attention weights (attention_probs_dropout_prob); empty = the model's own",
        placeholder="the model's own",
        min=0.0,
        lt=1.0,
    )
    peft: str = setting(
        "none",
        "parameter-efficient fine-tuning through PEFT: none (every weight), lora (adapters), "
        "qlora (adapters on a 4-bit base; CUDA and bitsandbytes)",
        metavar="METHOD",
        label="adapters",
        form="adapters",
        choices=("none", "lora", "qlora"),
    )
    lora_r: int = setting(
        16, "LoRA rank (peft lora/qlora)", metavar="R", label="LoRA r", form="adapters", min=1
    )
    lora_alpha: int | None = setting(
        None,
        "LoRA scaling alpha; empty = 2 x r",
        metavar="A",
        label="LoRA alpha",
        placeholder="2 x r",
        form="adapters",
        min=1,
    )
    lora_dropout: float = setting(
        0.05, "dropout on the LoRA path", label="LoRA dropout", form="adapters", min=0.0, lt=1.0
    )
    lora_targets: str = setting(
        "all-linear",
        "modules that get adapters: all-linear, auto (PEFT's defaults for the architecture) "
        "or a comma list of module names",
        metavar="MODULES",
        label="LoRA targets",
        form="adapters",
    )


@dataclass
class TrainConfig:
    """How to train: the optimiser, schedule, evaluation and where the run is written."""

    epochs: int = setting(5, "passes over the training data", min=1)
    max_steps: int = setting(
        0, "stop after N optimiser steps (the schedule ends there); 0 = run every epoch", min=0
    )
    batch_size: int = setting(32, "examples per optimiser step (per process)", min=1)
    learning_rate: float | None = setting(
        None,
        "peak AdamW learning rate; auto = 1e-3 tiny-bert, 5e-4 small-bert, 3e-5 pretrained",
        flag="--lr",
        placeholder="auto = by model",
        gt=0.0,
    )
    weight_decay: float = setting(0.01, "AdamW weight decay (not on bias and LayerNorm)", min=0.0)
    warmup_ratio: float = setting(0.1, "share of steps with linear warmup", min=0.0, max=1.0)
    gradient_accumulation_steps: int = setting(
        1, "micro-batches summed per optimiser step", flag="--grad-accum", label="grad accum", min=1
    )
    max_grad_norm: float = setting(1.0, "gradient clipping norm; 0 = no clipping", label="clip norm", min=0.0)
    eval_steps: int = setting(
        0,
        "evaluate every N optimiser steps; 0 = every epoch",
        label="eval every N",
        form="evaluation",
        min=0,
    )
    logging_steps: int = setting(
        0,
        "emit the train loss every N steps; 0 = every step on CPU, every 10 on CUDA",
        label="log every N",
        placeholder="0 = 1 on CPU, 10 on CUDA",
        form="evaluation",
        min=0,
    )
    patience: int = setting(
        3, "evaluations without improvement before stopping; 0 = never", form="evaluation", min=0
    )
    metric_for_best_model: str = setting(
        "",
        "dev metric that picks best/; empty = the task's (f1_macro; multilabel f1_micro; ner f1)",
        flag="--metric",
        metavar="NAME",
        label="best metric",
        form="evaluation",
        choices=BEST_METRICS,
    )
    precision: str = setting(
        "auto",
        "auto (bf16/fp16 on CUDA, fp32 on CPU), fp32, bf16, fp16",
        metavar="P",
        choices=PRECISIONS,
    )
    device: str = setting(
        "auto",
        "where to train: auto = cuda:<local rank> when a GPU is visible, else cpu",
        metavar="DEV",
        pattern=r"auto|cpu|cuda(:\d+)?",
        pattern_help="auto, cpu, cuda or cuda:N",
    )
    find_unused_parameters: bool = setting(
        False,
        "under torchrun, let DDP find parameters a step did not use (needed by some hub models; slower)",
        label="DDP unused params",
    )
    gradient_checkpointing: bool = setting(
        False,
        "recompute activations in the backward pass (non-reentrant): less memory, about a third slower",
        label="grad checkpointing",
    )
    fsdp: bool = setting(
        False,
        "under torchrun, shard weights, gradients and optimiser states across processes (FSDP2) "
        "instead of replicating them (DDP)",
        label="FSDP",
    )
    mlm_probability: float = setting(
        0.15,
        "share of tokens masked (task pretrain): 8 in 10 become [MASK], 1 a random token, 1 stays",
        label="mask share",
        form="model",
        task="pretrain",
        gt=0.0,
        lt=1.0,
    )
    whole_word_mask: bool = setting(
        False,
        "mask every piece of a chosen word, always with [MASK] (task pretrain)",
        form="model",
        task="pretrain",
    )
    teacher: str = setting(
        "",
        "distil from this fine-tuned classifier (a run folder or a model folder); empty = no teacher",
        metavar="RUN_OR_MODEL",
        form="distill",
    )
    distill_temperature: float = setting(
        2.0,
        "softens the teacher's and student's scores in the distillation loss",
        flag="--temperature",
        label="temperature",
        form="distill",
        gt=0.0,
    )
    distill_alpha: float = setting(
        0.5,
        "weight of the teacher's soft labels; the labels' own loss gets 1 - alpha",
        flag="--alpha",
        label="alpha",
        form="distill",
        placeholder="0..1; labels get 1 - alpha",
        min=0.0,
        max=1.0,
    )
    unlabeled: str = setting(
        "",
        "unlabelled texts that learn from the teacher only: a CSV/JSONL/Parquet file's text column, "
        "or a text file, one a line",
        metavar="PATH",
        form="distill",
    )
    distill_augment: int = setting(
        0,
        "teacher-labelled copies of each training text (words masked, n-grams cut; Tang et al.); 0 = none",
        flag="--augment",
        metavar="N",
        label="augment copies",
        placeholder="0 = none; 10-20 small sets",
        form="distill",
        min=0,
        max=100,
    )
    student_layers: int = setting(
        0,
        "build the student from K of the teacher's layers (its tokenizer too); 0 = the model setting",
        metavar="K",
        label="teacher layers",
        placeholder="0 = model setting",
        form="distill",
        min=0,
    )
    seed: int = setting(42, "seed for initialisation, data order and dropout", min=0)
    group_by_length: bool = setting(True, "batch texts of similar length together (less padding)")
    baseline: bool = setting(
        True,
        "fit a TF-IDF + logistic regression baseline on the same split",
        label="TF-IDF baseline",
        form="evaluation",
    )
    tensorboard: bool = setting(
        True, "write TensorBoard logs into the run's tb/ (when tensorboard is installed)", form="run"
    )
    output_dir: str = setting("runs", "folder that holds the run folders", metavar="DIR", form="run")
    run_name: str = setting(
        "",
        "name of the run folder; empty = <model>-<date>-<time>",
        metavar="NAME",
        placeholder="empty = model-date-time",
        form="run",
    )


@dataclass
class ExplainConfig:
    """How token explanations are computed (``tui-lab explain``, the console's ctrl+e)."""

    n_steps: int = setting(
        20,
        "Integrated Gradients steps from the [PAD] baseline to the text (more: exacter, slower)",
        flag="--explain-steps",
        label="IG steps",
        min=2,
        max=1000,
    )
    internal_batch_size: int = setting(
        0,
        "interpolated inputs per forward pass when explaining; 0 = all steps of a text at once",
        flag="--explain-batch-size",
        label="IG batch",
        placeholder="0 = all steps at once",
        min=0,
    )


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "explain": ExplainConfig,
}
RUN_SECTION = "run"  # written into a run's config.toml: what the run was, not what to set


# -- field metadata ------------------------------------------------------------------------------
def iter_fields() -> list[tuple[str, dataclasses.Field]]:
    """Every ``("section.key", Field)`` in form order."""
    return [(f"{s}.{f.name}", f) for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def field_names(section: str) -> list[str]:
    """The keys of one section."""
    return [f.name for f in dataclasses.fields(SECTIONS[section])]


def field_spec(path: str) -> dataclasses.Field:
    """The dataclass field behind ``"section.key"``."""
    section, key = split_path(path)
    return next(f for f in dataclasses.fields(SECTIONS[section]) if f.name == key)


def field_type(path: str) -> type:
    """The Python type of a field (``int``, ``float``, ``str`` or ``bool``; Optional unwrapped)."""
    section, key = split_path(path)
    hint = get_type_hints(SECTIONS[section])[key]
    args = [a for a in getattr(hint, "__args__", ()) if a is not type(None)]
    return args[0] if args else hint


def help_text(path: str) -> str:
    """One line of help for a field."""
    return field_spec(path).metadata.get("help", "")


def flag_of(path: str) -> str:
    """The CLI flag of a setting: declared, or ``--`` + the key with dashes (``--max-length``)."""
    meta = field_spec(path).metadata
    return meta.get("flag") or "--" + split_path(path)[1].replace("_", "-")


def label_of(path: str) -> str:
    """The lab's label of a setting: declared, or the key with spaces (``max length``)."""
    meta = field_spec(path).metadata
    return meta.get("label") or split_path(path)[1].replace("_", " ")


def metavar_of(path: str) -> str | None:
    """The value placeholder of a setting's flag (``None`` for a boolean, which takes none)."""
    if field_type(path) is bool:
        return None
    return field_spec(path).metadata.get("metavar") or _DEFAULT_METAVAR[field_type(path)]


def form_group_of(path: str) -> str | None:
    """The form group a setting shows in, :data:`DATASET_PANE`, or ``None`` (not in the lab)."""
    form = field_spec(path).metadata.get("form", "")
    return _SECTION_GROUP[split_path(path)[0]] if form == "" else form


def placeholder_of(path: str) -> str:
    """What an empty form field means: the declared placeholder, else the help text after
    ``"; "`` (``"0 = every epoch"``)."""
    declared = field_spec(path).metadata.get("placeholder")
    if declared is not None:
        return declared
    _, sep, rest = help_text(path).partition("; ")
    return rest if sep else ""


def task_of(path: str) -> str:
    """The one task that reads a setting (the lab shows it only for that task); ``""``: every task."""
    return field_spec(path).metadata.get("task", "")


def form_fields() -> list[tuple[str, str]]:
    """``(path, group)`` of every setting in the hyperparameter form, in display order."""
    grouped = [(p, form_group_of(p)) for p, _ in iter_fields()]
    return [(p, g) for group in FORM_GROUPS for p, g in grouped if g == group]


# -- naming a setting in a message ---------------------------------------------------------------
STYLES = ("flag", "label", "path")


def render_settings(text: str, style: str) -> str:
    """Replace each ``{setting:path[=value]}`` marker (see :func:`setting_ref`) for one face.

    Args:
        text: a message from the core; text without markers comes back unchanged.
        style: ``"flag"`` (CLI: ``--max-length 512``, ``--drop-empty``, ``--no-baseline``),
            ``"label"`` (lab: ``"max length" = 512``, ``"drop empty rows" = on``,
            ``the "text" field``) or
            ``"path"`` (neutral: ``data.max_length = 512``).
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    return SETTING_MARKER.sub(lambda m: _render_one(m.group(1), m.group(2), style), text)


def render_error(error: BaseException, style: str) -> str:
    """A user error's message for one face (settings named as flags or labels); other errors as text."""
    if isinstance(error, LabError):
        return render_settings(error.message, style)
    return f"{type(error).__name__}: {error}"


def _render_one(path: str, value: str | None, style: str) -> str:
    try:
        kind = field_type(path)
    except ConfigError:
        return path if value is None else f"{path} = {value}"
    on = kind is bool and value is not None and value.lower() in ("true", "on", "yes", "1")
    if style == "flag":
        flag = flag_of(path)
        if kind is bool:
            return flag if value is None or on else "--no-" + flag.removeprefix("--")
        return flag if value is None else f"{flag} {value}"
    if style == "label":
        where = "the Dataset pane's" if form_group_of(path) == DATASET_PANE else "the"
        if value is None:
            return f'{where} "{label_of(path)}" field'
        return f'"{label_of(path)}" = ' + (("on" if on else "off") if kind is bool else value)
    return path if value is None else f"{path} = {value}"


def split_path(path: str) -> tuple[str, str]:
    section, _, key = path.partition(".")
    if section not in SECTIONS or key not in field_names(section):
        raise ConfigError(f"unknown configuration key '{path}'.", {path: "unknown key"})
    return section, key
