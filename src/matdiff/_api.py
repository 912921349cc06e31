"""The public entry points that take expressions or their text: variables, parsing with kinds, evaluation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import _evaluate
from . import _expr as E
from ._errors import ArgumentError, ShapeError, guard_depth
from ._expr import Dim, Expr
from ._parser import parse

# Variables -----------------------------------------------------------------------------------


def scalar(name: str) -> Expr:
    """A scalar variable."""
    return E.var(_check_name(name), "scalar")


def vector(name: str, n: Dim | None = None) -> Expr:
    """A (column) vector variable, of length `n` if given, else inferred at evaluation."""
    return E.var(_check_name(name), "vector", (n,))


def matrix(name: str, m: Dim | None = None, n: Dim | None = None) -> Expr:
    """A matrix variable, m x n (sizes optional)."""
    return E.var(_check_name(name), "matrix", (m, n))


def symmetric(name: str, n: Dim | None = None) -> Expr:
    """A symmetric matrix variable. Derivatives by it are symmetrised: (G + G')/2."""
    return E.var(_check_name(name), "symmetric", (n, n))


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
        raise ShapeError(f"a variable name must be an identifier like x, x1 or theta, got {name!r}")
    return name


# Expressions or their text ---------------------------------------------------------------------


def expression(expr: Expr | str, kinds: Mapping[str, str], what: str = "this function") -> Expr:
    """`expr` itself, or its text parsed with `kinds`: the one way every entry point takes an expression.

    Kinds apply to text only; with an expression they are an error, since its variables already have
    kinds.
    """
    if isinstance(expr, str):
        return parse(expr, **kinds)
    if not isinstance(expr, Expr):
        raise ArgumentError(f"{what} needs a matdiff expression or its text, got {type(expr).__name__}")
    if kinds:
        names = ", ".join(sorted(kinds))
        raise ArgumentError(
            f"kinds ({names}) can only be declared with text; the expression's variables already have kinds"
        )
    return expr


# Evaluation ------------------------------------------------------------------------------------


@guard_depth
def evaluate(exprs: Expr | Sequence[Expr], values: Mapping[str, Any]) -> np.ndarray | list[np.ndarray]:
    """Evaluate one expression, or several together so that shared parts are computed once.

    `values` maps variable names to numbers or NumPy arrays (vectors are 1-D arrays); names the
    expression does not use are ignored. Returns a NumPy array (0-d for a scalar) for one expression,
    a list of arrays for a list or tuple of them.
    """
    if isinstance(exprs, Expr):
        return _evaluate.evaluate([exprs], values)[0]
    roots = list(exprs)
    for item in roots:
        if not isinstance(item, Expr):
            raise ArgumentError(f"evaluate needs expressions, got {type(item).__name__}")
    return _evaluate.evaluate(roots, values)


@guard_depth
def to_text(expr: Expr | str) -> str:
    """The text syntax of `expr` (index notation where no matrix form exists); the same as str(expr)."""
    return expression(expr, {}, "to_text").to_text()


@guard_depth
def to_latex(expr: Expr | str) -> str:
    """LaTeX for `expr`, in matrix notation or in index notation."""
    return expression(expr, {}, "to_latex").to_latex()
