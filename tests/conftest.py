"""Shared fixtures: everything offline, small data written to tmp folders."""

from __future__ import annotations

import csv
import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# nothing in the tests may reach the Hugging Face hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="tui-lab-hf-datasets-"))
# learned tokenizers are cached; never in the real home folder (subprocesses inherit this)
os.environ["TUI_LAB_CACHE"] = tempfile.mkdtemp(prefix="tui-lab-cache-")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs ``-n auto``) each worker gets its share of the cores
    for torch, so two workers on two cores do not fight over four threads."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        # the `tui-lab` subprocesses a test starts get the same share: left to themselves each takes
        # every core, and OpenMP threads that spin on a busy core make a tiny run 10x slower
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(name, str(threads))
        import torch

        torch.set_num_threads(threads)


POS = ["great", "wonderful", "excellent", "lovely", "superb", "delightful", "fantastic", "pleasant"]
NEG = ["awful", "terrible", "horrible", "dreadful", "poor", "boring", "disappointing", "bland"]
THINGS = ["film", "pizza", "hotel", "phone", "service", "book", "room", "staff", "plot", "screen"]


def make_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Easy synthetic sentiment rows (``text``, ``pos``/``neg``), learnable in a few steps."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        word = rng.choice(POS if label == "pos" else NEG)
        extra = " ".join(rng.choice(THINGS) for _ in range(rng.randint(0, 6)))
        rows.append((f"the {rng.choice(THINGS)} was {word} {extra}".strip(), label))
    return rows


def record_calls(
    monkeypatch: pytest.MonkeyPatch,
    owner: object,
    name: str,
    arg: int,
    keep: Callable[[Any], Any] = lambda value: value,
    into: list | None = None,
) -> list:
    """Every call of ``owner.name`` from now on, passed through to the original: a list of each
    call's positional argument ``arg`` (e.g. the texts a predictor scored), or of ``keep`` of it
    (``len``: how many), appended to ``into`` when given (several methods into one list)."""
    seen: list = [] if into is None else into
    original = getattr(owner, name)

    def recorded(*args, **kwargs):
        seen.append(keep(args[arg]))
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return seen


def write_csv(path: Path, rows: list[tuple], header: tuple = ("text", "label")) -> Path:
    """Write rows as CSV with a header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def tiny_train_flags(data: Path, out: Path, name: str, epochs: int = 4) -> list[str]:
    """`tui-lab train` flags for a fast run on ``tiny_data``-style folders (JSON summary last)."""
    return [
        "--train",
        str(data),
        "--output-dir",
        str(out),
        "--run-name",
        name,
        "--epochs",
        str(epochs),
        "--max-length",
        "32",
        "--batch-size",
        "16",
        "--set",
        "model.vocab_size=300",
        "--no-baseline",
        "--patience",
        "0",
        "--json",
    ]


def save_tiny_classifier(folder: Path, labels: tuple[str, ...] = ("neg", "pos"), **config: object) -> Path:
    """A one-layer BERT text classifier with random weights and a vocabulary of :func:`make_rows`'
    words, saved as a model folder in a moment (no training). ``config``: more ``BertConfig``
    fields (``problem_type="multi_label_classification"``...)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = sorted({w for text, _ in make_rows(200) for w in text.split()})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n"
    )
    bert = BertConfig(
        vocab_size=5 + len(words),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=64,
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        **config,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(bert).save_pretrained(folder, safe_serialization=True)
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    """A folder with train.csv (240 rows), dev.csv (60) and test.csv (60)."""
    folder = tmp_path / "data"
    write_csv(folder / "train.csv", make_rows(240, 1))
    write_csv(folder / "dev.csv", make_rows(60, 2))
    write_csv(folder / "test.csv", make_rows(60, 3))
    return folder


@pytest.fixture
def tiny_config(tiny_data: Path, tmp_path: Path):
    """A fast LabConfig on ``tiny_data``: tiny-bert, 2 epochs, small vocabulary."""
    from tui_lab.core.config import LabConfig

    cfg = LabConfig()
    cfg.data.train = str(tiny_data)
    cfg.data.max_length = 32
    cfg.model.vocab_size = 300
    cfg.train.epochs = 2
    cfg.train.batch_size = 16
    cfg.train.output_dir = str(tmp_path / "runs")
    cfg.train.run_name = "t"
    return cfg


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """One finished tiny-bert run (train.csv 240 rows + dev.csv 60, no test), trained once a session.

    Tests that change the run folder work on a copy.
    """
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.loop import Trainer

    root = tmp_path_factory.mktemp("deploy")
    write_csv(root / "data" / "train.csv", make_rows(240, 1))
    write_csv(root / "data" / "dev.csv", make_rows(60, 2))
    cfg = LabConfig()
    cfg.data.train, cfg.data.max_length, cfg.model.vocab_size = str(root / "data"), 32, 300
    cfg.train.epochs, cfg.train.batch_size, cfg.train.output_dir = 3, 16, str(root / "runs")
    cfg.train.baseline = False
    return Path(Trainer(cfg).run().run_dir)


@pytest.fixture(scope="session")
def exported_run(finished_run) -> tuple[Path, dict]:
    """:func:`finished_run` exported (fp32 + int8) to ``RUN/export``: (run, report)."""
    from tui_lab.core.deploy.export import export

    return finished_run, export(finished_run, rounds=1)


@pytest.fixture(scope="session")
def sentiment_run(tmp_path_factory) -> Path:
    """One tiny-bert run trained once on ``sample_data/sentiment`` (for explanations): its folder."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.loop import Trainer

    cfg = LabConfig()
    cfg.data.train, cfg.data.max_length, cfg.model.vocab_size = str(SAMPLE / "sentiment"), 40, 1000
    cfg.train.epochs, cfg.train.batch_size, cfg.train.patience = 2, 32, 0
    cfg.train.baseline, cfg.train.tensorboard = False, False
    cfg.train.output_dir, cfg.train.run_name = str(tmp_path_factory.mktemp("explain") / "runs"), "s"
    return Path(Trainer(cfg).run().run_dir)


@pytest.fixture(scope="session")
def ner_run(tmp_path_factory) -> Path:
    """One tiny NER run (the first 120/40/20 sentences of ``sample_data/ner``), trained once a session."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.loop import Trainer

    root = tmp_path_factory.mktemp("ner")
    for split, n in (("train", 120), ("dev", 40), ("test", 20)):
        sentences = (SAMPLE / "ner" / f"{split}.conll").read_text(encoding="utf-8").split("\n\n")[:n]
        (root / "data").mkdir(exist_ok=True)
        (root / "data" / f"{split}.conll").write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    cfg = LabConfig()
    cfg.data.train, cfg.data.max_length, cfg.model.vocab_size = str(root / "data"), 32, 300
    cfg.train.epochs, cfg.train.batch_size, cfg.train.output_dir = 2, 16, str(root / "runs")
    cfg.train.baseline, cfg.train.tensorboard, cfg.train.run_name = False, False, "ner"
    return Path(Trainer(cfg).run().run_dir)


def stop_at_step_then_resume(cfg, step: int):
    """Train ``cfg`` as run ``interrupted``, stop it after ``step`` optimiser steps, resume it.

    Returns ``(stopped, resumed, start_step)``: both ``RunResult``s and the step the resumed run's
    ``RunStarted`` names. The caller compares ``resumed`` with an uninterrupted run.
    """
    import threading

    from tui_lab.core.training.events import RunStarted, StepLogged
    from tui_lab.core.training.loop import Trainer

    cfg.train.run_name = "interrupted"
    stop = threading.Event()

    def stop_there(event) -> None:
        if isinstance(event, StepLogged) and event.step == step:
            stop.set()

    stopped = Trainer(cfg, [stop_there], stop=stop).run()
    events: list = []
    resumed = Trainer(cfg, [events.append], resume=stopped.run_dir).run()
    return stopped, resumed, next(e.start_step for e in events if isinstance(e, RunStarted))


def stop_process_run_at_step(command: list[str], run_dir: Path, cwd: Path, env: dict, step: int = 3) -> None:
    """Start ``command`` (a training command writing ``run_dir``, e.g. under torchrun), drop a
    ``STOP`` file in the run folder once ``step`` is logged, and check that the run ended stopped."""
    import subprocess
    import time

    from tui_lab.core.training.runs import run_info

    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    events = run_dir / "events.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (events.exists() and f'"step":{step},' in events.read_text()):
        time.sleep(0.1)
    (run_dir / "STOP").write_text("stop")
    _, err = proc.communicate(timeout=300)
    assert run_info(run_dir).status == "stopped", err[-3000:]


ALONE_PREAMBLE = """
import json, sys, numpy as np
from tokenizers import Tokenizer
folder = {folder!r}
tok = Tokenizer.from_file(folder + "/tokenizer.json")
tok.enable_padding(); tok.enable_truncation(32)
enc = tok.encode_batch(["the film was wonderful", "the pizza was awful"])
feed = {{"input_ids": np.array([e.ids for e in enc]), "attention_mask": np.array([e.attention_mask for e in enc]),
        "token_type_ids": np.array([e.type_ids for e in enc])}}
"""
ALONE_EPILOGUE = """
id2label = json.load(open(folder + "/config.json"))["id2label"]
print(json.dumps([id2label[str(i)] for i in logits.argmax(-1)]))
print(json.dumps(sorted(m for m in ("torch", "transformers", "tui_lab") if m in sys.modules)))
"""


def run_alone(folder: Path, forward: str) -> tuple[list[str], list[str]]:
    """Run an export folder in a fresh Python with the tokenizers library and ``forward`` (code
    that sets ``logits`` from ``feed``, the tokenised "the film was wonderful" and "the pizza was
    awful"): their labels, and which of torch, transformers and tui_lab that process imported."""
    import json
    import subprocess
    import sys
    import textwrap

    script = ALONE_PREAMBLE.format(folder=str(folder)) + textwrap.dedent(forward) + ALONE_EPILOGUE
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert proc.returncode == 0, proc.stderr
    labels, heavy = (json.loads(line) for line in proc.stdout.strip().splitlines()[-2:])
    return labels, heavy


DECODER_FAMILIES = ("llama", "qwen2", "mistral", "gpt2", "gemma")


def save_tiny_decoder(
    folder: Path, family: str = "llama", eos_suffix: bool = False, pad: bool = False
) -> Path:
    """A 2-layer causal LM of ``family`` (one of :data:`DECODER_FAMILIES`) with random weights and a
    word-level tokenizer of :func:`make_rows`' words, saved like a hub checkpoint (``*ForCausalLM``,
    no classification head) in a moment. Like the Llama family's tokenizers it has ``<s>``, ``</s>``
    and ``<unk>`` but no pad token unless ``pad``; ``eos_suffix`` makes it end every text in ``</s>``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>"] + (["<pad>"] if pad else [])
    backend = Tokenizer(models.BPE(unk_token="<unk>"))  # byte-level BPE, as GPT-2, Llama 3, Qwen
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()  # any text encodes, none is <unk>
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=specials, initial_alphabet=alphabet, show_progress=False
    )
    backend.train_from_iterator([text for text, _ in make_rows(200)], trainer)
    template = "$A </s>" if eos_suffix else "$A"
    backend.post_processor = processors.TemplateProcessing(single=template, special_tokens=[("</s>", 2)])
    extra = {"pad_token": "<pad>"} if pad else {}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>", **extra
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(tiny_decoder_config(family, backend.get_vocab_size())).save_pretrained(
        folder
    )
    return folder


def tiny_decoder_config(family: str, vocab_size: int) -> Any:
    """A 2-layer, 32-wide config of a decoder family, ids as :func:`save_tiny_decoder`'s tokenizer's."""
    from transformers import AutoConfig

    ids = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": None}
    if family == "gpt2":
        return AutoConfig.for_model(
            "gpt2", vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=128, **ids
        )
    return AutoConfig.for_model(
        family,
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=128,
        tie_word_embeddings=False,
        **ids,
    )
