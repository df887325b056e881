"""``tui-lab export``: a trained model to ONNX (fp32 and int8), checked and measured side by side.

Imports stay light here; torch and ONNX Runtime are imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tui_lab.cli.common import EXIT_OK, quiet

NAME = "export"


def add_parser(sub: Any) -> None:
    """Add ``export`` to the CLI's subparsers."""
    x = sub.add_parser(
        NAME,
        help="export a run to ONNX or OpenVINO (fp32 and int8) and measure the trade-off",
        description="Write model.onnx / model_quantized.onnx with config and tokenizer beside them, "
        "check them against PyTorch and print size, accuracy, latency and throughput side by side; "
        "a distilled run (or --compare) is measured beside its teacher.",
    )
    x.add_argument("model", metavar="MODEL_OR_RUN_DIR")
    x.add_argument(
        "--format",
        default="all",
        metavar="FORMATS",
        help="onnx, onnx-int8, openvino, openvino-int8 (OpenVINO + NNCF: pip install 'tui-lab[openvino]'), "
        "all (= onnx,onnx-int8; the default), or a comma list: onnx-int8,openvino-int8",
    )
    x.add_argument("--out", metavar="DIR", help="export folder (default: RUN_DIR/export)")
    x.add_argument(
        "--data", metavar="PATH", help="labelled data to measure on (default: the run's dev split)"
    )
    x.add_argument("--rounds", type=int, default=5, metavar="N", help="interleaved timing rounds")
    x.add_argument("--threads", type=int, default=0, metavar="N", help="threads for every variant")
    x.add_argument(
        "--compare",
        metavar="RUN_OR_MODEL",
        help="measure beside this classifier of the same labels (default: a distilled run's teacher)",
    )
    x.add_argument("--json", action="store_true", help="print the report as one JSON line last")


def run(args: argparse.Namespace) -> int:
    """Export, check and measure; the table on stdout (``--json``: the report as the last line)."""
    quiet()
    from tui_lab.core.deploy.compare import export_run

    options = {"fmt": args.format, "out": args.out, "data": args.data, "rounds": args.rounds}
    report = export_run(args.model, args.compare, _stderr, threads=args.threads or None, **options)
    if args.json:
        print(json.dumps(json_report(report)))
        return EXIT_OK
    (print_pair_table if "teacher" in report else print_table)(report)
    return EXIT_OK


def json_report(report: dict[str, Any]) -> dict[str, Any]:
    """What ``--json`` prints: the export folder and one dict a variant; beside a teacher, each
    variant also says its ``model`` and its deltas against the teacher's PyTorch fp32."""
    keys = ("name", "path", "size_mb", "accuracy", "f1_macro", "latency_ms_p50", "latency_ms_p95")
    keys += ("throughput_sps",)
    if "teacher" not in report:
        return {"out": report["out"], "variants": [{k: v[k] for k in keys} for v in report["variants"]]}
    keys += ("accuracy_delta", "f1_macro_delta", "throughput_per_cpu_s")
    variants = [{"model": v["model"]} | {k: v[k] for k in keys} for v in report["variants"]]
    return {"out": report["out"], "teacher": report["teacher"]["path"], "variants": variants}


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def print_table(report: dict[str, Any]) -> None:
    """The trade-off table, one line per variant, deltas against PyTorch fp32."""
    print(f"export:  {report['out']}  ({report['n']} texts, {report['threads']} thread(s))")
    print(f"onnx fp32 vs pytorch: max |Δ logit| {report['onnx_max_abs_logit_diff']:.2e}")
    unit = report.get("compared", "texts")
    if "int8_agreement" in report:
        print(f"onnx int8 vs fp32:    same label on {report['int8_agreement']:.1%} of {unit}")
    if "openvino_max_abs_logit_diff" in report:
        print(f"openvino vs pytorch:  max |Δ logit| {report['openvino_max_abs_logit_diff']:.2e}")
    if "openvino_int8_agreement" in report:
        print(f"openvino int8 vs onnx fp32: same label on {report['openvino_int8_agreement']:.1%} of {unit}")
    print(
        f"{'variant':<13} {'size MB':>8} {'acc':>7} {'Δacc':>7} {'f1':>7} {'Δf1':>7} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'samples/s':>10} {'vs pt':>6} {'per cpu-s':>10} {'vs pt':>6}"
    )
    base = report["variants"][0]["throughput_sps"] or 1.0
    cpu_base = report["variants"][0].get("throughput_per_cpu_s") or 1.0
    for v in report["variants"]:
        print(
            f"{v['name']:<13} {v['size_mb']:>8.2f} {_num(v['accuracy'])} {_num(v['accuracy_delta'], '+')} "
            f"{_num(v['f1_macro'])} {_num(v['f1_macro_delta'], '+')} {v['latency_ms_p50']:>8.2f} "
            f"{v['latency_ms_p95']:>8.2f} {v['throughput_sps']:>10.1f} {v['throughput_sps'] / base:>5.2f}x "
            f"{v.get('throughput_per_cpu_s', 0):>10.1f} {v.get('throughput_per_cpu_s', 0) / cpu_base:>5.2f}x"
        )
    if report.get("accuracy_skipped"):
        print(f"accuracy: skipped ({report['accuracy_skipped']})")
    print(
        "latency: batch 1; throughput: batch 32 (per wall second, and per CPU second of the process: "
        "the steadier ratio on a shared machine); measured side by side in one process"
    )


def print_pair_table(report: dict[str, Any]) -> None:
    """The trade-off table of a student beside its teacher, deltas and ratios against the
    teacher's PyTorch fp32 (fits 100 columns)."""
    teacher = report["teacher"]
    where = "its export, reused" if teacher["reused"] else "exported"
    print(f"export:  {report['out']}  ({report['n']} texts, {report['threads']} thread(s))")
    print(f"teacher: {teacher['path']}  ({where} to {teacher['out']})")
    print(
        f"onnx fp32 vs pytorch: max |Δ logit| teacher {teacher['onnx_max_abs_logit_diff']:.1e}, "
        f"student {report['onnx_max_abs_logit_diff']:.1e}"
    )
    if "int8_agreement" in report:
        print(
            f"onnx int8 vs fp32:    same label on {teacher['int8_agreement']:.1%} (teacher), "
            f"{report['int8_agreement']:.1%} (student) of texts"
        )
    print(
        f"{'model':<7} {'variant':<13} {'size MB':>8} {'acc':>7} {'Δacc':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'samples/s':>10} {'vs t':>6} {'per cpu-s':>10} {'vs t':>6}"
    )
    base = report["variants"][0]["throughput_sps"] or 1.0
    cpu_base = report["variants"][0]["throughput_per_cpu_s"] or 1.0
    for v in report["variants"]:
        print(
            f"{v['model']:<7} {v['name']:<13} {v['size_mb']:>8.2f} {_num(v['accuracy'])} "
            f"{_num(v['accuracy_delta'], '+')} {v['latency_ms_p50']:>8.2f} {v['latency_ms_p95']:>8.2f} "
            f"{v['throughput_sps']:>10.1f} {v['throughput_sps'] / base:>5.2f}x "
            f"{v['throughput_per_cpu_s']:>10.1f} {v['throughput_per_cpu_s'] / cpu_base:>5.2f}x"
        )
    print("Δacc and vs t: against the teacher's pytorch fp32; latency: batch 1; throughput: batch 32")
    print("(per wall second, and per CPU second of the process); measured side by side in one process")


def _num(value: float | None, sign: str = "") -> str:
    """A 7-wide table cell: the number to 4 places, or ``-`` when it was not measured."""
    return f"{'-':>7}" if value is None else f"{value:>{sign}7.4f}"
