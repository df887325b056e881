"""Taking a trained classifier out: ONNX export, int8 quantization and the trade-off table.

An export folder is self-contained and laid out the way Optimum's
``ORTModelForSequenceClassification`` reads it::

    export/model.onnx             fp32 graph, dynamic batch and sequence axes
           model_quantized.onnx   int8 weights per channel, activations quantized at run time
           config.json            id2label / label2id
           tokenizer files
           export_report.json     the trade-off table (size, accuracy, latency, throughput)
           openvino/, openvino-int8/   with --format openvino[-int8]: OpenVINO IR folders
                                       (Optimum-Intel's layout; core/deploy/openvino.py)

The graph is traced with the TorchScript exporter (``dynamo=False``) from the model loaded with
eager attention: on torch 2.13 it exports BERT-family models in a fraction of a second without
``onnxscript``, and ONNX Runtime fuses its graph (LayerNorm, GELU, bias) when it loads it.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tui_lab.core.atomic import write_text_atomically
from tui_lab.core.deploy import openvino
from tui_lab.core.deploy.benchmark import measure_variants
from tui_lab.core.deploy.eval_file import eval_split
from tui_lab.core.deploy.export_tokens import ACCURACY_SKIPPED, TokenLogits, token_texts
from tui_lab.core.deploy.predictor import (
    ONNX_FILE,
    Predictor,
    find_onnx,
    load_for_inference,
    resolve_model_dir,
)
from tui_lab.core.errors import DataError, ModelError
from tui_lab.core.models.loading import check_classifier, check_weights
from tui_lab.core.tasks import task_for_model
from tui_lab.core.training.runs import is_run_dir

INT8_FILE = "model_quantized.onnx"
REPORT_FILE = "export_report.json"
FORMATS = ("onnx", "onnx-int8", "openvino", "openvino-int8", "all")  # --format: one, or a comma list
ALL = ("onnx", "onnx-int8")  # what "all" means: ONNX Runtime's (OpenVINO's are asked for by name)
OPSET = 17
FP32_TOLERANCE = 1e-4
MULTILABEL_SKIPPED = (
    "a multi-label model's scores are measured by tui-lab eval; max |Δ logit| and int8 agreement "
    "on the top label stand in"
)


def default_out(path: str | Path) -> Path:
    """``<run>/export`` for a run folder, ``<model>-export`` beside a model folder."""

    p = Path(path).expanduser()
    return p / "export" if is_run_dir(p) else p.with_name(f"{p.name}-export")


def export_onnx(model_dir: Path, out: Path) -> Path:
    """Write ``out/model.onnx`` with config.json and tokenizer files beside it.

    Raises:
        ModelError: the model cannot be traced.
    """
    import torch
    from transformers import AutoTokenizer

    # a LoRA run's adapter is merged into its base here (merge_and_unload): the graph is the merged model
    model = load_for_inference(model_dir, reference_config(model_dir), attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    sample = tokenizer(["a short text", "a second, slightly longer text"], padding=True, return_tensors="pt")
    import inspect

    # positional inputs must follow forward()'s order (input_ids, attention_mask, token_type_ids)
    names = [n for n in inspect.signature(model.forward).parameters if n in sample]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    # a token classifier answers (batch, sequence, labels), a text classifier (batch, labels)
    axes["logits"] = axes[names[0]] if is_token_classifier(model.config) else {0: "batch"}
    out.mkdir(parents=True, exist_ok=True)
    target = out / ONNX_FILE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about Python control flow in the model
            torch.onnx.export(
                model,
                tuple(sample[n] for n in names),
                str(target),
                input_names=names,
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as exc:
        raise ModelError(f"{model_dir} could not be exported to ONNX: {str(exc).splitlines()[0]}.") from None
    model.config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return target


def quantize_int8(onnx_file: Path, target: Path) -> Path:
    """Quantize the traced graph's weights to int8, one scale per output channel.

    Only MatMuls with a constant weight are quantized (activations at run time, per batch); the
    attention score products stay fp32. ONNX Runtime fuses the quantized MatMuls with their bias,
    LayerNorm and GELU when it loads the model. Fusing first with ``onnxruntime.transformers``
    (Attention -> QAttention) was measured 15-20% slower here on MiniLM and tiny-bert alike.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic's "consider pre-processing" warning
    try:
        quantize_dynamic(
            str(onnx_file),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True},
        )
    finally:
        root.setLevel(level)
    return target


def formats(fmt: str) -> tuple[str, ...]:
    """The variants a ``--format`` asks for, in table order: ``all`` is ONNX fp32 and int8, a
    comma list names several (``onnx-int8,openvino-int8``).

    Raises:
        ModelError: a name that is not a format.
    """
    names = {n.strip() for n in fmt.split(",") if n.strip()}
    unknown = sorted(names - set(FORMATS))
    if unknown or not names:
        raise ModelError(
            f"--format must be one of {', '.join(FORMATS)} (or a comma list of them), got '{fmt}'."
        )
    names = (names - {"all"}) | (set(ALL) if "all" in names else set())
    return tuple(n for n in FORMATS if n in names)


def file_size_mb(path: Path) -> float:
    """Size of a file (an OpenVINO ``.xml`` with its ``.bin``), or of every weight file in a
    folder, in MB."""
    if path.suffix == ".xml":
        return round((path.stat().st_size + path.with_suffix(".bin").stat().st_size) / 1e6, 3)
    files = [path] if path.is_file() else [f for f in path.iterdir() if f.suffix in (".safetensors", ".bin")]
    return round(sum(f.stat().st_size for f in files) / 1e6, 3)


def max_logit_diff(a: Predictor, b: Predictor, texts: list[str]) -> float:
    """Largest absolute difference of the two predictors' logits on ``texts``."""
    import numpy as np

    return float(np.abs(a.logits(texts) - b.logits(texts)).max())


def agreement(a: Predictor, b: Predictor, texts: list[str]) -> float:
    """Fraction of texts on which both predictors choose the same label."""
    la, lb = a.logits(texts).argmax(-1), b.logits(texts).argmax(-1)
    return float((la == lb).mean())


def model_variants(
    model_dir: Path,
    folder: Path,
    build: bool,
    fmt: str,
    load: Callable,
    threads: int,
    texts: list[str],
    log: Callable[[str], None] = lambda _: None,
    shown: Path | None = None,
    calibration: list[str] | None = None,
) -> tuple[dict[str, tuple[Any, Path]], dict[str, float]]:
    """One model's variants (name -> (predictor, weights path)) and their checks (max |Δ logit|
    ONNX and OpenVINO fp32 vs PyTorch, int8 agreement with ONNX fp32), exporting to ``folder``
    when ``build``, else reading it. ``log`` gets a line per file built, naming it in ``shown``
    (where ``folder`` will end up); NNCF calibrates on ``calibration`` (default: ``texts``)."""
    where = shown or folder
    wanted = formats(fmt)
    if any(n.startswith("openvino") for n in wanted) and load != Predictor.from_path:
        raise ModelError("--format openvino is for text classifiers; export a NER model with --format onnx.")
    reference = load(model_dir, device="cpu", backend="pytorch")
    if build:
        log(f"exporting {model_dir} to {where}/{ONNX_FILE}")
    onnx_file = export_onnx(model_dir, folder) if build else folder / ONNX_FILE
    fp32 = load(onnx_file, threads=threads)
    checks = {"onnx_max_abs_logit_diff": max_logit_diff(reference, fp32, texts)}
    variants: dict[str, tuple[Any, Path]] = {"pytorch": (reference, model_dir)}
    if "onnx" in wanted:
        variants["onnx"] = (fp32, onnx_file)
    if "onnx-int8" in wanted:
        if build:
            log(f"quantizing to {where}/{INT8_FILE}")
        int8_file = quantize_int8(onnx_file, folder / INT8_FILE) if build else folder / INT8_FILE
        int8 = load(int8_file, threads=threads)
        checks["int8_agreement"] = agreement(fp32, int8, texts)
        variants["onnx-int8"] = (int8, int8_file)
    for name in (n for n in wanted if n.startswith("openvino")):
        sub = folder / openvino.OV_DIRS[name]
        if build and name == "openvino":
            log(f"converting to OpenVINO in {where}/{sub.name}/{openvino.OV_FILE}")
            openvino.convert(onnx_file, sub)
        elif build:
            calib = calibration if calibration is not None else texts[: openvino.CALIBRATION_TEXTS]
            log(
                f"quantizing with NNCF ({len(calib)} calibration texts) to {where}/{sub.name}/{openvino.OV_FILE}"
            )
            openvino.quantize(onnx_file, sub, calib, fp32.tokenizer, fp32.max_length)
        model = load(sub / openvino.OV_FILE, threads=threads)
        if name == "openvino":
            checks["openvino_max_abs_logit_diff"] = max_logit_diff(reference, model, texts)
        else:
            checks["openvino_int8_agreement"] = agreement(fp32, model, texts)
        variants[name] = (model, sub / openvino.OV_FILE)
    return variants, checks


def export(
    path: str | Path,
    fmt: str = "all",
    out: str | Path | None = None,
    data: str | None = None,
    log: Callable[[str], None] = lambda _: None,
    rounds: int = 5,
    threads: int | None = None,
) -> dict[str, Any]:
    """Export a run or model folder and measure every variant side by side.

    Args:
        path: a run folder (its best/) or a model folder.
        fmt: ``onnx``, ``onnx-int8``, ``openvino``, ``openvino-int8``, ``all`` (ONNX fp32 and
            int8) or a comma list of them.
        out: the export folder (default: :func:`default_out`).
        data: labelled data to measure on (default: the run's dev split).
        log: called with one line per stage.
        rounds: interleaved timing rounds (each: 20 batch-1 calls, 128 texts at batch 32).
        threads: intra-op threads for PyTorch and ONNX Runtime alike (default: torch's own count).

    Returns:
        The report also saved as ``out/export_report.json``: ``out``, ``threads``, ``n``,
        ``onnx_max_abs_logit_diff``, ``int8_agreement`` and ``variants`` (one dict each with
        ``name``, ``path``, ``size_mb``, ``accuracy``, ``f1_macro``, ``latency_ms_p50``,
        ``latency_ms_p95``, ``throughput_sps``, ``accuracy_delta``, ``f1_macro_delta``).

    Everything is written to a temporary folder beside ``out`` that takes its place at the end,
    so a failed or interrupted export leaves nothing behind and an earlier export intact. Files
    the user added to an earlier export are kept; ``files`` in the report names export's own.

    Raises:
        ModelError: a pretrain or non-classifier run, no best/ checkpoint, an export folder that
            is a file, inside the model folder, holds other files or cannot be written, or a
            failed export.
        DataError: ``data`` cannot be read, or has labels the model does not know.
    """
    _check_request(path, fmt, rounds)
    model_dir = resolve_model_dir(path)
    target = Path(out).expanduser() if out else default_out(path)
    check_out(target, model_dir)
    load, texts, gold, note = _references(path, model_dir, data)
    check_weights(model_dir)
    with _staged(target) as tmp:
        threads = set_threads(threads)
        calibration = nncf_calibration(fmt, path, texts, log)
        variants, checks = model_variants(
            model_dir, tmp, True, fmt, load, threads, texts, log, target, calibration
        )
        report: dict[str, Any] = {"out": str(target), "threads": threads, "n": len(texts)}
        report |= {"accuracy_skipped": note} if note else {}
        report["compared"] = "tokens" if note == ACCURACY_SKIPPED else "texts"
        report |= checks
        log(f"measuring {', '.join(variants)} on {len(texts)} texts with {threads} thread(s)")
        report["variants"] = measure_variants(variants, texts, gold, file_size_mb, rounds)
        for variant in report["variants"]:
            variant["path"] = final_path(variant["path"], tmp, target)
        save_report(tmp, report)
    return report


def save_report(folder: Path, report: dict[str, Any]) -> None:
    """Write ``report`` into the export ``folder`` with ``files``: the names export wrote there
    (a later export replaces those and keeps what the user added)."""
    report["files"] = sorted([p.name for p in folder.iterdir()] + [REPORT_FILE])
    write_text_atomically(folder / REPORT_FILE, json.dumps(report, indent=2) + "\n")


def set_threads(threads: int | None) -> int:
    """Give torch ``threads`` intra-op threads (None: keep its count); the count in force."""
    import torch

    torch.set_num_threads(threads or torch.get_num_threads())
    return torch.get_num_threads()


def nncf_calibration(
    fmt: str, path: str | Path, texts: list[str], log: Callable[[str], None]
) -> list[str] | None:
    """The texts NNCF calibrates OpenVINO int8 on, when ``fmt`` asks for it (said in ``log``):
    the run's first training texts, else the measured ones."""
    if "openvino-int8" not in formats(fmt):
        return None
    calibration, where = openvino.calibration_texts(path, texts)
    log(f"NNCF calibrates on {where}")
    return calibration


def final_path(path: str | Path, tmp: Path, target: Path) -> str:
    """Where a file written in the staged folder ``tmp`` will be once it takes ``target``'s place."""
    p = Path(path)
    return str(target / p.relative_to(tmp)) if tmp in p.parents else str(p)


def is_export(folder: Path) -> bool:
    """Whether a folder is an earlier export (``model.onnx`` with ``config.json`` beside it)."""
    return (folder / ONNX_FILE).is_file() and (folder / "config.json").is_file()


def check_out(target: Path, model_dir: Path) -> None:
    """Refuse an export folder that would overwrite or mix with what the user has: a file, a
    folder inside the model folder, or a folder with other files (an earlier export is replaced,
    keeping the files the user added to it: :func:`keep_user_files`).

    Raises:
        ModelError: the folder cannot be used; the message says which folder to give instead.
    """
    if target.exists() and not target.is_dir():
        raise ModelError(
            f"{target} is a file; give --out a folder (a new one, or an earlier export to replace)."
        )
    above = next((p for p in target.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise ModelError(
            f"{above} is a file, so the export folder {target} cannot be made; give --out a folder."
        )
    where, model = target.resolve(), model_dir.resolve()
    if where == model or model in where.parents:
        place = "is the model folder" if where == model else f"is inside the model folder {model_dir}"
        raise ModelError(
            f"{target} {place}; give --out a folder outside it (by default a run exports to RUN_DIR/export)."
        )
    if target.is_dir() and any(target.iterdir()) and not is_export(target):
        raise ModelError(
            f"{target} already holds other files; give --out a new or empty folder "
            f"(or an earlier export: its files are replaced, files you added are kept)."
        )


def _written_by_export(folder: Path) -> set[str]:
    """The names in an earlier export folder that export wrote: those its report lists, or (for an
    export older than that list) those named as export names them."""
    try:
        files = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        files = None
    if isinstance(files, list):
        return {str(name) for name in files} | {REPORT_FILE}
    return {
        p.name
        for p in folder.iterdir()
        if p.suffix == ".onnx"
        or p.name.startswith(("openvino", "tokenizer"))
        or p.name in {"config.json", REPORT_FILE, "teacher", "vocab.txt", "special_tokens_map.json"}
    }


def keep_user_files(target: Path, tmp: Path) -> None:
    """Copy what the user added to an earlier export in ``target`` into its replacement ``tmp``.

    Only export's own files are replaced; a notes file or a Dockerfile the user put beside them
    stays. They are copied (not moved), so ``target`` is whole until ``tmp`` takes its place.
    """
    if not target.is_dir():
        return
    ours = _written_by_export(target) | {p.name for p in tmp.iterdir()}
    for entry in sorted(target.iterdir()):
        if entry.name not in ours:
            copy = shutil.copytree if entry.is_dir() and not entry.is_symlink() else shutil.copy2
            copy(entry, tmp / entry.name)


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target`` that takes its place when the block ends well.

    When the block fails (or is interrupted), the temporary folder and any parent folders made
    for it are removed and ``target`` is left as it was.

    Raises:
        ModelError: the folder cannot be written (permissions, a read-only or full disk).
    """
    created = [p for p in (target.parent, *target.parent.parents) if not p.exists()]  # made by mkdir
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        try:
            tmp.mkdir(parents=True)
            yield tmp
            keep_user_files(target, tmp)
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            if target.exists():
                target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ModelError(
                f"could not write the export folder {target} ({reason}); give --out a folder "
                f"you can write to, on a disk with room."
            ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            shutil.rmtree(created[-1], ignore_errors=True)
        raise


def _references(path: str | Path, model_dir: Path, data: str | None) -> tuple[Callable, list[str], Any, str]:
    """How to load each variant, the texts to measure on, their gold labels (None: accuracy is
    skipped) and why it is skipped: text classifiers use :class:`Predictor` and the dev split
    (a multi-label one its texts alone), token classifiers
    :class:`~tui_lab.core.deploy.export_tokens.TokenLogits` and the texts alone.

    Raises:
        ModelError: not a classifier (a pretraining run, a base model).
        DataError: the data cannot be read, or has labels the model does not know.
    """
    config = reference_config(model_dir)
    if is_token_classifier(config):
        return TokenLogits.from_path, token_texts(path, data), None, ACCURACY_SKIPPED
    labels = check_classifier(str(model_dir), config)
    if task_for_model(config).multilabel:
        return Predictor.from_path, eval_split(path, data, multilabel=True)[0], None, MULTILABEL_SKIPPED
    texts, gold = eval_split(path, data)
    unknown = sorted(set(gold) - set(labels))
    if unknown:
        raise DataError(
            f"{data or path} has labels the model does not know ({', '.join(unknown[:5])}; "
            f"the model has: {', '.join(labels)})."
        )
    return Predictor.from_path, texts, gold, ""


def _check_request(path: str | Path, fmt: str, rounds: int) -> None:
    """Refuse bad export options, and an export folder given as the thing to export."""
    if rounds < 1:
        raise ModelError(f"--rounds must be at least 1, got {rounds}.")
    for name in formats(fmt):
        if name.startswith("openvino"):
            openvino.require(name)
    if find_onnx(path) is not None and Path(path, "config.json").is_file():
        raise ModelError(f"{path} is already an export; give the run or model folder it came from.")


def is_token_classifier(config: Any) -> bool:
    """True for a saved ``*ForTokenClassification`` model (one label per token)."""
    return any(a.endswith("ForTokenClassification") for a in getattr(config, "architectures", None) or [])


def auto_class(config: Any) -> Any:
    """The transformers auto class that loads a checkpoint with its own head."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    return (
        AutoModelForTokenClassification if is_token_classifier(config) else AutoModelForSequenceClassification
    )


def reference_config(model_dir: Path) -> Any:
    """The transformers config of a checkpoint folder."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(model_dir)
