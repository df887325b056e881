"""``tui-lab serve``: a run or an export over HTTP (TEI-style ``POST /predict``, dynamic batching).

The server is :mod:`tui_lab.server`; FastAPI, uvicorn and torch are imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui_lab.cli.common import EXIT_OK, quiet
from tui_lab.core.errors import LabError

NAME = "serve"


def add_parser(sub: Any) -> None:
    """Add ``serve`` to the CLI's subparsers."""
    s = sub.add_parser(
        NAME,
        help="serve a run or export over HTTP (TEI-style POST /predict)",
        description="FastAPI + uvicorn with dynamic batching; binds 127.0.0.1 unless --host.",
    )
    s.add_argument("model", metavar="MODEL_OR_RUN_OR_EXPORT_DIR")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--backend", default="auto", choices=("auto", "pytorch", "onnx", "openvino"))
    s.add_argument("--max-batch-size", type=int, default=32, metavar="N", help="texts per forward pass")
    s.add_argument(
        "--max-batch-tokens", type=int, default=0, metavar="N", help="padded tokens per forward pass"
    )
    s.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="intra-op threads of the forward pass (default: all cores)",
    )
    s.add_argument("--max-client-batch-size", type=int, default=64, metavar="N", help="texts per request")
    s.add_argument(
        "--payload-limit",
        type=int,
        default=2_000_000,
        metavar="BYTES",
        help="largest request body; a larger one gets 413 before it is read (default 2000000)",
    )


def run(args: argparse.Namespace) -> int:
    """Check the flags, bind the port, load the model, serve until SIGINT/SIGTERM (in-flight
    requests finish). The port is bound before the model loads, so a port in use is one line at once."""
    for flag in ("max_batch_size", "max_client_batch_size", "port", "payload_limit"):
        if getattr(args, flag) < 1:
            raise LabError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}.")
    if args.threads < 0:
        raise LabError(f"--threads must be 0 (all cores) or more, got {args.threads}.")
    from tui_lab.server.app import Limits, bind, create_app, run_server  # imports fastapi

    sock = bind(args.host, args.port)
    try:
        quiet()
        from tui_lab.core.deploy.predictor import Predictor

        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        predictor = Predictor.from_path(
            args.model, device="cpu", backend=args.backend, threads=args.threads or None
        )
    except BaseException:
        sock.close()
        raise
    limits = Limits(
        args.max_batch_size,
        max(args.max_batch_tokens, 0),
        args.max_client_batch_size,
        payload_limit=args.payload_limit,
    )
    app = create_app(predictor, limits)
    print(
        f"serving {predictor.source} ({predictor.backend.name}) on http://{args.host}:{args.port} "
        f"- POST /predict, GET /health /info /metrics; Ctrl-C or SIGTERM stops",
        file=sys.stderr,
        flush=True,
    )
    run_server(app, sock)
    print("stopped", file=sys.stderr)
    return EXIT_OK
