"""The error types. Every error caused by user input derives from MatdiffError."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
ErrorT = TypeVar("ErrorT", bound="MatdiffError")

PYTHON_ADVICE = {
    "kinds": "\n(kinds tried first: {tried}; declare kinds, e.g. md.parse(text, {name}='scalar'))",
    "limit": " (md.limits.{limit}); raise it if you mean it",
    "values": "; pass other values=",
}
"""The advice an error gives a Python user, by its `hint`; formatted with the hint's details."""


class MatdiffError(Exception):
    """Base class of every error matdiff raises for bad input.

    Where the message ends in advice for a Python user (declare kinds with md.parse, raise md.limits,
    pass values=), `hint` names that advice and its details ("kinds", {"name": "x", ...}; see
    PYTHON_ADVICE), `base` is the message before it and `tail` what follows it (a caret under the input),
    so that the command line and the web page can give the same advice in their own terms
    (matdiff._service.error_message); elsewhere `hint` and `base` are None.
    """

    hint: tuple[str, dict[str, str]] | None = None
    base: str | None = None
    tail: str = ""


class ParseError(MatdiffError, ValueError):
    """Text that is not a valid expression. Carries the position and a caret line."""

    def __init__(self, message: str, text: str, position: int) -> None:
        self.text = text
        self.position = position
        self.reason = message
        caret = _caret(text, position)
        super().__init__(f"{message} at position {position}\n{caret}")


class ShapeError(MatdiffError, ValueError):
    """Operands whose kinds or dimensions cannot be made consistent."""


class DiffError(MatdiffError):
    """An operation with no derivative rule, or a bad differentiation request."""


class EvaluationError(MatdiffError, ValueError):
    """A missing, mis-shaped or invalid value at evaluation."""


class UnfixedSizeError(EvaluationError):
    """A size that nothing in the expression fixes (`tr(eye)`): no values can evaluate it, so md.check
    reports it at once instead of drawing other values. Not exported: it is an md.EvaluationError."""


class NestingError(MatdiffError):
    """An expression nested too deeply to process."""


def _caret(text: str, position: int) -> str:
    """Two lines: the input (one line of it) and a caret under `position`."""
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    line = text[line_start : line_end if line_end != -1 else len(text)]
    column = position - line_start
    if len(line) > 100:  # keep long inputs readable: a window around the caret
        lo = max(0, column - 50)
        line, column = line[lo : lo + 100], column - lo
    return f"    {line}\n    {' ' * column}^"


class ArgumentError(MatdiffError, TypeError):
    """A bad argument to a matdiff function: not callable, an unknown option."""


def guard_depth(function: F) -> F:
    """Turn Python's RecursionError (from a structure nested past the stack) into a clear NestingError."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except RecursionError:
            raise NestingError("the expression is nested too deeply to process") from None

    return wrapper  # type: ignore[return-value]  # the same signature as `function`


def advised(cls: type[ErrorT], base: str, hint: str, tail: str = "", **details: str) -> ErrorT:
    """An error of class `cls` whose message is `base`, the Python advice PYTHON_ADVICE[hint], then `tail`
    (the input with a caret, say), with `base`, `hint` and `tail` kept for front ends that phrase the
    advice their own way."""
    error = cls(base + PYTHON_ADVICE[hint].format(**details) + tail)
    error.base, error.hint, error.tail = base, (hint, dict(details)), tail
    return error


def with_tail(error: ErrorT, tail: str) -> ErrorT:
    """A copy of `error` (of its class) with `tail` added to its message, keeping its advice (see `advised`)."""
    if error.hint is None or error.base is None:
        return type(error)(f"{error}{tail}")
    hint, details = error.hint
    return advised(type(error), error.base, hint, error.tail + tail, **details)
