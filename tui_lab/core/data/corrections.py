"""Decisions on rows of a data file (relabel, drop, keep, add), kept in a corrections file.

The user's data file is never edited (ARCHITECTURE.md rule 17). Each decision is one JSON object
a line, appended at once (flushed, fsynced) to ``<data file>.corrections.jsonl`` beside the data,
or, when the data's folder is read-only, to ``<output dir>/corrections/<name>-<hash>.corrections.jsonl``::

    {"file": "train.csv", "row": 123, "text": "...", "action": "relabel", "label": "pos",
     "was": "neg", "at": "2026-12-07T00:41:00+00:00"}

- ``row`` is the 0-based data row of the file (header not counted), as ``tui-lab analyze --json``
  reports it; ``text`` must still be that row's text, or the decision is skipped and reported
  (never applied to another row after the file was edited).
- ``action``: ``relabel`` (``label`` is the new label; a list of labels for multi-label data),
  ``drop`` (leave the row out), ``keep`` (reviewed, left as it is), ``add`` (a new example,
  ``text`` + ``label``; ``file``/``row`` say where it came from, e.g. a row of the pool file) or
  ``undo`` (takes back the latest decision still standing on the same ``file`` + ``row``).
- Later lines for the same ``file`` + ``row`` win; an ``undo`` pops the one before it, so two
  undos take back two decisions.

:func:`apply` turns the standing decisions into corrected texts, labels and rows; the loader
(:func:`~tui_lab.core.data.splits.load_data`) calls it, so every run applies them and says so.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tui_lab.core.errors import DataError, setting_ref
from tui_lab.core.jsonl import append_record, read_records

SUFFIX = ".corrections.jsonl"
ACTIONS = ("relabel", "drop", "keep", "add", "undo")
NONE = "none"  # data.corrections = none: ignore any corrections file
ADDED_ROW = -1  # Split.rows of an added example: it is no row of the data file


# -- where the file is -----------------------------------------------------------------------------
def default_path(data_file: str | Path, output_dir: str | Path = "runs") -> Path:
    """The corrections file of ``data_file``: beside it, or in ``output_dir/corrections/`` when
    the data's folder cannot be written (the name then carries a hash of the data's path)."""
    data = Path(data_file).expanduser()
    beside = data.with_name(data.name + SUFFIX)
    if beside.exists() or os.access(data.parent if str(data.parent) else ".", os.W_OK):
        return beside
    return fallback_path(data, output_dir)


def fallback_path(data_file: str | Path, output_dir: str | Path = "runs") -> Path:
    """Where the corrections of a data file in a read-only folder go."""
    data = Path(data_file).expanduser()
    tag = hashlib.sha256(str(data.resolve()).encode("utf-8")).hexdigest()[:8]
    return Path(output_dir).expanduser() / "corrections" / f"{data.name}-{tag}{SUFFIX}"


def resolve_path(setting: str, data_file: str | None, output_dir: str | Path = "runs") -> Path | None:
    """The corrections file a run reads (``None``: none).

    Args:
        setting: ``data.corrections``: a path, ``""`` (the data file's default file, if it
            exists) or ``none``.
        data_file: the data file the decisions are on (``None`` or a hub dataset: no default).
        output_dir: the run folder root, where the default lives when the data's folder is
            read-only.

    Raises:
        DataError: a path given explicitly that does not exist.
    """
    value = (setting or "").strip()
    if value.lower() == NONE:
        return None
    if value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise DataError(
                f"{setting_ref('data.corrections')} {path} does not exist; give a corrections file, "
                f"leave it empty for <data file>{SUFFIX}, or 'none'."
            )
        return path
    for path in candidate_paths("", data_file, output_dir):
        if path.is_file():
            return path
    return None


def candidate_paths(setting: str, data_file: str | None, output_dir: str | Path = "runs") -> list[Path]:
    """Where the corrections file of ``data_file`` is or would be, in the order :func:`resolve_path`
    looks (nothing checked on disk): the path ``setting`` gives, else beside the data, then in
    ``output_dir``; none for ``none``, no file or a hub dataset."""
    value = (setting or "").strip()
    if value.lower() == NONE:
        return []
    if value:
        return [Path(value).expanduser()]
    if not data_file or data_file.startswith("hf:"):
        return []
    data = Path(data_file).expanduser()
    return [data.with_name(data.name + SUFFIX), fallback_path(data, output_dir)]


# -- writing -----------------------------------------------------------------------------------------
def decision(
    file: str | Path, row: int, text: str, action: str, label: Any = None, was: Any = None
) -> dict[str, Any]:
    """One decision as written to the file (``file`` is kept as its name only)."""
    if action not in ACTIONS:
        raise DataError(f"'{action}' is no corrections action; use one of {', '.join(ACTIONS)}.")
    record: dict[str, Any] = {"file": Path(file).name, "row": int(row), "text": text, "action": action}
    if label is not None:
        record["label"] = label
    if was is not None:
        record["was"] = was
    record["at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def append(path: str | Path, record: dict[str, Any]) -> None:
    """Append one decision (flushed, fsynced); checked first, so a bad one is never written.

    Raises:
        DataError: the decision lacks a field its action needs.
    """
    check_record(record, str(path), 0)
    append_record(path, record)


# -- reading -----------------------------------------------------------------------------------------
@dataclass
class Corrections:
    """What a corrections file holds."""

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    torn: str = ""  # one sentence on a torn last line that was ignored ("" when there is none)

    @property
    def sha256(self) -> str:
        """The file's content hash ("" when it does not exist)."""
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return ""

    def standing(self) -> dict[tuple[str, int], dict[str, Any]]:
        """The decision that stands for each ``(file, row)``: the latest, undos taken back."""
        stacks: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for record in self.records:
            stack = stacks.setdefault((record["file"], record["row"]), [])
            if record["action"] == "undo":
                if stack:
                    stack.pop()
            else:
                stack.append(record)
        return {key: stack[-1] for key, stack in stacks.items() if stack}


def read(path: str | Path) -> Corrections:
    """Every decision in a corrections file (a missing file has none); a torn last line is left
    out and described in ``torn``.

    Raises:
        DataError: a line in the middle that is not JSON, or a record that is no decision.
    """
    found = read_records(path)
    if found.bad_lines:
        raise DataError(
            f"{path} line {found.bad_lines[0]} is not JSON; a corrections file is one JSON object a "
            f"line (tui-lab corrections list shows what it holds)."
        )
    for number, record in enumerate(found.records, start=1):
        check_record(record, str(path), number)
    return Corrections(Path(path), list(found.records), found.describe())


def check_record(record: Any, where: str, number: int) -> None:
    """Refuse a record that is no decision (names the file and record number)."""
    place = f"{where} record {number}" if number else where

    def fail(what: str) -> None:
        raise DataError(f'{place} {what}; each line is {{"row", "text", "action", ...}}.')

    if not isinstance(record, dict):
        fail("is not a JSON object")
    if record.get("action") not in ACTIONS:
        fail(f"has action {record.get('action')!r}, not one of {', '.join(ACTIONS)}")
    if not isinstance(record.get("row"), int) or isinstance(record.get("row"), bool):
        fail("has no whole-number 'row'")
    if not isinstance(record.get("text"), str):
        fail("has no 'text'")
    if record["action"] in ("relabel", "add") and not _label_given(record.get("label")):
        fail(f"is a {record['action']} without a 'label'")
    record.setdefault("file", "")


def _label_given(label: Any) -> bool:
    if isinstance(label, list):
        return all(isinstance(v, (str, int)) for v in label)
    return isinstance(label, (str, int)) and str(label).strip() != ""


# -- applying -----------------------------------------------------------------------------------------
@dataclass
class Summary:
    """What :func:`apply` did."""

    file: str = ""
    sha256: str = ""
    relabelled: int = 0
    dropped: int = 0
    kept: int = 0
    added: int = 0
    skipped: int = 0  # decisions whose row is gone or whose text no longer matches
    relabelled_rows: list[list[Any]] = field(
        default_factory=list
    )  # [data row, new label], for the Dataset pane
    torn: str = ""

    def describe(self) -> str:
        """One sentence, e.g. "12 rows relabelled, 3 dropped, 40 added from x.corrections.jsonl"."""
        parts = [f"{self.relabelled} rows relabelled", f"{self.dropped} dropped", f"{self.added} added"]
        if self.kept:
            parts.append(f"{self.kept} kept as they are")
        text = f"{', '.join(parts)} from {Path(self.file).name}"
        if self.skipped:
            text += f"; {self.skipped} no longer match and were skipped"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON (the run's config records it)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("relabelled_rows", "torn")}


def apply(
    texts: list[str],
    labels: list[Any],
    rows: list[int],
    found: Corrections,
    label_names: list[str],
) -> tuple[list[str], list[Any], list[int], Summary]:
    """The examples with the standing decisions applied.

    Args:
        texts, labels, rows: a split as loaded: its texts, encoded labels (class indices, or lists
            of them for multi-label data) and 0-based data rows.
        found: the corrections file as :func:`read` returned it.
        label_names: the data's labels; a decision's label is one of these names.

    Returns:
        (texts, labels, rows, what was done); an added example's row is :data:`ADDED_ROW`.

    Raises:
        DataError: a decision names a label the data does not have.
    """
    summary = Summary(str(found.path), found.sha256, torn=found.torn)
    label2id = {name: i for i, name in enumerate(label_names)}
    multilabel = any(isinstance(v, list) for v in labels)
    where = {row: i for i, row in enumerate(rows)}
    texts, labels, rows = list(texts), list(labels), list(rows)
    dropped: set[int] = set()
    for record in found.standing().values():
        action = record["action"]
        if action == "add":
            texts.append(record["text"])
            labels.append(encode_label(record["label"], label2id, multilabel, found.path))
            rows.append(ADDED_ROW)
            summary.added += 1
            continue
        i = where.get(record["row"])
        if i is None or texts[i].strip() != record["text"].strip():
            summary.skipped += 1
        elif action == "drop":
            dropped.add(i)
            summary.dropped += 1
        elif action == "keep":
            summary.kept += 1
        else:
            labels[i] = encode_label(record["label"], label2id, multilabel, found.path)
            summary.relabelled += 1
            summary.relabelled_rows.append([record["row"], record["label"]])
    if dropped:
        keep = [i for i in range(len(texts)) if i not in dropped]
        texts, labels, rows = [texts[i] for i in keep], [labels[i] for i in keep], [rows[i] for i in keep]
    return texts, labels, rows, summary


def encode_label(label: Any, label2id: dict[str, int], multilabel: bool, path: Path) -> Any:
    """A decision's label as a class index (a list of them for multi-label data).

    Raises:
        DataError: a label the data does not have.
    """
    names = [str(v).strip() for v in label] if isinstance(label, list) else [str(label).strip()]
    unknown = [n for n in names if n not in label2id]
    if unknown:
        raise DataError(
            f"{path} sets label {unknown[0]!r}, which the data does not have "
            f"(it has: {', '.join(label2id)}); fix or undo that decision."
        )
    ids = [label2id[n] for n in names]
    return ids if multilabel else ids[0]


def digest(path: Path | None) -> str:
    """The content hash of a corrections file (``""``: none), for cache keys."""
    if path is None:
        return ""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def load(path: Path | None) -> Corrections | None:
    """:func:`read` a resolved file, ``None`` for none."""
    return read(path) if path is not None else None


def dumps(record: dict[str, Any]) -> str:
    """A decision as one JSON line (for ``tui-lab corrections list``)."""
    return json.dumps(record, ensure_ascii=False)
