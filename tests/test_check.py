"""md.check and md.check_gradient: correct derivatives pass, planted errors fail, bad input is clear.

Expected values come from NumPy formulas at the values the check drew (report.values), never from the
engine's derivative code.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import matdiff as md
import matdiff._check as check_module
from matdiff._check import default_rtol

S, V, M, SYM = "scalar", "vector", "matrix", "symmetric"

# (text, kinds, wrt): every one must pass
CORRECT = [
    ("x'*A*x", {}, ["x"]),
    ("x'*A*x", {}, ["x", "x"]),  # Hessian, by numeric.hessian
    ("logdet(X)", {}, ["X"]),
    ("a'*inv(X)*b", {}, ["X"]),
    ("inv(X)", {}, ["X"]),  # 4-D
    ("A*X*B", {}, ["X"]),  # 4-D, every dimension different
    ("x'*S*x", {"S": SYM}, ["S"]),
    ("logdet(S)", {"S": SYM}, ["S"]),
    ("logdet(S)", {"S": SYM}, ["S", "S"]),  # Hessian by a symmetric matrix
    ("tr(S*A)", {"S": SYM}, ["S"]),
    ("x'*inv(S)*x", {"S": SYM}, ["S"]),
    ("sum(log(x))", {}, ["x"]),
    ("sqrt(x'*x)", {}, ["x"]),
    ("sum(x.^0.5)", {}, ["x"]),
    ("sum(log(1+exp(-y.*(X*w))))", {}, ["w"]),
    ("sum(log(1+exp(-y.*(X*w))))", {}, ["w", "w"]),
    ("softmax(W*x+b)", {}, ["W"]),  # vector by matrix: 3-D
    ("sin(A*x)", {}, ["A"]),  # 3-D
    ("x'*A*y", {}, ["x", "A"]),  # mixed second order: 3-D, by the first derivative
    ("A*x", {}, ["x"]),  # a non-square Jacobian
    ("det(X)", {}, ["X"]),
    ("norm2(X)", {}, ["X", "X"]),  # 4-D Hessian
    ("logsumexp(x)", {}, ["x", "x"]),
    ("x1^2*x2 + x1*x2^3", {"x1": S, "x2": S}, ["x1", "x2"]),
    ("logdet(X'*X)", {}, ["X"]),  # X'*X is singular unless X has more rows than columns
    ("inv(X'*X)*X'*y", {}, ["y"]),
    ("sum(arcsin(x)) + sum(abs(x))", {}, ["x"]),
]


@pytest.mark.parametrize(("text", "kinds", "wrt"), CORRECT, ids=[f"{t} by {','.join(w)}" for t, _, w in CORRECT])
def test_check_passes_correct_derivatives(text, kinds, wrt):
    report = md.check(md.parse(text, **kinds), *wrt, seed=7)
    assert report, str(report)
    assert report.passed is True
    assert report.max_rel_error <= report.tolerance or report.max_rel_error < 1e-6
    assert report.evaluations > 0
    assert "PASS" in str(report)


def test_check_values_follow_kinds_domains_and_sizes():
    report = md.check(md.parse("logdet(X) + x'*S*x + sum(log(y)) + a'*A*B*c", S=SYM), "X", seed=3)
    values = report.values
    X, Sv, y = values["X"], values["S"], values["y"]
    assert np.array_equal(X, X.T) and np.all(np.linalg.eigvalsh(X) > 0)  # SPD under logdet
    assert np.array_equal(Sv, Sv.T)  # symmetric
    assert np.all(y > 0)  # positive under log
    # a, A, B, c: three dimension classes (a = rows of A, A's columns = B's rows, B's columns = c)
    sizes = {values["a"].shape[0], values["A"].shape[1], values["B"].shape[1]}
    assert len(sizes) == 3
    assert values["A"].shape[1] == values["B"].shape[0] and values["c"].shape[0] == values["B"].shape[1]
    assert X.shape[0] != values["a"].shape[0]  # distinct classes, distinct sizes
    again = md.check(md.parse("logdet(X) + x'*S*x + sum(log(y)) + a'*A*B*c", S=SYM), "X", seed=3)
    assert all(np.array_equal(values[k], again.values[k]) for k in values)  # the seed reproduces
    assert report.seed == 3 and "seed 3" in str(report)


def test_check_numbers_match_numpy_formulas():
    r = md.check(md.parse("logdet(X)"), "X", seed=1)
    X = r.values["X"]
    assert np.isclose(r.worst_numeric, np.linalg.inv(X).T[r.worst_index], rtol=1e-9)
    assert np.isclose(r.worst_symbolic, np.linalg.inv(X).T[r.worst_index], rtol=1e-12)

    r = md.check(md.parse("x'*A*x"), "x", "x", seed=2)
    A = r.values["A"]
    assert np.isclose(r.worst_numeric, (A + A.T)[r.worst_index], rtol=1e-6)
    assert r.shape == A.shape

    r = md.check(md.parse("tr(S*A)", S=SYM), "S", seed=4)  # the symmetric gradient is (G + G')/2
    A = r.values["A"]
    assert np.isclose(r.worst_numeric, ((A + A.T) / 2)[r.worst_index], rtol=1e-9)
    assert "symmetric" in r.reference

    r = md.check(md.parse("logsumexp(x)"), "x", "x", seed=5)
    x = r.values["x"]
    p = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    assert np.isclose(r.worst_numeric, (np.diag(p) - np.outer(p, p))[r.worst_index], rtol=1e-6, atol=1e-9)
    assert "Hessian" in r.reference


def test_check_uses_given_values_and_draws_the_rest():
    rng = np.random.default_rng(0)
    U = rng.normal(size=(4, 4))
    X = U @ U.T + np.eye(4)
    r = md.check(md.parse("logdet(X)"), "X", values={"X": X})
    assert r.values["X"] is X
    assert np.isclose(r.worst_numeric, np.linalg.inv(X)[r.worst_index], rtol=1e-9)
    x = rng.normal(size=6)
    r = md.check(md.parse("x'*A*x"), "x", values={"x": x}, seed=0)
    assert r and r.values["A"].shape == (6, 6)


def test_check_higher_order_says_it_builds_on_the_symbolic_derivative():
    r = md.check(md.parse("x'*A*y"), "x", "A", seed=0)
    assert r.shape == (r.values["x"].size, *r.values["A"].shape)
    assert "symbolic derivative" in r.reference


def test_check_catches_a_planted_factor_of_two(monkeypatch):
    real = check_module.diff
    monkeypatch.setattr(check_module, "diff", lambda e, *w: 2 * real(e, *w))
    report = md.check(md.parse("logdet(X)"), "X", seed=0)
    assert not report and report.passed is False
    X = report.values["X"]
    assert np.isclose(report.worst_symbolic, 2 * report.worst_numeric)
    assert np.isclose(report.worst_numeric, np.linalg.inv(X)[report.worst_index], rtol=1e-9)
    assert report.max_rel_error > 0.1
    text = str(report)
    assert text.startswith("FAIL") and str(list(report.worst_index)) in text


def test_check_catches_a_planted_transposition(monkeypatch):
    real = check_module.diff
    monkeypatch.setattr(check_module, "diff", lambda e, *w: md.transpose(real(e, *w)))
    report = md.check(md.parse("a'*X*b"), "X", seed=0)  # X is 3 x 4, so the shapes differ
    assert not report and "shape" in report.reason and "shape" in str(report)
    rng = np.random.default_rng(0)
    values = {"a": rng.normal(size=3), "X": rng.normal(size=(3, 3)), "b": rng.normal(size=3)}
    report = md.check(md.parse("a'*X*b"), "X", values=values)  # square: other numbers
    assert not report
    i, j = report.worst_index
    a, b = report.values["a"], report.values["b"]
    assert np.isclose(report.worst_numeric, a[i] * b[j])
    assert np.isclose(report.worst_symbolic, a[j] * b[i])


def test_check_errors():
    with pytest.raises(md.ArgumentError):
        md.check(42, "x")
    with pytest.raises(md.DiffError, match="does not occur"):
        md.check(md.parse("x'*A*x"), "y")
    with pytest.raises(md.DiffError, match="say which"):
        md.check(md.parse("x'*A*x"))
    with pytest.raises(md.ArgumentError):
        md.check(md.parse("sum(x)"), "x", rtol=-1.0)
    with pytest.raises(md.EvaluationError, match="domain"):
        md.check(md.parse("sum(log(-(x.*x)))"), "x", seed=0)
    assert md.check("sum(x.*x)", seed=0)  # text, and the one variable by default


# ---------------------------------------------------------------------------------------------
# check_gradient


def _tanh_problem(n: int = 100, dtype=np.float64, seed: int = 0):
    rng = np.random.default_rng(seed)
    A = (rng.normal(size=(n, n)) / np.sqrt(n)).astype(dtype)
    x = rng.normal(size=n).astype(dtype)
    f = lambda x: np.sum(np.tanh(A @ x))
    grad = lambda x: A.T @ (1 - np.tanh(A @ x) ** 2)
    return f, grad, x


def test_check_gradient_passes_correct_gradients():
    f, grad, x = _tanh_problem(30)
    report = md.check_gradient(f, grad, x, seed=0)
    assert report and report.mode == "entries" and report.shape == (30,)
    assert report.rtol == 1e-7 and report.claimed_label == "grad(x)"
    assert report.max_rel_error < 1e-9

    rng = np.random.default_rng(1)
    A, C = rng.normal(size=(3, 4)), rng.normal(size=(5, 3))
    X = rng.normal(size=(4, 5))
    assert md.check_gradient(lambda X: np.trace(A @ X @ C), lambda X: A.T @ C.T, X)  # a matrix x

    assert md.check_gradient(np.sin, np.cos, 0.7)  # scalar x
    r = md.check_gradient(lambda x: np.array([x[0] * x[1], np.exp(x[2]), x[0] ** 2]), _small_jacobian, [1.0, 2, 0.5])
    assert r and r.shape == (3, 3)


def _small_jacobian(x):
    return np.array([[x[1], x[0], 0.0], [0.0, 0.0, np.exp(x[2])], [2 * x[0], 0.0, 0.0]])


def _vector_problem(n: int = 100, seed: int = 0):
    """f: R^n -> R^n, f(x) = tanh(A x) + x^3/3; J = diag(1 - tanh(Ax)^2) A + diag(x^2)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n)) / np.sqrt(n)
    x = rng.normal(size=n)
    f = lambda x: np.tanh(A @ x) + x**3 / 3
    jac = lambda x: (1 - np.tanh(A @ x) ** 2)[:, None] * A + np.diag(x**2)
    return f, jac, x


def test_check_gradient_catches_one_wrong_entry_in_ten_thousand():
    f, jac, x = _vector_problem(100)
    assert md.check_gradient(f, jac, x, seed=0)
    J = jac(x)
    i = 37
    j = int(np.argmax(np.abs(J[i]) * (np.arange(100) != i)))  # an off-diagonal entry of typical size
    wrong = J.copy()
    wrong[i, j] *= 1 + 1e-3
    report = md.check_gradient(f, lambda x: wrong, x, seed=0)
    assert not report
    assert report.worst_index == (i, j)
    assert report.worst_symbolic == wrong[i, j] and np.isclose(report.worst_numeric, J[i, j], rtol=1e-8)
    assert sum(e.difference > e.tolerance for e in report.worst) == 1  # only that entry fails
    assert f"[{i}, {j}]" in str(report)


def test_check_gradient_catches_factor_two_and_transposition():
    f, jac, x = _vector_problem(20)
    report = md.check_gradient(f, lambda x: 2 * jac(x), x)
    assert not report and report.max_rel_error > 0.1
    report = md.check_gradient(f, lambda x: jac(x).T, x)  # square: the same shape, other numbers
    assert not report
    i, j = report.worst_index
    assert np.isclose(report.worst_symbolic, jac(x)[j, i]) and np.isclose(report.worst_numeric, jac(x)[i, j])


def test_check_gradient_transposed_non_square_jacobian_is_a_shape_error():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(3, 5))
    with pytest.raises(md.ShapeError, match=r"\(5, 3\).*\(3, 5\).*transposed"):
        md.check_gradient(lambda x: np.sin(A @ x), lambda x: (np.cos(A @ x)[:, None] * A).T, rng.normal(size=5))


def test_check_gradient_float32_passes_correct_and_fails_factor_two():
    f, grad, x = _tanh_problem(100, np.float32)
    assert x.dtype == np.float32 and grad(x).dtype == np.float32
    report = md.check_gradient(f, grad, x, seed=0)
    assert report, str(report)
    assert report.rtol == pytest.approx(default_rtol(np.float32)) and "float32" in report.reason
    assert 1e-3 < report.rtol < 1e-2
    bad = md.check_gradient(f, lambda x: 2 * grad(x), x, seed=0)
    assert not bad and bad.max_rel_error > 0.1


def test_check_gradient_fast_mode_on_5000_entries():
    rng = np.random.default_rng(3)
    n = 71  # X is 71 x 71: 5041 entries, so fast mode by default
    A = rng.normal(size=(n, n)) / np.sqrt(n)
    X = rng.normal(size=(n, n))
    f = lambda X: np.sum(np.tanh(A @ X))
    grad = lambda X: A.T @ (1 - np.tanh(A @ X) ** 2)
    good = md.check_gradient(f, grad, X, seed=0)
    assert good and good.mode == "directions" and good.shape == (n, n)
    assert good.evaluations < 8 * 40  # far fewer than the 5041 * 6 of a full Jacobian
    assert "direction" in str(good)
    doubled = md.check_gradient(f, lambda X: 2 * grad(X), X, seed=0)
    assert not doubled and len(doubled.worst_index) == 1 and 0 <= doubled.worst_index[0] < 8
    transposed = md.check_gradient(f, lambda X: grad(X).T, X, seed=0)
    assert not transposed

    x = rng.normal(size=5000)  # a vector of 5000
    g = lambda x: np.sum(np.sin(x)) + 0.5 * x @ x
    dg = lambda x: np.cos(x) + x
    assert md.check_gradient(g, dg, x, seed=0)
    assert not md.check_gradient(g, lambda x: 2 * dg(x), x, seed=0, directions=3)


def test_check_gradient_rtol_and_fast_override():
    f, grad, x = _tanh_problem(10)
    assert md.check_gradient(f, lambda x: 1.2 * grad(x), x, rtol=0.5)
    assert not md.check_gradient(f, lambda x: 1.2 * grad(x), x)
    r = md.check_gradient(f, grad, x, fast=True, directions=3, seed=1)
    assert r and r.mode == "directions"


def test_check_gradient_bad_input():
    f, grad, x = _tanh_problem(5)
    with pytest.raises(md.ArgumentError, match="f must be callable") as info:
        md.check_gradient("f", grad, x)
    assert isinstance(info.value, TypeError) and isinstance(info.value, md.MatdiffError)
    with pytest.raises(TypeError, match="grad must be callable"):
        md.check_gradient(f, grad(x), x)
    with pytest.raises(md.ShapeError, match=r"\(5, 1\).*\(5,\)"):
        md.check_gradient(f, lambda x: grad(x)[:, None], x)
    with pytest.raises(md.ShapeError, match=r"\(4,\)"):
        md.check_gradient(f, lambda x: grad(x)[:4], x)
    bad_x = x.copy()
    bad_x[2] = np.nan
    with pytest.raises(md.EvaluationError, match=r"x has non-finite.*\[2\]"):
        md.check_gradient(f, grad, bad_x)
    with pytest.raises(md.EvaluationError, match=r"f\(x\)"):
        md.check_gradient(lambda x: np.nan * f(x), grad, x)
    with pytest.raises(md.EvaluationError, match=r"grad\(x\).*\[3\]"):
        md.check_gradient(f, lambda x: np.where(np.arange(5) == 3, np.nan, grad(x)), x)
    with pytest.raises(md.ArgumentError):
        md.check_gradient(f, grad, x, directions=0)
    with pytest.raises(md.ArgumentError):
        md.check_gradient(f, grad, ["a", "b"])


def test_report_display():
    f, grad, x = _tanh_problem(6)
    report = md.check_gradient(f, lambda x: 2 * grad(x), x, seed=0)
    text = str(report)
    assert text.splitlines()[0].startswith("FAIL")
    assert "tolerance" in text and "float64" in text and "grad(x)" in text
    assert "| index |" in report._repr_markdown_()
    good = md.check(md.parse("x'*A*x"), "x", seed=0)
    assert str(good).startswith("PASS: d/dx of x'*A*x") and "derivative: " in str(good)
    with pytest.raises(dataclasses.FrozenInstanceError):
        good.passed = False  # type: ignore[misc]
