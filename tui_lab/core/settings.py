"""`LabConfig`: the one configuration object of a run, and its TOML form.

The hyperparameter form edits it, CLI flags override it, TOML saves and loads it, and
:meth:`LabConfig.validate` returns field-level errors (``{"train.epochs": "must be at least 1"}``)
that the form shows beside each field and the CLI prints as one line.

Each setting is declared once, with :func:`setting` (default, help, limits, CLI flag, metavar,
form label and form group), and everything else is generated from that declaration: the CLI's
flags, the lab's form, TOML loading and validation. Core messages name a setting with
:func:`~tui_lab.core.errors.setting_ref`; :func:`render_settings` turns that into a flag for the
CLI or a field label for the lab.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from tui_lab.core.errors import ConfigError
from tui_lab.core.tasks import METRIC_CHOICES, TASKS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

PRESETS = ("tiny-bert", "small-bert")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BEST_METRICS = ("", *METRIC_CHOICES)  # "" = the task's default; setup checks the task has it
DEFAULT_DATA = "sample_data/sentiment"


FORM_GROUPS = ("model", "training", "evaluation", "data", "explain", "run")
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
        **limits: ``min``, ``max``, ``gt``, ``lt``, ``choices``, or ``pattern`` (a full-match
            regular expression) with ``pattern_help`` (what a valid value looks like).
    """
    meta = {"help": help, "flag": flag, "metavar": metavar, "label": label, "form": form, **limits}
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
    max_length: int = setting(128, "tokens kept per text; longer texts are truncated", min=8, max=8192)
    dev_fraction: float = setting(
        0.1, "share of train held out as dev when no dev file", label="dev share", gt=0.0, lt=0.5
    )
    drop_empty: bool = setting(
        False, "drop rows with an empty text or label instead of failing", label="drop empty rows"
    )
    label_delimiter: str = setting(
        "|", "separates a text's labels in a string label (multilabel only)", label="label delimiter"
    )
    label_all_subtokens: bool = setting(
        False,
        "ner: every sub-token of a word learns its tag (default: the first only, the rest ignored)",
        label="tag all sub-tokens",
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
        choices=("", *TASKS),
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
        "peak AdamW learning rate; auto = 1e-3 presets, 3e-5 pretrained",
        flag="--lr",
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
    mlm_probability: float = setting(
        0.15,
        "share of tokens masked (task pretrain): 8 in 10 become [MASK], 1 a random token, 1 stays",
        label="mask share",
        form="model",
        gt=0.0,
        lt=1.0,
    )
    whole_word_mask: bool = setting(
        False, "mask every piece of a chosen word, always with [MASK] (task pretrain)", form="model"
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
        min=0,
    )


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "explain": ExplainConfig,
}
RUN_SECTION = "run"  # written into a run's config.toml: what the run was, not what to set


@dataclass
class LabConfig:
    """The whole configuration of a run: ``data``, ``model``, ``train`` and ``explain`` sections."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)

    # -- access by dotted path ---------------------------------------------------------------
    def get(self, path: str) -> Any:
        """The value at ``"section.key"``."""
        section, key = _split(path)
        return getattr(getattr(self, section), key)

    def set(self, path: str, value: Any) -> None:
        """Set ``"section.key"`` from a typed value or a string typed into a form or a flag.

        Raises:
            ConfigError: unknown key, or a value that cannot be read as the field's type.
        """
        section, key = _split(path)
        setattr(getattr(self, section), key, coerce(path, value))

    def copy(self) -> LabConfig:
        """A deep copy."""
        return LabConfig.from_dict(self.to_dict())

    # -- validation ----------------------------------------------------------------------------
    def validate(self) -> dict[str, str]:
        """Field-level errors, ``{"train.epochs": "must be at least 1"}``; empty when valid."""
        errors: dict[str, str] = {}
        for path, _ in iter_fields():
            problem = check_value(path, self.get(path))
            if problem:
                errors[path] = problem
        if not self.data.train.strip():
            errors["data.train"] = "is required: a file, a folder or a dataset id"
        if not self.model.name.strip():
            errors["model.name"] = "is required: tiny-bert, small-bert, a HF model id or a folder"
        if self.train.run_name:
            problem = run_name_problem(self.train.run_name)
            if problem:
                errors["train.run_name"] = problem
        return errors

    def raise_if_invalid(self) -> None:
        """Raise one :class:`ConfigError` that lists every invalid field on one line."""
        errors = self.validate()
        if errors:
            raise ConfigError(format_errors(errors), errors)

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict; unset (``None``) values are left out, as TOML has no null."""
        out: dict[str, dict[str, Any]] = {}
        for name in SECTIONS:
            values = dataclasses.asdict(getattr(self, name))
            out[name] = {k: v for k, v in values.items() if v is not None}
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> LabConfig:
        """Build from a nested dict, naming the first unknown key or wrongly typed value.

        Raises:
            ConfigError: an unknown section or key, or a value of the wrong type.
        """
        config = cls()
        for section, values in raw.items():
            if section == RUN_SECTION:
                continue  # facts a run recorded (world size, versions), not settings
            if section not in SECTIONS:
                known = ", ".join(SECTIONS)
                raise ConfigError(f"{source}: unknown section [{section}] (known: {known}).")
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: '{section}' must be a table like [{section}].")
            for key, value in values.items():
                path = f"{section}.{key}"
                if key not in field_names(section):
                    raise ConfigError(f"{source}: unknown key '{path}'{_suggest(section, key)}.")
                try:
                    config.set(path, _strict(path, value))
                except ConfigError as exc:
                    raise ConfigError(f"{source}: {exc}", exc.errors) from None
        return config

    def to_toml(self, run: dict[str, Any] | None = None) -> str:
        """The TOML text of this config (the file ``tui-lab train --config`` reads).

        Args:
            run: facts about the run that used it (world size, versions), written as a ``[run]``
                table that loading skips.
        """
        import tomli_w

        header = "# tui-lab configuration: tui-lab train --config THIS_FILE\n"
        data: dict[str, Any] = self.to_dict()
        if run:
            data[RUN_SECTION] = run
        return header + tomli_w.dumps(data)

    def save(self, path: str | Path, run: dict[str, Any] | None = None) -> Path:
        """Write the TOML file, atomically (a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.to_toml(run), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LabConfig:
        """Read a TOML config file.

        Raises:
            ConfigError: missing or unreadable file, bad TOML, unknown key or wrong type.
        """
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist.")
        if path.is_dir():
            raise ConfigError(f"config file {path} is a directory; give a .toml file.")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not UTF-8 text.") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}.") from None
        return cls.from_dict(raw, source=str(path))


# -- field metadata ------------------------------------------------------------------------------
def iter_fields() -> list[tuple[str, dataclasses.Field]]:
    """Every ``("section.key", Field)`` in form order."""
    return [(f"{s}.{f.name}", f) for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def field_names(section: str) -> list[str]:
    """The keys of one section."""
    return [f.name for f in dataclasses.fields(SECTIONS[section])]


def field_spec(path: str) -> dataclasses.Field:
    """The dataclass field behind ``"section.key"``."""
    section, key = _split(path)
    return next(f for f in dataclasses.fields(SECTIONS[section]) if f.name == key)


def field_type(path: str) -> type:
    """The Python type of a field (``int``, ``float``, ``str`` or ``bool``; Optional unwrapped)."""
    section, key = _split(path)
    hint = get_type_hints(SECTIONS[section])[key]
    args = [a for a in getattr(hint, "__args__", ()) if a is not type(None)]
    return args[0] if args else hint


def help_text(path: str) -> str:
    """One line of help for a field."""
    return field_spec(path).metadata.get("help", "")


def flag_of(path: str) -> str:
    """The CLI flag of a setting: declared, or ``--`` + the key with dashes (``--max-length``)."""
    meta = field_spec(path).metadata
    return meta.get("flag") or "--" + _split(path)[1].replace("_", "-")


def label_of(path: str) -> str:
    """The lab's label of a setting: declared, or the key with spaces (``max length``)."""
    meta = field_spec(path).metadata
    return meta.get("label") or _split(path)[1].replace("_", " ")


def metavar_of(path: str) -> str | None:
    """The value placeholder of a setting's flag (``None`` for a boolean, which takes none)."""
    if field_type(path) is bool:
        return None
    return field_spec(path).metadata.get("metavar") or _DEFAULT_METAVAR[field_type(path)]


def form_group_of(path: str) -> str | None:
    """The form group a setting shows in, :data:`DATASET_PANE`, or ``None`` (not in the lab)."""
    form = field_spec(path).metadata.get("form", "")
    return _SECTION_GROUP[_split(path)[0]] if form == "" else form


def placeholder_of(path: str) -> str:
    """What an empty form field means: the help text after ``"; "`` (``"0 = every epoch"``)."""
    _, sep, rest = help_text(path).partition("; ")
    return rest if sep else ""


def form_fields() -> list[tuple[str, str]]:
    """``(path, group)`` of every setting in the hyperparameter form, in display order."""
    grouped = [(p, form_group_of(p)) for p, _ in iter_fields()]
    return [(p, g) for group in FORM_GROUPS for p, g in grouped if g == group]


# -- naming a setting in a message ---------------------------------------------------------------
_REF = re.compile(r"\{setting:([a-z_]+\.[a-z_]+)(?:=([^}]*))?\}")
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
    return _REF.sub(lambda m: _render_one(m.group(1), m.group(2), style), text)


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


def coerce(path: str, value: Any) -> Any:
    """Turn a typed value or a string into the field's type.

    Raises:
        ConfigError: the value cannot be read as that type.
    """
    kind = field_type(path)
    optional = field_spec(path).default is None
    if isinstance(value, str):
        text = value.strip()
        if optional and text.lower() in ("", "auto", "none"):
            return None
        if kind is bool:
            lowered = text.lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise ConfigError(
                f"{path} must be true or false, got '{value}'.", {path: "must be true or false"}
            )
        if kind is int:
            try:
                return int(text)
            except ValueError:
                raise ConfigError(
                    f"{path} must be a whole number, got '{value}'.", {path: "must be a whole number"}
                ) from None
        if kind is float:
            try:
                return float(text)
            except ValueError:
                raise ConfigError(
                    f"{path} must be a number, got '{value}'.", {path: "must be a number"}
                ) from None
        return value
    if value is None and optional:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        name = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}[kind]
        raise ConfigError(f"{path} must be {name}, got {value!r}.", {path: f"must be {name}"})
    return value


def check_value(path: str, value: Any) -> str | None:
    """The reason a (typed) value is out of its field's limits, or ``None`` when it is fine."""
    meta = field_spec(path).metadata
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if "choices" in meta and value not in meta["choices"]:
        return f"must be one of {', '.join(meta['choices'])}"
    if "min" in meta and value < meta["min"]:
        return f"must be at least {meta['min']}"
    if "max" in meta and value > meta["max"]:
        return f"must be at most {meta['max']}"
    if "gt" in meta and value <= meta["gt"]:
        return f"must be greater than {meta['gt']}"
    if "lt" in meta and value >= meta["lt"]:
        return f"must be less than {meta['lt']}"
    if "pattern" in meta and not re.fullmatch(meta["pattern"], str(value)):
        return f"must be {meta.get('pattern_help', 'like ' + meta['pattern'])}"
    return None


def run_name_problem(name: str) -> str | None:
    """Why a run name cannot be a folder name inside the output directory, or ``None``."""
    if name in (".", "..") or "/" in name or "\\" in name or ".." in name:
        return "must be a plain folder name (no '/', '\\' or '..')"
    if name.startswith(".") or any(ord(c) < 32 for c in name):
        return "must not start with '.' or contain control characters"
    return None


def format_errors(errors: dict[str, str]) -> str:
    """``"invalid configuration: train.epochs must be at least 1; ..."`` on one line."""
    parts = "; ".join(f"{path} {reason}" for path, reason in errors.items())
    return f"invalid configuration: {parts}."


def _split(path: str) -> tuple[str, str]:
    section, _, key = path.partition(".")
    if section not in SECTIONS or key not in field_names(section):
        raise ConfigError(f"unknown configuration key '{path}'.", {path: "unknown key"})
    return section, key


def _strict(path: str, value: Any) -> Any:
    """TOML values are typed: refuse strings where a number or a flag is expected."""
    if isinstance(value, str) and field_type(path) is not str:
        if not (field_spec(path).default is None and value.lower() == "auto"):
            kind = {int: "a whole number", float: "a number", bool: "true or false"}[field_type(path)]
            raise ConfigError(f"{path} must be {kind}, got {value!r}.", {path: f"must be {kind}"})
    return value


def _suggest(section: str, key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, field_names(section), n=1)
    return f" (did you mean '{section}.{close[0]}'?)" if close else ""
