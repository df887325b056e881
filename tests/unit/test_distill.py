"""Distillation: a tiny-bert student learns a tiny-bert teacher's soft labels (``tui-lab distill``).

One teacher run is trained per module (a few steps); students run a few steps on 240 rows.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_rows, record_calls, save_tiny_classifier, write_csv
from tui_lab.cli import main
from tui_lab.core.config import LabConfig
from tui_lab.core.deploy.predictor import Predictor
from tui_lab.core.distill import TEACHER_LOGITS_FILE, hooks_for
from tui_lab.core.distill.layers import chosen_layers, shrink
from tui_lab.core.distill.loss import DistillTask, distillation_loss
from tui_lab.core.tasks import ClassifyTask, MultiLabelTask
from tui_lab.core.training.events import Evaluated, RunStarted, StepLogged, TeacherReady, read_events
from tui_lab.core.training.loop import Trainer


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    """Data (240/60/60 rows), unlabelled texts, and a teacher run trained for 15 steps."""
    root = tmp_path_factory.mktemp("distill")
    write_csv(root / "data" / "train.csv", make_rows(240, 1))
    write_csv(root / "data" / "dev.csv", make_rows(60, 2))
    write_csv(root / "data" / "test.csv", make_rows(60, 3))
    (root / "unlabeled.txt").write_text("\n".join(t for t, _ in make_rows(24, 4)) + "\n\n")
    cfg = student_config(root, "teacher")
    cfg.train.max_steps = 15
    Trainer(cfg).run()
    return root


def student_config(root: Path, name: str) -> LabConfig:
    cfg = LabConfig()
    cfg.data.train, cfg.data.max_length, cfg.model.vocab_size = str(root / "data"), 32, 300
    cfg.train.epochs, cfg.train.batch_size, cfg.train.patience = 2, 16, 0
    cfg.train.baseline, cfg.train.tensorboard = False, False
    cfg.train.output_dir, cfg.train.run_name = str(root / "runs"), name
    return cfg


def distill_flags(root: Path, name: str, *more: str) -> list[str]:
    return [
        "distill",
        "--teacher",
        str(root / "runs" / "teacher"),
        "--train",
        str(root / "data"),
        "--output-dir",
        str(root / "runs"),
        "--run-name",
        name,
        "--max-length",
        "32",
        "--batch-size",
        "16",
        "--set",
        "model.vocab_size=300",
        "--no-baseline",
        "--no-tensorboard",
        "--json",
        *more,
    ]


@pytest.fixture
def predictor_calls(monkeypatch) -> list:
    """The texts each call of the predictor's forward passes scored."""
    return record_calls(monkeypatch, Predictor, "logits", 1)


@pytest.mark.slow
def test_distill_scores_the_teacher_once_and_saves_a_plain_student(
    place: Path, predictor_calls, capsys
) -> None:
    code = main(distill_flags(place, "student", "--epochs", "2", "--unlabeled", str(place / "unlabeled.txt")))
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["status"] == "completed"
    run = Path(summary["run_dir"])
    # one forward pass over train (240) + unlabelled (24) + dev (60), for two epochs of 17 steps
    assert [len(texts) for texts in predictor_calls] == [240 + 24 + 60]
    logits = np.load(run / TEACHER_LOGITS_FILE, mmap_mode="r")
    assert logits.dtype == np.float16 and logits.shape == (264, 2)
    events = read_events(run / "events.jsonl")
    teacher = next(e for e in events if isinstance(e, TeacherReady))
    assert events.index(teacher) < next(i for i, e in enumerate(events) if isinstance(e, Evaluated))
    assert teacher.rows == 264 and 0.0 <= teacher.dev["accuracy"] <= 1.0
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.steps_per_epoch == 17  # 264 rows / 16: the unlabelled rows are trained on
    report = json.loads((run / "report.json").read_text())
    assert report["teacher"]["dev"] == teacher.dev
    saved = LabConfig.load(run / "config.toml")
    assert saved.train.teacher == str((place / "runs" / "teacher").resolve())
    assert saved.train.unlabeled == str(place / "unlabeled.txt")
    # the student is an ordinary classifier
    from transformers import pipeline

    out = pipeline("text-classification", model=str(run / "best"))(
        ["the film was great", "the hotel was awful"]
    )
    assert {o["label"] for o in out} <= {"neg", "pos"}


@pytest.mark.slow
def test_resume_reads_the_saved_logits_and_ends_like_an_uninterrupted_run(
    place: Path, predictor_calls
) -> None:
    cfg = student_config(place, "full")
    cfg.train.teacher, cfg.train.max_steps, cfg.train.eval_steps = str(place / "runs" / "teacher"), 20, 10
    full = Trainer(cfg, hooks=hooks_for(cfg)).run()

    cfg.train.run_name = "interrupted"
    stop = threading.Event()

    def stop_at_13(event) -> None:
        if isinstance(event, StepLogged) and event.step == 13:
            stop.set()

    part = Trainer(cfg, [stop_at_13], stop=stop, hooks=hooks_for(cfg)).run()
    assert part.status == "stopped" and part.step == 13
    assert len(predictor_calls) == 2  # the full run's and the interrupted run's
    events: list = []
    resumed = Trainer(cfg, [events.append], resume=part.run_dir, hooks=hooks_for(cfg, part.run_dir)).run()
    assert len(predictor_calls) == 2  # the resume read teacher_logits.npy
    assert any(isinstance(e, TeacherReady) for e in events)
    assert resumed.step == full.step == 20
    assert resumed.best == full.best and resumed.test == full.test
    from safetensors.numpy import load_file

    a = load_file(str(Path(full.run_dir) / "best" / "model.safetensors"))
    b = load_file(str(Path(resumed.run_dir) / "best" / "model.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_the_loss_is_alpha_t2_kl_plus_the_tasks_own_loss() -> None:
    import torch

    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    labels, has = np.array([0, 2, 1, -100]), np.array([True, True, True, False])
    T, alpha = 2.0, 0.3

    def log_softmax(x):
        x = x - x.max(axis=1, keepdims=True)
        return x - np.log(np.exp(x).sum(axis=1, keepdims=True))

    p_t = np.exp(log_softmax(t / T))
    kl = (p_t * (log_softmax(t / T) - log_softmax(s / T))).sum(axis=1).mean()
    ce = -log_softmax(s)[np.arange(3), labels[:3]].mean()
    expected = alpha * T * T * kl + (1 - alpha) * ce
    task = ClassifyTask(["a", "b", "c"])
    got = distillation_loss(
        torch.tensor(s), torch.tensor(t), torch.tensor(labels), torch.tensor(has), task, T, alpha
    )
    assert float(got) == pytest.approx(expected, rel=1e-6)

    # multi-label: binary cross-entropy against the teacher's sigmoid at T, times T^2
    hot = (rng.random((4, 3)) > 0.5).astype(np.float32)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    q = sig(t / T)
    bce_soft = -(q * np.log(sig(s / T)) + (1 - q) * np.log(1 - sig(s / T))).mean()
    bce_hard = -(hot * np.log(sig(s)) + (1 - hot) * np.log(1 - sig(s)))[:3].mean()
    got = distillation_loss(
        torch.tensor(s),
        torch.tensor(t),
        torch.tensor(hot),
        torch.tensor(has),
        MultiLabelTask(["a", "b", "c"]),
        T,
        alpha,
    )
    assert float(got) == pytest.approx(alpha * T * T * bce_soft + (1 - alpha) * bce_hard, rel=1e-6)


def test_the_wrapper_packs_training_batches_only() -> None:
    from tui_lab.core.data.batching import from_lists

    task = ClassifyTask(["a", "b"])
    tokens = from_lists([[2, 5, 3], [2, 6, 7, 3], [2, 3]])
    train, dev = np.array([1, 0, -100]), np.array([0, 1, 1])
    teacher = np.array([[1, -1], [0.5, 0.25], [-2, 2]], dtype=np.float16)
    wrapper = DistillTask(task, train, teacher, np.array([True, True, False]), 2.0, 0.5)
    packed = wrapper.collate(tokens, [2, 0], train, 0, 1)["labels"]
    assert packed.tolist() == [[0.0, -100.0, -2.0, 2.0], [1.0, 1.0, 1.0, -1.0]]
    assert wrapper.collate(tokens, [2, 0], dev, 0, 1)["labels"].tolist() == [1, 0]
    assert wrapper.name == "classify" and wrapper.label_names == ["a", "b"]


def test_a_multilabel_batch_round_trips_through_the_wrapper() -> None:
    import torch

    from tui_lab.core.data.batching import from_lists

    task = MultiLabelTask(["a", "b", "c"])
    tokens = from_lists([[2, 5, 3], [2, 6, 7, 3]])
    train = np.array([[1, 0, 1], [0, 0, 0]], dtype=np.float32)
    teacher = np.array([[2, -1, 0.5], [-1, 1, 3]], dtype=np.float16)
    wrapper = DistillTask(task, train, teacher, np.array([True, False]), 3.0, 0.25)
    labels = wrapper.collate(tokens, [0, 1], train, 0, 1)["labels"]
    assert labels.shape == (2, 1 + 3 + 3)
    student = torch.tensor([[0.1, 0.2, -0.3], [1.0, -2.0, 0.5]])
    expected = distillation_loss(
        student, torch.tensor(teacher, dtype=torch.float32), torch.tensor(train), torch.tensor([True, False]),
        task, 3.0, 0.25,
    )  # fmt: skip
    assert float(wrapper.loss(student, labels)) == pytest.approx(float(expected), rel=1e-6)


def test_teacher_k_copies_the_chosen_layers(tmp_path: Path) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    assert chosen_layers(12, 6) == [0, 2, 4, 6, 8, 10] and chosen_layers(4, 3) == [0, 1, 2]
    torch.manual_seed(0)
    bert = BertConfig(
        vocab_size=30, hidden_size=8, num_hidden_layers=4, num_attention_heads=2, intermediate_size=16
    )
    teacher = BertForSequenceClassification(bert)
    student, chosen = shrink(teacher, 2)
    assert (
        chosen == [0, 2] and student.config.num_hidden_layers == 2 and teacher.config.num_hidden_layers == 4
    )
    t, s = teacher.state_dict(), student.state_dict()
    for j, i in enumerate(chosen):
        for key in [k for k in s if f".layer.{j}." in k]:
            assert torch.equal(s[key], t[key.replace(f".layer.{j}.", f".layer.{i}.")]), key
    for key in [k for k in s if ".layer." not in k]:  # embeddings, pooler, classifier
        assert torch.equal(s[key], t[key]), key


def test_cli_teacher_k_builds_the_student_from_the_teacher(place: Path, capsys) -> None:
    code = main(distill_flags(place, "k1", "--student", "teacher:1", "--max-steps", "3"))
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    run = Path(summary["run_dir"])
    student = json.loads((run / "best" / "config.json").read_text())
    assert student["num_hidden_layers"] == 1
    teacher_best = place / "runs" / "teacher" / "best"
    assert (run / "best" / "tokenizer.json").read_text() == (teacher_best / "tokenizer.json").read_text()
    assert LabConfig.load(run / "config.toml").model.name == str(teacher_best.resolve())


@pytest.fixture(scope="module")
def bad(place: Path) -> Path:
    """Teachers of the wrong kind and other bad inputs."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertForTokenClassification

    root = place / "bad"
    save_tiny_classifier(root / "abc", labels=("a", "b", "c"))
    small = dict(
        vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
    )
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(**small)).save_pretrained(root / "mlm")
    BertForTokenClassification(BertConfig(**small, num_labels=2)).save_pretrained(root / "ner")
    for folder in ("mlm", "ner"):
        shutil.copy(root / "abc" / "vocab.txt", root / folder / "vocab.txt")
    (root / "noweights").mkdir()
    shutil.copy(place / "runs" / "teacher" / "best" / "config.json", root / "noweights" / "config.json")
    (root / "empty.txt").write_text("\n \n")
    return root


@pytest.mark.parametrize(
    ("flags", "expect"),
    [
        (["--teacher", "bad/mlm"], "is a masked-LM (pretraining) model, not a classify classifier"),
        (["--teacher", "bad/ner"], "is a ner model, not a classify classifier"),
        (["--teacher", "bad/abc"], "knows the labels a, b, c but the data has neg, pos"),
        (["--teacher", "bad/noweights"], "has no weights (model.safetensors)"),
        (["--temperature", "0"], "train.distill_temperature"),
        (["--alpha", "1.5"], "must be at most 1.0"),
        (["--student", "teacher:0"], "teacher:K needs a whole number K of at least 1"),
        (["--student", "teacher:2"], "--student-layers 2 must be between 1 and 1"),
        (["--unlabeled", "bad/empty.txt"], "has no text"),
    ],
)
def test_bad_inputs_are_one_line_and_write_nothing(place: Path, bad: Path, capsys, flags, expect) -> None:
    flags = [str(place / f) if f.startswith("bad/") else f for f in flags]
    code = main(distill_flags(place, "bad-run", *flags))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert expect in err, err
    assert not (place / "runs" / "bad-run").exists()
