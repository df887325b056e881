"""The facts of this machine a training run depends on, for ``tui-lab env`` and the lab's help.

Versions (tui-lab, Python, torch and its CUDA/cuDNN build, transformers, datasets, textual), the
CPU (name, cores, bf16 instructions), each CUDA device (name, compute capability, memory, native bf16), NCCL, NVML, the Hugging Face cache
and the models in it (read from disk, no network), and the optional TensorBoard and ONNX Runtime.
Each fact is gathered on its own: one that cannot be read is ``None`` and the rest still come.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

from tui_lab import __version__
from tui_lab.core import hub
from tui_lab.core.training.device import BF16_CAPABILITY, cpu_bf16_instructions


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or ``None`` when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def gather(free_memory: bool = True) -> dict[str, Any]:
    """Every fact, as one JSON-ready dict (the ``--json`` output of ``tui-lab env``).

    Args:
        free_memory: read each GPU's free memory (``torch.cuda.mem_get_info`` opens a context
            on every GPU: fine for a one-shot command, not inside the lab's process).
    """
    import torch

    return {
        "tui_lab": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "torch": torch.__version__,
        "transformers": package_version("transformers"),
        "datasets": package_version("datasets"),
        "textual": package_version("textual"),
        "cpu": cpu_facts(),
        "cuda": cuda_facts(free_memory),
        "nccl": nccl_facts(),
        "nvml": nvml_facts(),
        "hf_offline": hub.offline(),
        "hf_cache": hf_cache_dir(),
        "hf_cache_models": hf_cache_models(hf_cache_dir()),
        "tensorboard": package_version("tensorboard"),
        "onnxruntime": package_version("onnxruntime") or package_version("onnxruntime-gpu"),
    }


def cpu_facts() -> dict[str, Any]:
    """The CPU's name, its cores and its bf16 instructions (``avx512_bf16``, ``amx_bf16``)."""
    import os

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    return {"name": name, "cores": os.cpu_count(), "bf16": cpu_bf16_instructions()}


def cuda_facts(free_memory: bool = True) -> dict[str, Any]:
    """torch's CUDA build and each visible device (name, capability, memory, native bf16)."""
    import torch

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    facts: dict[str, Any] = {
        "available": False,
        "version": torch.version.cuda,
        "cudnn": cudnn,
        "devices": [],
    }
    try:
        facts["available"] = bool(torch.cuda.is_available())
        count = torch.cuda.device_count() if facts["available"] else 0
    except Exception as exc:  # a broken driver: say so rather than fail
        facts["error"] = str(exc).splitlines()[0]
        return facts
    facts["devices"] = [_cuda_device(i, free_memory) for i in range(count)]
    return facts


def _cuda_device(index: int, free_memory: bool) -> dict[str, Any]:
    import torch

    props = torch.cuda.get_device_properties(index)
    capability = (props.major, props.minor)
    free = None
    try:
        free = round(torch.cuda.mem_get_info(index)[0] / 2**30, 1) if free_memory else None
    except Exception:
        pass
    return {
        "index": index,
        "name": props.name,
        "capability": f"{props.major}.{props.minor}",
        "memory_gb": round(props.total_memory / 2**30, 1),
        "memory_free_gb": free,
        "bf16": capability >= BF16_CAPABILITY,
    }


def nccl_facts() -> dict[str, Any]:
    """Whether torch.distributed offers NCCL (multi-GPU training), and its version."""
    import torch

    facts: dict[str, Any] = {"available": False, "version": None}
    try:
        import torch.distributed as dist

        facts["available"] = bool(dist.is_available() and dist.is_nccl_available())
        if facts["available"] and torch.cuda.is_available():
            facts["version"] = ".".join(str(v) for v in torch.cuda.nccl.version())
    except Exception:
        pass
    return facts


def nvml_facts() -> dict[str, Any]:
    """Whether NVML answers (the device chart's GPU readings), with the driver version."""
    facts: dict[str, Any] = {"readable": False, "driver": None, "error": None}
    try:
        import pynvml

        pynvml.nvmlInit()
        driver = pynvml.nvmlSystemGetDriverVersion()
        facts.update(readable=True, driver=driver.decode() if isinstance(driver, bytes) else driver)
    except Exception as exc:
        facts["error"] = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return facts


def hf_cache_dir() -> str:
    """The Hugging Face hub cache folder (``HF_HUB_CACHE`` / ``HF_HOME`` respected)."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def hf_cache_models(cache_dir: str | None = None) -> list[dict[str, Any]]:
    """Models in the Hugging Face cache (``scan_cache_dir``: read from disk, no network)."""
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir(cache_dir)
    except Exception:  # no cache yet, or unreadable
        return []
    return [
        {"id": repo.repo_id, "size_mb": round(repo.size_on_disk / 2**20, 1)}
        for repo in sorted(info.repos, key=lambda r: r.repo_id)
        if repo.repo_type == "model"
    ]


def summary_lines(facts: dict[str, Any]) -> list[str]:
    """A few plain lines of the facts that matter most (the lab's help screen)."""
    cuda = facts["cuda"]
    build = f"CUDA {cuda['version']}" if cuda["version"] else "CPU build"
    lines = [
        f"tui-lab {facts['tui_lab']} · Python {facts['python']} · torch {facts['torch']} ({build}) · "
        f"transformers {facts['transformers']}"
    ]
    for d in cuda["devices"]:
        bf16 = "bf16" if d["bf16"] else "no native bf16: fp16"
        lines.append(f"cuda:{d['index']} {d['name']} · sm {d['capability']} · {d['memory_gb']} GB · {bf16}")
    if not cuda["devices"]:
        lines.append("no CUDA GPU: training runs on the CPU in fp32")
    hf = "offline" if facts["hf_offline"] else "online"
    lines.append(f"Hugging Face hub {hf} · {len(facts['hf_cache_models'])} model(s) cached")
    return lines
