"""Corrections files: decisions on rows appended, read back (torn tail kept apart), applied on load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_rows, write_csv
from tui_lab.core.data import corrections
from tui_lab.core.data.splits import load_data
from tui_lab.core.errors import DataError
from tui_lab.core.settings import DataConfig


def _data(tmp_path: Path) -> tuple[Path, list[tuple[str, str]]]:
    rows = make_rows(40, 1)
    folder = tmp_path / "data"
    write_csv(folder / "train.csv", rows)
    write_csv(folder / "dev.csv", make_rows(20, 2))
    return folder, rows


def _load(folder: Path, **kw):
    return load_data(DataConfig(train=str(folder / "train.csv"), dev=str(folder / "dev.csv"), **kw))


def test_default_path_beside_the_data_or_in_the_output_folder(tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "ro" / "train.csv"
    data.parent.mkdir()
    data.write_text("text,label\na,b\n")
    assert corrections.default_path(data) == tmp_path / "ro" / "train.csv.corrections.jsonl"
    # a read-only folder (root may write anyway)
    monkeypatch.setattr(corrections.os, "access", lambda *a: False)
    path = corrections.default_path(data, tmp_path / "runs")
    assert path.parent == tmp_path / "runs" / "corrections"
    assert path.name.startswith("train.csv-") and path.name.endswith(".corrections.jsonl")
    corrections.append(path, corrections.decision(data, 0, "a", "keep"))
    assert corrections.resolve_path("", str(data), tmp_path / "runs") == path


def test_relabel_drop_keep_add_applied_on_load_and_said(tmp_path: Path) -> None:
    folder, rows = _data(tmp_path)
    path = corrections.default_path(folder / "train.csv")
    corrections.append(path, corrections.decision("train.csv", 0, rows[0][0], "relabel", "neg", "pos"))
    corrections.append(path, corrections.decision("train.csv", 1, rows[1][0], "drop"))
    corrections.append(path, corrections.decision("train.csv", 2, rows[2][0], "keep"))
    corrections.append(path, corrections.decision("pool.csv", 7, "a brand new text", "add", "pos"))
    corrections.append(path, corrections.decision("train.csv", 3, "not that row's text", "drop"))
    bundle = _load(folder)
    texts = dict(zip(bundle.train.rows, bundle.train.texts))
    labels = dict(zip(bundle.train.rows, bundle.train.labels))
    assert labels[0] == bundle.label2id["neg"]  # relabelled
    assert 1 not in texts  # dropped
    assert 3 in texts  # its text no longer matched: skipped, never applied
    assert texts[corrections.ADDED_ROW] == "a brand new text"
    assert len(bundle.train) == 40 - 1 + 1
    note = "1 rows relabelled, 1 dropped, 1 added, 1 kept as they are from train.csv.corrections.jsonl; 1 no longer match and were skipped"
    assert note in bundle.notes
    assert bundle.corrections["sha256"] == corrections.digest(path)
    assert bundle.corrections["relabelled_rows"] == [[0, "neg"]]


def test_later_lines_win_and_undo_takes_back_one(tmp_path: Path) -> None:
    folder, rows = _data(tmp_path)
    path = corrections.default_path(folder / "train.csv")
    text = rows[0][0]
    corrections.append(path, corrections.decision("train.csv", 0, text, "drop"))
    corrections.append(path, corrections.decision("train.csv", 0, text, "relabel", "neg"))
    assert _load(folder).train.labels[0] == 0  # the relabel stands, not the drop
    corrections.append(path, corrections.decision("train.csv", 0, text, "undo"))
    bundle = _load(folder)  # the corrections file's hash is in the cache key: no stale hit
    assert 0 not in bundle.train.rows  # the drop stands again
    corrections.append(path, corrections.decision("train.csv", 0, text, "undo"))
    assert _load(folder).train.rows[0] == 0 and _load(folder).train.labels[0] == 1  # as in the file


def test_none_ignores_and_an_explicit_path_is_read(tmp_path: Path) -> None:
    folder, rows = _data(tmp_path)
    path = tmp_path / "mine.jsonl"
    corrections.append(path, corrections.decision("train.csv", 1, rows[1][0], "drop"))
    assert 1 in _load(folder).train.rows  # not the default file: not read
    assert 1 not in _load(folder, corrections=str(path)).train.rows
    assert _load(folder, corrections="none").corrections is None
    with pytest.raises(DataError, match="does not exist"):
        _load(folder, corrections=str(tmp_path / "missing.jsonl"))


def test_torn_last_line_ignored_and_reported(tmp_path: Path) -> None:
    folder, rows = _data(tmp_path)
    path = corrections.default_path(folder / "train.csv")
    corrections.append(path, corrections.decision("train.csv", 1, rows[1][0], "drop"))
    with open(path, "a") as fh:
        fh.write('{"file": "train.csv", "row": 2, "te')
    bundle = _load(folder)
    assert 1 not in bundle.train.rows
    assert any("torn record" in n for n in bundle.notes)


def test_bad_files_and_labels_are_one_sentence(tmp_path: Path) -> None:
    folder, rows = _data(tmp_path)
    path = corrections.default_path(folder / "train.csv")
    path.write_text(
        '{"row": 1, "text": "x", "action": "drop"}\nnot json\n{"row": 2, "text": "y", "action": "keep"}\n'
    )
    with pytest.raises(DataError, match="line 2 is not JSON"):
        _load(folder)
    path.write_text(json.dumps({"row": 0, "text": rows[0][0], "action": "relabel", "label": "meh"}) + "\n")
    with pytest.raises(DataError, match="'meh', which the data does not have"):
        _load(folder)
    with pytest.raises(DataError, match="without a 'label'"):
        corrections.append(path, {"row": 0, "text": "x", "action": "relabel"})
    assert path.read_text().count("\n") == 1  # nothing written


def _cli(*argv: str) -> int:
    from tui_lab.cli.commands import main

    return main(["corrections", *argv])


def test_cli_add_list_apply_keep_every_column(tmp_path: Path, capsys) -> None:
    data = write_csv(
        tmp_path / "train.csv",
        [("good film", "pos", "a"), ("bad food", "neg", "b"), ("ok", "pos", "c")],
        ("text", "label", "id"),
    )
    assert _cli("add", "--data", str(data), "--row", "0", "--label", "neg") == 0
    assert _cli("add", "--data", str(data), "--row", "1", "--drop") == 0
    assert _cli("add", "--data", str(data), "--row", "2", "--keep") == 0
    capsys.readouterr()
    assert _cli("list", "--data", str(data), "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(d["row"], d["action"]) for d in listed["decisions"]] == [
        (0, "relabel"),
        (1, "drop"),
        (2, "keep"),
    ]
    out = tmp_path / "fixed.jsonl"
    assert _cli("apply", "--data", str(data), "--out", str(out)) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [
        {"text": "good film", "label": "neg", "id": "a"},
        {"text": "ok", "label": "pos", "id": "c"},
    ]
    assert "1 rows relabelled, 1 dropped" in capsys.readouterr().out
    assert data.read_text().count("\n") == 4  # the data file itself untouched


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys) -> None:
    data = write_csv(tmp_path / "train.csv", [("good film", "pos"), ("bad food", "neg")])
    path = corrections.default_path(data)
    assert _cli("add", "--data", str(data), "--row", "5", "--keep") == 2
    assert _cli("add", "--data", str(data), "--row", "0", "--label", "meh") == 2
    assert not path.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {data} has 2 rows (0 to 1); there is no row 5.",
        f"error: {data} has no label 'meh' (it has: neg, pos); give one of them.",
    ]
    path.write_text("this is not json\n{}\n")
    assert _cli("add", "--data", str(data), "--row", "0", "--keep") == 2
    assert _cli("apply", "--data", str(data), "--out", str(tmp_path / "out.csv")) == 2
    assert path.read_text() == "this is not json\n{}\n" and not (tmp_path / "out.csv").exists()
    assert "line 1 is not JSON" in capsys.readouterr().err


def test_eval_on_a_file_applies_its_corrections(tmp_path: Path) -> None:
    from tests.conftest import save_tiny_classifier
    from tui_lab.core.deploy.eval_file import evaluate_path

    model = save_tiny_classifier(tmp_path / "model")
    rows = make_rows(20, 3)
    data = write_csv(tmp_path / "test.csv", rows)
    assert evaluate_path(str(model), str(data))["n"] == 20
    corrections.append(corrections.default_path(data), corrections.decision(data, 4, rows[4][0], "drop"))
    result = evaluate_path(str(model), str(data))
    assert result["n"] == 19 and result["corrections"].startswith("0 rows relabelled, 1 dropped")


def test_the_dataset_panes_stats_carry_the_relabelled_rows(tmp_path: Path) -> None:
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.preview import describe

    folder, rows = _data(tmp_path)
    path = corrections.default_path(folder / "train.csv")
    corrections.append(path, corrections.decision("train.csv", 0, rows[0][0], "relabel", "neg"))
    cfg = LabConfig()
    cfg.data.train, cfg.data.dev = str(folder / "train.csv"), str(folder / "dev.csv")
    stats = describe(cfg)
    assert stats.corrections["relabelled_rows"] == [[0, "neg"]]
    assert any(note.startswith("1 rows relabelled") for note in stats.notes)


def test_eval_of_a_multi_label_model_applies_the_files_corrections(tmp_path: Path) -> None:
    from tests.conftest import save_tiny_classifier
    from tui_lab.core.deploy.eval_file import evaluate_path

    model = save_tiny_classifier(
        tmp_path / "model", labels=("a", "b"), problem_type="multi_label_classification"
    )
    rows = [
        (text, "a|b" if i % 3 == 0 else ("a" if i % 2 else "b"))
        for i, (text, _) in enumerate(make_rows(12, 4))
    ]
    data = write_csv(tmp_path / "test.csv", rows)
    before = evaluate_path(str(model), str(data))
    assert "corrections" not in before
    path = corrections.default_path(data)
    corrections.append(path, corrections.decision(data, 0, rows[0][0], "relabel", ["a"]))
    corrections.append(path, corrections.decision(data, 1, rows[1][0], "drop"))
    after = evaluate_path(str(model), str(data))
    assert after["corrections"].startswith("1 rows relabelled, 1 dropped")
    assert (before["n"], after["n"]) == (12, 11)
