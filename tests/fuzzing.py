"""Fuzzing support: a typed generator of random expressions, independent references, and the checks.

Used by tests/test_fuzz.py (CI-sized runs) and scripts/fuzz.py (long runs that print counts).

The generator builds a small syntax tree of its own (`Node`), with every node's shape tracked
symbolically: () a scalar, ("n",) a vector of length n, ("T", "n") a row vector, ("m", "n") an m x n
matrix, over two dimension classes n and m. Productions are chosen per target shape, so every tree
type-checks: products have matching inner dimensions, tr/det/logdet/inv see square matrices. Domains are
kept safe for any finite input: log/sqrt/negative powers see `exp(.)`, `1 + e.*e` or `2 + sin(.)`;
arcsin/arccos see `0.9*tanh(.)`; inv/logdet/negative matrix powers see `eye + M*M'`-style symmetric
positive definite matrices. The tree renders to the text syntax, and the *same tree* is interpreted with
NumPy (the reference value, and finite differences of it) and with jax.numpy (autodiff): neither
reference touches matdiff's parser, evaluator or derivative code.

Outcomes of one check: "passed"; "rejected" (a clear md.MatdiffError while parsing or building the text,
acceptable for an expression outside a domain); "discarded" (the reference itself leaves the range where
the comparison means anything: a value or intermediate beyond 1e6, a non-finite derivative); "failed"
(anything else: another exception type, a MatdiffError after parsing, a wrong value or derivative, a
printed form that does not parse back to the same numbers, a time-out).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

import matdiff as md
from matdiff import numeric
from matdiff._registry import REGISTRY

# ---------------------------------------------------------------------------------------------
# Variables, shapes and the syntax tree

Shape = tuple[str, ...]
SCALAR: Shape = ()
ROW = "T"  # ("T", k) is a row vector of length k (a transposed vector)

VARIABLES: dict[str, tuple[str, Shape]] = {
    "a": ("scalar", ()),
    "b": ("scalar", ()),
    "x": ("vector", ("n",)),
    "y": ("vector", ("n",)),
    "u": ("vector", ("m",)),
    "A": ("matrix", ("n", "n")),
    "B": ("matrix", ("n", "n")),
    "S": ("symmetric", ("n", "n")),
    "C": ("matrix", ("m", "n")),
}
KINDS = {name: kind for name, (kind, _) in VARIABLES.items()}
DIMS = ("n", "m")
SHAPES: tuple[Shape, ...] = (
    (), ("n",), ("m",), (ROW, "n"), (ROW, "m"), ("n", "n"), ("m", "m"), ("n", "m"), ("m", "n"),
)  # fmt: skip
CONSTANTS = ("2", "0.5", "1.5", "3", "0.25", "1")

BOUND = 1e6  # reference values (and every intermediate) beyond this are discarded, not compared


def is_scalar(s: Shape) -> bool:
    return s == ()


def is_vector(s: Shape) -> bool:
    return len(s) == 1


def is_row(s: Shape) -> bool:
    return len(s) == 2 and s[0] == ROW


def is_matrix(s: Shape) -> bool:
    return len(s) == 2 and s[0] != ROW


def is_square(s: Shape) -> bool:
    return is_matrix(s) and s[0] == s[1]


def transposed(s: Shape) -> Shape:
    if is_vector(s):
        return (ROW, s[0])
    if is_row(s):
        return (s[1],)
    if is_matrix(s):
        return (s[1], s[0])
    return s


@dataclass(frozen=True)
class Node:
    """A node of the generator's syntax tree. `value` is the variable's name, the number's text, the
    function's name, the exponent (for "epow"/"mpow" with a constant exponent) or the constant's entry."""

    op: str
    args: tuple[Node, ...] = ()
    shape: Shape = ()
    value: str = ""

    def __str__(self) -> str:
        return render(self)


_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "hadamard": ".*", "ediv": "./"}


def render(node: Node) -> str:
    """The text syntax, fully parenthesised (so precedence never decides the meaning)."""
    op, args = node.op, node.args
    if op == "var":
        return node.value
    if op == "num":
        return f"({node.value})" if node.value.startswith("-") else node.value
    if op == "eye":
        return "eye"
    if op == "cvec":
        return f"vector({node.value})"
    if op == "cmat":
        return f"matrix({node.value})"
    if op in _INFIX:
        return f"({render(args[0])} {_INFIX[op]} {render(args[1])})"
    if op == "neg":
        return f"(-{render(args[0])})"
    if op == "transpose":
        return f"({render(args[0])})'"
    if op == "pow":  # scalar ^ scalar expression
        return f"({render(args[0])})^({render(args[1])})"
    if op == "cpow":  # scalar or square matrix ^ constant
        return f"({render(args[0])})^{node.value}"
    if op == "epow":
        return f"({render(args[0])}).^{node.value}"
    if op == "vpow":  # element-wise power with a variable exponent of the same shape
        return f"({render(args[0])}).^({render(args[1])})"
    if op == "call":
        return f"{node.value}({render(args[0])})"
    raise AssertionError(op)


def variables_of(node: Node) -> set[str]:
    if node.op == "var":
        return {node.value}
    return set().union(*(variables_of(a) for a in node.args)) if node.args else set()


def size(node: Node) -> int:
    return 1 + sum(size(a) for a in node.args)


# ---------------------------------------------------------------------------------------------
# The interpreter: one tree, evaluated with NumPy or jax.numpy


class Backend:
    """The array operations the interpreter needs, from NumPy or jax.numpy."""

    def __init__(self, xp: Any) -> None:
        self.xp = xp

    def sigmoid(self, v: Any) -> Any:
        return 0.5 * (1.0 + self.xp.tanh(0.5 * v))  # stable for any v, in both libraries

    def softmax(self, v: Any) -> Any:
        e = self.xp.exp(v - self.xp.max(v))
        return e / self.xp.sum(e)

    def logsumexp(self, v: Any) -> Any:
        top = self.xp.max(v)
        return top + self.xp.log(self.xp.sum(self.xp.exp(v - top)))

    def function(self, name: str, v: Any, shape: Shape) -> Any:
        xp = self.xp
        simple = {
            "sin": xp.sin, "cos": xp.cos, "tan": xp.tan, "arcsin": xp.arcsin, "arccos": xp.arccos,
            "arctan": xp.arctan, "exp": xp.exp, "log": xp.log, "sqrt": xp.sqrt, "log1p": xp.log1p,
            "expm1": xp.expm1, "sinh": xp.sinh, "cosh": xp.cosh, "tanh": xp.tanh, "arcsinh": xp.arcsinh,
            "abs": xp.abs, "sign": xp.sign, "sum": xp.sum,
        }  # fmt: skip
        if name in simple:
            return simple[name](v)
        if name == "sigmoid":
            return self.sigmoid(v)
        if name == "softplus":
            return xp.logaddexp(0.0, v)
        if name == "relu":
            return xp.maximum(v, 0.0)
        if name == "step":
            return (v > 0).astype(v.dtype) if hasattr(v, "astype") else float(v > 0)
        if name == "softmax":
            return self.softmax(v)
        if name == "logsumexp":
            return self.logsumexp(v)
        if name == "norm2":
            return xp.sqrt(xp.sum(v * v))
        if name == "norm1":
            return xp.sum(xp.abs(v))
        if name == "inv":
            return 1.0 / v if is_scalar(shape) else xp.linalg.inv(v)
        if name == "det":
            return v if is_scalar(shape) else xp.linalg.det(v)
        if name == "logdet":
            return xp.log(v) if is_scalar(shape) else xp.linalg.slogdet(v)[1]
        if name == "tr":
            return xp.trace(v)
        if name == "diag":
            return xp.diag(v)
        raise AssertionError(name)


def interpret(node: Node, env: Mapping[str, Any], sizes: Mapping[str, int], backend: Backend, seen: list) -> Any:
    """The value of the tree, with the variables' values in `env`. Appends max |.| of every
    intermediate to `seen` (NumPy only)."""
    xp = backend.xp
    op, args = node.op, node.args
    vals = [interpret(a, env, sizes, backend, seen) for a in args]
    shapes = [a.shape for a in args]
    if op == "var":
        out = env[node.value]
    elif op == "num":
        out = xp.asarray(float(node.value))
    elif op == "eye":
        out = xp.eye(sizes[node.shape[0]])
    elif op == "cvec":
        out = xp.full((sizes[node.shape[0]],), float(node.value))
    elif op == "cmat":
        out = xp.full((sizes[node.shape[0]], sizes[node.shape[1]]), float(node.value))
    elif op == "add":
        out = vals[0] + vals[1]
    elif op == "sub":
        out = vals[0] - vals[1]
    elif op == "hadamard":
        out = vals[0] * vals[1]
    elif op in ("div", "ediv"):
        out = vals[0] / vals[1]
    elif op == "neg":
        out = -vals[0]
    elif op == "transpose":
        out = vals[0].T if is_matrix(shapes[0]) else vals[0]
    elif op == "mul":
        left, right = shapes
        if is_scalar(left) or is_scalar(right):
            out = vals[0] * vals[1]
        elif is_vector(left) and is_row(right):
            out = xp.outer(vals[0], vals[1])
        else:  # row*vector, row*matrix, matrix*vector, matrix*matrix
            out = vals[0] @ vals[1]
    elif op in ("pow", "vpow"):
        out = vals[0] ** vals[1]
    elif op == "epow":
        out = vals[0] ** float(node.value)
    elif op == "cpow":
        k = float(node.value)
        if is_scalar(shapes[0]):
            out = vals[0] ** k
        else:
            base = vals[0] if k >= 0 else xp.linalg.inv(vals[0])
            out = xp.linalg.matrix_power(base, int(abs(k)))
    elif op == "call":
        out = backend.function(node.value, vals[0], shapes[0])
    else:
        raise AssertionError(op)
    if backend.xp is np:
        out = np.asarray(out, dtype=float)
        seen.append(float(np.max(np.abs(out))) if out.size and np.all(np.isfinite(out)) else np.inf)
    return out


NUMPY = Backend(np)


def reference(node: Node, env: Mapping[str, Any], sizes: Mapping[str, int]) -> tuple[np.ndarray, float]:
    """The NumPy value of the tree and the largest magnitude of any intermediate (inf if one is not finite)."""
    seen: list[float] = []
    with np.errstate(all="ignore"):
        value = interpret(node, symmetrised(env), sizes, NUMPY, seen)
    return np.asarray(value, dtype=float), max(seen, default=0.0)


def symmetrised(env: Mapping[str, Any], xp: Any = np) -> dict[str, Any]:
    """The values with every symmetric variable replaced by (S + S')/2: differentiating through this
    gives the symmetric gradient (G + G')/2 that md.diff defines for a symmetric variable."""
    return {k: (v + v.T) / 2 if KINDS[k] == "symmetric" else v for k, v in env.items()}


def random_values(seed: int, sizes: Mapping[str, int]) -> dict[str, np.ndarray | float]:
    rng = np.random.default_rng(seed)
    values: dict[str, Any] = {}
    for name, (kind, shape) in VARIABLES.items():
        if kind == "scalar":
            values[name] = float(rng.normal())
            continue
        value = rng.normal(size=tuple(sizes[d] for d in shape))
        values[name] = (value + value.T) / 2 if kind == "symmetric" else value
    return values


# ---------------------------------------------------------------------------------------------
# The generator

ELEMENTWISE_GENERIC = (
    "sin", "cos", "arctan", "exp", "expm1", "sinh", "cosh", "tanh", "arcsinh", "sigmoid", "softplus",
    "abs", "sign", "relu", "step",
)  # fmt: skip
ELEMENTWISE_POSITIVE = ("log", "sqrt")  # argument > 0
ELEMENTWISE_SPECIAL = ("tan", "arcsin", "arccos", "log1p")  # argument wrapped per function below
COVERED = set(ELEMENTWISE_GENERIC + ELEMENTWISE_POSITIVE + ELEMENTWISE_SPECIAL) | {
    "softmax", "logsumexp", "norm2", "inv", "det", "logdet", "tr", "diag", "sum", "norm1", "vector", "matrix",
}  # fmt: skip


def uncovered_operations() -> set[str]:
    """Registered functions the generator never produces (should be empty: a new function needs a production)."""
    return set(REGISTRY) - COVERED


def _num(text: str) -> Node:
    return Node("num", (), (), text)


def _call(name: str, arg: Node, shape: Shape | None = None) -> Node:
    return Node("call", (arg,), arg.shape if shape is None else shape, name)


def _bin(op: str, left: Node, right: Node, shape: Shape) -> Node:
    return Node(op, (left, right), shape)


def _leaves(shape: Shape) -> list[Node]:
    found = [Node("var", (), s, name) for name, (_, s) in VARIABLES.items() if s == shape]
    if is_scalar(shape):
        found += [_num(c) for c in CONSTANTS]
    if is_row(shape):
        found += [Node("transpose", (Node("var", (), s, name),), shape) for name, (_, s) in VARIABLES.items()
                  if s == (shape[1],)]  # fmt: skip
    if shape == ("n", "m"):
        found.append(Node("transpose", (Node("var", (), ("m", "n"), "C"),), shape))
    if shape == ("m", "m"):
        c = Node("var", (), ("m", "n"), "C")
        found.append(Node("mul", (c, Node("transpose", (c,), ("n", "m"))), shape))
    assert found, shape
    return found


class Generator:
    """Draws typed trees inside a hypothesis @composite: `Generator(draw).expr(shape, depth)`."""

    def __init__(self, draw: Callable[..., Any]) -> None:
        self.draw = draw

    def choose(self, options: list | tuple) -> Any:
        # Not st.sampled_from: hypothesis favours the first options strongly; an index drawn from a wide
        # range, reduced modulo, is close to uniform and still shrinks towards the first option.
        return options[self.draw(st.integers(0, 2**16 - 1)) % len(options)]

    def expr(self, shape: Shape, depth: int) -> Node:
        # A leaf with probability about 1/5 (always at depth 0).
        if depth <= 0 or self.choose(range(5)) == 4:
            return self.choose(_leaves(shape))
        production = self.choose(self.productions(shape))
        return production(depth - 1)

    # positive, unit-interval and positive-definite arguments -----------------------------------

    def positive(self, shape: Shape, depth: int) -> Node:
        """Entries > 0: exp(e), 1 + e.*e (1 + e^2 for a scalar), 2 + sin(e), or a positive constant."""
        choice = self.choose(range(4 if is_scalar(shape) else 3))
        if choice == 3:
            return _num(self.choose(("0.5", "2", "3")))
        e = self.expr(shape, depth)
        if choice == 0:
            return _call("exp", e)
        if choice == 1:
            square = Node("cpow", (e,), shape, "2") if is_scalar(shape) else _bin("hadamard", e, e, shape)
            return _bin("add", _num("1"), square, shape)
        return _bin("add", _num("2"), _call("sin", e), shape)

    def unit(self, shape: Shape, depth: int) -> Node:
        """Entries inside (-0.9, 0.9)."""
        return _bin("mul", _num("0.9"), _call("tanh", self.expr(shape, depth)), shape)

    def invertible(self, p: str, depth: int) -> Node:
        """A p x p matrix far from singular (p <= 4): eye + 0.2*tanh(M) (||0.2*tanh(M)|| < 0.8), not
        symmetric, or a symmetric positive definite one."""
        if self.choose(range(2)):
            return self.spd(p, depth)
        scaled = _bin("mul", _num("0.2"), _call("tanh", self.expr((p, p), depth)), (p, p))
        return _bin("add", Node("eye", (), (p, p)), scaled, (p, p))

    def spd(self, p: str, depth: int) -> Node:
        """A p x p symmetric positive definite matrix with eigenvalues >= 1: eye + M*M' or
        eye + 0.1*tanh(M)*tanh(M)' (the second keeps det and inv moderate)."""
        k = self.choose(DIMS)
        m = self.expr((p, k), depth)
        if self.choose(range(2)):
            m = _bin("mul", _num("0.3"), _call("tanh", m), (p, k))
        gram = _bin("mul", m, Node("transpose", (m,), (k, p)), (p, p))
        return _bin("add", Node("eye", (), (p, p)), gram, (p, p))

    # productions by target shape --------------------------------------------------------------

    def productions(self, shape: Shape) -> list[Callable[[int], Node]]:
        g, pos = self.expr, self.positive
        s = shape
        rules: list[Callable[[int], Node]] = [
            lambda d: _bin("add", g(s, d), g(s, d), s),
            lambda d: _bin("sub", g(s, d), g(s, d), s),
            lambda d: Node("neg", (g(s, d),), s),
            lambda d: _bin("hadamard", g(s, d), g(s, d), s),
            lambda d: _bin("ediv", g(s, d), pos(s, d), s),
            lambda d: _bin("div", g(s, d), pos((), d), s),
            lambda d: _bin("mul", g((), d), g(s, d), s),
            lambda d: _bin("mul", g(s, d), g((), d), s),
            lambda d: Node("transpose", (g(transposed(s), d),), s),
            lambda d: Node("epow", (g(s, d),), s, self.choose(("2", "3", "0", "1"))),
            lambda d: Node("epow", (pos(s, d),), s, self.choose(("-1", "0.5", "-0.5", "1.5"))),
            lambda d: Node("vpow", (pos(s, d), Node("call", (g(s, d),), s, "tanh")), s),
            lambda d: _call(self.choose(ELEMENTWISE_GENERIC), g(s, d)),
            lambda d: _call(self.choose(ELEMENTWISE_POSITIVE), pos(s, d)),
            lambda d: _call("tan", _call("tanh", g(s, d))),  # |tanh| < 1 < pi/2
            lambda d: _call(self.choose(("arcsin", "arccos")), self.unit(s, d)),
            lambda d: _call("log1p", self.choose((self.unit, pos))(s, d)),
        ]
        if not is_scalar(s):
            rules += [
                lambda d: _bin("add", g(s, d), g((), d), s),
                lambda d: _bin("add", g((), d), g(s, d), s),
                lambda d: _bin("sub", g(s, d), g((), d), s),
            ]
        if is_scalar(s):
            rules += self._scalar_rules()
        elif is_vector(s):
            rules += self._vector_rules(s)
        elif is_row(s):
            rules += [
                lambda d: _bin("mul", g(s, d), g((s[1], s[1]), d), s),  # row * square
                lambda d: self._row_product(s, d),
                lambda d: _call("softmax", g(s, d)),
            ]
        else:
            rules += self._matrix_rules(s)
        return rules

    def _row_product(self, s: Shape, d: int) -> Node:  # row(k) * matrix(k, q)
        k = self.choose(DIMS)
        return _bin("mul", self.expr((ROW, k), d), self.expr((k, s[1]), d), s)

    def _scalar_rules(self) -> list[Callable[[int], Node]]:
        g, pos = self.expr, self.positive

        def inner(d: int) -> Node:  # row(k) * vector(k)
            k = self.choose(DIMS)
            return _bin("mul", g((ROW, k), d), g((k,), d), ())

        def quadratic(d: int) -> Node:  # v' * M * w
            k, j = self.choose(DIMS), self.choose(DIMS)
            left = _bin("mul", Node("transpose", (g((k,), d),), (ROW, k)), g((k, j), d), (ROW, j))
            return _bin("mul", left, g((j,), d), ())

        def nonscalar(d: int) -> Node:
            return g(self.choose(SHAPES[1:]), d)

        def matrix_or_vector(d: int) -> Node:
            return g(self.choose([s for s in SHAPES if is_vector(s) or is_matrix(s)]), d)

        def square(d: int) -> Node:
            p = self.choose(DIMS)
            return g((p, p), d)

        return [
            lambda d: _bin("mul", g((), d), g((), d), ()),
            lambda d: _bin("div", g((), d), pos((), d), ()),
            inner,
            quadratic,
            lambda d: Node("cpow", (g((), d),), (), self.choose(("2", "3", "0", "1"))),
            lambda d: Node("cpow", (pos((), d),), (), self.choose(("-1", "0.5", "-0.5", "1.5", "-2"))),
            lambda d: Node("pow", (pos((), d), Node("call", (g((), d),), (), "tanh")), ()),
            lambda d: Node("pow", (_num(self.choose(("2", "0.5"))), g((), d)), ()),
            lambda d: _call("inv", pos((), d)),
            lambda d: _call("sum", nonscalar(d), ()),
            lambda d: _call("norm1", nonscalar(d), ()),
            lambda d: _call("logsumexp", nonscalar(d), ()),
            lambda d: _call("norm2", _bin("add", _num("1"), _call("exp", e := matrix_or_vector(d)), e.shape), ()),
            lambda d: _call("norm2", matrix_or_vector(d), ()),
            lambda d: _call("tr", square(d), ()),
            lambda d: _call("det", self.invertible(self.choose(DIMS), d), ()),
            lambda d: _call("det", self.spd(self.choose(DIMS), d), ()),
            lambda d: _call("logdet", self.spd(self.choose(DIMS), d), ()),
            lambda d: _call("tr", _call("inv", self.spd(self.choose(DIMS), d)), ()),
        ]

    def _vector_rules(self, s: Shape) -> list[Callable[[int], Node]]:
        g, p = self.expr, s[0]

        def product(d: int) -> Node:
            k = self.choose(DIMS)
            return _bin("mul", g((p, k), d), g((k,), d), s)

        return [
            product,
            lambda d: Node("transpose", (_bin("mul", g((ROW, p), d), g((p, p), d), (ROW, p)),), s),
            lambda d: _call("softmax", g(s, d)),
            lambda d: _call("diag", g((p, p), d), s),
            lambda d: _bin("mul", _call("inv", self.spd(p, d)), g(s, d), s),
            lambda d: _bin("add", g(s, d), Node("cvec", (), s, self.choose(CONSTANTS)), s),
            lambda d: _bin("hadamard", Node("cvec", (), s, self.choose(CONSTANTS)), g(s, d), s),
        ]

    def _matrix_rules(self, s: Shape) -> list[Callable[[int], Node]]:
        g = self.expr
        p, q = s

        def product(d: int) -> Node:
            k = self.choose(DIMS)
            return _bin("mul", g((p, k), d), g((k, q), d), s)

        def through_constant(d: int) -> Node:  # M1 * matrix(c) * M2: the constant's size from both sides
            k, j = self.choose(DIMS), self.choose(DIMS)
            left = _bin("mul", g((p, k), d), Node("cmat", (), (k, j), self.choose(CONSTANTS)), (p, j))
            return _bin("mul", left, g((j, q), d), s)

        rules: list[Callable[[int], Node]] = [
            product,
            through_constant,
            lambda d: _bin("mul", g((p,), d), g((ROW, q), d), s),  # outer product
            lambda d: _bin("add", g(s, d), Node("cmat", (), s, self.choose(CONSTANTS)), s),
            lambda d: _bin("hadamard", g(s, d), Node("cmat", (), s, self.choose(CONSTANTS)), s),
        ]
        if p == q:
            rules += [
                lambda d: _bin("add", g(s, d), Node("eye", (), s), s),
                lambda d: _bin("sub", Node("eye", (), s), g(s, d), s),
                lambda d: _bin("mul", Node("eye", (), s), g(s, d), s),
                lambda d: _call("diag", g((p,), d), s),
                lambda d: _call("inv", self.spd(p, d)),
                lambda d: Node("cpow", (g(s, d),), s, self.choose(("0", "1", "2", "3"))),
                lambda d: Node("cpow", (self.spd(p, d),), s, self.choose(("-1", "-2"))),
                lambda d: self.spd(p, d),
            ]
        return rules


@dataclass(frozen=True)
class Case:
    """One generated expression with its sizes and the seed of its values."""

    node: Node
    sizes: dict[str, int]
    seed: int

    @property
    def text(self) -> str:
        return render(self.node)

    @property
    def values(self) -> dict[str, Any]:
        return random_values(self.seed, self.sizes)


@st.composite
def cases(draw: Callable[..., Any], depth: int = 4, shapes: tuple[Shape, ...] = SHAPES) -> Case:
    """A random typed expression of one of `shapes` (a scalar half the time), nested at most `depth`
    productions deep, with sizes n, m and a seed for its values."""
    generator = Generator(draw)
    shape = () if generator.choose(range(2)) == 0 else generator.choose(shapes)
    node = generator.expr(shape, depth)
    sizes = {"n": draw(st.integers(1, 4)), "m": draw(st.integers(1, 3))}
    return Case(node, sizes, draw(st.integers(0, 2**32 - 1)))


# ---------------------------------------------------------------------------------------------
# Time limits


class Timeout(Exception):
    """An example ran past its time limit."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Timeout in the body after `seconds` (SIGALRM; a no-op off the main thread or without it)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise Timeout(f"no result after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    # and again every 0.2 s: an exception raised inside a weakref callback or __del__ is only printed
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.2)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------------------------------------
# Outcomes and counts


@dataclass
class Outcome:
    status: str  # passed, rejected, discarded, failed
    detail: str = ""  # rejected: the error class; failed: what failed

    @property
    def label(self) -> str:
        return f"{self.status}: {self.detail}" if self.detail and self.status != "passed" else self.status


@dataclass
class Stats:
    """Comparisons made, by reference ("numpy", "fd", "jax") and what ("value", "d1", "d2", "print")."""

    compared: Counter = field(default_factory=Counter)
    mismatches: Counter = field(default_factory=Counter)
    expressions: Counter = field(default_factory=Counter)


class Failure(AssertionError):
    """A check that failed: matdiff disagrees with a reference, or misbehaves."""


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:200]


def _scale(*arrays: Any) -> float:
    return max([1.0] + [float(np.max(np.abs(a))) for a in arrays if np.size(a) and np.all(np.isfinite(a))])


def compare(got: Any, expected: Any, what: str, rtol: float, atol: float, stats: Stats | None, key: tuple) -> None:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    if stats is not None:
        stats.compared[key] += 1
    problem = ""
    if got.shape != expected.shape:
        problem = f"shape {got.shape}, expected {expected.shape}"
    elif not np.all(np.abs(got - expected) <= atol + rtol * np.abs(expected)):
        worst = float(np.max(np.abs(got - expected)))
        problem = f"largest difference {worst:.3g} (atol {atol:.2g}, rtol {rtol:g})"
    if problem:
        if stats is not None:
            stats.mismatches[key] += 1
        raise Failure(f"{what}: {problem}\n  got      {np.array2string(got, precision=6)}\n"
                      f"  expected {np.array2string(expected, precision=6)}")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The checks


def _checked(call: Callable[[], Any]) -> Any:
    """Run a matdiff call with NumPy warnings as errors (as under pytest), so overflow is visible."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


def size_unknown_in_text(error: Exception, text: str) -> bool:
    """Whether evaluating printed text failed only because it has eye, vector(c) or matrix(c) whose size
    nothing in the text fixes: matdiff prints those plainly (no size witnesses), stating the size beside the
    result, so such text does not round-trip to numbers on its own."""
    constant = "eye" in text or "vector(" in text or "matrix(" in text
    return constant and isinstance(error, md.EvaluationError) and "is not fixed by any variable" in str(error)


def round_trip(expr: md.Expr, values: Mapping[str, Any], what: str, stats: Stats | None) -> None:
    """str(expr) in matrix notation must parse back (with the same kinds) to the same numbers."""
    text = str(expr)
    if text.startswith("D["):  # index notation: for reading only
        return
    try:
        again = md.parse(text, **KINDS)
    except Exception as error:
        raise Failure(f"{what} prints as {text!r}, which does not parse: {first_line(error)}") from None
    expected = _checked(lambda: expr.evaluate(values))
    try:
        got = _checked(lambda: again.evaluate(values))
    except md.EvaluationError as error:
        if size_unknown_in_text(error, text):  # eye, vector(1), matrix(1) whose size the text does not fix
            return
        raise
    compare(got, expected, f"{what} prints as {text!r}, which evaluates differently", 1e-9,
            1e-11 * _scale(expected), stats, ("print", what.split()[0]))  # fmt: skip


def _directions(values: Mapping[str, Any], names: list[str], rng: np.random.Generator) -> dict[str, Any]:
    out = {}
    for name in names:
        u = rng.normal(size=np.shape(values[name]))
        out[name] = (u + u.T) / 2 if KINDS[name] == "symmetric" else u
    return out


def check_case(case: Case, *, jax: Any = None, stats: Stats | None = None, fd: bool = True,
               second: int = 2, limit: float = 60.0) -> Outcome:  # fmt: skip
    """Check matdiff on one generated expression; returns the outcome (failures as Outcome("failed"))."""
    try:
        with time_limit(limit):
            return _check_case(case, jax, stats, fd, second)
    except Failure as failure:
        return Outcome("failed", str(failure))
    except Timeout as error:
        return Outcome("failed", f"time-out: {error}")
    except Exception as error:  # anything matdiff raises after parsing is a failure
        return Outcome("failed", f"unexpected {first_line(error)}")


def _check_case(case: Case, jax: Any, stats: Stats | None, fd: bool, second: int) -> Outcome:
    node, sizes, values, text = case.node, case.sizes, case.values, case.text
    ref, magnitude = reference(node, values, sizes)
    if not np.all(np.isfinite(ref)) or magnitude > BOUND:
        return Outcome("discarded", "reference out of range")
    try:
        expr = md.parse(text, **KINDS)
    except (md.ParseError, md.ShapeError) as error:  # the generator's text is well-formed and well-typed
        raise Failure(f"well-typed text rejected: {first_line(error)}") from None
    except md.MatdiffError as error:  # e.g. a constant outside a function's domain, refused at parse
        return Outcome("rejected", type(error).__name__)
    except Exception as error:
        raise Failure(f"parse raised {first_line(error)}") from None
    value = _checked(lambda: expr.evaluate(values))
    scale = _scale(ref, magnitude)
    compare(value, ref, "value", 1e-8, 1e-10 * scale, stats, ("numpy", "value"))
    round_trip(expr, values, "expression", stats)
    names = sorted(expr.variables)  # variables that simplified away (x - x) are constants here
    rng = np.random.default_rng(case.seed ^ 0x5EED)
    pairs: list[tuple[str, str]] = []
    if expr.ndim == 0 and names and second:
        drawn = [(names[rng.integers(len(names))], names[rng.integers(len(names))]) for _ in range(second)]
        pairs = list(dict.fromkeys(drawn))

    autodiff = None
    if jax is not None:
        autodiff = jax_derivatives(node, names, pairs, values, sizes, jax)
        compare(value, autodiff["value"], "value (against JAX)", 1e-8, 1e-10 * scale, stats, ("jax", "value"))
        results = [autodiff[name] for name in names] + [autodiff[pair] for pair in pairs]
        if not all(np.all(np.isfinite(v)) for v in results) or _scale(*results) > BOUND:
            return Outcome("discarded", "derivative out of range")
        if stats is not None:
            stats.expressions["jax"] += 1

    def f_numpy(name: str) -> Callable[[np.ndarray], np.ndarray]:
        return lambda v: reference(node, {**values, name: v}, sizes)[0]

    for name in names:
        derivative = md.diff(expr, name)
        got = _checked(lambda d=derivative: d.evaluate(values))
        if autodiff is not None:
            want = autodiff[name]
            compare(got, want, f"d/d{name} (against JAX)", 1e-6, 1e-8 * _scale(want, magnitude), stats, ("jax", "d1"))
        if fd:
            try:
                estimate = numeric.jacobian(f_numpy(name), values[name])
            except md.EvaluationError:
                return Outcome("discarded", "finite differences leave the domain")
            want, error = np.asarray(estimate.value), np.asarray(estimate.error)
            if not np.all(np.isfinite(want)) or _scale(want) > BOUND:
                return Outcome("discarded", "derivative out of range")
            tolerance = 1e-5 * _scale(want, got, magnitude) + 100 * error
            if stats is not None:
                stats.compared[("fd", "d1")] += 1
            if got.shape != want.shape or not np.all(np.abs(got - want) <= tolerance):
                if stats is not None:
                    stats.mismatches[("fd", "d1")] += 1
                compare(got, want, f"d/d{name} (against finite differences)", 0, float(np.max(tolerance)), None, ())
        if expr.ndim + np.ndim(values[name]) <= 2:
            round_trip(derivative, values, f"d/d{name}", stats)

    for first, other in pairs:
        hess = md.diff(expr, first, other)
        got = np.asarray(_checked(lambda h=hess: h.evaluate(values)), dtype=float)
        if autodiff is not None:
            want = autodiff[(first, other)]
            compare(got, want, f"d2/d{first}d{other} (against JAX)", 1e-6, 1e-8 * _scale(want, magnitude),
                    stats, ("jax", "d2"))  # fmt: skip
        if fd:
            _check_second_fd(node, values, sizes, first, other, got, rng, stats, magnitude)
    if stats is not None:
        stats.expressions["passed"] += 1
    return Outcome("passed")


def _check_second_fd(
    node: Node, values: Mapping[str, Any], sizes: Mapping[str, int], first: str, other: str, got: np.ndarray,
    rng: np.random.Generator, stats: Stats | None, magnitude: float,
) -> None:  # fmt: skip
    """u' H v for random directions u (of `first`) and v (of `other`), against the mixed second difference
    d2/ds dt f(. + s u + t v) of plain NumPy evaluation."""
    dirs = _directions(values, [first, other], rng)
    u, v = dirs[first], dirs[other]
    if first == other:
        v = u

    def g(st_: np.ndarray) -> np.ndarray:
        moved = dict(values)
        moved[first] = np.asarray(values[first]) + st_[0] * u
        moved[other] = np.asarray(moved[other]) + st_[1] * v
        return reference(node, moved, sizes)[0]

    k = np.ndim(values[first])
    contracted = float(np.tensordot(np.tensordot(u, got, axes=k) if k else u * got, v, axes=np.ndim(v)))
    # The default step of numeric.hessian is large (eps^(1/12), about 0.05): an abs/relu kink within
    # it, or sin of a large det oscillating, spoil the difference. Smaller steps are tried before a
    # mismatch counts (both cases above were confirmed against JAX, which agreed with matdiff).
    attempts = []
    for step in (None, 1e-3, 1e-4):
        try:
            estimate = numeric.hessian(g, np.zeros(2), step=step)
        except md.EvaluationError:
            continue
        want, error = float(np.asarray(estimate.value)[0, 1]), float(np.asarray(estimate.error)[0, 1])
        if not np.isfinite(want) or abs(want) > BOUND:
            continue
        tolerance = 1e-4 * _scale(want, magnitude) + 100 * error
        attempts.append((want, tolerance))
        if abs(contracted - want) <= tolerance:
            break
    if not attempts:
        return
    if stats is not None:
        stats.compared[("fd", "d2")] += 1
    if abs(contracted - want) > tolerance:
        if stats is not None:
            stats.mismatches[("fd", "d2")] += 1
        tried = ", ".join(f"{w:.10g} (tolerance {t:.2g})" for w, t in attempts)
        raise Failure(f"d2/d{first}d{other} along random directions: {contracted:.10g}, finite differences {tried}")


def jax_function(
    node: Node, names: list[str], values: Mapping[str, Any], sizes: Mapping[str, int], jax: Any
) -> Callable[..., Any]:
    """The tree as a function of the named variables (positional, in order), in jax.numpy, with the other
    variables fixed at `values`; a symmetric variable enters as (S + S')/2, so that JAX's gradient is the
    symmetric one md.diff gives."""
    backend = Backend(jax.numpy)

    def f(*args: Any) -> Any:
        env = {**values, **dict(zip(names, args))}
        env = {k: (v + v.T) / 2 if KINDS[k] == "symmetric" else v for k, v in env.items()}
        return interpret(node, env, sizes, backend, [])

    return f


def jax_derivatives(
    node: Node, names: list[str], pairs: list[tuple[str, str]], values: Mapping[str, Any],
    sizes: Mapping[str, int], jax: Any,
) -> dict[Any, np.ndarray]:  # fmt: skip
    """By JAX autodiff, in one compiled function: "value", the first derivative by each name (keyed by the
    name) and the second derivative d2/d(first)d(second) for each pair (keyed by the pair), each of
    shape f.shape + first.shape (+ second.shape), as md.diff gives them."""
    f = jax_function(node, names, values, sizes, jax)
    index = {name: i for i, name in enumerate(names)}

    def everything(*args: Any) -> list[Any]:
        out = [f(*args)]
        out += [jax.jacfwd(f, argnums=i)(*args) for i in range(len(names))]
        out += [jax.jacfwd(jax.jacrev(f, argnums=index[a]), argnums=index[b])(*args) for a, b in pairs]
        return out

    results = jax.jit(everything)(*(np.asarray(values[name], dtype=float) for name in names))
    keys: list[Any] = ["value", *names, *pairs]
    return {key: np.asarray(result, dtype=float) for key, result in zip(keys, results)}


def load_jax() -> Any:
    """jax with 64-bit floats, or None where it is not installed."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax


# ---------------------------------------------------------------------------------------------
# Parser fuzzing

SYNTAX_CHARACTERS = "abxyzAXS0123456789.eE+-*/^'()_, \t\n"
JUNK = '[]{}#@!$%&|\\;:<>?~`"=\x00é∑\u200b\U0001f600'
TOKENS = (
    "x", "y", "a", "b", "A", "B", "S", "X", "x1", "W_2", "eye", "1", "2", "0", "0.5", "1e3", "1e999", "2.5e-3", ".5",
    "+", "-", "*", "/", ".*", "./", "^", ".^", "'", "(", ")", ",", " ",
    *(f"{name}(" for name in REGISTRY), "inf", "nan", "1e-320", "100000", "-1", "vector(", "matrix(",
)  # fmt: skip
DEEP = (
    lambda k: "(" * k + "x" + ")" * k,
    lambda k: "-" * k + "x",
    lambda k: "x" + "'" * k,
    lambda k: "x" + "^2" * k,
    lambda k: "sin(" * k + "x" + ")" * k,
    lambda k: "+".join(["x"] * (k + 1)),
    lambda k: "*".join(["A"] * (k + 1)) + "*x",
    lambda k: "+".join(f"a{i}^b{i}" for i in range(k % 40)),
    lambda k: "x" + "+" * k,
    lambda k: "(" * k,
    lambda k: f"A^{k}",
)
MAX_DEEP = 3000


FUZZ_NAMES = ("x", "y", "a", "b", "A", "B", "S", "X", "x1", "W_2", "t", "eye")
FUZZ_NUMBERS = ("0", "1", "2", "3", "0.5", "1e999", "1e-320", "1e308", "100000", "2.5e-3", "1e-8")


def _syntax(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.sampled_from(("+", "-", "*", "/", ".*", "./", "^", ".^"))
    function = st.sampled_from(tuple(REGISTRY))
    return st.one_of(
        st.builds(lambda a, op, b: f"({a}{op}{b})", children, binary, children),
        st.builds(lambda a, op, b: f"{a}{op}{b}", children, binary, children),
        st.builds(lambda a: f"-{a}", children),
        st.builds(lambda a: f"({a})'", children),
        st.builds(lambda f, a: f"{f}({a})", function, children),
        st.builds(lambda f, a, b: f"{f}({a},{b})", function, children, children),
    )


def syntax_texts() -> st.SearchStrategy[str]:
    """Syntactically valid text that need not type-check or stay in any domain: undeclared names (kind
    inference), out-of-domain constants (log(-1), arcsin(2), 0/0, 1e999), wrong argument counts."""
    leaves = st.one_of(st.sampled_from(FUZZ_NAMES), st.sampled_from(FUZZ_NUMBERS))
    return st.recursive(leaves, _syntax, max_leaves=16)


def parser_inputs() -> st.SearchStrategy[str]:
    """Bytes decoded with errors="replace", text over the syntax's characters plus junk, token soup,
    syntactically valid text, and long or deeply nested inputs (bounded in size)."""
    return st.one_of(
        syntax_texts(),
        st.binary(max_size=200).map(lambda b: b.decode("utf-8", errors="replace")),
        st.text(alphabet=SYNTAX_CHARACTERS + JUNK, max_size=120),
        st.text(alphabet=SYNTAX_CHARACTERS, max_size=60),
        st.lists(st.sampled_from(TOKENS), max_size=30).map("".join),
        st.builds(lambda f, k: f(k), st.sampled_from(DEEP), st.integers(0, MAX_DEEP)),
    )


def check_text(text: str, limit: float = 10.0) -> Outcome:
    """md.parse must raise nothing but MatdiffError, within the time limit; what parses must print,
    and its printed form (matrix notation) must parse back to the same numbers."""
    try:
        with time_limit(limit):
            return _check_text(text)
    except Failure as failure:
        return Outcome("failed", str(failure))
    except Timeout as error:
        return Outcome("failed", f"time-out: {error}")


def _check_text(text: str) -> Outcome:
    try:
        expr = md.parse(text)
    except md.MatdiffError as error:
        return Outcome("rejected", type(error).__name__)
    except Timeout:
        raise
    except Exception as error:
        raise Failure(f"parse raised {first_line(error)}") from None
    try:
        printed = str(expr)
    except Timeout:
        raise
    except Exception as error:
        raise Failure(f"str() of the parsed expression raised {first_line(error)}") from None
    if printed.startswith("D["):
        return Outcome("passed", "index notation")
    try:
        again = md.parse(printed, **expr.variables)
    except Timeout:
        raise
    except Exception as error:
        raise Failure(f"printed as {printed!r}, which does not parse: {first_line(error)}") from None
    rng = np.random.default_rng(len(text))
    values = {name: (rng.normal() if kind == "scalar" else rng.normal(size=(2,) if kind == "vector" else (2, 2)))
              for name, kind in expr.variables.items()}  # fmt: skip
    values = {k: (v + v.T) / 2 if expr.variables[k] == "symmetric" else v for k, v in values.items()}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        results = []
        for e in (expr, again):
            try:
                results.append(np.asarray(e.evaluate(values), dtype=float))
            except md.MatdiffError as error:
                results.append(type(error).__name__)
            except Timeout:
                raise
            except Exception as error:
                raise Failure(f"evaluating {render_text(e)} raised {first_line(error)}") from None
    first, second = results
    if isinstance(first, str) or isinstance(second, str):
        if isinstance(first, str) != isinstance(second, str):
            raise Failure(f"printed as {printed!r}: one evaluates, the other raises ({first!r} / {second!r})")
        return Outcome("passed", "evaluation refused")
    # where a value overflows, the order of the products decides between inf and nan (inf - inf): both
    # are non-finite, and equal for this check
    same_overflow = first.shape == second.shape and np.array_equal(np.isfinite(first), np.isfinite(second))
    finite = np.isfinite(first) if same_overflow else True
    if not same_overflow or not np.allclose(first[finite], second[finite], rtol=1e-9, atol=1e-12):
        raise Failure(f"printed as {printed!r}, which evaluates differently: {first} / {second}")
    return Outcome("passed")


def render_text(expr: md.Expr) -> str:
    try:
        return repr(str(expr))
    except Exception:
        return "<unprintable>"


def elapsed(start: float) -> float:
    return time.perf_counter() - start
