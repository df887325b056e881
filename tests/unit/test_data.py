"""Loading data: formats, column inference, labels, splits, statistics, and every bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_rows, write_csv
from tui_lab.core.data.files import read_preview, read_table, resolve_sources
from tui_lab.core.data.splits import (
    Split,
    label_counts,
    length_stats,
    load_data,
    shared_texts,
    stratified_split,
)
from tui_lab.core.errors import DataError
from tui_lab.core.settings import DataConfig, render_error


def _cfg(train: Path, **kw) -> DataConfig:
    return DataConfig(train=str(train), **kw)


def test_folder_supplies_train_dev_test(tiny_data: Path) -> None:
    bundle = load_data(_cfg(tiny_data))
    assert (len(bundle.train), len(bundle.dev), len(bundle.test)) == (240, 60, 60)
    assert bundle.label_names == ["neg", "pos"]
    assert (bundle.text_column, bundle.label_column) == ("text", "label")
    assert bundle.sources["dev"].endswith("dev.csv")


def test_default_points_at_the_bundled_sample_data() -> None:
    sources = resolve_sources(DataConfig())
    assert sources["train"].endswith("sample_data/sentiment/train.csv")
    assert sources["dev"].endswith("dev.csv") and sources["test"].endswith("test.csv")


def test_stratified_dev_split_when_no_dev_file(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "only.csv", make_rows(200))
    bundle = load_data(_cfg(train, dev_fraction=0.2))
    assert len(bundle.dev) == 40 and len(bundle.train) == 160
    assert sorted(bundle.dev.labels).count(0) == 20  # both labels keep their share
    assert "stratified" in bundle.sources["dev"]
    assert sorted(bundle.train.texts + bundle.dev.texts) == sorted(t for t, _ in make_rows(200))


@pytest.mark.parametrize("fmt", ["tsv", "jsonl", "parquet"])
def test_other_formats(tmp_path: Path, fmt: str) -> None:
    rows = make_rows(50)
    path = tmp_path / f"train.{fmt}"
    if fmt == "tsv":
        path.write_text("text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"sentence": t, "sentiment": lab}) + "\n" for t, lab in rows))
    else:
        import pandas as pd

        pd.DataFrame(rows, columns=["review", "label"]).to_parquet(path)
    bundle = load_data(_cfg(path))
    assert len(bundle.train) + len(bundle.dev) == 50 and bundle.label_names == ["neg", "pos"]


def test_integer_labels_keep_numeric_order(tmp_path: Path) -> None:
    rows = [(f"text number {i}", [10, 2, 1][i % 3]) for i in range(60)]
    bundle = load_data(_cfg(write_csv(tmp_path / "t.csv", rows)))
    assert bundle.label_names == ["1", "2", "10"]


def test_explicit_columns_and_non_ascii(tmp_path: Path) -> None:
    rows = [
        ("这家餐厅很好吃" if i % 2 else "服务太差了，不会再来", "好" if i % 2 else "差", i) for i in range(40)
    ]
    path = write_csv(tmp_path / "zh.csv", rows, header=("评论", "标签", "id"))
    bundle = load_data(_cfg(path, text_column="评论", label_column="标签"))
    assert bundle.label_names == ["好", "差"]
    assert any("餐厅" in t for t in bundle.train.texts)


def test_preview_reads_only_the_head(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        fh.write("text,label\n")
        fh.write("".join(f"row {i},{i % 2}\n" for i in range(200_000)))
    table = read_preview(str(path), rows=10)
    assert len(table) == 10 and table.columns["text"][0] == "row 0"


def test_stats_report_percentiles_truncation_and_counts() -> None:
    split = Split(["a"] * 4, [0, 0, 1, 1])
    assert label_counts(split, ["neg", "pos", "meh"]) == {"neg": 2, "pos": 2, "meh": 0}
    stats = length_stats([5, 10, 50, 200], max_length=64)
    assert stats["truncated"] == 0.25 and stats["max"] == 200 and stats["p50"] == 30
    assert length_stats([], 64)["truncated"] == 0.0


def test_shared_texts_counts_leakage() -> None:
    a = Split(["Good film", "bad food", "x"], [0, 1, 0])
    b = Split(["good film ", "other"], [0, 1])
    assert shared_texts(a, b) == 1


def test_stratified_split_falls_back_for_rare_classes() -> None:
    data = Split([f"t{i}" for i in range(10)], [0] * 9 + [1])
    tr, dv = stratified_split(data, 0.2, 0)
    assert len(tr) + len(dv) == 10


def test_stratified_split_is_the_one_runs_were_started_with() -> None:
    """A resumed run cuts dev again: the split must stay sklearn's on plain lists, row for row."""
    from sklearn.model_selection import train_test_split

    labels = [i % 3 for i in range(997)]
    data = Split([f"t{i}" for i in range(997)], labels)
    tr, dv = stratified_split(data, 0.1, 7)
    want_tr, want_dv = train_test_split(list(range(997)), test_size=100, random_state=7, stratify=labels)
    assert tr.rows == sorted(want_tr) and dv.rows == sorted(want_dv)
    assert tr.texts[:3] == [f"t{i}" for i in sorted(want_tr)[:3]]


def test_a_cut_split_is_read_back_for_the_same_labels_only(tmp_path, monkeypatch) -> None:
    import sklearn.model_selection

    monkeypatch.setenv("TUI_LAB_CACHE", str(tmp_path / "cache"))
    calls: list[int] = []
    real = sklearn.model_selection.train_test_split
    monkeypatch.setattr(
        sklearn.model_selection, "train_test_split", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    data = Split([f"t{i}" for i in range(300)], [i % 2 for i in range(300)])
    first = stratified_split(data, 0.2, 3)
    again = stratified_split(data, 0.2, 3)
    assert len(calls) == 1 and again[0].rows == first[0].rows and again[1].rows == first[1].rows
    assert len(list((tmp_path / "cache" / "splits").iterdir())) == 1
    flipped = Split(data.texts, [1 - v for v in data.labels[:1]] + data.labels[1:])
    stratified_split(flipped, 0.2, 3)  # one label changed: cut again
    stratified_split(data, 0.2, 4)  # another seed
    assert len(calls) == 3


# -- bad input: one sentence that names the problem --------------------------------------------------
def _bad(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "is empty"),
        ("header.csv", "text,label\n", "header but no rows"),
        ("latin.csv", b"text,label\ncaf\xe9 au lait,pos\nok,neg\n", r"not UTF-8 text \(bad byte at line 2"),
        ("ragged.csv", "text,label\na,pos\nb,neg,extra\n", "line 3 has 3 fields where the header has 2"),
        ("broken.jsonl", '{"text": "a", "label": "x"}\n{"text": oops\n', "not valid JSON Lines"),
        ("dupes.csv", "text,text,label\na,b,c\n", "duplicate column names: text"),
        ("data.xlsx", "whatever", "unknown format '.xlsx'"),
        ("noext", "text,label\na,b\n", "unknown format"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content, message: str) -> None:
    path = _bad(tmp_path, name, content)
    with pytest.raises(DataError, match=message):
        read_table(str(path))


def test_missing_file_and_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_data(_cfg(tmp_path / "nope.csv"))
    with pytest.raises(DataError, match="is a folder, not a file"):
        read_table(str(tmp_path))
    with pytest.raises(DataError, match="folder without a train file"):
        load_data(_cfg(tmp_path))


def test_columns_that_are_not_there(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [("some words here", 2)], header=("text", "score"))
    with pytest.raises(DataError, match="no label column I can recognise"):
        load_data(_cfg(path))
    path = write_csv(tmp_path / "u.csv", [(1, "pos")], header=("id", "label"))
    with pytest.raises(DataError, match="no text column I can recognise"):
        load_data(_cfg(path))
    path = write_csv(tmp_path / "v.csv", make_rows(10))
    with pytest.raises(DataError, match="no column 'body'.*it has: text, label"):
        load_data(_cfg(path, text_column="body"))


def test_single_label(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [(f"text {i}", "pos") for i in range(20)])
    with pytest.raises(DataError, match="single label"):
        load_data(_cfg(path))


def test_dev_label_unknown_to_train(tiny_data: Path) -> None:
    write_csv(tiny_data / "dev.csv", make_rows(10) + [("strange", "neutral")])
    with pytest.raises(DataError, match="label\\(s\\) 'neutral' that the training data does not have"):
        load_data(_cfg(tiny_data))


def test_empty_and_missing_texts_fail_unless_dropped(tmp_path: Path) -> None:
    rows = make_rows(30) + [("", "pos"), ("   ", "neg"), ("fine text", "")]
    path = write_csv(tmp_path / "t.csv", rows)
    with pytest.raises(DataError, match=r"3 row\(s\) with an empty text or label \(row 31, 32, 33\)") as info:
        load_data(_cfg(path))
    assert render_error(info.value, "flag").endswith("fix them or set --drop-empty.")
    assert render_error(info.value, "label").endswith('fix them or set "drop empty rows" = on.')
    bundle = load_data(_cfg(path, drop_empty=True))
    assert len(bundle.train) + len(bundle.dev) == 30
    assert any("dropped 3" in n for n in bundle.notes)


def test_dev_and_test_files_drop_empty_rows_with_a_note_each_and_say_where_dev_came_from(
    tmp_path: Path,
) -> None:
    write_csv(tmp_path / "d" / "train.csv", make_rows(40))
    write_csv(tmp_path / "d" / "dev.csv", make_rows(10, 2) + [("", "pos")])
    write_csv(tmp_path / "d" / "test.csv", make_rows(10, 3) + [("x", ""), ("  ", "neg")])
    bundle = load_data(_cfg(tmp_path / "d", drop_empty=True))
    assert (len(bundle.dev), len(bundle.test)) == (10, 10) and not bundle.dev_from_train
    assert "dropped 1 dev row(s) with an empty text or label" in bundle.notes
    assert "dropped 2 test row(s) with an empty text or label" in bundle.notes
    assert bundle.sources["dev"].endswith("dev.csv") and bundle.sources["test"].endswith("test.csv")
    cut = load_data(_cfg(tmp_path / "d" / "train.csv", dev_fraction=0.25))
    assert cut.dev_from_train and len(cut.dev) == 10 and cut.test is None


def test_a_one_megabyte_text_loads(tmp_path: Path) -> None:
    rows = make_rows(20) + [("word " * 200_000, "pos")]
    bundle = load_data(_cfg(write_csv(tmp_path / "t.csv", rows)))
    assert max(len(t) for t in bundle.train.texts + bundle.dev.texts) >= 1_000_000


def test_unknown_hub_dataset_offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="neither a local file nor reachable on the Hugging Face hub"):
        load_data(DataConfig(train="someone/no-such-dataset"))


def test_rows_point_at_the_source_file_after_drops_and_the_dev_cut(tmp_path: Path) -> None:
    rows = make_rows(60, 7)
    rows[3] = ("", "pos")  # dropped
    rows[10] = ("   ", "neg")  # dropped
    path = write_csv(tmp_path / "train.csv", rows)
    bundle = load_data(_cfg(path, drop_empty=True, dev_fraction=0.2), seed=3)
    for split in (bundle.train, bundle.dev):
        assert len(split.rows) == len(split)
        for text, row in zip(split.texts, split.rows):
            assert rows[row][0] == text  # row i of the file (0-based, header not counted)
    assert sorted(bundle.train.rows + bundle.dev.rows) == [i for i in range(60) if i not in (3, 10)]


def test_rows_default_to_positions_and_follow_subsets() -> None:
    split = Split(["a", "b", "c"], [0, 1, 0])
    assert split.rows == [0, 1, 2]
    sub = Split(["a", "b", "c"], [0, 1, 0], [5, 9, 12]).subset([2, 0])
    assert (sub.texts, sub.labels, sub.rows) == (["c", "a"], [0, 0], [12, 5])


def test_the_label_map_is_the_bundles(tiny_data: Path) -> None:
    from tui_lab.core.data.splits import label_map

    bundle = load_data(_cfg(tiny_data))
    assert bundle.label2id == label_map(bundle.label_names) == {"neg": 0, "pos": 1}


def test_default_sample_data_resolves_through_the_package_from_any_folder(tmp_path, monkeypatch) -> None:
    import tui_lab

    monkeypatch.chdir(tmp_path)  # no sample_data/ here
    train = Path(resolve_sources(DataConfig())["train"])
    assert train.is_file() and train.is_relative_to(Path(tui_lab.__file__).parent / "sample_data")
    assert resolve_sources(DataConfig(train="sample_data/topics"))["train"].endswith("topics/train.csv")
    assert len(load_data(DataConfig()).train) == 1500
