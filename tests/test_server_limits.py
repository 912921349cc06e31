"""The server's limits, each against a real `matdiff serve` (see test_api_server.py): a request's time
limit counts from when it gets a worker, the queue for workers is bounded (503 with Retry-After), each
worker's memory is capped, --allow-host adds a name the Host header may give, and a client that stalls
halfway through a request is cut off. Also the pieces of those checks, without a server.
"""

from __future__ import annotations

import inspect
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from .test_api_server import SLOW, assert_clean_error, post, running_server

pytest.importorskip("starlette", reason='the web extra is not installed (pip install "matdiff[web]")')
pytest.importorskip("uvicorn", reason='the web extra is not installed (pip install "matdiff[web]")')

from matdiff.web import server as web_server  # noqa: E402

CHEAP = {"expression": "x'*A*x", "wrt": "x"}
TIME_LIMIT = 1.0
QUEUE_SIZE = 3
QUEUE_WAIT = 2.5
READ_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def queued() -> Iterator[str]:
    """One worker, a 1 s time limit, 3 places in the queue for at most 2.5 s each: every SLOW request
    holds the worker for 1 s."""
    options = ["--workers", "1", "--queue-size", str(QUEUE_SIZE), "--queue-wait", str(QUEUE_WAIT)]
    options += ["--read-timeout", str(READ_TIMEOUT), "--allow-host", "matdiff.test", "--allow-host", "other.test:1"]
    with running_server(TIME_LIMIT, *options) as url:
        yield url


class InOrder:
    """Sends requests from threads, 0.15 s apart so that they reach the queue in order; `results` has
    each one's (status, body, seconds it took, Retry-After) by name."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.threads: list[threading.Thread] = []
        self.results: dict[str, tuple[int, dict, float, str | None]] = {}

    def send(self, name: str, body: dict) -> None:
        def run() -> None:
            start = time.monotonic()
            request = urllib.request.Request(
                self.url + "/api/diff",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, text, retry = response.status, response.read(), None
            except urllib.error.HTTPError as error:
                status, text, retry = error.code, error.read(), error.headers.get("Retry-After")
            self.results[name] = (status, json.loads(text), time.monotonic() - start, retry)

        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)
        time.sleep(0.15)

    def wait(self) -> None:
        for thread in self.threads:
            thread.join(30)


def test_a_cheap_request_behind_slow_ones_waits_then_gets_its_own_time_limit(queued):
    """It waits ~2 s for the worker, twice its time limit, and is then answered: the limit counts from
    when it gets the worker (the fuzzer found cheap requests answered TimeLimit under load)."""
    requests = InOrder(queued)
    requests.send("slow 1", SLOW)
    requests.send("slow 2", SLOW)
    requests.send("cheap", CHEAP)
    requests.wait()
    status, body, seconds, _ = requests.results["cheap"]
    assert status == 200 and body["derivative"] == "A*x + A'*x", body
    assert seconds > TIME_LIMIT * 1.4, "the cheap request did not wait for the slow ones"
    assert [requests.results[name][1]["type"] for name in ("slow 1", "slow 2")] == ["TimeLimit", "TimeLimit"]


def test_a_full_queue_and_a_long_wait_get_503_with_retry_after(queued):
    requests = InOrder(queued)
    for name in ("slow 1", "slow 2", "slow 3"):  # one runs, two wait
        requests.send(name, SLOW)
    requests.send("waits too long", CHEAP)  # the third in the queue: its turn would come at ~3 s
    requests.send("queue full", CHEAP)
    requests.wait()

    status, body, seconds, retry_after = requests.results["queue full"]
    assert status == 503 and body["type"] == "Busy" and seconds < 0.5, (status, body, seconds)
    assert retry_after == "1" and "waiting already" in body["error"]
    assert_clean_error(body)

    status, body, seconds, retry_after = requests.results["waits too long"]
    assert status == 503 and body["type"] == "Busy" and retry_after == "1", body
    assert QUEUE_WAIT - 0.1 < seconds < QUEUE_WAIT + 1.5 and "no worker was free for 2.5 s" in body["error"]
    # the slow ones were served in turn, each with its full second
    assert all(requests.results[f"slow {n}"][1]["type"] == "TimeLimit" for n in (1, 2, 3))
    # and the queue is empty again
    status, body = post(queued + "/api/diff", CHEAP)
    assert status == 200, body


def test_allow_host_adds_names(queued):
    port = queued.rsplit(":", 1)[1]
    for host in (f"matdiff.test:{port}", f"MATDIFF.test:{port}", "other.test:1", f"localhost:{port}"):
        status, body = post(queued + "/api/variables", {"expression": "x"}, headers={"Host": host})
        assert status == 200, (host, body)
    for host in ("matdiff.test:1", f"other.test:{port}", f"evil.test:{port}", ""):
        status, body = post(queued + "/api/variables", {"expression": "x"}, headers={"Host": host})
        assert status == 400 and body["type"] == "HostNotAllowed", (host, body)


def read_until_closed(url: str, data: bytes, limit: float) -> tuple[bytes, float]:
    """Sends `data` on a raw connection and stalls: what the server answers before it closes the
    connection, and how long it took (at most `limit`, then the test fails)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=limit) as connection:
        start = time.monotonic()
        connection.sendall(data)
        answer = b""
        try:
            while chunk := connection.recv(4096):
                answer += chunk
        except TimeoutError:
            pytest.fail(f"the server held a stalled connection for more than {limit} s")
        return answer, time.monotonic() - start


def test_a_client_that_stalls_is_cut_off(queued):
    port = queued.rsplit(":", 1)[1]
    head = f"POST /api/diff HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
    limit = READ_TIMEOUT + 3
    # nothing at all; half the headers; an idle keep-alive connection, then half the next request's headers
    for data in (
        b"",
        head + b"Content-Ty",
        b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:" + port.encode() + b"\r\n\r\nGET /",
    ):
        answer, seconds = read_until_closed(queued, data, limit)
        assert READ_TIMEOUT - 0.2 < seconds < limit, (data, seconds)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 200"), answer
    # the headers, then half the body: a 408
    body_start = head + b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n" + b'{"expression": "x'
    answer, seconds = read_until_closed(queued, body_start, limit)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["type"] == "Timeout"
    # and the server still answers
    assert post(queued + "/api/variables", {"expression": "x"})[0] == 200


def test_a_request_past_the_memory_cap_gets_a_400_and_the_server_carries_on():
    with running_server(20, "--memory-limit", "12", "--workers", "1") as url:
        start = time.monotonic()
        status, body = post(url + "/api/diff", SLOW)
        assert status == 400 and body["type"] == "MemoryLimit", body
        assert "more than 12 MB of memory" in body["error"]
        assert_clean_error(body)
        assert time.monotonic() - start < 15
        with urllib.request.urlopen(url + "/api/health", timeout=10) as response:
            health = json.loads(response.read())
        assert health["status"] == "ok" and health["memory_limit"] == 12 and health["running"] == 0
        status, body = post(url + "/api/diff", CHEAP)
        assert status == 200 and body["check"]["passed"] is True, body


# The pieces -------------------------------------------------------------------------------------------


def test_json_nesting_counts_brackets_outside_strings():
    nesting = web_server.json_nesting
    assert nesting(b'{"a": 1}') == 1 and nesting(b"1") == 0
    assert nesting(b'{"a": [[1], {"b": [2]}]}') == 4
    assert nesting(b'{"[[[[": "]]]]{{", "b": "\\"[["}') == 1
    assert nesting(b"[" * 5000) == 5000


def test_host_check():
    check = web_server.HostCheck(app=None, names=["127.0.0.1", "box.lan", "proxy.lan:443", "::1"])  # type: ignore[arg-type]
    server = ("127.0.0.1", 8000)
    allowed = ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "box.lan:8000", "Box.LAN:8000", "proxy.lan:443"]
    refused = ["", "evil.example:8000", "localhost:8001", "localhost", "box.lan:443", "proxy.lan:8000", "[::2]:8000"]
    assert [host for host in allowed if not check.allows(host, server)] == []
    assert [host for host in refused if check.allows(host, server)] == []
    # the address a connection came in on names the server (with --host 0.0.0.0: the LAN address)
    assert check.allows("192.168.1.5:8000", ("192.168.1.5", 8000))
    assert check.allows("[fe80::1]:8000", ("fe80::1", 8000))
    # without a port on port 80
    assert check.allows("localhost", ("127.0.0.1", 80))
    assert web_server.HostCheck(app=None, names=["*"]).allows("anything:1", server)  # type: ignore[arg-type]


def test_the_command_line_defaults_are_the_servers():
    from matdiff import cli

    defaults = {name: parameter.default for name, parameter in inspect.signature(cli.serve).parameters.items()}
    assert defaults["time_limit"] == web_server.TIME_LIMIT
    assert defaults["memory_limit"] == web_server.MEMORY_LIMIT
    assert defaults["queue_size"] == web_server.QUEUE_SIZE
    assert defaults["queue_wait"] == web_server.QUEUE_WAIT
    assert defaults["read_timeout"] == web_server.READ_TIMEOUT
    assert defaults["workers"] is None and defaults["allow_host"] is None
