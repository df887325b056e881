"""Reading token-tagged data (named-entity recognition): CoNLL files and tokens/tags tables.

A CoNLL file (``.conll``, ``.bio``) has one token a line with its tag in the LAST column, a blank
line between sentences, and ``-DOCSTART-`` lines that are skipped. JSONL and Parquet files have a
``tokens`` and a ``tags`` column (lists of equal length a row). Tags are IOB2 (``O``, ``B-TYPE``,
``I-TYPE``); BIOES tags (``S-``/``E-``) and entities that start with ``I-`` (IOB1, or a break of
IOB2 such as ``I-PER`` after ``O``) are converted to IOB2, and the run says so in a note. Every way
a file can be wrong is one :class:`DataError` sentence naming ``file:line`` or the row.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tui_lab.core.data.files import TOKEN_SUFFIXES, Table, read_table, resolve_sources
from tui_lab.core.data.files import read_preview as read_table_preview
from tui_lab.core.data.splits import DataBundle, Split, label_map, stratified_split
from tui_lab.core.errors import DataError, setting_ref
from tui_lab.core.settings import DataConfig

TABLE_SUFFIXES = (".jsonl", ".json", ".parquet", ".pq")
TOKEN_COLUMNS = ("tokens", "words")
TAG_COLUMNS = ("tags", "ner_tags")
_TAG = re.compile(r"(?P<prefix>[BIES])-(?P<type>.+)")
DOCSTART = "-DOCSTART-"

# one sentence: its words, its tags, and where it came from (first line of a CoNLL file, or row)
Sentences = tuple[list[list[str]], list[list[str]], list[int]]


def read_conll(path: str | Path) -> Sentences:
    """The sentences of a CoNLL file: words, tags (last column) and each sentence's first line.

    Raises:
        DataError: missing or empty file, or a token line without a tag (names ``file:line``).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"{p} does not exist; check the path.")
    words: list[list[str]] = []
    tags: list[list[str]] = []
    starts: list[int] = []
    sent_w: list[str] = []
    sent_t: list[str] = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{p} is not UTF-8 text; re-save it as UTF-8.") from None
    for number, line in enumerate([*lines, ""], start=1):
        cols = line.split()
        if not cols or cols[0] == DOCSTART:
            if sent_w:
                words.append(sent_w)
                tags.append(sent_t)
                starts.append(number - len(sent_w))
                sent_w, sent_t = [], []
            continue
        if len(cols) < 2:
            raise DataError(
                f"{p}:{number} has a token but no tag ({line.strip()!r}); a CoNLL line is 'token ... TAG'."
            )
        sent_w.append(cols[0])
        sent_t.append(cols[-1])
    if not words:
        raise DataError(f"{p} has no tagged sentence.")
    return words, tags, starts


def read_token_table(source: str) -> Sentences:
    """The rows of a JSONL/Parquet file with ``tokens`` and ``tags`` columns.

    Raises:
        DataError: no such columns, a row that is not two lists, or lists of different lengths.
    """
    table = read_table(source)
    tok_col, tag_col = token_columns(table.column_names)
    if not tok_col or not tag_col:
        raise DataError(
            f"{table.source} has no 'tokens' and 'tags' columns (it has: {', '.join(table.column_names)}); "
            f"named-entity data needs both, a list of words and a list of tags a row."
        )
    words, tags = table.columns[tok_col], table.columns[tag_col]
    for row, (w, t) in enumerate(zip(words, tags), start=1):
        if not isinstance(w, list) or not isinstance(t, list):
            raise DataError(f"{table.source} row {row}: '{tok_col}' and '{tag_col}' must be lists.")
        if len(w) != len(t):
            raise DataError(
                f"{table.source} row {row} has {len(w)} tokens but {len(t)} tags; give one tag per token."
            )
    keep = [i for i, w in enumerate(words) if w]
    return (
        [[str(x) for x in words[i]] for i in keep],
        [[str(x) for x in tags[i]] for i in keep],
        keep,
    )


def token_columns(columns: list[str]) -> tuple[str, str]:
    """The (tokens, tags) column names of a table, ``""`` for one it lacks."""
    lowered = {c.lower(): c for c in columns}
    tok = next((lowered[c] for c in TOKEN_COLUMNS if c in lowered), "")
    tag = next((lowered[c] for c in TAG_COLUMNS if c in lowered), "")
    return tok, tag


def read_sentences(source: str) -> Sentences:
    """Sentences of a CoNLL file or a tokens/tags table, by the file's suffix."""
    if Path(source).suffix.lower() in TOKEN_SUFFIXES:
        return read_conll(source)
    return read_token_table(source)


def to_iob2(
    tags: list[list[str]], source: str, starts: list[int], conll: bool
) -> tuple[list[list[str]], str]:
    """Tags as IOB2, converting BIOES and entities that open with ``I-``; and a note when it did.

    Raises:
        DataError: a tag that is neither ``O`` nor ``B-/I-/E-/S-TYPE`` (names where it is).
    """
    out: list[list[str]] = []
    opened_with_i, bioes, first_break = 0, 0, ""
    for s, sent in enumerate(tags):
        prev = "O"
        fixed: list[str] = []
        for i, tag in enumerate(sent):
            if tag == "O":
                fixed.append(tag)
                prev = tag
                continue
            m = _TAG.fullmatch(tag)
            if m is None:
                where = f"{source}:{starts[s] + i}" if conll else f"{source} row {starts[s] + 1}"
                raise DataError(
                    f"{where} has the tag {tag!r}, which is not IOB2 (O, B-TYPE, I-TYPE); "
                    f"retag the file or convert it to IOB2."
                )
            prefix, kind = m["prefix"], m["type"]
            if prefix in "ES":
                bioes += 1
                prefix = "B" if prefix == "S" else "I"
            if prefix == "I" and prev not in (f"B-{kind}", f"I-{kind}"):
                opened_with_i += 1
                first_break = first_break or (
                    f"{source}:{starts[s] + i}" if conll else f"{source} row {starts[s] + 1}"
                )
                prefix = "B"
            prev = f"{prefix}-{kind}"
            fixed.append(prev)
        out.append(fixed)
    notes = []
    if bioes:
        notes.append(f"{source}: BIOES tags converted to IOB2")
    if opened_with_i:
        notes.append(
            f"{source}: {opened_with_i} entit{'y' if opened_with_i == 1 else 'ies'} opened with I- "
            f"(IOB1, or IOB2 broken, first at {first_break}); read as B- (converted to IOB2)"
        )
    return out, "; ".join(notes)


def tag_names(rows: list[list[str]]) -> list[str]:
    """``O`` first, then ``B-``/``I-`` of every entity type, types in alphabetical order."""
    kinds = sorted({t[2:] for row in rows for t in row if t != "O"})
    return ["O", *[f"{p}-{k}" for k in kinds for p in "BI"]]


def entity_types(label_names: list[str]) -> list[str]:
    """The entity types of a tag set (``["LOC", "PER"]`` for ``O, B-LOC, I-LOC, B-PER, I-PER``)."""
    return list(dict.fromkeys(t[2:] for t in label_names if t[:2] in ("B-", "I-")))


def _split(source: str, label2id: dict[str, int] | None, notes: list[str]) -> tuple[Split, list[str]]:
    words, raw, starts = read_sentences(source)
    tags, note = to_iob2(raw, source, starts, Path(source).suffix.lower() in TOKEN_SUFFIXES)
    if note:
        notes.append(note)
    names = tag_names(tags) if label2id is None else list(label2id)
    ids = label2id or label_map(names)
    unknown = sorted({t for row in tags for t in row if t not in ids})
    if unknown:
        raise DataError(
            f"{source} has tag(s) {', '.join(map(repr, unknown[:5]))} that the training data does not have."
        )
    return Split(words, [[ids[t] for t in row] for row in tags], starts), names


def load_token_data(cfg: DataConfig, seed: int = 42) -> DataBundle:
    """Train/dev/test of named-entity data, tags as IOB2 ids (``Split.texts`` are word lists).

    Raises:
        DataError: unreadable files, a token without a tag, unequal tokens/tags, no entity, or
            sentence data (a text column) where token tags were asked for.
    """
    sources = resolve_sources(cfg)
    train_src = sources["train"] or ""
    check_token_source(train_src)
    notes: list[str] = []
    train, names = _split(train_src, None, notes)
    if len(names) < 3:
        raise DataError(f"{train_src} has no entity tag (every tag is O); tag the entities to learn.")
    used = {"train": train_src}
    if sources["dev"]:
        dev, _ = _split(sources["dev"], label_map(names), notes)
        used["dev"] = sources["dev"]
    else:
        train, dev = stratified_split(train, cfg.dev_fraction, seed)
        used["dev"] = f"{cfg.dev_fraction:.0%} random split of train"
    test = None
    if sources["test"]:
        test, _ = _split(sources["test"], label_map(names), notes)
        used["test"] = sources["test"]
    return DataBundle(train, dev, test, names, "tokens", "tags", used, notes)


def detect(cfg: DataConfig) -> str:
    """Why the configured data is token-tagged (``""`` when it is not, or cannot be told)."""
    try:
        train = resolve_sources(cfg)["train"] or ""
    except DataError:
        return ""
    suffix = Path(train).suffix.lower()
    if suffix in TOKEN_SUFFIXES:
        return f"{Path(train).name} is a CoNLL file of token tags"
    if suffix in TABLE_SUFFIXES and Path(train).is_file():
        try:
            columns = read_table_preview(train, 5).column_names
        except DataError:
            return ""
        if all(token_columns(columns)):
            return f"{Path(train).name} has tokens and tags columns"
    return ""


def check_token_source(source: str) -> None:
    """Refuse sentence data (a CSV of texts, a hub id) where token tags are asked for.

    Raises:
        DataError: one sentence naming what was found instead.
    """
    suffix = Path(source).suffix.lower()
    if suffix in TOKEN_SUFFIXES:
        return
    found = "a Hugging Face dataset id" if source.startswith("hf:") else "not token-tagged data"
    if not source.startswith("hf:") and Path(source).is_file():
        columns = read_table_preview(source, 5).column_names
        if suffix in TABLE_SUFFIXES and all(token_columns(columns)):
            return
        found = f"sentence data (columns: {', '.join(columns)})"
    raise DataError(
        f"{setting_ref('model.task', 'ner')} needs token tags (a .conll/.bio file, or JSONL/Parquet "
        f"with tokens and tags columns), but {Path(source.removeprefix('hf:')).name} is {found}."
    )


def read_preview(source: str, rows: int = 200) -> Table:
    """:func:`tui_lab.core.data.files.read_preview`, and for a CoNLL file its first sentences as two
    columns, ``tokens`` and ``tags`` (space-joined)."""
    if Path(source).suffix.lower() not in TOKEN_SUFFIXES:
        return read_table_preview(source, rows)
    words, tags, _ = read_conll(source)
    return Table(
        {"tokens": [" ".join(w) for w in words[:rows]], "tags": [" ".join(t) for t in tags[:rows]]}, source
    )


def sentence_text(words: Any) -> str:
    """A row's text for display: a word list joined with spaces, a string as it is."""
    return " ".join(words) if isinstance(words, list) else str(words)
