"""The work behind the web page's API, run in a separate process (see server.py) so that it can be stopped.

Each function takes the request's JSON object and returns the response's, or raises `RequestError`
(any md.MatdiffError becomes one too): nothing here formats a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matdiff as md
from matdiff._api import shape_text

KINDS = ("scalar", "vector", "matrix", "symmetric")
MAX_ORDER = 4


class RequestError(Exception):
    """A request that cannot be answered; `detail` is the JSON body of the 400 response."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.detail = {"error": message, "position": None, **extra}


def _error_detail(error: BaseException) -> dict[str, Any]:
    if isinstance(error, RequestError):
        return error.detail
    detail: dict[str, Any] = {"error": str(error), "type": type(error).__name__, "position": None}
    if isinstance(error, md.ParseError):
        detail.update(position=error.position, reason=error.reason)
    return detail


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


def _parse(payload: Mapping[str, Any]) -> md.Expr:
    text = payload.get("expression")
    if not isinstance(text, str) or not text.strip():
        raise RequestError("'expression' must be a non-empty string, like \"a'*inv(X)*b\"")
    kinds = _kinds(payload.get("kinds"))
    return md.parse(text, **kinds)


def _wrt(expr: md.Expr, payload: Mapping[str, Any]) -> list[str]:
    wrt = payload.get("wrt")
    names = [wrt] if isinstance(wrt, str) else list(wrt or [])
    if not all(isinstance(name, str) for name in names) or len(names) > MAX_ORDER:
        raise RequestError(f"'wrt' must be a variable name or a list of at most {MAX_ORDER} names")
    if not names:
        if len(expr.variables) != 1:
            found = ", ".join(expr.variables) or "none"
            raise RequestError(f"say which variable to differentiate by (the expression has {found})")
        names = list(expr.variables)
    for name in names:
        if name not in expr.variables:
            found = ", ".join(expr.variables) or "none"
            raise RequestError(f"{name!r} is not a variable of the expression (it has {found})")
    order = payload.get("order", 1)
    if not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= MAX_ORDER:
        raise RequestError(f"'order' must be a whole number from 1 to {MAX_ORDER}")
    if order > 1:
        if len(names) != 1:
            raise RequestError("'order' above 1 needs a single 'wrt' variable")
        names = names * order
    if len(names) > MAX_ORDER:
        raise RequestError(f"at most {MAX_ORDER} derivatives in a row")
    return names


def variables(payload: Mapping[str, Any]) -> dict[str, Any]:
    """POST /api/variables: the expression's variables with their kinds (given or inferred)."""
    expr = _parse(payload)
    return {
        "expression": str(expr),
        "variables": expr.variables,
        "shape": [str(d) for d in expr.dims],
        "shape_text": shape_text(expr, times=" × "),
        "latex": expr.to_latex(),
    }


def derive(payload: Mapping[str, Any]) -> dict[str, Any]:
    """POST /api/diff: the derivative as text and LaTeX, its shape, the steps and the numerical check."""
    expr = _parse(payload)
    names = _wrt(expr, payload)
    layout = payload.get("layout", "gradient")
    if layout not in ("gradient", "numerator"):
        raise RequestError('\'layout\' must be "gradient" or "numerator"')
    derivative = md.views.derivative(expr, *names, layout=layout)
    result: dict[str, Any] = {
        "expression": str(expr),
        "expression_latex": expr.to_latex(),
        "variables": expr.variables,
        "wrt": names,
        "layout": layout,
        "derivative": str(derivative),
        "latex": derivative.to_latex(),
        "shape": [str(d) for d in derivative.dims],
        "shape_text": shape_text(derivative, times=" × "),
        "kind": derivative.kind,
    }
    try:
        derivation = md.explain(expr, *names)
        result.update(
            steps=[
                {"rule": s.rule, "identity": s.identity, "text": s.text(), "latex": s.latex()} for s in derivation.steps
            ],
            steps_title=derivation.title,
            steps_text=derivation.text(),
            steps_markdown=derivation.markdown(),
            steps_latex=derivation.latex(),
            steps_error=None,
        )
    except md.MatdiffError as error:
        result.update(steps=None, steps_text=None, steps_markdown=None, steps_latex=None, steps_error=str(error))
    if payload.get("check", True):
        try:
            report = md.check(expr, *names, seed=payload.get("seed") if isinstance(payload.get("seed"), int) else None)
            result["check"] = {
                "passed": bool(report),
                "text": str(report),
                "max_rel_error": _finite(report.max_rel_error),
                "tolerance": _finite(report.tolerance),
                "seed": report.seed,
            }
        except md.MatdiffError as error:
            result["check"] = {"passed": None, "text": f"no check: {error}", "max_rel_error": None}
    return result


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


TASKS = {"variables": variables, "diff": derive}


def run(task: str, payload: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """(status, body) for `task` on `payload`; every error becomes a 400 with a message and no traceback."""
    try:
        return 200, TASKS[task](payload)
    except (md.MatdiffError, RequestError) as error:
        return 400, _error_detail(error)
    except RecursionError:
        return 400, {"error": "the expression is nested too deeply", "type": "NestingError", "position": None}
    except MemoryError:
        return 400, {"error": "the derivation ran out of memory", "type": "MemoryError", "position": None}
    except Exception as error:  # an engine bug: say what, without a traceback
        return 500, {"error": f"internal error ({type(error).__name__}: {error})", "position": None}


def child(task: str, payload: Mapping[str, Any], connection: Any) -> None:
    """The entry point of a worker process: answers one request through `connection`."""
    try:
        connection.send(run(task, payload))
    finally:
        connection.close()
