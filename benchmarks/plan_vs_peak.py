"""The memory plan against the measured CUDA peak, and gradient checkpointing's memory drop.

A Llama-shaped decoder classifier (~130M parameters) built from a local config with random
weights (no hub needed) trains a few steps (AdamW, bf16 autocast, every sequence max-length long)
in each setup: full fine-tuning, LoRA (r=16, all linear layers), QLoRA (a 4-bit NF4 base through
bitsandbytes, when installed) and full fine-tuning with gradient checkpointing. Each setup's
``torch.cuda.max_memory_allocated`` (above what was allocated before the model) is compared with
``tui-lab plan``'s total for the same settings.

Prints two verdict lines on stdout (``PASS``/``FAIL``/``SKIP`` NAME (details)), the figures on
stderr; exit 1 when a check fails. Without CUDA both checks print SKIP and it exits 0.

    python benchmarks/plan_vs_peak.py [--batch-size 8] [--max-length 512] [--tolerance 0.15]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

CHECKPOINTING = "gradient checkpointing lowers the peak"
PLAN = "memory plan within ±15% of the measured peak"
DECODER = dict(
    model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=32000, hidden_size=1024,
    intermediate_size=2816, num_hidden_layers=8, num_attention_heads=16, num_key_value_heads=8,
    max_position_embeddings=2048, pad_token_id=0, bos_token_id=1, eos_token_id=2,
)  # fmt: skip
SETUPS = ("full", "lora", "qlora", "full+checkpointing")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--steps", type=int, default=3, help="training steps measured per setup")
    p.add_argument("--tolerance", type=float, default=0.15, help="allowed |plan - peak| / peak")
    return p.parse_args(argv)


def planned(folder: Path, setup: str, args: argparse.Namespace) -> int:
    """The plan's total bytes for one process in this setup."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.training.memory_plan import plan

    config = LabConfig()
    for key, value in {
        "model.name": str(folder),
        "model.peft": setup.split("+")[0] if setup.split("+")[0] != "full" else "none",
        "train.gradient_checkpointing": "checkpointing" in setup,
        "train.batch_size": args.batch_size,
        "data.max_length": args.max_length,
        "train.precision": "bf16",
        "train.device": "cuda:0",
    }.items():
        config.set(key, value)
    return plan(config, processes=1, devices=[("cuda:0", 10**13)]).total


def build(folder: Path, setup: str) -> object:
    """The model of a setup on cuda:0: fp32 weights (4-bit NF4 base for qlora), PEFT-wrapped for adapters."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, BitsAndBytesConfig

    if setup.startswith("qlora"):
        quant = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )  # fmt: skip
        model = AutoModelForSequenceClassification.from_pretrained(
            folder, quantization_config=quant, dtype=torch.bfloat16, device_map={"": 0}
        )
    else:
        model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(folder)).cuda()
    if "checkpointing" in setup:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if setup.startswith(("lora", "qlora")):
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", modules_to_save=["score"]
        )
        model = get_peft_model(model, lora)
        for p in model.parameters():  # trained weights in fp32, as tui-lab trains them
            if p.requires_grad:
                p.data = p.data.float()
    return model


def measured(folder: Path, setup: str, args: argparse.Namespace) -> int:
    """The peak bytes allocated while the setup trains ``--steps`` steps, above the start."""
    import gc

    import torch

    gc.collect()
    torch.cuda.empty_cache()
    start = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    model = build(folder, setup)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=True)
    ids = torch.randint(3, 32000, (args.batch_size, args.max_length), device="cuda")
    labels = torch.randint(0, 2, (args.batch_size,), device="cuda")
    for _ in range(args.steps):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    peak = torch.cuda.max_memory_allocated() - start
    del model, opt, loss
    return peak


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(f"SKIP {CHECKPOINTING} (no CUDA GPU)\nSKIP {PLAN} (no CUDA GPU)")
        return 0
    try:
        import bitsandbytes  # noqa: F401

        setups = SETUPS
    except ImportError:
        setups = tuple(s for s in SETUPS if not s.startswith("qlora"))
    folder = Path(tempfile.mkdtemp(prefix="plan-vs-peak-"))
    (folder / "config.json").write_text(json.dumps(DECODER))
    from transformers import AutoConfig, AutoModelForSequenceClassification

    AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(folder)).to(
        torch.bfloat16
    ).save_pretrained(folder)
    rows = {}
    for setup in setups:
        rows[setup] = (planned(folder, setup, args), measured(folder, setup, args))
        est, peak = rows[setup]
        print(
            f"{setup:20} plan {est / 1e9:6.2f} GB  peak {peak / 1e9:6.2f} GB  ({(est - peak) / peak:+.0%})",
            file=sys.stderr,
        )
    drop = rows["full"][1] - rows["full+checkpointing"][1]
    ok_drop = drop > 0
    print(
        f"{'PASS' if ok_drop else 'FAIL'} {CHECKPOINTING} ({drop / 1e9:.2f} GB less at batch {args.batch_size} x {args.max_length})"
    )
    off = {s: (e - p) / p for s, (e, p) in rows.items()}
    ok_plan = all(abs(v) <= args.tolerance for v in off.values())
    detail = ", ".join(f"{s} {v:+.0%}" for s, v in off.items())
    print(f"{'PASS' if ok_plan else 'FAIL'} {PLAN} ({detail})")
    return 0 if ok_drop and ok_plan else 1


if __name__ == "__main__":
    sys.exit(main())
