"""Per-word distillation for NER: a tiny-bert student learns a NER teacher's tag scores word by word.

The teacher is the session's tiny NER run (``ner_run`` in conftest: 120/40/20 sentences of
``sample_data/ner``, max length 32); students run a few steps.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_rows, record_calls, write_csv
from tui_lab.cli import main
from tui_lab.core.data.batching import from_lists
from tui_lab.core.data.tagged import read_conll
from tui_lab.core.distill import TEACHER_LOGITS_FILE, teacher
from tui_lab.core.distill.loss import TokenDistillTask
from tui_lab.core.tasks.ner import IGNORE, NerTask, TokenTargets
from tui_lab.core.training.events import RunStarted, TeacherReady, read_events

LONG_LINE = " ".join(["Anna", "visited", "Paris", "in", "May", "."] * 8)  # 48 words: cut at 32 sub-tokens


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def test_the_per_word_loss_is_alpha_t2_kl_at_word_starts_plus_the_tasks_cross_entropy() -> None:
    import torch

    task = NerTask(["O", "B-X", "I-X"])
    # row 0: [CLS] w0 w1 w1' [SEP]; the student kept 2 of the 3 words the teacher saw
    # row 1: [CLS] v0 v1 v2 [SEP]; the teacher's max_length cut v2 (NaN)
    # row 2: [CLS] u0 [SEP]; an unlabelled sentence (every tag -100)
    tokens = from_lists([[2, 5, 6, 7, 3], [2, 8, 9, 10, 3], [2, 11, 3]])
    labels = from_lists([[IGNORE, 1, 2, IGNORE, IGNORE], [IGNORE, 0, 1, 2, IGNORE], [IGNORE] * 3])
    starts = np.array([0, 1, 1, 0, 0] + [0, 1, 1, 1, 0] + [0, 1, 0], dtype=bool)
    targets = TokenTargets(labels, starts)
    rng = np.random.default_rng(0)
    words = rng.normal(size=(3, 3, 3)).astype(np.float16)  # (rows, words, C)
    words[1, 2] = words[2, 1:] = np.nan
    T, alpha = 2.0, 0.3
    wrapper = TokenDistillTask(task, targets, words, np.ones(3, dtype=bool), T, alpha)
    idx = [2, 0, 1]
    packed = wrapper.collate(tokens, idx, targets, 0, 1)["labels"]  # (B, T, 1 + C)
    assert packed.shape == (3, 5, 4)
    assert packed[..., 0].long().tolist() == [
        [IGNORE, IGNORE, IGNORE, IGNORE, IGNORE],  # row 2, padded to 5
        [IGNORE, 1, 2, IGNORE, IGNORE],
        [IGNORE, 0, 1, 2, IGNORE],
    ]
    at = [(0, 1, 2, 0), (1, 1, 0, 0), (1, 2, 0, 1), (2, 1, 1, 0), (2, 2, 1, 1)]  # (b, t, row, word)
    seen = ~np.isnan(packed[..., 1].numpy())
    assert sorted(zip(*np.nonzero(seen))) == [(b, t) for b, t, _, _ in at]
    for b, t, row, word in at:
        assert packed[b, t, 1:].tolist() == words[row, word].astype(np.float32).tolist()

    s, tw = rng.normal(size=(3, 5, 3)), words.astype(np.float64)
    kl = np.mean(
        [
            (np.exp(log_softmax(tw[r, w] / T)) * (log_softmax(tw[r, w] / T) - log_softmax(s[b, t] / T))).sum()
            for b, t, r, w in at
        ]
    )
    gold = packed[..., 0].long().numpy()
    hard = [(b, t) for b in range(3) for t in range(5) if gold[b, t] != IGNORE]
    ce = np.mean([-log_softmax(s[b, t])[gold[b, t]] for b, t in hard])
    got = wrapper.loss(torch.tensor(s), packed)
    assert len(hard) == 5 and float(got) == pytest.approx(alpha * T * T * kl + (1 - alpha) * ce, rel=1e-6)
    # evaluation batches are the task's own
    assert wrapper.collate(tokens, idx, TokenTargets(labels, starts), 0, 1)["labels"].dtype == torch.int64


def distill_flags(ner_run: Path, out: Path, name: str, data: Path | None = None, *more: str) -> list[str]:
    return [
        "distill",
        "--teacher",
        str(ner_run),
        "--train",
        str(data or ner_run.parent.parent / "data"),
        "--output-dir",
        str(out / "runs"),
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


def expected_word_mask(tokenizer, sentences: list[list[str]], max_length: int) -> np.ndarray:
    """(rows, words) bool: the words of each sentence that keep a sub-token after truncation."""
    enc = tokenizer(sentences, is_split_into_words=True, truncation=True, max_length=max_length)
    kept = [{w for w in enc.word_ids(i) if w is not None} for i in range(len(sentences))]
    width = max(max(k) + 1 for k in kept)
    return np.array([[w in k for w in range(width)] for k in kept])


@pytest.fixture
def calls(monkeypatch) -> list:
    """The sentences each pass of the NER teacher scored."""
    return record_calls(monkeypatch, teacher, "word_logits", 1)


@pytest.mark.slow
def test_a_ner_teacher_is_run_once_and_distils_into_a_tiny_bert_student(
    ner_run: Path, tmp_path: Path, calls: list[int], capsys
) -> None:
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    (tmp_path / "unlabeled.txt").write_text(f"Anna visited Paris .\n\n{LONG_LINE}\nPeter left Oslo .\n")
    flags = distill_flags(ner_run, tmp_path, "student", None, "--student", "tiny-bert", "--max-steps", "3")
    code = main([*flags, "--unlabeled", str(tmp_path / "unlabeled.txt")])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["status"] == "completed"
    run = Path(summary["run_dir"])

    data = ner_run.parent.parent / "data"
    train = read_conll(data / "train.conll")[0]
    sentences = train + [
        line.split() for line in (tmp_path / "unlabeled.txt").read_text().splitlines() if line
    ]
    dev = read_conll(data / "dev.conll")[0]
    assert [len(c) for c in calls] == [len(sentences) + len(dev)]  # one pass over train + unlabelled + dev
    logits = np.load(run / TEACHER_LOGITS_FILE, mmap_mode="r")
    best = ner_run / "best"
    tokenizer = AutoTokenizer.from_pretrained(best)
    mask = expected_word_mask(tokenizer, sentences, 32)
    assert logits.dtype == np.float16 and logits.shape == (len(sentences), mask.shape[1], 9)
    assert np.array_equal(~np.isnan(logits[..., 0]), mask)
    assert 0 < mask[-2].sum() < len(LONG_LINE.split())  # the long line was cut

    # the stored row of the long line is the teacher's logits at each word's first sub-token
    import torch

    model = AutoModelForTokenClassification.from_pretrained(best).eval()
    enc = tokenizer(
        LONG_LINE.split(), is_split_into_words=True, truncation=True, max_length=32, return_tensors="pt"
    )
    with torch.inference_mode():
        direct = model(**enc).logits[0].numpy()
    ids = enc.word_ids(0)
    firsts = [t for t, w in enumerate(ids) if w is not None and w != (ids[t - 1] if t else None)]
    np.testing.assert_allclose(logits[-2, : len(firsts)].astype(np.float32), direct[firsts], atol=2e-2)

    events = read_events(run / "events.jsonl")
    ready = next(e for e in events if isinstance(e, TeacherReady))
    assert ready.rows == len(sentences)
    own = json.loads((ner_run / "report.json").read_text())["best"]  # the teacher's run, same max length
    assert ready.dev["f1"] == pytest.approx(own["f1"]) and ready.dev["accuracy"] == pytest.approx(
        own["accuracy"]
    )
    assert next(e for e in events if isinstance(e, RunStarted)).n_train == len(train)
    found = pipeline("token-classification", model=str(run / "best"))("Anna visited Paris .")
    assert all(e["entity"] in label_set(best) for e in found)


def label_set(folder: Path) -> set[str]:
    return set(json.loads((folder / "config.json").read_text())["id2label"].values())


@pytest.fixture
def other_tags(ner_run: Path, tmp_path: Path) -> Path:
    """The teacher's weights under another tag set (MISC renamed EVENT)."""
    folder = tmp_path / "other-tags"
    shutil.copytree(ner_run / "best", folder)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {k: v.replace("MISC", "EVENT") for k, v in config["id2label"].items()}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_bad_ner_distillations_are_one_line_and_write_nothing(
    ner_run: Path, other_tags: Path, tmp_path: Path, capsys
) -> None:
    from tests.conftest import save_tiny_classifier

    sentences = tmp_path / "sentences"
    for split, seed in (("train", 1), ("dev", 2), ("test", 3)):
        write_csv(sentences / f"{split}.csv", make_rows(40, seed))
    classifier = save_tiny_classifier(tmp_path / "classifier")
    cases = [
        (["--teacher", str(classifier)], None, "is a classify model, not a ner classifier"),
        ([], sentences, "is a ner model, not a classify classifier"),
        (["--teacher", str(other_tags)], None, "but the data has O, B-LOC"),
    ]
    for more, data, expect in cases:
        code = main(distill_flags(ner_run, tmp_path, "bad-run", data, *more))
        err = capsys.readouterr().err.strip()
        assert code == 2, err
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
        assert expect in err, err
        assert not (tmp_path / "runs" / "bad-run").exists()


@pytest.mark.slow
def test_a_resumed_ner_distillation_reads_its_logits_and_ends_like_an_uninterrupted_run(
    ner_run: Path, tmp_path: Path, calls: list[int]
) -> None:
    import threading

    from safetensors.numpy import load_file

    from tui_lab.core.config import LabConfig
    from tui_lab.core.distill import hooks_for
    from tui_lab.core.training.events import StepLogged
    from tui_lab.core.training.loop import Trainer

    cfg = LabConfig()
    cfg.data.train, cfg.data.max_length, cfg.model.vocab_size = str(ner_run.parent.parent / "data"), 32, 300
    cfg.train.batch_size, cfg.train.max_steps, cfg.train.eval_steps, cfg.train.patience = 16, 6, 3, 0
    cfg.train.baseline, cfg.train.tensorboard, cfg.train.output_dir = False, False, str(tmp_path / "runs")
    cfg.train.teacher, cfg.train.run_name = str(ner_run), "full"
    full = Trainer(cfg, hooks=hooks_for(cfg)).run()
    cfg.train.run_name = "interrupted"
    stop = threading.Event()
    stop_at_4 = lambda e: stop.set() if isinstance(e, StepLogged) and e.step == 4 else None  # noqa: E731
    part = Trainer(cfg, [stop_at_4], stop=stop, hooks=hooks_for(cfg)).run()
    assert part.status == "stopped" and part.step == 4 and len(calls) == 2
    resumed = Trainer(cfg, resume=part.run_dir, hooks=hooks_for(cfg, part.run_dir)).run()
    assert len(calls) == 2  # the resume read teacher_logits.npy
    assert resumed.step == full.step == 6 and resumed.best == full.best and resumed.test == full.test
    a = load_file(str(Path(full.run_dir) / "best" / "model.safetensors"))
    b = load_file(str(Path(resumed.run_dir) / "best" / "model.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_a_ner_run_augments_word_lists_and_the_teacher_scores_them_word_by_word(
    ner_run: Path, tmp_path: Path, calls: list, capsys
) -> None:
    flags = distill_flags(ner_run, tmp_path, "augmented", None, "--student", "tiny-bert", "--max-steps", "2")
    code = main([*flags, "--augment", "2"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["status"] == "completed"
    train = read_conll(ner_run.parent.parent / "data" / "train.conll")[0]
    scored = calls[0]
    copies = scored[
        len(train) : len(scored) - len(read_conll(ner_run.parent.parent / "data" / "dev.conll")[0])
    ]
    assert copies and all(isinstance(c, list) for c in copies)  # word lists, as the sentences are
    assert any("[MASK]" in c for c in copies)
    known = {w for s in train for w in s} | {"[MASK]"}
    assert all(set(c) <= known for c in copies)
    logits = np.load(Path(summary["run_dir"]) / TEACHER_LOGITS_FILE, mmap_mode="r")
    assert len(logits) == len(train) + len(copies) and logits.ndim == 3  # a row of words per copy
