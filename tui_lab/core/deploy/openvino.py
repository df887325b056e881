"""OpenVINO: an export's ONNX graph as OpenVINO IR, in fp32 and in NNCF's post-training int8.

Each is a folder of its own inside the export folder, laid out the way Optimum-Intel's
``OVModelForSequenceClassification`` reads it::

    export/openvino/openvino_model.xml, .bin        fp32 IR converted from model.onnx
                    config.json, tokenizer files
    export/openvino-int8/openvino_model.xml, .bin   int8: weights and activations quantized with
                         config.json, tokenizer files  scales calibrated on training texts (NNCF)

``tui-lab export --format openvino-int8`` writes one (``pip install 'tui-lab[openvino]'``), and
:class:`~tui_lab.core.deploy.predictor.Predictor` runs either (``serve --backend openvino``).
Measured on MiniLM-L6 (AVX-512 VNNI, one thread, ``benchmarks/int8_runtimes.py``): at batch 32
OpenVINO int8 runs 3.25x PyTorch fp32 against ONNX Runtime's dynamic int8 at 2.85x, at the
same accuracy; at batch 1 ONNX Runtime's is the quicker (p50 1.8 ms against 3.0 ms).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from tui_lab.core.errors import LabError, ModelError

OV_FILE = "openvino_model.xml"  # Optimum-Intel's name; its weights are openvino_model.bin beside it
OV_DIRS = {"openvino": "openvino", "openvino-int8": "openvino-int8"}  # format -> folder in the export
CALIBRATION_TEXTS = 300  # NNCF's calibration set: the first N training texts
INSTALL = "pip install 'tui-lab[openvino]'"


def available() -> bool:
    """Whether OpenVINO and NNCF can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("openvino", "nncf"))


def require(fmt: str) -> None:
    """Raises:
    ModelError: OpenVINO or NNCF is not installed (says how to install them)."""
    if not available():
        raise ModelError(f"--format {fmt} needs OpenVINO and NNCF, which are not installed: {INSTALL}.")


def convert(onnx_file: Path, out: Path) -> Path:
    """``out/openvino_model.xml`` (+ .bin) in fp32 from an exported ONNX graph, with the export's
    config and tokenizer files copied beside it."""
    import openvino as ov

    model = _read(onnx_file)
    out.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(out / OV_FILE), compress_to_fp16=False)  # it halves weights by default
    _copy_beside(onnx_file.parent, out)
    return out / OV_FILE


def quantize(onnx_file: Path, out: Path, texts: list[str], tokenizer: Any, max_length: int) -> Path:
    """``out/openvino_model.xml`` in int8 (NNCF's post-training quantization, transformer preset:
    weights and activations of the MatMuls, scales from ``texts`` run one by one)."""
    import nncf
    import openvino as ov

    samples = [
        dict(tokenizer([t], truncation=True, max_length=max_length, return_tensors="np")) for t in texts
    ]
    nncf.set_log_level(logging.ERROR)
    try:
        # its progress bars go to stderr with the export's other lines; stdout keeps --json clean
        with contextlib.redirect_stdout(sys.stderr):
            quantized = nncf.quantize(
                _read(onnx_file),
                nncf.Dataset(samples),
                model_type=nncf.ModelType.TRANSFORMER,
                subset_size=len(samples),
            )
    except Exception as exc:
        raise ModelError(
            f"{onnx_file} could not be quantized with NNCF: {str(exc).splitlines()[0]}."
        ) from None
    out.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out / OV_FILE), compress_to_fp16=False)
    _copy_beside(onnx_file.parent, out)
    return out / OV_FILE


def calibration_texts(path: str | Path, fallback: list[str]) -> tuple[list[str], str]:
    """NNCF's calibration texts and where they came from: a run's first training texts, else
    (a model folder, or data that cannot be read now) the texts being measured."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.data.splits import load_data
    from tui_lab.core.training.runs import CONFIG_FILE, is_run_dir

    run = Path(path).expanduser()
    if is_run_dir(run) and (run / CONFIG_FILE).is_file():
        try:
            config = LabConfig.load(run / CONFIG_FILE)
            texts = list(load_data(config.data, config.train.seed).train.texts[:CALIBRATION_TEXTS])
            return texts, f"{len(texts)} training texts"
        except (LabError, OSError):
            pass
    return list(fallback[:CALIBRATION_TEXTS]), f"{min(len(fallback), CALIBRATION_TEXTS)} measured texts"


class OpenVinoBackend:
    """The forward pass of an OpenVINO IR on the CPU: one request using ``threads`` threads."""

    name = "openvino"

    def __init__(self, xml: str | Path, threads: int | None = None, perf_count: bool = False) -> None:
        try:
            import openvino as ov
            import openvino.properties.hint as hints
        except ImportError:
            raise ModelError(
                f"{xml} is an OpenVINO model, and OpenVINO is not installed: {INSTALL}."
            ) from None
        config: dict[Any, Any] = {
            hints.performance_mode: hints.PerformanceMode.LATENCY,  # one stream: every thread on a call
            hints.inference_precision: ov.Type.f32,  # no bf16 downcast on CPUs that have it: the export's numbers
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        if perf_count:  # per-node timings for a profile (benchmarks/int8_runtimes.py --profile)
            config["PERF_COUNT"] = True
        try:
            self.compiled = ov.Core().compile_model(str(xml), "CPU", config)
        except Exception as exc:
            raise ModelError(f"{xml} is not a loadable OpenVINO model: {str(exc).splitlines()[0]}.") from None
        self.path = Path(xml)
        self.input_names = {i.get_any_name() for i in self.compiled.inputs}

    def logits(self, enc: dict[str, Any]) -> Any:
        """Logits (numpy, float32) of a tokenised batch given as numpy arrays."""
        import numpy as np

        feed = {k: v.astype(np.int64) for k, v in enc.items() if k in self.input_names}
        return self.compiled(feed)[0]


def _read(onnx_file: Path) -> Any:
    import openvino as ov

    try:
        return ov.convert_model(str(onnx_file))
    except Exception as exc:
        raise ModelError(
            f"{onnx_file} could not be converted to OpenVINO: {str(exc).splitlines()[0]}."
        ) from None


def _copy_beside(export: Path, out: Path) -> None:
    """The export's config.json and tokenizer files (everything but the graphs) into ``out``."""
    for f in export.iterdir():
        if f.is_file() and f.suffix in (".json", ".txt", ".model") and not f.name.startswith("export_report"):
            shutil.copy2(f, out / f.name)
