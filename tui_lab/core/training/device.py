"""The compute device: picking it, its precision, and readings of its load.

On CUDA the readings come from NVML (utilisation, memory, temperature, power of every GPU this
process sees, matched to torch's devices by UUID so ``CUDA_VISIBLE_DEVICES`` in any form — index,
UUID or MIG — reads the right GPU) plus this process's ``torch.cuda`` memory; elsewhere from
psutil (CPU utilisation, RAM, this process's RSS). CUDA-only speed settings (TF32, bf16/fp16
autocast) are applied only where CUDA is present.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tui_lab.core.errors import ConfigError, setting_ref
from tui_lab.core.training.events import DeviceSampled

BF16_CAPABILITY = (8, 0)  # Ampere and newer run bf16 natively; older GPUs only emulate it


@dataclass(frozen=True)
class DeviceInfo:
    """Where the run computes and in which precision."""

    device: str  # "cuda:0", "cpu", "mps"
    name: str  # "NVIDIA H200", "CPU (2 cores)"
    precision: str  # resolved: fp32, bf16, fp16
    autocast_dtype: Any  # torch dtype for autocast, or None for fp32


def _device_error(message: str, field_error: str, setting: str = "train.device") -> ConfigError:
    # the message names the setting; each face renders it (a flag in the CLI, a field in the lab)
    return ConfigError(message.replace("train.device", setting_ref(setting)), {setting: field_error})


def pick_device(
    spec: str | int = "auto",
    local_rank: int = 0,
    world_size: int | None = None,
    setting: str = "train.device",
) -> str:
    """The device a process trains or predicts on, from the ``train.device`` setting.

    ``auto`` is ``cuda:<local_rank>`` when CUDA is available, else ``cpu``; ``cuda`` is
    ``cuda:<local_rank>``; ``cuda:N`` is that one GPU (only for a single process: under
    ``torchrun`` each rank uses ``cuda:<LOCAL_RANK>``). An int ``spec`` is read as the local rank
    with ``auto`` (the old signature).

    Args:
        spec: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        local_rank: this process's rank on its machine (``LOCAL_RANK``).
        world_size: processes in the job; ``WORLD_SIZE`` from the environment when ``None``.
        setting: the setting the error names (``train.device``; predict and eval read the same value).

    Raises:
        ConfigError: no CUDA, a GPU index that is not visible, or one GPU named for many ranks.
    """
    import torch

    if isinstance(spec, int):
        spec, local_rank = "auto", spec
    spec = (spec or "auto").strip().lower()
    world = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    named = _device_index(spec, setting)  # N of cuda:N, else None
    if spec == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if spec == "auto" and not available:
        return "cpu"
    if not available:
        raise _device_error(
            f"train.device {spec} asked for a GPU but torch {torch.__version__} sees no CUDA "
            f"device (CPU build, no driver, or CUDA_VISIBLE_DEVICES empty); use cpu or auto.",
            "no CUDA device visible",
            setting,
        )
    count = torch.cuda.device_count()
    index = local_rank if named is None else named
    if named is not None and world > 1:
        raise _device_error(
            f"train.device {spec} names one GPU but torchrun started {world} processes; "
            f"use auto or cuda so each rank takes cuda:<LOCAL_RANK>.",
            "one GPU for many processes",
            setting,
        )
    if index >= count:
        raise _device_error(
            f"train.device cuda:{index} is not visible: {count} CUDA GPU(s) visible "
            f"(cuda:0..cuda:{count - 1}); check CUDA_VISIBLE_DEVICES or torchrun --nproc_per_node.",
            f"{count} GPU(s) visible",
            setting,
        )
    return f"cuda:{index}"


def _device_index(spec: str, setting: str) -> int | None:
    """N of ``cuda:N`` (``None`` for auto, cpu, cuda); anything else is refused."""
    if spec in ("auto", "cpu", "cuda"):
        return None
    head, _, tail = spec.partition(":")
    if head != "cuda" or not tail.isdigit():
        raise _device_error(
            f"train.device '{spec}' is not a device; use auto, cpu, cuda or cuda:N.",
            "use auto, cpu, cuda or cuda:N",
            setting,
        )
    return int(tail)


def select_device(spec: str = "auto", local_rank: int = 0, world_size: int | None = None) -> str:
    """:func:`pick_device`, then make it this process's current CUDA device.

    Call it before anything else touches CUDA (precision, the process group, the model): a CUDA
    call made before ``torch.cuda.set_device`` opens a context on GPU 0, so every rank of a
    ``torchrun`` job would hold memory there.
    """
    device = pick_device(spec, local_rank, world_size)
    if device.startswith("cuda"):
        import torch

        torch.cuda.set_device(torch.device(device))
    return device


def bf16_native(device: str) -> bool:
    """Whether a CUDA device runs bf16 natively (compute capability 8.0 or newer)."""
    import torch

    return tuple(torch.cuda.get_device_capability(torch.device(device))) >= BF16_CAPABILITY


def cpu_bf16_instructions(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """The bf16 instructions of this CPU, read at run time: ``avx512_bf16`` (AVX-512 BF16: AMD EPYC
    Genoa and newer, Intel Cooper Lake) and ``amx_bf16`` (Intel AMX: Sapphire Rapids and newer).

    Without them oneDNN converts bf16 to fp32 around every matmul (CPU bf16 is then slower than
    fp32: ``benchmarks/cpu_bf16.py``). Linux's ``/proc/cpuinfo`` flags, else torch's own check.
    """
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
        return [name for name in CPU_BF16_FLAGS if name in flags]
    except (OSError, IndexError):
        import torch

        checks = {"avx512_bf16": "_is_avx512_bf16_supported", "amx_bf16": "_is_amx_tile_supported"}
        return [name for name, check in checks.items() if getattr(torch.cpu, check, lambda: False)()]


CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def resolve_precision(requested: str, device: str) -> DeviceInfo:
    """Turn ``auto/fp32/bf16/fp16`` into what this device can run.

    On CUDA, bf16 is decided from the device's compute capability (8.0 or newer), not from
    ``torch.cuda.is_bf16_supported()``, which counts emulation and asks the current device.
    ``auto`` is bf16 on Ampere and newer, fp16 on older GPUs and fp32 on the CPU.

    Raises:
        ConfigError: bf16 or fp16 asked for where the device lacks it.
    """
    import torch

    is_cuda = device.startswith("cuda")
    if is_cuda:
        name = torch.cuda.get_device_name(torch.device(device))
        bf16_ok = bf16_native(device)
    else:
        name = f"CPU ({os.cpu_count()} cores)"
        bf16_ok = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    precision = requested
    if requested == "auto":
        precision = ("bf16" if bf16_ok else "fp16") if is_cuda else "fp32"
    if precision == "bf16" and not bf16_ok:
        if is_cuda:
            major, minor = torch.cuda.get_device_capability(torch.device(device))
            message = (
                f"train.precision bf16 needs compute capability 8.0 or newer and {name} has "
                f"{major}.{minor}; use train.precision fp16 (or fp32)."
            )
        else:
            message = f"train.precision bf16 is not supported on {name}; use fp32."
        raise ConfigError(message, {"train.precision": "bf16 not supported here"})
    if precision == "fp16" and not is_cuda:
        raise ConfigError(
            "train.precision fp16 needs a CUDA GPU; use fp32 (or bf16) on the CPU.",
            {"train.precision": "fp16 needs a CUDA GPU"},
        )
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return DeviceInfo(device, name, precision, dtype)


def inference_autocast_dtype(device: str) -> Any:
    """The autocast dtype for prediction: bf16 on a GPU of capability 8.0 or newer, else ``None``.

    bf16 keeps fp32's range, so a classifier's argmax and probabilities stay within ~1e-2 of
    fp32 at a fraction of the time; older GPUs and the CPU predict in fp32.
    """
    if not device.startswith("cuda"):
        return None
    import torch

    try:
        return torch.bfloat16 if bf16_native(device) else None
    except Exception:
        return None


def configure_cuda_speed(device: str) -> None:
    """TF32 matmuls and cuDNN on CUDA (harmless elsewhere: only applied on CUDA)."""
    import torch

    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("high")


class DeviceMonitor:
    """Readings of the devices a run uses; never raises (a missing reading is ``None``).

    On CUDA every GPU this process sees is read (``DeviceSampled.gpus``); the summary fields are
    those of the run's own device. Each value is read on its own, so one call NVML does not
    support (utilisation of a MIG slice, power on some boards) leaves only that value empty.
    """

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.index = int(device.split(":")[1]) if device.startswith("cuda:") else 0
        self._nvml: Any = None
        self._gpus: list[tuple[int, str, Any]] = []  # (torch index, name, NVML handle or None)
        if device.startswith("cuda"):
            self._init_nvml()
        import psutil

        self._psutil = psutil
        self._process = psutil.Process()
        psutil.cpu_percent(interval=None)  # the first call only primes the counter

    def _init_nvml(self) -> None:
        try:
            import pynvml
            import torch

            pynvml.nvmlInit()
            count = torch.cuda.device_count()
        except Exception:
            return
        self._nvml = pynvml
        self._gpus = [(i, *_nvml_handle(pynvml, i)) for i in range(count)]

    def sample(self) -> DeviceSampled:
        """One reading now."""
        rss = self._process.memory_info().rss / 2**20
        if self._nvml is not None:
            return self._sample_gpus(rss)
        mem = self._psutil.virtual_memory()
        return DeviceSampled(
            device="cpu",
            utilization=self._psutil.cpu_percent(interval=None),
            memory_used_mb=(mem.total - mem.available) / 2**20,
            memory_total_mb=mem.total / 2**20,
            process_memory_mb=rss,
        )

    def _sample_gpus(self, rss: float) -> DeviceSampled:
        gpus = [read_gpu(self._nvml, index, name, handle) for index, name, handle in self._gpus]
        own = next((g for g in gpus if g["index"] == self.index), {})
        torch_mem = None
        try:
            import torch

            torch_mem = torch.cuda.memory_allocated(torch.device(self.device)) / 2**20
        except Exception:
            pass
        return DeviceSampled(
            device=self.device,
            utilization=own.get("util"),
            memory_used_mb=own.get("mem_used"),
            memory_total_mb=own.get("mem_total"),
            temperature_c=own.get("temp"),
            power_w=own.get("power"),
            process_memory_mb=torch_mem if torch_mem is not None else rss,
            gpus=gpus,
        )


def _nvml_handle(nv: Any, index: int) -> tuple[str, Any]:
    """Name and NVML handle of torch's CUDA device ``index`` (``None`` when it cannot be matched).

    torch numbers devices after ``CUDA_VISIBLE_DEVICES``, NVML does not: the device's UUID ties
    the two (``GPU-...`` for a whole GPU, ``MIG-...`` for a slice). Without a UUID, a numeric
    ``CUDA_VISIBLE_DEVICES`` is followed; any other form gives no handle rather than another GPU's.
    """
    name, uuid = f"cuda:{index}", ""
    try:
        import torch

        props = torch.cuda.get_device_properties(index)
        name, uuid = props.name, str(getattr(props, "uuid", "") or "")
    except Exception:
        pass
    if uuid:
        bare = uuid.removeprefix("GPU-").removeprefix("MIG-")
        for candidate in (uuid, f"GPU-{bare}", f"MIG-{bare}"):
            try:
                return name, nv.nvmlDeviceGetHandleByUUID(candidate)
            except Exception:
                continue
    ids = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if "CUDA_VISIBLE_DEVICES" in os.environ and not (index < len(ids) and ids[index].isdigit()):
        return name, None
    try:
        return name, nv.nvmlDeviceGetHandleByIndex(int(ids[index]) if ids else index)
    except Exception:
        return name, None


def read_gpu(nv: Any, index: int, name: str, handle: Any) -> dict[str, Any]:
    """One GPU's reading: ``index name util mem_used mem_total temp power`` (MB, °C, W; ``None``
    where NVML has no answer)."""
    out: dict[str, Any] = {"index": index, "name": name}
    if handle is None:
        return {**out, **dict.fromkeys(("util", "mem_used", "mem_total", "temp", "power"))}
    out["util"] = _try(lambda: float(nv.nvmlDeviceGetUtilizationRates(handle).gpu))
    memory = _try(lambda: nv.nvmlDeviceGetMemoryInfo(handle))
    out["mem_used"] = _try(lambda: memory.used / 2**20)
    out["mem_total"] = _try(lambda: memory.total / 2**20)
    out["temp"] = _try(lambda: float(nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU)))
    out["power"] = _try(lambda: nv.nvmlDeviceGetPowerUsage(handle) / 1000.0)
    return out


def _try(read: Any) -> Any:
    try:
        return read()
    except Exception:
        return None
