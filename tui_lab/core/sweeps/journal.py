"""A sweep's journal file (Optuna's ``JournalStorage`` log) read so that a torn record never stops it.

Optuna's ``JournalFileBackend`` reads one JSON log a line. A crash or a full disk can cut the last
line short; Optuna skips such a line while it is last, but its next append glues a whole log to the
torn start and from then on every reader raises ``JSONDecodeError`` (``tui-lab sweep --resume``
itself appends at once: opening the study logs a ``create_study``). Two things keep a sweep going
(ARCHITECTURE.md rule 18):

- :class:`TolerantJournalBackend` reads with :mod:`tui_lab.core.jsonl`: every whole log, a log
  glued to a torn start included; an unreadable line is skipped, an unfinished last line waits
  for its end (a live writer). Every tui-lab process opens a journal through it.
- :func:`repair_journal`, run before a sweep or the queue writes again, moves the torn parts
  aside (``study.journal.torn-<offset>``) under Optuna's own journal lock and says so in one line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from optuna.storages.journal import BaseJournalBackend, JournalFileBackend, JournalFileSymlinkLock

from tui_lab.core.jsonl import parse_records, read_records, set_aside_unreadable


def parse_log(line: str) -> dict[str, Any]:
    """One journal log (a JSON object with an ``op_code``).

    Raises:
        ValueError: the line is not one.
    """
    log = json.loads(line)
    if not isinstance(log, dict) or "op_code" not in log:
        raise ValueError("not an Optuna journal log")
    return log


class TolerantJournalBackend(BaseJournalBackend):
    """Optuna's journal file, read past torn records; appends go through Optuna's own backend (and lock).

    Logs are numbered as they are read, so a file repaired by another process (its torn parts moved
    aside, the same logs in the same order) is read again from its start and numbered alike.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = JournalFileBackend(str(self.path))  # creates the file when missing
        self._inode = -1
        self._offset = 0  # bytes read: up to the end of the last whole line
        self._count = 0  # logs numbered so far

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        """The logs numbered ``log_number_from`` and on, read up to the last whole line."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return []
        if log_number_from < self._count or stat.st_ino != self._inode or stat.st_size < self._offset:
            self._inode, self._offset, self._count = stat.st_ino, 0, 0  # from the start again
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            data = fh.read(stat.st_size - self._offset)
        read = parse_records(data[: data.rfind(b"\n") + 1], parse_log, self.path)
        self._offset += read.end
        first = self._count
        self._count += len(read.records)
        return read.records[max(0, log_number_from - first) :]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append logs as Optuna does (under its journal lock, fsynced)."""
        self._file.append_logs(logs)


def repair_journal(path: str | Path) -> str:
    """Move the torn parts of a journal aside before anything writes to it again.

    Holds Optuna's journal lock meanwhile, so no live writer is cut off mid-write.

    Returns:
        One line saying what was set aside and where ("" when the journal is whole or missing).
    """
    path = Path(path)
    if not path.is_file():
        return ""
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        read = read_records(path, parse_log)
        if not read.damaged:
            return ""
        aside = set_aside_unreadable(read)
    finally:
        lock.release()
    return f"{read.describe()}; the torn part is moved to {aside.name if aside else '?'}"
