"""Load test: ``tui-lab serve`` against the naive FastAPI + ``transformers.pipeline`` server.

    python benchmarks/serve_load.py RUN_DIR [--clients 32] [--seconds 10] [--targets naive,serve-pytorch,serve-onnx]

Every target serves the same run on 127.0.0.1 in its own process, one after the other:

- ``naive``: a FastAPI endpoint that calls a ``transformers.pipeline("text-classification")``
  (loaded once) for each request, in FastAPI's thread pool — no batching.
- ``serve-pytorch``: ``tui-lab serve RUN_DIR --backend pytorch`` (dynamic batching).
- ``serve-onnx``: ``tui-lab serve RUN_DIR/export`` (dynamic batching, ONNX Runtime; the int8
  model when ``--int8``). Run ``tui-lab export RUN_DIR`` first.

``--clients`` concurrent clients each send one text per request in a loop for ``--seconds``;
requests/s, p50 and p99 latency are printed per target and as one JSON line. The load generator
shares the machine with the server: numbers on a busy 2-core box are a ratio, not a capacity.
Only 127.0.0.1 is ever contacted; the run is bounded by clients x seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

TEXTS = [
    "the film was wonderful and the plot kept me guessing",
    "the pizza was awful",
    "the staff was friendly but the room was boring",
    "a superb hotel, lovely service, great screen",
    "dreadful phone, poor battery, disappointing screen and bland design",
]


def naive_server(model: str, port: int) -> None:
    """The naive way: one pipeline call per request (run as ``--naive-server`` in a child)."""
    import uvicorn
    from fastapi import FastAPI
    from transformers import pipeline

    clf = pipeline("text-classification", model=model, device="cpu", top_k=None)
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {}

    @app.post("/predict")
    def predict(body: dict) -> list:
        return clf(body["inputs"])

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(target: str, run: Path, int8: bool, threads: int = 0) -> tuple[subprocess.Popen, str]:
    """Start one target on a free port and wait until it answers /health."""
    import httpx

    port = _free_port()
    if target == "naive":
        cmd = [sys.executable, __file__, "--naive-server", str(run / "best"), "--port", str(port)]
    else:
        model = run if target == "serve-pytorch" else run / "export"
        if target == "serve-onnx" and int8:
            model = run / "export" / "model_quantized.onnx"
        backend = "pytorch" if target == "serve-pytorch" else "onnx"
        cmd = [
            sys.executable,
            "-m",
            "tui_lab",
            "serve",
            str(model),
            "--port",
            str(port),
            "--backend",
            backend,
            "--threads",
            str(threads),
        ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{target} did not start: {proc.stderr.read()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{target} did not become healthy in 120 s")


class Connection:
    """One keep-alive HTTP/1.1 connection posting JSON: a few lines of asyncio streams, so the
    load generator spends far less CPU per request than a full client would on the same cores."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, payload: dict) -> tuple[int, bytes]:
        """Status and body of one POST."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        body = json.dumps(payload).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        self.writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def load(url: str, clients: int, seconds: float) -> dict[str, float]:
    """``clients`` loops posting one text each until ``seconds`` have passed."""
    import numpy as np

    port = int(url.rsplit(":", 1)[1])
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def one(i: int) -> None:
        nonlocal errors
        conn, n = Connection(port), i
        try:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                status, _ = await conn.post("/predict", {"inputs": TEXTS[n % len(TEXTS)]})
                latencies.append(time.perf_counter() - t0)
                errors += status != 200
                n += 1
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(clients)))
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


def main() -> None:
    """Parse flags, run each target in turn, print the table and one JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", help="a run folder (with best/ and, for serve-onnx, export/)")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--targets", default="naive,serve-pytorch,serve-onnx")
    p.add_argument("--int8", action="store_true", help="serve-onnx serves model_quantized.onnx")
    p.add_argument("--threads", type=int, default=0, help="tui-lab serve --threads (0: all cores)")
    p.add_argument("--naive-server", metavar="MODEL", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.naive_server:
        return naive_server(args.naive_server, args.port)
    if not args.run:
        p.error("give a run folder")
    if not 1 <= args.clients <= 256 or not 0 < args.seconds <= 120:
        p.error("--clients must be 1..256 and --seconds 0..120 (a bounded, local load test)")
    results = {}
    for target in args.targets.split(","):
        proc, url = start(target, Path(args.run), args.int8, args.threads)
        try:
            asyncio.run(load(url, min(args.clients, 4), 1.0))  # warm-up
            results[target] = asyncio.run(load(url, args.clients, args.seconds))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        r = results[target]
        print(
            f"{target:<14} {r['requests_per_s']:>8.1f} req/s  p50 {r['p50_ms']:>7.1f} ms  "
            f"p99 {r['p99_ms']:>7.1f} ms  ({r['requests']} requests, {r['errors']} errors)",
            flush=True,
        )
    load_avg = os.getloadavg()[0]
    print(f"load average {load_avg:.2f} on {os.cpu_count()} cpus; serve --threads {args.threads or 'all'}")
    print(
        json.dumps(
            {
                "clients": args.clients,
                "seconds": args.seconds,
                "cpus": os.cpu_count(),
                "load": load_avg,
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
