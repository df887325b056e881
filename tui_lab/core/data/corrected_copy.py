"""A data file with its corrections applied, row by row, every other column kept.

What ``tui-lab corrections apply`` writes (a corrected copy in the data's format) and how
``tui-lab corrections add`` checks a decision before appending it: the row must be in the file
and the label one the data has. The user's data file itself is never written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tui_lab.core.data import corrections
from tui_lab.core.data.checks import infer_columns, split_label_lists
from tui_lab.core.data.files import FORMATS, Table, read_table
from tui_lab.core.errors import DataError


def data_labels(table: Table, label_col: str, delimiter: str = "|") -> list[str]:
    """Every label the file's label column holds (multi-label lists split), sorted."""
    values = [v for v in table.columns[label_col] if v is not None and str(v).strip()]
    if any(isinstance(v, list) for v in values) or any(delimiter in str(v) for v in values):
        values = [name for row in split_label_lists(values, delimiter) for name in row]
    return sorted({str(v).strip() for v in values})


def add(
    data_file: str,
    row: int,
    action: str,
    label: Any = None,
    path: Path | None = None,
    columns: tuple[str, str] = ("", ""),
) -> dict[str, Any]:
    """Check and append one decision on ``row`` of ``data_file``; the record written.

    Raises:
        DataError: the row is past the end of the file, or the label is one the data does not have
            (nothing is written then).
    """
    table = read_table(data_file)
    text_col, label_col = infer_columns(table, *columns)
    if not 0 <= row < len(table):
        raise DataError(f"{data_file} has {len(table)} rows (0 to {len(table) - 1}); there is no row {row}.")
    if label is not None:
        known = data_labels(table, label_col)
        for name in label if isinstance(label, list) else [label]:
            if str(name).strip() not in known:
                raise DataError(
                    f"{data_file} has no label {name!r} (it has: {', '.join(known)}); give one of them."
                )
    text = str(table.columns[text_col][row])
    record = corrections.decision(data_file, row, text, action, label, table.columns[label_col][row])
    corrections.append(path or corrections.default_path(data_file), record)
    return record


def apply_to_file(
    data_file: str, found: corrections.Corrections, columns: tuple[str, str] = ("", "")
) -> tuple[Table, corrections.Summary]:
    """The data file's rows with the standing decisions applied (all its columns), and what was done.

    Raises:
        DataError: a decision's label is one the data does not have.
    """
    table = read_table(data_file)
    text_col, label_col = infer_columns(table, *columns)
    known = set(data_labels(table, label_col))
    summary = corrections.Summary(str(found.path), found.sha256, torn=found.torn)
    cols = table.columns
    dropped: set[int] = set()
    for record in found.standing().values():
        _check_label(record, known, found.path)
        if record["action"] == "add":
            for name in cols:
                cols[name].append({text_col: record["text"], label_col: record.get("label")}.get(name))
            summary.added += 1
            continue
        i = record["row"]
        if not 0 <= i < len(table) or str(cols[text_col][i]).strip() != record["text"].strip():
            summary.skipped += 1
        elif record["action"] == "drop":
            dropped.add(i)
            summary.dropped += 1
        elif record["action"] == "keep":
            summary.kept += 1
        else:
            cols[label_col][i] = _as_given(record["label"], cols[label_col][i])
            summary.relabelled += 1
    keep = [i for i in range(len(table)) if i not in dropped]
    return Table({k: [v[i] for i in keep] for k, v in cols.items()}, table.source), summary


def _check_label(record: dict[str, Any], known: set[str], path: Path) -> None:
    if record["action"] not in ("relabel", "add"):
        return
    label = record["label"]
    for name in label if isinstance(label, list) else [label]:
        if str(name).strip() not in known:
            raise DataError(
                f"{path} sets label {name!r}, which the data does not have "
                f"(it has: {', '.join(sorted(known))}); fix or undo that decision."
            )


def _as_given(label: Any, before: Any) -> Any:
    """A new label written the way the file wrote the old one (a list, or names joined by ``|``)."""
    if isinstance(label, list) and not isinstance(before, list):
        return "|".join(str(v) for v in label)
    return label


def write_table(table: Table, out: str | Path) -> Path:
    """Write ``table`` in the format of ``out``'s suffix, through a temporary file renamed into
    place (a failure leaves nothing behind).

    Raises:
        DataError: an unknown suffix.
    """
    import pandas as pd

    out = Path(out).expanduser()
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(
            f"{out} has an unknown format '{suffix or '(none)'}'; use one of {', '.join(FORMATS)}."
        )
    frame = pd.DataFrame(table.columns)
    tmp = out.with_name(f".{out.name}.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if FORMATS[suffix] == "csv":
            frame.to_csv(tmp, index=False, sep="\t" if suffix in (".tsv", ".txt") else ",")
        elif FORMATS[suffix] == "json":
            frame.to_json(tmp, orient="records", lines=suffix == ".jsonl", force_ascii=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
