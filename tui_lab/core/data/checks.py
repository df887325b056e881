"""Checking what was read: which columns hold text and labels, empty rows, label values.

Text and label columns are inferred when not given; rows with no text or no label are dropped
or refused (``data.drop_empty``); string or integer labels become class indices. Multi-label
data has a list of labels a row (a JSON list, or a string split at ``data.label_delimiter``);
list labels are recognised without being asked for.
"""

from __future__ import annotations

import math
from typing import Any

from tui_lab.core.data.files import Table
from tui_lab.core.errors import DataError, setting_ref

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
