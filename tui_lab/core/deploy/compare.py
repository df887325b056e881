"""A student and its teacher exported and measured side by side: what distillation bought.

``tui-lab export STUDENT`` on a run that records its teacher (:func:`teacher_of`), or with
``--compare RUN_OR_MODEL`` for any other classifier of the same labels, exports both models
(PyTorch fp32, ONNX fp32, ONNX int8 each) and measures all six variants in one
:func:`~tui_lab.core.deploy.benchmark.measure_variants` call: one process, one thread count,
interleaved rounds, the same texts (the student's dev split or ``--data``). The teacher's PyTorch
fp32 comes first, so every accuracy delta is against it. The student's export folder is laid out
as a plain export, the teacher's beside it::

    export/model.onnx, model_quantized.onnx, config.json, tokenizer files   the student
           teacher/model.onnx, model_quantized.onnx, ...                   the teacher, unless its
                                                                           own export is reused
           export_report.json                                              every variant, with ``model``

A teacher's own export (``RUN/export``, or ``<model>-export`` beside a model folder) is reused
when it is complete and newer than its weights; nothing is ever written into it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui_lab.core.atomic import write_text_atomically
from tui_lab.core.deploy import openvino
from tui_lab.core.deploy.benchmark import measure_variants
from tui_lab.core.deploy.export import (
    INT8_FILE,
    REPORT_FILE,
    _check_request,
    _references,
    _staged,
    check_out,
    default_out,
    export,
    file_size_mb,
    final_path,
    formats,
    is_export,
    is_token_classifier,
    model_variants,
    nncf_calibration,
    reference_config,
    set_threads,
)
from tui_lab.core.deploy.predictor import ONNX_FILE, resolve_model_dir
from tui_lab.core.errors import ModelError
from tui_lab.core.models.loading import check_classifier, check_weights
from tui_lab.core.training.runs import CONFIG_FILE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

TEACHER_KEYS = (("distill", "teacher"), ("train", "teacher"))
"""Where a distilled run's ``config.toml`` names its teacher (section, key), first found wins."""
TEACHER_DIR = "teacher"  # the teacher's export inside the student's, when its own is not reused
MODELS = ("teacher", "student")


def teacher_of(run_dir: str | Path) -> str | None:
    """The teacher a distilled run recorded in its ``config.toml``; None for any other run or folder."""
    try:
        raw = tomllib.loads((Path(run_dir).expanduser() / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    for section, key in TEACHER_KEYS:
        value = raw.get(section, {}).get(key) if isinstance(raw.get(section), dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def teacher_path(teacher: str) -> Path:
    """The folder of a teacher given as a run folder, a model folder or a hub id already in the
    local Hugging Face cache (an export measures; it never downloads).

    Raises:
        ModelError: none of these.
    """
    path = Path(teacher).expanduser()
    if path.exists():
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(teacher, local_files_only=True))
    except Exception:
        raise ModelError(
            f"the teacher {teacher} is neither a folder nor a model in the local Hugging Face cache; "
            f"give --compare a run folder or a model folder."
        ) from None


def export_run(
    path: str | Path,
    compare: str | None = None,
    log: Callable[[str], None] = lambda _: None,
    **options: Any,
) -> dict[str, Any]:
    """Export a run or model folder; beside its teacher when ``compare`` names one or the run
    records one (a recorded teacher that is gone is said in ``log`` and left out).

    Args:
        path: the run or model folder to export.
        compare: the model to measure it against (default: the run's teacher, if any).
        log: called with one line per stage.
        **options: :func:`~tui_lab.core.deploy.export.export`'s ``fmt``, ``out``, ``data``,
            ``rounds``, ``threads``.

    Returns:
        :func:`export_pair`'s report with a teacher, :func:`~tui_lab.core.deploy.export.export`'s
        without.
    """
    teacher = compare or teacher_of(path)
    if teacher and not compare:
        try:
            teacher_path(teacher)
        except ModelError:
            log(f"the teacher {teacher} recorded in {path}/{CONFIG_FILE} is gone; exporting the run alone")
            teacher = None
    if teacher:
        return export_pair(path, teacher, log=log, **options)
    return export(path, log=log, **options)


def export_pair(
    student: str | Path,
    teacher: str,
    fmt: str = "all",
    out: str | Path | None = None,
    data: str | None = None,
    log: Callable[[str], None] = lambda _: None,
    rounds: int = 5,
    threads: int | None = None,
) -> dict[str, Any]:
    """Export a student and its teacher and measure every variant of both side by side.

    Args:
        student: the run or model folder exported to ``out``.
        teacher: a run folder, model folder or cached hub id of the same labels.
        fmt, out, data, log, rounds, threads: as :func:`~tui_lab.core.deploy.export.export`.

    Returns:
        The report also saved as ``out/export_report.json``: the student's ``out``, ``threads``,
        ``n``, ``onnx_max_abs_logit_diff`` and ``int8_agreement``; ``teacher`` (``path``, ``out``,
        ``reused`` and its own checks); ``variants``: teacher first, each with ``model``
        (``teacher``/``student``) and ``name`` (``pytorch``, ``onnx``, ``onnx-int8``), deltas
        against the teacher's PyTorch fp32.

    Raises:
        ModelError: either model is not a single-label text classifier, the labels differ, or as
            :func:`~tui_lab.core.deploy.export.export`.
        DataError: as :func:`~tui_lab.core.deploy.export.export`.
    """
    s_dir, t_dir, target, (load, texts, gold) = _checked_pair(student, teacher, fmt, out, data, rounds)
    own = default_out(teacher_path(teacher))
    reuse = own if reusable(own, t_dir, fmt) and own.resolve() != target.resolve() else None
    teacher_out = reuse or target / TEACHER_DIR
    with _staged(target) as tmp:
        threads = set_threads(threads)
        t_out = reuse or tmp / TEACHER_DIR
        log(f"teacher: {'reusing its export' if reuse else 'exporting it to'} {teacher_out}")
        calibration = nncf_calibration(fmt, student, texts, log)  # the student's texts, for both
        t_vars, t_checks = model_variants(
            t_dir, t_out, reuse is None, fmt, load, threads, texts, calibration=calibration
        )
        log(f"student: exporting {s_dir} to {target}")
        s_vars, s_checks = model_variants(
            s_dir, tmp, True, fmt, load, threads, texts, calibration=calibration
        )
        variants = {f"{m} {n}": v for m, vs in zip(MODELS, (t_vars, s_vars)) for n, v in vs.items()}
        log(f"measuring {', '.join(variants)} on {len(texts)} texts with {threads} thread(s)")
        rows = measure_variants(variants, texts, gold, file_size_mb, rounds)
        report: dict[str, Any] = {
            "out": str(target),
            "threads": threads,
            "n": len(texts),
            "compared": "texts",
        }
        report |= s_checks | {"teacher": {"path": teacher, "out": str(teacher_out), "reused": bool(reuse)}}
        report["teacher"] |= t_checks
        report["variants"] = [_split_name(row, tmp, target) for row in rows]
        write_text_atomically(tmp / REPORT_FILE, json.dumps(report, indent=2) + "\n")
    return report


def _checked_pair(
    student: str | Path, teacher: str, fmt: str, out: str | Path | None, data: str | None, rounds: int
) -> tuple[Path, Path, Path, tuple[Callable, list[str], Any]]:
    """Both models' folders, the export folder and the texts to measure on, every input checked
    before anything is written."""
    _check_request(student, fmt, rounds)
    _check_request(teacher, fmt, rounds)
    s_dir, t_dir = resolve_model_dir(student), resolve_model_dir(teacher_path(teacher))
    target = Path(out).expanduser() if out else default_out(student)
    check_out(target, s_dir)
    check_out(target / TEACHER_DIR, t_dir)
    load, texts, gold, note = _references(student, s_dir, data)
    check_same_labels(student, s_dir, teacher, t_dir, comparable=not note)
    check_weights(s_dir)
    check_weights(t_dir)
    return s_dir, t_dir, target, (load, texts, gold)


def check_same_labels(student: str | Path, s_dir: Path, teacher: str, t_dir: Path, comparable: bool) -> None:
    """Refuse a pair that cannot be compared on one set of gold labels.

    Raises:
        ModelError: either is not a single-label text classifier, or their labels differ.
    """
    if not comparable:
        raise ModelError(
            f"{student} is not a single-label text classifier; --compare measures those only "
            f"(export it alone)."
        )
    t_config = reference_config(t_dir)
    t_labels = check_classifier(str(teacher), t_config)
    s_labels = check_classifier(str(student), reference_config(s_dir))
    if is_token_classifier(t_config) or sorted(t_labels) != sorted(s_labels):
        raise ModelError(
            f"{teacher} is not a classifier of the same labels as {student} "
            f"({', '.join(t_labels[:5])} vs {', '.join(s_labels[:5])}); give --compare one trained "
            f"on the same labels."
        )


def reusable(folder: Path, model_dir: Path, fmt: str) -> bool:
    """Whether an earlier export of ``model_dir`` in ``folder`` has every file ``fmt`` needs and
    is newer than the weights it came from."""
    wanted = formats(fmt)
    needed = [folder / ONNX_FILE] + ([folder / INT8_FILE] if "onnx-int8" in wanted else [])
    needed += [folder / openvino.OV_DIRS[n] / openvino.OV_FILE for n in wanted if n.startswith("openvino")]
    if not is_export(folder) or not all(f.is_file() for f in needed):
        return False
    weights = [f.stat().st_mtime for f in model_dir.iterdir() if f.suffix in (".safetensors", ".bin")]
    return min(f.stat().st_mtime for f in needed) >= max(weights, default=0.0)


def _split_name(row: dict[str, Any], tmp: Path, target: Path) -> dict[str, Any]:
    """``teacher onnx`` -> ``model: teacher, name: onnx``; paths where the files will be once the
    staged folder is in place."""
    model, name = row["name"].split(" ", 1)
    return {"model": model, **row, "name": name, "path": final_path(row["path"], tmp, target)}
