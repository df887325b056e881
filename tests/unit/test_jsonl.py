"""Append-only JSON-lines files: a torn last line is kept apart, never a failure (rule 18)."""

from __future__ import annotations

import json

from tui_lab.core.jsonl import append_record, read_records, set_aside_tail


def test_a_torn_last_record_is_reported_and_set_aside(tmp_path) -> None:
    path = tmp_path / "log.jsonl"
    for i in range(3):
        append_record(path, {"i": i, "text": "café"})
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"i": 3, "te')  # a crash mid-write
    read = read_records(path)
    assert [r["i"] for r in read.records] == [0, 1, 2]
    assert read.torn and read.torn_offset == len(whole) and read.torn_bytes == len(b'{"i": 3, "te')
    assert "offset" in read.describe() and "3 complete" in read.describe()
    aside = set_aside_tail(read)
    assert path.read_bytes() == whole and aside.read_bytes() == b'{"i": 3, "te'
    append_record(path, {"i": 4})
    assert [r["i"] for r in read_records(path).records] == [0, 1, 2, 4]


def test_an_append_after_a_torn_line_starts_a_line_of_its_own(tmp_path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"i": 0}\n{"i": 1', encoding="utf-8")
    append_record(path, {"i": 2})
    read = read_records(path)
    assert [r["i"] for r in read.records] == [0, 2] and read.bad_lines == [2] and not read.torn


def test_a_whole_file_and_a_missing_one(tmp_path) -> None:
    path = tmp_path / "log.jsonl"
    assert read_records(path).records == [] and not read_records(path).torn
    path.write_text("\n".join(json.dumps({"i": i}) for i in range(2)) + "\n\n", encoding="utf-8")
    read = read_records(path)
    assert len(read.records) == 2 and not read.torn and read.describe() == ""
    assert set_aside_tail(read) is None


def test_a_record_glued_to_a_torn_start_is_kept_and_the_start_set_aside(tmp_path) -> None:
    """Optuna appends without ending a torn line first: the torn start and the next whole record
    share a line; the record is read, the start is set aside, the file keeps only whole records."""
    from tui_lab.core.jsonl import set_aside_unreadable

    path = tmp_path / "study.journal"
    path.write_bytes(b'{"i": 0}\n{"i": 1, "te{"i": 2}\n{"i": 3}{"i": 4}\n{"i": 5}\nnot json\n{"i": 6}\n{"i"')
    read = read_records(path)
    assert [r["i"] for r in read.records] == [0, 2, 3, 4, 5, 6]  # 3 lost its newline: kept whole
    assert read.glued == [2, 3] and read.bad_lines == [5] and read.torn_bytes == 4
    assert "line(s) 2, 3" in read.describe() and "6 complete" in read.describe()
    aside = set_aside_unreadable(read)
    assert path.read_bytes() == b'{"i": 0}\n{"i": 2}\n{"i": 3}\n{"i": 4}\n{"i": 5}\n{"i": 6}\n'
    assert aside.name == "study.journal.torn-9" and aside.read_bytes() == b'{"i": 1, "te\nnot json\n{"i"\n'
    assert not read_records(path).damaged and set_aside_unreadable(read_records(path)) is None


def test_parse_records_stops_its_end_before_an_unfinished_line() -> None:
    from tui_lab.core.jsonl import parse_records

    read = parse_records(b'{"i": 0}\n{"i": 1}\n{"i": 2')
    assert [r["i"] for r in read.records] == [0, 1] and read.end == 18 and read.torn
