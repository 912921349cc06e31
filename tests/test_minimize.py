"""md.minimize against independent solvers.

Every expected value is computed here without matdiff: np.linalg.lstsq, closed forms, scipy.optimize.nnls,
scipy.optimize.minimize on a loss and gradient written out in NumPy, and a projected-gradient method for the
probability simplex written in this file.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import matdiff as md

scipy_optimize = pytest.importorskip("scipy.optimize")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def regression(rng: np.random.Generator, m: int = 40, n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(m, n))
    y = X @ rng.normal(size=n) + 0.3 * rng.normal(size=m)
    return X, y


# ---------------------------------------------------------------------------------------------
# Problems with a known solution


def test_linear_least_squares_matches_lstsq(rng):
    A, b = regression(rng)
    result = md.minimize("norm2(A*x - b)^2", {"x": np.zeros(4)}, data={"A": A, "b": b})
    expected = np.linalg.lstsq(A, b, rcond=None)[0]
    assert result.method == "trust-exact"
    assert result.success
    assert_allclose(result.x["x"], expected, rtol=1e-8, atol=1e-10)
    assert result.fun == pytest.approx(np.sum((A @ expected - b) ** 2), rel=1e-10)


@pytest.mark.parametrize("method", [None, "L-BFGS-B", "trust-constr"])
def test_linear_regression_by_maximum_likelihood(rng, method):
    X, y = regression(rng, m=60, n=3)
    m = X.shape[0]
    # the negative log-likelihood of y ~ N(X*w, s*I), without its constant
    objective = "n/2*log(s) + norm2(X*w - y)^2/(2*s)"
    result = md.minimize(
        objective, {"w": np.zeros(3), "s": 1.0}, data={"X": X, "y": y, "n": m}, bounds={"s": (1e-8, None)},
        method=method, tol=1e-14, maxiter=10_000,
    )  # fmt: skip
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    s = np.mean((X @ w - y) ** 2)
    assert result.success, result.message
    assert result.x["s"].shape == ()
    assert_allclose(result.x["w"], w, rtol=1e-6, atol=1e-8)
    assert float(result.x["s"]) == pytest.approx(s, rel=1e-6)


def logistic_data(rng: np.random.Generator, m: int = 120, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(m, n))
    y = np.where(X @ rng.normal(size=n) + 0.5 * rng.normal(size=m) > 0, 1.0, -1.0)
    return X, y


@pytest.mark.parametrize(
    ("method", "tol"),
    [(None, 1e-10), ("L-BFGS-B", 1e-15), ("Newton-CG", 1e-12), ("trust-constr", 1e-10), ("BFGS", 1e-8)],
)
def test_l2_regularised_logistic_regression(rng, method, tol):
    X, y = logistic_data(rng)
    lam = 0.7

    def loss(w):
        return np.sum(np.logaddexp(0.0, -y * (X @ w))) + 0.5 * lam * w @ w

    def gradient(w):
        margins = -y * (X @ w)
        return -X.T @ (y / (1.0 + np.exp(-margins))) + lam * w

    reference = scipy_optimize.minimize(loss, np.zeros(5), jac=gradient, method="BFGS", options={"gtol": 1e-11})
    assert np.linalg.norm(gradient(reference.x)) < 1e-8
    result = md.minimize(
        "sum(log(1 + exp(-y.*(X*w)))) + 0.5*lam*w'*w", {"w": np.zeros(5)}, data={"X": X, "y": y, "lam": lam},
        method=method, tol=tol,
    )  # fmt: skip
    assert result.success, result.message
    assert_allclose(result.x["w"], reference.x, rtol=1e-6, atol=1e-7)
    assert result.fun == pytest.approx(reference.fun, rel=1e-10)


@pytest.mark.parametrize(
    ("method", "used"), [(None, "L-BFGS-B"), ("L-BFGS-B", "L-BFGS-B"), ("SLSQP", "SLSQP"), ("TNC", "TNC")]
)
def test_non_negative_least_squares_matches_nnls(rng, method, used):
    A = rng.normal(size=(30, 6))
    b = rng.normal(size=30)
    expected, _ = scipy_optimize.nnls(A, b)
    assert (expected == 0).any()  # some bounds are active
    result = md.minimize("norm2(A*x - b)^2", {"x": np.ones(6)}, data={"A": A, "b": b}, bounds={"x": (0, None)},
                         method=method, tol=1e-14)  # fmt: skip
    assert result.method == used
    assert_allclose(result.x["x"], expected, atol=1e-7)
    assert len(result.history) >= 2 and result.history[-1] == result.fun


def simplex_projection(v: np.ndarray) -> np.ndarray:
    """The Euclidean projection onto {w >= 0, sum(w) = 1}, by sorting (Held, Wolfe and Crowder; Duchi et al.)."""
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - 1.0
    k = np.arange(1, v.size + 1)
    rho = np.nonzero(u - cumulative / k > 0)[0][-1]
    return np.maximum(v - cumulative[rho] / (rho + 1), 0.0)


def simplex_least_squares(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares on the simplex by projected gradient with step 1/L, to a fixed point."""
    step = 1.0 / (2 * np.linalg.norm(A, 2) ** 2)
    w = np.full(A.shape[1], 1.0 / A.shape[1])
    for _ in range(200_000):
        updated = simplex_projection(w - step * 2 * A.T @ (A @ w - b))
        if np.max(np.abs(updated - w)) < 1e-15:
            break
        w = updated
    return updated


@pytest.mark.parametrize(
    ("method", "constraints", "bounds", "atol"),
    [
        (None, "sum(w) == 1", {"w": (0, None)}, 1e-7),
        ("SLSQP", ["sum(w) == 1", "w >= 0"], None, 1e-7),
        ("trust-constr", ["sum(w) == 1"], {"w": (0, None)}, 1e-5),
        ("trust-constr", [("sum(w)", "==", 1), ("w", ">=", 0.0)], None, 1e-5),
    ],
)
def test_least_squares_on_the_simplex(rng, method, constraints, bounds, atol):
    A = rng.normal(size=(25, 6))
    b = A @ np.array([0.7, 0.5, -0.2, 0.0, 0.0, 0.0]) + 0.1 * rng.normal(size=25)
    expected = simplex_least_squares(A, b)
    assert (expected == 0).any()  # the non-negativity is active somewhere
    result = md.minimize("norm2(A*w - b)^2", {"w": np.full(6, 1 / 6)}, data={"A": A, "b": b},
                         constraints=constraints, bounds=bounds, method=method, tol=1e-12)  # fmt: skip
    assert result.success, result.message
    assert result.x["w"].sum() == pytest.approx(1.0, abs=1e-8)
    assert_allclose(result.x["w"], expected, atol=atol)


@pytest.mark.parametrize(("method", "atol"), [("SLSQP", 1e-7), ("trust-constr", 1e-5)])
def test_a_half_space_constraint_matches_its_projection(rng, method, atol):
    a = rng.normal(size=5) + 1.0
    expected = a - max(0.0, (a.sum() - 1.0) / 5)  # the projection of a onto {sum(x) <= 1}
    result = md.minimize("norm2(x - a)^2", {"x": np.zeros(5)}, data={"a": a}, constraints="1 >= sum(x)",
                         method=method, tol=1e-12)  # fmt: skip
    assert_allclose(result.x["x"], expected, atol=atol)


def test_a_matrix_variable_matches_lstsq(rng):
    A = rng.normal(size=(12, 4))
    B = rng.normal(size=(12, 3))
    result = md.minimize("norm2(A*X - B)^2", {"X": np.zeros((4, 3))}, data={"A": A, "B": B})
    assert result.x["X"].shape == (4, 3)
    assert_allclose(result.x["X"], np.linalg.lstsq(A, B, rcond=None)[0], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("method", [None, "L-BFGS-B"])
def test_several_variables_of_every_kind(rng, method):
    X, y = regression(rng)
    C = rng.normal(size=(2, 3))
    objective = "norm2(X*w + c*vector(1) - y)^2 + norm2(M - C)^2"
    result = md.minimize(objective, {"w": np.zeros(4), "c": 0.0, "M": np.zeros((2, 3))}, data={"X": X, "y": y, "C": C},
                         method=method, tol=1e-13)  # fmt: skip
    expected = np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    assert_allclose(result.x["w"], expected[:4], rtol=1e-6, atol=1e-8)
    assert float(result.x["c"]) == pytest.approx(expected[4], rel=1e-6, abs=1e-8)
    assert_allclose(result.x["M"], C, atol=1e-7)
    assert list(result.x) == ["w", "c", "M"]


def test_an_expression_built_with_python_operators(rng):
    A, b = regression(rng)
    x, A_, b_ = md.vector("x"), md.matrix("A"), md.vector("b")
    r = A_ @ x - b_
    result = md.minimize(r.T @ r, {"x": np.zeros(4)}, data={"A": A, "b": b})
    assert_allclose(result.x["x"], np.linalg.lstsq(A, b, rcond=None)[0], rtol=1e-8)


def test_a_symmetric_matrix_declared_by_kinds(rng):
    M = rng.normal(size=(4, 4))
    S = M @ M.T + 4 * np.eye(4)
    b = rng.normal(size=4)
    result = md.minimize("x'*S*x - 2*b'*x", {"x": np.zeros(4)}, data={"S": S, "b": b}, kinds={"S": "symmetric"})
    assert_allclose(result.x["x"], np.linalg.solve(S, b), rtol=1e-9)


def test_bounds_given_as_arrays(rng):
    a = rng.normal(size=(2, 3))
    low = np.array([-0.1, 0.0, 0.1])  # broadcast over the rows
    result = md.minimize("norm2(X - a)^2", {"X": np.zeros((2, 3))}, data={"a": a}, bounds={"X": (low, 0.5)})
    assert_allclose(result.x["X"], np.clip(a, low, 0.5), atol=1e-8)


# ---------------------------------------------------------------------------------------------
# The result


def test_the_result_fields_and_history(rng):
    X, y = logistic_data(rng)
    result = md.minimize("sum(log(1 + exp(-y.*(X*w)))) + w'*w", {"w": np.zeros(5)}, data={"X": X, "y": y},
                         method="L-BFGS-B")  # fmt: skip
    assert isinstance(result, md.MinimizeResult)
    assert result.success is True
    assert isinstance(result.status, int) and isinstance(result.message, str)
    assert result.nit >= 1 and result.nfev >= result.nit
    assert result.history[0] == pytest.approx(X.shape[0] * np.log(2.0))  # the objective at x0 = 0
    assert result.history[-1] == result.fun
    assert len(result.history) >= result.nit
    assert all(later <= earlier + 1e-12 for earlier, later in zip(result.history, result.history[1:]))
    assert result.raw.x.shape == (5,)
    text = str(result)
    assert "converged" in text and "L-BFGS-B" in text and "w = [" in text and "fun:" in text
    assert repr(result).startswith("MinimizeResult(fun=") and "w: (5,)" in repr(result)


def test_history_of_trust_exact_and_maxiter(rng):
    X, y = logistic_data(rng)
    objective = "sum(log(1 + exp(-y.*(X*w)))) + w'*w"
    result = md.minimize(objective, {"w": np.zeros(5)}, data={"X": X, "y": y})
    assert result.history[-1] == result.fun
    assert all(later <= earlier for earlier, later in zip(result.history, result.history[1:]))
    stopped = md.minimize(objective, {"w": np.zeros(5)}, data={"X": X, "y": y}, method="L-BFGS-B", maxiter=2)
    assert stopped.nit == 2 and not stopped.success
    assert "did not converge" in str(stopped)


def test_a_scalar_variable_comes_back_as_a_0d_array():
    result = md.minimize("(t - 3)^2", {"t": 0})
    assert isinstance(result.x["t"], np.ndarray) and result.x["t"].shape == ()
    assert float(result.x["t"]) == pytest.approx(3.0)


def test_progress_runs(rng, capsys):
    A, b = regression(rng)
    result = md.minimize("norm2(A*x - b)^2", {"x": np.zeros(4)}, data={"A": A, "b": b}, progress=True, maxiter=50)
    assert result.success
    assert "md.minimize" in capsys.readouterr().err
    md.minimize("norm2(A*x - b)^2", {"x": np.zeros(4)}, data={"A": A, "b": b}, progress=True)


# ---------------------------------------------------------------------------------------------
# Errors


A3 = np.ones((5, 3))
B5 = np.ones(5)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (dict(x0={"x": np.zeros(3), "z": 1.0}), md.ArgumentError, ["x0 names 'z'", "A, b, x"]),
        (dict(x0={"x": np.zeros(3)}, data={"A": A3, "b": B5, "q": 1}), md.ArgumentError, ["data names 'q'"]),
        (dict(x0={"x": np.zeros(3)}, data={"A": A3}), md.ArgumentError, ["b is given neither in x0"]),
        (dict(x0={}, data={"A": A3, "b": B5}), md.ArgumentError, ["at least one"]),
        (dict(x0={"x": np.zeros(3), "b": B5}, data={"A": A3, "b": B5}), md.ArgumentError, ["both in x0 and in data"]),
        (dict(x0={"x": np.zeros(3)}, bounds={"z": (0, 1)}), md.ArgumentError, ["bounds names 'z'", "not occur"]),
        (dict(x0={"x": np.zeros(3)}, bounds={"b": (0, 1)}), md.ArgumentError, ["bounds names 'b'", "data"]),
        (dict(x0={"x": np.zeros(3)}, bounds={"x": (1, 0)}), md.ArgumentError, ["infeasible", "index 0"]),
        (dict(x0={"x": np.zeros(3)}, bounds={"x": (np.array([0, 2, 0]), 1)}), md.ArgumentError, ["index 1"]),
        (dict(x0={"x": np.zeros(3)}, bounds={"x": 0}), md.ArgumentError, ["pair (low, high)"]),
        (dict(x0={"x": np.zeros(3)}, bounds={"x": (np.zeros(4), None)}), md.ShapeError, ["(4,)", "(3,)"]),
        (dict(x0={"x": np.zeros(4)}), md.ShapeError, ["A", "(5, 3)", "x (4,)"]),
        (dict(x0={"x": np.zeros((3, 1))}), md.ShapeError, ["x", "(3, 1)"]),
        (dict(x0={"x": np.array([0.0, np.nan, 0.0])}), md.ArgumentError, ["not finite"]),
        (dict(x0={"x": np.array([0.0, np.inf, 0.0])}), md.ArgumentError, ["not finite"]),
        (dict(x0={"x": np.array(["a", "b", "c"])}), md.ArgumentError, ["real numbers"]),
        (dict(x0={"x": np.zeros(3)}, constraints="sum(x) - 1"), md.ArgumentError, ["not a comparison"]),
        (dict(x0={"x": np.zeros(3)}, constraints="sum(x) < 1"), md.ArgumentError, ["not a comparison", "'<'"]),
        (dict(x0={"x": np.zeros(3)}, constraints="0 <= sum(x) <= 1"), md.ArgumentError, ["2 comparisons"]),
        (dict(x0={"x": np.zeros(3)}, constraints=[md.parse("sum(x)")]), md.ArgumentError, ["not a comparison"]),
        (dict(x0={"x": np.zeros(3)}, constraints=("sum(x)", "<", 1)), md.ArgumentError, ["not a comparison"]),
        (dict(x0={"x": np.zeros(3)}, constraints="sum(z) == 1"), md.ArgumentError, ["'z'", "neither in the objective"]),
        (dict(x0={"x": np.zeros(3)}, data={"A": A3, "b": B5, "q": 1.0}), md.ArgumentError,
         ["'q'", "neither in the objective", "nor in a constraint"]),
        (dict(x0={"x": np.zeros(3)}, constraints="norm2(x) <= 1"), md.EvaluationError, ["derivative", "by x", "x0"]),
        (dict(x0={"x": np.ones(3)}, constraints="log(x - 2) >= 0"), md.EvaluationError, ["not finite at x0"]),
        (dict(x0={"x": np.zeros(3)}, constraints="sum(b) == 1"), md.ArgumentError, ["none of the variables"]),
        (dict(x0={"x": np.zeros(3)}, constraints="1 == 2"), md.ArgumentError, ["no variables"]),
        (dict(x0={"x": np.zeros(3)}, constraints="x == vector(1)*2"), None, []),
        (dict(x0={"x": np.zeros(3)}, method="newton"), md.ArgumentError, ["unknown method", "trust-exact"]),
        (dict(x0={"x": np.zeros(3)}, bounds={"x": (0, 1)}, method="BFGS"), md.ArgumentError, ["bounds"]),
        (dict(x0={"x": np.zeros(3)}, constraints="sum(x) == 1", method="L-BFGS-B"), md.ArgumentError,
         ["constraints"]),
        (dict(x0={"x": np.zeros(3)}, tol=-1.0), md.ArgumentError, ["tol"]),
        (dict(x0={"x": np.zeros(3)}, maxiter=0), md.ArgumentError, ["maxiter"]),
        (dict(x0=[np.zeros(3)]), md.ArgumentError, ["x0 must be a dict"]),
    ],
)  # fmt: skip
def test_errors(call, error, words):
    arguments = {"data": {"A": A3, "b": B5}, **call}
    if error is None:  # a well-formed call among the errors, to show the cases differ only where they say
        md.minimize("norm2(A*x - b)^2", **arguments)
        return
    with pytest.raises(error) as raised:
        md.minimize("norm2(A*x - b)^2", **arguments)
    assert isinstance(raised.value, md.MatdiffError)
    for word in words:
        assert word in str(raised.value)


def test_an_objective_that_is_not_a_scalar():
    with pytest.raises(md.ShapeError, match="must be a scalar"):
        md.minimize("A*x - b", {"x": np.zeros(3)}, data={"A": A3, "b": B5})


def test_an_objective_not_finite_at_x0():
    with pytest.raises(md.EvaluationError, match="not finite at x0"):
        md.minimize("log(s) + s", {"s": -1.0})


def test_kinds_only_with_text():
    with pytest.raises(md.ArgumentError, match="kinds"):
        md.minimize(md.parse("x'*x"), {"x": np.ones(2)}, kinds={"x": "vector"})


def test_a_matrix_constraint_is_refused():
    with pytest.raises(md.ShapeError, match="element-wise over a vector"):
        md.minimize("norm2(X)^2", {"X": np.ones((2, 2))}, constraints="X >= 0")


@pytest.mark.parametrize(("method", "atol"), [(None, 1e-7), ("trust-constr", 1e-5)])
def test_a_nonlinear_constraint_uses_its_exact_hessian(rng, method, atol):
    a = rng.normal(size=4)
    # min a'x subject to x'x <= 1 is at -a/|a|; trust-constr uses the Hessian of the multiplier times x'x
    result = md.minimize("a'*x", {"x": np.zeros(4)}, data={"a": a}, constraints="x'*x <= 1", method=method, tol=1e-12)
    assert result.success, result.message
    assert_allclose(result.x["x"], -a / np.linalg.norm(a), atol=atol)


# ---------------------------------------------------------------------------------------------
# Every scipy method, Hessian-vector products, and the projected Newton steps after L-BFGS-B

ALL_METHODS = ["Nelder-Mead", "Powell", "CG", "BFGS", "Newton-CG", "L-BFGS-B", "TNC", "COBYLA", "COBYQA", "SLSQP",
               "trust-constr", "dogleg", "trust-ncg", "trust-exact", "trust-krylov"]  # fmt: skip
DERIVATIVE_FREE = {"Nelder-Mead", "Powell", "COBYLA", "COBYQA"}


@pytest.mark.parametrize("method", ALL_METHODS)
def test_every_scipy_method_solves_ridge_regression(rng, method):
    # ridge regression: (A'A + I) x = A'b, strictly convex, so every method must find it
    A, b = regression(rng, m=20, n=3)
    expected = np.linalg.solve(A.T @ A + np.eye(3), A.T @ b)
    result = md.minimize("norm2(A*x - b)^2 + norm2(x)^2", {"x": np.zeros(3)}, data={"A": A, "b": b},
                         method=method, tol=1e-12, maxiter=20_000)  # fmt: skip
    assert result.method == method
    assert_allclose(result.x["x"], expected, atol=1e-4 if method in DERIVATIVE_FREE else 1e-7)
    # the history starts at x0 (x = 0: |b|^2) and ends at the answer, whatever each method's callback passes
    assert result.history[0] == pytest.approx(b @ b) and result.history[-1] == result.fun
    assert len(result.history) >= 2


def _objective_in_numpy(A, b, S, c):
    """The objective of the Hessian-vector-product test, written out in NumPy, of the packed vector
    (x: 3, X: 2x2, t: scalar)."""

    def value(z):
        x, X, t = z[:3], z[3:7].reshape(2, 2), z[7]
        return (np.sum((A @ x - b) ** 2) + t**2 * np.sum(np.exp(x)) + np.trace(X.T @ S @ X @ X.T)
                + np.sum(np.tanh(X @ c)) * t)  # fmt: skip

    return value


def test_hessian_vector_products_match_finite_differences(rng):
    from matdiff import _minimize

    A, b, c = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=2)
    S = rng.normal(size=(2, 2))
    f = md.parse("norm2(A*x - b)^2 + t^2*sum(exp(x)) + tr(X'*S*X*X') + sum(tanh(X*c))*t",
                 A="matrix", b="vector", x="vector", X="matrix", S="matrix", t="scalar", c="vector")  # fmt: skip
    x0 = {"x": rng.normal(size=3), "X": rng.normal(size=(2, 2)), "t": np.array(0.7)}
    packing = _minimize._Packing(x0)
    data = {"A": A, "b": b, "S": S, "c": c}
    nodes = {name: md.parse(name, **{name: f.variables[name]}) for name in packing.names}
    product = _minimize._hessian_product(f, packing, data, list(f.variables), nodes)
    z = packing.pack(x0)
    hessian = md.numeric.hessian(_objective_in_numpy(A, b, S, c), z)
    for _ in range(3):
        p = rng.normal(size=z.size)
        assert_allclose(product(z, p, {}), hessian.value @ p, rtol=1e-6, atol=1e-6)


@pytest.fixture
def above_small(monkeypatch):
    """Treat every problem as large: Hessians as products, never formed."""
    from matdiff import _minimize

    monkeypatch.setattr(_minimize, "SMALL", 2)
    formed = []
    original = _minimize._Packing.assemble
    monkeypatch.setattr(_minimize._Packing, "assemble", lambda self, blocks: formed.append(1) or original(self, blocks))
    return formed


@pytest.mark.parametrize("method", ["Newton-CG", "trust-ncg", "trust-krylov", "trust-constr"])
def test_large_problems_take_hessian_vector_products(rng, above_small, method):
    X, y = regression(rng, m=60, n=5)
    y = np.sign(y)
    lam = 0.5

    def loss(w):  # the same objective in NumPy, minimised by BFGS as the reference
        return np.sum(np.logaddexp(0, -y * (X @ w))) + lam / 2 * w @ w

    def gradient(w):
        return -X.T @ (y / (1 + np.exp(y * (X @ w)))) + lam * w

    reference = scipy_optimize.minimize(loss, np.zeros(5), jac=gradient, method="BFGS", options={"gtol": 1e-11})
    result = md.minimize("sum(log(1 + exp(-y.*(X*w)))) + lam/2*norm2(w)^2", {"w": np.zeros(5)},
                         data={"X": X, "y": y, "lam": lam}, method=method, tol=1e-12)  # fmt: skip
    assert_allclose(result.x["w"], reference.x, rtol=1e-6, atol=1e-7)
    assert not above_small  # no Hessian was formed


def test_large_constrained_problems_use_trust_constr_with_products(rng, above_small):
    A = rng.normal(size=(12, 4))
    b = rng.normal(size=12)
    expected = simplex_least_squares(A, b)
    result = md.minimize("norm2(A*w - b)^2", {"w": np.full(4, 0.25)}, data={"A": A, "b": b},
                         constraints=["sum(w) == 1", "w'*w <= 1"], bounds={"w": (0, None)}, tol=1e-12)  # fmt: skip
    assert result.method == "trust-constr"
    assert_allclose(result.x["w"], expected, atol=1e-5)
    assert not above_small


@pytest.mark.parametrize("seed", range(5))
def test_bounded_problems_land_on_their_active_bounds(seed):
    # the default for bounds is L-BFGS-B followed by projected Newton steps with the exact Hessian: the
    # answer is on the bound exactly, and as exact as the reference inside
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(25, 8))
    b = rng.normal(size=25)
    low, high = -0.2 * rng.random(8), 0.2 * rng.random(8)
    expected = scipy_optimize.lsq_linear(A, b, bounds=(low, high), method="bvls", tol=1e-14).x
    result = md.minimize("norm2(A*x - b)^2", {"x": np.zeros(8)}, data={"A": A, "b": b}, bounds={"x": (low, high)})
    assert result.method == "L-BFGS-B"
    assert_allclose(result.x["x"], expected, atol=1e-10)
    on_bounds = np.isclose(expected, low, atol=1e-12) | np.isclose(expected, high, atol=1e-12)
    assert on_bounds.any()
    assert_array_equal_where(result.x["x"], expected, on_bounds)


def assert_array_equal_where(actual, expected, where):
    np.testing.assert_array_equal(actual[where], expected[where])


def test_a_nonconvex_bounded_problem_keeps_a_local_minimum(rng):
    # the projected Newton steps never make the answer worse: on a nonconvex objective the result is still a
    # point where the projected gradient vanishes, inside the bounds, and no higher than x0
    x0 = np.array([0.3, -0.4, 0.1])
    result = md.minimize("sum(sin(3*x)) + norm2(x)^2/4", {"x": x0}, bounds={"x": (-1, 1)})
    x = result.x["x"]
    gradient = 3 * np.cos(3 * x) + x / 2
    assert np.all((x >= -1) & (x <= 1))
    assert np.linalg.norm(x - np.clip(x - gradient, -1, 1)) < 1e-8
    assert result.fun <= np.sum(np.sin(3 * x0)) + x0 @ x0 / 4


def test_data_used_only_by_a_constraint(rng):
    # least squares in a ball of radius r: the radius is data only the constraint uses; the reference solves
    # (A'A + mu I) x = A'b with |x| = r by bisection on the multiplier mu
    A, b = regression(rng, m=30, n=4)
    b = 3 * b
    r = 0.5
    unconstrained = np.linalg.lstsq(A, b, rcond=None)[0]
    assert np.linalg.norm(unconstrained) > r  # the ball's constraint is active
    low, high = 0.0, 1e6
    for _ in range(200):
        mu = (low + high) / 2
        x = np.linalg.solve(A.T @ A + mu * np.eye(4), A.T @ b)
        low, high = (mu, high) if np.linalg.norm(x) > r else (low, mu)
    result = md.minimize("norm2(A*x - b)^2", {"x": np.zeros(4)}, data={"A": A, "b": b, "r": r},
                         constraints="x'*x <= r^2", tol=1e-12)  # fmt: skip
    assert_allclose(result.x["x"], x, atol=1e-7)


def test_a_badly_scaled_bounded_problem_is_solved_exactly():
    # linear regression by maximum likelihood with sigma^2 > 0 by a bound: weights in the hundreds, sigma^2 in
    # the thousands, one column 20x longer than the others. L-BFGS-B alone stops ~1e-3 away; the projected
    # Newton steps with the exact Hessian finish the job. The reference is lstsq and the mean squared residual.
    rng = np.random.default_rng(5)
    X = np.column_stack([np.ones(400), rng.normal(size=(400, 6)) / 20])
    y = X @ rng.normal(scale=300, size=7) + rng.normal(scale=50, size=400)
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    s2 = np.mean((y - X @ w) ** 2)
    model = "norm2(y - X*w)^2/(2*s2) + sum(y.^0)*log(s2)/2"
    alone = md.minimize(model, {"w": np.zeros(7), "s2": 1.0}, data={"X": X, "y": y}, bounds={"s2": (1e-8, None)},
                        method="L-BFGS-B")  # fmt: skip
    result = md.minimize(model, {"w": np.zeros(7), "s2": 1.0}, data={"X": X, "y": y}, bounds={"s2": (1e-8, None)})
    assert result.method == "L-BFGS-B" and "projected Newton step" in result.message
    assert_allclose(result.x["w"], w, rtol=1e-10, atol=1e-10 * np.abs(w).max())
    assert float(result.x["s2"]) == pytest.approx(s2, rel=1e-10)
    error_alone = np.abs(alone.x["w"] - w).max() / np.abs(w).max()
    assert error_alone > 1e3 * np.abs(result.x["w"] - w).max() / np.abs(w).max()

