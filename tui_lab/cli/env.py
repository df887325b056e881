"""``tui-lab env``: the versions, GPUs and caches a run depends on, to paste into a bug report.

The facts come from :mod:`tui_lab.core.training.envinfo`; this face adds the terminal (size, colour
depth) and prints a table, or one JSON object with ``--json``. It never fails for want of a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from typing import Any

NAME = "env"


def add_parser(sub: Any) -> None:
    """Add ``env`` to the CLI's subparsers."""
    p = sub.add_parser(
        NAME,
        help="show versions, GPUs, NCCL/NVML and the Hugging Face cache (for bug reports)",
        description="The facts of this machine a run depends on. Reads no network.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def terminal_facts() -> dict[str, Any]:
    """The terminal's size and colour depth (as rich detects it)."""
    from rich.console import Console

    size = shutil.get_terminal_size()
    return {
        "columns": size.columns,
        "lines": size.lines,
        "color_system": Console().color_system,
        "term": os.environ.get("TERM"),
    }


def run(args: argparse.Namespace) -> int:
    """Print the facts; exit 0 (a machine without GPU is a fact, not an error)."""
    from tui_lab.core.training.envinfo import gather

    facts = gather()
    facts["terminal"] = terminal_facts()
    if args.json:
        print(json.dumps(facts))
        return 0
    from rich.console import Console

    Console().print(facts_table(facts))
    return 0


def _yes(value: Any) -> str:
    return f"yes ({value})" if value not in (None, True, "") else ("yes" if value else "no")


def cpu_row(cpu: dict[str, Any]) -> str:
    """``Intel Xeon … · 2 cores · bf16: avx512_bf16`` (or ``no bf16 instructions``)."""
    bf16 = f"bf16: {', '.join(cpu['bf16'])}" if cpu.get("bf16") else "no bf16 instructions"
    return f"{cpu.get('name') or '-'} · {cpu.get('cores') or '?'} cores · {bf16}"


def facts_table(facts: dict[str, Any]) -> Any:
    """The facts as a two-column rich table."""
    from rich.table import Table

    table = Table(title="tui-lab env", show_header=False, title_justify="left")
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    cuda = facts["cuda"]
    rows = [
        ("tui-lab", facts["tui_lab"]),
        ("Python", f"{facts['python']} ({facts['executable']})"),
        ("platform", facts["platform"]),
        (
            "torch",
            f"{facts['torch']} · CUDA build {cuda['version'] or 'none'} · cuDNN {cuda['cudnn'] or '-'}",
        ),
        ("transformers", facts["transformers"]),
        ("datasets", facts["datasets"]),
        ("textual", facts["textual"]),
        ("CPU", cpu_row(facts.get("cpu") or {})),
        ("CUDA available", "yes" if cuda["available"] else f"no {cuda.get('error') or ''}".strip()),
    ]
    for d in cuda["devices"]:
        free = f", {d['memory_free_gb']} GB free" if d["memory_free_gb"] is not None else ""
        bf16 = "bf16 native" if d["bf16"] else "no native bf16 (use fp16)"
        rows.append(
            (f"cuda:{d['index']}", f"{d['name']} · sm {d['capability']} · {d['memory_gb']} GB{free} · {bf16}")
        )
    nvml = facts["nvml"]
    cache = facts["hf_cache_models"]
    term = facts.get("terminal", {})
    rows += [
        ("NCCL", _yes(facts["nccl"]["version"]) if facts["nccl"]["available"] else "no"),
        ("NVML", f"yes (driver {nvml['driver']})" if nvml["readable"] else f"no ({nvml['error']})"),
        ("HF_HUB_OFFLINE", "on" if facts["hf_offline"] else "off"),
        ("HF cache", f"{facts['hf_cache']} · {len(cache)} model(s)"),
        *((" ", f"{m['id']} ({m['size_mb']} MB)") for m in cache[:20]),
        ("TensorBoard", _yes(facts["tensorboard"]) if facts["tensorboard"] else "no"),
        ("ONNX Runtime", _yes(facts["onnxruntime"]) if facts["onnxruntime"] else "no"),
        (
            "terminal",
            f"{term.get('columns')}x{term.get('lines')} · {term.get('color_system') or 'no colour'}",
        ),
    ]
    for key, value in rows:
        table.add_row(key, "-" if value is None else str(value))
    return table
