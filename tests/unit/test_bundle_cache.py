"""Loaded splits kept on disk: a rerun on the same files reads the same bundle back, never a stale one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_rows, write_csv
from tui_lab.core.data import splits
from tui_lab.core.settings import DataConfig


@pytest.fixture
def reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A fresh project cache; records every file the loader reads itself."""
    monkeypatch.setenv("TUI_LAB_CACHE", str(tmp_path / "cache"))
    calls: list[str] = []
    real = splits.read_table
    monkeypatch.setattr(
        splits, "read_table", lambda source, split="train": calls.append(split) or real(source, split)
    )
    return calls


def _same(a: splits.DataBundle, b: splits.DataBundle) -> None:
    for name in ("train", "dev", "test"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None)
        if x is not None:
            assert (x.texts, x.labels, x.rows) == (y.texts, y.labels, y.rows)
    for field in (
        "label_names",
        "text_column",
        "label_column",
        "sources",
        "notes",
        "multilabel",
        "dev_from_train",
    ):
        assert getattr(a, field) == getattr(b, field), field


def test_a_second_load_reads_the_bundle_back(tmp_path: Path, reads: list[str], monkeypatch) -> None:
    rows = make_rows(120, 1) + [("", "pos"), ('café ☕ naïve, "quoted"', "neg")]
    write_csv(tmp_path / "d" / "train.csv", rows)
    write_csv(tmp_path / "d" / "test.csv", make_rows(20, 2))
    cfg = DataConfig(train=str(tmp_path / "d"), drop_empty=True)
    first = splits.load_data(cfg, 5)
    assert reads == ["train", "test"] and first.dev_from_train and first.notes
    again = splits.load_data(cfg, 5)
    assert reads == ["train", "test"]  # nothing read: the bundle came back whole
    _same(first, again)
    assert 'café ☕ naïve, "quoted"' in again.train.texts + again.dev.texts
    splits.load_data(cfg, 6)  # another seed cuts another dev split
    assert reads == ["train", "test"] * 2
    monkeypatch.chdir(tmp_path)
    splits.load_data(DataConfig(train="d", drop_empty=True), 5)  # the same files by a relative path
    assert reads == ["train", "test"] * 2


def test_an_edited_file_is_read_again(tmp_path: Path, reads: list[str]) -> None:
    path = tmp_path / "train.csv"
    write_csv(path, make_rows(80, 1))
    cfg = DataConfig(train=str(path))
    splits.load_data(cfg)
    write_csv(path, make_rows(80, 1)[:-1] + [("an edited last row", "neg")])
    edited = splits.load_data(cfg)
    assert reads == ["train", "train"]
    assert "an edited last row" in edited.train.texts + edited.dev.texts


def test_multilabel_rows_round_trip(tmp_path: Path, reads: list[str]) -> None:
    lines = ["text,labels"] + [
        f"row {i},{'a|b' if i % 3 == 0 else ('b' if i % 3 == 1 else 'c')}" for i in range(60)
    ]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = DataConfig(train=str(tmp_path / "t.csv"), label_delimiter="|")
    first = splits.load_data(cfg, 1, multilabel=True)
    again = splits.load_data(cfg, 1, multilabel=True)
    assert reads == ["train"] and first.multilabel
    _same(first, again)
    assert any(len(v) == 2 for v in again.train.labels)


def test_zero_turns_it_off(tmp_path: Path, reads: list[str]) -> None:
    write_csv(tmp_path / "train.csv", make_rows(40, 1))
    cfg = DataConfig(train=str(tmp_path / "train.csv"), token_cache_mb=0)
    splits.load_data(cfg)
    splits.load_data(cfg)
    assert reads == ["train", "train"] and not (tmp_path / "cache" / "loaded").exists()
