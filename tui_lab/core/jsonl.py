"""Append-only JSON-lines files that survive a torn last line (ARCHITECTURE.md rule 18).

Event logs, sweep journals, the queue and corrections files are written one JSON object a line
and read back. A crash or a full disk can leave the last line cut short. :func:`read_records`
keeps every complete record and reports the torn tail (its byte offset and length) instead of
failing; :func:`set_aside_tail` moves that tail into a ``<file>.torn-<offset>`` file beside it and
cuts the file back to its last whole record, so the next append starts clean.
:func:`append_record` writes one record, flushed and fsynced.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class JsonlRead:
    """What :func:`read_records` found in a file."""

    path: Path
    records: list[Any] = field(default_factory=list)  # every complete, parseable record, in order
    torn_offset: int | None = None  # byte offset where an unfinished or unreadable last line starts
    torn_bytes: int = 0  # its length
    bad_lines: list[int] = field(default_factory=list)  # 1-based numbers of unreadable whole lines

    @property
    def torn(self) -> bool:
        """Whether the file ends in a torn record."""
        return self.torn_offset is not None

    def describe(self) -> str:
        """One sentence on the torn tail ("" when there is none)."""
        if not self.torn:
            return ""
        return (
            f"{self.path} ends in a torn record ({self.torn_bytes} bytes at offset {self.torn_offset}, "
            f"as a crash or a full disk leaves it); the {len(self.records)} complete record(s) before it are kept"
        )


def read_records(path: str | Path, parse: Callable[[str], Any] = json.loads) -> JsonlRead:
    """Every complete record of a JSON-lines file; a missing file has none.

    A last line with no newline that does not parse, or a last line that does not parse at all,
    is the torn tail: reported, not raised. An unreadable line in the middle is skipped and its
    number kept in ``bad_lines`` (the caller decides whether that is an error).

    Args:
        path: the file.
        parse: turns one line (stripped, non-empty) into a record; raises ``ValueError`` (which
            ``json.JSONDecodeError`` is) on a line that is not one.
    """
    result = JsonlRead(Path(path))
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return result
    offset = 0
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        last = number == len(lines)
        start, offset = offset, offset + len(raw) + 1
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            continue
        try:
            result.records.append(parse(text))
        except ValueError:
            if last or _only_blank(lines[number:]):
                result.torn_offset, result.torn_bytes = start, len(data) - start
                break
            result.bad_lines.append(number)
    return result


def _only_blank(lines: list[bytes]) -> bool:
    return all(not line.strip() for line in lines)


def set_aside_tail(read: JsonlRead) -> Path | None:
    """Move a torn tail out of the file into ``<file>.torn-<offset>``; that file's path (None when
    the file was whole). The file keeps exactly its complete records."""
    if not read.torn or read.torn_offset is None:
        return None
    aside = read.path.with_name(f"{read.path.name}.torn-{read.torn_offset}")
    with open(read.path, "r+b") as fh:
        fh.seek(read.torn_offset)
        tail = fh.read()
        aside.write_bytes(tail)
        fh.truncate(read.torn_offset)
        fh.flush()
        os.fsync(fh.fileno())
    return aside


def append_record(path: str | Path, record: Any) -> None:
    """Append one record as a JSON line, flushed and fsynced; a torn last line before it is ended
    first so the new record stands on a line of its own."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with open(path, "a+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                line = "\n" + line
        fh.write(line.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
