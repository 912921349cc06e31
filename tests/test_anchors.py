"""The cases SymPy 1.14 gets wrong, leaves unevaluated or crashes on (shared/reference/anchors.md).

Each case is its own test id, checked against a textbook closed form evaluated in NumPy and against
central differences of plain evaluation.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import matdiff as md

from .helpers import central_difference

V, M, S, SC = "vector", "matrix", "symmetric", "scalar"


# Values ---------------------------------------------------------------------------------------------


def spd(rng, n):
    A = rng.normal(size=(n, n))
    return A @ A.T / n + np.eye(n)


def positive_det(rng, n):
    """A well-conditioned, non-symmetric matrix with positive determinant."""
    X = 2 * np.eye(n) + 0.3 * rng.normal(size=(n, n))
    assert np.linalg.det(X) > 0 and np.linalg.cond(X) < 10
    return X


def full_rank(rng, m, n):
    """An m x n matrix (m >= n) with singular values in [1, 2]."""
    U, _, Vt = np.linalg.svd(rng.normal(size=(m, n)), full_matrices=False)
    return U @ np.diag(rng.uniform(1, 2, n)) @ Vt


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


inv, det, tr = np.linalg.inv, np.linalg.det, np.trace


def _det_inv(v):
    X = v["X"]
    return det(X) * (np.einsum("ij,lk->ijkl", inv(X), inv(X)) - np.einsum("ik,lj->ijkl", inv(X), inv(X)))


def _x_over_xtx(v):
    x = v["x"]
    q = x @ x
    return np.eye(len(x)) / q - 2 * np.outer(x, x) / q**2


def _x_over_norm(v):
    x = v["x"]
    r = np.linalg.norm(x)
    return (np.eye(len(x)) - np.outer(x, x) / r**2) / r


def _lse_hessian(v):
    s = softmax(v["x"])
    return np.diag(s) - np.outer(s, s)


# Cases: id -> (text, kinds, wrt, values(rng), closed form) -------------------------------------------

SILENTLY_WRONG = {
    "logdet(X)-spd": ("logdet(X)", {"X": M}, ("X",), lambda r: {"X": spd(r, 4)}, lambda v: inv(v["X"]).T),
    "logdet(X)-nonsymmetric": ("logdet(X)", {"X": M}, ("X",), lambda r: {"X": positive_det(r, 4)},
                               lambda v: inv(v["X"]).T),
    "logdet(X'X)": ("logdet(X'*X)", {"X": M}, ("X",), lambda r: {"X": full_rank(r, 5, 3)},
                    lambda v: 2 * v["X"] @ inv(v["X"].T @ v["X"])),
    "log(sum(exp(x)))": ("log(sum(exp(x)))", {"x": V}, ("x",), lambda r: {"x": r.normal(size=5)},
                         lambda v: softmax(v["x"])),
    "logsumexp(x)": ("logsumexp(x)", {"x": V}, ("x",), lambda r: {"x": r.normal(size=5)}, lambda v: softmax(v["x"])),
    "log(tr(X))": ("log(tr(X))", {"X": M}, ("X",), lambda r: {"X": spd(r, 4)},
                   lambda v: np.eye(4) / tr(v["X"])),
    "exp(tr(X))": ("exp(tr(X))", {"X": M}, ("X",), lambda r: {"X": 0.3 * r.normal(size=(4, 4))},
                   lambda v: np.exp(tr(v["X"])) * np.eye(4)),
    "sin(tr(X))": ("sin(tr(X))", {"X": M}, ("X",), lambda r: {"X": r.normal(size=(4, 4))},
                   lambda v: np.cos(tr(v["X"])) * np.eye(4)),
    "log(a'x)": ("log(a'*x)", {"a": V, "x": V}, ("x",),
                 lambda r: {"a": r.uniform(0.5, 1.5, 5), "x": r.uniform(0.5, 1.5, 5)},
                 lambda v: v["a"] / (v["a"] @ v["x"])),
    "exp(a'x)": ("exp(a'*x)", {"a": V, "x": V}, ("x",),
                 lambda r: {"a": 0.5 * r.normal(size=5), "x": 0.5 * r.normal(size=5)},
                 lambda v: np.exp(v["a"] @ v["x"]) * v["a"]),
    "sin(a'x)": ("sin(a'*x)", {"a": V, "x": V}, ("x",), lambda r: {"a": r.normal(size=5), "x": r.normal(size=5)},
                 lambda v: np.cos(v["a"] @ v["x"]) * v["a"]),
    "1/tr(X)": ("1/tr(X)", {"X": M}, ("X",), lambda r: {"X": spd(r, 4)}, lambda v: -np.eye(4) / tr(v["X"]) ** 2),
    "tr(A)+tr(A^2)": ("tr(A) + tr(A^2)", {"A": M}, ("A",), lambda r: {"A": r.normal(size=(4, 4))},
                      lambda v: np.eye(4) + 2 * v["A"].T),
    "tr(X'X)-3": ("tr(X'*X) - 3", {"X": M}, ("X",), lambda r: {"X": r.normal(size=(4, 3))}, lambda v: 2 * v["X"]),
    "tr(AX)/tr(BX)": (
        "tr(A*X)/tr(B*X)", {"A": M, "B": M, "X": M}, ("X",),
        lambda r: {"A": r.normal(size=(3, 4)), "B": r.uniform(0.5, 1.5, (3, 4)), "X": r.uniform(0.5, 1.5, (4, 3))},
        lambda v: (v["A"].T * tr(v["B"] @ v["X"]) - tr(v["A"] @ v["X"]) * v["B"].T) / tr(v["B"] @ v["X"]) ** 2,
    ),
    "det(X)*inv(X)": ("det(X)*inv(X)", {"X": M}, ("X",), lambda r: {"X": positive_det(r, 3)}, _det_inv),
    "x/tr(x'x)": ("x/tr(x'*x)", {"x": V}, ("x",), lambda r: {"x": r.normal(size=4)}, _x_over_xtx),
}  # fmt: skip

DETERMINANTS = {
    "det(X)": ("det(X)", {"X": M}, ("X",), lambda r: {"X": r.normal(size=(4, 4))},
               lambda v: det(v["X"]) * inv(v["X"]).T),
    "det(X')": ("det(X')", {"X": M}, ("X",), lambda r: {"X": r.normal(size=(4, 4))},
                lambda v: det(v["X"]) * inv(v["X"]).T),
    "det(inv(X))": ("det(inv(X))", {"X": M}, ("X",), lambda r: {"X": positive_det(r, 4)},
                    lambda v: -inv(v["X"]).T / det(v["X"])),
    "det(X^2)": ("det(X^2)", {"X": M}, ("X",), lambda r: {"X": positive_det(r, 3)},
                 lambda v: 2 * det(v["X"]) ** 2 * inv(v["X"]).T),
    "det(AXB)": (
        "det(A*X*B)", {"A": M, "X": M, "B": M}, ("X",),
        lambda r: {"A": r.normal(size=(3, 4)), "X": r.normal(size=(4, 5)), "B": r.normal(size=(5, 3))},
        lambda v: det(v["A"] @ v["X"] @ v["B"]) * v["A"].T @ inv(v["A"] @ v["X"] @ v["B"]).T @ v["B"].T,
    ),
    "det(X'X)": ("det(X'*X)", {"X": M}, ("X",), lambda r: {"X": full_rank(r, 5, 3)},
                 lambda v: 2 * det(v["X"].T @ v["X"]) * v["X"] @ inv(v["X"].T @ v["X"])),
    "det(A+tB)": ("det(A + t*B)", {"A": M, "B": M, "t": SC}, ("t",),
                  lambda r: {"A": positive_det(r, 4), "B": r.normal(size=(4, 4)), "t": 0.3},
                  lambda v: det(v["A"] + v["t"] * v["B"]) * tr(inv(v["A"] + v["t"] * v["B"]) @ v["B"])),
    "log(det(X))": ("log(det(X))", {"X": M}, ("X",), lambda r: {"X": positive_det(r, 4)}, lambda v: inv(v["X"]).T),
    "det(S)-symmetric": ("det(S)", {"S": S}, ("S",), lambda r: {"S": spd(r, 4)}, lambda v: det(v["S"]) * inv(v["S"])),
}  # fmt: skip

CRASHES = {
    "sqrt(tr(X'X))": ("sqrt(tr(X'*X))", {"X": M}, ("X",), lambda r: {"X": r.normal(size=(4, 3))},
                      lambda v: v["X"] / np.linalg.norm(v["X"])),
    "(a'x)^2": ("(a'*x)^2", {"a": V, "x": V}, ("x",), lambda r: {"a": r.normal(size=5), "x": r.normal(size=5)},
                lambda v: 2 * (v["a"] @ v["x"]) * v["a"]),
    "x/norm2(x)": ("x/norm2(x)", {"x": V}, ("x",), lambda r: {"x": r.normal(size=4)}, _x_over_norm),
    "a'(x.*x)": ("a'*(x.*x)", {"a": V, "x": V}, ("x",), lambda r: {"a": r.normal(size=5), "x": r.normal(size=5)},
                 lambda v: 2 * v["a"] * v["x"]),
    "inv(A+tB)": ("inv(A + t*B)", {"A": M, "B": M, "t": SC}, ("t",),
                  lambda r: {"A": positive_det(r, 4), "B": r.normal(size=(4, 4)), "t": 0.3},
                  lambda v: -inv(v["A"] + v["t"] * v["B"]) @ v["B"] @ inv(v["A"] + v["t"] * v["B"])),
    "hessian-a'exp(x)": ("a'*exp(x)", {"a": V, "x": V}, ("x", "x"),
                         lambda r: {"a": r.normal(size=5), "x": 0.5 * r.normal(size=5)},
                         lambda v: np.diag(v["a"] * np.exp(v["x"]))),
    "hessian-logsumexp(x)": ("logsumexp(x)", {"x": V}, ("x", "x"), lambda r: {"x": r.normal(size=5)}, _lse_hessian),
    "hessian-log(sum(exp(x)))": ("log(sum(exp(x)))", {"x": V}, ("x", "x"), lambda r: {"x": r.normal(size=5)},
                                 _lse_hessian),
}  # fmt: skip

ALL = {**SILENTLY_WRONG, **DETERMINANTS, **CRASHES}


def _setup(case_id):
    text, kinds, wrt, make, closed = ALL[case_id]
    values = make(np.random.default_rng(zlib.crc32(case_id.encode())))
    return md.parse(text, **kinds), kinds, wrt, values, closed


def _finite_difference(f, kinds, wrt, values):
    diff = central_difference
    if len(wrt) == 1:
        if kinds[wrt[0]] == S:
            # Perturb through X -> (X + X')/2 so every evaluated value is symmetric; this gives (G + G')/2.
            sym = lambda w: f.evaluate({**w, wrt[0]: (w[wrt[0]] + w[wrt[0]].T) / 2})
            return central_difference(sym, values, wrt[0])
        return diff(f.evaluate, values, wrt[0])
    # Hessian: central differences of central differences, with a larger step for the inner one.
    (a, b) = wrt
    return diff(lambda w: diff(f.evaluate, w, b, h=1e-4), values, a, h=1e-4)


def _assert_close(got, expected, rtol, atol_scale):
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol_scale * max(1.0, float(np.max(np.abs(expected)))))


@pytest.mark.parametrize("case_id", list(ALL))
def test_closed_form(case_id):
    f, kinds, wrt, values, closed = _setup(case_id)
    got = md.diff(f, *wrt).evaluate(values)
    _assert_close(got, closed(values), rtol=1e-10, atol_scale=1e-12)


@pytest.mark.parametrize("case_id", list(ALL))
def test_finite_differences(case_id):
    f, kinds, wrt, values, _ = _setup(case_id)
    got = md.diff(f, *wrt).evaluate(values)
    expected = _finite_difference(f, kinds, wrt, values)
    _assert_close(got, expected, rtol=1e-6, atol_scale=1e-7)


# Layout: a vector-by-vector Jacobian is d(Ax)_i/dx_j = A_ij, not A' ----------------------------------


@pytest.mark.parametrize("build", ["parse", "python"])
def test_jacobian_layout_Ax(build):
    rng = np.random.default_rng(99)
    values = {"A": rng.normal(size=(3, 5)), "x": rng.normal(size=5)}
    f = md.parse("A*x", A=M, x=V) if build == "parse" else md.matrix("A") @ md.vector("x")
    J = md.diff(f, "x").evaluate(values)
    assert J.shape == (3, 5)
    np.testing.assert_allclose(J, values["A"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(J, central_difference(f.evaluate, values, "x"), rtol=1e-6, atol=1e-8)


def test_jacobian_layout_nonlinear():
    """d sin(A x)/dx = diag(cos(A x)) A, shape 3 x 5."""
    rng = np.random.default_rng(98)
    values = {"A": rng.normal(size=(3, 5)), "x": rng.normal(size=5)}
    f = md.parse("sin(A*x)", A=M, x=V)
    J = md.diff(f, "x").evaluate(values)
    np.testing.assert_allclose(J, np.cos(values["A"] @ values["x"])[:, None] * values["A"], rtol=1e-10, atol=1e-12)


# Python-operator construction of a few anchors (the same closed forms) ----------------------------------


def test_python_logdet_and_logsumexp():
    rng = np.random.default_rng(97)
    X, x = md.matrix("X"), md.vector("x")
    values = {"X": positive_det(rng, 4), "x": rng.normal(size=5)}
    np.testing.assert_allclose(md.diff(md.logdet(X), X).evaluate(values), inv(values["X"]).T, rtol=1e-10)
    np.testing.assert_allclose(md.diff(md.log(md.sum(md.exp(x))), x).evaluate(values), softmax(values["x"]),
                               rtol=1e-10)  # fmt: skip
    H = md.diff(md.logsumexp(x), x, x).evaluate(values)
    np.testing.assert_allclose(H, _lse_hessian(values), rtol=1e-10, atol=1e-12)
