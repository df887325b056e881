"""A memory plan before a run: each device's estimated peak from the model's config alone.

The model is built on the meta device (accelerate's ``init_empty_weights``), so nothing is
downloaded but a hub model's ``config.json`` and no memory is taken. From it:

- parameters and trainable parameters, exact (LoRA/QLoRA through PEFT's own ``get_peft_model``,
  which wraps a meta model as it wraps a loaded one);
- weights by dtype: fp32 master weights (mixed precision is autocast), a QLoRA base's linear
  layers in 4-bit NF4 (0.5 bytes a weight + double-quantised block scales) and its other frozen
  weights in bf16;
- gradients: one per trainable parameter, in its dtype (fp32);
- optimiser: AdamW's two fp32 states per trainable parameter;
- activations: an estimate from the config (layers, hidden, heads, intermediate size, sequence
  length, batch, precision, checkpointing), calibrated on the CPU against the bytes autograd
  saves for the backward pass (``tests/unit/test_memory_plan.py`` states the tolerance) and
  checked on a GPU by ``benchmarks/gpu_smoke.sh`` against ``torch.cuda.max_memory_allocated``;
- under ``torchrun`` with FSDP, weights, gradients and optimiser states are divided among the
  processes and one layer's gathered weights and gradients are added (the FSDP share); with DDP
  every process holds a full replica plus DDP's gradient buckets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from tui_lab.core.config import LabConfig
from tui_lab.core.errors import setting_ref
from tui_lab.core.models.heads import auto_class
from tui_lab.core.models.loading import auto_config
from tui_lab.core.models.presets import PRESETS, is_preset
from tui_lab.core.settings import render_settings

GB = 1e9
ADAM_STATE_BYTES = 8  # exp_avg + exp_avg_sq, fp32
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4-bit weight + an 8-bit absmax per 64 + fp32 per 256 absmax
TASK_HEADS = {"ner": "token", "pretrain": "mlm"}
HEAD_MODULES = ("classifier", "score")  # the task heads trained in full beside the adapters


@dataclass(frozen=True)
class MemoryPlan:
    """One process's estimated peak and what it is made of, against the devices' free memory."""

    model: str
    parameters: int
    trainable: int
    weights: int
    gradients: int
    optimizer: int
    activations: int
    fsdp_share: int = 0  # one layer's gathered weights and gradients (FSDP), or DDP's buckets
    processes: int = 1
    devices: list[tuple[str, int]] = field(default_factory=list)  # (name, free bytes)
    sharing: bool = False  # the processes share one device's memory (several ranks on a CPU)
    sharded: bool = False  # FSDP: weights, gradients and optimiser states are 1/processes each
    checkpointing: bool = False  # gradient checkpointing is already on

    @property
    def total(self) -> int:
        """The estimated peak of one process, in bytes."""
        return self.weights + self.gradients + self.optimizer + self.activations + self.fsdp_share

    @property
    def fits(self) -> bool:
        """Whether every device in use has room for its processes' peaks."""
        need = self.total * (self.processes if self.sharing else 1)
        return all(need <= free for _, free in self.devices)

    @property
    def advice(self) -> str:
        """One sentence: the estimate against free memory, or what to try when it does not fit
        (settings marked for :func:`~tui_lab.core.settings.render_settings`)."""
        if not self.devices:
            return f"est. {self.total / GB:.1f} GB a process"
        name, free = min(self.devices, key=lambda d: d[1])
        need = self.total * (self.processes if self.sharing else 1)
        if self.fits:
            return f"est. {need / GB:.1f} GB of {free / GB:.1f} GB free on {name}"
        return (
            f"will not fit: est. {need / GB:.1f} GB, {free / GB:.1f} GB free on {name}; try {self.ways_out()}"
        )

    def ways_out(self) -> str:
        """The settings that would shrink this plan (marked with ``setting_ref``: each face renders them)."""
        ways = []
        if self.trainable == self.parameters:
            ways.append(setting_ref("model.peft", "lora"))
        ways += [] if self.checkpointing else [setting_ref("train.gradient_checkpointing", True)]
        ways.append(f"a smaller {setting_ref('train.batch_size')} or {setting_ref('data.max_length')}")
        if self.trainable == self.parameters and not self.sharded:
            ways.append(f"{setting_ref('train.fsdp', True)} (under torchrun)")
        return " or ".join([", ".join(ways[:-1]), ways[-1]] if len(ways) > 1 else ways)

    def to_json(self) -> dict[str, Any]:
        """The ``tui-lab plan --json`` object."""
        return {
            "model": self.model,
            "parameters": self.parameters,
            "trainable": self.trainable,
            "bytes": {
                "weights": self.weights,
                "gradients": self.gradients,
                "optimizer": self.optimizer,
                "activations": self.activations,
                "fsdp_share": self.fsdp_share,
                "total": self.total,
            },
            "processes": self.processes,
            "fsdp": self.sharded,
            "devices": [{"name": n, "free_bytes": f} for n, f in self.devices],
            "fits": self.fits,
            "advice": render_settings(self.advice, "flag"),
        }


def plan(
    config: LabConfig, processes: int | None = None, devices: list[tuple[str, int]] | None = None
) -> MemoryPlan:
    """The memory plan of training ``config`` (nothing is loaded but the model's config).

    Args:
        processes: processes in the job; ``WORLD_SIZE`` (1 outside torchrun) when ``None``.
        devices: (name, free bytes) to plan against; this machine's when ``None``.

    Raises:
        ModelError: a hub model that cannot be reached and is not cached.
    """
    processes = processes or int(os.environ.get("WORLD_SIZE", "1") or 1)
    hf_config, head = model_config(config)
    model = meta_model(hf_config, head, config)
    counts = count_parameters(model, config.model.peft)
    on_gpus = devices is not None and bool(devices) and all(n.startswith("cuda") for n, _ in devices)
    precision, where = resolved_precision(config, "cuda" if on_gpus else None)
    act = activation_bytes(
        hf_config,
        head,
        config.train.batch_size,
        config.data.max_length,
        precision,
        config.train.gradient_checkpointing,
        config.model.peft != "none",
    )
    share, sharded = 0, False
    if processes > 1 and config.train.fsdp:
        layer = largest_layer_bytes(model)
        counts = {
            k: (v if k in ("parameters", "trainable") else -(-v // processes)) for k, v in counts.items()
        }
        sharded = True
        share = 3 * layer  # this layer's and the prefetched layer's gathered weights, its full gradients
    elif processes > 1:
        share = counts["gradients"]  # DDP's gradient buckets
    found = devices if devices is not None else device_memory(where, processes)
    return MemoryPlan(
        model=config.model.name,
        activations=act,
        fsdp_share=share,
        processes=processes,
        devices=found,
        sharing=where == "cpu",
        sharded=sharded,
        checkpointing=config.train.gradient_checkpointing,
        **counts,
    )


def model_config(config: LabConfig) -> tuple[Any, str]:
    """The model's transformers config (a preset's ``BertConfig``, or a hub/local ``config.json``)
    with the run's labels, and its head."""
    head = TASK_HEADS.get(config.model.task, "sequence")
    if is_preset(config.model.name):
        from transformers import BertConfig

        p = PRESETS[config.model.name.lower()]
        hf = BertConfig(
            vocab_size=config.model.vocab_size,  # the learned vocabulary's size at most
            hidden_size=p.hidden_size,
            num_hidden_layers=p.num_hidden_layers,
            num_attention_heads=p.num_attention_heads,
            intermediate_size=p.intermediate_size,
            max_position_embeddings=max(512, config.data.max_length),
        )
    else:
        hf = auto_config(config.model.name, config.model.trust_remote_code)
    hf.num_labels = max(getattr(hf, "num_labels", 2), 2) if head != "mlm" else hf.num_labels
    if getattr(hf, "pad_token_id", None) is None:
        hf.pad_token_id = getattr(hf, "eos_token_id", None) or 0
    return hf, head


def meta_model(hf_config: Any, head: str, config: LabConfig) -> Any:
    """The model on the meta device (no memory), wrapped by PEFT when the run uses adapters."""
    import warnings

    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=True):
        model = auto_class(head).from_config(hf_config, trust_remote_code=config.model.trust_remote_code)
    if config.model.peft == "none":
        return model
    from peft import LoraConfig, get_peft_model

    warnings.filterwarnings(
        "ignore", category=FutureWarning, module="transformers"
    )  # PEFT asks a deprecated name

    targets = config.model.lora_targets.strip()
    lora = LoraConfig(
        r=config.model.lora_r,
        lora_alpha=config.model.lora_alpha or 2 * config.model.lora_r,
        lora_dropout=config.model.lora_dropout,
        target_modules=None
        if targets == "auto"
        else (
            "all-linear" if targets == "all-linear" else [t.strip() for t in targets.split(",") if t.strip()]
        ),
        modules_to_save=[m for m in HEAD_MODULES if hasattr(model, m)] if head != "mlm" else None,
    )
    return get_peft_model(model, lora)


def count_parameters(model: Any, peft: str) -> dict[str, int]:
    """Parameters, trainable parameters and the bytes of weights, gradients and AdamW states."""
    params = list({id(p): p for p in model.parameters()}.values())
    trainable = [p for p in params if p.requires_grad]
    weights = 0.0
    quantised = _quantised_weights(model) if peft == "qlora" else set()
    for p in params:
        if id(p) in quantised:
            weights += p.numel() * NF4_BYTES
        elif peft == "qlora" and not p.requires_grad:
            weights += p.numel() * 2  # the rest of a 4-bit base is kept in bf16
        else:
            weights += p.numel() * p.element_size()
    copies = {id(q) for n, q in model.named_parameters() if "lora_" in n or "modules_to_save" in n}
    base = sum(p.numel() for p in params if id(p) not in copies)  # the base's, not PEFT's additions
    return {
        "parameters": base,
        "trainable": sum(p.numel() for p in trainable),
        "weights": int(weights),
        "gradients": sum(p.numel() * p.element_size() for p in trainable),
        "optimizer": sum(p.numel() * ADAM_STATE_BYTES for p in trainable if p.dtype.is_floating_point),
    }


def _quantised_weights(model: Any) -> set[int]:
    """The ids of the base's linear weights a QLoRA run loads in 4-bit (all but the head and LoRA's)."""
    import torch

    found = set()
    for name, module in model.named_modules():
        if (
            isinstance(module, torch.nn.Linear)
            and "lora_" not in name
            and not any(h in name for h in HEAD_MODULES)
        ):
            found.add(id(module.weight))
    return found


def largest_layer_bytes(model: Any) -> int:
    """The bytes of the largest transformer layer (what FSDP gathers at a time)."""
    from tui_lab.core.training.fsdp import transformer_layers

    layers = transformer_layers(model)
    sizes = [sum(p.numel() * p.element_size() for p in layer.parameters()) for layer in layers]
    return max(sizes, default=0)


def resolved_precision(config: LabConfig, where: str | None = None) -> tuple[str, str]:
    """(precision, device kind): what ``auto`` becomes where this run would train (``where``:
    ``"cuda"`` to plan for GPUs this machine may not have)."""
    import torch

    where = where or config.train.device
    if where == "auto":
        where = "cuda" if torch.cuda.is_available() else "cpu"
    where = "cuda" if where.startswith("cuda") else "cpu"
    precision = config.train.precision
    if precision == "auto":
        precision = "bf16" if where == "cuda" else "fp32"
    return precision, where


def device_memory(where: str, processes: int) -> list[tuple[str, int]]:
    """(name, free bytes) of the devices the run's processes use: GPUs (one a process), or RAM."""
    if where == "cuda":
        import torch

        count = min(torch.cuda.device_count(), max(processes, 1))
        return [(f"cuda:{i}", int(torch.cuda.mem_get_info(i)[0])) for i in range(count)]
    import psutil

    return [("cpu", int(psutil.virtual_memory().available))]


def activation_parts(
    hf_config: Any, head: str, length: int, precision: str, lora_r: int = 0
) -> tuple[int, int, int, int]:
    """Bytes a token keeps for the backward pass: (outside the layers, layers, in each layer,
    in each layer under checkpointing), an estimate from the config.

    Per token and layer, measured on the CPU in fp32 (saved-tensor hooks): a gated-MLP decoder
    (Llama, Qwen2, Mistral, Gemma) keeps 8h + 2kv + 4i values (h hidden, kv the key/value width,
    i intermediate); a BERT-style layer 10h + 2i + 3·heads·length (eager attention with dropout).
    Under bf16/fp16 autocast the residual stream (4h) stays fp32 and the rest is half; fused
    attention on CUDA keeps no attention matrix. With checkpointing each layer keeps only its
    (fp32) input. LoRA's dropout keeps a copy of each adapted
    layer's input (and its mask) and the rank-r output of its first matrix.
    """
    h = int(
        getattr(hf_config, "hidden_size", 0)
        or getattr(hf_config, "n_embd", 0)
        or getattr(hf_config, "d_model", 0)
    )
    layers = int(getattr(hf_config, "num_hidden_layers", 0) or getattr(hf_config, "n_layer", 0))
    heads = int(getattr(hf_config, "num_attention_heads", 0) or getattr(hf_config, "n_head", 1))
    i = int(getattr(hf_config, "intermediate_size", 0) or getattr(hf_config, "n_inner", 0) or 4 * h)
    kv = h * int(getattr(hf_config, "num_key_value_heads", 0) or heads) // max(heads, 1)
    half = precision in ("bf16", "fp16")
    gated = hasattr(hf_config, "num_key_value_heads") or "silu" in str(getattr(hf_config, "hidden_act", ""))
    if gated:
        per_token = 4 * 4 * h + (7 * h + 2 * kv + 4 * i) * 2 if half else (8 * h + 2 * kv + 4 * i) * 4
        inputs, adapted = 6 * h + i, 7  # q k v o gate up take h, down takes i
    else:
        per_token = 8 * h + (9 * h + 2 * i) * 2 + 2 * h if half else (10 * h + 2 * i + 3 * heads * length) * 4
        inputs, adapted = 5 * h + i, 6  # q k v, attention output, intermediate take h; output takes i
    if lora_r:  # the dropped copy of each adapted layer's input (+ its mask), and A's rank-r output
        per_token += int(inputs * (3.5 if half else 5)) + adapted * lora_r * (2 if half else 4)
    outside = 3 * h * 4 + (2 * int(getattr(hf_config, "vocab_size", 0)) * 4 if head == "mlm" else 0)
    return outside, layers, per_token, h * 4


def activation_bytes(
    hf_config: Any, head: str, batch: int, length: int, precision: str, checkpointing: bool, lora_r: int = 0
) -> int:
    """The bytes autograd keeps for the backward pass of one batch, at its peak (an estimate; see
    :func:`activation_parts`). With checkpointing: every layer's input, plus the layer being
    recomputed."""
    outside, layers, layer, kept = activation_parts(hf_config, head, length, precision, lora_r)
    if checkpointing:  # a frozen embedding's output (LoRA) needs no keeping for the first layer
        return batch * length * (outside + (layers - bool(lora_r)) * kept + layer)
    return batch * length * (outside + layers * layer)
