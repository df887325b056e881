"""Every path and data argument of every subcommand, given wrong: exit 2, one ``error:`` line, nothing written.

The model here is a one-layer BERT saved by hand (no training, ``save_tiny_classifier``), so every case runs in a moment;
most fail before any weights load. The commands run in this process through ``main``.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import sys
from pathlib import Path

import pytest

from tests.conftest import make_rows, save_tiny_classifier, write_csv
from tui_lab.cli import main


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    """A folder with a tiny classifier (``model/``), a finished run around it (``runs/r``), its
    data (``data/``) and bad inputs of every kind."""
    root = tmp_path_factory.mktemp("bad")
    model = save_tiny_classifier(root / "model")
    write_csv(root / "data" / "train.csv", make_rows(40, 1))
    write_csv(root / "data" / "dev.csv", make_rows(20, 2))
    make_run(root / "runs" / "r", root / "data", model)

    (root / "afile.txt").write_text("x\n")
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("text,label\n")
    (root / "wrongcol.csv").write_text("body,tag\nthe film was great,pos\nthe film was awful,neg\n")
    (root / "latin1.csv").write_bytes(b"text,label\ncaf\xe9 was great,pos\nawful,neg\n")
    (root / "latin1.txt").write_bytes(b"caf\xe9 was great\nawful\n")
    (root / "empty.txt").write_text("")
    (root / "unknown.csv").write_text("text,label\nthe film was great,zzz\nthe film was awful,neg\n")
    (root / "tags.conll").write_text("EU B-ORG\nrejects O\n\nPeter B-PER\n")
    (root / "nodata").mkdir()
    (root / "nodata" / "readme.md").write_text("no data here\n")
    noweights = root / "noweights"
    noweights.mkdir()
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        shutil.copy(model / name, noweights / name)
    make_run(root / "unfinished", root / "data", None)  # stopped before its first evaluation
    (root / "crowded").mkdir()
    (root / "crowded" / "notes.txt").write_text("mine\n")
    return root


def make_run(run: Path, data: Path, model: Path | None) -> Path:
    """A run folder as the trainer leaves it: config.toml, events.jsonl and (with a model) best/."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.events import RunFinished, RunStarted

    cfg = LabConfig()
    cfg.data.train = str(data)
    cfg.save(run / "config.toml")
    started = RunStarted(
        str(run),
        run.name,
        "tiny-bert",
        ["neg", "pos"],
        40,
        20,
        0,
        1,
        3,
        3,
        "cpu",
        "fp32",
        config=cfg.to_dict(),
    )
    lines = [started.to_json()]
    if model is not None:
        shutil.copytree(model, run / "best")
        lines.append(RunFinished("completed", 3, 1.0, {"accuracy": 0.5}, None, 10.0, False).to_json())
    (run / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(capsys, args: list[str], expect: str) -> str:
    code = main(args)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, (code, err)
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert expect in err, err
    return err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- export: the export folder (--out) -----------------------------------------------------------
@pytest.mark.parametrize(
    ("out", "expect"),
    [
        ("afile.txt", "afile.txt is a file; give --out a folder"),
        ("afile.txt/sub", "afile.txt is a file, so the export folder"),
        ("runs/r/best", "is the model folder; give --out a folder outside it"),
        ("runs/r/best/onnx", "is inside the model folder"),
        ("runs/r", "already holds other files"),
        ("crowded", "already holds other files"),
        ("model", "already holds other files"),
    ],
)
def test_export_refuses_an_out_folder_that_would_mix_with_what_is_there(
    place: Path, capsys, out: str, expect: str
) -> None:
    before = snapshot(place)
    one_error_line(capsys, ["export", str(place / "runs" / "r"), "--out", str(place / out)], expect)
    assert snapshot(place) == before  # nothing written, nothing touched


def test_export_to_a_folder_it_cannot_write_leaves_no_folder_behind(place: Path, capsys, monkeypatch) -> None:
    out = place / "new" / "deep" / "export"
    mkdir = Path.mkdir

    def refuse(self: Path, *args, **kwargs) -> None:
        if self.name.startswith(".export.tmp-"):  # root may write anywhere: say no as a disk would
            raise PermissionError(13, "Permission denied", str(self))
        mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    one_error_line(capsys, ["export", str(place / "runs" / "r"), "--out", str(out)], "(Permission denied)")
    monkeypatch.undo()
    assert not (place / "new").exists()


# -- export, eval: the data to measure on (--data) -----------------------------------------------
DATA_CASES = [
    ("nope.csv", "nope.csv does not exist"),
    ("empty.csv", "empty.csv is empty"),
    ("header.csv", "has a header but no rows"),
    ("wrongcol.csv", "has no label column I can recognise (it has: body, tag)"),
    ("latin1.csv", "is not UTF-8 text (bad byte at line 2"),
    ("nodata", "is a folder without a test or dev file"),
    ("unknown.csv", "has labels the model does not know"),
    ("tags.conll", "is NER data (CoNLL token tags), but"),  # not "train it with --task ner"
]


@pytest.mark.parametrize(("data", "expect"), DATA_CASES)
def test_export_refuses_bad_data_before_writing(place: Path, capsys, data: str, expect: str) -> None:
    run = place / "runs" / "r"
    one_error_line(capsys, ["export", str(run), "--data", str(place / data)], expect)
    assert not (run / "export").exists()


@pytest.mark.parametrize(("data", "expect"), DATA_CASES)
def test_eval_refuses_bad_data(place: Path, capsys, data: str, expect: str) -> None:
    one_error_line(capsys, ["eval", str(place / "runs" / "r"), "--data", str(place / data)], expect)


def test_a_run_whose_data_is_gone_is_one_line(place: Path, tmp_path: Path, capsys) -> None:
    run = make_run(tmp_path / "r", tmp_path / "moved-away", place / "model")
    one_error_line(capsys, ["export", str(run)], "the run's data cannot be read any more")
    assert sorted(p.name for p in run.iterdir()) == ["best", "config.toml", "events.jsonl"]
    assert main(["analyze", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[:-1] == ["reading the run's data…"], err  # its progress line, then the error
    assert (
        err[-1].startswith("error: r's data cannot be read any more: ")
        and "moved-away does not exist" in err[-1]
    )


# -- the model or run folder of every command that loads one ---------------------------------------
MODEL_CASES = [
    ("nope", "does not exist"),
    ("afile.txt", "afile.txt is a file"),
    ("nodata", "holds no model yet"),
    ("unfinished", "holds no model yet"),
    ("noweights", "has no weights (model.safetensors); give a complete model folder"),
]


def _command(name: str, model: Path, place: Path) -> list[str]:
    return {
        "predict": ["predict", str(model), "a text"],
        "eval": ["eval", str(model), "--data", str(place / "data" / "dev.csv")],
        "explain": ["explain", str(model), "a text"],
        "export": ["export", str(model), "--data", str(place / "data" / "dev.csv")],
        "serve": ["serve", str(model), "--port", str(free_port())],
    }[name]


@pytest.mark.parametrize("command", ["predict", "eval", "explain", "export", "serve"])
@pytest.mark.parametrize(("model", "expect"), MODEL_CASES)
def test_a_model_folder_that_cannot_load_is_one_line(
    place: Path, capsys, command: str, model: str, expect: str
) -> None:
    before = snapshot(place)
    one_error_line(capsys, _command(command, place / model, place), expect)
    assert snapshot(place) == before


@pytest.mark.parametrize(
    ("flags", "expect"),
    [
        (["--model", "noweights"], "has no weights (model.safetensors)"),
        (["--train", "nope.txt"], "nope.txt does not exist"),
        (["--train", "empty.txt"], "has no text to pretrain on"),
        (["--train", "latin1.txt"], "is not UTF-8 text"),
        (["--train", "nodata"], "is a folder without a train file"),
        (["--output-dir", "afile.txt"], "is a file, not a folder; choose a folder"),
    ],
)
def test_pretrain_refuses_bad_paths_before_writing(
    place: Path, capsys, monkeypatch, flags: list[str], expect: str
) -> None:
    monkeypatch.chdir(place)
    args = [
        "pretrain",
        "--train",
        str(place / "data" / "train.csv"),
        "--output-dir",
        "out",
        "--max-steps",
        "1",
    ]
    args += ["--max-length", "32"]
    before = snapshot(place)
    one_error_line(capsys, [*args, *flags], expect)
    assert snapshot(place) == before and not (place / "out").exists()


@pytest.mark.parametrize(
    ("encoder", "expect"),
    [
        ("afile.txt", "the encoder {place}/afile.txt is a file"),
        ("nodata", "is not a model folder (no config.json)"),
        ("noweights", "has no weights (model.safetensors)"),
        ("./no/such/folder", "the encoder folder no/such/folder does not exist"),
        ("no-such-encoder", "is not a local folder and could not be fetched from the Hugging Face hub"),
    ],
)
def test_analyze_refuses_an_encoder_that_cannot_load_before_any_work(
    place: Path, capsys, monkeypatch, encoder: str, expect: str
) -> None:
    monkeypatch.chdir(place)
    target = encoder if encoder.startswith(("./", "no-")) else str(place / encoder)
    err = one_error_line(capsys, ["analyze", str(place / "runs" / "r"), "--encoder", target], "")
    assert expect.format(place=place) in err and "reading" not in err
    assert not (place / "runs" / "r" / "analysis.json").exists()


def test_analyze_says_when_its_results_cannot_be_written(place: Path, tmp_path: Path, capsys) -> None:
    run = Path(shutil.copytree(place / "runs" / "r", tmp_path / "r"))
    (run / "analysis.json").mkdir()
    one_error_line(
        capsys, ["analyze", str(run)], "analysis.json is a folder, so the results cannot be written"
    )


@pytest.mark.parametrize(
    ("run", "expect"),
    [("nope", "is not a run folder"), ("afile.txt", "is not a run folder"), ("unfinished", "has no best/")],
)
def test_analyze_refuses_what_is_not_a_finished_run(place: Path, capsys, run: str, expect: str) -> None:
    one_error_line(capsys, ["analyze", str(place / run)], expect)


@pytest.mark.parametrize(
    ("run", "expect"),
    [
        ("nope", "is not a run folder"),
        ("afile.txt", "is not a run folder"),
        ("nodata", "has no events.jsonl"),
    ],
)
def test_watch_refuses_what_is_not_a_run(place: Path, capsys, run: str, expect: str) -> None:
    one_error_line(capsys, ["watch", str(place / run)], expect)


def test_runs_refuses_an_output_dir_that_is_a_file_or_missing(place: Path, capsys, monkeypatch) -> None:
    one_error_line(capsys, ["runs", "--output-dir", str(place / "afile.txt")], "is a file")
    one_error_line(capsys, ["runs", "--output-dir", str(place / "nope")], "does not exist")
    monkeypatch.chdir(place / "nodata")  # the default folder missing: no runs yet, not an error
    assert main(["runs"]) == 0
    assert capsys.readouterr().out.startswith("no runs in runs/ (train one with tui-lab train)")


# -- texts: stdin and arguments that are not UTF-8 -----------------------------------------------------
@pytest.mark.parametrize("command", ["predict", "explain"])
def test_texts_that_are_not_utf8_are_one_line(place: Path, capsys, monkeypatch, command: str) -> None:
    model = str(place / "model")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"fine\ncaf\xe9 was great\n")))
    one_error_line(capsys, [command, model, "-"], "stdin is not UTF-8 text (bad byte at line 2)")
    undecodable = b"caf\xe9".decode("utf-8", "surrogateescape")  # how Python hands such an argument over
    one_error_line(capsys, [command, model, undecodable], "TEXT 1 is not UTF-8 text")


def test_stdin_texts_still_work(place: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("the film was great\r\n\ncafé\n".encode())))
    assert main(["predict", str(place / "model"), "-", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["text"] for p in out["predictions"]] == ["the film was great", "café"]


@pytest.mark.parametrize(
    ("command", "out", "expect"),
    [
        ("train", "afile.txt", "afile.txt is a file, not a folder; choose a folder"),
        ("train", "afile.txt/runs", "afile.txt/runs is under "),
        ("pretrain", "afile.txt/runs", "which is a file; choose a folder"),
        ("sweep", "afile.txt", "afile.txt is a file, not a folder; choose a folder"),
    ],
)
def test_an_output_dir_that_is_or_lies_under_a_file_is_one_line(
    place: Path, capsys, monkeypatch, command: str, out: str, expect: str
) -> None:
    monkeypatch.chdir(place)
    args = [command, "--train", str(place / "data" / "train.csv"), "--max-steps", "1"]
    args += {"sweep": ["--trials", "1"], "train": ["--no-baseline"]}.get(command, [])
    before = snapshot(place)
    one_error_line(capsys, [*args, "--output-dir", out], expect)
    assert snapshot(place) == before
