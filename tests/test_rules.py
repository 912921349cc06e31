"""Every operation's value, first derivative and (for a selection) second derivative.

Table-driven, as JAX's tests are: each case is an expression in the text syntax, the kinds of its
variables, an independent NumPy reference for its value and the input range on which the
operation is smooth. Expected derivatives come from central differences of the NumPy reference,
never from matdiff itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import matdiff as md
from matdiff._registry import REGISTRY

from .helpers import central_difference, random_values, symmetric_central_difference

S, V, M, SYM = "scalar", "vector", "matrix", "symmetric"


@dataclass(frozen=True)
class Case:
    """One operation: text, kinds, NumPy reference and the valid input range."""

    id: str
    text: str
    kinds: dict[str, str]
    ref: Callable[[dict], np.ndarray]
    domain: str = "any"  # any | positive | unit (|x| < 0.8) | away (|x| >= 0.3) | spd
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # non-default sizes
    hessian: bool = False  # also check every second derivative


def make_values(case: Case, seed: int = 0) -> dict[str, np.ndarray | float]:
    """Random values in the case's valid range; vectors of length 3 and 3 x 3 matrices by default."""
    rng = np.random.default_rng(seed)
    values = random_values(case.kinds, rng, n=3, positive=case.domain == "positive", spd=case.domain == "spd")
    for name, shape in case.shapes.items():
        values[name] = rng.uniform(0.5, 1.5, shape) if case.domain == "positive" else rng.normal(size=shape)
    for name, kind in case.kinds.items():
        if case.domain == "unit":
            values[name] = rng.uniform(-0.8, 0.8, np.shape(values[name]))
        elif case.domain == "away":
            shape = np.shape(values[name])
            values[name] = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 1.5, shape)
        if kind == S:
            values[name] = float(values[name])
    return values


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


ELEMENTWISE = {  # name: (NumPy function, valid input range)
    "sin": (np.sin, "any"),
    "cos": (np.cos, "any"),
    "tan": (np.tan, "unit"),
    "arcsin": (np.arcsin, "unit"),
    "arccos": (np.arccos, "unit"),
    "arctan": (np.arctan, "any"),
    "exp": (np.exp, "any"),
    "log": (np.log, "positive"),
    "sqrt": (np.sqrt, "positive"),
    "tanh": (np.tanh, "any"),
    "abs": (np.abs, "away"),
    "sign": (np.sign, "away"),
    "relu": (lambda x: np.maximum(x, 0.0), "away"),
    "step": (lambda x: np.where(np.asarray(x) > 0, 1.0, 0.0), "away"),  # Heaviside; relu's derivative
    "sigmoid": (_sigmoid, "any"),
    "sinh": (np.sinh, "any"),
    "cosh": (np.cosh, "any"),
    "arcsinh": (np.arcsinh, "any"),
    "log1p": (np.log1p, "positive"),
    "expm1": (np.expm1, "any"),
    "softplus": (lambda x: np.log(1.0 + np.exp(x)), "any"),
}

CASES: list[Case] = []
for _name, (_f, _domain) in ELEMENTWISE.items():
    CASES += [
        Case(f"{_name}-scalar", f"{_name}(t)", {"t": S}, lambda v, f=_f: f(v["t"]), _domain, hessian=True),
        Case(f"{_name}-vector", f"{_name}(x)", {"x": V}, lambda v, f=_f: f(v["x"]), _domain, hessian=True),
        Case(f"{_name}-matrix", f"{_name}(X)", {"X": M}, lambda v, f=_f: f(v["X"]), _domain),
    ]

# Powers: scalar ^, element-wise .^ with constant and variable exponents
for _p in [2, 3, -1, -2, 0.5, 1.5, -0.5, 0, 1]:
    CASES.append(Case(f"pow-scalar-{_p}", f"t^({_p})", {"t": S}, lambda v, p=_p: v["t"] ** p, "positive", hessian=True))
for _p in [2, 3, -1, 0.5, -1.5]:
    CASES += [
        Case(f"epow-vector-{_p}", f"x.^({_p})", {"x": V}, lambda v, p=_p: v["x"] ** p, "positive", hessian=True),
        Case(f"epow-matrix-{_p}", f"X.^({_p})", {"X": M}, lambda v, p=_p: v["X"] ** p, "positive"),
    ]
CASES += [
    Case("pow-scalar-variable", "t^s", {"t": S, "s": S}, lambda v: v["t"] ** v["s"], "positive", hessian=True),
    Case("epow-variable", "x.^y", {"x": V, "y": V}, lambda v: v["x"] ** v["y"], "positive", hessian=True),
    Case("epow-scalar-exponent", "x.^t", {"x": V, "t": S}, lambda v: v["x"] ** v["t"], "positive", hessian=True),
    Case("epow-scalar-base", "t.^x", {"t": S, "x": V}, lambda v: v["t"] ** v["x"], "positive"),
    Case("epow-matrix-variable", "X.^Y", {"X": M, "Y": M}, lambda v: v["X"] ** v["Y"], "positive"),
]

# Element-wise arithmetic and scalar broadcast
CASES += [
    Case("add-vector", "x + y", {"x": V, "y": V}, lambda v: v["x"] + v["y"]),
    Case("add-matrix", "A + B", {"A": M, "B": M}, lambda v: v["A"] + v["B"], shapes={"A": (2, 3), "B": (2, 3)}),
    Case("add-scalar", "t + s", {"t": S, "s": S}, lambda v: v["t"] + v["s"]),
    Case("sub-vector", "x - y", {"x": V, "y": V}, lambda v: v["x"] - v["y"]),
    Case("sub-matrix", "A - B", {"A": M, "B": M}, lambda v: v["A"] - v["B"]),
    Case("neg-vector", "-x", {"x": V}, lambda v: -v["x"]),
    Case("neg-matrix", "-A", {"A": M}, lambda v: -v["A"]),
    Case("add-self", "x + x - 3*x", {"x": V}, lambda v: -v["x"]),
    Case("broadcast-scalar-vector", "t + x", {"t": S, "x": V}, lambda v: v["t"] + v["x"]),
    Case("broadcast-matrix-scalar", "A + t", {"A": M, "t": S}, lambda v: v["A"] + v["t"]),
    Case("broadcast-sub", "t - A", {"t": S, "A": M}, lambda v: v["t"] - v["A"]),
    Case("broadcast-number", "2 + x - 1", {"x": V}, lambda v: 1.0 + v["x"]),
    Case("broadcast-row", "x' + t", {"x": V, "t": S}, lambda v: v["x"] + v["t"]),
    Case("hadamard-vector", "x .* y", {"x": V, "y": V}, lambda v: v["x"] * v["y"], hessian=True),
    Case("hadamard-matrix", "A .* B", {"A": M, "B": M}, lambda v: v["A"] * v["B"], shapes={"A": (2, 3), "B": (2, 3)}),
    Case("hadamard-scalar", "t .* x", {"t": S, "x": V}, lambda v: v["t"] * v["x"]),
    Case("ediv-vector", "x ./ y", {"x": V, "y": V}, lambda v: v["x"] / v["y"], "positive", hessian=True),
    Case("ediv-matrix", "A ./ B", {"A": M, "B": M}, lambda v: v["A"] / v["B"], "positive"),
    Case("ediv-scalar-numerator", "t ./ x", {"t": S, "x": V}, lambda v: v["t"] / v["x"], "positive"),
    Case("ediv-number", "1 ./ x", {"x": V}, lambda v: 1.0 / v["x"], "positive"),
    Case("div-vector-by-scalar", "x / t", {"x": V, "t": S}, lambda v: v["x"] / v["t"], "positive", hessian=True),
    Case("div-matrix-by-scalar", "A / t", {"A": M, "t": S}, lambda v: v["A"] / v["t"], "positive"),
    Case("div-scalars", "t / s", {"t": S, "s": S}, lambda v: v["t"] / v["s"], "positive", hessian=True),
    Case("div-number", "x / 4", {"x": V}, lambda v: v["x"] / 4.0),
]

# Products (*) and transposes
CASES += [
    Case("mul-scalar-vector", "t*x", {"t": S, "x": V}, lambda v: v["t"] * v["x"], hessian=True),
    Case("mul-matrix-scalar", "A*t", {"A": M, "t": S}, lambda v: v["A"] * v["t"]),
    Case("mul-scalars", "t*s", {"t": S, "s": S}, lambda v: v["t"] * v["s"], hessian=True),
    Case("mul-number", "2*x*3", {"x": V}, lambda v: 6.0 * v["x"]),
    Case("matvec", "A*x", {"A": M, "x": V}, lambda v: v["A"] @ v["x"], shapes={"A": (2, 3), "x": (3,)}, hessian=True),
    Case("matmat", "A*B", {"A": M, "B": M}, lambda v: v["A"] @ v["B"], shapes={"A": (2, 3), "B": (3, 4)}),
    Case("inner", "x'*y", {"x": V, "y": V}, lambda v: v["x"] @ v["y"], hessian=True),
    Case("outer", "x*y'", {"x": V, "y": V}, lambda v: np.outer(v["x"], v["y"]), shapes={"x": (2,), "y": (3,)}),
    Case("row-matrix", "x'*A", {"x": V, "A": M}, lambda v: v["x"] @ v["A"], shapes={"x": (3,), "A": (3, 2)}),
    Case("quadratic", "x'*A*x", {"x": V, "A": M}, lambda v: v["x"] @ v["A"] @ v["x"], hessian=True),
    Case(
        "bilinear",
        "x'*A*y",
        {"x": V, "A": M, "y": V},
        lambda v: v["x"] @ v["A"] @ v["y"],
        shapes={"x": (2,), "A": (2, 3), "y": (3,)},
        hessian=True,
    ),
    Case("triple-product", "A*B*C", {"A": M, "B": M, "C": M}, lambda v: v["A"] @ v["B"] @ v["C"]),
    Case("transpose-matrix", "A'", {"A": M}, lambda v: v["A"].T, shapes={"A": (2, 3)}),
    Case("transpose-twice", "A''", {"A": M}, lambda v: v["A"], shapes={"A": (2, 3)}),
    Case("transpose-vector-twice", "x''", {"x": V}, lambda v: v["x"]),
    Case("transpose-matvec", "A'*x", {"A": M, "x": V}, lambda v: v["A"].T @ v["x"], shapes={"A": (3, 2)}),
    Case(
        "transpose-product",
        "(A*B)'",
        {"A": M, "B": M},
        lambda v: (v["A"] @ v["B"]).T,
        shapes={"A": (2, 3), "B": (3, 4)},
    ),
    Case("transpose-row-result", "(x'*A)'", {"x": V, "A": M}, lambda v: v["A"].T @ v["x"]),
    Case("gram", "A'*A", {"A": M}, lambda v: v["A"].T @ v["A"], shapes={"A": (4, 3)}, hessian=True),
    Case("transpose-scalar", "t'", {"t": S}, lambda v: v["t"]),
]

# Reductions and matrix functions
CASES += [
    Case("sum-vector", "sum(x)", {"x": V}, lambda v: np.sum(v["x"])),
    Case("sum-matrix", "sum(A)", {"A": M}, lambda v: np.sum(v["A"]), shapes={"A": (2, 3)}),
    Case("sum-row", "sum(x')", {"x": V}, lambda v: np.sum(v["x"])),
    Case("sum-nonlinear", "sum(exp(A*x))", {"A": M, "x": V}, lambda v: np.sum(np.exp(v["A"] @ v["x"])), hessian=True),
    Case("norm1-vector", "norm1(x)", {"x": V}, lambda v: np.sum(np.abs(v["x"])), "away", hessian=True),
    Case("norm1-matrix", "norm1(A)", {"A": M}, lambda v: np.sum(np.abs(v["A"])), "away"),
    Case("norm2-vector", "norm2(x)", {"x": V}, lambda v: np.linalg.norm(v["x"]), hessian=True),
    Case("norm2-matrix", "norm2(A)", {"A": M}, lambda v: np.linalg.norm(v["A"], "fro"), shapes={"A": (2, 3)}),
    Case(
        "norm2-affine", "norm2(A*x - y)", {"A": M, "x": V, "y": V}, lambda v: np.linalg.norm(v["A"] @ v["x"] - v["y"])
    ),
    Case("norm2-scalar", "norm2(t)", {"t": S}, lambda v: np.abs(v["t"]), "away"),
    Case("tr", "tr(A)", {"A": M}, lambda v: np.trace(v["A"])),
    Case(
        "tr-product",
        "tr(A*B)",
        {"A": M, "B": M},
        lambda v: np.trace(v["A"] @ v["B"]),
        shapes={"A": (2, 3), "B": (3, 2)},
        hessian=True,
    ),
    Case("tr-transpose-product", "tr(A'*B)", {"A": M, "B": M}, lambda v: np.trace(v["A"].T @ v["B"]), hessian=True),
    Case("tr-quadratic", "tr(A*X*A')", {"A": M, "X": M}, lambda v: np.trace(v["A"] @ v["X"] @ v["A"].T), hessian=True),
    Case("det", "det(X)", {"X": M}, lambda v: np.linalg.det(v["X"]), "spd", hessian=True),
    Case("det-product", "det(A*B)", {"A": M, "B": M}, lambda v: np.linalg.det(v["A"] @ v["B"]), "spd"),
    Case("logdet", "logdet(X)", {"X": M}, lambda v: np.linalg.slogdet(v["X"])[1], "spd", hessian=True),
    Case("log-det", "log(det(X))", {"X": M}, lambda v: np.log(np.linalg.det(v["X"])), "spd"),
    Case("logdet-symmetric", "logdet(S)", {"S": SYM}, lambda v: np.linalg.slogdet(v["S"])[1], "spd"),
    Case("inv", "inv(X)", {"X": M}, lambda v: np.linalg.inv(v["X"]), "spd", hessian=True),
    Case(
        "inv-quadratic",
        "x'*inv(X)*x",
        {"x": V, "X": M},
        lambda v: v["x"] @ np.linalg.solve(v["X"], v["x"]),
        "spd",
        hessian=True,
    ),
    Case("inv-twice", "inv(inv(X))", {"X": M}, lambda v: v["X"], "spd"),
    Case("inv-scalar", "inv(t)", {"t": S}, lambda v: 1.0 / v["t"], "positive"),
    Case("tr-inv", "tr(inv(X))", {"X": M}, lambda v: np.trace(np.linalg.inv(v["X"])), "spd", hessian=True),
    Case("diag-vector", "diag(x)", {"x": V}, lambda v: np.diag(v["x"])),
    Case("diag-matrix", "diag(A)", {"A": M}, lambda v: np.diag(v["A"])),
    Case("diag-diag", "diag(diag(A))", {"A": M}, lambda v: np.diag(np.diag(v["A"]))),
    Case(
        "diag-scaling",
        "diag(x)*A*y",
        {"x": V, "A": M, "y": V},
        lambda v: np.diag(v["x"]) @ v["A"] @ v["y"],
        hessian=True,
    ),
    Case("softmax", "softmax(x)", {"x": V}, lambda v: _softmax(v["x"]), hessian=True),
    Case("softmax-affine", "softmax(A*x)", {"A": M, "x": V}, lambda v: _softmax(v["A"] @ v["x"])),
    Case("logsumexp", "logsumexp(x)", {"x": V}, lambda v: np.log(np.sum(np.exp(v["x"]))), hessian=True),
    Case(
        "logsumexp-affine",
        "logsumexp(A*x)",
        {"A": M, "x": V},
        lambda v: np.log(np.sum(np.exp(v["A"] @ v["x"]))),
        hessian=True,
    ),
    Case("matrix-power-2", "A^2", {"A": M}, lambda v: v["A"] @ v["A"], hessian=True),
    Case("matrix-power-3", "A^3", {"A": M}, lambda v: v["A"] @ v["A"] @ v["A"]),
    Case("matrix-power-minus-1", "A^-1", {"A": M}, lambda v: np.linalg.inv(v["A"]), "spd"),
    Case("matrix-power-minus-2", "A^(-2)", {"A": M}, lambda v: np.linalg.matrix_power(np.linalg.inv(v["A"]), 2), "spd"),
    Case("matrix-power-0", "A^0 + A", {"A": M}, lambda v: np.eye(3) + v["A"]),
    Case("matrix-power-1", "A^1", {"A": M}, lambda v: v["A"]),
    Case("eye-add", "A + eye", {"A": M}, lambda v: v["A"] + np.eye(3)),
    Case("eye-product", "eye*x", {"x": V}, lambda v: v["x"]),
    Case(
        "eye-quadratic",
        "x'*(A + 2*eye)*x",
        {"x": V, "A": M},
        lambda v: v["x"] @ (v["A"] + 2 * np.eye(3)) @ v["x"],
        hessian=True,
    ),
    Case("eye-inv", "inv(X + eye)", {"X": M}, lambda v: np.linalg.inv(v["X"] + np.eye(3)), "spd"),
    Case("vector-constant-add", "vector(2) + x", {"x": V}, lambda v: 2.0 + v["x"]),
    Case("vector-constant-inner", "vector(1)'*x", {"x": V}, lambda v: np.sum(v["x"])),
    Case(
        "vector-constant-scaled",
        "t*vector(3)'*x",
        {"t": S, "x": V},
        lambda v: 3.0 * v["t"] * np.sum(v["x"]),
        hessian=True,
    ),
    Case("matrix-constant-add", "matrix(2) + A", {"A": M}, lambda v: 2.0 + v["A"], shapes={"A": (2, 3)}),
    Case(
        "matrix-constant-bilinear",
        "x'*matrix(1)*y",
        {"x": V, "y": V},
        lambda v: np.sum(v["x"]) * np.sum(v["y"]),
        shapes={"x": (2,), "y": (3,)},
        hessian=True,
    ),
    Case("matrix-constant-product", "tr(A*matrix(0.5))", {"A": M}, lambda v: np.trace(v["A"] @ np.full((3, 3), 0.5))),
    # Compositions that exercise the chain rule across op kinds
    Case(
        "logistic-loss",
        "sum(log(1 + exp(-y .* (A*w))))",
        {"y": V, "A": M, "w": V},
        lambda v: np.sum(np.log1p(np.exp(-v["y"] * (v["A"] @ v["w"])))),
        shapes={"A": (4, 3), "y": (4,), "w": (3,)},
        hessian=True,
    ),
    Case(
        "sigmoid-regression",
        "sigmoid(x)'*A*tanh(x)",
        {"x": V, "A": M},
        lambda v: _sigmoid(v["x"]) @ v["A"] @ np.tanh(v["x"]),
        hessian=True,
    ),
    Case(
        "least-squares",
        "(A*x - b)'*(A*x - b) + t*x'*x",
        {"A": M, "x": V, "b": V, "t": S},
        lambda v: np.sum((v["A"] @ v["x"] - v["b"]) ** 2) + v["t"] * v["x"] @ v["x"],
        hessian=True,
    ),
    Case(
        "gaussian-nll",
        "logdet(S) + x'*inv(S)*x",
        {"S": SYM, "x": V},
        lambda v: np.linalg.slogdet(v["S"])[1] + v["x"] @ np.linalg.solve(v["S"], v["x"]),
        "spd",
    ),
]

CASE_BY_ID = {case.id: case for case in CASES}
assert len(CASE_BY_ID) == len(CASES), "case ids must be unique"


def _parse(case: Case) -> md.Expr:
    return md.parse(case.text, **case.kinds)


def _reference_derivative(case: Case, values: dict, name: str) -> np.ndarray:
    if case.kinds[name] == SYM:
        return symmetric_central_difference(case.ref, values, name)
    return central_difference(case.ref, values, name)


def _close(got, expected, rtol=1e-5, atol=1e-6):
    got = np.asarray(got)
    expected = np.asarray(expected, dtype=float)
    assert got.shape == expected.shape, f"shape {got.shape}, expected {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------------------------
# (a) values


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_value(case: Case) -> None:
    expr = _parse(case)
    assert dict(expr.variables) == case.kinds
    values = make_values(case)
    got = expr.evaluate(values)
    _close(got, case.ref(values), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_ndim_matches_value(case: Case) -> None:
    expr = _parse(case)
    assert expr.ndim == np.ndim(case.ref(make_values(case)))


# ---------------------------------------------------------------------------------------------
# (b) first derivatives, with respect to every variable

FIRST = [(case, name) for case in CASES for name in case.kinds]


@pytest.mark.parametrize("case,name", FIRST, ids=[f"{c.id}-d{n}" for c, n in FIRST])
def test_first_derivative(case: Case, name: str) -> None:
    expr = _parse(case)
    values = make_values(case)
    derivative = md.diff(expr, name)
    got = derivative.evaluate(values)
    value_shape = np.shape(case.ref(values))
    assert got.shape == value_shape + np.shape(values[name])
    assert derivative.ndim == len(value_shape) + np.ndim(values[name])
    _close(got, _reference_derivative(case, values, name))


# ---------------------------------------------------------------------------------------------
# (c) second derivatives: double central differences of the NumPy reference

SECOND = [(case, a, b) for case in CASES if case.hessian for a in case.kinds for b in case.kinds]


def _second_reference(case: Case, values: dict, a: str, b: str) -> np.ndarray:
    def first(v):
        return central_difference(case.ref, v, a, h=1e-4)

    return central_difference(first, values, b, h=1e-4)


@pytest.mark.parametrize("case,a,b", SECOND, ids=[f"{c.id}-d{a}-d{b}" for c, a, b in SECOND])
def test_second_derivative(case: Case, a: str, b: str) -> None:
    expr = _parse(case)
    values = make_values(case, seed=1)
    got = md.diff(expr, a, b).evaluate(values)
    expected = _second_reference(case, values, a, b)
    assert got.shape == np.shape(case.ref(values)) + np.shape(values[a]) + np.shape(values[b])
    _close(got, expected, rtol=1e-4, atol=1e-5)


def test_second_derivative_equals_derivative_of_first() -> None:
    """diff(f, x, A) and diff(diff(f, x), A) are the same thing."""
    expr = md.parse("x'*A*x", x=V, A=M)
    values = make_values(CASE_BY_ID["quadratic"])
    once = md.diff(expr, "x", "A").evaluate(values)
    twice = md.diff(md.diff(expr, "x"), "A").evaluate(values)
    _close(once, twice, rtol=1e-12, atol=1e-12)
    # d/dA_kl of (A + A')x = delta_ik x_l + delta_il x_k
    x = values["x"]
    eye = np.eye(3)
    expected = np.einsum("ik,l->ikl", eye, x) + np.einsum("il,k->ikl", eye, x)
    _close(once, expected, rtol=1e-12, atol=1e-12)


def test_third_derivative() -> None:
    case = CASE_BY_ID["logsumexp"]
    expr = _parse(case)
    values = make_values(case)
    got = md.diff(expr, "x", "x", "x").evaluate(values)
    # d^3 lse = diag3(p) - (p_i p_j delta_jk and permutations) + 2 p_i p_j p_k
    p = _softmax(values["x"])
    eye = np.eye(3)
    diag3 = np.einsum("i,ij,jk->ijk", p, eye, eye)
    pair = np.einsum("i,j,ik->ijk", p, p, eye)
    expected = (
        diag3
        - np.einsum("ijk->ijk", pair)  # p_i p_j delta_ik
        - np.einsum("i,j,jk->ijk", p, p, eye)  # p_i p_j delta_jk
        - np.einsum("i,k,ij->ijk", p, p, eye)  # p_i p_k delta_ij
        + 2 * np.einsum("i,j,k->ijk", p, p, p)
    )
    _close(got, expected, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Closed forms from the matrix-calculus literature, checked against NumPy directly


def test_known_closed_forms() -> None:
    rng = np.random.default_rng(7)
    values = random_values({"X": M, "A": M, "x": V}, rng, spd=True)
    X, A, x = values["X"], values["A"], values["x"]
    Xi = np.linalg.inv(X)
    checks = [
        ("logdet(X)", "X", Xi.T),
        ("det(X)", "X", np.linalg.det(X) * Xi.T),
        ("tr(A*X)", "X", A.T),
        ("x'*A*x", "x", (A + A.T) @ x),
        ("x'*A*x", "A", np.outer(x, x)),
        ("x'*inv(X)*x", "X", -Xi.T @ np.outer(x, x) @ Xi.T),
        ("tr(inv(X))", "X", -(Xi @ Xi).T),
    ]
    for text, name, expected in checks:
        got = md.diff(md.parse(text, X=M, A=M, x=V), name).evaluate(values)
        _close(got, expected, rtol=1e-9, atol=1e-12)


def test_inverse_derivative_closed_form() -> None:
    rng = np.random.default_rng(8)
    X = random_values({"X": M}, rng, spd=True)["X"]
    Xi = np.linalg.inv(X)
    got = md.diff(md.parse("inv(X)", X=M), "X").evaluate({"X": X})
    # d inv(X)_ij / d X_kl = -inv(X)_ik inv(X)_lj
    _close(got, -np.einsum("ik,lj->ijkl", Xi, Xi), rtol=1e-9, atol=1e-12)


def test_hessian_of_logistic_regression_closed_form() -> None:
    """The Hessian of the logistic loss is A' diag(s (1 - s)) A."""
    rng = np.random.default_rng(9)
    A, w, y = rng.normal(size=(5, 3)), rng.normal(size=3), rng.choice([-1.0, 1.0], 5)
    expr = md.parse("sum(log(1 + exp(-y .* (A*w))))", A=M, w=V, y=V)
    s = _sigmoid(y * (A @ w))
    expected = A.T @ np.diag(s * (1 - s)) @ A
    got = md.diff(expr, "w", "w").evaluate({"A": A, "w": w, "y": y})
    _close(got, expected, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Symmetric variables, absent variables, shapes


@pytest.mark.parametrize("text", ["a'*S*b", "b'*S*a", "a'*S'*b"])
def test_symmetric_derivative(text: str) -> None:
    rng = np.random.default_rng(3)
    values = random_values({"a": V, "S": SYM, "b": V}, rng)
    a, b = values["a"], values["b"]
    expr = md.parse(text, a=V, S=SYM, b=V)
    assert expr.variables["S"] == SYM
    got = md.diff(expr, "S").evaluate(values)
    expected = (np.outer(a, b) + np.outer(b, a)) / 2
    _close(got, expected, rtol=1e-10, atol=1e-12)
    ref = symmetric_central_difference(lambda v: v["a"] @ v["S"] @ v["b"], values, "S")
    _close(got, ref)


def test_symmetric_python_variable() -> None:
    rng = np.random.default_rng(4)
    values = random_values({"a": V, "S": SYM, "b": V}, rng)
    a, S, b = md.vector("a"), md.symmetric("S"), md.vector("b")
    expr = a @ S @ b
    got = md.diff(expr, S).evaluate(values)
    _close(got, (np.outer(values["a"], values["b"]) + np.outer(values["b"], values["a"])) / 2)


def test_symmetric_quadratic_form_gradient() -> None:
    rng = np.random.default_rng(5)
    values = random_values({"x": V, "S": SYM}, rng)
    expr = md.parse("x'*S*x", x=V, S=SYM)
    _close(md.diff(expr, "x").evaluate(values), 2 * values["S"] @ values["x"], rtol=1e-10, atol=1e-12)
    _close(md.diff(expr, "S").evaluate(values), np.outer(values["x"], values["x"]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "text,kinds,variable,wrt_shape",
    [
        ("x'*A*x", {"x": V, "A": M}, md.vector("y"), (4,)),
        ("x'*A*x", {"x": V, "A": M}, md.scalar("t"), ()),
        ("A*x", {"A": M, "x": V}, md.matrix("B"), (2, 5)),
        ("sin(x)", {"x": V}, md.symmetric("S"), (3, 3)),
        ("A", {"A": M}, md.vector("z"), (2,)),
    ],
)
def test_absent_variable_gives_zeros(text, kinds, variable, wrt_shape) -> None:
    expr = md.parse(text, **kinds)
    rng = np.random.default_rng(6)
    values = random_values(kinds, rng)
    name = next(iter(variable.variables))
    values[name] = np.zeros(wrt_shape) if wrt_shape else 0.0
    value_shape = np.shape(expr.evaluate(values))
    got = md.diff(expr, variable).evaluate(values)
    _close(got, np.zeros(value_shape + wrt_shape), rtol=0, atol=0)


def test_absent_variable_with_fixed_size_needs_no_value() -> None:
    expr = md.parse("x'*x", x=V)
    got = md.diff(expr, md.matrix("B", 2, 4)).evaluate({"x": np.ones(3)})
    _close(got, np.zeros((2, 4)), rtol=0, atol=0)


def test_second_derivative_by_absent_variable() -> None:
    expr = md.parse("x'*x", x=V)
    got = md.diff(expr, "x", md.scalar("t")).evaluate({"x": np.ones(3), "t": 1.0})
    _close(got, np.zeros(3), rtol=0, atol=0)


@pytest.mark.parametrize(
    "text,kinds,wrt,shapes",
    [
        ("A*x", {"A": M, "x": V}, ("A",), {"A": (2, 3), "x": (3,)}),
        ("A*x", {"A": M, "x": V}, ("x", "A"), {"A": (2, 3), "x": (3,)}),
        ("A*B", {"A": M, "B": M}, ("B",), {"A": (2, 3), "B": (3, 4)}),
        ("x*y'", {"x": V, "y": V}, ("x", "y"), {"x": (2,), "y": (5,)}),
        ("x'*A*y", {"x": V, "A": M, "y": V}, ("A", "A"), {"x": (2,), "A": (2, 3), "y": (3,)}),
        ("t*A", {"t": S, "A": M}, ("t", "A"), {"t": (), "A": (2, 3)}),
    ],
)
def test_derivative_shape(text, kinds, wrt, shapes) -> None:
    rng = np.random.default_rng(2)
    values = {name: (float(rng.normal()) if shape == () else rng.normal(size=shape)) for name, shape in shapes.items()}
    expr = md.parse(text, **kinds)
    expected = np.shape(expr.evaluate(values))
    for name in wrt:
        expected += shapes[name]
    got = md.diff(expr, *wrt)
    assert got.ndim == len(expected)
    assert got.evaluate(values).shape == expected


# ---------------------------------------------------------------------------------------------
# Completeness: the table covers every function of the syntax


def test_every_function_is_in_the_table() -> None:
    texts = " ".join(case.text for case in CASES)
    used = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\(", texts))
    missing = sorted(set(REGISTRY) - used)
    assert not missing, f"functions without a rule test: {missing}"
    assert re.search(r"\beye\b", texts)


def test_every_elementwise_function_has_a_python_spelling() -> None:
    for name in ELEMENTWISE:
        assert callable(getattr(md, name))
    assert set(ELEMENTWISE) <= set(REGISTRY)
