"""ONNX export and int8 quantization: logits against PyTorch, the JSON contract, a plain load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SAMPLE, make_rows, run_alone, save_tiny_classifier, write_csv
from tui_lab.cli import main
from tui_lab.core.deploy.export import INT8_FILE, REPORT_FILE, export
from tui_lab.core.deploy.predictor import Predictor
from tui_lab.core.errors import ModelError

TEXTS = [
    "",
    "the film was wonderful",
    "the pizza was awful",
    "the hotel was superb " + "room staff plot screen " * 40,  # truncated to max_length
    "the service was bland book phone",
]
ROW_KEYS = {"name", "path", "size_mb", "accuracy", "f1_macro", "latency_ms_p50", "latency_ms_p95"}


def test_onnx_logits_match_pytorch_at_any_batch_and_length(exported_run) -> None:
    run, report = exported_run
    assert report["onnx_max_abs_logit_diff"] <= 1e-4
    torch_p = Predictor.from_path(run, device="cpu")
    onnx_p = Predictor.from_path(run / "export")
    assert torch_p.backend.name == "pytorch" and onnx_p.backend.name == "onnx"
    for batch in (1, 2, 5):
        diff = abs(torch_p.logits(TEXTS, batch_size=batch) - onnx_p.logits(TEXTS, batch_size=batch)).max()
        assert diff <= 1e-4, (batch, diff)
    assert [p.label for p in onnx_p.predict(TEXTS)] == [p.label for p in torch_p.predict(TEXTS)]


def test_int8_is_smaller_and_agrees_with_fp32(exported_run) -> None:
    run, report = exported_run
    rows = {row["name"]: row for row in report["variants"]}
    assert list(rows) == ["pytorch", "onnx", "onnx-int8"]
    assert report["int8_agreement"] >= 0.95
    assert rows["onnx-int8"]["size_mb"] < rows["onnx"]["size_mb"] / 2
    assert abs(rows["onnx-int8"]["accuracy_delta"]) <= 0.05
    assert rows["pytorch"]["accuracy"] >= 0.9
    int8 = Predictor.from_path(run / "export" / INT8_FILE)
    assert [p.label for p in int8.predict(TEXTS[1:3])] == ["pos", "neg"]
    saved = json.loads((run / "export" / REPORT_FILE).read_text())
    assert saved["variants"] == report["variants"] and report["n"] == 60


def test_export_json_contract_and_table(exported_run, tmp_path: Path, capsys) -> None:
    run, _ = exported_run
    out = tmp_path / "onnx-only"
    data = Path(_run_config(run)["data"]["train"]) / "dev.csv"
    args = ["export", str(run), "--format", "onnx", "--out", str(out), "--data", str(data)]
    assert main([*args, "--rounds", "1", "--json"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last) == {"out", "variants"} and last["out"] == str(out)
    assert [v["name"] for v in last["variants"]] == ["pytorch", "onnx"]
    for row in last["variants"]:
        assert set(row) == ROW_KEYS | {"throughput_sps"}
        assert row["size_mb"] > 0 and row["throughput_sps"] > 0 and 0 <= row["accuracy"] <= 1
    assert not (out / INT8_FILE).exists() and (out / REPORT_FILE).exists()
    assert main([*args, "--rounds", "1"]) == 0
    table = capsys.readouterr().out
    assert "max |Δ logit|" in table and table.count("\n") >= 5 and "onnx " in table


def test_export_folder_loads_with_onnxruntime_alone(exported_run) -> None:
    """Optimum's layout, readable without torch or transformers: tokenizers + onnxruntime."""
    run, _ = exported_run
    folder = run / "export"
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "pos"} and config["label2id"] == {"neg": 0, "pos": 1}
    forward = """
        import onnxruntime as ort
        sess = ort.InferenceSession(folder + "/model.onnx", providers=["CPUExecutionProvider"])
        logits = sess.run(None, {i.name: feed[i.name].astype(np.int64) for i in sess.get_inputs()})[0]
    """
    labels, heavy = run_alone(folder, forward)
    assert labels == ["pos", "neg"] and heavy == []


def test_bad_inputs_are_one_line(exported_run, tmp_path: Path, capsys) -> None:
    run, _ = exported_run
    empty_run = tmp_path / "empty"
    empty_run.mkdir()
    (empty_run / "config.toml").write_text("")
    assert main(["export", str(empty_run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no best/" in err and "\n" not in err

    pretrain = tmp_path / "mlm"
    pretrain.mkdir()
    (pretrain / "config.json").write_text(
        json.dumps({"model_type": "bert", "architectures": ["BertForMaskedLM"]})
    )
    for command in ("export", "serve"):  # a masked-LM pretraining run: refused before any work
        assert main([command, str(pretrain)]) == 2
        err = capsys.readouterr().err.strip()
        assert "BertForMaskedLM without a classification head" in err and "\n" not in err

    assert main(["export", str(run / "export")]) == 2
    assert "already an export" in capsys.readouterr().err


def test_an_export_folder_without_its_tokenizer_is_refused(exported_run, tmp_path: Path) -> None:
    import shutil

    run, _ = exported_run
    broken = tmp_path / "broken"
    shutil.copytree(run / "export", broken)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (broken / name).unlink()
    with pytest.raises(ModelError, match="no tokenizer files"):
        Predictor.from_path(broken)
    with pytest.raises(ModelError, match="no ONNX model"):
        Predictor.from_path(run / "best", backend="onnx")


def _run_config(run: Path) -> dict:
    from tui_lab.core.training.runs import run_config

    return run_config(run)


def test_a_token_classifier_exports_and_loads_with_onnxruntime_alone(
    exported_run, tmp_path: Path, capsys
) -> None:
    """A BertForTokenClassification (random init, the run's tokenizer) exports like a text classifier:
    fp32 logits per token match PyTorch, int8 mostly agrees, accuracy is skipped with a reason."""
    import numpy as np
    import onnxruntime as ort
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    run, _ = exported_run
    tokenizer = AutoTokenizer.from_pretrained(run / "best")
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        id2label=dict(enumerate(tags)),
        label2id={t: i for i, t in enumerate(tags)},
    )
    folder = tmp_path / "ner"
    BertForTokenClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    conll = SAMPLE / "ner" / "test.conll"
    out = tmp_path / "with-data"
    assert main(["export", str(folder), "--rounds", "1", "--data", str(conll), "--out", str(out)]) == 0
    sentences = [s for s in conll.read_text(encoding="utf-8").split("\n\n") if s.strip()]
    assert json.loads((out / REPORT_FILE).read_text())["n"] == len(sentences)  # its texts, not samples
    capsys.readouterr()
    assert main(["export", str(folder), "--data", str(tmp_path / "nope.conll")]) == 2  # not ignored
    assert "nope.conll does not exist" in capsys.readouterr().err
    assert main(["export", str(folder), "--rounds", "1"]) == 0
    table = capsys.readouterr().out
    assert "accuracy: skipped" in table and "of tokens" in table
    report = json.loads((tmp_path / "ner-export" / REPORT_FILE).read_text())
    assert report["onnx_max_abs_logit_diff"] <= 1e-4 and report["int8_agreement"] >= 0.8
    assert [v["name"] for v in report["variants"]] == ["pytorch", "onnx", "onnx-int8"]
    assert all(v["accuracy"] is None and v["throughput_sps"] > 0 for v in report["variants"])
    sess = ort.InferenceSession(
        str(tmp_path / "ner-export" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    enc = tokenizer(["the film was wonderful", "awful"], padding=True, return_tensors="np")
    feed = {i.name: enc[i.name].astype(np.int64) for i in sess.get_inputs()}
    assert sess.run(None, feed)[0].shape == (*enc["input_ids"].shape, len(tags))


def test_a_failed_export_leaves_nothing_and_an_earlier_export_as_it_was(tmp_path: Path, monkeypatch) -> None:
    """The export is written beside its folder and swapped in at the end: a failure (or Ctrl-C)
    half-way leaves no folder and no temporary files; a second export replaces the first."""
    from tui_lab.core.deploy import export as export_module

    model = save_tiny_classifier(tmp_path / "model")
    data = write_csv(tmp_path / "dev.csv", make_rows(20, 2))
    out = tmp_path / "new" / "export"

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(export_module, "measure_variants", fail)
        with pytest.raises(KeyboardInterrupt):
            export(model, "onnx", out, str(data), rounds=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.csv", "model"]  # new/ made and removed

    report = export(model, "onnx", out, str(data), rounds=1)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert report["out"] == str(out) and report["variants"][1]["path"] == str(out / "model.onnx")
    with monkeypatch.context() as m:
        m.setattr(export_module, "measure_variants", fail)
        with pytest.raises(KeyboardInterrupt):
            export(model, "onnx", out, str(data), rounds=1)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert sorted(p.name for p in out.parent.iterdir()) == ["export"]

    report = export(model, "all", out, str(data), rounds=1)
    assert (out / INT8_FILE).is_file() and json.loads((out / REPORT_FILE).read_text()) == report
    assert sorted(p.name for p in out.parent.iterdir()) == ["export"]


def test_a_multi_label_model_exports_with_accuracy_skipped(tmp_path: Path, capsys) -> None:
    model = save_tiny_classifier(
        tmp_path / "model", ("pos", "neg", "fun"), problem_type="multi_label_classification"
    )
    rows = [
        {"text": t, "label": ["pos", "fun"] if i % 2 else ["neg"]} for i, (t, _) in enumerate(make_rows(20))
    ]
    data = tmp_path / "multi.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["export", str(model), "--data", str(data), "--rounds", "1", "--format", "onnx"]) == 0
    table = capsys.readouterr().out
    assert "accuracy: skipped (a multi-label model" in table
    report = json.loads((tmp_path / "model-export" / REPORT_FILE).read_text())
    assert report["n"] == 20 and all(v["accuracy"] is None for v in report["variants"])


def test_a_new_export_replaces_its_own_files_and_keeps_the_ones_the_user_added(tmp_path: Path) -> None:
    """Export into an earlier export: what export wrote is replaced (an int8 file it does not write
    again is gone), a notes file and a folder the user put beside them stay as they were."""
    model = save_tiny_classifier(tmp_path / "model")
    data = write_csv(tmp_path / "dev.csv", make_rows(20, 2))
    out = tmp_path / "export"
    report = export(model, "all", out, str(data), rounds=1)
    assert INT8_FILE in report["files"] and REPORT_FILE in report["files"]
    (out / "NOTES.md").write_text("deployed on box 3\n")
    (out / "docker").mkdir()
    (out / "docker" / "Dockerfile").write_text("FROM python\n")

    report = export(model, "onnx", out, str(data), rounds=1)
    assert (out / "NOTES.md").read_text() == "deployed on box 3\n"
    assert (out / "docker" / "Dockerfile").read_text() == "FROM python\n"
    assert not (out / INT8_FILE).exists()  # export's own, not written this time: gone
    assert "NOTES.md" not in report["files"] and json.loads((out / REPORT_FILE).read_text()) == report

    old_style = json.loads((out / REPORT_FILE).read_text())
    del old_style["files"]  # an export made before the report listed its files: known by their names
    (out / REPORT_FILE).write_text(json.dumps(old_style))
    (out / "stale-extra.onnx").write_bytes(b"old graph")
    export(model, "onnx", out, str(data), rounds=1)
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".json")) == [
        "NOTES.md",
        "docker",
        "model.onnx",
    ]
