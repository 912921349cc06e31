"""examples/autoencoder.py: the autoencoder on the digits, checked against references computed here.

- matdiff's gradients of the script's loss (its text, LOSS) against PyTorch autograd on the same loss
  written in torch (float64): every entry within rtol 1e-8 (atol 1e-12);
- the same gradients against central finite differences of a NumPy loss written here, on every entry:
  within rtol 1e-5, atol 1e-5 x the largest entry of each gradient;
- the script's Adam step against torch.optim.Adam (rtol 1e-12);
- the --small run: the training loss falls below half its initial value, and the held-out reconstruction
  error, recomputed here with NumPy from the returned weights, is below half that of predicting the mean
  training image (also recomputed here).
"""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import load_example

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

import matdiff as md  # noqa: E402


@pytest.fixture(scope="module")
def script():
    return load_example("autoencoder")


@pytest.fixture(scope="module")
def run(script, tmp_path_factory):
    figures = tmp_path_factory.mktemp("figures")
    return script.main(["--small", "--figures", str(figures)]), figures


def numpy_loss(w, X):
    """The mean squared error per pixel of sigmoid(W2*tanh(W1*X + b1) + b2), written here in NumPy."""
    H = np.tanh(w["W1"] @ X + w["b1"][:, None])
    Xhat = 1.0 / (1.0 + np.exp(-(w["W2"] @ H + w["b2"][:, None])))
    return np.mean((X - Xhat) ** 2)


def random_point(seed=7):
    """Random weights (not the script's initialisation) and 128 digits."""
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    X = load_digits().data.T[:, rng.choice(1797, 128, replace=False)] / 16.0
    w = {
        "W1": rng.normal(0, 0.3, (16, 64)),
        "b1": rng.normal(0, 0.5, 16),
        "W2": rng.normal(0, 0.3, (64, 16)),
        "b2": rng.normal(0, 0.5, 64),
    }
    return w, X


def matdiff_gradients(script, w, X):
    f = md.parse(script.LOSS, **script.KINDS)
    names = ["W1", "b1", "W2", "b2"]
    compiled = md.compile(f, *(md.diff(f, name) for name in names), args=[*names, "X"])
    value, *grads = compiled(*(w[name] for name in names), X)
    return float(value), dict(zip(names, grads))


def test_gradients_match_pytorch_autograd(script):
    torch = pytest.importorskip("torch")
    w, X = random_point()
    value, grads = matdiff_gradients(script, w, X)
    t = {name: torch.tensor(v, dtype=torch.float64, requires_grad=True) for name, v in w.items()}
    Xt = torch.tensor(X, dtype=torch.float64)
    hidden = torch.tanh(t["W1"] @ Xt + t["b1"].unsqueeze(1))
    loss = ((Xt - torch.sigmoid(t["W2"] @ hidden + t["b2"].unsqueeze(1))) ** 2).mean()
    loss.backward()
    assert value == pytest.approx(loss.item(), rel=1e-12)
    for name in w:
        np.testing.assert_allclose(grads[name], t[name].grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=name)


def test_gradients_match_finite_differences(script):
    w, X = random_point(seed=11)
    value, grads = matdiff_gradients(script, w, X)
    assert value == pytest.approx(numpy_loss(w, X), rel=1e-12)
    h = 1e-5
    for name, g in grads.items():
        numeric = np.zeros_like(g)
        for index in np.ndindex(g.shape):  # every entry: 2128 pairs of loss evaluations in all
            plus = {k: v.copy() for k, v in w.items()}
            minus = {k: v.copy() for k, v in w.items()}
            plus[name][index] += h
            minus[name][index] -= h
            numeric[index] = (numpy_loss(plus, X) - numpy_loss(minus, X)) / (2 * h)
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-5 * np.max(np.abs(numeric)), err_msg=name)


def test_adam_step_matches_torch_optim(script):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    w = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=3)}
    state = {"t": 0, "m": {k: np.zeros_like(v) for k, v in w.items()}, "v": {k: np.zeros_like(v) for k, v in w.items()}}
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w.items()}
    optimizer = torch.optim.Adam(list(t.values()), lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    for _ in range(5):
        grads = {k: rng.normal(size=v.shape) for k, v in w.items()}
        script.adam_step(w, grads, state, lr=0.01)
        for k, tensor in t.items():
            tensor.grad = torch.tensor(grads[k], dtype=torch.float64)
        optimizer.step()
    for k in w:
        np.testing.assert_allclose(w[k], t[k].detach().numpy(), rtol=1e-12, atol=1e-15)


def test_small_run_learns(run):
    result, _ = run
    train = result["train_loss"]
    assert train[-1] < 0.5 * train[0]
    assert result["lbfgs_train_loss"] < 0.5 * train[0]
    # the held-out error, recomputed here from the returned weights, against predicting the mean image
    X_train, X_test = result["X_train"], result["X_test"]
    baseline = np.mean((X_test - X_train.mean(axis=1, keepdims=True)) ** 2)
    for weights, reported in ((result["weights_adam"], result["test_loss"][-1]),
                              (result["weights_lbfgs"], result["lbfgs_test_loss"])):  # fmt: skip
        held_out = numpy_loss(weights, X_test)
        assert held_out == pytest.approx(reported, rel=1e-10)
        assert held_out < 0.5 * baseline
    assert result["baseline_test_loss"] == pytest.approx(baseline, rel=1e-12)
    # the script's own gradient checks
    assert result["grad_error_fd"] < 1e-6
    if result["grad_error_torch"] is not None:
        assert result["grad_error_torch"] < 1e-10


def test_figures(run):
    import matplotlib.image

    _, figures = run
    for what in ("loss", "reconstructions"):
        path = figures / f"autoencoder-{what}.png"
        assert path.stat().st_size < 150_000
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 500
