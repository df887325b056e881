"""``tui-lab plan``: each device's estimated peak memory for a training config, before the run.

Takes every flag ``train`` takes; only the model's config is read (no weights are downloaded).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tui_lab.cli.common import EXIT_OK, add_setting_flags, config_from_args, quiet
from tui_lab.core.settings import render_settings

NAME = "plan"


def add_parser(sub: Any) -> None:
    """Add ``plan`` to the CLI's subparsers."""
    p = sub.add_parser(
        NAME,
        help="estimate a run's peak memory on each device before training",
        description=(
            "Estimate weights, gradients, optimiser states and activations of a training config from "
            "the model's config alone (built on the meta device), against each device's free memory."
        ),
    )
    p.add_argument("--config", metavar="FILE", help="TOML config (as saved by the lab)")
    add_setting_flags(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any config key")
    p.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="processes of the torchrun job to plan for (default: WORLD_SIZE, else 1)",
    )
    p.add_argument(
        "--gpu-memory",
        type=float,
        metavar="GB",
        help="plan for GPUs with this much free memory each (one a process), not this machine's devices",
    )
    p.add_argument("--json", action="store_true", help="print the plan as one JSON object")


def run(args: argparse.Namespace) -> int:
    """Print the plan (a table, or ``--json``); exit 0 whether or not it fits."""
    config = config_from_args(args)
    quiet()
    from tui_lab.core.training.memory_plan import plan  # imports torch and transformers

    devices = None
    if args.gpu_memory:
        devices = [(f"cuda:{i}", int(args.gpu_memory * 1e9)) for i in range(args.processes or 1)]
    result = plan(config, processes=args.processes, devices=devices)
    if args.json:
        print(json.dumps(result.to_json()))
        return EXIT_OK
    print(render(result))
    return EXIT_OK


def render(result: Any) -> str:
    """The plan as a few aligned lines."""
    gb = 1e9
    shards = f"  (1/{result.processes} each: FSDP)" if result.sharded else ""
    rows = [
        f"model:       {result.model}  ({result.parameters:,} parameters, {result.trainable:,} trained)",
        f"weights:     {result.weights / gb:8.2f} GB{shards}",
        f"gradients:   {result.gradients / gb:8.2f} GB{shards}",
        f"optimizer:   {result.optimizer / gb:8.2f} GB{shards}",
        f"activations: {result.activations / gb:8.2f} GB",
    ]
    if result.fsdp_share:
        label = "fsdp share:" if result.sharded else "ddp buckets:"
        rows.append(f"{label:<12} {result.fsdp_share / gb:8.2f} GB")
    rows.append(f"total:       {result.total / gb:8.2f} GB a process x {result.processes}")
    rows.append(render_settings(result.advice, "flag"))
    return "\n".join(rows)
