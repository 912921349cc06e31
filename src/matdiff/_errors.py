"""The error types. Every error caused by user input derives from MatdiffError."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class MatdiffError(Exception):
    """Base class of every error matdiff raises for bad input."""


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
