"""Views of derivatives: layouts, index notation, flattened Jacobians, Kronecker forms and slices.

None of these change a derivative; they show the one that ``md.diff`` computes in another form.
``md.diff(f, X)`` has shape ``f.shape + X.shape`` (entry ``[i,j,k,l]`` is dF[i,j]/dX[k,l]), and:

- :func:`derivative_text` / :func:`derivative_latex` print it in the *gradient* layout (the default,
  the Matrix Cookbook's) or the *numerator* layout (the lecture's and the MML book's);
- :func:`index_notation` writes it as ``J[i,j,k,l] = ...`` even where a matrix form exists;
- :func:`flatten` evaluates it as the mn x pq matrix d vec(F) / d vec(X), column-major vec (``"F"``,
  Magnus and Neudecker's) or row-major (``"C"``);
- :func:`kronecker` finds a Kronecker form such as d vec(AXB) / d vec(X) = B' ⊗ A;
- :func:`slice_text` / :func:`slice_value` show dF[i]/dX for one fixed output entry.

>>> import matdiff as md
>>> print(md.views.derivative_text("x'*a", "x", layout="numerator"))
a'
>>> print(md.views.kronecker(md.diff(md.parse("A*X*B"), "X")))
kron(B', A)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _expr as E
from ._api import expression
from ._diff import diff
from ._errors import ArgumentError
from ._evaluate import evaluate as _evaluate
from ._expr import Expr
from ._printing import (
    INDEX_NAMES,
    Divide,
    ElementwiseDivide,
    Equation,
    Hadamard,
    Product,
    Sum,
    index_body,
    render_latex,
    render_text,
)
from ._printing import layout as _layout

__all__ = [
    "LAYOUTS", "ORDERS", "KroneckerForm", "KroneckerSum", "derivative", "derivative_latex", "derivative_text",
    "flatten", "index_notation", "kronecker", "slice_text", "slice_value",
]  # fmt: skip

LAYOUTS = ("gradient", "numerator")
"""The layouts a derivative can be printed in; "gradient" is the default."""

ORDERS = ("F", "C")
"""vec conventions: "F" column-major (stacks columns, Magnus-Neudecker), "C" row-major (stacks rows)."""


# Layouts ---------------------------------------------------------------------------------------


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ArgumentError(f"unknown layout {layout!r}: use one of {', '.join(map(repr, LAYOUTS))}")


def derivative(f: Expr | str, /, *wrt: str | Expr, layout: str = "gradient", **kinds: str) -> Expr:
    """The derivative of `f` by each of `wrt` in turn, as printed in `layout`.

    ``"gradient"`` (the default; the Matrix Cookbook's, and what ``md.diff`` prints): the derivative
    of a scalar by a vector has the vector's own shape, a column, so d(x'a)/dx is ``a``.
    ``"numerator"`` (the lecture's and the MML book's): the derivative of a scalar by a column vector is
    a row vector, so d(x'a)/dx is ``a'``. Every other derivative is the same in both layouts: a vector by
    a vector is the m x n Jacobian, a scalar by a matrix keeps the matrix's shape, a vector by a scalar
    is a column, and tensors are ``f.shape + wrt.shape``. The numbers never change: a row vector
    evaluates to the same 1-D array as its column. `f` may be an expression or its text, parsed with
    the kinds given as keywords.
    """
    _check_layout(layout)
    expr = expression(f, kinds, "derivative")
    result = diff(expr, *wrt)
    if layout == "numerator" and expr.ndim == 0 and result.ndim == 1 and result.op != "row":
        # a scalar differentiated by a vector: the gradient becomes a row vector
        result = E.row(result)
    return result


def derivative_text(f: Expr | str, /, *wrt: str | Expr, layout: str = "gradient", **kinds: str) -> str:
    """The derivative printed in `layout` ("gradient", the default, or "numerator"); see :func:`derivative`."""
    return str(derivative(f, *wrt, layout=layout, **kinds))


def derivative_latex(f: Expr | str, /, *wrt: str | Expr, layout: str = "gradient", **kinds: str) -> str:
    """LaTeX for the derivative in `layout` ("gradient", the default, or "numerator"); see :func:`derivative`."""
    return derivative(f, *wrt, layout=layout, **kinds).to_latex()


# Index notation ----------------------------------------------------------------------------------


def index_notation(D: Expr | str, /, name: str = "J", latex: bool = False, **kinds: str) -> str:
    """`D` in index notation, ``J[i,j,k,l] = A[i,k]*B[l,j]``, even where a matrix form exists.

    For ``D = md.diff(F, X)`` entry ``J[i,j,k,l]`` is dF[i,j]/dX[k,l] (the lecture's J_ijkl); every
    index on the right that is not on the left is summed over, and ``eye[i,k]`` is the Kronecker delta.
    A scalar prints as ``J = ...``. With ``latex=True`` the result is LaTeX: ``J_{ijkl} = A_{ik} B_{lj}``.
    `D` may be text, parsed with the kinds given as keywords.
    """
    D = expression(D, kinds, "index_notation")
    if not isinstance(name, str) or not name:
        raise ArgumentError(f"name must be a non-empty string, got {name!r}")
    names = list(INDEX_NAMES[: D.ndim])
    equation = Equation(name, tuple(names), index_body(D, names, names))
    return render_latex(equation) if latex else render_text(equation)


# Flattened Jacobians -----------------------------------------------------------------------------


def _check_out_ndim(out_ndim: int, ndim: int) -> None:
    if isinstance(out_ndim, bool) or not isinstance(out_ndim, int | np.integer) or not 0 <= out_ndim <= ndim:
        raise ArgumentError(f"out_ndim must be an integer from 0 to {ndim} (the derivative's axes), got {out_ndim!r}")


def _check_order(order: str) -> None:
    if order not in ORDERS:
        raise ArgumentError(
            f"unknown order {order!r}: use 'F' (column-major vec, stacking columns) or 'C' (row-major, stacking rows)"
        )


def flatten(
    D: Expr | np.ndarray, out_ndim: int, values: Mapping[str, Any] | None = None, order: str = "F"
) -> np.ndarray:
    """The derivative as a matrix: d vec(f) / d vec(X), of shape (prod(out dims), prod(in dims)).

    The first `out_ndim` axes of `D` belong to the function, the rest to the variable(s); for
    ``D = md.diff(F, X)`` with a matrix F that is 2. `order` is the vec convention for both sides:
    ``"F"`` (the default) is column-major, vec stacking the columns (Magnus and Neudecker's, under which
    d vec(AXB)/d vec(X) = kron(B', A)); ``"C"`` is row-major, stacking the rows (NumPy's ``ravel``,
    under which it is kron(A, B')). Entry [r, c] is d vec(f)[r] / d vec(X)[c]. `D` is evaluated with
    `values`; an array (already evaluated) is accepted as it is.
    """
    _check_order(order)
    array = _as_array(D, values, "flatten")
    _check_out_ndim(out_ndim, array.ndim)
    rows = math.prod(array.shape[:out_ndim])
    cols = math.prod(array.shape[out_ndim:])
    return array.reshape((rows, cols), order="F" if order == "F" else "C")


# Kronecker forms ---------------------------------------------------------------------------------


def _text_of(node: Expr) -> str:
    return "eye" if node.op == "delta" else str(node)


def _latex_of(node: Expr) -> str:
    if node.op == "delta":
        return "I"
    text = node.to_latex()
    operator = isinstance(_layout(node), Sum | Product | Hadamard | Divide | ElementwiseDivide)
    return rf"\left({text}\right)" if operator else text


def _as_matrix(value: np.ndarray, node: Expr) -> np.ndarray:
    if value.ndim == 2:
        return value
    if value.ndim == 0:
        return value.reshape(1, 1)
    return value.reshape(1, -1) if node.op == "row" else value.reshape(-1, 1)


@dataclass(frozen=True)
class KroneckerForm:
    """A derivative written as ``scale * kron(left, right)``.

    `left` and `right` are matrix expressions (a vector is a column, a row vector ``v'`` a row),
    `scale` a scalar expression (1 where there is none) and `order` the vec convention under which
    ``evaluate(values)`` equals ``flatten(D, out_ndim, values, order)``: under ``"F"`` (column-major)
    d vec(AXB)/d vec(X) = kron(B', A); under ``"C"`` (row-major) it is kron(A, B'). ``eye`` is an
    identity matrix whose size is that of the axis it stands on (``left.shape``, ``right.shape``).
    """

    left: Expr
    right: Expr
    order: str = "F"
    scale: Expr = E.const(1.0)

    def _prefix(self, latex: bool) -> str:
        if E.is_const(self.scale, 1.0):
            return ""
        if E.is_const(self.scale, -1.0):
            return "-"
        text = self.scale.to_latex() if latex else str(self.scale)
        if self.scale.op == "add":
            text = rf"\left({text}\right)" if latex else f"({text})"
        return f"{text} " if latex else f"{text}*"

    def __str__(self) -> str:
        return f"{self._prefix(False)}kron({_text_of(self.left)}, {_text_of(self.right)})"

    def to_latex(self) -> str:
        """LaTeX: ``B^{\\top} \\otimes A``."""
        body = rf"{_latex_of(self.left)} \otimes {_latex_of(self.right)}"
        prefix = self._prefix(True)
        return f"{prefix}\\left({body}\\right)" if prefix and prefix != "-" else f"{prefix}{body}"

    def _repr_latex_(self) -> str:
        return f"${self.to_latex()}$"

    def evaluate(self, values: Mapping[str, Any]) -> np.ndarray:
        """``scale * np.kron(left, right)`` at `values`: the flattened derivative under `order`."""
        scale, left, right = _evaluate([self.scale, self.left, self.right], values)
        return float(scale) * np.kron(
            _as_matrix(np.asarray(left), self.left), _as_matrix(np.asarray(right), self.right)
        )


@dataclass(frozen=True)
class KroneckerSum:
    """A derivative that is a sum of Kronecker products, such as d vec(X X)/d vec(X) = kron(X', eye) + kron(eye, X)."""

    terms: tuple[KroneckerForm, ...]
    order: str = "F"

    def __str__(self) -> str:
        text = str(self.terms[0])
        for term in self.terms[1:]:
            piece = str(term)
            text += f" - {piece[1:]}" if piece.startswith("-") else f" + {piece}"
        return text

    def to_latex(self) -> str:
        """LaTeX: the terms joined by + and -."""
        text = self.terms[0].to_latex()
        for term in self.terms[1:]:
            piece = term.to_latex()
            text += f" - {piece[1:]}" if piece.startswith("-") else f" + {piece}"
        return text

    def _repr_latex_(self) -> str:
        return f"${self.to_latex()}$"

    def evaluate(self, values: Mapping[str, Any]) -> np.ndarray:
        """The sum of the terms' Kronecker products at `values`."""
        result = self.terms[0].evaluate(values)
        for term in self.terms[1:]:
            result = result + term.evaluate(values)
        return result


def kronecker(
    D: Expr | str, /, out_ndim: int = 2, order: str = "F", **kinds: str
) -> KroneckerForm | KroneckerSum | None:
    """A Kronecker form of the derivative `D`, or None where it finds none (a single product or a sum of them).

    `D` has `out_ndim` function axes and the rest variable axes, at most two of each (a vector is an
    n x 1 column). Under column-major vec (``order="F"``), where ``D[i,j,k,l] = R[i,k] * L[j,l]``,
    d vec(F)/d vec(X) = kron(L, R): d(AXB)/dX gives ``kron(B', A)``, d(X)/dX ``kron(eye, eye)``,
    d(AX)/dX ``kron(eye, A)``, d(XB)/dX ``kron(B', eye)``, d(Ax)/dA ``kron(x', eye)``. Under
    ``order="C"`` the two factors swap sides. A sum of such terms gives a :class:`KroneckerSum`.

    d(X')/dX has no Kronecker form (it is the commutation matrix, D[i,j,k,l] = eye[j,k]*eye[i,l]), nor
    has any derivative that pairs a function index with the "wrong" variable index: these give None.
    `D` may be text, parsed with the kinds given as keywords.
    """
    D = expression(D, kinds, "kronecker")
    _check_order(order)
    _check_out_ndim(out_ndim, D.ndim)
    in_ndim = D.ndim - out_ndim
    if not (1 <= out_ndim <= 2 and 1 <= in_ndim <= 2 and D.ndim >= 3):
        return None
    if D.op == "add":
        terms = [_kronecker_term(term, out_ndim, order) for term in D.args]
        if any(t is None for t in terms):
            return None
        return KroneckerSum(tuple(terms), order)  # type: ignore[arg-type]
    return _kronecker_term(D, out_ndim, order)


def _kronecker_term(D: Expr, out_ndim: int, order: str) -> KroneckerForm | None:
    if D.op != "einsum":
        return None
    subs, out = D.attrs
    fn, var = out[:out_ndim], out[out_ndim:]
    i, j = fn[0], (fn[1] if len(fn) == 2 else None)
    k, l = var[0], (var[1] if len(var) == 2 else None)  # noqa: E741
    # Under F: D[i,j,k,l] = R[i,k] L[j,l] gives kron(L, R); under C: L[i,k] R[j,l] gives kron(L, R).
    first, second = (i, k), (j, l)
    factors: list[tuple[Expr, tuple[int, ...]]] = []
    for node, labels in zip(D.args, subs):
        if node.op == "ones" and node.ndim > 1 and len(set(labels)) == len(labels):
            for label, dim in zip(labels, node.shape):  # ones[i,j] = ones[i] * ones[j]
                factors.append((E.ones((dim,)), (label,)))
        else:
            factors.append((node, labels))
    groups = _components(factors, set(out))
    sides: dict[str, list[tuple[Expr, tuple[int, ...]]]] = {"first": [], "second": [], "scalar": []}
    for group in groups:
        touched = {x for _, labels in group for x in labels} & set(out)
        if not touched:
            sides["scalar"] += group
        elif touched <= set(first):
            sides["first"] += group
        elif touched <= {x for x in second if x is not None}:
            sides["second"] += group
        else:
            return None
    if not sides["first"] or not sides["second"]:
        return None
    first_expr = _side(sides["first"], first)
    second_expr = _side(sides["second"], second)
    scale = (
        E.einsum([n for n, _ in sides["scalar"]], [ls for _, ls in sides["scalar"]], ())
        if sides["scalar"]
        else E.const(1.0)
    )
    if order == "F":
        return KroneckerForm(second_expr, first_expr, order, scale)
    return KroneckerForm(first_expr, second_expr, order, scale)


def _side(group: list[tuple[Expr, tuple[int, ...]]], axes: tuple[int | None, int | None]) -> Expr:
    """The matrix of one side of a Kronecker product: on (row, column) labels, either of which may be absent
    (a vector function or variable), giving a column (no column label) or a row vector (no row label)."""
    row_label, col_label = axes
    present = tuple(x for x in axes if x is not None)
    node = E.einsum([n for n, _ in group], [ls for _, ls in group], present)
    if row_label is None:
        return E.row(node)
    return node


def _components(factors: list[tuple[Expr, tuple[int, ...]]], out: set[int]) -> list[list[tuple[Expr, tuple]]]:
    """Factors joined by the labels summed over (output labels do not join)."""
    groups: list[tuple[set[int], list[tuple[Expr, tuple]]]] = []
    for item in factors:
        summed = set(item[1]) - out
        joined = [g for g in groups if g[0] & summed]
        merged = (summed.union(*(g[0] for g in joined)), [it for g in joined for it in g[1]] + [item])
        groups = [g for g in groups if not any(g is x for x in joined)] + [merged]
    return [items for _, items in groups]


# Slices ------------------------------------------------------------------------------------------


def _check_index(index: int | Sequence[int], out_ndim: int, shape: Sequence[Any]) -> tuple[int, ...]:
    items = (index,) if isinstance(index, int | np.integer) and not isinstance(index, bool) else index
    try:
        fixed = tuple(items)  # type: ignore[arg-type]
    except TypeError:
        raise ArgumentError(f"index must be an integer or a tuple of {out_ndim} integers, got {index!r}") from None
    if len(fixed) != out_ndim or not all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in fixed):
        raise ArgumentError(f"index must be {out_ndim} integer(s), one per function axis, got {index!r}")
    for axis, (x, size) in enumerate(zip(fixed, shape)):
        if isinstance(size, int) and not -size <= x < size:  # a symbolic size is checked at evaluation
            raise ArgumentError(f"index {x} is out of range for function axis {axis} of size {size}")
    return tuple(int(x) for x in fixed)


def slice_text(D: Expr | str, /, index: int | Sequence[int], out_ndim: int, name: str = "J", **kinds: str) -> str:
    """The derivative of one function entry, df[index]/dX, in index notation with the function index fixed.

    For f = A*x and D = md.diff(f, "A"), ``slice_text(D, 1, 1)`` is ``J[1,k,l] = eye[1,k]*x[l]``: row 1 of
    df[1]/dA is x' and every other row is zero. Indices are 0-based, as in NumPy. `D` may be text, parsed
    with the kinds given as keywords.
    """
    D = expression(D, kinds, "slice_text")
    _check_out_ndim(out_ndim, D.ndim)
    fixed = _check_index(index, out_ndim, D.shape[:out_ndim])
    if any(x < 0 for x in fixed):
        raise ArgumentError(f"slice_text needs non-negative indices, got {index!r}")
    free = list(INDEX_NAMES[out_ndim : D.ndim])
    names = [str(x) for x in fixed] + free
    body = index_body(D, names, free + list(INDEX_NAMES[:out_ndim]))
    return f"{name}[{','.join(names)}] = {render_text(body)}"  # J[] for a scalar: not an Equation's "J ="


def slice_value(
    D: Expr | np.ndarray, index: int | Sequence[int], out_ndim: int, values: Mapping[str, Any] | None = None
) -> np.ndarray:
    """The value of df[index]/dX: ``D[index]`` at `values`, of the variable's shape (0-based indices).

    For f = A*x, ``slice_value(md.diff(f, "A"), i, 1, values)`` is the matrix whose row i is x and whose
    other rows are zero.
    """
    array = _as_array(D, values, "slice_value")
    _check_out_ndim(out_ndim, array.ndim)
    fixed = _check_index(index, out_ndim, array.shape[:out_ndim])
    return array[fixed]


def _as_array(D: Any, values: Mapping[str, Any] | None, what: str) -> np.ndarray:
    """A derivative as an array: an expression evaluated at `values`, or an array as it is."""
    if isinstance(D, Expr):
        if values is None:
            raise ArgumentError(f"{what} needs values to evaluate the derivative")
        return np.asarray(D.evaluate(values))
    if isinstance(D, np.ndarray):
        return D
    raise ArgumentError(f"{what} needs a matdiff expression or a NumPy array, got {type(D).__name__}")
