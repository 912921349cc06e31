"""The public API: Python operators, hash-consing, immutability, evaluation, printing, kinds."""

from __future__ import annotations

import re

import numpy as np
import pytest

import matdiff as md

from .helpers import central_difference, random_values

S, V, M, SYM = "scalar", "vector", "matrix", "symmetric"


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


def _values(seed: int = 0, positive: bool = False, spd: bool = False) -> dict:
    """x, y: vectors of 3; A, B, X: 3 x 3 matrices; t, s: scalars."""
    rng = np.random.default_rng(seed)
    kinds = {"x": V, "y": V, "A": M, "B": M, "X": M, "t": S, "s": S}
    values = random_values(kinds, rng, n=3, positive=positive)
    values["X"] = random_values({"X": M}, rng, spd=True)["X"]
    if spd:
        values["A"] = random_values({"A": M}, rng, spd=True)["A"]
    return values


def _close(got, expected, rtol=1e-10, atol=1e-12):
    got, expected = np.asarray(got), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


x, y = md.vector("x"), md.vector("y")
A, B, X = md.matrix("A"), md.matrix("B"), md.matrix("X")
t, s = md.scalar("t"), md.scalar("s")

# ---------------------------------------------------------------------------------------------
# Python operators against the same expression in text, both against NumPy

PYTHON_VS_TEXT = [  # id, Python builder, text, NumPy reference, positive inputs
    ("add", lambda: x + y, "x + y", lambda v: v["x"] + v["y"], False),
    ("sub", lambda: A - B, "A - B", lambda v: v["A"] - v["B"], False),
    ("neg", lambda: -x, "-x", lambda v: -v["x"], False),
    ("pos", lambda: +x, "x", lambda v: v["x"], False),
    ("radd-number", lambda: 2 + x, "2 + x", lambda v: 2 + v["x"], False),
    ("add-number", lambda: A + 1.5, "A + 1.5", lambda v: v["A"] + 1.5, False),
    ("rsub-number", lambda: 1 - A, "1 - A", lambda v: 1 - v["A"], False),
    ("scalar-broadcast", lambda: t + x, "t + x", lambda v: v["t"] + v["x"], False),
    ("hadamard", lambda: x * y, "x .* y", lambda v: v["x"] * v["y"], False),
    ("hadamard-matrix", lambda: A * B, "A .* B", lambda v: v["A"] * v["B"], False),
    ("scale", lambda: t * A, "t*A", lambda v: v["t"] * v["A"], False),
    ("rmul-number", lambda: 3 * x, "3*x", lambda v: 3 * v["x"], False),
    ("mul-number", lambda: x * 3, "x*3", lambda v: 3 * v["x"], False),
    ("div", lambda: x / y, "x ./ y", lambda v: v["x"] / v["y"], True),
    ("div-scalar", lambda: A / t, "A / t", lambda v: v["A"] / v["t"], True),
    ("rdiv-number", lambda: 1 / x, "1 ./ x", lambda v: 1 / v["x"], True),
    ("div-number", lambda: x / 2, "x / 2", lambda v: v["x"] / 2, False),
    ("pow-number", lambda: x**2, "x.^2", lambda v: v["x"] ** 2, False),
    ("pow-fraction", lambda: x**0.5, "x.^0.5", lambda v: v["x"] ** 0.5, True),
    ("pow-negative", lambda: t**-2, "t^-2", lambda v: v["t"] ** -2, True),
    ("pow-variable", lambda: x**y, "x.^y", lambda v: v["x"] ** v["y"], True),
    ("rpow-number", lambda: 2**x, "2 .^ x", lambda v: 2 ** v["x"], False),
    ("matmul-matvec", lambda: A @ x, "A*x", lambda v: v["A"] @ v["x"], False),
    ("matmul-matmat", lambda: A @ B, "A*B", lambda v: v["A"] @ v["B"], False),
    ("matmul-inner", lambda: x @ y, "x'*y", lambda v: v["x"] @ v["y"], False),
    ("matmul-quadratic", lambda: x @ A @ x, "x'*A*x", lambda v: v["x"] @ v["A"] @ v["x"], False),
    ("matmul-row", lambda: x.T @ A, "x'*A", lambda v: v["x"] @ v["A"], False),
    ("transpose", lambda: A.T, "A'", lambda v: v["A"].T, False),
    ("transpose-product", lambda: (A @ B).T, "(A*B)'", lambda v: (v["A"] @ v["B"]).T, False),
    ("diag-product", lambda: md.diag(x) @ md.diag(y), "diag(x)*diag(y)", lambda v: np.diag(v["x"] * v["y"]), False),
    ("sin", lambda: md.sin(x), "sin(x)", lambda v: np.sin(v["x"]), False),
    ("cos", lambda: md.cos(A), "cos(A)", lambda v: np.cos(v["A"]), False),
    ("tan", lambda: md.tan(t), "tan(t)", lambda v: np.tan(v["t"]), True),
    ("arcsin", lambda: md.arcsin(x / 4), "arcsin(x/4)", lambda v: np.arcsin(v["x"] / 4), True),
    ("arccos", lambda: md.arccos(x / 4), "arccos(x/4)", lambda v: np.arccos(v["x"] / 4), True),
    ("arctan", lambda: md.arctan(x), "arctan(x)", lambda v: np.arctan(v["x"]), False),
    ("exp", lambda: md.exp(A), "exp(A)", lambda v: np.exp(v["A"]), False),
    ("log", lambda: md.log(x), "log(x)", lambda v: np.log(v["x"]), True),
    ("sqrt", lambda: md.sqrt(x), "sqrt(x)", lambda v: np.sqrt(v["x"]), True),
    ("tanh", lambda: md.tanh(x), "tanh(x)", lambda v: np.tanh(v["x"]), False),
    ("abs", lambda: md.abs(x), "abs(x)", lambda v: np.abs(v["x"]), False),
    ("sign", lambda: md.sign(x), "sign(x)", lambda v: np.sign(v["x"]), False),
    ("relu", lambda: md.relu(x), "relu(x)", lambda v: np.maximum(v["x"], 0), False),
    ("sigmoid", lambda: md.sigmoid(x), "sigmoid(x)", lambda v: _sigmoid(v["x"]), False),
    ("inv", lambda: md.inv(X), "inv(X)", lambda v: np.linalg.inv(v["X"]), False),
    ("det", lambda: md.det(X), "det(X)", lambda v: np.linalg.det(v["X"]), False),
    ("logdet", lambda: md.logdet(X), "logdet(X)", lambda v: np.linalg.slogdet(v["X"])[1], False),
    ("tr", lambda: md.tr(A @ B), "tr(A*B)", lambda v: np.trace(v["A"] @ v["B"]), False),
    ("diag-vector", lambda: md.diag(x), "diag(x)", lambda v: np.diag(v["x"]), False),
    ("diag-matrix", lambda: md.diag(A), "diag(A)", lambda v: np.diag(v["A"]), False),
    ("sum", lambda: md.sum(A), "sum(A)", lambda v: np.sum(v["A"]), False),
    ("norm1", lambda: md.norm1(x), "norm1(x)", lambda v: np.sum(np.abs(v["x"])), False),
    ("norm2", lambda: md.norm2(A), "norm2(A)", lambda v: np.linalg.norm(v["A"]), False),
    ("softmax", lambda: md.softmax(x), "softmax(x)", lambda v: _softmax(v["x"]), False),
    ("logsumexp", lambda: md.logsumexp(x), "logsumexp(x)", lambda v: np.log(np.sum(np.exp(v["x"]))), False),
    ("eye", lambda: A + md.eye(), "A + eye", lambda v: v["A"] + np.eye(3), False),
    ("eye-sized", lambda: A + md.eye(3), "A + eye", lambda v: v["A"] + np.eye(3), False),
    ("eye-product", lambda: x @ (A + 2 * md.eye()) @ x, "x'*(A + 2*eye)*x",
     lambda v: v["x"] @ (v["A"] + 2 * np.eye(3)) @ v["x"], False),
    ("composite", lambda: md.sum(md.log(1 + md.exp(-(y * (A @ x))))), "sum(log(1 + exp(-y .* (A*x))))",
     lambda v: np.sum(np.log1p(np.exp(-v["y"] * (v["A"] @ v["x"])))), False),
]  # fmt: skip


@pytest.mark.parametrize("build,text,ref,positive", [c[1:] for c in PYTHON_VS_TEXT], ids=[c[0] for c in PYTHON_VS_TEXT])
def test_python_operators_match_text(build, text, ref, positive) -> None:
    values = _values(positive=positive)
    python_expr = build()
    scalars = {name: S for name in ("t", "s") if re.search(rf"\b{name}\b", text)}
    text_expr = md.parse(text, **scalars)
    expected = ref(values)
    _close(python_expr.evaluate(values), expected)
    _close(text_expr.evaluate(values), expected)


@pytest.mark.parametrize(
    "build,ref,name,positive",
    [
        (lambda: x @ A @ x, lambda v: v["x"] @ v["A"] @ v["x"], "x", False),
        (lambda: x @ A @ x, lambda v: v["x"] @ v["A"] @ v["x"], "A", False),
        (lambda: md.sum(md.exp(A @ x) * y), lambda v: np.sum(np.exp(v["A"] @ v["x"]) * v["y"]), "x", False),
        (
            lambda: md.logdet(X) + t * md.tr(X),
            lambda v: np.linalg.slogdet(v["X"])[1] + v["t"] * np.trace(v["X"]),
            "X",
            False,
        ),
        (lambda: t**s, lambda v: v["t"] ** v["s"], "s", True),
        (lambda: md.softmax(A.T @ x), lambda v: _softmax(v["A"].T @ v["x"]), "A", False),
    ],
)
def test_python_expression_derivatives(build, ref, name, positive) -> None:
    values = _values(1, positive=positive)
    got = md.diff(build(), name).evaluate(values)
    _close(got, central_difference(ref, values, name), rtol=1e-5, atol=1e-6)


def test_diff_by_variable_object_or_name() -> None:
    values = _values(2)
    expr = x @ A @ x
    _close(md.diff(expr, x).evaluate(values), md.diff(expr, "x").evaluate(values))
    _close(md.diff(expr, x).evaluate(values), (values["A"] + values["A"].T) @ values["x"])


def test_numbers_only_on_either_side() -> None:
    with pytest.raises(TypeError):
        x + "y"
    with pytest.raises(TypeError):
        x + [1.0, 2.0]


# ---------------------------------------------------------------------------------------------
# Hash-consing and immutability


def _nodes(expr: md.Expr) -> list[md.Expr]:
    seen, order, stack = set(), [], [expr]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            order.append(node)
            stack.extend(node.args)
    return order


def test_hash_consing_same_text() -> None:
    assert md.parse("x'*A*x") is md.parse("x'*A*x")
    assert md.parse("sin(x) + A*y") is md.parse("sin(x)+A*y")


def test_hash_consing_variables_and_python() -> None:
    assert md.vector("x") is md.vector("x")
    assert md.matrix("A") is md.matrix("A")
    assert (x @ A @ x) is (x @ A @ x)
    assert md.sin(x) is md.sin(x)
    assert md.parse("x'*A*x", x="vector", A="matrix") is x @ A @ x


def test_hash_consing_shares_subexpressions() -> None:
    shared = md.parse("A*x")
    expr = md.parse("sin(A*x) + cos(A*x) .* exp(A*x)")
    nodes = _nodes(expr)
    assert sum(node is shared for node in nodes) == 1
    # every node is distinct by identity, so no structural duplicate survives
    keys = [(n.op, tuple(id(a) for a in n.args), n.attrs, n.shape) for n in nodes]
    assert len(keys) == len(set(keys))


def test_value_and_gradient_share_subexpressions() -> None:
    expr = md.parse("sum(exp(A*x))")
    gradient = md.diff(expr, "x")
    inner = md.parse("exp(A*x)")
    assert any(node is inner for node in _nodes(expr))
    assert any(node is inner for node in _nodes(gradient))


def test_immutability() -> None:
    # a private expression, so that a failure cannot corrupt nodes other tests share
    expr = md.parse("u_immutable'*W_immutable*u_immutable")
    before = (expr.op, expr.args, expr.attrs, expr.shape)
    for attribute in ("op", "args", "shape", "attrs", "something_new"):
        with pytest.raises(AttributeError):
            setattr(expr, attribute, None)
    assert (expr.op, expr.args, expr.attrs, expr.shape) == before
    assert expr is md.parse("u_immutable'*W_immutable*u_immutable")
    with pytest.raises((AttributeError, TypeError)):
        del expr.op


def test_expressions_are_hashable_and_usable_as_keys() -> None:
    table = {md.parse("x'*A*x"): 1, md.parse("sin(x)"): 2}
    assert table[x @ A @ x] == 1
    assert table[md.sin(x)] == 2


# ---------------------------------------------------------------------------------------------
# Evaluation


def test_evaluate_several_expressions() -> None:
    values = _values(3)
    exprs = [md.parse("x'*A*x"), md.parse("A*x"), md.diff(md.parse("x'*A*x"), "x"), md.parse("A")]
    results = md.evaluate(exprs, values)
    assert isinstance(results, list) and len(results) == 4
    xv, Av = values["x"], values["A"]
    _close(results[0], xv @ Av @ xv)
    _close(results[1], Av @ xv)
    _close(results[2], (Av + Av.T) @ xv)
    _close(results[3], Av)


def test_evaluate_one_expression_through_module_function() -> None:
    values = _values(3)
    _close(md.evaluate(md.parse("A*x"), values), values["A"] @ values["x"])


def test_evaluate_tuple_of_expressions() -> None:
    values = _values(3)
    a, b = md.evaluate((md.parse("sum(x)"), md.parse("x")), values)
    _close(a, np.sum(values["x"]))
    _close(b, values["x"])


def test_extra_names_ignored() -> None:
    values = dict(_values(4), unused=np.ones((7, 7)), z=np.zeros(11), q="not a number")
    _close(md.parse("A*x").evaluate(values), values["A"] @ values["x"])


@pytest.mark.parametrize("text", ["t*s", "sum(x)", "x'*A*x", "det(X)", "tr(A)", "norm2(x)", "sin(t)", "t"])
def test_scalar_results_are_zero_dimensional_arrays(text: str) -> None:
    got = md.parse(text, t=S, s=S).evaluate(_values(5))
    assert isinstance(got, np.ndarray)
    assert got.shape == ()


def test_values_as_python_numbers_and_lists() -> None:
    expr = md.parse("t*A*x + s", t=S, s=S)
    values = {"t": 2, "s": 0.5, "x": [1.0, 2.0], "A": [[1, 2], [3, 4]]}
    _close(expr.evaluate(values), 2 * np.array([[1, 2], [3, 4]]) @ np.array([1.0, 2.0]) + 0.5)
    _close(md.parse("t*s", t=S, s=S).evaluate({"t": 3, "s": 1.5}), 4.5)
    _close(md.parse("t", t=S).evaluate({"t": np.float32(2.0)}), 2.0)
    _close(md.parse("t", t=S).evaluate({"t": np.array(2.0)}), 2.0)


def test_evaluate_does_not_modify_inputs() -> None:
    values = _values(6)
    copies = {k: np.copy(v) for k, v in values.items()}
    md.evaluate([md.parse("x + y + x"), md.parse("A + B + A")], values)
    for name in copies:
        np.testing.assert_array_equal(values[name], copies[name])


def test_sizes_differ_between_calls() -> None:
    expr = md.parse("x'*A*x")
    for n in (1, 2, 5):
        xv, Av = np.arange(1.0, n + 1), np.eye(n)
        _close(expr.evaluate({"x": xv, "A": Av}), xv @ xv)


# ---------------------------------------------------------------------------------------------
# Shapes, ndim, kind


@pytest.mark.parametrize(
    "build,ndim,kind",
    [
        (lambda: md.parse("x'*A*x"), 0, "scalar"),
        (lambda: md.parse("A*x"), 1, "vector"),
        (lambda: md.parse("x'"), 1, "row"),
        (lambda: md.parse("x'*A"), 1, "row"),
        (lambda: md.parse("A*B"), 2, "matrix"),
        (lambda: md.parse("x*y'"), 2, "matrix"),
        (lambda: md.diff(md.parse("A*x"), "A"), 3, "tensor"),
        (lambda: md.diff(md.parse("inv(X)"), "X"), 4, "tensor"),
        (lambda: md.diff(md.parse("x'*A*x"), "x", "x"), 2, "matrix"),
        (lambda: md.scalar("t"), 0, "scalar"),
        (lambda: md.symmetric("S"), 2, "matrix"),
    ],
)
def test_ndim_and_kind(build, ndim, kind) -> None:
    expr = build()
    assert expr.ndim == ndim
    assert len(expr.shape) == ndim
    assert expr.kind == kind


def test_fixed_sizes_appear_in_shape() -> None:
    A23, x3 = md.matrix("A", 2, 3), md.vector("x", 3)
    assert A23.shape == (2, 3)
    assert (A23 @ x3).shape == (2,)
    assert (A23.T).shape == (3, 2)
    assert md.diff(A23 @ x3, A23).shape == (2, 2, 3)


def test_symbolic_shape_relates_dimensions() -> None:
    expr = md.parse("A*x")
    (rows,) = expr.shape
    assert rows == md.parse("A").shape[0]


# ---------------------------------------------------------------------------------------------
# Printing: str re-parses to the same numbers; LaTeX

ROUND_TRIP = [  # text, kinds, NumPy reference
    ("x'*A*x", {}, lambda v: v["x"] @ v["A"] @ v["x"]),
    ("sin(x) + cos(x)", {}, lambda v: np.sin(v["x"]) + np.cos(v["x"])),
    ("A*B'", {}, lambda v: v["A"] @ v["B"].T),
    ("t*x + y", {"t": S}, lambda v: v["t"] * v["x"] + v["y"]),
    ("x.^y", {}, lambda v: v["x"] ** v["y"]),
    ("x./y", {}, lambda v: v["x"] / v["y"]),
    ("2 - x", {}, lambda v: 2 - v["x"]),
    ("-A'", {}, lambda v: -v["A"].T),
    ("x - (y - 2*x)", {}, lambda v: 3 * v["x"] - v["y"]),
    ("sum(exp(A*x))", {}, lambda v: np.sum(np.exp(v["A"] @ v["x"]))),
    ("norm2(x) + norm1(A)", {}, lambda v: np.linalg.norm(v["x"]) + np.sum(np.abs(v["A"]))),
    ("tr(A*B)", {}, lambda v: np.trace(v["A"] @ v["B"])),
    ("det(X) + logdet(X)", {}, lambda v: np.linalg.det(v["X"]) + np.linalg.slogdet(v["X"])[1]),
    ("inv(X)*x", {}, lambda v: np.linalg.solve(v["X"], v["x"])),
    ("diag(x)*A", {}, lambda v: np.diag(v["x"]) @ v["A"]),
    ("diag(A) .* x", {}, lambda v: np.diag(v["A"]) * v["x"]),
    ("softmax(A*x)", {}, lambda v: _softmax(v["A"] @ v["x"])),
    ("logsumexp(x) - t", {"t": S}, lambda v: np.log(np.sum(np.exp(v["x"]))) - v["t"]),
    ("A^3", {}, lambda v: np.linalg.matrix_power(v["A"], 3)),
    ("X^-1", {}, lambda v: np.linalg.inv(v["X"])),
    ("A + eye", {}, lambda v: v["A"] + np.eye(3)),
    ("vector(2) + x", {}, lambda v: 2 + v["x"]),
    ("matrix(0.5) .* A", {}, lambda v: 0.5 * v["A"]),
    ("x*y'", {}, lambda v: np.outer(v["x"], v["y"])),
    ("t^2.5 + s^-1", {"t": S, "s": S}, lambda v: v["t"] ** 2.5 + v["s"] ** -1),
    ("(-t)^2 - t^3", {"t": S}, lambda v: v["t"] ** 2 - v["t"] ** 3),
    ("-t^2", {"t": S}, lambda v: -(v["t"] ** 2)),
    ("x/t/s", {"t": S, "s": S}, lambda v: v["x"] / v["t"] / v["s"]),
    ("t^s^2", {"t": S, "s": S}, lambda v: (v["t"] ** v["s"]) ** 2),  # ^ reads left to right, as in MATLAB
    ("t^(s^2)", {"t": S, "s": S}, lambda v: v["t"] ** (v["s"] ** 2)),
    ("2^t", {"t": S}, lambda v: 2 ** v["t"]),
    ("sigmoid(x) .* relu(x) + abs(x) .* sign(x)", {},
     lambda v: _sigmoid(v["x"]) * np.maximum(v["x"], 0) + np.abs(v["x"]) * np.sign(v["x"])),
    ("arcsin(x/4) + arccos(x/4) + arctan(x) + tan(x/4) + tanh(x)", {},
     lambda v: np.arcsin(v["x"] / 4) + np.arccos(v["x"] / 4) + np.arctan(v["x"])
     + np.tan(v["x"] / 4) + np.tanh(v["x"])),
    ("sqrt(x) + log(x)", {}, lambda v: np.sqrt(v["x"]) + np.log(v["x"])),
    ("(x'*A)'", {}, lambda v: v["A"].T @ v["x"]),
    ("x'*S*x", {"S": SYM}, lambda v: v["x"] @ v["S"] @ v["x"]),
    ("1e-3*x + 2.5E2*y", {}, lambda v: 1e-3 * v["x"] + 250 * v["y"]),
]  # fmt: skip


def _round_trip_values(seed: int = 7) -> dict:
    values = _values(seed, positive=True)
    values["S"] = values["X"]
    return values


@pytest.mark.parametrize("text,kinds,ref", ROUND_TRIP, ids=[r[0] for r in ROUND_TRIP])
def test_str_reparses_to_same_numbers(text, kinds, ref) -> None:
    expr = md.parse(text, **kinds)
    printed = str(expr)
    assert isinstance(printed, str) and printed
    again = md.parse(printed, **expr.variables)
    values = _round_trip_values()
    _close(again.evaluate(values), ref(values))
    _close(expr.evaluate(values), ref(values))
    assert md.to_text(expr) == printed


DERIVATIVES = [  # text, wrt, NumPy reference of the function (the derivative is by differences)
    ("x'*A*x", ("x",), lambda v: v["x"] @ v["A"] @ v["x"]),
    ("x'*A*x", ("A",), lambda v: v["x"] @ v["A"] @ v["x"]),
    ("sum(exp(A*x))", ("x",), lambda v: np.sum(np.exp(v["A"] @ v["x"]))),
    ("sin(A*x)", ("x",), lambda v: np.sin(v["A"] @ v["x"])),
    ("softmax(x)", ("x",), lambda v: _softmax(v["x"])),
    ("logdet(X)", ("X",), lambda v: np.linalg.slogdet(v["X"])[1]),
    ("tr(A*X*B)", ("X",), lambda v: np.trace(v["A"] @ v["X"] @ v["B"])),
    ("x'*inv(X)*x", ("X",), lambda v: v["x"] @ np.linalg.solve(v["X"], v["x"])),
    ("norm2(A*x - y)", ("x",), lambda v: np.linalg.norm(v["A"] @ v["x"] - v["y"])),
    ("logsumexp(A*x)", ("x",), lambda v: np.log(np.sum(np.exp(v["A"] @ v["x"])))),
    ("sum(log(1 + exp(-y .* (A*x))))", ("x",), lambda v: np.sum(np.log1p(np.exp(-v["y"] * (v["A"] @ v["x"]))))),
]


@pytest.mark.parametrize("text,wrt,ref", DERIVATIVES, ids=[f"{d[0]}-d{d[1][0]}" for d in DERIVATIVES])
def test_derivative_str_reparses(text, wrt, ref) -> None:
    derivative = md.diff(md.parse(text), *wrt)
    again = md.parse(str(derivative), **derivative.variables)
    values = _round_trip_values(8)
    _close(again.evaluate(values), central_difference(ref, values, wrt[0]), rtol=1e-5, atol=1e-6)


MATRIX_FORM = [  # results that have a matrix form: gradients, Jacobians, Hessians of vectors
    (lambda: md.parse("x'*A*x"), ("x",)),
    (lambda: md.parse("x'*A*x"), ("A",)),
    (lambda: md.parse("x'*A*x"), ("x", "x")),
    (lambda: md.parse("sin(A*x)"), ("x",)),
    (lambda: md.parse("softmax(x)"), ("x",)),
    (lambda: md.parse("logdet(X)"), ("X",)),
    (lambda: md.parse("tr(A*X*B)"), ("X",)),
    (lambda: md.parse("sum(log(1 + exp(-y .* (A*x))))"), ("x", "x")),
    (lambda: md.parse("logsumexp(x)"), ("x", "x")),
    (lambda: md.parse("x'*inv(X)*x"), ("X",)),
    (lambda: md.parse("norm2(x)"), ("x", "x")),
]


@pytest.mark.parametrize("build,wrt", MATRIX_FORM)
def test_latex_of_matrix_form_results(build, wrt) -> None:
    derivative = md.diff(build(), *wrt)
    assert derivative.ndim <= 2
    latex = derivative.to_latex()
    assert isinstance(latex, str) and latex.strip()
    assert "D[" not in latex and "D_{" not in latex
    assert "D[" not in str(derivative)
    assert md.to_latex(derivative) == latex
    rich = derivative._repr_latex_()
    assert rich.startswith("$") and rich.endswith("$") and latex in rich


@pytest.mark.parametrize("text,kinds", [r[:2] for r in ROUND_TRIP], ids=[r[0] for r in ROUND_TRIP])
def test_latex_of_expressions(text: str, kinds: dict) -> None:
    latex = md.parse(text, **kinds).to_latex()
    assert isinstance(latex, str) and latex.strip()
    assert latex.count("{") == latex.count("}")


def test_tensor_results_still_print() -> None:
    """A 3-D result has no matrix form: it falls back to index notation rather than failing."""
    derivative = md.diff(md.parse("A*x"), "A")
    assert str(derivative)
    assert derivative.to_latex()


def test_repr_mentions_kind() -> None:
    assert "vector" in repr(md.parse("A*x"))


# ---------------------------------------------------------------------------------------------
# Kinds: declared and inferred


@pytest.mark.parametrize(
    "text,kinds,expected",
    [
        ("x'*A*x", {}, {"x": V, "A": M}),
        ("A*B*x", {}, {"A": M, "B": M, "x": V}),
        ("x1^2*x2^2", {}, {"x1": S, "x2": S}),
        ("x^2 + y^3", {}, {"x": S, "y": S}),
        ("sin(t) + x", {"t": S}, {"t": S, "x": V}),
        ("x'*A*x", {"A": SYM}, {"x": V, "A": SYM}),
        ("x'*A*x", {"x": V, "A": M}, {"x": V, "A": M}),
        ("X*y", {"X": V, "y": S}, {"X": V, "y": S}),
        ("tr(A) + det(B)", {}, {"A": M, "B": M}),
        ("x'*y", {}, {"x": V, "y": V}),
        ("a^2*x", {}, {"a": S, "x": V}),  # a is used in a power, so it may become a scalar
        ("alpha*A + beta*B", {"alpha": S, "beta": S}, {"alpha": S, "A": M, "beta": S, "B": M}),
    ],
)
def test_kinds(text, kinds, expected) -> None:
    assert dict(md.parse(text, **kinds).variables) == expected


def test_kinds_inference_fewest_scalars() -> None:
    """x1^2 forces x1 to a scalar; x2 can stay a vector (x1^2 scales it)."""
    variables = md.parse("x1^2*x2").variables
    assert variables["x1"] == S
    assert variables["x2"] == V
    xv = np.array([1.0, 2.0])
    _close(md.parse("x1^2*x2").evaluate({"x1": 3.0, "x2": xv}), 9 * xv)


def test_kinds_from_python_variables() -> None:
    expr = md.symmetric("S") @ md.vector("v") + md.scalar("c")
    assert dict(expr.variables) == {"S": SYM, "v": V, "c": S}
