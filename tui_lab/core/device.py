"""The compute device: picking it, its precision, and readings of its load.

On CUDA the readings come from NVML (utilisation, memory, temperature, power) plus this process's
``torch.cuda`` memory; elsewhere from psutil (CPU utilisation, RAM, this process's RSS). CUDA-only
speed settings (TF32, bf16/fp16 autocast) are applied only where CUDA is present.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tui_lab.core.errors import ConfigError
from tui_lab.core.events import DeviceSampled


@dataclass(frozen=True)
class DeviceInfo:
    """Where the run computes and in which precision."""

    device: str  # "cuda:0", "cpu", "mps"
    name: str  # "NVIDIA H200", "CPU (2 cores)"
    precision: str  # resolved: fp32, bf16, fp16
    autocast_dtype: Any  # torch dtype for autocast, or None for fp32


def pick_device(local_rank: int = 0) -> str:
    """``cuda:<local_rank>`` when CUDA is available, else ``cpu``."""
    import torch

    if torch.cuda.is_available():
        return f"cuda:{local_rank % torch.cuda.device_count()}"
    return "cpu"


def resolve_precision(requested: str, device: str) -> DeviceInfo:
    """Turn ``auto/fp32/bf16/fp16`` into what this device can run.

    Raises:
        ConfigError: bf16 or fp16 asked for where the device lacks it.
    """
    import torch

    is_cuda = device.startswith("cuda")
    if is_cuda:
        name = torch.cuda.get_device_name(torch.device(device))
        bf16_ok = torch.cuda.is_bf16_supported()
    else:
        name = f"CPU ({os.cpu_count()} cores)"
        bf16_ok = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    precision = requested
    if requested == "auto":
        precision = ("bf16" if bf16_ok else "fp16") if is_cuda else "fp32"
    if precision == "bf16" and not bf16_ok:
        raise ConfigError(
            f"train.precision bf16 is not supported on {name}; use fp32{' or fp16' if is_cuda else ''}.",
            {"train.precision": "bf16 not supported here"},
        )
    if precision == "fp16" and not is_cuda:
        raise ConfigError(
            "train.precision fp16 needs a CUDA GPU; use fp32 (or bf16) on the CPU.",
            {"train.precision": "fp16 needs a CUDA GPU"},
        )
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return DeviceInfo(device, name, precision, dtype)


def configure_cuda_speed(device: str) -> None:
    """TF32 matmuls and cuDNN on CUDA (harmless elsewhere: only applied on CUDA)."""
    import torch

    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("high")


class DeviceMonitor:
    """Readings of the device a run uses; never raises (a missing reading is ``None``)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._nvml: Any = None
        self._handle: Any = None
        if device.startswith("cuda"):
            self._init_nvml(int(device.split(":")[1]) if ":" in device else 0)
        import psutil

        self._psutil = psutil
        self._process = psutil.Process()
        psutil.cpu_percent(interval=None)  # the first call only primes the counter

    def _init_nvml(self, index: int) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
            ids = [v for v in visible.split(",") if v.strip()]
            physical = int(ids[index]) if index < len(ids) and ids[index].strip().isdigit() else index
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(physical)
            self._nvml = pynvml
        except Exception:
            self._nvml = None

    def sample(self) -> DeviceSampled:
        """One reading now."""
        rss = self._process.memory_info().rss / 2**20
        if self._nvml is not None:
            return self._sample_gpu(rss)
        mem = self._psutil.virtual_memory()
        return DeviceSampled(
            device="cpu",
            utilization=self._psutil.cpu_percent(interval=None),
            memory_used_mb=(mem.total - mem.available) / 2**20,
            memory_total_mb=mem.total / 2**20,
            process_memory_mb=rss,
        )

    def _sample_gpu(self, rss: float) -> DeviceSampled:
        nv, h = self._nvml, self._handle
        util = mem_used = mem_total = temp = power = None
        try:
            util = float(nv.nvmlDeviceGetUtilizationRates(h).gpu)
            info = nv.nvmlDeviceGetMemoryInfo(h)
            mem_used, mem_total = info.used / 2**20, info.total / 2**20
            temp = float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
            power = nv.nvmlDeviceGetPowerUsage(h) / 1000.0
        except Exception:
            pass
        torch_mem = None
        try:
            import torch

            torch_mem = torch.cuda.memory_allocated(torch.device(self.device)) / 2**20
        except Exception:
            pass
        return DeviceSampled(
            device=self.device,
            utilization=util,
            memory_used_mb=mem_used,
            memory_total_mb=mem_total,
            temperature_c=temp,
            power_w=power,
            process_memory_mb=torch_mem if torch_mem is not None else rss,
        )
