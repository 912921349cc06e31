"""examples/dask_logistic.py against references computed here: scikit-learn's LogisticRegression on the data in
memory, scipy.optimize on a loss and gradient written out in NumPy, and NumPy formulas for the gradient and the
Hessian evaluated by the compiled functions on chunked Dask arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .helpers import load_example

pytest.importorskip("scipy")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("array_api_compat")
dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

import scipy.optimize  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402


@pytest.fixture(scope="module")
def module():
    return load_example("dask_logistic")


@pytest.fixture(scope="module")
def run(module, tmp_path_factory) -> tuple[dict, Path]:
    figures = tmp_path_factory.mktemp("figures")
    return module.main(["--small", "--figures", str(figures)]), figures


def loss_and_gradient(w, X, y, lam):
    margins = y * (X @ w)
    value = np.sum(np.logaddexp(0, -margins)) + lam / 2 * w @ w
    return value, -X.T @ (y / (1 + np.exp(margins))) + lam * w


def scipy_reference(X, y, lam):
    result = scipy.optimize.minimize(loss_and_gradient, np.zeros(X.shape[1]), args=(X, y, lam), jac=True,
                                     method="BFGS", options={"gtol": 1e-9, "maxiter": 10_000})  # fmt: skip
    return result.x


def sklearn_reference(X, y, lam):
    model = LogisticRegression(C=1 / lam, fit_intercept=False, solver="newton-cholesky", tol=1e-12, max_iter=200)
    return model.fit(X, y).coef_.ravel()


def test_breast_cancer_matches_sklearn_and_scipy(run):
    result = run[0]["breast cancer"]
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = 2.0 * y - 1
    np.testing.assert_allclose(result["X"], X, rtol=1e-12)
    np.testing.assert_array_equal(result["y"], y)
    expected = sklearn_reference(X, y, 1.0)
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(scipy_reference(X, y, 1.0), expected, atol=1e-5 * scale)  # the references agree
    assert np.max(np.abs(result["newton"] - expected)) < 1e-8 * scale
    assert np.max(np.abs(result["md"] - expected)) < 1e-6 * scale
    assert np.max(np.abs(result["lbfgs"] - expected)) < 1e-4 * scale
    assert result["newton_passes"] <= 15  # a few passes over the data
    assert result["lbfgs_passes"] > result["newton_passes"]
    assert result["newton_history"][-1] == pytest.approx(loss_and_gradient(expected, X, y, 1.0)[0], rel=1e-9)


def test_synthetic_data_is_reproducible_and_the_fit_matches_sklearn(module, run):
    result = run[0]["synthetic"]
    X, y = result["X"], result["y"]
    assert X.shape == (20_000, 20) and set(np.unique(y)) == {-1.0, 1.0}
    with dask.config.set(scheduler="synchronous"):
        again = [np.asarray(a) for a in dask.compute(*module.synthetic(20_000, 20))]
        other = np.asarray(module.synthetic(20_000, 20, seed=1)[0][:5].compute())
    np.testing.assert_array_equal(again[0], X)  # the same seed, the same data
    np.testing.assert_array_equal(again[1], y)
    assert not np.allclose(other, X[:5])
    expected = sklearn_reference(X, y, 1.0)
    scale = np.max(np.abs(expected))
    for key, tolerance in (("newton", 1e-8), ("md", 1e-6), ("lbfgs", 1e-5), ("sklearn", 1e-8)):
        assert np.max(np.abs(result[key] - expected)) < tolerance * scale, key
    assert result["newton_passes"] <= 12


def test_compiled_derivatives_on_chunks_match_numpy(module):
    rng = np.random.default_rng(3)
    X, y, w, lam = rng.normal(size=(403, 6)), np.sign(rng.normal(size=403)), rng.normal(size=6) * 0.3, 0.7
    compiled = module.derivatives()
    objective = module.ChunkedObjective(da.from_array(X, chunks=(51, 6)), da.from_array(y, chunks=51), lam, compiled)
    with dask.config.set(scheduler="synchronous"):
        value, gradient, hessian = objective.newton_terms(w)
        value_2, gradient_2 = objective.value_gradient(w)
    expected_value, expected_gradient = loss_and_gradient(w, X, y, lam)
    s = 1 / (1 + np.exp(-y * (X @ w)))
    expected_hessian = X.T @ (X * (s * (1 - s))[:, None]) + lam * np.eye(6)
    assert value == pytest.approx(expected_value, rel=1e-12) and value_2 == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gradient_2, expected_gradient, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hessian, expected_hessian, rtol=1e-10, atol=1e-12)
    assert objective.passes == 2


def test_the_distributed_cluster_is_closed(module):
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(200, 3)), np.sign(rng.normal(size=200))
    objective = module.ChunkedObjective(da.from_array(X, chunks=(50, 3)), da.from_array(y, chunks=50), 1.0,
                                        module.derivatives())  # fmt: skip
    with module.scheduler("distributed"):
        client = distributed.default_client()
        value, gradient = objective.value_gradient(np.zeros(3))
    assert value == pytest.approx(200 * np.log(2))
    np.testing.assert_allclose(gradient, -X.T @ y / 2, atol=1e-12)
    assert client.status == "closed"
    with pytest.raises(ValueError):
        distributed.default_client()


def test_figure_loads(run):
    matplotlib_image = pytest.importorskip("matplotlib.image")
    image = matplotlib_image.imread(run[1] / "dask_logistic-convergence.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
