"""The public face of expressions: constructors, operators, evaluation and printing."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

from . import _algebra as A
from . import _expr as E
from ._errors import NestingError
from ._evaluate import dim_classes, evaluate_many
from ._expr import Dim, Expr, postorder
from ._printing import to_latex as _to_latex
from ._printing import to_text as _to_text

F = TypeVar("F", bound=Callable[..., Any])


def guard_depth(function: F) -> F:
    """Turn Python's RecursionError into a clear NestingError."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except RecursionError:
            raise NestingError("the expression is nested too deeply to process") from None

    return wrapper  # type: ignore[return-value]


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
        raise E.ShapeError(f"a variable name must be an identifier like x, x1 or theta, got {name!r}")
    return name


# Evaluation and printing -----------------------------------------------------------------------


@guard_depth
def evaluate(exprs: Expr | list[Expr], values: Mapping[str, Any]) -> np.ndarray | list[np.ndarray]:
    """Evaluate one expression, or several together so that shared parts are computed once.

    `values` maps variable names to numbers or NumPy arrays (vectors are 1-D arrays); names the
    expression does not use are ignored. Returns NumPy arrays (0-d for a scalar).
    """
    if isinstance(exprs, Expr):
        return evaluate_many([exprs], values)[0]
    return evaluate_many(list(exprs), values)


def _variables(self: Expr) -> dict[str, str]:
    """The variables of the expression and their kinds, by name."""
    found = {n.attrs[0]: n.attrs[1] for n in postorder([self]) if n.op == "var" and n.attrs[0] != "__hole__"}
    return dict(sorted(found.items()))


def shape_text(expr: Expr, times: str = " x ") -> str:
    """The shape in words, for people: "m_X x n_X (matrix)", "1 x n_a (row vector)", "scalar"."""
    dims = [str(d) for d in dim_classes([expr]).canonical(expr.shape)]
    if not dims:
        return "scalar"
    if expr.kind == "row":
        return f"1{times}{dims[0]} (row vector)"
    what = {1: "vector", 2: "matrix"}.get(len(dims), f"{len(dims)}-D tensor")
    return f"{times.join(dims)} ({what})"


def _shape(self: Expr) -> tuple[Dim, ...]:
    """The shape, with dimensions that the expression forces equal given one name."""
    return dim_classes([self]).canonical(self.shape)


@guard_depth
def to_text(expr: Expr) -> str:
    """The text syntax of `expr` (index notation where no matrix form exists); same as str(expr)."""
    return _to_text(expr)


@guard_depth
def to_latex(expr: Expr) -> str:
    """LaTeX for `expr`, in matrix notation or in index notation."""
    return _to_latex(expr)


Expr.evaluate = guard_depth(lambda self, values: evaluate_many([self], values)[0])  # type: ignore[attr-defined]
Expr.evaluate.__doc__ = "Evaluate with `values` (name -> number or array); returns a NumPy array."
Expr.variables = property(_variables)  # type: ignore[attr-defined]
Expr.dims = property(_shape)  # type: ignore[attr-defined]
Expr.__str__ = to_text  # type: ignore[method-assign]
Expr.__repr__ = lambda self: f"<matdiff {self.kind} {to_text(self)}>"  # type: ignore[method-assign]
Expr.to_latex = to_latex  # type: ignore[attr-defined]
Expr._repr_latex_ = lambda self: f"${to_latex(self)}$"  # type: ignore[attr-defined]
Expr.T = property(A.transpose)  # type: ignore[attr-defined]

# Python operators, NumPy style: * and / are element-wise (or scaling), @ is the matrix product.
Expr.__add__ = A.add  # type: ignore[operator]
Expr.__radd__ = lambda self, other: A.add(other, self)  # type: ignore[attr-defined]
Expr.__sub__ = A.sub  # type: ignore[operator]
Expr.__rsub__ = lambda self, other: A.sub(other, self)  # type: ignore[attr-defined]
Expr.__mul__ = A.hadamard  # type: ignore[operator]
Expr.__rmul__ = lambda self, other: A.hadamard(other, self)  # type: ignore[attr-defined]
Expr.__truediv__ = A.elementwise_divide  # type: ignore[operator]
Expr.__rtruediv__ = lambda self, other: A.elementwise_divide(other, self)  # type: ignore[attr-defined]
Expr.__pow__ = A.elementwise_power  # type: ignore[operator]
Expr.__rpow__ = lambda self, other: A.elementwise_power(other, self)  # type: ignore[attr-defined]
Expr.__matmul__ = A.python_matmul  # type: ignore[operator]
Expr.__rmatmul__ = lambda self, other: A.python_matmul(other, self)  # type: ignore[attr-defined]
Expr.__neg__ = A.neg  # type: ignore[operator]
Expr.__pos__ = lambda self: self  # type: ignore[attr-defined]
Expr.__array_ufunc__ = None  # NumPy defers to these operators instead of broadcasting over us
