"""The web page's API, run in a separate process (see server.py) so that it can be stopped.

Each function takes the request's JSON object, checks the JSON types of its fields, and returns the
response's JSON object, built by matdiff._service like the command line's; it raises `RequestError` for a
field of the wrong type, and md.MatdiffError for bad input (`run` turns both into 400s): nothing here formats
a stack trace. `child`, a worker process's entry point, first caps the process's memory (`cap_memory`), so
that a derivation that grows without bound gets a MemoryError, which `run` also answers with a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matdiff as md
from matdiff import _service as service

try:
    import resource
except ImportError:  # Windows: no address-space limit to set
    resource = None  # type: ignore[assignment]

KINDS = ("scalar", "vector", "matrix", "symmetric")
MAX_ORDER = 4
"""The highest order, and the most derivatives in a row, that a request may ask for."""


class RequestError(Exception):
    """A request whose fields have the wrong JSON types; `detail` is the JSON body of the 400 response."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        # the keys of every other 400 (see _error_detail)
        self.detail = {"error": message, "type": "BadRequest", "message": message, "position": None, "reason": None}
        self.detail.update(extra)


def _error_detail(error: md.MatdiffError | RequestError) -> dict[str, Any]:
    """The 400 body: the command line's error detail (type, message, position, reason), and the message
    again under "error", where the page and every other error of the server put it."""
    if isinstance(error, RequestError):
        return error.detail
    detail = service.error_detail(error)
    return {"error": detail["message"], **detail}


def _expression(payload: Mapping[str, Any]) -> str:
    text = payload.get("expression")
    if not isinstance(text, str) or not text.strip():
        raise RequestError("'expression' must be a non-empty string, like \"a'*inv(X)*b\"")
    return text


def _kinds(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or len(value) > 100:
        raise RequestError('\'kinds\' must be an object of at most 100 entries, like {"X": "matrix"}')
    kinds = {}
    for name, kind in value.items():
        if not isinstance(name, str) or kind not in KINDS:
            raise RequestError(f"the kind of {name!r} must be one of {', '.join(KINDS)}, got {kind!r}")
        kinds[name] = kind
    return kinds


def _wrt(value: Any) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return value
    raise RequestError("'wrt' must be a variable name or a list of names")


def _flag(payload: Mapping[str, Any], field: str, default: bool) -> bool:
    value = payload.get(field, default)
    if not isinstance(value, bool):
        raise RequestError(f"'{field}' must be true or false")
    return value


def variables(payload: Mapping[str, Any]) -> dict[str, Any]:
    """POST /api/variables: the expression's variables with their kinds (given or inferred)."""
    return service.variables_json(_expression(payload), _kinds(payload.get("kinds")))


def derive(payload: Mapping[str, Any]) -> dict[str, Any]:
    """POST /api/diff: the derivative as text and LaTeX, its shape, the steps and the numerical check, and
    with "code" (a backend: "numpy", "jax", "torch" or "array_api") the module that computes the value and
    the derivative.

    `order`, `seed` and `code` reach the service as they are: it checks their values (and so their types).
    """
    derived = service.derive(
        _expression(payload),
        kinds=_kinds(payload.get("kinds")),
        wrt=_wrt(payload.get("wrt")),
        order=payload.get("order", 1),
        layout=payload.get("layout", "gradient"),
        steps=_flag(payload, "steps", True),
        check=_flag(payload, "check", True),
        seed=payload.get("seed"),
        code=payload.get("code"),
        max_order=MAX_ORDER,
        tolerant=True,  # the derivative, even where its steps, its check or its code cannot be had
    )
    return service.derivative_json(derived)


TASKS = {"variables": variables, "diff": derive}


def run(task: str, payload: Mapping[str, Any], memory_limit: int = 0) -> tuple[int, dict[str, Any]]:
    """(status, body) for `task` on `payload`; every error becomes a 400 with a message and no traceback.

    `memory_limit` (MB, 0 for none) is the cap `cap_memory` set, named in the message of a MemoryError.
    """
    try:
        return 200, TASKS[task](payload)
    except (md.MatdiffError, RequestError) as error:
        return 400, _error_detail(error)
    except RecursionError:
        return 400, _error("the expression is nested too deeply", "NestingError")
    except MemoryError:
        return 400, _memory_error(memory_limit)
    except Exception as error:  # an engine bug: say what, without a traceback
        return 500, _error(f"internal error ({type(error).__name__}: {error})", "InternalError")


def _error(message: str, kind: str) -> dict[str, Any]:
    """An error's body, with the keys of every other (see RequestError)."""
    return {"error": message, "type": kind, "message": message, "position": None, "reason": None}


def _memory_error(memory_limit: int) -> dict[str, Any]:
    if memory_limit:
        message = (
            f"the derivation needed more than {memory_limit} MB of memory and was stopped; "
            "try a lower order or a smaller expression"
        )
    else:
        message = "the derivation ran out of memory"
    return _error(message, "MemoryLimit")


def address_space() -> int:
    """This process's address space in bytes (its virtual size), or 0 where /proc does not say."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * (resource.getpagesize() if resource is not None else 4096)


def cap_memory(megabytes: int) -> None:
    """Let this process's address space grow by at most `megabytes` MB beyond its present size
    (RLIMIT_AS): past it, allocations fail and Python raises MemoryError. 0 sets no cap, and so does a
    system without /proc/self/statm to tell the present size (macOS, Windows).

    The cap counts from the present size because a worker starts with Python, NumPy and matdiff
    mapped (about 150 MB of address space, most of it shared with the forkserver, more with more CPUs
    for OpenBLAS's threads' stacks): what a request may add is what the cap is for.
    """
    present = address_space()
    if not megabytes or resource is None or not present:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = present + megabytes * 2**20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):  # a system that does not take this limit: no cap
        pass


def child(task: str, payload: Mapping[str, Any], connection: Any, memory_limit: int = 0) -> None:
    """The entry point of a worker process: caps its memory at `memory_limit` MB beyond its size at
    start (0: no cap), then answers one request through `connection`."""
    try:
        cap_memory(memory_limit)
        connection.send(run(task, payload, memory_limit))
    finally:
        connection.close()
