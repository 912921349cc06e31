"""The worked examples, identities and applications of lecture 6 (shared/reference/lecture-examples.md).

Every expected value is derived independently of the engine: from the lecture's closed form evaluated in
NumPy, or from central differences of plain evaluation (tests/helpers.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff as md

from .helpers import central_difference

CLOSED = dict(rtol=1e-10, atol=1e-12)


def assert_fd(got, expected):
    """Compare with a central-difference reference (relative tolerance about 1e-6)."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7 * max(1.0, float(np.max(np.abs(expected)))))


def assert_closed(got, expected):
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **CLOSED)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


SCALAR_POINTS = [-1.3, -0.4, 0.25, 0.9, 2.1]


# Example 1: x^n -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 7))
@pytest.mark.parametrize("build", ["parse", "python"])
def test_example1_power(n, build):
    f = md.parse(f"x^{n}", x="scalar") if build == "parse" else md.scalar("x") ** n
    d = md.diff(f, "x")
    for x in SCALAR_POINTS:
        assert_closed(d.evaluate({"x": x}), n * x ** (n - 1))


# Example 2: (2x + 1)^4 ----------------------------------------------------------------------------


@pytest.mark.parametrize("build", ["parse", "python"])
def test_example2_chain_polynomial(build):
    x = md.scalar("x")
    f = md.parse("(2*x+1)^4", x="scalar") if build == "parse" else (2 * x + 1) ** 4
    d = md.diff(f, "x")
    for v in SCALAR_POINTS:
        assert_closed(d.evaluate({"x": v}), 8 * (2 * v + 1) ** 3)


# Example 3: product, sum, quotient and chain rules ------------------------------------------------

RULES = {
    "product": ("sin(x)*exp(x)", lambda x: np.cos(x) * np.exp(x) + np.sin(x) * np.exp(x)),
    "product-poly": ("x^3*cos(x)", lambda x: 3 * x**2 * np.cos(x) - x**3 * np.sin(x)),
    "sum": ("x^3 + sin(x)", lambda x: 3 * x**2 + np.cos(x)),
    "quotient": ("sin(x)/(1+x^2)", lambda x: (np.cos(x) * (1 + x**2) - np.sin(x) * 2 * x) / (1 + x**2) ** 2),
    "quotient-exp": ("exp(x)/(2+cos(x))",
                     lambda x: (np.exp(x) * (2 + np.cos(x)) + np.exp(x) * np.sin(x)) / (2 + np.cos(x)) ** 2),
    "chain": ("exp(sin(x))", lambda x: np.exp(np.sin(x)) * np.cos(x)),
    "chain-log": ("log(1+x^2)", lambda x: 2 * x / (1 + x**2)),
    "chain-nested": ("sin(exp(x)^2)", lambda x: np.cos(np.exp(2 * x)) * 2 * np.exp(2 * x)),
    "chain-tanh": ("tanh(3*x)", lambda x: 3 * (1 - np.tanh(3 * x) ** 2)),
    "chain-sqrt": ("sqrt(1+x^2)", lambda x: x / np.sqrt(1 + x**2)),
}  # fmt: skip


@pytest.mark.parametrize("name", RULES)
def test_example3_rules(name):
    text, closed = RULES[name]
    d = md.diff(md.parse(text, x="scalar"), "x")
    for x in SCALAR_POINTS:
        assert_closed(d.evaluate({"x": x}), closed(x))


def test_example3_python_operators():
    x = md.scalar("x")
    d = md.diff(md.sin(x) / (1 + x**2), x)
    for v in SCALAR_POINTS:
        assert_closed(d.evaluate({"x": v}), (np.cos(v) * (1 + v**2) - np.sin(v) * 2 * v) / (1 + v**2) ** 2)


# Example 4 and 5: partial derivatives -------------------------------------------------------------


def test_example4_partials():
    f = md.parse("(x + 2*y^3)^2", x="scalar", y="scalar")
    dx, dy = md.diff(f, "x"), md.diff(f, "y")
    rng = np.random.default_rng(4)
    for x, y in rng.normal(size=(5, 2)):
        v = {"x": x, "y": y}
        assert_closed(dx.evaluate(v), 2 * (x + 2 * y**3))
        assert_closed(dy.evaluate(v), 12 * y**2 * (x + 2 * y**3))


def test_example5_gradient_row():
    f = md.parse("x1^2*x2 + x1*x2^3", x1="scalar", x2="scalar")
    d1, d2 = md.diff(f, "x1"), md.diff(f, "x2")
    rng = np.random.default_rng(5)
    for x1, x2 in rng.normal(size=(5, 2)):
        v = {"x1": x1, "x2": x2}
        got = np.array([d1.evaluate(v), d2.evaluate(v)])
        assert_closed(got, [2 * x1 * x2 + x2**3, x1**2 + 3 * x1 * x2**2])


# Examples 6, 7, 9: chain rule through intermediate variables, built by substitution ----------------


@pytest.mark.parametrize("build", ["parse", "python"])
def test_example6_chain_through_x1_x2(build):
    t = md.scalar("t")
    if build == "parse":
        f = md.parse("sin(t)^2 + 2*cos(t)", t="scalar")
    else:
        x1, x2 = md.sin(t), md.cos(t)
        f = x1**2 + 2 * x2
    d = md.diff(f, "t")
    for v in SCALAR_POINTS:
        assert_closed(d.evaluate({"t": v}), 2 * np.sin(v) * (np.cos(v) - 1))


def test_example7_chain_two_parameters():
    # f(x1, x2) = x1*x2^2 + sin(x1) with x1 = s*t, x2 = s + t^2
    s, t = md.scalar("s"), md.scalar("t")
    x1, x2 = s * t, s + t**2
    f = x1 * x2**2 + md.sin(x1)
    ds, dt = md.diff(f, "s"), md.diff(f, "t")
    rng = np.random.default_rng(7)
    for sv, tv in rng.normal(size=(5, 2)):
        a, b = sv * tv, sv + tv**2
        df_dx = np.array([b**2 + np.cos(a), 2 * a * b])  # 1 x 2 row
        dx_dst = np.array([[tv, sv], [1.0, 2 * tv]])  # 2 x 2 Jacobian of (x1, x2) by (s, t)
        expected = df_dx @ dx_dst
        v = {"s": sv, "t": tv}
        assert_closed(np.array([ds.evaluate(v), dt.evaluate(v)]), expected)


@pytest.mark.parametrize("build", ["parse", "python"])
def test_example9_exp_x1_x2_squared(build):
    if build == "parse":
        h = md.parse("exp((t*cos(t))*(t*sin(t))^2)", t="scalar")
    else:
        t = md.scalar("t")
        x1, x2 = t * md.cos(t), t * md.sin(t)
        h = md.exp(x1 * x2**2)
    d = md.diff(h, "t")
    for t in SCALAR_POINTS:
        x1, x2 = t * np.cos(t), t * np.sin(t)
        dx1, dx2 = np.cos(t) - t * np.sin(t), np.sin(t) + t * np.cos(t)
        expected = np.exp(x1 * x2**2) * (x2**2 * dx1 + 2 * x1 * x2 * dx2)
        assert_closed(d.evaluate({"t": t}), expected)


# Example 8: f = A x by x -------------------------------------------------------------------------


@pytest.mark.parametrize("build", ["parse", "python"])
def test_example8_jacobian_of_Ax_is_A(build):
    rng = np.random.default_rng(8)
    M, N = 3, 5
    v = {"A": rng.normal(size=(M, N)), "x": rng.normal(size=N)}
    f = md.parse("A*x", A="matrix", x="vector") if build == "parse" else md.matrix("A") @ md.vector("x")
    J = md.diff(f, "x").evaluate(v)
    assert_closed(J, v["A"])
    assert_fd(J, central_difference(f.evaluate, v, "x"))


# Examples 10, 11, 12: 3-D and 4-D tensors ------------------------------------------------------------


def test_example10_Ax_by_A():
    rng = np.random.default_rng(10)
    M, N = 3, 4
    v = {"A": rng.normal(size=(M, N)), "x": rng.normal(size=N)}
    f = md.parse("A*x", A="matrix", x="vector")
    T = md.diff(f, "A").evaluate(v)
    expected = np.einsum("ik,l->ikl", np.eye(M), v["x"])  # df_i/dA_kl = delta_ik x_l
    assert_closed(T, expected)
    assert_fd(T, central_difference(f.evaluate, v, "A"))


def test_example11_BtB_by_B():
    rng = np.random.default_rng(11)
    m, n = 4, 3
    v = {"B": rng.normal(size=(m, n))}
    f = md.parse("B'*B", B="matrix")
    T = md.diff(f, "B").evaluate(v)
    eye, B = np.eye(n), v["B"]
    # dK_pq/dB_ij = delta_jp B_iq + delta_jq B_ip
    expected = np.einsum("jp,iq->pqij", eye, B) + np.einsum("jq,ip->pqij", eye, B)
    assert T.shape == (n, n, m, n)
    assert_closed(T, expected)
    assert_fd(T, central_difference(f.evaluate, v, "B"))


MATRIX_BY_MATRIX = {
    # name: (text, shapes, closed form J_ijkl = dA_ij/dB_kl)
    "C*B*D": ("C*B*D", {"C": (2, 3), "B": (3, 4), "D": (4, 5)},
              lambda v: np.einsum("ik,lj->ijkl", v["C"], v["D"])),
    "B'": ("B'", {"B": (3, 4)}, lambda v: np.einsum("il,jk->ijkl", np.eye(4), np.eye(3))),
    "sin(B)": ("sin(B)", {"B": (3, 4)},
               lambda v: np.einsum("ik,jl,ij->ijkl", np.eye(3), np.eye(4), np.cos(v["B"]))),
    "B.*B+C": ("B.*B + C", {"B": (3, 4), "C": (3, 4)},
               lambda v: np.einsum("ik,jl,ij->ijkl", np.eye(3), np.eye(4), 2 * v["B"])),
    "B*B'": ("B*B'", {"B": (3, 4)},
             lambda v: np.einsum("ik,jl->ijkl", np.eye(3), v["B"]) + np.einsum("jk,il->ijkl", np.eye(3), v["B"])),
}  # fmt: skip


@pytest.mark.parametrize("name", MATRIX_BY_MATRIX)
def test_example12_matrix_by_matrix(name):
    text, shapes, closed = MATRIX_BY_MATRIX[name]
    rng = np.random.default_rng(12)
    v = {k: rng.normal(size=s) for k, s in shapes.items()}
    f = md.parse(text, **dict.fromkeys(shapes, "matrix"))
    J = md.diff(f, "B").evaluate(v)
    expected = closed(v)
    assert_closed(J, expected)
    reference = central_difference(f.evaluate, v, "B")
    assert_fd(J, reference)
    m, n = reference.shape[:2]
    p, q = shapes["B"]
    assert_fd(J.reshape(m * n, p * q), reference.reshape(m * n, p * q))  # the flattened mn x pq Jacobian


# The identities the lecture lists ------------------------------------------------------------------

# f(X) for the identities on transpose, trace, det and inverse; X is 4 x 3 unless square is needed.
F_OF_X = {
    "X": ("X", {"X": (3, 3)}),
    "A*X*B": ("A*X*B", {"A": (3, 4), "X": (4, 5), "B": (5, 3)}),
    "X'*X": ("X'*X", {"X": (5, 3)}),
    "X*X": ("X*X", {"X": (3, 3)}),
    "A*X+C": ("A*X + C", {"A": (3, 3), "X": (3, 3), "C": (3, 3)}),
    "exp(X)": ("exp(X)", {"X": (3, 3)}),
}


def _f_values(shapes, seed):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s) for k, s in shapes.items()}


@pytest.mark.parametrize("name", F_OF_X)
def test_identity_transpose(name):
    text, shapes = F_OF_X[name]
    v = _f_values(shapes, 20)
    kinds = dict.fromkeys(shapes, "matrix")
    f = md.parse(text, **kinds)
    ft = md.parse(f"({text})'", **kinds)
    expected = np.swapaxes(central_difference(f.evaluate, v, "X"), 0, 1)  # (df/dX)^T on the output axes
    assert_fd(md.diff(ft, "X").evaluate(v), expected)


@pytest.mark.parametrize("name", F_OF_X)
def test_identity_trace(name):
    text, shapes = F_OF_X[name]
    v = _f_values(shapes, 21)
    f = md.parse(text, **dict.fromkeys(shapes, "matrix"))
    g = md.parse(f"tr({text})", **dict.fromkeys(shapes, "matrix"))
    expected = np.einsum("iikl->kl", central_difference(f.evaluate, v, "X"))  # tr(df/dX)
    assert_fd(md.diff(g, "X").evaluate(v), expected)


@pytest.mark.parametrize("name", F_OF_X)
def test_identity_det(name):
    text, shapes = F_OF_X[name]
    v = _f_values(shapes, 22)
    f = md.parse(text, **dict.fromkeys(shapes, "matrix"))
    g = md.parse(f"det({text})", **dict.fromkeys(shapes, "matrix"))
    F = np.asarray(f.evaluate(v))
    dF = central_difference(f.evaluate, v, "X")
    expected = np.linalg.det(F) * np.einsum("ij,jikl->kl", np.linalg.inv(F), dF)  # det(F) tr(F^-1 dF/dX)
    assert_fd(md.diff(g, "X").evaluate(v), expected)


@pytest.mark.parametrize("name", F_OF_X)
def test_identity_inverse(name):
    text, shapes = F_OF_X[name]
    v = _f_values(shapes, 23)
    f = md.parse(text, **dict.fromkeys(shapes, "matrix"))
    g = md.parse(f"inv({text})", **dict.fromkeys(shapes, "matrix"))
    Finv = np.linalg.inv(np.asarray(f.evaluate(v)))
    dF = central_difference(f.evaluate, v, "X")
    expected = -np.einsum("ia,abkl,bj->ijkl", Finv, dF, Finv)  # -F^-1 (dF/dX) F^-1
    assert_fd(md.diff(g, "X").evaluate(v), expected)


def _well_conditioned(rng, n):
    return 2 * np.eye(n) + 0.3 * rng.normal(size=(n, n))


VECTOR_IDENTITIES = {
    # name: (text, kinds, wrt, values(rng), closed form in gradient layout)
    "a'*inv(X)*b": (
        "a'*inv(X)*b", {"a": "vector", "X": "matrix", "b": "vector"}, "X",
        lambda r: {"a": r.normal(size=4), "X": _well_conditioned(r, 4), "b": r.normal(size=4)},
        lambda v: -np.linalg.inv(v["X"]).T @ np.outer(v["a"], v["b"]) @ np.linalg.inv(v["X"]).T,
    ),
    "x'*a": ("x'*a", {"x": "vector", "a": "vector"}, "x",
             lambda r: {"x": r.normal(size=5), "a": r.normal(size=5)}, lambda v: v["a"]),
    "a'*x": ("a'*x", {"x": "vector", "a": "vector"}, "x",
             lambda r: {"x": r.normal(size=5), "a": r.normal(size=5)}, lambda v: v["a"]),
    "a'*X*b": (
        "a'*X*b", {"a": "vector", "X": "matrix", "b": "vector"}, "X",
        lambda r: {"a": r.normal(size=3), "X": r.normal(size=(3, 5)), "b": r.normal(size=5)},
        lambda v: np.outer(v["a"], v["b"]),
    ),
    "x'*B*x": ("x'*B*x", {"x": "vector", "B": "matrix"}, "x",
               lambda r: {"x": r.normal(size=4), "B": r.normal(size=(4, 4))}, lambda v: (v["B"] + v["B"].T) @ v["x"]),
    "(x-A*s)'*W*(x-A*s)": (
        "(x - A*s)'*W*(x - A*s)", {"x": "vector", "A": "matrix", "s": "vector", "W": "symmetric"}, "s",
        lambda r: {"x": r.normal(size=5), "A": r.normal(size=(5, 3)), "s": r.normal(size=3),
                   "W": (lambda M: M + M.T)(r.normal(size=(5, 5)))},
        lambda v: -2 * v["A"].T @ v["W"] @ (v["x"] - v["A"] @ v["s"]),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", VECTOR_IDENTITIES)
def test_identity_table(name):
    text, kinds, wrt, make, closed = VECTOR_IDENTITIES[name]
    v = make(np.random.default_rng(30))
    f = md.parse(text, **kinds)
    got = md.diff(f, wrt).evaluate(v)
    assert_closed(got, closed(v))
    assert_fd(got, central_difference(f.evaluate, v, wrt))


def test_identity_symmetric_W_python_operators():
    x, A, s, W = md.vector("x"), md.matrix("A"), md.vector("s"), md.symmetric("W")
    r = x - A @ s
    f = r.T @ W @ r
    rng = np.random.default_rng(31)
    M = rng.normal(size=(5, 5))
    v = {"x": rng.normal(size=5), "A": rng.normal(size=(5, 3)), "s": rng.normal(size=3), "W": M + M.T}
    assert_closed(md.diff(f, s).evaluate(v), -2 * v["A"].T @ v["W"] @ (v["x"] - v["A"] @ v["s"]))


# Applications --------------------------------------------------------------------------------------

REGRESSION_KINDS = {"y": "vector", "Phi": "matrix", "theta": "vector"}
REGRESSION_FORMS = ["norm2(y - Phi*theta)^2", "(y - Phi*theta)'*(y - Phi*theta)"]


def _regression_values(seed):
    rng = np.random.default_rng(seed)
    return {"y": rng.normal(size=6), "Phi": rng.normal(size=(6, 3)), "theta": rng.normal(size=3)}


@pytest.mark.parametrize("text", REGRESSION_FORMS)
def test_linear_regression_gradient(text):
    v = _regression_values(40)
    f = md.parse(text, **REGRESSION_KINDS)
    got = md.diff(f, "theta").evaluate(v)
    assert_closed(got, -2 * v["Phi"].T @ (v["y"] - v["Phi"] @ v["theta"]))
    assert_fd(got, central_difference(f.evaluate, v, "theta"))


@pytest.mark.parametrize("text", REGRESSION_FORMS)
def test_linear_regression_hessian(text):
    v = _regression_values(41)
    H = md.diff(md.parse(text, **REGRESSION_KINDS), "theta", "theta").evaluate(v)
    assert_closed(H, 2 * v["Phi"].T @ v["Phi"])


def test_linear_regression_python_operators():
    y, Phi, theta = md.vector("y"), md.matrix("Phi"), md.vector("theta")
    v = _regression_values(42)
    got = md.diff(md.norm2(y - Phi @ theta) ** 2, theta).evaluate(v)
    assert_closed(got, -2 * v["Phi"].T @ (v["y"] - v["Phi"] @ v["theta"]))


def test_linear_regression_normal_equations():
    """At the least-squares solution the engine's gradient vanishes."""
    v = _regression_values(43)
    v["theta"] = np.linalg.lstsq(v["Phi"], v["y"], rcond=None)[0]
    g = md.diff(md.parse(REGRESSION_FORMS[0], **REGRESSION_KINDS), "theta").evaluate(v)
    np.testing.assert_allclose(g, 0.0, atol=1e-10)


AUTOENCODER = "norm2(x - V*sigmoid(W*x + b) - c)^2"
AUTOENCODER_KINDS = {"x": "vector", "V": "matrix", "W": "matrix", "b": "vector", "c": "vector"}


def _autoencoder_values():
    rng = np.random.default_rng(50)
    n, k = 5, 3
    return {"x": rng.normal(size=n), "W": rng.normal(size=(k, n)), "b": rng.normal(size=k),
            "V": rng.normal(size=(n, k)), "c": rng.normal(size=n)}  # fmt: skip


def _autoencoder_closed(v):
    s = sigmoid(v["W"] @ v["x"] + v["b"])
    r = v["x"] - v["V"] @ s - v["c"]
    delta = -2 * (v["V"].T @ r) * s * (1 - s)
    return {"W": np.outer(delta, v["x"]), "b": delta, "V": -2 * np.outer(r, s), "c": -2 * r}


@pytest.mark.parametrize("wrt", ["W", "b", "V", "c"])
def test_autoencoder_gradients(wrt):
    v = _autoencoder_values()
    f = md.parse(AUTOENCODER, **AUTOENCODER_KINDS)
    got = md.diff(f, wrt).evaluate(v)
    assert_fd(got, central_difference(f.evaluate, v, wrt))
    assert_closed(got, _autoencoder_closed(v)[wrt])


def test_autoencoder_python_operators():
    x, V, W, b, c = md.vector("x"), md.matrix("V"), md.matrix("W"), md.vector("b"), md.vector("c")
    f = md.norm2(x - V @ md.sigmoid(W @ x + b) - c) ** 2
    v = _autoencoder_values()
    closed = _autoencoder_closed(v)
    for wrt in ["W", "b", "V", "c"]:
        assert_closed(md.diff(f, wrt).evaluate(v), closed[wrt])


# Readability: results with a matrix form print without index notation and parse back ----------------


def _readable_cases():
    cases = [
        ("x^3*cos(x)", {"x": "scalar"}, "x", lambda r: {"x": 0.7}),
        ("(x + 2*y^3)^2", {"x": "scalar", "y": "scalar"}, "y", lambda r: {"x": 0.3, "y": -1.2}),
        ("A*x", {"A": "matrix", "x": "vector"}, "x", lambda r: {"A": r.normal(size=(3, 5)), "x": r.normal(size=5)}),
    ]
    for text, kinds, wrt, make, _ in VECTOR_IDENTITIES.values():
        cases.append((text, kinds, wrt, make))
    for text in REGRESSION_FORMS:
        cases.append((text, REGRESSION_KINDS, "theta", lambda r: _regression_values(61)))
    for wrt in ["W", "b", "V", "c"]:
        cases.append((AUTOENCODER, AUTOENCODER_KINDS, wrt, lambda r: _autoencoder_values()))
    return cases


READABLE = _readable_cases()


@pytest.mark.parametrize(("text", "kinds", "wrt", "make"), READABLE, ids=[f"{c[0]}|{c[2]}" for c in READABLE])
def test_readable_and_parses_back(text, kinds, wrt, make):
    d = md.diff(md.parse(text, **kinds), wrt)
    printed = str(d)
    assert "D[" not in printed
    v = make(np.random.default_rng(60))
    np.testing.assert_allclose(md.parse(printed, **kinds).evaluate(v), d.evaluate(v), rtol=1e-10, atol=1e-12)
