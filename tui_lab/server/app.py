"""The HTTP face: ``tui-lab serve`` — FastAPI on the core's predictor, TEI's API shape.

``POST /predict`` takes ``{"inputs": "text"}`` or ``{"inputs": ["a", "b"]}`` (plus TEI's
``raw_scores`` and ``truncate`` and the pipeline's ``parameters.top_k`` /
``parameters.function_to_apply``) and answers every label, best first. Concurrent requests are
gathered by a :class:`Batcher` into one forward pass that runs off the event loop; each caller
gets its own rows back. Errors have TEI's shape ``{"error": ..., "error_type": ...}``.
``GET /health``, ``/info`` and ``/metrics`` (Prometheus text, names prefixed ``tui_lab_``) are
for whoever runs it. Nothing is unpickled: weights are safetensors or ONNX.
"""

from __future__ import annotations

import asyncio
import gc
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tui_lab import __version__


@dataclass(frozen=True)
class Limits:
    """What one batch and one request may hold."""

    max_batch_size: int = 32  # texts per forward pass
    max_batch_tokens: int = 0  # padded tokens per forward pass; 0 = no limit
    max_client_batch_size: int = 64  # texts per request
    max_queue: int = 2048  # texts waiting before new requests get 429
    max_wait_ms: float = 2.0  # how long a non-full batch waits for company
    payload_limit: int = 2_000_000  # bytes of one request body (TEI's --payload-limit default)


class ApiError(Exception):
    """An error answered in TEI's shape."""

    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type


class Parameters(BaseModel):
    """The transformers pipeline's text-classification parameters."""

    model_config = ConfigDict(strict=True, extra="forbid")
    top_k: int | None = Field(default=None, ge=1)
    function_to_apply: Literal["softmax", "sigmoid", "none"] | None = None


class PredictRequest(BaseModel):
    """``POST /predict`` body (TEI's fields plus ``parameters``)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    inputs: str | list[str]
    raw_scores: bool = False
    truncate: bool = False
    parameters: Parameters | None = None


@dataclass
class _Job:
    texts: list[str]
    tokens: int  # the longest text in tokens (truncated)
    future: asyncio.Future = field(repr=False)


class Metrics:
    """The server's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tui_lab_requests", "HTTP requests to /predict by status", ["status"], registry=self.registry
        )
        self.latency = Histogram(
            "tui_lab_request_duration_seconds",
            "time from request to response for /predict",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "tui_lab_batch_size",
            "texts per forward pass",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "tui_lab_queue_depth", "texts waiting for a forward pass", registry=self.registry
        )
        self.inputs = Counter("tui_lab_inputs", "texts classified", registry=self.registry)


class Batcher:
    """Gathers concurrent requests into forward passes, one at a time, on one worker thread; the
    next batch is gathered while the current pass runs."""

    def __init__(self, predictor: Any, limits: Limits, metrics: Metrics) -> None:
        self.predictor, self.limits, self.metrics = predictor, limits, metrics
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.pending = 0  # texts queued, not yet in a forward pass
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tui-lab-forward")
        self._carry: _Job | None = None
        self._busy: asyncio.Future | None = None  # the forward pass in flight
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start gathering (inside the running event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop after the queue is empty (in-flight requests are answered first)."""
        while (
            (self.pending or (self._busy and not self._busy.done())) and self._task and not self._task.done()
        ):
            await asyncio.sleep(0.01)
        if self._task:
            self._task.cancel()
        self._executor.shutdown(wait=True)

    async def submit(self, texts: list[str], tokens: int) -> Any:
        """Logits for ``texts`` (numpy rows in order), computed with whatever else is waiting.

        Raises:
            ApiError: 429 when the queue is full.
        """
        if self.pending + len(texts) > self.limits.max_queue:
            raise ApiError(429, "Model is overloaded: too many texts are waiting; retry later.", "overloaded")
        future = asyncio.get_running_loop().create_future()
        self.pending += len(texts)
        self.metrics.queue_depth.set(self.pending)
        await self.queue.put(_Job(texts, tokens, future))
        return await future

    async def _next_batch(self) -> list[_Job]:
        """The next forward pass's jobs: gathered while the previous pass runs, then for up to
        ``max_wait_ms`` more if the model is idle and the batch is not full."""
        first = self._carry or await self.queue.get()
        self._carry = None
        batch, n, longest = [first], len(first.texts), first.tokens
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.max_wait_ms / 1000
        while n < self.limits.max_batch_size:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                busy = self._busy is not None and not self._busy.done()
                if not busy and loop.time() >= deadline:
                    break
                await asyncio.sleep(0.0005)
                continue
            tokens_after = (n + len(job.texts)) * max(longest, job.tokens)
            too_many_tokens = self.limits.max_batch_tokens and tokens_after > self.limits.max_batch_tokens
            if n + len(job.texts) > self.limits.max_batch_size or too_many_tokens:
                self._carry = job
                break
            batch.append(job)
            n, longest = n + len(job.texts), max(longest, job.tokens)
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if self._busy is not None:
                await asyncio.wait([self._busy])  # one forward pass at a time
            texts = [t for job in batch for t in job.texts]
            self.pending -= len(texts)
            self.metrics.queue_depth.set(self.pending)
            self.metrics.batch_size.observe(len(texts))
            busy = loop.run_in_executor(
                self._executor, self.predictor.logits, texts, self.limits.max_batch_size
            )
            busy.add_done_callback(partial(_deliver, batch))
            self._busy = busy


def _deliver(batch: list[_Job], done: asyncio.Future) -> None:
    """Hand each job its rows of a finished forward pass (or the failure: the loop lives on)."""
    exc = done.exception() if not done.cancelled() else RuntimeError("cancelled")
    if exc is not None:
        for job in batch:
            if not job.future.done():
                job.future.set_exception(ApiError(500, f"Inference failed: {exc}", "backend"))
        return
    logits, start = done.result(), 0
    for job in batch:
        if not job.future.done():
            job.future.set_result(logits[start : start + len(job.texts)])
        start += len(job.texts)


def _error(status: int, message: str, error_type: str) -> JSONResponse:
    return JSONResponse({"error": message, "error_type": error_type}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"Input validation error: {where + ': ' if where else ''}{first.get('msg', 'invalid request')}"


class PayloadLimit:
    """Refuse a request body over ``limit`` bytes with 413 before it is read into memory.

    A declared ``Content-Length`` over the limit is answered at once, without reading the body;
    a chunked body is counted as it arrives and refused as soon as it passes the limit. A pure
    ASGI middleware, so nothing buffers the body before it runs.
    """

    def __init__(self, app: Any, limit: int, metrics: Metrics | None = None) -> None:
        self.app, self.limit, self.metrics = app, limit, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.limit <= 0:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, int(declared))
            return
        seen = 0
        refused = False

        async def counted() -> dict[str, Any]:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    raise _TooLarge(seen)
            return message

        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _TooLarge as exc:
            if not started:
                await self._refuse(send, exc.size)
        except Exception:
            if not refused or started:
                raise
            await self._refuse(send, seen)

    async def _refuse(self, send: Any, size: int) -> None:
        if self.metrics is not None:
            self.metrics.requests.labels("413").inc()
        response = _error(
            413,
            f"Payload too large: the body is {size:,} bytes or more; the limit is {self.limit:,} "
            "(--payload-limit).",
            "validation",
        )
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _State:
    """What the handlers share: the predictor once loaded, the batcher, limits and metrics."""

    def __init__(self, limits: Limits) -> None:
        self.limits, self.metrics = limits, Metrics()
        self.predictor: Any = None
        self.batcher: Batcher | None = None
        self.backend = ""


async def _load(model: Any, state: _State) -> None:
    """Load the model (a predictor, or a callable returning one) off the loop, then start batching."""
    predictor = model if hasattr(model, "logits") else await asyncio.to_thread(model)
    await asyncio.to_thread(predictor.logits, ["warm-up"])
    # the libraries' own objects never die: keep them out of the collector's full passes,
    # which otherwise stall every request in flight (the p99)
    gc.collect()
    gc.freeze()
    batcher = Batcher(predictor, state.limits, state.metrics)
    batcher.start()
    state.predictor, state.batcher = predictor, batcher


def create_app(model: Any, limits: Limits | None = None) -> FastAPI:
    """The FastAPI app serving ``model``.

    Args:
        model: a loaded :class:`~tui_lab.core.deploy.predictor.Predictor`, or a callable that returns one
            (called on a thread at startup; ``/health`` answers 503 until it has returned).
        limits: batch and request limits.
    """
    state = _State(limits or Limits())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loading = asyncio.create_task(_load(model, state))
        yield
        loading.cancel()
        if state.batcher:
            await state.batcher.stop()

    app = FastAPI(title="tui-lab", version=__version__, lifespan=lifespan)
    app.state.lab = state
    app.add_middleware(PayloadLimit, limit=state.limits.payload_limit, metrics=state.metrics)

    _add_error_handlers(app, state)

    @app.post("/predict")
    async def predict(request: Request) -> Any:
        started = time.perf_counter()
        try:  # JSON whatever the Content-Type says, as curl -d sends it
            body = PredictRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        result = await _predict(state, body)
        state.metrics.latency.observe(time.perf_counter() - started)
        state.metrics.requests.labels("200").inc()
        return JSONResponse(result)

    @app.get("/health")
    async def health() -> Response:
        if state.batcher is None:
            return _error(503, "Model is loading.", "unhealthy")
        return Response(status_code=200)

    @app.get("/info")
    async def info() -> Any:
        return _info(state)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _add_error_handlers(app: FastAPI, state: _State) -> None:
    """Errors in text-embeddings-inference's shape (``{"error", "error_type"}``), each counted."""

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        state.metrics.requests.labels("422").inc()
        return _error(422, _validation_message(exc), "validation")

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        state.metrics.requests.labels(str(exc.status)).inc()
        return _error(exc.status, exc.message, exc.error_type)

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        state.metrics.requests.labels("500").inc()
        return _error(500, f"Inference failed: {type(exc).__name__}: {exc}", "backend")


def _info(state: _State) -> dict[str, Any]:
    p, lim = state.predictor, state.limits
    return {
        "model_id": p.source if p else None,
        "task": "text-classification",
        "labels": p.labels if p else [],
        "backend": p.backend.name if p else None,
        "max_input_length": p.max_length if p else None,
        "max_batch_requests": lim.max_batch_size,
        "max_batch_tokens": lim.max_batch_tokens or None,
        "max_client_batch_size": lim.max_client_batch_size,
        "ready": p is not None and state.batcher is not None,
        "version": __version__,
    }


async def _predict(state: _State, body: PredictRequest) -> Any:
    if state.batcher is None:
        raise ApiError(503, "Model is loading; retry when GET /health answers 200.", "unhealthy")
    single = isinstance(body.inputs, str)
    texts = [body.inputs] if single else body.inputs
    lim, predictor = state.limits, state.predictor
    if not texts:
        raise ApiError(422, "Input validation error: `inputs` cannot be empty.", "validation")
    if len(texts) > lim.max_client_batch_size:
        raise ApiError(
            413,
            f"Input validation error: batch size {len(texts)} > maximum allowed batch size "
            f"{lim.max_client_batch_size} (--max-client-batch-size).",
            "validation",
        )
    counts = predictor.token_counts(texts)
    longest = max(counts)
    if longest > predictor.max_length and not body.truncate:
        raise ApiError(
            413,
            f"Input validation error: `inputs` must have less than {predictor.max_length} tokens. "
            f'Given: {longest}; send "truncate": true to cut it.',
            "validation",
        )
    tokens = min(longest, predictor.max_length)
    if lim.max_batch_tokens and tokens > lim.max_batch_tokens:
        raise ApiError(
            413,
            f"Input validation error: {tokens} tokens > --max-batch-tokens {lim.max_batch_tokens}.",
            "validation",
        )
    state.metrics.inputs.inc(len(texts))
    logits = await state.batcher.submit(texts, tokens)
    params = body.parameters or Parameters()
    function = "none" if body.raw_scores else params.function_to_apply
    scores = predictor.scores(logits, function).tolist()
    rows = [_ranked(predictor.labels, row, params.top_k) for row in scores]
    return rows[0] if single else rows


def _ranked(labels: list[str], row: list[float], top_k: int | None) -> list[dict[str, Any]]:
    ranked = sorted(zip(labels, row), key=lambda pair: -pair[1])
    return [{"label": label, "score": score} for label, score in ranked[: top_k or len(ranked)]]


def bind(host: str, port: int) -> Any:
    """A listening socket on ``host:port``.

    Raises:
        LabError: the port is taken or the address cannot be bound.
    """
    import socket

    from tui_lab.core.errors import LabError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == 98 or "in use" in str(exc).lower():
            raise LabError(
                f"port {port} on {host} is in use; stop what holds it or pick another with --port."
            ) from None
        raise LabError(f"cannot listen on {host}:{port}: {exc.strerror or exc}.") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_server(app: FastAPI, sock: Any) -> None:
    """Serve ``app`` on a bound socket until SIGINT/SIGTERM; in-flight requests finish first.

    uvicorn re-raises the signal it caught once it has shut down; a no-op handler installed
    around it makes that a clean return (exit 0) instead of death by signal.
    """
    import signal

    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: None)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
