"""Reading data files: where the splits are, and a file or hub dataset read into columns.

Files (CSV, TSV, JSONL/JSON, Parquet) and Hugging Face dataset ids are read through
``datasets``; every way a file can be unreadable becomes one :class:`DataError` sentence that
names the file, the line or the byte (not UTF-8, a broken header, a bad JSON line...).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_lab.core import hub
from tui_lab.core.errors import DataError, setting_ref
from tui_lab.core.settings import DataConfig

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "json",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}


TOKEN_SUFFIXES = (".conll", ".bio")  # CoNLL token-tag files (named-entity data, core/data/tagged.py)


SPLIT_NAMES = {
    "train": ("train", "training"),
    "dev": ("dev", "validation", "valid", "val"),
    "test": ("test", "testing"),
}


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
