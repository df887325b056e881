"""``tui-lab serve``: a real uvicorn process driven over HTTP, plus the batcher and the app in-process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tui_lab.cli import main
from tui_lab.core.deploy.predictor import Predictor

TEXTS = ["the film was wonderful", "the pizza was awful", "the staff was dreadful", "the hotel was superb"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(model: Path, *flags: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_lab", "serve", str(model), "--port", str(port), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):  # wait for /health (loading takes seconds on a busy machine)
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read())
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not become healthy")


@pytest.fixture(scope="module")
def server(exported_run):
    run, _ = exported_run
    proc, url = _start(run / "export", "--max-client-batch-size", "8")
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def expected(exported_run) -> dict[str, dict[str, float]]:
    """What ``tui-lab predict`` says for each text: label -> probability."""
    run, _ = exported_run
    return {p.text: p.probabilities for p in Predictor.from_path(run / "export").predict(TEXTS)}


def _check(rows: list[dict], probs: dict[str, float]) -> None:
    assert [r["label"] for r in rows] == sorted(probs, key=lambda k: -probs[k])
    for r in rows:
        assert abs(r["score"] - probs[r["label"]]) < 1e-5


def test_single_and_batch_match_predict(server, exported_run, capsys) -> None:
    run, _ = exported_run
    assert main(["predict", str(run), *TEXTS[:2], "--json"]) == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["predictions"]
    one = httpx.post(f"{server}/predict", json={"inputs": TEXTS[0]}).json()
    assert one[0]["label"] == cli[0]["label"] and len(one) == 2
    many = httpx.post(f"{server}/predict", json={"inputs": TEXTS[:2]}).json()
    assert [rows[0]["label"] for rows in many] == [p["label"] for p in cli]
    top = httpx.post(f"{server}/predict", json={"inputs": TEXTS[:2], "parameters": {"top_k": 1}}).json()
    assert [len(rows) for rows in top] == [1, 1]
    raw = httpx.post(f"{server}/predict", json={"inputs": TEXTS[0], "raw_scores": True}).json()
    assert sum(r["score"] for r in raw) != pytest.approx(1.0)  # logits, not probabilities
    sig = httpx.post(
        f"{server}/predict", json={"inputs": TEXTS[0], "parameters": {"function_to_apply": "sigmoid"}}
    ).json()
    assert all(0 < r["score"] < 1 for r in sig) and sum(r["score"] for r in sig) != pytest.approx(1.0)


def test_info_and_metrics(server) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    info = httpx.get(f"{server}/info").json()
    assert info["labels"] == ["neg", "pos"] and info["backend"] == "onnx"
    assert info["max_client_batch_size"] == 8 and info["max_input_length"] > 0
    httpx.post(f"{server}/predict", json={"inputs": TEXTS})
    text = httpx.get(f"{server}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in (
        "tui_lab_requests",
        "tui_lab_request_duration_seconds",
        "tui_lab_batch_size",
        "tui_lab_queue_depth",
    ):
        assert name in families, name
    ok = [s.value for s in families["tui_lab_requests"].samples if s.labels.get("status") == "200"]
    assert ok and ok[0] >= 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('{"inputs": 3}', 422),
        ('{"inputs": ', 422),
        ('{"text": "a"}', 422),
        ('{"inputs": ["a", 2]}', 422),
        ('{"inputs": []}', 422),
        ('{"inputs": "a", "parameters": {"top_k": 0}}', 422),
        ('{"inputs": "a", "parameters": {"function_to_apply": "relu"}}', 422),
        (json.dumps({"inputs": ["a"] * 9}), 413),
        (json.dumps({"inputs": "great " * 600}), 413),
    ],
)
def test_bad_requests_get_tei_errors(server, body: str, status: int) -> None:
    response = httpx.post(f"{server}/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()
    assert set(error) == {"error", "error_type"} and error["error"]


def test_a_long_text_is_truncated_when_asked(server) -> None:
    response = httpx.post(f"{server}/predict", json={"inputs": "great " * 600, "truncate": True})
    assert response.status_code == 200 and response.json()[0]["label"] in ("neg", "pos")


def test_64_concurrent_requests_get_their_own_answers(server, expected) -> None:
    async def go() -> list[tuple[str, list[dict]]]:
        async with httpx.AsyncClient(base_url=server, timeout=60) as client:

            async def one(i: int) -> tuple[str, list[dict]]:
                text = TEXTS[i % len(TEXTS)]
                response = await client.post("/predict", json={"inputs": text})
                assert response.status_code == 200
                return text, response.json()

            return await asyncio.gather(*(one(i) for i in range(64)))

    for text, rows in asyncio.run(go()):
        _check(rows, expected[text])


def test_sigterm_finishes_the_request_in_flight_and_exits_0(exported_run) -> None:
    run, _ = exported_run
    proc, url = _start(run / "export")
    port = int(url.rsplit(":", 1)[1])
    body = json.dumps({"inputs": TEXTS}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        assert conn.recv(1024).startswith(b"HTTP/1.1 100")  # the app is reading the body: in flight
        proc.send_signal(signal.SIGTERM)
        conn.sendall(body)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"]]"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert len(json.loads(reply.split(b"\r\n\r\n", 1)[1])) == len(TEXTS)
    assert proc.wait(timeout=30) == 0


def test_a_port_in_use_is_one_line(exported_run, capsys) -> None:
    run, _ = exported_run
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", str(run / "export"), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == f"error: port {port} on 127.0.0.1 is in use; stop what holds it or pick another with --port."
    )


def test_the_port_is_checked_before_the_model_loads(tmp_path, capsys, monkeypatch) -> None:
    from tui_lab.core.deploy import predictor

    loads: list[str] = []
    monkeypatch.setattr(predictor.Predictor, "from_path", classmethod(lambda cls, *a, **k: loads.append(a)))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", str(tmp_path), "--port", str(port)]) == 2
    assert loads == [] and "is in use" in capsys.readouterr().err


class _Recorder:
    """A predictor stand-in that records the size of each forward pass."""

    labels = ["neg", "pos"]
    max_length = 16
    multi_label = False
    source = "recorder"

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def logits(self, texts: list[str], batch_size: int = 64):
        import numpy as np

        self.gate.wait(30)
        self.batches.append(len(texts))
        return np.array([[float(len(t)), 0.0] for t in texts], dtype=np.float32)


def test_the_batcher_gathers_waiting_requests_into_one_pass() -> None:
    from tui_lab.server.app import ApiError, Batcher, Limits, Metrics

    async def go() -> None:
        recorder = _Recorder()
        batcher = Batcher(recorder, Limits(max_batch_size=8, max_queue=12), Metrics())
        jobs = [asyncio.ensure_future(batcher.submit(["x" * i], 1)) for i in range(10)]
        await asyncio.sleep(0)  # every submit is queued before the loop starts
        batcher.start()
        results = await asyncio.gather(*jobs)
        assert [float(r[0][0]) for r in results] == [float(i) for i in range(10)]  # each its own row
        assert recorder.batches == [8, 2]
        with pytest.raises(ApiError) as info:
            await batcher.submit(["a"] * 13, 1)
        assert info.value.status == 429
        await batcher.stop()

    asyncio.run(go())


def test_health_is_503_until_the_model_is_loaded() -> None:
    from starlette.testclient import TestClient

    from tui_lab.server.app import Limits, create_app

    release = threading.Event()

    def load() -> _Recorder:
        release.wait(30)
        return _Recorder()

    with TestClient(create_app(load, Limits())) as client:
        assert client.get("/health").status_code == 503
        assert client.post("/predict", json={"inputs": "a"}).json()["error_type"] == "unhealthy"
        release.set()
        for _ in range(300):
            if client.get("/health").status_code == 200:
                break
            time.sleep(0.02)
        assert client.get("/health").status_code == 200


def test_a_body_over_the_payload_limit_is_413_and_one_under_it_is_read() -> None:
    from starlette.testclient import TestClient

    from tui_lab.server.app import Limits, create_app

    with TestClient(create_app(_Recorder(), Limits(payload_limit=1000))) as client:
        over = client.post("/predict", content=b'{"inputs": "' + b"a" * 2000 + b'"}')
        assert over.status_code == 413
        assert over.json()["error_type"] == "validation" and "--payload-limit" in over.json()["error"]

        def chunks():  # no Content-Length: counted as it arrives
            yield b'{"inputs": "'
            for _ in range(10):
                yield b"a" * 300
            yield b'"}'

        assert client.post("/predict", content=chunks()).status_code == 413
        under = client.post("/predict", content=b'{"inputs": 3}' + b" " * 900)
        assert under.status_code == 422  # read and validated: the limit let it through
        metrics = client.get("/metrics").text
        assert 'tui_lab_requests_total{status="413"} 2.0' in metrics


def test_a_declared_oversized_body_is_refused_before_it_is_read() -> None:
    from tui_lab.server.app import PayloadLimit

    sent: list[dict] = []

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        raise AssertionError("the app ran")

    async def receive():
        raise AssertionError("the body was read")

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "headers": [(b"content-length", b"50000000")],
    }
    asyncio.run(PayloadLimit(app, limit=2_000_000)(scope, receive, send))
    assert sent[0]["status"] == 413 and b"2,000,000" in sent[1]["body"]


def test_serve_refuses_a_payload_limit_below_one(capsys) -> None:
    assert main(["serve", "no-such-model", "--payload-limit", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --payload-limit must be at least 1, got 0."
