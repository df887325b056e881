"""Append-only JSON-lines files that survive a torn last line (ARCHITECTURE.md rule 18).

Event logs, sweep journals, the queue and corrections files are written one JSON object a line
and read back. A crash or a full disk can leave the last line cut short. :func:`read_records`
keeps every complete record and reports the torn tail (its byte offset and length) instead of
failing; :func:`set_aside_tail` moves that tail into a ``<file>.torn-<offset>`` file beside it and
cuts the file back to its last whole record, so the next append starts clean.
:func:`append_record` writes one record, flushed and fsynced.

A writer that appends after a torn line without ending it first (Optuna's journal does) glues its
whole record to the torn start: such a line is read as the record it ends with (``glued``), the
torn start kept apart. :func:`parse_records` reads bytes already in hand (a follower that reads
only what a file grew by); :func:`set_aside_unreadable` moves every torn or unreadable part aside.
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
    glued: list[int] = field(default_factory=list)  # 1-based numbers of lines holding two records' bytes
    end: int = 0  # byte offset just past the last line that ended in a newline
    _kept: list[tuple[int, int]] = field(default_factory=list, repr=False)  # (start, end) of each record

    @property
    def torn(self) -> bool:
        """Whether the file ends in a torn record."""
        return self.torn_offset is not None

    @property
    def damaged(self) -> bool:
        """Whether anything in the file is not a whole record (a torn tail, a torn start, a bad line)."""
        return self.torn or bool(self.bad_lines or self.glued)

    def describe(self) -> str:
        """One sentence on what is torn or unreadable ("" when there is none)."""
        if self.torn and not self.glued and not self.bad_lines:
            return (
                f"{self.path} ends in a torn record ({self.torn_bytes} bytes at offset {self.torn_offset}, "
                f"as a crash or a full disk leaves it); the {len(self.records)} complete record(s) before it are kept"
            )
        parts = []
        if self.torn:
            parts.append(f"ends in a torn record ({self.torn_bytes} bytes at offset {self.torn_offset})")
        if self.glued:
            parts.append(f"has a record joined to a torn one on line(s) {_numbers(self.glued)}")
        if self.bad_lines:
            parts.append(f"has unreadable line(s) {_numbers(self.bad_lines)}")
        if not parts:
            return ""
        return (
            f"{self.path} {' and '.join(parts)}, as a crash or a full disk leaves it; "
            f"the {len(self.records)} complete record(s) are kept"
        )


def _numbers(lines: list[int]) -> str:
    return ", ".join(map(str, lines[:5])) + (f" (and {len(lines) - 5} more)" if len(lines) > 5 else "")


def read_records(path: str | Path, parse: Callable[[str], Any] = json.loads) -> JsonlRead:
    """Every complete record of a JSON-lines file; a missing file has none.

    A last line with no newline that does not parse, or a last line that does not parse at all,
    is the torn tail: reported, not raised. An unreadable line in the middle is skipped and its
    number kept in ``bad_lines`` (the caller decides whether that is an error); a line that is a
    torn start followed by a whole record gives that record (its number in ``glued``).

    Args:
        path: the file.
        parse: turns one line (stripped, non-empty) into a record; raises ``ValueError`` (which
            ``json.JSONDecodeError`` is) on a line that is not one.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return JsonlRead(Path(path))
    return parse_records(data, parse, Path(path))


def parse_records(data: bytes, parse: Callable[[str], Any] = json.loads, path: Path = Path()) -> JsonlRead:
    """The records of JSON lines already read (see :func:`read_records`); offsets count from ``data``'s start."""
    result, offset = JsonlRead(path), 0
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        last = number == len(lines)
        start, offset = offset, offset + len(raw) + 1
        if not last:
            result.end = offset
        if not raw.strip():
            continue
        found = _parsed(raw, parse)
        if found:
            result.records += [rec for _, _, rec in found]
            result._kept += [(start + a, start + b) for a, b, _ in found]
            if found[-1][0]:
                result.glued.append(number)
        elif last or _only_blank(lines[number:]):
            result.torn_offset, result.torn_bytes = start, len(data) - start
            break
        else:
            result.bad_lines.append(number)
    return result


def _parsed(raw: bytes, parse: Callable[[str], Any]) -> list[tuple[int, int, Any]]:
    """The record(s) of one line as (start, end, record), byte positions in the line: the whole
    line, or a torn start glued to a whole record (the start kept too when it is itself whole: a
    record that lost its newline)."""
    try:
        return [(0, len(raw), parse(raw.decode("utf-8", "replace").strip()))]
    except ValueError:
        pass
    at = raw.find(b"{", 1)
    while at > 0:
        try:
            record = parse(raw[at:].decode("utf-8", "replace").strip())
        except ValueError:
            at = raw.find(b"{", at + 1)
            continue
        head = _parsed(raw[:at], parse) if raw[:at].strip() else []
        whole = head[:1] if len(head) == 1 and head[0][0] == 0 else []
        return [*whole, (at, len(raw), record)]
    return []


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


def set_aside_unreadable(read: JsonlRead) -> Path | None:
    """Move everything of the file that is not a whole record (a torn tail, torn starts, bad lines)
    into ``<file>.torn-<offset>`` (the offset of the first such byte); that file's path, or None
    when the file was whole. The file keeps exactly its complete records, in order: a torn tail
    alone is cut off in place (the records before it keep their offsets), else the file is
    rewritten and renamed into place."""
    if not read.bad_lines and not read.glued:
        return set_aside_tail(read)
    data = read.path.read_bytes()
    kept, aside, at, first = bytearray(), bytearray(), 0, None
    for start, end in [*read._kept, (len(data), len(data))]:
        if data[at:start].strip():  # a torn start, a bad line, the torn tail
            first = at if first is None else first
            aside += data[at:start].strip(b"\n") + b"\n"
        kept += data[start:end] + b"\n" if end > start else b""
        at = end + 1
    target = read.path.with_name(f"{read.path.name}.torn-{first or 0}")
    target.write_bytes(bytes(aside))
    tmp = read.path.with_name(f".{read.path.name}.repair-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(bytes(kept))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(read.path)
    return target


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
