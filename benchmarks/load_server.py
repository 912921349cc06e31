"""Load on `matdiff serve`: many clients at once, cheap requests with a few heavy ones among them.

Run from the repository root (needs the web extra):

    python benchmarks/load_server.py --clients 20 --duration 15
    python benchmarks/load_server.py --clients 100 --duration 15 --heavy 0.05 -- --workers 2
    python benchmarks/load_server.py --url http://127.0.0.1:8000 --clients 50   # a server already running

Without --url the script starts `python -m matdiff serve` on a free port of 127.0.0.1 (the options after
`--` are passed to it) and stops it at the end; with --url it drives that server, which must be on a
loopback address: the script never sends anything to another host.

Each client is a thread with one keep-alive connection that sends requests back to back: POST /api/diff
of `x'*A*x` (about 0.06 s of work, with its steps and its check), or, for a share --heavy of them, the 4th
derivative of `det(X*X'*X + inv(X))`, which runs into the time limit. After a 503 a client waits as its
Retry-After says (--ignore-retry-after: it sends again at once). It stops after --duration seconds or --requests
requests in all, whichever comes first, and reports the throughput, the latency percentiles of the cheap
requests and of all, the status codes with the error types, and the memory (resident set) of the server
and its worker processes before, at the highest point during the run and after. Nothing here asserts:
the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CHEAP = {"expression": "x'*A*x", "wrt": "x"}
HEAVY = {"expression": "det(X*X'*X + inv(X))", "wrt": ["X"], "order": 4}
LOOPBACK = ("127.0.0.1", "localhost", "::1")
REQUEST_TIMEOUT = 60.0
"""Seconds a client waits for an answer before it counts the request as failed."""


@dataclass
class Outcome:
    """One request: cheap or heavy, its status (0: no answer), the error type of a 4xx/5xx, its seconds."""

    heavy: bool
    status: int
    error_type: str | None
    seconds: float


@dataclass
class Load:
    """What the clients share: when to stop, and every request's outcome."""

    deadline: float
    max_requests: int
    heavy_share: float
    honour_retry_after: bool = True
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0

    def next_request(self) -> int | None:
        """A number for the next request, or None when the run is over."""
        with self.lock:
            if time.monotonic() >= self.deadline or self.sent >= self.max_requests:
                return None
            self.sent += 1
            return self.sent


def client(host: str, port: int, load: Load) -> None:
    """Sends requests on one keep-alive connection until the run is over; reconnects after an error."""
    connection: http.client.HTTPConnection | None = None
    while (number := load.next_request()) is not None:
        # every client sends heavy requests at the same share, spread evenly through its requests
        heavy = load.heavy_share > 0 and number % round(1 / load.heavy_share) == 0
        body = json.dumps(HEAVY if heavy else CHEAP).encode()
        start = time.monotonic()
        status, error_type, retry_after = 0, "NoAnswer", None
        try:
            if connection is None:
                connection = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
            connection.request("POST", "/api/diff", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
            status = response.status
            error_type = None if status == 200 else json.loads(answer).get("type")
            retry_after = response.getheader("Retry-After")
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = None
        except (OSError, http.client.HTTPException, ValueError) as error:
            error_type = type(error).__name__
            if connection is not None:
                connection.close()
            connection = None
        with load.lock:
            load.outcomes.append(Outcome(heavy, status, error_type, time.monotonic() - start))
        if status == 503 and retry_after and load.honour_retry_after:
            # a polite client: it waits as told (but not past the end of the run) before it sends again, on a
            # new connection: the server closes idle ones after 5 s, and a request sent just as it does fails
            if connection is not None:
                connection.close()
                connection = None
            time.sleep(max(0.0, min(float(retry_after), load.deadline - time.monotonic())))
    if connection is not None:
        connection.close()


# Memory --------------------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    """Every process's children, by parent id, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_mib(pid: int) -> tuple[float, float, int]:
    """The resident memory of process `pid` and of all its descendants (the forkserver and the workers),
    in MiB, and how many descendants there are. Shared pages count once per process, so the second figure
    overstates what the workers take together."""
    children = _children()
    descendants, stack = [], list(children.get(pid, []))
    while stack:
        child = stack.pop()
        descendants.append(child)
        stack.extend(children.get(child, []))
    return _rss_kib(pid) / 1024, sum(map(_rss_kib, descendants)) / 1024, len(descendants)


class MemoryWatch(threading.Thread):
    """Samples memory_mib(pid) every half second until stopped; keeps the highest of each figure."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.highest = (0.0, 0.0, 0)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            sample = memory_mib(self.pid)
            self.highest = (
                max(self.highest[0], sample[0]),
                max(self.highest[1], sample[1]),
                max(self.highest[2], sample[2]),
            )


# The server -----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def _wait_until_healthy(url: str, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"no server answered at {url}") from None
            time.sleep(0.1)


@contextmanager
def started_server(options: list[str]) -> Iterator[tuple[str, int]]:
    """`python -m matdiff serve` with `options` on a free port of 127.0.0.1: its URL and process id."""
    port = _free_port()
    command = [sys.executable, "-m", "matdiff", "serve", "--host", "127.0.0.1", "--port", str(port), *options]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        errors = process.stderr.read() if process.stderr else ""
        if errors.strip():
            print(f"\nthe server's stderr:\n{errors}", file=sys.stderr)


def _pid_listening_on(port: int) -> int | None:
    """The process listening on 127.0.0.1:`port`, found through /proc (None where it cannot be seen)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rpartition(":")[2], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(fields[9])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(entry.name)
        except OSError:
            continue
    return None


# The report -----------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """The `share` (0 to 1) percentile of `values`, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def report(outcomes: list[Outcome], seconds: float, memory: dict[str, tuple[float, float, int]]) -> dict:
    """The run's figures, as a JSON-ready object."""

    def latency(selected: list[Outcome]) -> dict[str, float | int]:
        times = [outcome.seconds for outcome in selected]
        return {
            "count": len(times),
            "p50": percentile(times, 0.50),
            "p95": percentile(times, 0.95),
            "p99": percentile(times, 0.99),
            "max": max(times, default=float("nan")),
            "mean": statistics.fmean(times) if times else float("nan"),
        }

    cheap = [outcome for outcome in outcomes if not outcome.heavy]
    answered = Counter(
        f"{outcome.status} {outcome.error_type}" if outcome.error_type else str(outcome.status) for outcome in outcomes
    )
    cheap_answered = Counter(
        f"{outcome.status} {outcome.error_type}" if outcome.error_type else str(outcome.status) for outcome in cheap
    )
    return {
        "requests": len(outcomes),
        "seconds": seconds,
        "throughput": len(outcomes) / seconds if seconds else 0.0,
        "ok_throughput": sum(outcome.status == 200 for outcome in outcomes) / seconds if seconds else 0.0,
        "latency_cheap": latency(cheap),
        "latency_cheap_ok": latency([outcome for outcome in cheap if outcome.status == 200]),
        "latency_all": latency(outcomes),
        "statuses": dict(sorted(answered.items())),
        "statuses_cheap": dict(sorted(cheap_answered.items())),
        "memory_mib": {
            moment: {"server": round(server, 1), "children": round(children, 1), "processes": count}
            for moment, (server, children, count) in memory.items()
        },
    }


def print_report(figures: dict, clients: int, health: dict) -> None:
    print(
        f"{clients} clients, {figures['seconds']:.1f} s; server: {health.get('workers')} workers, "
        f"time limit {health.get('time_limit')} s, memory limit {health.get('memory_limit')} MB"
    )
    print(
        f"requests {figures['requests']}, {figures['throughput']:.1f}/s ({figures['ok_throughput']:.1f}/s answered 200)"
    )
    for name in ("latency_cheap", "latency_cheap_ok", "latency_all"):
        row = figures[name]
        print(
            f"{name:17} n={row['count']:<6} p50 {row['p50']:.3f} s  p95 {row['p95']:.3f} s  "
            f"p99 {row['p99']:.3f} s  max {row['max']:.3f} s"
        )
    print("statuses          " + ", ".join(f"{key}: {count}" for key, count in figures["statuses"].items()))
    print("  of cheap ones   " + ", ".join(f"{key}: {count}" for key, count in figures["statuses_cheap"].items()))
    for moment, row in figures["memory_mib"].items():
        print(
            f"memory {moment:7}   server {row['server']:.1f} MiB, "
            f"its {row['processes']} child processes {row['children']:.1f} MiB (RSS)"
        )


def main(argv: list[str] | None = None) -> None:
    """Run the load test; see the module's docstring."""
    args = list(sys.argv[1:] if argv is None else argv)
    server_options = args[args.index("--") + 1 :] if "--" in args else []
    args = args[: args.index("--")] if "--" in args else args
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20, help="clients sending at once (default 20)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds to send for (default 15)")
    parser.add_argument("--requests", type=int, default=100_000, help="requests at most, in all (default 100000)")
    parser.add_argument("--heavy", type=float, default=0.02, help="share of heavy requests (default 0.02)")
    parser.add_argument("--url", help="a running server on a loopback address (default: start one)")
    parser.add_argument(
        "--ignore-retry-after", action="store_true", help="send again at once after a 503 (default: wait as told)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args(args)
    if not 0 <= options.heavy <= 0.5:
        parser.error("--heavy must be from 0 to 0.5")

    with started_server(server_options) if options.url is None else _running(options.url) as (url, pid):
        health = _wait_until_healthy(url)
        parsed = urllib.parse.urlsplit(url)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
        memory = {"before": memory_mib(pid) if pid else (0.0, 0.0, 0)}
        watch = MemoryWatch(pid) if pid else None
        if watch:
            watch.start()
        load = Load(
            time.monotonic() + options.duration, options.requests, options.heavy, not options.ignore_retry_after
        )
        start = time.monotonic()
        threads = [threading.Thread(target=client, args=(host, port, load)) for _ in range(options.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(options.duration + REQUEST_TIMEOUT + 10)
        seconds = time.monotonic() - start
        if watch:
            watch.stopped.set()
            watch.join()
            memory["highest"] = watch.highest
            time.sleep(1)  # the last workers end
            memory["after"] = memory_mib(pid)
        figures = report(load.outcomes, seconds, memory)
    if options.json:
        print(json.dumps(figures, indent=2))
    else:
        print_report(figures, options.clients, health)


@contextmanager
def _running(url: str) -> Iterator[tuple[str, int | None]]:
    """A server already running at `url`, which must be on a loopback address; its process id where
    /proc shows it (for the memory figures)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or parsed.hostname not in LOOPBACK:
        raise SystemExit(f"--url must be http:// on a loopback address ({', '.join(LOOPBACK)}), not {url}")
    yield url.rstrip("/"), _pid_listening_on(parsed.port or 80)


if __name__ == "__main__":
    main()
