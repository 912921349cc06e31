"""Matrix algebra as users write it: the text syntax and the Python operators.

Each operation checks kinds and shapes, keeps track of row vectors (a transposed vector is a
row; numerically both are 1-D arrays) and lowers to the canonical nodes of `_expr`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from . import _expr as E
from ._errors import ShapeError
from ._expr import Expr, Operand, as_expr, describe, orient_like
from ._limits import limits
from ._ops import abs as absolute
from ._ops import exp, inv, log
from ._registry import Kind, Operation, register

F = TypeVar("F", bound=Callable[..., Expr])


def _composite(name: str, latex: str, python: str = "") -> Callable[[F], F]:
    """Register a function of the syntax that is sugar for other nodes (a product, a sum), beside its
    builder: its name in the syntax, its LaTeX and its `md` name come from here."""

    def declare(build: F) -> F:
        doc = (build.__doc__ or name).splitlines()[0]
        register(Operation(name, Kind.COMPOSITE, doc, latex, python=python or build.__name__, build=build))
        return build

    return declare


def _labels(node: Expr) -> tuple[int, ...]:
    return tuple(range(node.ndim))


def _same_kind(a: Expr, b: Expr, what: str) -> None:
    if a.ndim != b.ndim or (a.kind == "row") != (b.kind == "row"):
        raise ShapeError(f"{what} needs operands of one shape: {describe(a)} and {describe(b)}")
    for da, db in zip(a.shape, b.shape):
        if da != db and isinstance(da, int) and isinstance(db, int):
            raise ShapeError(f"{what} needs operands of one shape: {describe(a)} and {describe(b)}")


def _is_fresh(dim: E.Dim) -> bool:
    return isinstance(dim, str) and dim.startswith("_d")


def _unify(a: Expr, b: Expr, pairs: list[tuple[E.Dim, E.Dim]]) -> tuple[Expr, Expr]:
    """Give inferred sizes (of eye, vector(c), matrix(c)) the names they must equal, now, so that
    they survive when the term that fixed them cancels: (eye + A) - A is eye of A's size."""
    mapping: dict[E.Dim, E.Dim] = {}
    for da, db in pairs:
        da, db = mapping.get(da, da), mapping.get(db, db)
        if da != db and _is_fresh(da):
            mapping[da] = db
        elif da != db and _is_fresh(db):
            mapping[db] = da
    if not mapping:
        return a, b
    return _rename_dims(a, mapping), _rename_dims(b, mapping)


def _rename_dims(expr: Expr, mapping: dict[E.Dim, E.Dim]) -> Expr:
    def resolve(d: E.Dim) -> E.Dim:
        while d in mapping and mapping[d] != d:
            d = mapping[d]
        return d

    return E.rewrite(expr, lambda node: E.resize_constant(node, tuple(resolve(d) for d in node.shape)))


def _broadcast(scalar: Expr, like: Expr) -> Expr:
    """A scalar spread over every entry of `like` (a scalar plus a matrix adds to each entry)."""
    spread = E.einsum([scalar, E.ones(E.strip_row(like).shape)], [(), _labels(like)], _labels(like))
    return E.row(spread) if like.kind == "row" else spread


# ---------------------------------------------------------------------------------------------
# Element-wise arithmetic


def add(a: Operand, b: Operand) -> Expr:
    """a + b, with a scalar added to every entry of a vector or matrix."""
    a, b = as_expr(a), as_expr(b)
    if a.ndim == 0 and b.ndim > 0:
        a = _broadcast(a, b)
    elif b.ndim == 0 and a.ndim > 0:
        b = _broadcast(b, a)
    _same_kind(a, b, "+")
    a, b = _unify(a, b, list(zip(a.shape, b.shape)))
    return orient_like(E.add([a, b]), a)


def neg(a: Operand) -> Expr:
    """-a."""
    return E.scale(-1.0, as_expr(a))


def sub(a: Operand, b: Operand) -> Expr:
    """a - b."""
    return add(a, neg(b))


def hadamard(a: Operand, b: Operand) -> Expr:
    """a .* b: the element-wise product; scaling when one side is a scalar."""
    a, b = as_expr(a), as_expr(b)
    if a.ndim == 0:
        return E.scale(a, b)
    if b.ndim == 0:
        return E.scale(b, a)
    _same_kind(a, b, ".*")
    a, b = _unify(a, b, list(zip(a.shape, b.shape)))
    labels = _labels(a)
    return orient_like(E.einsum([a, b], [labels, labels], labels), a)


def elementwise_power(a: Operand, p: Operand) -> Expr:
    """a .^ p: a constant exponent, or exp(p .* log(a)) for a variable one (needs a > 0)."""
    a, p = as_expr(a), as_expr(p)
    if p.op == "const" and p.attrs[0] == 0.0 and a.op != "const":
        column = E.strip_row(a)  # keeps a's variables, and a row stays a row
        return orient_like(E.Expr("pow", (column,), (0.0,), column.shape), a)
    if p.op == "const":
        return E.power(a, p.attrs[0])
    if p.ndim > 0 and a.ndim == 0:
        a = _broadcast(a, p)
    return exp(hadamard(p, log(a)))


def elementwise_divide(a: Operand, b: Operand) -> Expr:
    """a ./ b."""
    a, b = as_expr(a), as_expr(b)
    if b.ndim == 0:
        return E.scale(E.power(b, -1.0), a)
    if a.ndim == 0:
        return E.scale(a, E.power(b, -1.0))
    return hadamard(a, E.power(b, -1.0))


def divide(a: Operand, b: Operand) -> Expr:
    """a / b: division by a scalar (use inv() or ./ for anything else)."""
    a, b = as_expr(a), as_expr(b)
    if b.ndim != 0:
        raise ShapeError(
            f"'/' divides by a scalar only, not by {describe(b)}: use ./ for element-wise division or inv()"
        )
    return elementwise_divide(a, b)


def power(a: Operand, p: Operand) -> Expr:
    """a ^ p: a scalar power, or an integer power of a square matrix."""
    a, p = as_expr(a), as_expr(p)
    if p.ndim != 0:
        raise ShapeError(f"the exponent of ^ must be a scalar, got {describe(p)}")
    if a.ndim == 0:
        return elementwise_power(a, p)
    if a.ndim == 2 and p.op == "const" and float(p.attrs[0]).is_integer():
        if abs(p.attrs[0]) > limits.max_matrix_power:  # before int(): 1e308 has 309 digits
            raise limits.exceeded("max_matrix_power", f"the matrix power {a}^{p.attrs[0]:g}")
        return matrix_power(a, int(p.attrs[0]))
    raise ShapeError(
        f"^ needs a scalar base or a square matrix with an integer exponent, got {describe(a)}; "
        "use .^ for an element-wise power"
    )


def matrix_power(a: Expr, k: int) -> Expr:
    """A^k by repeated squaring (about 2 log2 k products); A^0 = eye and A^-k = inv(A)^k.
    |k| is bounded by md.limits.max_matrix_power."""
    E.square_dims(a, "a matrix power")
    if abs(k) > limits.max_matrix_power:
        raise limits.exceeded("max_matrix_power", f"the matrix power {a}^{k}")
    if k < 0:
        return matrix_power(inv(a), -k)
    if k == 0:
        return E.delta(a.shape[0])
    result: Expr | None = None
    square = a
    while True:
        if k & 1:
            result = square if result is None else matmul(result, square)
        k >>= 1
        if not k:
            assert result is not None
            return result
        square = matmul(square, square)


# ---------------------------------------------------------------------------------------------
# Products and transposes


def transpose(a: Operand) -> Expr:
    """a': a vector becomes a row and back; a matrix swaps its axes."""
    a = as_expr(a)
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return E.row(a)
    if a.ndim == 2:
        if a.op == "var" and a.attrs[1] == "symmetric":
            return a
        return E.einsum([a], [(0, 1)], (1, 0))
    raise ShapeError(f"transpose needs at most 2 axes, got {describe(a)}")


def matmul(a: Operand, b: Operand) -> Expr:
    """a * b in the text syntax: the matrix product, or scaling when one side is a scalar."""
    a, b = as_expr(a), as_expr(b)
    if a.ndim == 0 or b.ndim == 0:
        return hadamard(a, b)
    pattern = _PRODUCTS.get((a.kind, b.kind))
    if pattern is None:
        hint = ""
        if a.kind == b.kind == "vector":
            hint = "; for vectors write x'*y (inner product) or x*y' (outer product)"
        raise ShapeError(f"cannot multiply {describe(a)} by {describe(b)}{hint}")
    subs, out, is_row = pattern
    left, right = E.strip_row(a), E.strip_row(b)
    inner = [(left.shape[i], right.shape[j]) for i, j in _shared_positions(subs)]
    for da, db in inner:
        if da != db and isinstance(da, int) and isinstance(db, int):
            raise ShapeError(f"cannot multiply {describe(a)} by {describe(b)}: inner sizes {da} and {db} differ")
    left, right = _unify(left, right, [(left.shape[i], right.shape[j]) for i, j in _shared_positions(subs)])
    result = E.einsum([left, right], subs, out)
    return E.row(result) if is_row and result.ndim == 1 else result


_PRODUCTS: dict[tuple[str, str], tuple[list[tuple[int, ...]], tuple[int, ...], bool]] = {
    # (left kind, right kind): (einsum labels of the operands, of the result, whether the result is a row)
    ("matrix", "matrix"): ([(0, 1), (1, 2)], (0, 2), False),
    ("matrix", "vector"): ([(0, 1), (1,)], (0,), False),
    ("row", "matrix"): ([(0,), (0, 1)], (1,), True),
    ("row", "vector"): ([(0,), (0,)], (), False),
    ("vector", "row"): ([(0,), (1,)], (0, 1), False),
}


def _shared_positions(subs: list[tuple[int, ...]]) -> list[tuple[int, int]]:
    left, right = subs
    return [(i, right.index(label)) for i, label in enumerate(left) if label in right]


def python_matmul(a: Operand, b: Operand) -> Expr:
    """a @ b with NumPy's rules: a vector on the left acts as a row, on the right as a column."""
    a, b = as_expr(a), as_expr(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("@ does not take a scalar operand; use * to scale")
    if a.kind == "vector":
        a = E.row(a)
    if b.kind == "row":
        b = E.strip_row(b)
    return matmul(a, b)


# ---------------------------------------------------------------------------------------------
# Functions


@_composite("tr", r"\operatorname{tr}")
def trace(a: Operand) -> Expr:
    """tr(A) = sum_i A_ii."""
    a = as_expr(a)
    if a.ndim == 0:
        return a  # the trace of a 1 x 1 matrix (such as x'*y) is its value
    E.square_dims(a, "tr")
    return E.einsum([a], [(0, 0)], ())


@_composite("diag", r"\operatorname{diag}")
def diag(a: Operand) -> Expr:
    """A vector to its diagonal matrix, or a square matrix to its diagonal vector."""
    a = E.strip_row(as_expr(a))
    if a.ndim == 1:
        return E.einsum([a, E.delta(a.shape[0])], [(0,), (0, 1)], (0, 1))
    if a.ndim == 2:
        E.square_dims(a, "diag")
        return E.einsum([a], [(0, 0)], (0,))
    raise ShapeError(f"diag needs a vector or a square matrix, got {describe(a)}")


@_composite("sum", r"\operatorname{sum}", python="sum")
def total(a: Operand) -> Expr:
    """sum(a): the sum of all entries."""
    a = E.strip_row(as_expr(a))
    return E.einsum([a], [_labels(a)], ())


@_composite("norm1", r"\left\|{}\right\|_1")
def norm1(a: Operand) -> Expr:
    """The 1-norm: sum(abs(a))."""
    return total(absolute(a))


def eye(n: E.Dim | None = None) -> Expr:
    """The identity matrix; its size is inferred from where it is used unless given."""
    return E.delta(n if n is not None else E.fresh_dim("n_eye", "the size of eye", "eye*x"))


@_composite("vector", r"\mathbf{{1}}")
def constant_vector(c: Operand = 1.0, n: E.Dim | None = None) -> Expr:
    """vector(c): a vector with every entry c, its length inferred from use."""
    length = n if n is not None else E.fresh_dim("n_vector", "the length of vector(c)", "x + vector(1)")
    return E.scale(as_expr(c), E.ones((length,)))


@_composite("matrix", r"\mathbf{{1}}")
def constant_matrix(c: Operand = 1.0, m: E.Dim | None = None, n: E.Dim | None = None) -> Expr:
    """matrix(c): a matrix with every entry c, its size inferred from use."""
    rows = m if m is not None else E.fresh_dim("m_matrix", "the number of rows of matrix(c)", "A + matrix(1)")
    columns = n if n is not None else E.fresh_dim("n_matrix", "the number of columns of matrix(c)", "A + matrix(1)")
    shape = (rows, columns)
    return E.scale(as_expr(c), E.ones(shape))
