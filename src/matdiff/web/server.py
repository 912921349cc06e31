"""The local web page and its JSON API (Starlette, served by uvicorn): `matdiff serve`.

Every request's work runs in a process of its own, forked from a server that has matdiff loaded
(multiprocessing's forkserver where there is one), under a memory cap, and is killed when it runs past the
time limit: a derivation that explodes cannot hang the server or take its memory, and other requests are
answered meanwhile.

The server is meant for one person's browser on the same machine, and defends itself accordingly:

- At most `workers` derivations run at once; up to `queue_size` more wait, each at most `queue_wait`
  seconds, and the rest get a 503 with Retry-After. A request's time limit counts from when it gets a
  worker, not from when it arrived, so a queue of slow requests does not turn cheap ones into TimeLimits.
- The API takes only `application/json` bodies: other web pages can send a browser's "simple" requests
  (text/plain, forms) to a local port without asking, but not JSON, which needs a CORS preflight this
  server never grants.
- The Host header must name the server (127.0.0.1, localhost, [::1], the --host address, or a name
  allowed with --allow-host) with its port: a page on a name that an attacker's DNS points at 127.0.0.1
  (DNS rebinding) gets a 400.
- A client has `read_timeout` seconds to send a request's head, and as many again for its body, then the
  connection is closed (408 for a body): half-open connections cannot pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import h11
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .. import __version__
from . import _work

STATIC = Path(__file__).parent / "static"
MAX_EXPRESSION = 2000
"""The longest expression accepted, in characters (413 beyond)."""
MAX_BODY = 16_384
"""The largest request body accepted, in bytes (413 beyond)."""
MAX_NESTING = 100
"""The deepest nesting of JSON arrays and objects accepted in a request body (400 beyond)."""
TIME_LIMIT = 5.0
"""Seconds a request's derivation may take, from when it gets a worker, before its process is killed (400)."""
MEMORY_LIMIT = 1024
"""Megabytes a worker's address space may grow by before its allocations fail (400); 0 for no cap."""
QUEUE_SIZE = 64
"""Requests that may wait for a worker while every worker is busy; beyond, a 503 with Retry-After."""
QUEUE_WAIT = 10.0
"""Seconds a request may wait for a worker before it gets a 503 with Retry-After."""
READ_TIMEOUT = 10.0
"""Seconds a client may take to send a request's head (then the connection is closed), and again its
body (then a 408)."""
KEEP_ALIVE = 5
"""Seconds an idle keep-alive connection stays open (uvicorn's default, stated)."""
MAX_CONNECTIONS = 512
"""Connections and requests in progress beyond which uvicorn answers 503 at once (its limit_concurrency)."""
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
"""The names the Host header may always give, with the server's port."""

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


def default_workers() -> int:
    """The derivations run at once by default: the CPUs, at least 2 and at most 8."""
    return max(2, min(8, os.cpu_count() or 2))


Answer = tuple[int, dict[str, Any]]
"""A response's status and JSON body."""


class Runner:
    """Runs one task per process, at most `workers` at a time, each with `memory_limit` MB (0: no cap) and
    killed `time_limit` seconds after it starts; up to `queue_size` more tasks wait for a worker, each for
    at most `queue_wait` seconds, and the others are answered 503 at once.
    """

    def __init__(
        self,
        time_limit: float = TIME_LIMIT,
        workers: int | None = None,
        *,
        memory_limit: int = MEMORY_LIMIT,
        queue_size: int = QUEUE_SIZE,
        queue_wait: float = QUEUE_WAIT,
    ) -> None:
        self.time_limit = time_limit
        self.workers = workers or default_workers()
        self.memory_limit = memory_limit
        self.queue_size = queue_size
        self.queue_wait = queue_wait
        self.context = _context()
        self.slots = anyio.Semaphore(self.workers)
        # the threads that wait on the workers: one per worker, never queued behind Starlette's shared pool
        self.threads = anyio.CapacityLimiter(self.workers)
        self.waiting = 0
        self.running = 0

    @property
    def retry_after(self) -> int:
        """The Retry-After of a 503, in seconds: by then every derivation running now has ended or been stopped."""
        return max(1, math.ceil(self.time_limit))

    async def run(
        self, task: str, payload: dict[str, Any], gone: Callable[[], Awaitable[bool]] | None = None
    ) -> Answer:
        """`task` on `payload` in a worker process, once one is free: (status, body). A 503 where the queue
        is full or the wait runs past `queue_wait`; `gone`, where given, says whether the client has left,
        and a task whose client left while it waited is not run."""
        if self.waiting >= self.queue_size and self.slots.value == 0:
            return self._busy(f"{self.waiting} requests are waiting already")
        self.waiting += 1
        acquired = False
        try:
            with anyio.move_on_after(self.queue_wait):
                await self.slots.acquire()
                acquired = True
        finally:
            self.waiting -= 1
        if not acquired:
            return self._busy(f"no worker was free for {self.queue_wait:g} s")
        try:
            if gone is not None and await gone():
                return 499, _body("the client closed the connection", "Gone")  # nobody reads it
            self.running += 1
            try:
                return await anyio.to_thread.run_sync(self._run_process, task, payload, limiter=self.threads)
            finally:
                self.running -= 1
        finally:
            self.slots.release()

    def _busy(self, why: str) -> Answer:
        return 503, _body(f"the server is busy ({why}): try again in {self.retry_after} s", "Busy")

    def _run_process(self, task: str, payload: dict[str, Any]) -> Answer:
        start = time.monotonic()  # the time limit counts from here, not from the request's arrival
        receive, send = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_work.child, args=(task, payload, send, self.memory_limit), daemon=True)
        try:
            process.start()
        except OSError as error:  # out of processes or memory: the machine, not the request
            receive.close()
            send.close()
            return 503, _body(f"the server could not start a worker ({error.strerror or error})", "Busy")
        send.close()
        try:
            if receive.poll(max(0.0, self.time_limit - (time.monotonic() - start))):
                try:
                    return receive.recv()
                except EOFError:  # the process ended without an answer: killed, or crashed in C code
                    process.join(1)
                    return 500, _body(
                        f"the derivation failed (its process ended with code {process.exitcode})", "WorkerFailed"
                    )
            return 400, _body(
                f"the derivation took longer than {self.time_limit:g} s and was stopped; "
                "try a lower order or a smaller expression",
                "TimeLimit",
            )
        finally:
            receive.close()
            if process.is_alive():
                process.kill()
            process.join(1)


def _body(message: str, kind: str) -> dict[str, Any]:
    """An error's JSON body, with the keys of the worker's (see _work.RequestError)."""
    return {"error": message, "type": kind, "message": message, "position": None, "reason": None}


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(_body(message, kind), status_code=status, headers=headers)


# Reading a request ------------------------------------------------------------------------------------

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_nesting(body: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (brackets inside strings do not count);
    json.loads recurses once per level, so the depth is bounded before it reads the text."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", body)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


async def _read_body(request: Request) -> bytes | None:
    """The request's body, or None once it is longer than MAX_BODY."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return body


async def _payload(request: Request) -> dict[str, Any] | JSONResponse:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        message = "the request body must be a JSON object sent with Content-Type: application/json"
        return _error(415, message, "UnsupportedMediaType")
    too_large = f"the request is too large (at most {MAX_BODY} bytes)"
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        return _error(413, too_large, "TooLarge")
    read_timeout = request.app.state.read_timeout
    try:
        with anyio.fail_after(read_timeout):
            body = await _read_body(request)
    except TimeoutError:
        message = f"the request body did not arrive within {read_timeout:g} s"
        return _error(408, message, "Timeout", headers={"Connection": "close"})
    if body is None:
        return _error(413, too_large, "TooLarge")
    if json_nesting(body) > MAX_NESTING:
        message = f"the request body is nested too deeply (more than {MAX_NESTING} levels of arrays and objects)"
        return _error(400, message, "BadRequest")
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return _error(400, "the request body must be a JSON object", "BadRequest")
    if not isinstance(payload, dict):
        return _error(400, "the request body must be a JSON object", "BadRequest")
    expression = payload.get("expression")
    if isinstance(expression, str) and len(expression) > MAX_EXPRESSION:
        message = f"the expression is too long ({len(expression)} characters; at most {MAX_EXPRESSION})"
        return _error(413, message, "TooLarge")
    return payload


def _endpoint(task: str):
    async def endpoint(request: Request) -> Response:
        payload = await _payload(request)
        if isinstance(payload, Response):
            return payload
        runner: Runner = request.app.state.runner
        status, body = await runner.run(task, payload, gone=request.is_disconnected)
        headers = {"Retry-After": str(runner.retry_after)} if status == 503 else None
        return JSONResponse(body, status_code=status, headers=headers)

    endpoint.__name__ = f"api_{task}"
    return endpoint


async def _index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html")


async def _favicon(request: Request) -> Response:
    # browsers ask for /favicon.ico whatever the page links: the SVG the page links (a ∂), not a 404
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


async def _health(request: Request) -> Response:
    runner: Runner = request.app.state.runner
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "time_limit": runner.time_limit,
            "memory_limit": runner.memory_limit,
            "workers": runner.workers,
            "running": runner.running,
            "waiting": runner.waiting,
        }
    )


async def _http_error(request: Request, error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _error(error.status_code, str(error.detail), "HTTPError")
    return _error(500, "internal error", type(error).__name__)


# Middleware -------------------------------------------------------------------------------------------


class SecurityHeaders:
    """Adds a Content-Security-Policy that allows nothing from outside the server, and no-sniff."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", _CSP.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _bracketed(name: str) -> str:
    """An IPv6 address as a Host header writes it, in brackets; other names as they are."""
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def split_host(host: str) -> tuple[str, str]:
    """A Host header's name (lower-case, an IPv6 address in brackets) and port ("" where none)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        return name + "]", rest.removeprefix(":")
    if host.count(":") > 1:  # an IPv6 address without brackets, as --allow-host may give it
        return _bracketed(host), ""
    name, _, port = host.partition(":")
    return name, port


class HostCheck:
    """Answers 400 to a request whose Host header does not name this server: a loopback name, the address
    the connection came in on, or one of `names` (--host and --allow-host: NAME, or NAME:PORT for one
    port only), with the server's port (or none, on port 80). "*" among `names` accepts any Host.

    A page whose name an attacker's DNS points at 127.0.0.1 (DNS rebinding) sends its own name: refused.
    """

    def __init__(self, app: ASGIApp, names: Iterable[str] = ()) -> None:
        self.app = app
        self.any_host = "*" in names
        self.names = set(LOOPBACK_NAMES)
        self.names_with_port = set()
        for entry in names:
            name, port = split_host(entry)
            if port:
                self.names_with_port.add(f"{name}:{port}")
            else:
                self.names.add(name)

    def allows(self, host: str, server: tuple[str, int | None] | None) -> bool:
        """Whether `host`, a Host header, names the server listening at `server` (the ASGI scope's)."""
        if self.any_host:
            return True
        name, port = split_host(host)
        if f"{name}:{port}" in self.names_with_port:
            return True
        local_address, local_port = server or ("", None)
        if name not in self.names and name != _bracketed(local_address or ""):
            return False
        return port == str(local_port) or (not port and local_port in (80, None))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if not self.allows(host, scope.get("server")):
                message = (
                    f"the Host header {host!r} does not name this server; "
                    "to accept that name, start it with --allow-host NAME"
                )
                await _error(400, message, "HostNotAllowed")(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SlowClientProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol (h11), which also closes a connection whose next request head has not
    arrived in full within `head_timeout` seconds of the connection opening or the previous response.

    uvicorn's own keep-alive timer stops at a request's first byte, so a client that sends part of its
    headers and stalls would hold the connection, and a file descriptor, forever.
    """

    head_timeout: float = READ_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's head arrived: its body is the application's to time
            self._stop_head_timer()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._start_head_timer()  # before uvicorn reads a pipelined request, which stops it
        super().on_response_complete()

    def _start_head_timer(self) -> None:
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            with contextlib.suppress(h11.LocalProtocolError):
                self.conn.send(h11.ConnectionClosed())
            self.transport.close()


# The application and the server -----------------------------------------------------------------------


def create_app(
    time_limit: float = TIME_LIMIT,
    workers: int | None = None,
    *,
    memory_limit: int = MEMORY_LIMIT,
    queue_size: int = QUEUE_SIZE,
    queue_wait: float = QUEUE_WAIT,
    read_timeout: float = READ_TIMEOUT,
    host: str = "127.0.0.1",
    allow_hosts: Iterable[str] = (),
) -> Starlette:
    """The Starlette application: the page at /, static files at /static (the page's icon also at
    /favicon.ico), the API under /api.

    `time_limit` (seconds from when a request gets a worker), `workers`, `memory_limit` (MB per worker,
    0: none), `queue_size` and `queue_wait` (seconds) are the Runner's; `read_timeout` bounds the reading
    of a request's body (408); the Host header must name `host`, a loopback name or one of `allow_hosts`
    (see HostCheck).
    """
    app = Starlette(
        routes=[
            Route("/", _index),
            Route("/favicon.ico", _favicon),
            Route("/api/health", _health),
            Route("/api/variables", _endpoint("variables"), methods=["POST"]),
            Route("/api/diff", _endpoint("diff"), methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _http_error},
    )
    app.state.runner = Runner(
        time_limit, workers, memory_limit=memory_limit, queue_size=queue_size, queue_wait=queue_wait
    )
    app.state.read_timeout = read_timeout
    app.add_middleware(HostCheck, names=[host, *allow_hosts])
    app.add_middleware(SecurityHeaders)  # added last, so outermost: on every response, errors included
    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    time_limit: float = TIME_LIMIT,
    workers: int | None = None,
    *,
    memory_limit: int = MEMORY_LIMIT,
    queue_size: int = QUEUE_SIZE,
    queue_wait: float = QUEUE_WAIT,
    read_timeout: float = READ_TIMEOUT,
    allow_hosts: Iterable[str] = (),
) -> None:
    """Serve the page at http://host:port/ until interrupted (uvicorn); the options are create_app's, and
    `read_timeout` also bounds the wait for a request's head."""
    import uvicorn

    app = create_app(
        time_limit,
        workers,
        memory_limit=memory_limit,
        queue_size=queue_size,
        queue_wait=queue_wait,
        read_timeout=read_timeout,
        host=host,
        allow_hosts=allow_hosts,
    )
    protocol = type("MatdiffHTTPProtocol", (SlowClientProtocol,), {"head_timeout": read_timeout})
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        http=protocol,
        timeout_keep_alive=KEEP_ALIVE,
        limit_concurrency=MAX_CONNECTIONS,
    )
