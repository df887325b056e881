"""Masked-LM pretraining: masking, the CLI end to end, fill-mask, resume, fine-tuning from a run."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_rows, stop_at_step_then_resume, tiny_train_flags, write_csv
from tui_lab.cli import main
from tui_lab.core.config import LabConfig
from tui_lab.core.tasks import MaskedLMTask
from tui_lab.core.training.loop import Trainer

MAX_PERPLEXITY = 20.0  # 40 steps of tiny-bert on the synthetic sentences: ~11 (at step 20 ~17)


def _cli(*argv: str) -> tuple[int, str, str]:
    """``tui-lab ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _texts_file(path: Path, n: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(t for t, _ in make_rows(n, seed)) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> tuple[Path, dict]:
    """tiny-bert pretrained for 40 steps on 600 synthetic sentences by ``tui-lab pretrain``."""
    tmp = tmp_path_factory.mktemp("pretrain")
    code, out, err = _cli(
        "pretrain",
        "--train",
        str(_texts_file(tmp / "texts.txt", 600)),
        "--max-length",
        "32",
        "--batch-size",
        "32",
        "--max-steps",
        "40",
        "--eval-steps",
        "20",
        "--set",
        "model.vocab_size=300",
        "--set",
        "train.tensorboard=false",
        "--output-dir",
        str(tmp / "runs"),
        "--run-name",
        "mlm",
        "--json",
    )
    assert code == 0, err
    return Path(tmp / "runs" / "mlm"), json.loads(out.strip().splitlines()[-1])


def _tokenizer(texts: list[str]):
    from tui_lab.core.models.presets import train_wordpiece

    return train_wordpiece(texts, vocab_size=120)


# -- masking ------------------------------------------------------------------------------------
def test_masking_selects_15_percent_80_10_10_never_specials_and_is_deterministic() -> None:
    import torch

    texts = [t for t, _ in make_rows(3000, 3)]
    tok = _tokenizer(texts)
    task = MaskedLMTask([])
    tokens, targets = task.encode(tok, texts, [0] * len(texts), 32)
    idx = np.arange(len(texts))
    torch.manual_seed(0)
    batch = task.collate(tokens, idx, targets, tok.pad_token_id, 1)
    ids = torch.nn.utils.rnn.pad_sequence(
        [torch.from_numpy(tokens.row(i).astype(np.int64)) for i in idx], batch_first=True, padding_value=-1
    )
    special = torch.isin(ids, torch.tensor(tok.all_special_ids)) | (ids == -1)
    chosen = batch["labels"] != -100
    assert not (chosen & special).any()  # [CLS], [SEP] and padding are never masked
    assert (batch["labels"][chosen] == ids[chosen]).all()  # the labels are the original tokens
    share = chosen.sum().item() / (~special).sum().item()
    assert 0.14 < share < 0.16
    as_mask = (batch["input_ids"] == tok.mask_token_id) & chosen
    kept = (batch["input_ids"] == ids) & chosen
    n = chosen.sum().item()
    assert 0.77 < as_mask.sum().item() / n < 0.83
    assert 0.08 < kept.sum().item() / n < 0.13  # 10% unchanged (+ random draws of the same token)
    assert 0.07 < (n - as_mask.sum().item() - kept.sum().item()) / n < 0.12  # 10% a random token
    assert (batch["input_ids"][~chosen] == ids.clamp(min=0)[~chosen]).all()

    torch.manual_seed(0)
    again = task.collate(tokens, idx, targets, tok.pad_token_id, 1)
    assert torch.equal(again["input_ids"], batch["input_ids"])  # the seed fixes the masks
    first = task.collate(tokens, idx[:50], None, tok.pad_token_id, 1)
    torch.manual_seed(123)
    second = task.collate(tokens, idx[:50][::-1], None, tok.pad_token_id, 1)
    assert torch.equal(first["labels"], second["labels"].flip(0))  # dev: fixed per row, any batch


def test_whole_word_masking_masks_every_piece_of_a_word() -> None:
    import torch

    texts = [t for t, _ in make_rows(400, 4)] + ["unbelievably wonderful delightfulness"] * 50
    tok = _tokenizer(texts)
    cfg = LabConfig()
    cfg.train.whole_word_mask = True
    task = MaskedLMTask.from_config(cfg, [])
    tokens, targets = task.encode(tok, texts, [0] * len(texts), 32)
    torch.manual_seed(1)
    batch = task.collate(tokens, np.arange(len(texts)), targets, tok.pad_token_id, 1)
    chosen = batch["labels"] != -100
    assert chosen.any() and (batch["input_ids"][chosen] == tok.mask_token_id).all()
    pieces = np.array([p.startswith("##") for p in tok.convert_ids_to_tokens(list(range(len(tok))))])
    for r in range(len(texts)):
        row = tokens.row(r)
        word = np.cumsum(~pieces[row])  # a word id per token
        picked = chosen[r, : len(row)].numpy()
        for w in np.unique(word[picked]):
            assert picked[word == w].all()


def test_every_dev_row_is_masked_so_a_tiny_dev_set_has_a_loss(tmp_path: Path) -> None:
    """At 15% a six-token row draws no mask 38% of the time; a dev row is always given one, so a
    dev set of one or two short texts reports a real loss, not 0.000."""
    texts = [t for t, _ in make_rows(300, 6)]
    tok = _tokenizer(texts)
    task = MaskedLMTask([])
    short = [" ".join(t.split()[:3]) for t in texts[:60]]
    tokens, _ = task.encode(tok, short, [0] * len(short), 32)
    batch = task.collate(tokens, np.arange(len(short)), None, tok.pad_token_id, 1)
    assert ((batch["labels"] != -100).sum(1) >= 1).all()
    again = task.collate(tokens, np.arange(len(short)), None, tok.pad_token_id, 1)
    assert (again["input_ids"] == batch["input_ids"]).all()  # still the same masks at every evaluation

    words = tmp_path / "words.txt"  # 30 one-word texts: 2 held out as dev (before: loss 0.0000)
    words.write_text("\n".join(t.split()[1] for t, _ in make_rows(30, 8)) + "\n", encoding="utf-8")
    flags = ["--max-steps", "2", "--set", "model.vocab_size=120", "--set", "train.tensorboard=false"]
    code, out, err = _cli(
        "pretrain", "--train", str(words), *flags, "--output-dir", str(tmp_path / "runs"), "--json"
    )
    assert code == 0, err
    run = Path(json.loads(out.strip().splitlines()[-1])["run_dir"])
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    metrics = [e for e in events if e["event"] == "evaluated"][-1]["metrics"]
    assert metrics["loss"] > 1.0, metrics


# -- the command end to end ---------------------------------------------------------------------
# not slow: make test's one real pretraining run (40 steps); the tests below reuse it in make test-slow
def test_pretrain_cli_reports_the_contract_and_perplexity_falls(pretrained) -> None:
    run, summary = pretrained
    assert set(summary) == {
        "run_dir",
        "status",
        "best",
        "train_samples_per_second",
        "epochs_completed",
        "stopped_early",
    }
    assert summary["status"] == "completed" and set(summary["best"]) == {"loss", "perplexity"}
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    evals = [e for e in events if e["event"] == "evaluated"]
    assert [e["step"] for e in evals] == [20, 40]  # --max-steps 40 stopped mid-epoch
    assert max(e["step"] for e in events if e["event"] == "step") == 40
    first, best = evals[0]["metrics"]["perplexity"], summary["best"]["perplexity"]
    assert best < first and best < MAX_PERPLEXITY
    assert best == pytest.approx(np.exp(summary["best"]["loss"]))
    config = json.loads((run / "best" / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"]


@pytest.mark.slow
def test_runs_lists_a_pretraining_run_by_its_perplexity(pretrained, capsys) -> None:
    from tui_lab.cli import main

    run, summary = pretrained
    assert main(["runs", "--output-dir", str(run.parent)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(run.name))
    assert line.rstrip().endswith(f"ppl {summary['best']['perplexity']:.1f}")


@pytest.mark.slow
def test_best_loads_with_the_fill_mask_pipeline_and_predict_agrees(pretrained) -> None:
    from transformers import pipeline

    run, _ = pretrained
    fill = pipeline("fill-mask", model=str(run / "best"), device="cpu")
    text = "the pizza was [MASK]"
    expected = [(r["token_str"], r["score"]) for r in fill(text, top_k=5)]
    code, out, err = _cli("predict", str(run), text, "--device", "cpu", "--json")
    assert code == 0, err
    got = json.loads(out)["predictions"][0]["predictions"]
    assert [g["token"] for g in got] == [t for t, _ in expected]
    assert [g["score"] for g in got] == pytest.approx([s for _, s in expected], abs=1e-5)

    code, _, err = _cli("predict", str(run), "no mask here", "--device", "cpu")
    assert code == 2 and err.count("\n") == 1 and "[MASK]" in err


@pytest.mark.slow
def test_finetuning_from_the_run_uses_its_tokenizer_and_a_new_head(pretrained, tiny_data, tmp_path) -> None:
    from tui_lab.core.training.runs import pretrained_runs

    run, _ = pretrained
    assert pretrained_runs(run.parent) == [str(run)]
    flags = tiny_train_flags(tiny_data, tmp_path / "runs", "ft", epochs=1)
    code, out, err = _cli("train", *flags, "--model", str(run), "--max-steps", "4")
    assert code == 0, err
    best = Path(json.loads(out.strip().splitlines()[-1])["run_dir"]) / "best"
    assert "learning_rate = 0.001" in (best.parent / "config.toml").read_text()  # tiny-bert's, not 3e-5
    vocab = json.loads((best / "tokenizer.json").read_text())["model"]["vocab"]
    assert vocab == json.loads((run / "best" / "tokenizer.json").read_text())["model"]["vocab"]
    config = json.loads((best / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"] and len(config["id2label"]) == 2

    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text((run / "best" / "config.json").read_text())
    code, _, err = _cli("train", *flags, "--model", str(bare), "--run-name", "ft2")
    assert code == 2 and err.count("\n") == 1 and "no tokenizer files" in err


@pytest.mark.slow
def test_a_stopped_pretraining_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    cfg = LabConfig()
    cfg.data.train = str(_texts_file(tmp_path / "texts.txt", 200, 5))
    cfg.data.max_length = 24
    cfg.model.task, cfg.model.vocab_size = "pretrain", 200
    cfg.train.epochs, cfg.train.batch_size, cfg.train.eval_steps = 3, 32, 6
    cfg.train.baseline, cfg.train.tensorboard = False, False
    cfg.train.output_dir, cfg.train.run_name = str(tmp_path / "runs"), "full"
    full = Trainer(cfg).run()

    part, resumed, start_step = stop_at_step_then_resume(cfg, 8)
    assert part.status == "stopped" and part.step == 8 == start_step  # mid-epoch, between two evaluations
    assert resumed.step == full.step == 18 and resumed.best == full.best


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["0", "1"])
def test_mask_share_out_of_range_is_one_line(value: str, tmp_path: Path) -> None:
    code, _, err = _cli(
        "pretrain", "--train", str(_texts_file(tmp_path / "t.txt", 5)), "--mlm-probability", value
    )
    assert code == 2 and err.count("\n") == 1 and "train.mlm_probability must be" in err


def test_a_file_without_text_is_one_line(tmp_path: Path) -> None:
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\n", encoding="utf-8")
    code, _, err = _cli("pretrain", "--train", str(blank), "--output-dir", str(tmp_path / "runs"))
    assert code == 2 and err.count("\n") == 1 and "no text to pretrain on" in err
    table = write_csv(tmp_path / "t.csv", [("", "pos"), ("", "neg")])
    code, _, err = _cli("pretrain", "--train", str(table), "--output-dir", str(tmp_path / "runs"))
    assert code == 2 and err.count("\n") == 1 and "no text" in err


def test_a_tables_text_column_is_read_without_labels(tmp_path: Path) -> None:
    from tui_lab.core.data.texts import load_texts
    from tui_lab.core.settings import DataConfig

    rows = [(f"sentence number {i}", "x") for i in range(100)]
    data = load_texts(DataConfig(train=str(write_csv(tmp_path / "t.csv", rows, ("review", "stars")))), 7)
    assert (len(data.train), len(data.dev), data.label_names, data.test) == (95, 5, [], None)
    assert sorted(data.train.texts + data.dev.texts) == sorted(t for t, _ in rows)
    assert load_texts(DataConfig(train=str(tmp_path / "t.csv")), 7).dev.texts == data.dev.texts


def test_a_plain_text_file_is_detected_as_pretraining_data(tmp_path: Path) -> None:
    from tui_lab.core.data.files import read_preview
    from tui_lab.core.settings import DataConfig
    from tui_lab.core.tasks import detect_task

    (tmp_path / "corpus.txt").write_text("the food was great\n\nthe room, noisy\n", encoding="utf-8")
    (tmp_path / "table.txt").write_text("text\tlabel\ngood\tpos\n", encoding="utf-8")
    assert detect_task(DataConfig(train=str(tmp_path / "corpus.txt"))) == (
        "pretrain",
        "corpus.txt is plain text, one text a line",
    )
    assert read_preview(str(tmp_path / "corpus.txt")).columns == {
        "text": ["the food was great", "the room, noisy"]
    }
    assert read_preview(str(tmp_path / "table.txt")).column_names == ["text", "label"]  # a TSV stays a table
