"""The local web page and its JSON API (Starlette, served by uvicorn): `matdiff serve`.

Every request's work runs in a process of its own, forked from a server that has matdiff loaded
(multiprocessing's forkserver where there is one), and is killed when it runs past the time limit:
a derivation that explodes cannot hang the server, and other requests are answered meanwhile.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from . import _work

STATIC = Path(__file__).parent / "static"
MAX_EXPRESSION = 2000
"""The longest expression accepted, in characters (413 beyond)."""
MAX_BODY = 16_384
"""The largest request body accepted, in bytes (413 beyond)."""
TIME_LIMIT = 5.0
"""Seconds a request's derivation may take before its process is killed (and the request gets a 400)."""

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)


def _context() -> Any:  # a forkserver or spawn context; typeshed's BaseContext lacks Process
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["matdiff.web._work"])
        return context
    return multiprocessing.get_context("spawn")


class Runner:
    """Runs one task per process, at most `workers` at a time, each killed after `time_limit` seconds."""

    def __init__(self, time_limit: float = TIME_LIMIT, workers: int | None = None) -> None:
        self.time_limit = time_limit
        self.context = _context()
        self.slots = threading.BoundedSemaphore(workers or max(2, min(8, os.cpu_count() or 2)))

    def __call__(self, task: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        start = time.monotonic()
        if not self.slots.acquire(timeout=self.time_limit):
            return 503, {"error": "the server is busy: try again in a moment", "type": "Busy", "position": None}
        try:
            receive, send = self.context.Pipe(duplex=False)
            process = self.context.Process(target=_work.child, args=(task, payload, send), daemon=True)
            process.start()
            send.close()
            try:
                left = max(0.0, self.time_limit - (time.monotonic() - start))
                if receive.poll(left):
                    try:
                        return receive.recv()
                    except EOFError:
                        return 500, {"error": "the derivation failed (its process ended)", "position": None}
                return 400, {
                    "error": f"the derivation took longer than {self.time_limit:g} s and was stopped; "
                    "try a lower order or a smaller expression",
                    "type": "TimeLimit",
                    "position": None,
                }
            finally:
                receive.close()
                if process.is_alive():
                    process.kill()
                process.join(1)
        finally:
            self.slots.release()


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, "position": None, **extra}, status_code=status)


async def _payload(request: Request) -> dict[str, Any] | JSONResponse:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        return _error(413, f"the request is too large (at most {MAX_BODY} bytes)", type="TooLarge")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _error(413, f"the request is too large (at most {MAX_BODY} bytes)", type="TooLarge")
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return _error(400, "the request body must be a JSON object", type="BadRequest")
    if not isinstance(payload, dict):
        return _error(400, "the request body must be a JSON object", type="BadRequest")
    expression = payload.get("expression")
    if isinstance(expression, str) and len(expression) > MAX_EXPRESSION:
        message = f"the expression is too long ({len(expression)} characters; at most {MAX_EXPRESSION})"
        return _error(413, message, type="TooLarge")
    return payload


def _endpoint(task: str):
    async def endpoint(request: Request) -> Response:
        payload = await _payload(request)
        if isinstance(payload, Response):
            return payload
        status, body = await run_in_threadpool(request.app.state.runner, task, payload)
        return JSONResponse(body, status_code=status)

    endpoint.__name__ = f"api_{task}"
    return endpoint


async def _index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html")


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__, "time_limit": request.app.state.runner.time_limit})


async def _http_error(request: Request, error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _error(error.status_code, str(error.detail))
    return _error(500, "internal error", type=type(error).__name__)


class SecurityHeaders:
    """Adds a Content-Security-Policy that allows nothing from outside the server, and no-sniff."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", _CSP.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(time_limit: float = TIME_LIMIT, workers: int | None = None) -> Starlette:
    """The Starlette application: the page at /, static files at /static, the API under /api."""
    app = Starlette(
        routes=[
            Route("/", _index),
            Route("/api/health", _health),
            Route("/api/variables", _endpoint("variables"), methods=["POST"]),
            Route("/api/diff", _endpoint("diff"), methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _http_error},
    )
    app.state.runner = Runner(time_limit=time_limit, workers=workers)
    app.add_middleware(SecurityHeaders)
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, time_limit: float = TIME_LIMIT) -> None:
    """Serve the page at http://host:port/ until interrupted (uvicorn)."""
    import uvicorn

    uvicorn.run(create_app(time_limit=time_limit), host=host, port=port, log_level="warning")
