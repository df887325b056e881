"""The memory plan: exact parameter/gradient/optimiser bytes, activations against measured ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tui_lab.core.config import LabConfig
from tui_lab.core.settings import render_settings
from tui_lab.core.training.memory_plan import MemoryPlan, activation_bytes, model_config, plan

ACTIVATION_TOLERANCE = 0.15  # the estimate is within ±15% of the bytes autograd saves (CPU, fp32)
LLAMA = dict(
    model_type="llama",
    architectures=["LlamaForCausalLM"],
    vocab_size=512,
    hidden_size=64,
    intermediate_size=176,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    pad_token_id=0,
    eos_token_id=1,
)


def llama_folder(tmp_path: Path) -> Path:
    """A folder with only a Llama-shaped config.json (what the plan needs of a hub model)."""
    folder = tmp_path / "llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA))
    return folder


def config_for(name: str, **settings: object) -> LabConfig:
    config = LabConfig()
    config.set("model.name", name)
    config.set("train.device", "cpu")
    for key, value in settings.items():
        config.set(key, value)
    return config


def loaded(folder: Path, config: LabConfig):
    """The real model (random weights) the plan describes, wrapped by PEFT as the plan does."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    hf = AutoConfig.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_config(hf)
    if config.model.peft == "none":
        return model
    from peft import LoraConfig, get_peft_model

    r = config.model.lora_r
    return get_peft_model(
        model, LoraConfig(r=r, lora_alpha=2 * r, target_modules="all-linear", modules_to_save=["score"])
    )


@pytest.mark.parametrize("peft", ["none", "lora"])
def test_parameter_gradient_and_optimizer_bytes_are_exact(tmp_path: Path, peft: str) -> None:
    config = config_for(str(llama_folder(tmp_path)), **{"model.peft": peft, "model.lora_r": 4})
    got = plan(config, devices=[("cpu", 10**12)])
    model = loaded(tmp_path / "llama", config)
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    assert got.trainable == sum(p.numel() for p in trainable)
    assert got.weights == sum(p.numel() * p.element_size() for p in params)
    base = sum(
        p.numel() for n, p in model.named_parameters() if "lora_" not in n and "modules_to_save" not in n
    )
    assert got.parameters == base
    # a real step: AdamW's states and the gradients take exactly what the plan says
    opt = torch.optim.AdamW(trainable)
    model(input_ids=torch.ones(2, 8, dtype=torch.long), labels=torch.tensor([0, 1])).loss.backward()
    opt.step()
    state = sum(t.numel() * t.element_size() for s in opt.state.values() for k, t in s.items() if k != "step")
    assert got.optimizer == state
    assert got.gradients == sum(p.grad.numel() * p.grad.element_size() for p in trainable)
    if peft == "lora":
        assert got.trainable < got.parameters / 5


def saved_bytes(model, batch: int, length: int) -> int:
    """The bytes autograd keeps for backward in one training forward (parameters excluded)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[t.untyped_storage()._cdata] = t.untyped_storage().nbytes()
        return t

    ids = torch.randint(2, 100, (batch, length))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.zeros(batch, dtype=torch.long))
    params = {p.untyped_storage()._cdata for p in model.parameters()}
    return sum(v for k, v in seen.items() if k not in params)


@pytest.mark.parametrize("family", ["llama", "tiny-bert"])
@pytest.mark.parametrize("batch,length", [(4, 64), (8, 128)])
def test_activation_estimate_is_within_tolerance_of_the_measured_bytes(
    tmp_path: Path, family: str, batch: int, length: int
) -> None:
    from transformers import AutoModelForSequenceClassification

    name = str(llama_folder(tmp_path)) if family == "llama" else family
    config = config_for(name, **{"data.max_length": length})
    hf, head = model_config(config)
    hf._attn_implementation = "sdpa"
    model = AutoModelForSequenceClassification.from_config(hf).train()
    measured = saved_bytes(model, batch, length)
    estimate = activation_bytes(hf, head, batch, length, "fp32", False)
    assert abs(estimate - measured) <= ACTIVATION_TOLERANCE * measured, (estimate, measured)


@pytest.mark.parametrize("setup", ["lora", "checkpointing", "lora+checkpointing", "bf16", "bf16+lora"])
def test_lora_checkpointing_and_autocast_estimates_are_within_tolerance(tmp_path: Path, setup: str) -> None:
    """LoRA (r=16, all linear layers), non-reentrant checkpointing, bf16 autocast (on the CPU: the
    same tensors kept as on CUDA for a decoder, whose attention is fused on both)."""
    import contextlib

    from transformers import AutoModelForSequenceClassification

    from tui_lab.core.training.memory_plan import activation_parts

    hf, head = model_config(config_for(str(llama_folder(tmp_path))))
    hf._attn_implementation = "sdpa"
    model = AutoModelForSequenceClassification.from_config(hf)
    r = 16 if "lora" in setup else 0
    if r:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=r, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", modules_to_save=["score"]
        )
        model = get_peft_model(model, lora)
    if "checkpointing" in setup:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    precision = "bf16" if "bf16" in setup else "fp32"
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    )
    with autocast:
        measured = saved_bytes(model.train(), 8, 64)
    outside, layers, layer, kept = activation_parts(hf, head, 64, precision, r)
    # checkpointing keeps each layer's input through the forward; the recomputed layer comes in backward
    per_layer = layer if "checkpointing" not in setup else kept
    estimate = 8 * 64 * (outside + (layers - bool(r and "checkpointing" in setup)) * per_layer)
    assert abs(estimate - measured) <= ACTIVATION_TOLERANCE * measured, (estimate, measured)


def test_checkpointing_and_fsdp_shrink_the_plan(tmp_path: Path) -> None:
    name = str(llama_folder(tmp_path))
    full = plan(config_for(name), devices=[("cpu", 10**12)])
    checkpointed = plan(config_for(name, **{"train.gradient_checkpointing": True}), devices=[("cpu", 10**12)])
    sharded = plan(config_for(name, **{"train.fsdp": True}), processes=2, devices=[("cpu", 10**12)])
    assert checkpointed.activations < full.activations
    assert sharded.optimizer == -(-full.optimizer // 2) and sharded.fsdp_share > 0
    assert sharded.parameters == full.parameters


def test_advice_says_whether_it_fits() -> None:
    sizes = dict(
        model="m", parameters=10, trainable=10, weights=40, gradients=40, optimizer=80, activations=40
    )
    assert (
        MemoryPlan(**sizes, devices=[("cuda:0", 79_100_000_000)]).advice
        == "est. 0.0 GB of 79.1 GB free on cuda:0"
    )
    tight = MemoryPlan(**sizes, devices=[("cuda:0", 100)])
    assert not tight.fits
    assert tight.advice.startswith("will not fit: est. 0.0 GB")
    assert (
        "--peft lora" in tight.to_json()["advice"] and "--gradient-checkpointing" in tight.to_json()["advice"]
    )
    assert '"adapters" = lora' in render_settings(tight.advice, "label")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui_lab", "plan", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_plan_json_contract_and_an_unreachable_hub_id(tmp_path: Path) -> None:
    done = run_cli("--model", str(llama_folder(tmp_path)), "--peft", "lora", "--device", "cpu", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(out) >= {"model", "parameters", "trainable", "bytes", "devices", "fits", "advice"}
    assert set(out["bytes"]) >= {"weights", "gradients", "optimizer", "activations", "total"}
    assert out["devices"][0]["name"] == "cpu" and out["devices"][0]["free_bytes"] > 0
    assert out["trainable"] < out["parameters"]
    missing = run_cli("--model", "nobody-here/no-such-model-xyz", "--json")
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith("error:"), missing.stderr


def test_train_warns_in_one_line_when_the_plan_does_not_fit(tmp_path: Path, monkeypatch, capsys) -> None:
    from tui_lab.cli.common import warn_if_it_will_not_fit
    from tui_lab.core.training import memory_plan

    config = config_for(str(llama_folder(tmp_path)))
    monkeypatch.setattr(memory_plan, "device_memory", lambda where, processes: [("cpu", 10**12)])
    warn_if_it_will_not_fit(config)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(memory_plan, "device_memory", lambda where, processes: [("cpu", 1000)])
    warn_if_it_will_not_fit(config)
    err = capsys.readouterr().err
    assert err.startswith("warning: will not fit: est.") and err.count("\n") == 1
