"""``tui-lab export STUDENT`` beside its teacher: six variants measured together, deltas against the
teacher, the teacher a distilled run records, and a --compare that cannot be compared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import make_rows, save_tiny_classifier, tiny_train_flags, write_csv
from tui_lab.cli import main
from tui_lab.core.deploy import compare
from tui_lab.core.deploy.benchmark import quality
from tui_lab.core.deploy.compare import TEACHER_DIR, teacher_of
from tui_lab.core.deploy.eval_file import eval_split
from tui_lab.core.deploy.export import INT8_FILE, REPORT_FILE, export
from tui_lab.core.deploy.predictor import Predictor
from tui_lab.core.training.runs import run_config

PAIRS = [(m, n) for m in ("teacher", "student") for n in ("pytorch", "onnx", "onnx-int8")]


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    """A teacher (30 steps) and a student (3 steps) tiny-bert run on the same data: (teacher, student)."""
    root = tmp_path_factory.mktemp("pair")
    write_csv(root / "data" / "train.csv", make_rows(240, 1))
    write_csv(root / "data" / "dev.csv", make_rows(60, 2))
    for name, steps in (("teacher", "30"), ("student", "3")):
        flags = tiny_train_flags(root / "data", root / "runs", name, epochs=3)
        assert main(["train", *flags, "--max-steps", steps, "--seed", "7"]) == 0
    return root / "runs" / "teacher", root / "runs" / "student"


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
def test_compare_measures_both_models_with_deltas_against_the_teacher(pair, capsys) -> None:
    teacher, student = pair
    assert teacher_of(student) is None  # trained on labels alone: no teacher recorded
    assert main(["export", str(student), "--compare", str(teacher), "--rounds", "1", "--json"]) == 0
    last = _last_json(capsys)
    assert last["out"] == str(student / "export") and last["teacher"] == str(teacher)
    assert [(v["model"], v["name"]) for v in last["variants"]] == PAIRS
    texts, gold = eval_split(student, None)
    rows = {(v["model"], v["name"]): v for v in last["variants"]}
    teacher_acc = quality(Predictor.from_path(teacher, device="cpu"), texts, gold)["accuracy"]
    student_acc = quality(Predictor.from_path(student, device="cpu"), texts, gold)["accuracy"]
    assert rows["teacher", "pytorch"]["accuracy"] == pytest.approx(teacher_acc)
    assert rows["student", "pytorch"]["accuracy"] == pytest.approx(student_acc) != teacher_acc
    for v in last["variants"]:
        assert v["accuracy_delta"] == pytest.approx(v["accuracy"] - teacher_acc)
        assert v["size_mb"] > 0 and v["throughput_sps"] > 0 and Path(v["path"]).exists()
    assert rows["student", "onnx-int8"]["path"] == str(student / "export" / INT8_FILE)
    assert rows["teacher", "onnx-int8"]["path"] == str(student / "export" / TEACHER_DIR / INT8_FILE)
    saved = json.loads((student / "export" / REPORT_FILE).read_text())
    assert [v["model"] for v in saved["variants"]] == [m for m, _ in PAIRS]
    assert saved["teacher"]["reused"] is False and saved["teacher"]["int8_agreement"] >= 0.9

    assert main(["export", str(student), "--compare", str(teacher), "--rounds", "1"]) == 0
    table = capsys.readouterr().out.splitlines()
    rows = [line for line in table if line.startswith(("model ", "teacher ", "student "))]
    assert len(rows) == 7 and max(map(len, rows)) <= 100  # the header and six variants


@pytest.mark.slow
def test_a_distilled_run_is_measured_beside_its_recorded_teacher(pair, tmp_path: Path, capsys) -> None:
    teacher, student = pair
    distilled = shutil.copytree(student, tmp_path / "distilled", ignore=shutil.ignore_patterns("export"))
    with open(distilled / "config.toml", "a", encoding="utf-8") as fh:
        fh.write(f'\n[distill]\nteacher = "{teacher}"\n')
    assert teacher_of(distilled) == str(teacher)
    own = export(teacher, fmt="onnx-int8", rounds=1)  # the teacher's own export is reused, not redone
    # --data: config.toml with [distill] does not load as a LabConfig until distill is merged
    data = str(Path(run_config(teacher)["data"]["train"]) / "dev.csv")
    args = ["export", str(distilled), "--format", "onnx-int8", "--data", data, "--rounds", "1", "--json"]
    assert main(args) == 0
    last = _last_json(capsys)
    assert [(v["model"], v["name"]) for v in last["variants"]] == [p for p in PAIRS if p[1] != "onnx"]
    teacher_int8 = last["variants"][1]["path"]
    assert (
        teacher_int8 == str(Path(own["out"]) / INT8_FILE)
        and not (distilled / "export" / TEACHER_DIR).exists()
    )
    assert json.loads((distilled / "export" / REPORT_FILE).read_text())["teacher"]["reused"] is True


def test_a_recorded_teacher_that_is_gone_leaves_the_run_alone(tmp_path: Path, monkeypatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text('[distill]\nteacher = "/nowhere/teacher"\n', encoding="utf-8")
    monkeypatch.setattr(compare, "export", lambda path, log, **_: {"alone": str(path)})
    lines: list[str] = []
    assert compare.export_run(run, log=lines.append) == {"alone": str(run)}
    assert len(lines) == 1 and "/nowhere/teacher" in lines[0] and "alone" in lines[0]


@pytest.mark.slow
def test_bad_compare_is_one_line_and_writes_nothing(pair, tmp_path: Path, capsys) -> None:
    teacher, student = pair
    three = save_tiny_classifier(tmp_path / "three", labels=("neg", "pos", "meh"))
    mlm = tmp_path / "mlm"
    mlm.mkdir()
    (mlm / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertForMaskedLM"]}))
    out = tmp_path / "out"
    cases = {
        str(tmp_path / "nowhere"): "neither a folder nor a model",
        str(three): "not a classifier of the same labels",
        str(mlm): "without a classification head",
    }
    for other, words in cases.items():
        assert main(["export", str(student), "--compare", other, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and words in err and "\n" not in err, err
        assert not out.exists()


def test_the_distill_benchmark_goals_follow_its_thresholds() -> None:
    """benchmarks/distill.py's four goals, on rows just over and just under each threshold."""
    import runpy

    bench = runpy.run_path(str(Path(__file__).resolve().parents[2] / "benchmarks" / "distill.py"))
    goals, limits = bench["goals"], bench["GOALS"]

    def rows(acc: float, fp32: float, int8: float, t_sps: float = 100.0) -> dict:
        return {
            "pytorch": {"accuracy": acc, "throughput_sps": fp32},
            "onnx-int8": {"accuracy": acc, "throughput_sps": int8},
            "t_sps": t_sps,
        }

    teacher = rows(0.9, 100.0, 100.0 * limits["teacher_int8"] + 1)
    for eps, expect in ((0.001, True), (-0.001, False)):
        keep = 0.9 * (limits["keep"] + eps)
        students = {
            "teacher:3 distilled": rows(
                keep, 100 * (limits["keep_speed"] + eps), 100 * (limits["int8_speed"] + eps)
            ),
            "tiny-bert distilled": rows(
                0.8 + limits["beat"] + eps, 900.0, 100 * (limits["int8_speed"] + eps)
            ),
            "tiny-bert labels": rows(0.8, 900.0, 900.0),
        }
        result = goals(teacher, students)
        assert [ok for _, ok, _ in result] == [expect, expect, expect, True], result
    assert goals(rows(0.9, 100.0, 240.0), {})[-1][1] is False  # int8 under 2.5x fp32
