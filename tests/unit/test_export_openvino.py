"""OpenVINO export (``--format openvino``/``openvino-int8``), the predictor's OpenVINO backend and
``serve --backend openvino``; skipped where OpenVINO and NNCF are not installed."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLE, run_alone
from tests.unit.test_export_compare import pair  # noqa: F401  (a teacher and a student run)
from tests.unit.test_serve import TEXTS as SERVE_TEXTS
from tests.unit.test_serve import _start
from tui_lab.cli import main
from tui_lab.core.deploy import openvino
from tui_lab.core.deploy.export import REPORT_FILE, export, formats
from tui_lab.core.deploy.predictor import Predictor
from tui_lab.core.errors import ModelError

pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install 'tui-lab[openvino]')")
pytest.importorskip("nncf", reason="NNCF is not installed (pip install 'tui-lab[openvino]')")

TEXTS = ["", "the film was wonderful", "the pizza was awful", "the hotel was superb " * 30]


@pytest.fixture(scope="module")
def ov_export(finished_run, tmp_path_factory) -> tuple[Path, Path, dict, list[str]]:
    """The session's run exported to OpenVINO fp32 and int8 beside ONNX int8: (run, out, report, log)."""
    out = tmp_path_factory.mktemp("ov") / "export"
    lines: list[str] = []
    report = export(finished_run, "onnx-int8,openvino,openvino-int8", out, log=lines.append, rounds=1)
    return finished_run, out, report, lines


def test_formats_read_one_a_comma_list_or_all() -> None:
    assert formats("all") == ("onnx", "onnx-int8")
    assert formats("openvino-int8, onnx-int8") == ("onnx-int8", "openvino-int8")  # table order
    assert formats("all,openvino") == ("onnx", "onnx-int8", "openvino")
    with pytest.raises(ModelError, match="got 'tflite'"):
        formats("tflite")


def test_openvino_variants_match_pytorch_and_sit_in_optimum_intels_layout(ov_export) -> None:
    run, out, report, lines = ov_export
    rows = {row["name"]: row for row in report["variants"]}
    assert list(rows) == ["pytorch", "onnx-int8", "openvino", "openvino-int8"]
    assert report["openvino_max_abs_logit_diff"] <= 1e-4  # the fp32 IR is the PyTorch model
    assert report["openvino_int8_agreement"] >= 0.9 and report["int8_agreement"] >= 0.9
    assert abs(rows["openvino-int8"]["accuracy_delta"]) <= 0.05
    assert rows["openvino-int8"]["size_mb"] < rows["openvino"]["size_mb"]
    for name in ("openvino", "openvino-int8"):
        folder = out / name
        files = {f.name for f in folder.iterdir()}
        assert {"openvino_model.xml", "openvino_model.bin", "config.json", "tokenizer.json"} <= files
        assert rows[name]["path"] == str(folder / "openvino_model.xml")  # where it is, not where it was built
        assert rows[name]["throughput_sps"] > 0
    assert any("NNCF calibrates on 240 training texts" in line for line in lines)  # the run's train split
    assert json.loads((out / REPORT_FILE).read_text())["variants"] == report["variants"]

    torch_p = Predictor.from_path(run, device="cpu")
    for name in ("openvino", "openvino-int8"):
        ov_p = Predictor.from_path(out / name)  # auto: an IR folder runs in OpenVINO
        assert ov_p.backend.name == "openvino" and ov_p.labels == torch_p.labels
        if name == "openvino":
            assert abs(ov_p.logits(TEXTS, batch_size=3) - torch_p.logits(TEXTS)).max() <= 1e-4
    assert [p.label for p in ov_p.predict(TEXTS[1:3])] == ["pos", "neg"]
    assert Predictor.from_path(out, backend="openvino").source == str(out / "openvino" / "openvino_model.xml")
    assert Predictor.from_path(out).backend.name == "onnx"  # the export folder itself stays ONNX


def test_an_ir_folder_runs_with_openvino_and_tokenizers_alone(ov_export) -> None:
    """The int8 folder is self-contained: no torch, transformers or tui-lab needed to run it."""
    _, out, _, _ = ov_export
    folder = out / "openvino-int8"
    forward = """
        import openvino as ov
        model = ov.Core().compile_model(folder + "/openvino_model.xml", "CPU")
        logits = model({i.get_any_name(): feed[i.get_any_name()].astype(np.int64) for i in model.inputs})[0]
    """
    labels, heavy = run_alone(folder, forward)
    assert labels == ["pos", "neg"] and heavy == []


@pytest.mark.slow
def test_serve_answers_from_the_openvino_int8_folder(ov_export) -> None:
    _, out, _, _ = ov_export
    expected = Predictor.from_path(out / "openvino-int8").predict(SERVE_TEXTS[:2])
    proc, url = _start(out / "openvino-int8", "--backend", "openvino", "--threads", "1")
    try:
        info = httpx.get(f"{url}/info").json()
        rows = httpx.post(f"{url}/predict", json={"inputs": SERVE_TEXTS[:2]}).json()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert info["backend"] == "openvino"
    assert [r[0]["label"] for r in rows] == [p.label for p in expected]
    assert abs(rows[0][0]["score"] - max(expected[0].probabilities.values())) < 1e-5


def test_export_json_lists_the_openvino_rows(finished_run, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ov-cli"
    args = ["export", str(finished_run), "--format", "openvino", "--out", str(out), "--rounds", "1"]
    assert main([*args, "--json"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [v["name"] for v in last["variants"]] == ["pytorch", "openvino"]
    assert not (out / "openvino-int8").exists() and (out / "openvino" / "openvino_model.xml").is_file()


def test_bad_openvino_requests_are_one_line_and_write_nothing(
    finished_run, tmp_path: Path, capsys, monkeypatch
) -> None:
    def refused(*flags: str, expect: str) -> None:
        out = tmp_path / "refused"
        assert main(["export", *flags, "--out", str(out), "--rounds", "1"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and expect in err, err
        assert not out.exists() and not list(tmp_path.glob(".refused*"))

    refused(str(finished_run), "--format", "onnx,tflite", expect="--format must be one of")
    # a NER model: OpenVINO's export is for text classifiers
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    tokenizer = AutoTokenizer.from_pretrained(finished_run / "best")
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, id2label={0: "O", 1: "B-PER"}, label2id={"O": 0, "B-PER": 1},
    )  # fmt: skip
    BertForTokenClassification(config).save_pretrained(tmp_path / "ner")
    tokenizer.save_pretrained(tmp_path / "ner")
    conll = SAMPLE / "ner" / "test.conll"
    refused(
        str(tmp_path / "ner"), "--format", "openvino", "--data", str(conll), expect="for text classifiers"
    )
    # OpenVINO missing: how to install it, before any work
    monkeypatch.setattr(openvino, "available", lambda: False)
    refused(str(finished_run), "--format", "openvino-int8", expect="pip install 'tui-lab[openvino]'")
    shutil.rmtree(tmp_path / "ner")


@pytest.mark.slow
def test_a_student_beside_its_teacher_in_openvino_int8(pair, tmp_path: Path, capsys) -> None:  # noqa: F811
    teacher, student = pair
    out = tmp_path / "pair-ov"
    args = ["export", str(student), "--compare", str(teacher), "--format", "openvino-int8", "--out", str(out)]
    assert main([*args, "--rounds", "1", "--json"]) == 0
    captured = capsys.readouterr()
    last = json.loads(captured.out.strip().splitlines()[-1])
    assert [(v["model"], v["name"]) for v in last["variants"]] == [
        (m, n) for m in ("teacher", "student") for n in ("pytorch", "openvino-int8")
    ]
    rows = {(v["model"], v["name"]): v for v in last["variants"]}
    assert rows["student", "openvino-int8"]["path"] == str(out / "openvino-int8" / "openvino_model.xml")
    assert rows["teacher", "openvino-int8"]["path"] == str(
        out / "teacher" / "openvino-int8" / "openvino_model.xml"
    )
    assert all(Path(v["path"]).exists() for v in last["variants"])
    assert "NNCF calibrates on 240 training texts" in captured.err
    # the teacher's own export is reused once it has the OpenVINO folder the format needs
    export(teacher, fmt="openvino-int8", rounds=1)
    assert main([*args, "--rounds", "1", "--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {v["path"] for v in again["variants"] if v["model"] == "teacher" and v["name"] != "pytorch"} == {
        str(teacher / "export" / "openvino-int8" / "openvino_model.xml")
    }
