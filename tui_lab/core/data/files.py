"""Loading train/dev/test examples, checking them, and describing them.

Files (CSV, TSV, JSONL/JSON, Parquet) and Hugging Face dataset ids are read through
``datasets``; every way a file can be wrong becomes one :class:`DataError` sentence that names
the file, the row or the column. Text and label columns are inferred when not given; string or
integer labels become ``label2id``; a stratified dev split is cut when there is no dev file.
Multi-label data has a list of labels a row (a JSON list, or a string split at
``data.label_delimiter``); list labels are recognised without being asked for.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_lab.core.config import DataConfig
from tui_lab.core.errors import DataError, setting_ref

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "json",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
TOKEN_SUFFIXES = (".conll", ".bio")  # CoNLL token-tag files (named-entity data, core/token_data.py)
TEXT_NAMES = (
    "text",
    "sentence",
    "review",
    "content",
    "document",
    "body",
    "comment",
    "tweet",
    "utterance",
    "query",
    "question",
    "sentence1",
    "input",
    "x",
)
LABEL_NAMES = (
    "label",
    "labels",
    "sentiment",
    "class",
    "category",
    "target",
    "topic",
    "y",
    "polarity",
    "rating",
    "intent",
    "gold_label",
    "coarse_label",
    "fine_label",
)
SPLIT_NAMES = {
    "train": ("train", "training"),
    "dev": ("dev", "validation", "valid", "val"),
    "test": ("test", "testing"),
}


@dataclass
class Split:
    """The texts and labels of one split, and where each came from.

    A label is a class index, or (multi-label data) a list of class indices.

    ``rows[i]`` is the 0-based data row (header not counted) of example ``i`` in its source file,
    before empty rows were dropped or a dev split was cut, so an error analysis can point at the
    user's own file. Left out, it is ``0 .. len(texts) - 1``.
    """

    texts: list[str]
    labels: list[Any]  # list[int], or list[list[int]] for multi-label data
    rows: list[int] | None = None

    def __post_init__(self) -> None:
        if self.rows is None:
            self.rows = list(range(len(self.texts)))

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Any) -> Split:
        """The examples at ``indices`` (in that order), rows included."""
        rows = self.rows or []
        return Split(
            [self.texts[i] for i in indices], [self.labels[i] for i in indices], [rows[i] for i in indices]
        )


def label_map(label_names: list[str]) -> dict[str, int]:
    """Label name -> class index: the one place the mapping is spelled out."""
    return {name: i for i, name in enumerate(label_names)}


@dataclass
class DataBundle:
    """Train, dev and (optional) test splits with one shared label map."""

    train: Split
    dev: Split
    test: Split | None
    label_names: list[str]
    text_column: str
    label_column: str
    sources: dict[str, str]
    notes: list[str] = field(default_factory=list)
    multilabel: bool = False  # every row's label is a list of label indices
    dev_from_train: bool = False  # dev was cut from the training file (no dev file was given)

    @property
    def label2id(self) -> dict[str, int]:
        """Label name -> class index."""
        return label_map(self.label_names)

    @property
    def id2label(self) -> dict[int, str]:
        """Class index -> label name."""
        return dict(enumerate(self.label_names))


@dataclass
class Table:
    """A loaded file: its columns as lists, and where it came from."""

    columns: dict[str, list[Any]]
    source: str
    class_names: list[str] | None = None  # a ClassLabel feature's names (hub datasets)

    @property
    def column_names(self) -> list[str]:
        """Column names in file order."""
        return list(self.columns)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))


# -- locating files ------------------------------------------------------------------------------
def resolve_sources(cfg: DataConfig) -> dict[str, str | None]:
    """Where train, dev and test come from: files, a folder's split files, or a dataset id.

    A folder given as ``train`` supplies its ``train.*``, ``dev.*``/``validation.*`` and
    ``test.*`` files unless ``dev``/``test`` are given explicitly.
    """
    train = cfg.train.strip()
    path = Path(train).expanduser()
    if not path.exists() and train.startswith("sample_data/"):
        path = bundled_sample(train.removeprefix("sample_data/")) or path
    sources: dict[str, str | None] = {
        "train": str(path),
        "dev": cfg.dev.strip() or None,
        "test": cfg.test.strip() or None,
    }
    if path.is_dir():
        found = find_split_files(path)
        if "train" not in found:
            raise DataError(
                f"{path} is a folder without a train file (train.csv, train.jsonl, "
                f"train.parquet...); give the file itself with {setting_ref('data.train')}."
            )
        sources["train"] = found["train"]
        sources["dev"] = sources["dev"] or found.get("dev")
        sources["test"] = sources["test"] or found.get("test")
    elif not path.exists() and looks_like_hub_id(train):
        sources["train"] = f"hf:{train}"
    return sources


def bundled_sample(name: str) -> Path | None:
    """The sample data set ``name`` (``sentiment``, ``topics``...) shipped inside the package.

    ``sample_data/<name>`` resolves here when no such folder exists where tui-lab runs, so the
    default works from any folder and from an installed (non-editable) package.
    """
    from importlib.resources import files

    folder = Path(str(files("tui_lab") / "sample_data" / name))
    return folder if name and folder.is_dir() else None


def find_split_files(folder: Path) -> dict[str, str]:
    """``{"train": ..., "dev": ..., "test": ...}`` for the split files found in a folder."""
    found: dict[str, str] = {}
    suffixes = (*FORMATS, *TOKEN_SUFFIXES)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    for split, names in SPLIT_NAMES.items():
        for name in names:
            match = next((p for p in files if p.stem.lower() == name), None)
            if match:
                found[split] = str(match)
                break
    return found


def looks_like_hub_id(text: str) -> bool:
    """``imdb`` or ``stanfordnlp/sst2``: no file suffix, at most one slash, no path syntax."""
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", text)) and Path(text).suffix == ""


# -- reading files ---------------------------------------------------------------------------------
def check_file(path: str) -> Path:
    """The path as a readable, non-empty data file of a known format.

    Raises:
        DataError: missing, a folder, empty, or an unknown format.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p} does not exist; check the path.")
    if p.is_dir():
        raise DataError(f"{p} is a folder, not a file; give a .csv, .tsv, .jsonl or .parquet file.")
    if p.suffix.lower() in TOKEN_SUFFIXES:
        raise DataError(
            f"{p} is a CoNLL file of token tags (named-entity data); train it with "
            f"{setting_ref('model.task', 'ner')}."
        )
    if p.suffix.lower() not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise DataError(f"{p} has an unknown format '{p.suffix or '(none)'}'; use one of {known}.")
    if not os.access(p, os.R_OK):
        raise DataError(f"{p} cannot be read (permission denied).")
    if p.stat().st_size == 0:
        raise DataError(f"{p} is empty.")
    return p


def read_table(source: str, split: str = "train") -> Table:
    """Read a whole file, or one split of a hub dataset (``hf:ID``), into columns.

    Raises:
        DataError: the file or dataset cannot be read; the message names what to fix.
    """
    if source.startswith("hf:"):
        return _read_hub(source[3:], split)
    path = check_file(source)
    fmt = FORMATS[path.suffix.lower()]
    if fmt == "csv":
        _check_header(path)
    kwargs: dict[str, Any] = {}
    if fmt == "csv":
        kwargs = {"sep": "\t" if path.suffix.lower() in (".tsv", ".txt") else ","}
    ds = _load("file", path, fmt, kwargs)
    if ds.num_rows == 0:
        raise DataError(f"{path} has a header but no rows.")
    return Table(_columns(ds), str(path))


def read_preview(source: str, rows: int = 200) -> Table:
    """The first ``rows`` rows of a file without reading the rest (fast on a 1,000,000-row file)."""
    if source.startswith("hf:"):
        table = read_table(source)
        return Table({k: v[:rows] for k, v in table.columns.items()}, source, table.class_names)
    path = check_file(source)
    fmt = FORMATS[path.suffix.lower()]
    if _is_plain_text(path):
        return Table({"text": _first_lines(path, rows)}, str(path))
    import pandas as pd

    try:
        if fmt == "csv":
            _check_header(path)
            sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
            frame = pd.read_csv(path, sep=sep, nrows=rows, dtype=object, encoding="utf-8")
        elif fmt == "json":
            frame = pd.read_json(
                path, lines=_is_jsonl(path), nrows=rows if _is_jsonl(path) else None, dtype=False
            )
        else:
            import pyarrow.parquet as pq

            batch = next(pq.ParquetFile(path).iter_batches(batch_size=rows), None)
            frame = batch.to_pandas() if batch is not None else pd.DataFrame()
    except UnicodeDecodeError:
        raise DataError(_utf8_message(path)) from None
    except Exception as exc:
        raise DataError(f"{path} cannot be read: {_first_line(exc)}.") from None
    frame = frame.head(rows).astype(object).where(frame.notna(), None)
    return Table({str(c): frame[c].tolist() for c in frame.columns}, str(path))


def _is_plain_text(path: Path) -> bool:
    """A ``.txt`` file of one text a line (no tab in its first line: not a TSV table)."""
    if path.suffix.lower() != ".txt":
        return False
    with path.open("rb") as f:
        return b"\t" not in f.readline()


def _first_lines(path: Path, rows: int) -> list[str]:
    """The first ``rows`` non-empty lines of a UTF-8 text file, stripped."""
    lines: list[str] = []
    try:
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    lines.append(line.strip())
                if len(lines) >= rows:
                    break
    except UnicodeDecodeError:
        raise DataError(_utf8_message(path)) from None
    return lines


def _load(kind: str, path: Path, fmt: str, kwargs: dict[str, Any]) -> Any:
    import datasets

    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(fmt, data_files=str(path), split="train", **kwargs)
    except Exception as exc:
        cause = exc.__cause__ or exc.__context__ or exc
        raise DataError(_explain_read_error(path, fmt, cause, exc)) from None


def _explain_read_error(path: Path, fmt: str, cause: BaseException, exc: BaseException) -> str:
    name = type(cause).__name__
    text = str(cause)
    if isinstance(cause, UnicodeDecodeError):
        return _utf8_message(path)
    if name == "EmptyDataError":
        return f"{path} is empty."
    if name == "ParserError":
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
        if match:
            want, line, saw = match.groups()
            return (
                f"{path} line {line} has {saw} fields where the header has {want}; "
                f"quote texts that contain commas."
            )
        return f"{path} is not valid CSV: {_first_line(cause)}."
    if "corresponds to no data" in str(exc):
        return f"{path} has a header but no rows."
    if fmt == "json":
        row = re.search(r"in row (\d+)", text)
        where = f" near line {int(row.group(1)) + 1}" if row else ""
        return f"{path} is not valid JSON Lines{where}: each line must be one JSON object."
    if fmt == "parquet":
        return f"{path} is not a readable Parquet file: {_first_line(cause)}."
    return f"{path} cannot be read: {_first_line(cause)}."


def _utf8_message(path: Path) -> str:
    line, offset = _first_bad_utf8(path)
    return (
        f"{path} is not UTF-8 text (bad byte at line {line}, byte {offset}); "
        f"re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8."
    )


def _first_bad_utf8(path: Path) -> tuple[int, int]:
    """(line number, byte offset) of the first byte that is not valid UTF-8."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1, exc.start
    return 0, 0


def _check_header(path: Path) -> None:
    """Refuse duplicate column names (pandas would silently rename them to ``x.1``)."""
    import csv

    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        header = next(csv.reader(fh, delimiter=sep), [])
    names = [h.strip() for h in header]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"{path} has duplicate column names: {', '.join(dupes)}; rename them.")
    if not any(names):
        raise DataError(f"{path} has no header row; the first line must name the columns.")


def _is_jsonl(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip()
    return not head.startswith(b"[")


def _read_hub(dataset_id: str, split: str) -> Table:
    import datasets

    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    datasets.disable_progress_bars()
    from tui_lab.core import hub

    names = {"train": ["train"], "dev": ["validation", "dev", "valid", "test"], "test": ["test"]}
    if not hub.offline():  # a quick answer instead of ~25 s of retries when the hub is out of reach
        status = hub.probe(dataset_id, "dataset")
        if status != "ok":
            raise DataError(
                hub.explain(dataset_id, status, "dataset", "give a local .csv/.jsonl/.parquet path")
            )
    try:
        builder_splits = datasets.get_dataset_split_names(dataset_id)
    except Exception:
        raise DataError(
            f"dataset '{dataset_id}' is neither a local file nor reachable on the Hugging Face hub "
            f"(offline or no such dataset); give a local .csv/.jsonl/.parquet path."
        ) from None
    chosen = next((s for s in names[split] if s in builder_splits), None)
    if chosen is None:
        raise DataError(f"dataset '{dataset_id}' has no {split} split (it has: {', '.join(builder_splits)}).")
    ds = datasets.load_dataset(dataset_id, split=chosen)
    class_names = None
    for feature in ds.features.values():
        if isinstance(feature, datasets.ClassLabel):
            class_names = list(feature.names)
    return Table(_columns(ds), f"hf:{dataset_id}[{chosen}]", class_names)


def _columns(ds: Any) -> dict[str, list[Any]]:
    """A ``datasets.Dataset``'s columns as Python lists, straight from its Arrow table.

    ``ds[name]`` is a lazy column in ``datasets`` 4 whose iteration formats one row at a time
    (about 50x slower at 1,000,000 rows); one ``to_pylist`` per column is a single C-level pass.
    """
    return {name: ds.data.column(name).to_pylist() for name in ds.column_names}


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")


# -- columns -------------------------------------------------------------------------------------
def infer_columns(table: Table, text_column: str = "", label_column: str = "") -> tuple[str, str]:
    """The text and label column names: the given ones (checked) or the usual names.

    Raises:
        DataError: a named column is missing, or none can be inferred.
    """
    cols = table.column_names
    lowered = {c.lower().strip(): c for c in cols}
    have = ", ".join(cols)
    if text_column and text_column not in cols:
        raise DataError(
            f"{table.source} has no column '{text_column}' (it has: {have}); pick one with {setting_ref('data.text_column')}."
        )
    if label_column and label_column not in cols:
        raise DataError(
            f"{table.source} has no column '{label_column}' (it has: {have}); pick one with {setting_ref('data.label_column')}."
        )
    label = label_column or next((lowered[n] for n in LABEL_NAMES if n in lowered), "")
    text = text_column or next((lowered[n] for n in TEXT_NAMES if n in lowered and lowered[n] != label), "")
    if not text:
        strings = [c for c in cols if c != label and _mostly_text(table.columns[c])]
        text = strings[0] if len(strings) == 1 else ""
    if not text and {"tokens", "tags"} <= set(lowered):
        raise DataError(
            f"{table.source} has tokens and tags columns (named-entity data); train it with "
            f"{setting_ref('model.task', 'ner')}."
        )
    if not text:
        raise DataError(
            f"{table.source} has no text column I can recognise (it has: {have}); name it with {setting_ref('data.text_column')}."
        )
    if not label:
        raise DataError(
            f"{table.source} has no label column I can recognise (it has: {have}); "
            f"name it with {setting_ref('data.label_column')}."
        )
    if text == label:
        raise DataError(f"text and label column are both '{text}'; they must differ.")
    return text, label


def infer_text_column(table: Table, text_column: str = "") -> str:
    """The text column of a table read without labels: the given one (checked) or the usual names.

    Raises:
        DataError: the named column is missing, or none can be inferred.
    """
    cols = table.column_names
    if text_column:
        if text_column not in cols:
            raise DataError(
                f"{table.source} has no column '{text_column}' (it has: {', '.join(cols)}); pick one with "
                f"{setting_ref('data.text_column')}."
            )
        return text_column
    lowered = {c.lower().strip(): c for c in cols}
    found = next((lowered[n] for n in TEXT_NAMES if n in lowered), "")
    strings = [c for c in cols if _mostly_text(table.columns[c])]
    if found or len(strings) == 1:
        return found or strings[0]
    raise DataError(
        f"{table.source} has no text column I can recognise (it has: {', '.join(cols)}); name it with "
        f"{setting_ref('data.text_column')}."
    )


def _mostly_text(values: list[Any]) -> bool:
    sample = [v for v in values[:200] if v is not None]
    return bool(sample) and sum(isinstance(v, str) and " " in v for v in sample) >= len(sample) / 2


def clean_rows(
    table: Table, text_col: str, label_col: str, drop_empty: bool
) -> tuple[list[str], list[Any], int]:
    """Texts and raw labels with empty texts/labels refused (or dropped when ``drop_empty``).

    Returns:
        (texts, labels, number of dropped rows)

    Raises:
        DataError: empty or missing texts or labels and ``drop_empty`` is off.
    """
    texts, labels, kept = clean_rows_indexed(table, text_col, label_col, drop_empty)
    return texts, labels, len(table) - len(kept)


def clean_rows_indexed(
    table: Table, text_col: str, label_col: str, drop_empty: bool, allow_lists: bool = False
) -> tuple[list[str], list[Any], list[int]]:
    """Like :func:`clean_rows`, but returns the 0-based data row of each kept example.

    Returns:
        (texts, labels, kept rows)
    """
    texts_raw, labels_raw = table.columns[text_col], table.columns[label_col]
    texts: list[str] = []
    labels: list[Any] = []
    kept: list[int] = []
    bad: list[int] = []
    for i, (text, label) in enumerate(zip(texts_raw, labels_raw)):
        if _missing(text) or _missing(label) or (isinstance(text, str) and not text.strip()):
            bad.append(i)
            continue
        texts.append(text if isinstance(text, str) else str(text))
        labels.append(label)
        kept.append(i)
    if bad and not drop_empty:
        rows = ", ".join(str(i + 1) for i in bad[:5])  # data rows as a user counts them, from 1
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise DataError(
            f"{table.source} has {len(bad)} row(s) with an empty text or label "
            f"(row {rows}{more}); fix them or set {setting_ref('data.drop_empty', True)}."
        )
    if not texts:
        raise DataError(f"{table.source} has no row with both a text and a label.")
    _check_single_labels(labels, table.source, label_col, allow_lists)
    return texts, labels, kept


def _check_single_labels(labels: list[Any], source: str, label_col: str, allow_lists: bool) -> None:
    """Refuse labels that are objects, and lists unless multi-label data is allowed.

    Raises:
        DataError: a label is a mapping, or a list where single-label classification was asked for.
    """
    kinds = (dict,) if allow_lists else (list, tuple, dict)
    row = next((i for i, v in enumerate(labels) if isinstance(v, kinds)), None)
    if row is None:
        return
    if isinstance(labels[row], dict):
        raise DataError(
            f"{source}: the labels in '{label_col}' are objects (e.g. {labels[row]!r}); "
            f"give one label per row, or a list of labels per row."
        )
    raise DataError(
        f"{source}: the labels in '{label_col}' are lists (multi-label data, e.g. "
        f"{labels[row]!r}), which single-label classification cannot train; use "
        f"{setting_ref('model.task', 'multilabel')}."
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# -- labels --------------------------------------------------------------------------------------
def label_names_from(labels: list[Any], class_names: list[str] | None = None) -> list[str]:
    """Sorted label names: integers in numeric order, strings alphabetically."""
    values = sorted(set(labels), key=lambda v: (isinstance(v, str), v))
    if class_names is not None and all(isinstance(v, int) for v in values):
        return [class_names[v] for v in range(len(class_names)) if v in set(values)]
    return [_label_str(v) for v in values]


def _label_str(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def encode_labels(
    labels: list[Any], label2id: dict[str, int], source: str, class_names: list[str] | None = None
) -> list[int]:
    """Class indices for raw labels.

    Raises:
        DataError: a label the training data does not have.
    """
    names = [class_names[v] if class_names and isinstance(v, int) else _label_str(v) for v in labels]
    unknown = sorted({n for n in names if n not in label2id})
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise DataError(
            f"{source} has label(s) {shown} that the training data does not have "
            f"(train has: {', '.join(label2id)})."
        )
    return [label2id[n] for n in names]


# -- the bundle ----------------------------------------------------------------------------------
def load_data(cfg: DataConfig, seed: int = 42, multilabel: bool | None = None) -> DataBundle:
    """Read, check and encode train/dev/test as configured.

    Args:
        cfg: the data settings.
        seed: seed of the stratified dev split.
        multilabel: whether labels are lists of labels (JSON lists or strings split at
            ``cfg.label_delimiter``); ``None`` = lists if any train label is a JSON list.

    Raises:
        DataError: any problem with the files, columns or labels, or labels that are lists
            where ``multilabel`` is ``False``.
    """
    sources = resolve_sources(cfg)
    train_table = read_table(sources["train"], "train")
    text_col, label_col = infer_columns(train_table, cfg.text_column, cfg.label_column)
    notes: list[str] = []
    texts, raw_labels, kept = clean_rows_indexed(
        train_table, text_col, label_col, cfg.drop_empty, allow_lists=multilabel is not False
    )
    dropped = len(train_table) - len(kept)
    train_table.columns.clear()  # the raw columns are done with (large at 1M rows)
    if dropped:
        notes.append(f"dropped {dropped} train row(s) with an empty text or label")
    lists = any(isinstance(v, list) for v in raw_labels)
    if multilabel is None:
        multilabel = lists
    if multilabel:
        raw_labels = split_label_lists(raw_labels, cfg.label_delimiter)
        names = multilabel_names(raw_labels, train_table.source, cfg.label_delimiter)
    else:
        names = label_names_from(raw_labels, train_table.class_names)
    if len(names) < 2:
        raise DataError(
            f"{train_table.source} has a single label ({names[0]!r}); a classifier needs at least two."
        )
    label2id = label_map(names)
    train = Split(
        texts, _encode(raw_labels, label2id, train_table.source, train_table.class_names, cfg), kept
    )

    dev_source = sources["dev"] or (sources["train"] if sources["train"].startswith("hf:") else None)
    used = {"train": train_table.source}
    rest = (cfg, text_col, label_col, label2id, multilabel, used, notes)
    dev = _load_split(dev_source, "dev", *rest) if dev_source else None
    cut = dev is None  # no dev file (or a hub dataset without one): cut from train
    if cut:
        train, dev = stratified_split(train, cfg.dev_fraction, seed)
        used["dev"] = f"{cfg.dev_fraction:.0%} stratified split of train"
    test = _load_split(sources["test"], "test", *rest) if sources["test"] else None
    return DataBundle(
        train, dev, test, names, text_col, label_col, used, notes, multilabel, dev_from_train=cut
    )


def _load_split(
    source: str,
    split: str,
    cfg: DataConfig,
    text_col: str,
    label_col: str,
    label2id: dict[str, int],
    multilabel: bool,
    used: dict[str, str],
    notes: list[str],
) -> Split | None:
    """A dev or test file read like the train file; its source goes into ``used``, a note into
    ``notes`` if rows were dropped. ``None``: a hub dataset without that split."""
    try:
        table = read_table(source, split)
    except DataError as exc:
        if source.startswith("hf:") and "has no" in str(exc):
            return None
        raise
    for col, path in ((text_col, "data.text_column"), (label_col, "data.label_column")):
        if col not in table.columns:
            raise DataError(
                f"{table.source} has no column '{col}' like the train file "
                f"(it has: {', '.join(table.column_names)}); rename it or use {setting_ref(path)}."
            )
    texts, raw, kept = clean_rows_indexed(table, text_col, label_col, cfg.drop_empty, allow_lists=multilabel)
    if multilabel:
        raw = split_label_lists(raw, cfg.label_delimiter)
    used[split] = table.source
    if len(table) > len(kept):
        notes.append(f"dropped {len(table) - len(kept)} {split} row(s) with an empty text or label")
    return Split(texts, _encode(raw, label2id, table.source, table.class_names, cfg), kept)


def _encode(
    raw: list[Any], label2id: dict[str, int], source: str, class_names: list[str] | None, cfg: DataConfig
) -> list[Any]:
    """Class indices (single-label) or lists of them (multi-label, ``raw`` already split)."""
    if raw and isinstance(raw[0], list):
        flat = encode_labels([v for row in raw for v in row], label2id, source, class_names)
        out, start = [], 0
        for row in raw:
            out.append(flat[start : start + len(row)])
            start += len(row)
        return out
    return encode_labels(raw, label2id, source, class_names)


# -- multi-label -----------------------------------------------------------------------------------
def split_label_lists(labels: list[Any], delimiter: str = "|") -> list[list[str]]:
    """Each row's labels as a list of names: a JSON list as is, a string split at ``delimiter``.

    Names are stripped, empty ones dropped and repeats within a row removed (first kept).
    """
    out: list[list[str]] = []
    for value in labels:
        if isinstance(value, list):
            items = [_label_str(v) for v in value if not _missing(v)]
        elif isinstance(value, str):
            items = [part.strip() for part in (value.split(delimiter) if delimiter else [value])]
        else:
            items = [_label_str(value)]
        out.append(list(dict.fromkeys(item for item in items if item)))
    return out


def multilabel_names(rows: list[list[str]], source: str, delimiter: str = "|") -> list[str]:
    """The sorted union of every row's labels.

    Raises:
        DataError: every row's list is empty, or no row has more than one of several labels
            (single-label data).
    """
    if not any(rows):
        raise DataError(f"every label list of {source} is empty; give each text the labels that apply.")
    names = sorted({name for row in rows for name in row})
    if len(names) >= 2 and all(len(row) <= 1 for row in rows):
        raise DataError(
            f"no text of {source} has more than one label (single-label data, or labels not split "
            f"at data.label_delimiter {delimiter!r}); use {setting_ref('model.task', 'classify')} or set {setting_ref('data.label_delimiter')}."
        )
    return names


def stratified_split(data: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Hold out ``fraction`` of the examples as dev, keeping each label's share."""
    from sklearn.model_selection import train_test_split

    n_dev = max(int(round(len(data) * fraction)), 1)
    multilabel = any(isinstance(v, list) for v in data.labels)
    counts = Counter() if multilabel else Counter(data.labels)  # multi-label: a plain random split
    classes = len(counts)
    stratify = data.labels if counts and min(counts.values()) >= 2 and n_dev >= classes else None
    if len(data) - n_dev < 1:
        raise DataError(
            f"only {len(data)} training example(s): too few to hold out a dev split; "
            f"give a dev file with {setting_ref('data.dev')}."
        )
    idx = list(range(len(data)))
    tr, dv = train_test_split(idx, test_size=n_dev, random_state=seed, stratify=stratify)
    return data.subset(sorted(tr)), data.subset(sorted(dv))


# -- statistics ----------------------------------------------------------------------------------
def label_counts(split: Split, label_names: list[str]) -> dict[str, int]:
    """Examples per label name, in label order (zero for a label the split lacks); a multi-label
    row counts once for each of its labels."""
    counts = Counter(v for row in split.labels for v in (row if isinstance(row, list) else [row]))
    return {name: counts.get(i, 0) for i, name in enumerate(label_names)}


def length_stats(token_lengths: list[int], max_length: int) -> dict[str, Any]:
    """Token-length percentiles (``p50``, ``p90``, ``p95``, ``p99``, ``max``) and ``truncated``, the
    share of texts longer than ``max_length``."""
    import numpy as np

    lengths = np.asarray(token_lengths or [0])
    stats: dict[str, Any] = {f"p{q}": int(np.percentile(lengths, q)) for q in (50, 90, 95, 99)}
    stats["max"] = int(lengths.max())
    stats["truncated"] = float((lengths > max_length).mean()) if token_lengths else 0.0
    return stats


def shared_texts(a: Split, b: Split) -> int:
    """How many distinct texts of ``b`` also appear in ``a`` (leakage between splits).

    Texts are compared after strip + lower-case; only ``b``'s are held in a set, so pass the
    smaller split as ``b`` (a 1,000,000-row ``a`` then costs one pass, not a copy).
    """
    wanted = {_key(t) for t in b.texts}
    return len({key for key in (_key(t) for t in a.texts) if key in wanted})


def _key(text: Any) -> str:
    """A text (or a named-entity row's word list, joined) stripped and lower-cased."""
    return (" ".join(text) if isinstance(text, list) else text).strip().lower()
