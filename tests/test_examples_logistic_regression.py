"""examples/logistic_regression.py against a reference computed here: Newton's method on the same objective,
with its gradient and Hessian written out in NumPy, on the same split and standardisation of the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from .helpers import run_example_small

pytest.importorskip("sklearn")
pytest.importorskip("scipy")
pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return run_example_small("logistic_regression", tmp_path_factory.mktemp("figures"))


@pytest.fixture(scope="module")
def data():
    """--small's data: every second sample, a stratified 75/25 split with seed 0, standardised by the
    training set's statistics; labels in {-1, +1}."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, t = load_breast_cancer(return_X_y=True)
    X_train, X_test, t_train, t_test = train_test_split(X[::2], t[::2], test_size=0.25, random_state=0, stratify=t[::2])
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return (X_train - mean) / std, 2.0 * t_train - 1, (X_test - mean) / std, 2.0 * t_test - 1


def newton(X: np.ndarray, y: np.ndarray, lam: float, penalise_b: bool = False) -> tuple[np.ndarray, float]:
    """argmin of sum(log(1 + exp(-y*(X@w + b)))) + lam/2*|w|^2 (+ lam/2*b^2), by Newton's method with
    backtracking, to a step below 1e-13."""
    A = np.column_stack([X, np.ones(len(y))])
    penalty = np.full(A.shape[1], lam)
    penalty[-1] = lam if penalise_b else 0.0

    def f(z):
        return np.sum(np.logaddexp(0.0, -y * (A @ z))) + 0.5 * z @ (penalty * z)

    z = np.zeros(A.shape[1])
    for _ in range(100):
        s = 0.5 * (1 + np.tanh(0.5 * (-y * (A @ z))))  # sigmoid(-margin), stable
        gradient = -A.T @ (y * s) + penalty * z
        hessian = A.T @ (A * (s * (1 - s))[:, None]) + np.diag(penalty)
        step = np.linalg.solve(hessian, -gradient)
        t = 1.0
        while f(z + t * step) > f(z) + 1e-4 * t * gradient @ step and t > 1e-10:
            t /= 2
        z = z + t * step
        if np.max(np.abs(t * step)) < 1e-13:
            break
    return z[:-1], float(z[-1])


def test_md_minimize_matches_newtons_method(run, data):
    measured, _ = run
    X, y, _, _ = data
    w, b = newton(X, y, measured["lam"])
    assert measured["p"] == X.shape[1] and measured["n"] == X.shape[0]
    scale = np.max(np.abs(w))
    assert_allclose(measured["w"], w, rtol=0, atol=1e-7 * scale)
    assert measured["b"] == pytest.approx(b, abs=1e-7 * scale)
    tolerances = {"md.minimize trust-exact": 1e-7, "md.minimize Newton-CG": 1e-7, "md.minimize L-BFGS-B": 1e-4}
    for label, atol in tolerances.items():
        row = measured["rows"][label]
        assert row["success"], label
        assert_allclose(row["w"], w, rtol=0, atol=atol * scale, err_msg=label)
        assert row["b"] == pytest.approx(b, abs=atol * scale), label
    f = np.sum(np.logaddexp(0.0, -y * (X @ w + b))) + measured["lam"] / 2 * w @ w
    assert measured["lowest"] == pytest.approx(f, rel=1e-12)


def test_scikit_learns_intercept_is_the_unpenalised_one(run, data):
    measured, _ = run
    X, y, _, _ = data
    w, b = newton(X, y, measured["lam"])
    _, b_penalised = newton(X, y, measured["lam"], penalise_b=True)
    assert measured["b_penalised"] == pytest.approx(b_penalised, abs=1e-6)
    assert abs(b - b_penalised) > 1e-2  # the choice matters on this data
    for solver in ("lbfgs", "newton-cg", "newton-cholesky"):
        row = measured["rows"][f"sklearn {solver}"]
        assert_allclose(row["w"], w, rtol=0, atol=1e-5 * np.max(np.abs(w)), err_msg=solver)
        assert row["b"] == pytest.approx(b, abs=1e-5), solver


def test_the_reported_accuracy(run, data):
    measured, _ = run
    _, _, X_test, y_test = data
    row = measured["rows"]["md.minimize default"]
    predicted = np.where(X_test @ row["w"] + row["b"] >= 0, 1.0, -1.0)
    assert row["accuracy"] == pytest.approx(np.mean(predicted == y_test))
    assert row["accuracy"] > 0.9


def test_the_figures_are_written(run):
    import matplotlib.image

    measured, folder = run
    paths = measured["figures"]
    names = {"logistic_regression-convergence.png", "logistic_regression-coefficients.png"}
    assert {Path(path).name for path in paths} == names
    for path in paths:
        assert Path(path).parent == folder
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 400
