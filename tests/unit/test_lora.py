"""LoRA through PEFT: wrapping, adapter checkpoints, exact resume, pipeline and the faces, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_rows, stop_at_step_then_resume, write_csv
from tui_lab.core.config import LabConfig
from tui_lab.core.training.events import StepLogged
from tui_lab.core.training.loop import Trainer


def _lora_config(root: Path, name: str = "lora") -> LabConfig:
    write_csv(root / "data" / "train.csv", make_rows(240, 1))
    write_csv(root / "data" / "dev.csv", make_rows(60, 2))
    cfg = LabConfig()
    cfg.data.train, cfg.data.max_length, cfg.model.vocab_size = str(root / "data"), 32, 300
    cfg.train.epochs, cfg.train.batch_size, cfg.train.output_dir = 2, 16, str(root / "runs")
    cfg.train.baseline, cfg.train.tensorboard, cfg.train.run_name = False, False, name
    cfg.model.peft, cfg.model.lora_r = "lora", 4
    return cfg


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory) -> Path:
    """One tiny-bert LoRA run, trained once for this module."""
    root = tmp_path_factory.mktemp("lora")
    return Path(Trainer(_lora_config(root)).run().run_dir)


def test_lora_run_saves_small_adapter_folders_and_a_base(lora_run: Path) -> None:
    best, base = lora_run / "best", lora_run / "base"
    adapter = json.loads((best / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and adapter["r"] == 4 and adapter["lora_alpha"] == 8
    assert "classifier" in adapter["modules_to_save"]
    assert Path(adapter["base_model_name_or_path"]) == base.resolve()
    assert (best / "model.safetensors").is_symlink() and (
        best / "model.safetensors"
    ).resolve().parent == base.resolve()
    assert json.loads((best / "config.json").read_text())["id2label"] == {"0": "neg", "1": "pos"}
    adapter_bytes = (best / "adapter_model.safetensors").stat().st_size
    assert adapter_bytes < 0.25 * (base / "model.safetensors").stat().st_size
    assert (lora_run / "last" / "optimizer.pt").is_file()


def test_lora_trains_only_adapters_and_the_head(tmp_path: Path) -> None:
    from tui_lab.core.models.adapters import trainable_share
    from tui_lab.core.training import distributed
    from tui_lab.core.training.prepare import prepare

    s = prepare(_lora_config(tmp_path), distributed.from_env())
    names = [n for n, p in s.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n or "modules_to_save" in n for n in names)
    trainable, total = trainable_share(s.model)
    assert 0 < trainable < 0.2 * total
    assert s.learning_rate == pytest.approx(2e-3)  # learning_rate = auto under LoRA


def test_wrapping_and_loading_adapters_print_no_deprecation_warning(lora_run: Path) -> None:
    # PEFT reads a property transformers 5 deprecated: every LoRA run printed a FutureWarning
    import warnings

    from transformers import AutoConfig, AutoModelForSequenceClassification

    from tui_lab.core.models import adapters

    cfg = _lora_config(lora_run.parent.parent, "unused")
    folder = lora_run / "best"
    config = AutoConfig.from_pretrained(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adapters.wrap(cfg, AutoModelForSequenceClassification.from_config(config))
        adapters.load_merged(folder, AutoModelForSequenceClassification, config)
        adapters.load_trainable(lora_run / "last", AutoModelForSequenceClassification, config)
    assert not [w for w in caught if issubclass(w.category, FutureWarning)], [str(w.message) for w in caught]


@pytest.mark.slow
def test_lora_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    cfg = _lora_config(tmp_path, "full")
    losses: list = []
    full = Trainer(cfg, [lambda e: isinstance(e, StepLogged) and losses.append(e.loss)]).run()
    part, resumed, start_step = stop_at_step_then_resume(_lora_config(tmp_path), 9)
    assert part.status == "stopped" and start_step == 9
    assert resumed.step == full.step and resumed.best == full.best


def test_pipeline_loads_a_lora_best(lora_run: Path) -> None:
    from transformers import pipeline

    from tui_lab.core.deploy.predictor import Predictor

    pipe = pipeline("text-classification", model=str(lora_run / "best"), top_k=None)
    text = "the film was wonderful"
    scores = {d["label"]: d["score"] for d in pipe([text])[0]}
    pred = Predictor.from_path(lora_run, device="cpu").predict([text])[0]
    assert set(scores) == {"neg", "pos"}
    assert scores["pos"] == pytest.approx(pred.probabilities["pos"], abs=1e-4)


def _cli(tmp_path: Path, *extra: str) -> tuple[int, str, Path]:
    import subprocess
    import sys

    from tests.conftest import tiny_train_flags

    write_csv(tmp_path / "data" / "train.csv", make_rows(60, 1))
    out = tmp_path / "runs"
    flags = tiny_train_flags(tmp_path / "data", out, "bad", epochs=1)
    proc = subprocess.run(
        [sys.executable, "-m", "tui_lab", "train", *flags, *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stderr, out


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("--peft", "lora", "--lora-r", "0"), "model.lora_r must be at least 1"),
        (("--peft", "lora", "--lora-targets", "nope,nada"), "--lora-targets 'nope,nada' names no module"),
        (("--peft", "lora", "--lora-targets", "LayerNorm"), "PEFT cannot put LoRA adapters"),
        (("--peft", "qlora", "--device", "cpu"), "qlora loads the base in 4 bits"),
    ],
)
def test_bad_lora_input_is_one_error_line_and_writes_nothing(tmp_path: Path, extra, says) -> None:
    code, err, out = _cli(tmp_path, *extra)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], err
    assert not (out / "bad").exists()


def test_resuming_a_lora_run_with_peft_none_is_refused(lora_run: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "tui_lab", "train", "--resume", str(lora_run), "--peft", "none"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and "--peft lora" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_qlora_config_is_nf4_with_bf16_compute_and_needs_cuda(monkeypatch) -> None:
    import importlib.util

    import torch

    from tui_lab.core.errors import ConfigError
    from tui_lab.core.models import adapters

    q = adapters.quantization_config()
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert q.bnb_4bit_compute_dtype == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA"):
        adapters.check_qlora("auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real_find_spec = importlib.util.find_spec

    def bitsandbytes_installed(installed: bool):
        return lambda name, *a: (
            (object() if installed else None) if name == "bitsandbytes" else real_find_spec(name, *a)
        )

    monkeypatch.setattr(importlib.util, "find_spec", bitsandbytes_installed(False))  # a fresh venv lacks it
    with pytest.raises(ConfigError, match="needs bitsandbytes"):
        adapters.check_qlora("auto")
    monkeypatch.setattr(importlib.util, "find_spec", bitsandbytes_installed(True))
    adapters.check_qlora("auto")  # a GPU and bitsandbytes: nothing to refuse


def test_predict_eval_and_export_take_a_lora_run(lora_run: Path, tmp_path: Path, capsys) -> None:
    from tui_lab.cli import main
    from tui_lab.core.deploy.predictor import Predictor

    texts = ["the film was wonderful", "the pizza was awful"]
    assert main(["predict", str(lora_run), *texts, "--json"]) == 0
    predicted = json.loads(capsys.readouterr().out)["predictions"]
    dev = lora_run.parent.parent / "data" / "dev.csv"
    assert main(["eval", str(lora_run), "--data", str(dev), "--json"]) == 0
    report = json.loads((lora_run / "report.json").read_text())
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(report["best"]["accuracy"])
    out = tmp_path / "export"
    assert main(["export", str(lora_run), "--rounds", "1", "--out", str(out)]) == 0
    onnx = Predictor.from_path(out).predict(texts)
    for got, want in zip(onnx, predicted):
        assert got.label == want["label"]
        assert got.probabilities["pos"] == pytest.approx(want["probabilities"]["pos"], abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(("folder", "task"), [("tickets", "multilabel"), ("ner", "ner")])
def test_lora_trains_multilabel_and_ner(tmp_path: Path, folder: str, task: str) -> None:
    from tests.conftest import SAMPLE
    from tui_lab.core.deploy.predictor import Predictor

    cfg = _lora_config(tmp_path, task)
    cfg.data.train, cfg.data.max_length, cfg.train.max_steps = str(SAMPLE / folder), 24, 3
    result = Trainer(cfg).run()
    run = Path(result.run_dir)
    adapter = json.loads((run / "best" / "adapter_config.json").read_text())
    assert adapter["task_type"] == ("TOKEN_CLS" if task == "ner" else "SEQ_CLS")
    assert json.loads((run / "config.toml").read_text().split("task = ")[1].split("\n")[0]) == task
    assert Predictor.from_path(run).predict(["Alice sent a refund request from Paris"])


def test_lora_refuses_pretraining(tmp_path: Path) -> None:
    from tui_lab.core.errors import ConfigError
    from tui_lab.core.models import adapters

    cfg = _lora_config(tmp_path)
    with pytest.raises(ConfigError, match="--peft none|model.peft"):
        adapters.check_request(cfg, "pretrain")


def test_a_sweep_searches_lora_rank_alpha_and_rate() -> None:
    import optuna

    from tui_lab.core.sweeps import space

    specs = space.default_space("tiny-bert", "lora")
    assert {"model.lora_r", "model.lora_alpha", "train.learning_rate"} <= set(specs)
    checked = space.space_from_specs(specs)
    trial = optuna.create_study().ask()
    values = checked.suggest(trial)
    assert values["model.lora_r"] in (4, 8, 16, 32) and 3e-4 <= values["train.learning_rate"] <= 5e-3
    other = optuna.create_study().ask()
    assert space.space_from_specs({"lora_r": "2..64:log"}).suggest(other)["model.lora_r"] >= 2


def test_qlora_loads_the_base_quantised_on_the_current_gpu(monkeypatch, tmp_path: Path) -> None:
    import torch

    from tui_lab.core.models import adapters, loading

    cfg = _lora_config(tmp_path)
    assert adapters.quantization_for(cfg) is None  # lora: the base in full precision
    cfg.model.peft = "qlora"
    q = adapters.quantization_for(cfg)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)
    assert loading.quantized(q) == {"quantization_config": q, "device_map": {"": 3}}


def test_explain_and_analyze_take_a_lora_run(lora_run: Path, capsys) -> None:
    from tui_lab.cli import main

    assert main(["explain", str(lora_run), "the film was wonderful", "--explain-steps", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["results"][0]
    assert result["label"] in ("neg", "pos") and len(result["words"]) == 4
    assert main(["analyze", str(lora_run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_pretrained_base_is_named_not_copied(tmp_path: Path) -> None:
    # a 7B base written again into every run and sweep trial would fill the disk: a checkpoint
    # loaded as it is stays where it is, the adapter names it (as PEFT does)
    from transformers import pipeline

    from tests.conftest import save_tiny_classifier
    from tui_lab.core.deploy.predictor import Predictor

    pretrained = save_tiny_classifier(tmp_path / "pretrained")
    cfg = _lora_config(tmp_path, "named")
    cfg.model.name, cfg.train.epochs = str(pretrained), 1
    run = Path(Trainer(cfg).run().run_dir)
    best = run / "best"
    assert not (run / "base").exists()
    link = best / "model.safetensors"  # so that pipeline loads the folder; the weights stay put
    assert link.is_symlink() and link.resolve() == (pretrained / "model.safetensors").resolve()
    adapter = json.loads((best / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(pretrained.resolve())
    said = pipeline("text-classification", model=str(best))("the film was great")[0]
    mine = Predictor.from_path(run, "cpu").predict(["the film was great"])[0]
    assert said["label"] == mine.label and said["score"] == pytest.approx(mine.score, abs=1e-4)
    _, resumed, start = stop_at_step_then_resume(cfg, 3)  # last/ loads on the named base too
    assert start == 3 and resumed.status in ("completed", "early_stopped")
    assert not (Path(resumed.run_dir) / "base").exists()
