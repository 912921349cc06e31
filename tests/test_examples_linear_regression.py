"""examples/linear_regression.py against references computed here: np.linalg.lstsq, the closed-form maximum
likelihood variance, the OLS covariance s2*inv(X'X), and finite differences of the log-likelihood's gradient
written out in NumPy."""

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
    return run_example_small("linear_regression", tmp_path_factory.mktemp("figures"))


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return np.column_stack([np.ones(len(y)), X]), y


def test_the_fit_matches_lstsq_and_the_closed_form_variance(run, data):
    measured, _ = run
    X, y = data
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    s2 = np.mean((y - X @ w) ** 2)
    assert_allclose(measured["w"], w, rtol=0, atol=1e-7 * np.max(np.abs(w)))
    assert measured["s2"] == pytest.approx(s2, rel=1e-8)
    assert_allclose(measured["w_normal"], w, rtol=1e-10)
    assert_allclose(measured["w_from_matdiff"], w, rtol=1e-10)
    assert measured["s2_normal"] == pytest.approx(s2, rel=1e-12)


def test_md_minimize_default_is_exact_on_a_badly_scaled_problem(run, data):
    # L-BFGS-B alone stops ~1e-3 away on this badly scaled problem (the script's table); the default's
    # projected Newton steps with the exact Hessian reach lstsq's answer to rounding
    measured, _ = run
    X, y = data
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    assert measured["method_default"] == "L-BFGS-B"
    assert np.max(np.abs(measured["w_default"] - w)) < 1e-10 * np.max(np.abs(w))
    assert measured["s2_default"] == pytest.approx(np.mean((y - X @ w) ** 2), rel=1e-10)
    for label, row in measured["runs"].items():
        assert row["success"], label


def test_standard_errors_match_the_ols_formula(run, data):
    measured, _ = run
    X, y = data
    n = len(y)
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    s2 = np.mean((y - X @ w) ** 2)
    assert_allclose(measured["se_fisher"], np.sqrt(np.diag(s2 * np.linalg.inv(X.T @ X))), rtol=1e-7)
    assert measured["se_s2"] == pytest.approx(s2 * np.sqrt(2 / n), rel=1e-7)


def test_the_hessian_matches_finite_differences_of_the_gradient(run, data):
    measured, _ = run
    X, y = data
    n, p = X.shape

    def gradient(z):  # of the negative log-likelihood, by hand: (w, s2) packed
        w, s2 = z[:p], z[p]
        r = y - X @ w
        return np.append(-X.T @ r / s2, -(r @ r) / (2 * s2**2) + n / (2 * s2))

    z = np.append(measured["w"], measured["s2"])
    steps = 1e-6 * np.maximum(np.abs(z), 1.0)
    numeric = np.column_stack(
        [(gradient(z + h * e) - gradient(z - h * e)) / (2 * h) for h, e in zip(steps, np.eye(p + 1))]
    )
    hessian = measured["hessian"]
    assert hessian.shape == (p + 1, p + 1)
    assert_allclose(hessian, (numeric + numeric.T) / 2, rtol=1e-6, atol=1e-8 * np.max(np.abs(hessian)))


def test_the_figures_are_written(run):
    import matplotlib.image

    measured, folder = run
    paths = measured["figures"]
    assert {Path(path).name for path in paths} == {"linear_regression-likelihood.png", "linear_regression-fit.png"}
    for path in paths:
        assert Path(path).parent == folder
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 400
