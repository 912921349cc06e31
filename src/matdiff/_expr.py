"""The expression node: one immutable, hash-consed type for every operation.

Equal subexpressions are the same object, so a DAG built from a value, its gradient and its
Hessian shares every common part. The canonical constructors below (`einsum`, `add`, `power`,
`elementwise`, ...) are the only way nodes are made; each applies the cheap, always-valid simplifications
(flattening, Kronecker-delta elimination, constant folding, zero propagation, like terms).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ._errors import EvaluationError, ShapeError, guard_depth
from ._limits import limits
from ._registry import REGISTRY, lookup

Dim = str | int  # a symbolic dimension name, or a fixed size
Labels = tuple[int, ...]

KINDS = ("scalar", "vector", "matrix", "symmetric")
_fresh_dims = itertools.count(1)
_FRESH_NAMES: dict[str, tuple[str, str, str]] = {}  # "_d7" -> ("n_eye", "the size of eye", "eye*x")


def fresh_dim(shown: str = "n", what: str = "a size inferred from use", example: str = "") -> str:
    """A new dimension name, to be unified with others (for eye, vector(c), matrix(c)). The name is
    internal ("_d7"): messages and printed shapes show `shown` instead ("n_eye", see `dim_text`), and
    `unfixed_size` says `what` it is, with an `example` of a use that fixes it."""
    name = f"_d{next(_fresh_dims)}"
    _FRESH_NAMES[name] = (shown, what, example)
    return name


def dim_text(dim: Dim) -> str:
    """A dimension as people read it: a fixed size ("3"), a variable's size ("n_x", "m_A"), or for a size
    inferred from use, the constant's ("n_eye", "n_vector", "m_matrix"), never an internal name."""
    if isinstance(dim, int):
        return str(dim)
    fresh = _FRESH_NAMES.get(dim)
    return dim if fresh is None else fresh[0]


def unfixed_size(dim: Dim) -> str:
    """The message for a size that no argument fixes: which size it is and how to fix it."""
    fresh = _FRESH_NAMES.get(dim) if isinstance(dim, str) else None
    if fresh is not None:
        _, what, example = fresh
        where = f" (as in {example})" if example else ""
        return f"{what} is not fixed by any variable of the expression: use it where a variable gives it a size{where}"
    owner = dim_owner(dim)
    if owner is not None:
        return f"the size {dim} is not fixed by any argument: give a value for {owner[0]}, whose size it is"
    return f"the size {dim} is not fixed by any argument: give a variable that has it"


def shape_words(shape: Sequence[Dim], times: str = " x ") -> str:
    """A shape as people read it: "m_A x n_A", "n_eye x n_eye"; a scalar is "1 x 1"."""
    return times.join(dim_text(d) for d in shape) or "1 x 1"


class Expr:
    """An immutable node of the expression DAG.

    `op` names the operation, `args` are the child nodes, `attrs` the hashable parameters and
    `shape` a tuple of dimensions (names or sizes). Build expressions with `md.parse`, with the
    variable constructors (`md.vector("x")`, ...) and Python operators, or with `md.diff`.
    """

    __slots__ = ("op", "args", "attrs", "shape", "sig", "free", "depth", "__weakref__", "_memo")
    _interned: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    op: str
    args: tuple[Expr, ...]
    attrs: tuple
    shape: tuple[Dim, ...]
    sig: bytes
    free: frozenset[str]
    depth: int  # 1 for a leaf, else 1 + the deepest child
    _memo: dict[Any, Any]  # per-node caches: symmetry, evaluation plans, compiled products

    def __new__(cls, op: str, args: tuple[Expr, ...], attrs: tuple, shape: tuple[Dim, ...]) -> Expr:
        key = (op, args, attrs, shape)
        node = cls._interned.get(key)
        if node is not None:
            if node.depth > limits.max_depth:  # the limit holds whether or not the node exists already
                raise limits.exceeded("max_depth", f"an expression nested {node.depth} deep")
            return node
        node = object.__new__(cls)
        object.__setattr__(node, "op", op)
        object.__setattr__(node, "args", args)
        object.__setattr__(node, "attrs", attrs)
        object.__setattr__(node, "shape", shape)
        digest = hashlib.blake2b(repr((op, attrs, shape)).encode(), digest_size=8)
        for child in args:
            digest.update(child.sig)
        object.__setattr__(node, "sig", digest.digest())
        free = frozenset((attrs[0],)) if op == "var" else frozenset()
        for child in args:
            free |= child.free
        object.__setattr__(node, "free", free)
        depth = 1 + max((child.depth for child in args), default=0)
        if depth > limits.max_depth:
            raise limits.exceeded("max_depth", f"an expression nested {depth} deep")
        object.__setattr__(node, "depth", depth)
        object.__setattr__(node, "_memo", {})
        cls._interned[key] = node
        return node

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("matdiff expressions are immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("matdiff expressions are immutable")

    def __reduce__(self) -> tuple:  # pickling rebuilds through the interning constructor
        return (Expr, (self.op, self.args, self.attrs, self.shape))

    @property
    def ndim(self) -> int:
        """The number of axes: 0 scalar, 1 vector, 2 matrix, 3+ tensor."""
        return len(self.shape)

    @property
    def kind(self) -> str:
        """'scalar', 'vector', 'row' (a transposed vector), 'matrix' or 'tensor'."""
        if self.op == "row":
            return "row"
        return ("scalar", "vector", "matrix")[self.ndim] if self.ndim < 3 else "tensor"

    # Evaluation and printing ------------------------------------------------------------------

    @guard_depth
    def evaluate(self, values: Mapping[str, Any]) -> np.ndarray:
        """Evaluate with `values` (name -> number or array); returns a NumPy array (0-d for a scalar)."""
        return _evaluate.evaluate([self], values)[0]

    @property
    def variables(self) -> dict[str, str]:
        """The variables of the expression and their kinds, by name, sorted by name."""
        return {name: node.attrs[1] for name, node in variables([self]).items()}

    @property
    def dims(self) -> tuple[Dim, ...]:
        """The shape, with dimensions that the expression forces equal given one name."""
        return _shapes.dim_classes([self]).canonical(self.shape)

    @property
    def T(self) -> Expr:
        """The transpose: a vector becomes a row and back; a matrix swaps its axes."""
        return _algebra.transpose(self)

    @guard_depth
    def to_text(self, shared: bool = False) -> str:
        """The text syntax (index notation where no matrix form exists); the same as str(). With `shared`,
        terms that would be written more than once are named first (``t0 = ...``, a line each), then the
        result in terms of them, as MatrixCalculus.org prints them."""
        return _printing.to_text(self, shared)

    @guard_depth
    def to_latex(self, shared: bool = False) -> str:
        """LaTeX, in matrix notation or in index notation; with `shared`, named terms first (an aligned block)."""
        return _printing.to_latex(self, shared)

    @guard_depth
    def __str__(self) -> str:
        return _printing.to_text(self)

    @guard_depth
    def __repr__(self) -> str:
        return f"<matdiff {self.kind} {_printing.to_text(self)}>"

    @guard_depth
    def _repr_latex_(self) -> str:
        return f"${_printing.to_latex(self)}$"

    # Python operators, NumPy style: * and / are element-wise (or scaling), @ is the matrix product

    __array_ufunc__ = None  # NumPy defers to these operators instead of broadcasting over an Expr

    def __add__(self, other: Operand) -> Expr:
        return _algebra.add(self, other)

    def __radd__(self, other: Operand) -> Expr:
        return _algebra.add(other, self)

    def __sub__(self, other: Operand) -> Expr:
        return _algebra.sub(self, other)

    def __rsub__(self, other: Operand) -> Expr:
        return _algebra.sub(other, self)

    def __mul__(self, other: Operand) -> Expr:
        return _algebra.hadamard(self, other)

    def __rmul__(self, other: Operand) -> Expr:
        return _algebra.hadamard(other, self)

    def __truediv__(self, other: Operand) -> Expr:
        return _algebra.elementwise_divide(self, other)

    def __rtruediv__(self, other: Operand) -> Expr:
        return _algebra.elementwise_divide(other, self)

    def __pow__(self, other: Operand) -> Expr:
        return _algebra.elementwise_power(self, other)

    def __rpow__(self, other: Operand) -> Expr:
        return _algebra.elementwise_power(other, self)

    def __matmul__(self, other: Operand) -> Expr:
        return _algebra.python_matmul(self, other)

    def __rmatmul__(self, other: Operand) -> Expr:
        return _algebra.python_matmul(other, self)

    def __neg__(self) -> Expr:
        return _algebra.neg(self)

    def __pos__(self) -> Expr:
        return self


Operand = Expr | float | int
"""What the operators and functions accept: an expression or a number."""


def as_expr(value: Operand) -> Expr:
    """Numbers become constants; anything else that is not an Expr is refused."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"cannot use {type(value).__name__} in a matdiff expression; use a number or an expression")
    return const(value)


# ---------------------------------------------------------------------------------------------
# Leaves


def var(name: str, kind: str, shape: tuple[Dim | None, ...] | None = None) -> Expr:
    """A variable. Dimension names follow the variable: x is n_x, A is m_A x n_A."""
    if kind not in KINDS:
        raise ShapeError(f"unknown kind {kind!r} for {name}: use one of {', '.join(KINDS)}")
    default = {
        "scalar": (),
        "vector": (f"n_{name}",),
        "matrix": (f"m_{name}", f"n_{name}"),
        "symmetric": (f"n_{name}", f"n_{name}"),
    }[kind]
    if shape is not None and len(shape) != len(default):
        raise ShapeError(f"{name} is a {kind} and needs {len(default)} dimensions, got {shape}")
    given = shape if shape is not None else default
    sizes: tuple[Dim, ...] = tuple(d if d is not None else default[i] for i, d in enumerate(given))
    if kind == "symmetric" and sizes[0] != sizes[1] and isinstance(sizes[0], int) and isinstance(sizes[1], int):
        raise ShapeError(f"symmetric {name} must be square, got {sizes}")
    for axis, dim in enumerate(sizes):
        if isinstance(dim, str) and dim.endswith("_" + name):  # only sizes named after this variable
            _DIM_OWNERS[dim] = (name, kind, axis)
    return Expr("var", (), (name, kind), sizes)


_DIM_OWNERS: dict[str, tuple[str, str, int]] = {}


def dim_owner(dim: Dim) -> tuple[str, str, int] | None:
    """The variable (name, kind, axis) whose size a dimension name stands for, if known."""
    return _DIM_OWNERS.get(dim) if isinstance(dim, str) else None


def const(value: float, what: str = "") -> Expr:
    """A scalar constant. It must be finite: an expression with an infinite or NaN constant has no
    meaningful derivative, so folding that would produce one (``1/0``, ``log(-1)``, ``arcsin(2)``, a
    number too large for a float) raises EvaluationError instead, naming `what` was folded."""
    value = float(value)
    if not math.isfinite(value):
        raise EvaluationError(
            f"{what or 'a constant'} gives {value!r}, which is not a finite real number; "
            "an expression's constants must be finite"
        )
    if value == 0.0:
        value = 0.0  # -0.0 and 0.0 are one node
    return Expr("const", (), (value,), ())


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def zeros(shape: tuple[Dim, ...]) -> Expr:
    """A symbolic zero: derivatives propagate it without building zero terms."""
    return const(0.0) if not shape else Expr("zeros", (), (), tuple(shape))


def ones(shape: tuple[Dim, ...]) -> Expr:
    """A tensor of ones (vector(1), matrix(1), and the broadcast of a scalar)."""
    return const(1.0) if not shape else Expr("ones", (), (), tuple(shape))


def delta(dim: Dim) -> Expr:
    """The Kronecker delta, the identity matrix of size `dim`."""
    return Expr("delta", (), (), (dim, dim))


def is_const(node: Expr, value: float | None = None) -> bool:
    return node.op == "const" and (value is None or node.attrs[0] == value)


def is_zero(node: Expr) -> bool:
    return node.op == "zeros" or is_const(node, 0.0)


def strip_row(node: Expr) -> Expr:
    """A row vector and its column have the same numbers; products use the column."""
    return node.args[0] if node.op == "row" else node


def row(node: Expr) -> Expr:
    """Mark a vector as a row vector (its transpose). Numerically the same 1-D array."""
    if node.op == "row":
        return node.args[0]
    if node.ndim != 1:
        raise ShapeError(f"only a vector can be a row vector, got shape {node.shape}")
    return Expr("row", (node,), (), node.shape)


# ---------------------------------------------------------------------------------------------
# The generic product: C[out] = sum over the other labels of prod_k operands[k][subs[k]]


def _unify_label_dims(operands: Sequence[Expr], subs: Sequence[Labels]) -> dict[int, Dim]:
    dims: dict[int, Dim] = {}
    for node, labels in zip(operands, subs):
        if len(labels) != node.ndim:
            raise ShapeError(f"einsum labels {labels} do not fit shape {node.shape}")
        for label, dim in zip(labels, node.shape):
            seen = dims.setdefault(label, dim)
            if seen != dim and isinstance(seen, int) and isinstance(dim, int):
                raise ShapeError(f"dimension mismatch in a product: {seen} vs {dim}")
            if isinstance(dim, int):
                dims[label] = dim
    return dims


def einsum(operands: Sequence[Expr], subs: Sequence[Sequence[int]], out: Sequence[int]) -> Expr:
    """The one generic product, in canonical form (Laue et al.'s A *(s1,s2,s3) B, n-ary)."""
    label_lists = [tuple(s) for s in subs]
    out = tuple(out)
    dims = _unify_label_dims(operands, label_lists)
    missing = [label for label in out if label not in dims]
    if missing or len(set(out)) != len(out):
        raise ShapeError(f"bad einsum output labels {out}")
    out_shape = tuple(dims[label] for label in out)

    fresh = itertools.count(max(dims, default=0) + 1)
    coefficient = 1.0
    factors: list[tuple[Expr, Labels]] = []
    work = list(zip(operands, label_lists))
    label_count = len(dims)
    while work:  # flatten nested products and fold constants, without recursion
        node, labels = work.pop()
        node = strip_row(node)
        if is_zero(node):
            return zeros(out_shape)
        if node.op == "const":
            coefficient *= node.attrs[0]
        elif node.op == "einsum" and _room_to_flatten(node, len(factors) + len(work), label_count):
            inner_subs, inner_out = node.attrs
            rename = dict(zip(inner_out, labels))
            for inner in {label for s in inner_subs for label in s} - set(inner_out):
                rename[inner] = next(fresh)
                label_count += 1
            for child, child_labels in zip(node.args, inner_subs):
                work.append((child, tuple(rename[label] for label in child_labels)))
        else:
            factors.append((node, labels))
    if coefficient == 0.0:
        return zeros(out_shape)
    factors.reverse()
    factors = _merge_powers(_eliminate_deltas(factors, out), out)
    # an output label that a remaining variable's side carries takes that size: eye[i,j]*t[j] is t[i], of
    # t's length (the two are equal, but the eye and the size it was named by are gone)
    carried = {x: d for n, ls in factors if n.op not in ("delta", "ones", "zeros") for x, d in zip(ls, n.shape)}
    out_shape = tuple(d if isinstance(d, int) else carried.get(x, d) for x, d in zip(out, out_shape))

    if not factors:
        return const(coefficient, "a product of constants")
    if coefficient == 1.0 and len(factors) == 1 and factors[0][1] == out:
        return factors[0][0]

    def order(item: tuple[Expr, Labels]) -> tuple:
        node, labels = item
        return (node.sig, tuple(out.index(label) if label in out else len(out) for label in labels))

    factors.sort(key=order)
    factors = _orient_symmetric(factors, out)
    if coefficient != 1.0:
        factors.insert(0, (const(coefficient, "a product of constants"), ()))
    canonical: dict[int, int] = {}
    for label in itertools.chain(out, *(labels for _, labels in factors)):
        canonical.setdefault(label, len(canonical))
    new_subs = tuple(tuple(canonical[label] for label in labels) for _, labels in factors)
    new_out = tuple(canonical[label] for label in out)
    return Expr("einsum", tuple(node for node, _ in factors), (new_subs, new_out), out_shape)


MAX_FACTORS = 24  # NumPy's einsum takes at most 52 labels and 64 operands: stay well inside


def _room_to_flatten(node: Expr, factor_count: int, label_count: int) -> bool:
    """Flatten a nested product unless the result would be too large to evaluate as one einsum."""
    inner_labels = len({label for s in node.attrs[0] for label in s})
    return factor_count + len(node.args) <= MAX_FACTORS and label_count + inner_labels <= 40


def _eliminate_deltas(factors: list[tuple[Expr, Labels]], out: Labels) -> list[tuple[Expr, Labels]]:
    """sum_a delta[a,b] T[..a..] = T[..b..]: rename a summed label and drop the delta."""
    changed = True
    while changed:
        changed = False
        for position, (node, labels) in enumerate(factors):
            if node.op != "delta":
                continue
            others = factors[:position] + factors[position + 1 :]
            if labels[0] == labels[1]:  # delta[a,a] is 1 for every a: drop it where a is used elsewhere
                if any(labels[0] in ls for _, ls in others):
                    factors, changed = others, True
                    break
                if labels[0] in out:
                    factors, changed = others + [(ones((node.shape[0],)), (labels[0],))], True
                    break
                continue
            used = {label for _, ls in others for label in ls} | set(out)
            a, b = labels
            if a not in out and b in used:
                gone, kept = a, b
            elif b not in out and a in used:
                gone, kept = b, a
            else:
                continue
            factors = [(n, tuple(kept if label == gone else label for label in ls)) for n, ls in others]
            if kept in out and all(kept not in ls for _, ls in factors):
                factors.append((ones((node.shape[0],)), (kept,)))  # sum_a delta[a,b] = 1 for every b
            changed = True
            break
    return factors


def is_symmetric(node: Expr) -> bool:
    """Whether a square matrix expression equals its transpose for every value of its variables."""
    if node.ndim != 2 or node.shape[0] != node.shape[1] and node.op != "einsum":
        return False
    known = node._memo.get("symmetric")
    if known is None:
        op = node.op
        if op == "var":
            known = node.attrs[1] == "symmetric"
        elif op in ("delta", "ones", "zeros"):
            known = node.shape[0] == node.shape[1]
        elif op in ("pow", "add") or (op in REGISTRY and REGISTRY[op].symmetric):  # f(S) of symmetric S
            known = all(is_symmetric(child) for child in node.args)
        elif op == "einsum":
            subs, out = node.attrs
            known = einsum(node.args, subs, out[::-1]) is node
        else:
            known = False
        node._memo["symmetric"] = known
    return known


def _orient_symmetric(factors: list[tuple[Expr, Labels]], out: Labels) -> list[tuple[Expr, Labels]]:
    """S[b,a] = S[a,b] for symmetric S: write each with its labels in order of first use."""
    first_use: dict[int, int] = {}
    for label in itertools.chain(out, *(labels for _, labels in factors)):
        first_use.setdefault(label, len(first_use))
    result = []
    for node, labels in factors:
        if len(labels) == 2 and first_use[labels[0]] > first_use[labels[1]] and is_symmetric(node):
            labels = labels[::-1]
        result.append((node, labels))
    return result


def _merge_powers(factors: list[tuple[Expr, Labels]], out: Labels) -> list[tuple[Expr, Labels]]:
    """x^p .* x^q = x^(p+q) for element-wise factors on the same labels (all kept in the output)."""
    exponents: dict[tuple[Expr, Labels], float] = {}
    others: list[tuple[Expr, Labels]] = []
    for node, labels in factors:
        if all(label in out for label in labels) and node.op not in ("delta", "ones"):
            base, p = (node.args[0], node.attrs[0]) if node.op == "pow" else (node, 1.0)
            exponents[(base, labels)] = exponents.get((base, labels), 0.0) + p
        else:
            others.append((node, labels))
    merged = [(power(base, p), labels) for (base, labels), p in exponents.items()]
    merged = [(node, labels) for node, labels in merged if not is_const(node, 1.0)]
    for k, (node, labels) in enumerate(others):  # ones[i,i] is ones[i]: 1 on the diagonal
        if node.op == "ones" and len(set(labels)) < len(labels):
            unique = tuple(dict.fromkeys(labels))
            others[k] = (ones(tuple(node.shape[labels.index(x)] for x in unique)), unique)
    kept = merged + [item for item in others if item[0].op != "ones"]
    used = {label for _, labels in kept for label in labels}
    others = [item for item in others if item[0].op != "ones" or not set(item[1]) <= used]  # 1 .* T = T
    spread = [(n, ls) for n, ls in others if n.op == "ones" and all(x in out for x in ls)]
    if len(spread) > 1:  # ones[i] ones[j] -> ones[i,j]
        labels = tuple(x for x in out if any(x in ls for _, ls in spread))
        dims = {x: d for n, ls in spread for x, d in zip(ls, n.shape)}
        others = [item for item in others if item not in spread] + [(ones(tuple(dims[x] for x in labels)), labels)]
    return merged + others


def scale(coefficient: float | Expr, node: Expr) -> Expr:
    """coefficient * node, where the coefficient is a number or a scalar expression."""
    factor = const(coefficient) if not isinstance(coefficient, Expr) else coefficient
    labels = tuple(range(node.ndim))
    result = einsum([factor, strip_row(node)], [(), labels], labels)
    return row(result) if node.op == "row" and result.ndim == 1 else result


def hadamard_broadcast(scalar_field: Expr, tensor: Expr) -> Expr:
    """f[s] * T[s, w...]: an element-wise factor applied along the leading axes of T."""
    leading = tuple(range(scalar_field.ndim))
    labels = tuple(range(tensor.ndim))
    return einsum([scalar_field, tensor], [leading, labels], labels)


# ---------------------------------------------------------------------------------------------
# Sums


def split_coefficient(node: Expr) -> tuple[float, Expr]:
    """node == c * base, with c a number and base free of a leading constant."""
    if node.op == "einsum" and is_const(node.args[0]):
        rest = node.args[1:]
        subs, out = node.attrs
        return node.args[0].attrs[0], einsum(rest, subs[1:], out)
    if node.op == "const":
        return node.attrs[0], const(1.0)
    return 1.0, node


def add(terms: Iterable[Expr]) -> Expr:
    """A sum of same-shaped terms, flattened, with zeros dropped and like terms merged."""
    flat: list[Expr] = []
    work = list(terms)
    if not work:
        raise ShapeError("an empty sum")
    shape = work[0].shape
    work.reverse()
    while work:
        term = strip_row(work.pop())
        if len(term.shape) != len(shape):
            raise ShapeError(f"cannot add a term of shape {term.shape} to one of shape {shape}")
        for a, b in zip(term.shape, shape):
            if a != b and isinstance(a, int) and isinstance(b, int):
                raise ShapeError(f"cannot add a term of shape {term.shape} to one of shape {shape}")
        if term.op == "add":
            work.extend(reversed(term.args))
        elif not is_zero(term):
            flat.append(term)
    merged: dict[Expr, float] = {}
    for term in flat:
        coefficient, base = split_coefficient(term)
        merged[base] = merged.get(base, 0.0) + coefficient
    result = [scale(c, base) if c != 1.0 else base for base, c in merged.items() if c != 0.0]
    if not result:
        return zeros(shape)
    if len(result) == 1:
        return result[0]
    # the shape of the terms kept, not of a term dropped as zero: in (A - A) + B + 1, A no longer occurs, so
    # its sizes must not name the sum's (nothing would fix them when the sum is evaluated)
    kept = tuple(next((d for d in dims if isinstance(d, int)), dims[0]) for dims in zip(*(t.shape for t in result)))
    return Expr("add", tuple(result), (), kept)


# ---------------------------------------------------------------------------------------------
# Functions and powers


def elementwise(name: str, value: Callable[[np.ndarray], np.ndarray], x: Expr) -> Expr:
    """The node of an element-wise function (declared in `_ops`); folds constants and f(0) = 0."""
    if x.op == "row":
        return row(elementwise(name, value, x.args[0]))
    if x.op == "const":
        with np.errstate(all="ignore"):  # a value outside the domain is reported by const, by name
            folded = float(value(np.asarray(x.attrs[0], dtype=np.float64)))
        return const(folded, f"{name}({_number_text(x.attrs[0])})")
    if is_zero(x):  # f of a zero tensor: every entry is f(0), which must be finite as any constant
        with np.errstate(all="ignore"):
            at_zero = const(float(value(np.zeros(()))), f"{name}(0)")
        if is_zero(at_zero):
            return x
    return Expr(name, (x,), (), x.shape)


def power(x: Expr, exponent: float) -> Expr:
    """x .^ p for a constant p."""
    exponent = float(exponent)
    if x.op == "row":
        return row(power(x.args[0], exponent))
    if exponent == 1.0:
        return x
    if exponent == 0.0:
        return ones(x.shape)
    if x.op == "const":
        base = x.attrs[0]
        what = "division by zero" if base == 0.0 and exponent < 0 else f"{_number_text(base)}^{_number_text(exponent)}"
        with np.errstate(all="ignore"):
            return const(float(np.float64(base) ** exponent), what)
    if x.op == "pow" and float(exponent).is_integer() and float(x.attrs[0]).is_integer():
        return power(x.args[0], x.attrs[0] * exponent)  # (x^a)^b = x^(ab) for integer a, b
    coefficient, base = split_coefficient(x)
    if coefficient != 1.0 and (coefficient > 0 or exponent.is_integer()):  # (c x)^p = c^p x^p, real for these
        with np.errstate(all="ignore"):
            factor = float(np.float64(coefficient) ** exponent)
        # only where c^p is a short number, so that 1/(2*s) reads 0.5/s and cancels against a 2 outside, while
        # 1/(3*x) does not become 0.3333333333333333/x
        if np.isfinite(factor) and factor != 0.0 and float(f"{factor:.4g}") == factor:
            return scale(factor, power(base, exponent))
    return Expr("pow", (x,), (exponent,), x.shape)


def square_dims(x: Expr, what: str) -> None:
    if x.ndim != 2:
        raise ShapeError(f"{what} needs a square matrix, got {describe(x)}")
    a, b = x.shape
    if a != b and isinstance(a, int) and isinstance(b, int):
        raise ShapeError(f"{what} needs a square matrix, got {describe(x)}")


def describe(node: Expr) -> str:
    """'x (vector, n_x)' for error messages: the operand, its kind and its shape."""
    text = _printing.to_text(node)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({node.kind}, {shape_words(node.shape)})"


def node_count() -> int:
    """How many distinct expression nodes exist now (for bounding the work of a derivation)."""
    return len(Expr._interned)


def postorder(roots: Sequence[Expr]) -> list[Expr]:
    """Every node under `roots` once, children before parents; iterative, so depth is no limit."""
    seen: set[int] = set()
    order: list[Expr] = []
    stack: list[tuple[Expr, bool]] = [(root, False) for root in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.args) if id(child) not in seen)
    return order


def orient_like(result: Expr, template: Expr) -> Expr:
    """`result` as a row vector where `template` is one."""
    return row(result) if template.kind == "row" and result.ndim == 1 else result


def resize_constant(node: Expr, shape: tuple[Dim, ...]) -> Expr | None:
    """ones, zeros or eye with its dimensions renamed; None for any other node."""
    return Expr(node.op, (), node.attrs, shape) if node.op in ("ones", "zeros", "delta") else None


def hole(shape: tuple[Dim, ...]) -> Expr:
    """A placeholder of a given shape, for matching products that differ in one factor (`_simplify`)."""
    return Expr("hole", (), (), shape)


# ---------------------------------------------------------------------------------------------
# Traversals: variables, and rebuilding bottom-up


def variables(roots: Sequence[Expr]) -> dict[str, Expr]:
    """The variable nodes under `roots`, by name, sorted by name."""
    found = {node.attrs[0]: node for node in postorder(roots) if node.op == "var"}
    return dict(sorted(found.items()))


def find_variable(roots: Sequence[Expr], name: str) -> Expr | None:
    """The variable called `name` under `roots`, or None."""
    return variables(roots).get(name)


def rebuild(node: Expr, args: tuple[Expr, ...]) -> Expr:
    """The node with new children, through the canonical constructors (which simplify again)."""
    if all(a is b for a, b in zip(args, node.args)):
        return node
    op = node.op
    if op == "einsum":
        return einsum(args, *node.attrs)
    if op == "add":
        return add(args)
    if op == "row":
        return row(args[0]) if args[0].ndim == 1 else args[0]
    if op == "pow":
        return power(args[0], node.attrs[0])
    return lookup(op)(args[0])  # a registered function; lookup raises for anything else


def rewrite(
    root: Expr,
    replace: Callable[[Expr], Expr | None] = lambda node: None,
    then: Callable[[Expr], Expr] = lambda node: node,
) -> Expr:
    """`root` rebuilt bottom-up: each node becomes `replace(node)` where that is not None, else the node
    rebuilt from its rewritten children and passed through `then`. Iterative: depth is no limit."""
    done: dict[int, Expr] = {}
    for node in postorder([root]):
        replacement = replace(node)
        if replacement is None:
            replacement = then(rebuild(node, tuple(done[id(c)] for c in node.args)))
        done[id(node)] = replacement
    return done[id(root)]


# The operators, evaluation and printing of Expr live in the modules that own them, and those modules
# build on this one: they are imported last, once everything above is defined (a real import cycle).
from . import _algebra, _evaluate, _printing, _shapes  # noqa: E402
