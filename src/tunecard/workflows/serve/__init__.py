"""`tunecard serve`: a trained model behind an HTTP API with dynamic batching and a try-it page.

- `batcher.py`: the queue that combines concurrent requests into batches (torch-free);
- `engine.py`: the loaded model, requests as the task's predict columns, results as labels with scores;
- `app.py`: the FastAPI app (routes, errors, payload limit); `telemetry.py`: Prometheus metrics;
- `page.html`: the try-it page (plain HTML and JavaScript).
"""

from __future__ import annotations

import contextlib
import socket
import sys

from tunecard.config import ServeConfig
from tunecard.errors import TunecardError


def serve(config: ServeConfig) -> None:
    """Serve a trained model over HTTP until stopped (docs/serve.md): load the model, bind the port, and answer
    until SIGINT/SIGTERM (requests in flight are answered first). `config`: a ServeConfig or a dict of its fields."""
    settings = config if isinstance(config, ServeConfig) else ServeConfig(**config)
    try:
        import uvicorn

        from tunecard.workflows.serve.app import create_app  # fastapi, prometheus-client
        from tunecard.workflows.serve.engine import ServedModel
    except ImportError as exc:
        raise TunecardError("tunecard serve", "fastapi, uvicorn and prometheus-client installed",
                            f"{exc.name} missing", 'pip install -e ".[serve]"') from None

    if not settings.model:
        raise TunecardError("--model", "a run directory or model folder to serve", "none", "add --model runs/NAME")
    served = ServedModel(settings.model, settings.backend, settings.batch_size)
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    print(f"tunecard serve: {served.task.name} model {settings.model} ({len(served.labels)} labels, "
          f"{settings.backend}) at http://{host}:{port} (try it: /, API docs: /docs, metrics: /metrics)",
          file=sys.stderr, flush=True)
    if served.int8_gate is not None:
        print(f"tunecard serve: {served.int8_gate['line']}", file=sys.stderr, flush=True)
    config = uvicorn.Config(create_app(served, settings), log_level="warning", access_log=False,
                            timeout_graceful_shutdown=None)
    server_class(uvicorn.Server)(config).run(sockets=[sock])


def server_class(base):
    """uvicorn's Server, except that a stop asked for by SIGINT/SIGTERM ends with status 0: uvicorn re-raises
    the signal after its graceful shutdown (a KeyboardInterrupt traceback, or death by SIGTERM)."""
    class Server(base):
        @contextlib.contextmanager
        def capture_signals(self):
            with super().capture_signals():
                yield
                self._captured_signals.clear()
    return Server


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a one-line error when the address is taken or unknown."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise TunecardError("--host/--port", "a free address to listen on", f"{host}:{port}: {exc.strerror}",
                            "choose another --host or --port (or stop what is listening there)") from None
    sock.listen(2048)
    return sock
