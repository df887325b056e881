"""Serving a trained classifier: labels and per-class probabilities for a batch of texts.

This is the one inference path: the console, ``predict``, ``eval``, ``export``'s checks and the
HTTP server all call :class:`Predictor`, whatever runs the forward pass — PyTorch on a
checkpoint folder, ONNX Runtime or OpenVINO on a folder written by ``tui-lab export``.
The saved model's task (from ``problem_type`` in its ``config.json``) turns logits into
probabilities and a prediction: the arg-max class, or every label over a multi-label model's
saved threshold.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from tui_lab.core.errors import ModelError
from tui_lab.core.models import adapters, checkpoint
from tui_lab.core.models.decoders import pad_right
from tui_lab.core.models.heads import auto_class, head_of
from tui_lab.core.models.loading import check_classifier, check_weights, first_line_of, load_tokenizer
from tui_lab.core.tasks import ClassifyTask, task_for_model
from tui_lab.core.tasks.predictions import Prediction
from tui_lab.core.training.device import inference_autocast_dtype, pick_device

BACKENDS = ("auto", "pytorch", "onnx", "openvino")
ONNX_FILE = "model.onnx"
OV_FILE = "openvino_model.xml"  # an OpenVINO IR (core/deploy/openvino.py), Optimum-Intel's name
EXPORT_DIR = "export"  # a run's default export folder: runs/<name>/export/
TEMPERATURE_KEY = "tui_lab_temperature"  # written by analyze --calibrate into best/config.json
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")


def resolve_model_dir(path: str | Path) -> Path:
    """The model folder behind a run folder (its ``best/``, else ``last/``) or a model folder.

    Raises:
        ModelError: nothing loadable there.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelError(f"{p} does not exist; give a run folder or a model folder.")
    if not p.is_dir():
        raise ModelError(f"{p} is a file; give a run folder or a model folder (with config.json).")
    for candidate in (p / "best", p / "last", p):
        found = checkpoint.resolve(candidate)
        if found is not None:
            return found
    raise ModelError(
        f"{p} holds no model yet (no best/, last/ or config.json); train one with tui-lab train."
    )


def load_for_inference(folder: Path, config: Any, trust_remote_code: bool = False, **kwargs: Any) -> Any:
    """The model of a checkpoint folder for inference: a LoRA run's with its adapter merged into
    the base (``merge_and_unload``), any other as saved. Every face that runs or exports a
    checkpoint loads it here; ``kwargs`` go to ``from_pretrained``."""
    model_class = auto_class(head_of(config))
    kwargs["trust_remote_code"] = trust_remote_code
    if adapters.is_adapter_dir(folder):
        return adapters.load_merged(folder, model_class, config, **kwargs)
    return model_class.from_pretrained(folder, use_safetensors=True, **kwargs)


def find_onnx(path: str | Path) -> Path | None:
    """The ONNX file behind a path: the file itself, a folder's ``model.onnx`` (else its only
    ``*.onnx``), or a run folder's ``export/model.onnx``; None when there is none."""
    p = Path(path).expanduser()
    if p.is_file() and p.suffix == ".onnx":
        return p
    for folder in (p, p / EXPORT_DIR):
        if (folder / ONNX_FILE).is_file():
            return folder / ONNX_FILE
        found = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
        if len(found) == 1:
            return found[0]
    return None


def find_openvino(path: str | Path) -> Path | None:
    """The OpenVINO IR behind a path: the ``.xml`` itself, a folder's ``openvino_model.xml``, or
    (fp32 first) the ``openvino/`` or ``openvino-int8/`` folder of an export or a run's export."""
    p = Path(path).expanduser()
    if p.is_file() and p.suffix == ".xml":
        return p
    for folder in (
        p,
        p / "openvino",
        p / "openvino-int8",
        p / EXPORT_DIR / "openvino",
        p / EXPORT_DIR / "openvino-int8",
    ):
        if (folder / OV_FILE).is_file():
            return folder / OV_FILE
    return None


class TorchBackend:
    """The forward pass of a transformers model in PyTorch."""

    name = "pytorch"

    def __init__(self, model: Any, device: str = "cpu") -> None:
        import inspect

        self.model = model.eval()
        self.device = device
        self.input_names = set(inspect.signature(model.forward).parameters)
        # bf16 autocast on Ampere+ GPUs (capability >= 8.0) on purpose: same labels, far faster
        self.autocast_dtype = inference_autocast_dtype(device)

    def logits(self, enc: dict[str, Any]) -> Any:
        """Logits (numpy, float32) of a tokenised batch given as numpy arrays."""
        import torch

        batch = {k: torch.from_numpy(v).to(self.device) for k, v in enc.items() if k in self.input_names}
        dtype = self.autocast_dtype
        with (
            torch.inference_mode(),
            torch.autocast(device_type="cuda", dtype=dtype) if dtype is not None else nullcontext(),
        ):
            return self.model(**batch).logits.float().cpu().numpy()


class OrtBackend:
    """The forward pass of an exported model in ONNX Runtime (CPU)."""

    name = "onnx"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # every fusion ONNX Runtime knows (LayerNorm, GELU, bias, quantized MatMul), at load time
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle threads sleep instead of spinning: a shared CPU (or a PyTorch model measured in the
        # same process) keeps its cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.path = Path(path)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"{path} is not a loadable ONNX model: {first_line_of(exc)}.") from None
        self.input_names = {i.name for i in self.session.get_inputs()}

    def logits(self, enc: dict[str, Any]) -> Any:
        """Logits (numpy, float32) of a tokenised batch given as numpy arrays."""
        import numpy as np

        feed = {k: v.astype(np.int64) for k, v in enc.items() if k in self.input_names}
        return self.session.run(None, feed)[0]


class Predictor:
    """A loaded classifier. Thread-safe for concurrent ``predict`` calls (both backends).

    Attributes:
        labels: class names in id order.
        max_length: the longest input in tokens; longer texts are truncated.
        backend: the forward pass (``backend.name``: ``"pytorch"``, ``"onnx"`` or ``"openvino"``).
        multi_label: scores are independent sigmoids rather than a softmax.
        temperature: logits are divided by it before the softmax in :meth:`predict` (fitted on dev
            by ``tui-lab analyze --calibrate``, saved as ``tui_lab_temperature``; 1.0: none).
        source: the folder (or ONNX file) the model was loaded from.
    """

    def __init__(
        self,
        backend: Any,
        tokenizer: Any,
        labels: list[str],
        max_length: int = 512,
        source: str = "",
        multi_label: bool = False,
        task: Any = None,
        temperature: float = 1.0,
    ) -> None:

        # the task decodes: softmax + arg-max, or sigmoid + the saved threshold
        self.task = task or ClassifyTask(labels)
        self.backend = backend
        self.tokenizer = tokenizer
        self.labels = labels
        self.max_length = max_length
        self.source = source
        self.multi_label = multi_label
        self.temperature = temperature
        # a fast tokenizer is not re-entrant when its truncation/padding settings change between
        # calls ("Already borrowed"): the server counts tokens while a forward pass encodes
        self._tokenizer_lock = threading.Lock()
        self._counter: Any = None  # a copy of the tokenizer for token_counts, so it never waits on encode
        self._counter_lock = threading.Lock()

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        device: str | None = None,
        trust_remote_code: bool = False,
        backend: str = "auto",
        threads: int | None = None,
    ) -> Predictor:
        """Load from a run folder, a Hugging Face model folder or an export folder.

        Args:
            path: a run folder, a model folder, an export folder or an ``.onnx`` file.
            device: torch device for the PyTorch backend (default: the best available).
            trust_remote_code: allow a hub model's own code (PyTorch backend only).
            backend: ``pytorch``, ``onnx``, ``openvino``, or ``auto`` (ONNX Runtime for an export
                folder or an ``.onnx`` file, OpenVINO for an IR's folder or ``.xml``, PyTorch
                otherwise).
            threads: intra-op threads for ONNX Runtime or OpenVINO (default: their own choice).

        Raises:
            ModelError: not a classifier, a missing export or tokenizer, or unloadable weights.
        """
        if backend not in BACKENDS:
            raise ModelError(f"backend must be one of {', '.join(BACKENDS)}, got '{backend}'.")
        p = Path(path).expanduser()
        if not p.exists():
            raise ModelError(f"{p} does not exist; give a run folder, a model folder or an export folder.")
        ir = find_openvino(p) if backend in ("auto", "openvino") else None
        if backend == "openvino" or (
            backend == "auto" and ir is not None and (p.is_file() or ir.parent == p)
        ):
            if ir is None:
                raise ModelError(
                    f"{p} has no OpenVINO model; export one first with tui-lab export {p} --format openvino."
                )
            return cls._from_export(ir, threads)
        onnx_file = find_onnx(p) if backend != "pytorch" else None
        direct = onnx_file is not None and (p.is_file() or onnx_file.parent == p)
        if backend == "onnx" or (backend == "auto" and direct):
            if onnx_file is None:
                raise ModelError(f"{p} has no ONNX model; export one first with tui-lab export {p}.")
            return cls._from_export(onnx_file, threads)
        return cls._from_checkpoint(p, device, trust_remote_code)

    @classmethod
    def _from_checkpoint(cls, path: Path, device: str | None, trust_remote_code: bool) -> Predictor:

        device = pick_device(device or "auto", 0, world_size=1)  # a GPU that is not there: say so first
        folder = resolve_model_dir(path)
        config, tokenizer = _config_and_tokenizer(folder, trust_remote_code)
        check_weights(folder)
        try:
            model = load_for_inference(folder, config, trust_remote_code)
        except Exception as exc:
            raise ModelError(
                f"{folder} weights could not be loaded (only safetensors are read): {first_line_of(exc)}."
            ) from None
        return cls._build(TorchBackend(model.to(device), device), config, tokenizer, str(folder))

    @classmethod
    def _from_export(cls, onnx_file: Path, threads: int | None) -> Predictor:
        """An exported graph (``.onnx`` in ONNX Runtime, ``.xml`` in OpenVINO) with the config
        and tokenizer files beside it."""
        folder = onnx_file.parent
        if not (folder / "config.json").is_file():
            raise ModelError(
                f"{folder} has no config.json beside {onnx_file.name}; re-export it with tui-lab export."
            )
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise ModelError(
                f"{folder} has no tokenizer files (tokenizer.json); re-export it with tui-lab export."
            )
        config, tokenizer = _config_and_tokenizer(folder, False)
        if onnx_file.suffix == ".xml":
            from tui_lab.core.deploy.openvino import OpenVinoBackend

            backend: Any = OpenVinoBackend(onnx_file, threads)
        else:
            backend = OrtBackend(onnx_file, threads)
        return cls._build(backend, config, tokenizer, str(onnx_file))

    @classmethod
    def _build(cls, backend: Any, config: Any, tokenizer: Any, source: str) -> Predictor:

        labels = check_classifier(source, config)
        max_length = min(
            getattr(config, "max_position_embeddings", 512) or 512,
            int(getattr(tokenizer, "model_max_length", 512) or 512),
            8192,
        )

        task = task_for_model(config)
        temperature = 1.0 if task.multilabel else float(getattr(config, TEMPERATURE_KEY, 1.0) or 1.0)
        return cls(backend, tokenizer, labels, max_length, source, task.multilabel, task, temperature)

    def encode(self, texts: list[str]) -> dict[str, Any]:
        """The tokenised batch (numpy arrays), padded to its longest text, truncated to max_length."""
        with self._tokenizer_lock:
            return dict(
                self.tokenizer(
                    texts, truncation=True, padding=True, max_length=self.max_length, return_tensors="np"
                )
            )

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens per text with special tokens, before truncation."""
        import copy

        with self._counter_lock:
            if self._counter is None:
                self._counter = copy.deepcopy(self.tokenizer)
            encoded = self._counter(texts, truncation=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def logits(
        self, texts: list[str], batch_size: int = 64, progress: Callable[[int], None] | None = None
    ) -> Any:
        """Raw scores, a numpy array of shape (len(texts), len(labels)), in the texts' order.

        Texts are batched by length so little padding is computed. ``progress`` is told how many
        texts are scored after each batch.
        """
        import numpy as np

        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            ids = order[start : start + batch_size]
            out[ids] = self.backend.logits(self.encode([texts[i] for i in ids]))
            if progress is not None:
                progress(start + len(ids))
        return out

    def scores(self, logits: Any, function: str | None = None) -> Any:
        """Logits turned into scores: ``softmax``, ``sigmoid`` or ``none`` (default: sigmoid for a
        multi-label model, softmax otherwise — what transformers' pipeline does)."""
        import numpy as np

        function = function or ("sigmoid" if self.multi_label or len(self.labels) == 1 else "softmax")
        if function == "sigmoid":
            return 1.0 / (1.0 + np.exp(-logits))
        if function == "softmax":
            shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
            return shifted / shifted.sum(axis=-1, keepdims=True)
        return logits

    def predict(self, texts: list[str], batch_size: int = 64) -> list[Prediction]:
        """Label and probabilities for each text (empty texts are allowed; a saved temperature
        scales a classifier's logits first); a NER model's entity spans
        (:class:`~tui_lab.core.tasks.entities.EntityPrediction`)."""
        return self.task.predict(self, texts, batch_size)


def _config_and_tokenizer(folder: Path, trust_remote_code: bool) -> tuple[Any, Any]:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(folder, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ModelError(f"{folder}/config.json is unreadable: {first_line_of(exc)}.") from None

    check_classifier(str(folder), config)
    tokenizer = load_tokenizer(str(folder), trust_remote_code)
    pad_right(tokenizer, config)
    return config, tokenizer
