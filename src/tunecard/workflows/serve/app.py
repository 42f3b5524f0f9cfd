"""The HTTP API of `tunecard serve` (FastAPI on uvicorn), in the shape of Hugging Face
text-embeddings-inference: POST /predict, GET /health, GET /info, GET /metrics (Prometheus), the OpenAPI
docs at /docs, and a try-it page at /.

Errors are JSON `{"error": ..., "error_type": ...}` as text-embeddings-inference writes them: 413 for a
body or a batch over the limits, 422 for bad JSON or a wrong shape (the reason says which), 503 when
the queue is full or the server is shutting down.
"""

from __future__ import annotations

import contextlib
import time
from importlib import metadata, resources
from typing import Optional, Union

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from tunecard.errors import TunecardError
from tunecard.workflows.serve.batcher import DynamicBatcher, QueueFull
from tunecard.workflows.serve.engine import ServedModel
from tunecard.workflows.serve.telemetry import ServerMetrics

FieldValue = Union[str, list[str]]
Input = Union[str, dict[str, FieldValue]]


class PredictRequest(BaseModel):
    """A /predict body: one input or a list of them."""
    model_config = ConfigDict(extra="forbid")
    inputs: Union[Input, list[Input]] = Field(
        description="A text, an object with the model's input fields (e.g. text and text_pair; question and "
                    "options; prompt, chosen and rejected), or a list of these.")
    truncate: bool = Field(True, description="Cut inputs longer than the model's limit as `tunecard predict` "
                                             "does (the X-Truncated-Inputs header lists them); false: 413.")


class Label(BaseModel):
    label: str
    score: float
    abstained: Optional[bool] = Field(None, description="On the top label of a model saved with an abstention "
                                                        "cut-off: its confidence is below it (tunecard abstain).")


def error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "error_type": kind}, status_code=status)


def create_app(served: ServedModel, settings) -> FastAPI:
    """The app for one loaded model; `settings` is a tunecard.config.ServeConfig."""
    metrics = ServerMetrics()
    batcher = DynamicBatcher(served.score, settings.max_batch_tokens, settings.max_wait_ms, settings.max_queue,
                             on_batch=metrics.observe_batch)
    metrics.watch_queue(lambda: batcher.queued_inputs)
    state = {"serving": False}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher.start()
        state["serving"] = True
        yield
        state["serving"] = False
        await batcher.stop()  # uvicorn has let the requests in flight finish; the queue is empty then

    app = FastAPI(title="tunecard serve", version=metadata.version("tunecard"), lifespan=lifespan,
                  description=f"{served.task.name} model {served.path}: labels {', '.join(served.labels)}")
    app.add_middleware(PayloadLimit, limit=settings.payload_limit, metrics=metrics)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request, exc: RequestValidationError):
        metrics.count("/predict", 422)
        return error(422, "Validation", validation_message(exc))

    _add_predict(app, served, settings, batcher, metrics)
    _add_pages(app, served, settings, metrics, state)
    return app


def _add_predict(app: FastAPI, served: ServedModel, settings, batcher: DynamicBatcher, metrics: ServerMetrics):
    """POST /predict: check the request, queue it for the batcher, answer in text-embeddings-inference's shape."""
    @app.post("/predict", response_model=Union[list[Label], list[list[Label]], dict, list[dict]])
    async def predict(body: PredictRequest):
        started = time.perf_counter()
        response = await _predict(body)
        metrics.count("/predict", response.status_code, time.perf_counter() - started)
        return response

    async def _predict(body: PredictRequest) -> Response:
        size = len(body.inputs) if isinstance(body.inputs, list) else 1
        if size > settings.max_client_batch_size:
            return error(413, "Validation", f"inputs: expected at most {settings.max_client_batch_size} inputs "
                                            f"(--max_client_batch_size); found {size}. Fix: split the batch")
        try:
            request = served.request(body.inputs)
            if request.truncated and not body.truncate:
                return error(413, "Validation", f"inputs {_positions(request.truncated)}: expected at most "
                                                f"{served.max_length} tokens; found more. Fix: shorten them or "
                                                "send \"truncate\": true")
            results = await batcher.submit(request.rows, request.key, request.tokens, request.size)
        except TunecardError as exc:
            return error(422, "Validation", str(exc))
        except QueueFull as exc:
            return error(503, "Overloaded", f"the model is overloaded: {exc}. Retry later")
        metrics.count_inputs(request.size, len(request.truncated))
        headers = {"X-Truncated-Inputs": _positions(request.truncated)} if request.truncated else None
        return JSONResponse(results if isinstance(body.inputs, list) else results[0], headers=headers)


def _add_pages(app: FastAPI, served: ServedModel, settings, metrics: ServerMetrics, state: dict) -> None:
    """GET /health, /info, /metrics (Prometheus) and / (the try-it page)."""
    @app.get("/health")
    async def health():
        return JSONResponse({"status": "ok"} if state["serving"] else {"status": "shutting down"},
                            status_code=200 if state["serving"] else 503)

    @app.get("/info")
    async def info():
        return served.info(settings)

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.exposition(), media_type=metrics.content_type)

    @app.get("/", response_class=HTMLResponse)
    async def try_it():
        return resources.files("tunecard.workflows.serve").joinpath("page.html").read_text(encoding="utf-8")


def validation_message(exc: RequestValidationError) -> str:
    """One line: what was wrong with the body."""
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = next(e for e in errors if e.get("type") == "json_invalid").get("ctx", {}).get("error", "")
        return f"body: expected JSON; found invalid JSON ({detail}). Fix: send a JSON object"
    if any(e.get("type") == "model_attributes_type" or e.get("loc") == ("body",) for e in errors):
        return 'body: expected a JSON object {"inputs": ...}; found another JSON value. Fix: wrap it in {"inputs": ...}'
    first = errors[0]
    where = str(first["loc"][1]) if len(first.get("loc", ())) > 1 else "body"
    expected = EXPECTED.get(first.get("type"), INPUTS_SHAPE)
    return (f"{where}: expected {expected}; found {_shown(first.get('input'))}. "
            'Fix: send {"inputs": "a text"} or {"inputs": ["a text", "another"]}')


INPUTS_SHAPE = "a text, an object of text fields, or a list of these"
EXPECTED = {"missing": "an \"inputs\" field", "extra_forbidden": "only the fields inputs and truncate",
            "bool_type": "true or false", "bool_parsing": "true or false"}


def _shown(value) -> str:
    """A short JSON rendering of what was sent."""
    import json

    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _positions(indices: list[int]) -> str:
    return ",".join(str(i) for i in indices)


class PayloadLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413 before the app reads any of it."""

    def __init__(self, app, limit: int, metrics: Optional[ServerMetrics] = None):
        self.app, self.limit, self.metrics = app, limit, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        body, more = b"", True
        if declared is None or int(declared) <= self.limit:
            while more and len(body) <= self.limit:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
        if declared is not None and int(declared) > self.limit or len(body) > self.limit:
            if self.metrics is not None:
                self.metrics.count(scope["path"], 413)
            found = int(declared) if declared is not None else f"more than {self.limit}"
            response = error(413, "Validation", f"body: expected at most {self.limit} bytes (--payload_limit); "
                                                f"found {found}. Fix: send fewer or shorter inputs")
            return await response(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await self.app(scope, replay, send)
