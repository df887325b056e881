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
