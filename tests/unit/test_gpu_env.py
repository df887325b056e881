"""GPU-box behaviour proven on the CPU: device choice, precision, RNG, NVML, the process group.

``torch.cuda`` and ``pynvml`` are replaced by small fakes (monkeypatch), so each check runs here
and fails if the code asks the wrong device, the wrong NVML handle or the wrong RNG.
"""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from tui_lab.core.errors import ConfigError
from tui_lab.core.models import checkpoint
from tui_lab.core.settings import render_error
from tui_lab.core.training import device, distributed
from tui_lab.core.training.events import DeviceSampled, event_from_dict


class FakeCuda:
    """What the code asks of ``torch.cuda``, for GPUs of the given capabilities."""

    def __init__(self, caps: list[tuple[int, int]], uuids: list[str] | None = None) -> None:
        self.caps, self.uuids = caps, uuids
        self.calls: list[tuple[str, Any]] = []
        self.rng = {i: torch.full((8,), i, dtype=torch.uint8) for i in range(len(caps))}

    @staticmethod
    def _index(d: Any) -> int:
        return d.index if isinstance(d, torch.device) else int(d)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeCuda:
        c = torch.cuda
        monkeypatch.setattr(c, "is_available", lambda: bool(self.caps))
        monkeypatch.setattr(c, "is_initialized", lambda: bool(self.caps))
        monkeypatch.setattr(c, "device_count", lambda: len(self.caps))
        monkeypatch.setattr(c, "current_device", lambda: 0)
        monkeypatch.setattr(c, "get_device_capability", self.capability)
        monkeypatch.setattr(c, "get_device_name", lambda d=None: f"GPU{self._index(d)}")
        monkeypatch.setattr(c, "get_device_properties", self.properties)
        monkeypatch.setattr(c, "set_device", lambda d: self.calls.append(("set_device", self._index(d))))
        monkeypatch.setattr(c, "get_rng_state", lambda i=0: self.rng[self._index(i)].clone())
        monkeypatch.setattr(c, "set_rng_state", self.set_rng)
        monkeypatch.setattr(c, "get_rng_state_all", lambda: [self.rng[i] for i in self.rng])
        monkeypatch.setattr(c, "memory_allocated", lambda d=None: 3 * 2**20)

        def no_emulation_question(*a: Any, **k: Any) -> bool:
            raise AssertionError("is_bf16_supported counts emulation and asks GPU 0")

        monkeypatch.setattr(c, "is_bf16_supported", no_emulation_question)
        return self

    def capability(self, d: Any = None) -> tuple[int, int]:
        i = self._index(d)
        self.calls.append(("capability", i))
        return self.caps[i]

    def properties(self, d: Any) -> Any:
        i = self._index(d)
        uuid = self.uuids[i] if self.uuids else None
        ns = SimpleNamespace(
            name=f"GPU{i}", total_memory=80 * 2**30, major=self.caps[i][0], minor=self.caps[i][1]
        )
        if uuid is not None:
            ns.uuid = uuid
        return ns

    def set_rng(self, state: Any, d: Any = "cuda") -> None:
        self.calls.append(("set_rng_state", self._index(d)))
        self.rng[self._index(d)] = state


# -- device choice ---------------------------------------------------------------------------------
def test_auto_is_the_cpu_without_cuda_and_cuda_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeCuda([]).install(monkeypatch)
    assert device.pick_device("auto") == "cpu" and device.pick_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match="train.device cuda:1 asked for a GPU"):
        device.pick_device("cuda:1")


def test_each_rank_gets_its_local_gpu_and_bad_indices_name_the_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    FakeCuda([(8, 0), (8, 0)]).install(monkeypatch)
    assert device.pick_device("auto", local_rank=1, world_size=2) == "cuda:1"
    assert device.pick_device("cuda", local_rank=1, world_size=2) == "cuda:1"
    assert device.pick_device("cuda:1", world_size=1) == "cuda:1"
    assert device.pick_device(1) == "cuda:1"  # the old positional local rank
    with pytest.raises(ConfigError, match=r"train.device cuda:2 is not visible: 2 CUDA GPU") as err:
        device.pick_device("cuda:2", world_size=1)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="torchrun started 2 processes"):
        device.pick_device("cuda:0", world_size=2)
    with pytest.raises(ConfigError, match="cuda:3 is not visible"):
        device.pick_device("auto", local_rank=3, world_size=4)
    with pytest.raises(ConfigError, match="not a device"):
        device.pick_device("tpu")


def test_select_device_sets_it_before_precision_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCuda([(7, 5), (8, 0)]).install(monkeypatch)
    chosen = device.select_device("auto", local_rank=1, world_size=2)
    info = device.resolve_precision("auto", chosen)
    assert chosen == "cuda:1" and info.precision == "bf16" and info.autocast_dtype is torch.bfloat16
    assert fake.calls[:2] == [("set_device", 1), ("capability", 1)]


def test_precision_follows_compute_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeCuda([(7, 5), (9, 0)]).install(monkeypatch)
    assert device.resolve_precision("auto", "cuda:0").precision == "fp16"
    assert device.resolve_precision("auto", "cuda:1").precision == "bf16"
    assert device.resolve_precision("fp16", "cuda:1").autocast_dtype is torch.float16
    with pytest.raises(ConfigError, match=r"train.precision bf16 .* 7\.5; use train.precision fp16") as err:
        device.resolve_precision("bf16", "cuda:0")
    assert "\n" not in str(err.value) and err.value.errors == {"train.precision": "bf16 not supported here"}


def test_too_many_local_processes_for_the_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeCuda([(8, 0), (8, 0)]).install(monkeypatch)
    with pytest.raises(ConfigError, match="4 processes on this machine but only 2 CUDA GPU"):
        distributed.check_local_world("cuda:0", local_world_size=4)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    with pytest.raises(ConfigError, match="--nproc_per_node 2"):
        distributed.check_local_world("cuda:0")
    distributed.check_local_world("cuda:0", local_world_size=2)
    distributed.check_local_world("cpu", local_world_size=8)  # gloo on CPUs: any number


# -- process group ---------------------------------------------------------------------------------
def test_init_passes_the_timeout_and_the_cuda_device(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.distributed as dist

    fake = FakeCuda([(8, 0), (8, 0)]).install(monkeypatch)
    seen: list[dict[str, Any]] = []

    def spy(backend: str = "", timeout: Any = None, device_id: Any = None) -> None:
        seen.append({"backend": backend, "timeout": timeout, "device_id": device_id})

    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", spy)
    distributed.init(distributed.DistInfo(1, 1, 2), "cuda:1")
    distributed.init(distributed.DistInfo(1, 1, 2), "cpu")
    assert seen[0] == {
        "backend": "nccl",
        "timeout": distributed.PROCESS_GROUP_TIMEOUT,
        "device_id": torch.device("cuda:1"),
    }
    assert seen[1] == {"backend": "gloo", "timeout": distributed.PROCESS_GROUP_TIMEOUT, "device_id": None}
    assert ("set_device", 1) in fake.calls


def _gloo_worker(rank: int, port_file: str, out: str) -> None:
    import datetime
    import os

    import torch.distributed as dist

    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": Path(port_file).read_text()})
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": "2"})
    # not gloo's own 30 min default, so the test sees that init passes the constant
    distributed.PROCESS_GROUP_TIMEOUT = datetime.timedelta(seconds=123)
    info = distributed.DistInfo(rank, rank, 2)
    distributed.init(info, "cpu")
    flag = distributed.any_flag(info, rank == 1, "cpu")
    backend = dist.distributed_c10d._get_default_group()._get_backend(torch.device("cpu"))  # noqa: SLF001
    Path(out, f"{rank}.txt").write_text(f"{flag} {backend.options._timeout.total_seconds()}")  # noqa: SLF001
    distributed.shutdown(info)


def test_two_gloo_processes_join_with_the_timeout(tmp_path: Path) -> None:
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "port").write_text(str(port))
    mp.spawn(_gloo_worker, args=(str(tmp_path / "port"), str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        flag, seconds = (tmp_path / f"{rank}.txt").read_text().split()
        assert flag == "True" and float(seconds) == 123.0


# -- RNG -------------------------------------------------------------------------------------------
def test_only_the_training_gpus_rng_is_saved_and_restored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeCuda([(8, 0)] * 8).install(monkeypatch)
    state = checkpoint.rng_state("cuda:3")
    assert state["cuda_index"] == 3 and torch.equal(state["cuda"], fake.rng[3])
    torch.save(state, tmp_path / "rng.pt")
    # resumed with CUDA_VISIBLE_DEVICES=3: one GPU, now cuda:0
    one = FakeCuda([(8, 0)]).install(monkeypatch)
    checkpoint.set_rng_state(checkpoint.load_tensor_file(tmp_path / "rng.pt"), "cuda:0")
    assert ("set_rng_state", 0) in one.calls and torch.equal(one.rng[0], state["cuda"])


def test_old_checkpoints_with_every_gpus_rng_still_load(monkeypatch: pytest.MonkeyPatch) -> None:
    old = {
        "torch": torch.get_rng_state(),
        "python": [3, list(range(625)), None],
        "cuda": [torch.full((8,), i, dtype=torch.uint8) for i in range(8)],
    }
    import random

    old["python"] = [random.getstate()[0], list(random.getstate()[1]), None]
    one = FakeCuda([(8, 0)]).install(monkeypatch)
    checkpoint.set_rng_state(old, "cuda:0")  # 8 states, 1 GPU: no IndexError, its own index
    assert torch.equal(one.rng[0], old["cuda"][0])
    many = FakeCuda([(8, 0)] * 4).install(monkeypatch)
    short = {**old, "cuda": old["cuda"][:2]}
    with pytest.warns(UserWarning, match="no entry for cuda:3"):
        checkpoint.set_rng_state(short, "cuda:3")
    assert not any(c[0] == "set_rng_state" for c in many.calls)


def test_a_gpu_rng_is_neither_saved_nor_restored_on_a_cpu_run(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCuda([(8, 0)]).install(monkeypatch)
    assert "cuda" not in checkpoint.rng_state("cpu")
    saved = checkpoint.rng_state("cuda:0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checkpoint.set_rng_state(saved, "cpu")  # GPU -> CPU resume
    assert not any(c[0] == "set_rng_state" for c in fake.calls)
    FakeCuda([]).install(monkeypatch)
    checkpoint.set_rng_state(saved, None)  # no CUDA at all


# -- NVML ------------------------------------------------------------------------------------------
class NVMLError(Exception):
    pass


def fake_pynvml(gpus: dict[str, dict[str, Any]]) -> types.ModuleType:
    """A pynvml whose GPUs are keyed by UUID; a reading set to ``None`` raises as unsupported."""
    nv = types.ModuleType("pynvml")
    order = list(gpus)
    nv.NVML_TEMPERATURE_GPU = 0
    nv.nvmlInit = lambda: None

    def by_uuid(uuid: str) -> str:
        if uuid not in gpus:
            raise NVMLError("not found")
        return uuid

    def reading(key: str, wrap: Any = lambda v: v) -> Any:
        def read(handle: str, *args: Any) -> Any:
            value = gpus[handle][key]
            if value is None:
                raise NVMLError("Not Supported")
            return wrap(value)

        return read

    nv.nvmlDeviceGetHandleByUUID = by_uuid
    nv.nvmlDeviceGetHandleByIndex = lambda i: order[i]
    nv.nvmlDeviceGetUtilizationRates = reading("util", lambda v: SimpleNamespace(gpu=v))
    nv.nvmlDeviceGetMemoryInfo = reading("mem", lambda v: SimpleNamespace(used=v[0], total=v[1]))
    nv.nvmlDeviceGetTemperature = reading("temp")
    nv.nvmlDeviceGetPowerUsage = reading("power")
    return nv


GPUS = {
    "GPU-aaa": {"util": 11, "mem": (1 * 2**30, 80 * 2**30), "temp": 31, "power": 101_000},
    "GPU-bbb": {"util": 22, "mem": (2 * 2**30, 80 * 2**30), "temp": 32, "power": None},
    "MIG-ccc": {"util": None, "mem": (3 * 2**30, 10 * 2**30), "temp": 33, "power": 103_000},
}


def test_every_local_gpu_is_read_by_uuid_and_one_missing_value_blanks_only_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(GPUS))
    # CUDA_VISIBLE_DEVICES=GPU-bbb,MIG-ccc: torch's cuda:0 is NVML's second GPU, cuda:1 a MIG slice
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbb,MIG-ccc")
    FakeCuda([(9, 0), (8, 0)], uuids=["bbb", "ccc"]).install(monkeypatch)
    sample = device.DeviceMonitor("cuda:1").sample()
    assert [g["index"] for g in sample.gpus] == [0, 1]
    first, mig = sample.gpus
    assert (first["util"], first["temp"], first["power"], first["mem_used"]) == (22.0, 32.0, None, 2048)
    assert mig["util"] is None and mig["temp"] == 33.0 and mig["power"] == 103.0
    # the summary is the run's own device
    assert (sample.device, sample.utilization, sample.temperature_c) == ("cuda:1", None, 33.0)
    assert sample.memory_used_mb == 3072 and sample.memory_total_mb == 10240 and sample.power_w == 103.0
    assert sample.process_memory_mb == 3


def test_without_uuids_only_numeric_visible_devices_are_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(GPUS))
    FakeCuda([(8, 0)]).install(monkeypatch)  # properties without a uuid
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert device.DeviceMonitor("cuda:0").sample().utilization == 22.0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-zzz")
    sample = device.DeviceMonitor("cuda:0").sample()
    assert sample.utilization is None and sample.memory_used_mb is None  # not another GPU's reading
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert device.DeviceMonitor("cuda:0").sample().utilization == 11.0


def test_device_events_keep_old_lines_readable() -> None:
    gpus = [
        {
            "index": 0,
            "name": "H200",
            "util": 5.0,
            "mem_used": 1.0,
            "mem_total": 2.0,
            "temp": 30.0,
            "power": 1.0,
        }
    ]
    event = DeviceSampled(
        device="cuda:0", utilization=5.0, memory_used_mb=1.0, memory_total_mb=2.0, gpus=gpus
    )
    import json

    assert event_from_dict(json.loads(event.to_json())) == event
    old = {
        "event": "device",
        "time": 1.0,
        "device": "cpu",
        "utilization": 3.0,
        "memory_used_mb": 1.0,
        "memory_total_mb": 2.0,
    }
    assert event_from_dict(old).gpus == []


# -- predictor -------------------------------------------------------------------------------------
def _tiny_predictor(dev: str) -> Any:
    from tui_lab.core.deploy.predictor import Predictor, TorchBackend
    from tui_lab.core.models import presets

    tok = presets.train_wordpiece(["good film", "bad film"] * 5, vocab_size=40, max_length=16)
    model = presets.build_preset("tiny-bert", tok, ["neg", "pos"], 16)
    return Predictor(TorchBackend(model, dev), tok, ["neg", "pos"], 16)


def test_the_predictor_autocasts_bf16_only_on_ampere_and_newer(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeCuda([(7, 5), (8, 6)]).install(monkeypatch)
    assert _tiny_predictor("cuda:1").backend.autocast_dtype is torch.bfloat16
    assert _tiny_predictor("cuda:0").backend.autocast_dtype is None
    predictor = _tiny_predictor("cpu")
    assert predictor.backend.autocast_dtype is None
    used: list[dict[str, Any]] = []

    class Recorder:
        def __init__(self, **kwargs: Any) -> None:
            used.append(kwargs)

        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: Any) -> None:
            return None

    monkeypatch.setattr(torch, "autocast", Recorder)
    predictor.predict(["good"])
    assert used == []
    predictor.backend.autocast_dtype = torch.bfloat16  # as on an H200, computing on the CPU here
    assert predictor.predict(["good", "bad"])[0].label in ("neg", "pos")
    assert used == [{"device_type": "cuda", "dtype": torch.bfloat16}]


def test_the_predictor_refuses_a_gpu_that_is_not_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui_lab.cli import main
    from tui_lab.core.deploy.predictor import Predictor

    FakeCuda([]).install(monkeypatch)
    with pytest.raises(ConfigError) as refused:
        Predictor.from_path(tmp_path, "cuda:1")
    assert "--device cuda:1 asked for a GPU" in render_error(refused.value, "flag")
    assert main(["predict", str(tmp_path), "good", "--device", "cuda:1"]) == 2
    data = tmp_path / "test.csv"
    data.write_text("text,label\ngood,pos\nbad,neg\n")
    assert main(["eval", str(tmp_path), "--data", str(data), "--device", "cuda:0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("error: --device cuda:") for line in err)


# -- fp32 weights for training -----------------------------------------------------------------------
def _save_half_precision_classifier(folder: Path) -> Path:
    """A tiny BERT classifier saved in bf16, as a model shared in half precision is."""
    from transformers import BertConfig, BertForSequenceClassification

    from tests.conftest import make_rows
    from tui_lab.core.models import presets

    tok = presets.train_wordpiece([t for t, _ in make_rows(200)], vocab_size=120, max_length=64)
    cfg = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
        id2label={0: "neg", 1: "pos"},
        label2id={"neg": 0, "pos": 1},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(cfg).to(torch.bfloat16).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _weight_dtypes(folder: Path) -> set[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as fh:
        return {str(fh.get_slice(k).get_dtype()) for k in fh.keys()}  # noqa: SIM118


def test_a_half_precision_checkpoint_is_loaded_in_fp32_for_training(tmp_path: Path) -> None:
    from tui_lab.core.models import loading

    folder = _save_half_precision_classifier(tmp_path / "bf16")
    assert _weight_dtypes(folder) == {"BF16"}
    _, model = loading.load_pretrained(str(folder), ["neg", "pos"], max_length=32)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    _, again = loading.load_for_training(folder)
    assert {p.dtype for p in again.parameters()} == {torch.float32}
    _, kept = loading.load_for_training(folder, dtype="auto")
    assert {p.dtype for p in kept.parameters()} == {torch.bfloat16}


def test_fine_tuning_a_bf16_model_through_the_cli_trains_fp32_weights(
    tmp_path: Path, tiny_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from tui_lab.cli import main
    from tui_lab.core.training.events import StepLogged, read_events

    folder = _save_half_precision_classifier(tmp_path / "bf16")
    out = tmp_path / "runs"
    flags = ["--train", str(tiny_data), "--model", str(folder), "--output-dir", str(out)]
    flags += ["--run-name", "ft", "--epochs", "4", "--max-length", "32", "--batch-size", "16"]
    flags += ["--lr", "5e-3", "--no-baseline", "--patience", "0", "--logging-steps", "1", "--json"]
    assert main(["train", *flags]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert _weight_dtypes(out / "ft" / "best") == {"F32"}
    losses = [e.loss for e in read_events(out / "ft" / "events.jsonl") if isinstance(e, StepLogged)]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.1  # it learns
    assert summary["best"]["accuracy"] >= 0.8


# -- tui-lab env ------------------------------------------------------------------------------------
ENV_KEYS = {"tui_lab", "python", "torch", "cuda", "nccl", "nvml", "hf_offline", "hf_cache_models"}


def test_env_json_through_the_real_cli_without_a_gpu() -> None:
    import json
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "tui_lab", "env", "--json"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert set(facts) >= ENV_KEYS | {"transformers", "datasets", "textual", "terminal"}
    assert facts["cuda"]["available"] is False and facts["cuda"]["devices"] == []
    table = subprocess.run(
        [sys.executable, "-m", "tui_lab", "env"], capture_output=True, text=True, timeout=120
    )
    assert table.returncode == 0 and "HF_HUB_OFFLINE" in table.stdout and "NVML" in table.stdout


def _fake_hf_cache(root: Path) -> Path:
    repo = root / "models--acme--tiny-classifier"
    blob = repo / "blobs" / ("a" * 40)
    blob.parent.mkdir(parents=True)
    blob.write_text("{}")
    snap = repo / "snapshots" / ("b" * 40)
    snap.mkdir(parents=True)
    (snap / "config.json").symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("b" * 40)
    return root


def test_env_lists_mocked_gpus_and_cached_models(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import json

    from huggingface_hub import constants

    from tui_lab.cli import main

    FakeCuda([(7, 5), (9, 0)], uuids=["aaa", "bbb"]).install(monkeypatch)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda i=0: (40 * 2**30, 80 * 2**30))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(_fake_hf_cache(tmp_path / "hub")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["env", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert set(facts) >= ENV_KEYS
    assert facts["cuda"]["available"] is True and facts["hf_offline"] is True
    assert [(d["index"], d["name"], d["capability"], d["bf16"]) for d in facts["cuda"]["devices"]] == [
        (0, "GPU0", "7.5", False),
        (1, "GPU1", "9.0", True),
    ]
    assert facts["cuda"]["devices"][1]["memory_gb"] == 80.0
    assert facts["cuda"]["devices"][1]["memory_free_gb"] == 40.0
    assert [m["id"] for m in facts["hf_cache_models"]] == ["acme/tiny-classifier"]
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "cuda:1" in out and "bf16 native" in out and "no native bf16" in out
    assert "acme/tiny-classifier" in out


# -- the GPU smoke script ------------------------------------------------------------------------------
def test_the_gpu_smoke_script_only_skips_without_a_gpu() -> None:
    import os
    import subprocess

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_smoke.sh"
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 13 and all(line.startswith("SKIP ") for line in lines)
    broken = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env={**env, "PYTHON": "false"}
    )
    assert broken.returncode == 1 and broken.stdout.startswith("FAIL")


# -- bf16 on the CPU ----------------------------------------------------------------------------------
def test_the_cpus_bf16_instructions_are_read_at_run_time_and_shown_by_env(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import json

    from tui_lab.cli import main
    from tui_lab.core.training import envinfo

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16\n")
    assert device.cpu_bf16_instructions(str(cpuinfo)) == ["avx512_bf16", "amx_bf16"]
    cpuinfo.write_text(
        "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512bw avx512_vnni\n"
    )  # this workplace's Xeon
    assert device.cpu_bf16_instructions(str(cpuinfo)) == []
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)  # no /proc: torch's check
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert device.cpu_bf16_instructions(str(tmp_path / "missing")) == ["avx512_bf16"]

    monkeypatch.setattr(device, "cpu_bf16_instructions", lambda *a: ["amx_bf16"])
    assert device.resolve_precision("auto", "cpu").precision == "fp32"  # measured: docs/benchmarks.md
    monkeypatch.setattr(envinfo, "cpu_bf16_instructions", lambda *a: ["amx_bf16"])
    assert main(["env", "--json"]) == 0
    cpu = json.loads(capsys.readouterr().out)["cpu"]
    assert cpu["bf16"] == ["amx_bf16"] and cpu["cores"] >= 1 and cpu["name"]
    assert main(["env"]) == 0
    assert "amx_bf16" in capsys.readouterr().out


def test_plan_vs_peak_skips_without_a_gpu_and_takes_its_flags() -> None:
    import os
    import subprocess

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "plan_vs_peak.py"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    args = [sys.executable, str(script), "--batch-size", "4", "--max-length", "128", "--tolerance", "0.15"]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "SKIP gradient checkpointing lowers the peak (no CUDA GPU)",
        "SKIP memory plan within ±15% of the measured peak (no CUDA GPU)",
    ]
