"""The web page's JSON API, served by a real `matdiff serve` on a free port of 127.0.0.1.

Oversized and pathological input gets a clear 4xx within the time limit, errors carry a message and no
traceback, and while a slow derivation runs, other requests are answered.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

pytest.importorskip("starlette", reason='the web extra is not installed (pip install "matdiff[web]")')
pytest.importorskip("uvicorn", reason='the web extra is not installed (pip install "matdiff[web]")')

TIME_LIMIT = 2.0
SLOW = {"expression": "det(X*X'*X + inv(X))", "wrt": ["X"], "order": 4}  # ~15 s of work unbounded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(time_limit: float = TIME_LIMIT, *options: str) -> Iterator[str]:
    """`python -m matdiff serve` with `options` on a free port of 127.0.0.1; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "matdiff", "serve", "--port", str(port), "--time-limit", str(time_limit)]
    command += options
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/api/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"matdiff serve did not start:\n{output}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server() as url:
        yield url


def post(url: str, body: object, timeout: float = 30, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def assert_clean_error(body: dict) -> None:
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in json.dumps(body)


def test_variables_and_derivative(server):
    status, body = post(server + "/api/variables", {"expression": "a'*inv(X)*b"})
    assert status == 200
    assert body["variables"] == {"X": "matrix", "a": "vector", "b": "vector"}

    status, body = post(server + "/api/diff", {"expression": "a'*inv(X)*b", "wrt": ["X"]})
    assert status == 200, body
    assert body["derivative"] == "-inv(X)'*a*b'*inv(X)'"
    assert body["kind"] == "matrix" and len(body["shape"]) == 2
    assert body["latex"].startswith("-")
    assert [step["rule"] for step in body["steps"]["steps"]] == ["linearity", "identity"]
    assert "d inv(U)" in body["steps"]["markdown"] and body["steps"]["latex"].startswith("\\begin{aligned}")
    assert body["steps"]["error"] is None
    assert body["check"]["passed"] is True and body["check"]["text"].startswith("PASS")


def test_kinds_order_and_layout(server):
    body = {"expression": "x'*S*x", "kinds": {"S": "symmetric"}, "wrt": "x", "order": 2}
    status, result = post(server + "/api/diff", body)
    assert status == 200, result
    assert result["variables"] == {"S": "symmetric", "x": "vector"}
    assert result["derivative"] == "2*S" and result["wrt"] == ["x", "x"]
    status, result = post(server + "/api/diff", {"expression": "x'*a", "wrt": ["x"], "layout": "numerator"})
    assert status == 200 and result["derivative"] == "a'"


def test_parse_error_has_message_and_position(server):
    status, body = post(server + "/api/diff", {"expression": "x+*y", "wrt": ["x"]})
    assert status == 400
    assert_clean_error(body)
    assert body["position"] == 2 and body["type"] == "ParseError"
    assert body["error"].splitlines()[-1].strip() == "^"


@pytest.mark.parametrize(
    "body",
    [
        {"expression": "x", "kinds": {"x": "tensor"}},
        {"expression": "x'*x", "wrt": ["y"]},
        {"expression": "x'*A*x", "wrt": ["x", "A"], "order": 2},
        {"expression": "x'*x", "wrt": ["x"], "order": 9},
        {"expression": ""},
        {"expression": "x'*A*x", "wrt": 5},
        {"expression": "x'*A*x", "wrt": True},
        {"expression": "x", "wrt": [True]},
        {"expression": "x'*x", "seed": -1},
        {"expression": "x'*x", "code": "fortran"},
        {"expression": "x'*x", "code": ["numpy"]},
        {"expression": "x'*x", "kinds": {"x": {"deep": [[["vector"]]]}}},
        [1, 2, 3],
        b"{not json",
        b'{"expression": "x", "wrt": 1' + b"0" * 5000 + b"}",  # past Python's digits limit for int()
    ],
)
def test_bad_requests_get_400(server, body):
    status, result = post(server + "/api/diff", body)
    assert status == 400
    assert_clean_error(result)


def test_a_variable_named_text_is_a_variable(server):
    body = {"expression": "text*x", "kinds": {"text": "scalar"}, "wrt": "text", "check": False}
    status, result = post(server + "/api/diff", body)
    assert status == 200, result
    assert result["variables"] == {"text": "scalar", "x": "vector"} and result["derivative"] == "x"


def test_deeply_nested_json_is_a_400_not_a_recursion_error(server):
    for body in (b"[" * 5000 + b"]" * 5000, b'{"expression": "x", "kinds": ' + b"[" * 101 + b"]" * 101 + b"}"):
        status, result = post(server + "/api/diff", body)
        assert status == 400 and "nested too deeply" in result["error"], result
    # brackets inside strings are text, not nesting
    status, result = post(server + "/api/variables", {"expression": "x", "kinds": {"[" * 200: "scalar"}})
    assert status == 200, result


def test_only_json_bodies_are_accepted(server):
    """A web page may send text/plain or a form to any port without a CORS preflight, but not JSON."""
    body = json.dumps({"expression": "x'*A*x", "wrt": "x"})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""):
        status, result = post(server + "/api/diff", body.encode(), headers={"Content-Type": content_type})
        assert status == 415 and result["type"] == "UnsupportedMediaType", (content_type, result)
        assert "application/json" in result["error"]
    status, _ = post(server + "/api/diff", body.encode(), headers={"Content-Type": "application/json; charset=utf-8"})
    assert status == 200


def test_a_host_that_is_not_the_server_is_refused(server):
    """DNS rebinding: a page on evil.example, resolved to 127.0.0.1, sends Host: evil.example."""
    port = server.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1:1", f"localhost.evil.example:{port}"):
        status, result = post(server + "/api/variables", {"expression": "x"}, headers={"Host": host})
        assert status == 400 and result["type"] == "HostNotAllowed", (host, result)
        assert "--allow-host" in result["error"]
    for host in (f"localhost:{port}", f"LOCALHOST:{port}", f"127.0.0.1:{port}"):
        assert post(server + "/api/variables", {"expression": "x"}, headers={"Host": host})[0] == 200, host


def test_oversized_input_is_refused(server):
    start = time.monotonic()
    status, body = post(server + "/api/diff", {"expression": "sin(" * 3000 + "x" + ")" * 3000, "wrt": ["x"]})
    assert status == 413 and "too long" in body["error"]
    status, body = post(server + "/api/variables", {"expression": "x" + " " * 100_000})
    assert status == 413 and "too large" in body["error"]
    assert time.monotonic() - start < 5


def test_deep_nesting_is_an_error(server):
    status, body = post(server + "/api/diff", {"expression": "sin(" * 300 + "x" + ")" * 300, "wrt": ["x"]})
    assert status == 400
    assert_clean_error(body)
    assert "nested" in body["error"]


def test_slow_derivation_is_stopped_within_the_limit(server):
    start = time.monotonic()
    status, body = post(server + "/api/diff", SLOW)
    elapsed = time.monotonic() - start
    assert status == 400 and body["type"] == "TimeLimit", body
    assert "longer than 2 s" in body["error"]
    assert elapsed < TIME_LIMIT + 3


def test_other_requests_are_answered_while_a_slow_one_runs(server):
    slow: dict = {}

    def run_slow() -> None:
        slow["answer"] = post(server + "/api/diff", SLOW)
        slow["done"] = time.monotonic()

    thread = threading.Thread(target=run_slow)
    start = time.monotonic()
    thread.start()
    time.sleep(0.3)  # the slow one is running
    answers = []
    for _ in range(5):
        t0 = time.monotonic()
        status, body = post(server + "/api/diff", {"expression": "x'*A*x", "wrt": ["x"]}, timeout=10)
        answers.append((status, body["derivative"], time.monotonic() - t0))
    fast_done = time.monotonic()
    thread.join(TIME_LIMIT + 10)
    assert not thread.is_alive()
    assert all(status == 200 and text == "A*x + A'*x" for status, text, _ in answers)
    assert fast_done < slow["done"], "the fast requests waited for the slow one"
    assert max(seconds for *_, seconds in answers) < TIME_LIMIT
    assert slow["answer"][0] == 400 and slow["done"] - start < TIME_LIMIT + 3
    # and the server is still fine afterwards
    assert post(server + "/api/variables", {"expression": "logdet(S)"})[0] == 200


def test_page_and_vendored_katex_are_served(server):
    with urllib.request.urlopen(server + "/", timeout=10) as response:
        page = response.read().decode()
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "/static/katex/katex.min.js" in page and "http" not in page.split("<body>")[0].replace("http-equiv", "")
    for path in (
        "/static/katex/katex.min.js",
        "/static/katex/katex.min.css",
        "/static/katex/fonts/KaTeX_Main-Regular.woff2",
    ):
        with urllib.request.urlopen(server + path, timeout=10) as response:
            assert response.status == 200 and len(response.read()) > 1000
    try:
        urllib.request.urlopen(server + "/nowhere", timeout=10)
    except urllib.error.HTTPError as error:
        assert error.code == 404 and "error" in json.loads(error.read())


def test_server_binds_localhost_by_default():
    import inspect

    from matdiff import cli

    assert inspect.signature(cli.serve).parameters["host"].default == "127.0.0.1"
