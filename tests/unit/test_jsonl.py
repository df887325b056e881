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
    assert read.torn and read.torn_offset == len(whole) and read.torn_bytes == len(b"{\"i\": 3, \"te")
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
