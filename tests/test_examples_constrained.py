"""examples/constrained.py against references computed here: scipy.optimize.nnls, a projected-gradient solver for
the simplex written in this file, and the ball-constrained least squares by bisection on its multiplier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .helpers import run_example_small

pytest.importorskip("scipy")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from scipy.optimize import nnls  # noqa: E402
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[dict, Path]:
    return run_example_small("constrained", tmp_path_factory.mktemp("figures"))


def columns_are_digit_images(A: np.ndarray) -> bool:
    images = load_digits().data / 16.0
    return all(np.any(np.all(images == column, axis=1)) for column in A.T)


def test_non_negative_least_squares_matches_nnls(run):
    nnls_result = run[0]["nnls"]
    A, b = nnls_result["A"], nnls_result["b"]
    assert A.shape == (64, 50) and columns_are_digit_images(A) and columns_are_digit_images(b[:, None])
    expected, residual = nnls(A, b)
    f_expected = residual**2
    zeros = expected == 0
    runs = nnls_result["runs"]
    # L-BFGS-B at scipy's default tolerances: the objective to 1e-7, x to 1e-4, the same coefficients at 0
    for label in ("L-BFGS-B", "default, tol=1e-12", "trust-constr, tol=1e-12"):
        x = runs[label]["x"]
        assert np.all(x >= 0)
        assert np.max(np.abs(x - expected)) < (1e-4 if label == "L-BFGS-B" else 1e-5), label
        assert np.sum((A @ x - b) ** 2) - f_expected < 1e-7 * f_expected, label
        assert np.array_equal(x <= 1e-8, zeros), label
    # whatever the default method is: the objective within 1e-4 (relative), x within 1e-3
    x = runs["default"]["x"]
    assert np.sum((A @ x - b) ** 2) - f_expected < 1e-4 * f_expected
    assert np.max(np.abs(x - expected)) < 1e-3
    assert runs["L-BFGS-B"]["method"] == "L-BFGS-B" and runs["trust-constr"]["method"] == "trust-constr"


def simplex_projection(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto {w >= 0, sum(w) = 1} by sorting (Held, Wolfe and Crowder 1974; Duchi et al. 2008)."""
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u)
    k = np.arange(1, len(v) + 1)
    rho = k[u * k > cumulative - 1][-1]
    return np.maximum(v - (cumulative[rho - 1] - 1) / rho, 0.0)


def simplex_least_squares(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """min |A w - b|^2 on the simplex by projected gradient, step 1/L with L = 2 |A|_2^2, to a fixed point."""
    L = 2 * np.linalg.norm(A, 2) ** 2
    w = simplex_projection(np.zeros(A.shape[1]))
    for _ in range(100_000):
        updated = simplex_projection(w - 2 * A.T @ (A @ w - b) / L)
        if np.array_equal(updated, w) or np.max(np.abs(updated - w)) < 1e-15:
            return updated
        w = updated
    raise AssertionError("the projected-gradient reference did not converge")


def test_simplex_projection_reference():
    rng = np.random.default_rng(0)
    for _ in range(20):
        v = rng.normal(size=7) * 3
        p = simplex_projection(v)
        assert p.min() >= 0 and p.sum() == pytest.approx(1)
        # optimality: v - p = theta on the support, <= theta off it
        theta = (v - p)[p > 0]
        assert np.ptp(theta) < 1e-12 and np.all((v - p)[p == 0] <= theta[0] + 1e-12)


def test_least_squares_on_the_simplex_matches_projected_gradient(run):
    result = run[0]["simplex"]
    A, B = result["A"], result["B"]
    images, labels = load_digits(return_X_y=True)
    half = len(labels) // 2
    means = np.stack([images[:half][labels[:half] == k].mean(axis=0) / 16 for k in range(10)], axis=1)
    np.testing.assert_allclose(A, means, rtol=1e-12)
    assert columns_are_digit_images(B.T)
    reference = np.array([simplex_least_squares(A, b) for b in B])

    def objective(W):
        return np.sum((W @ A.T - B) ** 2, axis=1)

    f_reference = objective(reference)
    weights = result["weights"]
    for name in ("bounds", "w >= 0"):  # SLSQP-type accuracy: w to 1e-3, objective to 1e-6, zeros exactly found
        W = weights[name]
        np.testing.assert_allclose(W.sum(axis=1), 1, atol=1e-9)
        assert W.min() >= -1e-10
        assert np.max(np.abs(W - reference)) < 1e-3, name
        assert np.all(objective(W) - f_reference < 1e-6 * f_reference), name
    np.testing.assert_allclose(weights["bounds"], weights["w >= 0"], atol=1e-8)  # two spellings, one model
    for name in ("trust-constr", "trust-constr, tol=1e-12"):  # an interior-point method: looser
        W = weights[name]
        assert np.max(np.abs(W - reference)) < 2e-3, name
        assert np.all(objective(W) - f_reference < 3e-3 * f_reference), name
        np.testing.assert_allclose(W.sum(axis=1), 1, atol=1e-9)


def test_least_squares_in_a_ball_matches_bisection(run):
    result = run[0]["ball"]
    X, y = load_diabetes(return_X_y=True)
    A = (X - X.mean(axis=0)) / X.std(axis=0)
    b = (y - y.mean()) / y.std()
    radius = result["radius"]
    # the multiplier mu >= 0 of |x|^2 <= r^2: (A'A + mu I) x = A'b with |x| = r; |x(mu)| decreases in mu
    G, h = A.T @ A, A.T @ b
    assert np.linalg.norm(np.linalg.solve(G, h)) > radius  # the constraint is active

    def x_of(mu):
        return np.linalg.solve(G + mu * np.eye(10), h)

    low, high = 0.0, 1e6
    for _ in range(100):
        mu = (low + high) / 2
        low, high = (mu, high) if np.linalg.norm(x_of(mu)) > radius else (low, mu)
    expected = x_of(high)
    for label, run_ in result["runs"].items():
        tolerance = 1e-7 if "tol=1e-12" in label else 1e-4
        np.testing.assert_allclose(run_["x"], expected, atol=tolerance, err_msg=label)
        assert abs(np.linalg.norm(run_["x"]) - radius) < tolerance


def test_figures_load(run):
    matplotlib_image = pytest.importorskip("matplotlib.image")
    for name in ("constrained-nnls.png", "constrained-simplex.png"):
        image = matplotlib_image.imread(run[1] / name)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 400, name
