"""An autoencoder on scikit-learn's digits, with gradients derived by matdiff.

The 1797 images of 8x8 pixels (values 0..16, scaled to [0, 1]) are the columns of a 64 x N matrix X. The
network squeezes each image through 16 hidden units and back:

    H    = tanh(W1*X + b1*vector(1)')          encoder, 16 x N
    Xhat = sigmoid(W2*H + b2*vector(1)')       decoder, 64 x N (pixel values in (0, 1))
    loss = norm2(X - Xhat)^2 / sum(X.^0)       the mean squared error per pixel

(`b1*vector(1)'` adds the bias b1 to every column; `sum(X.^0)` is the number of entries of X, 64*N.)

What it shows:

1. `md.diff` derives the gradient of the loss by W1, b1, W2 and b2; they are printed as they are, and
   with `to_text(shared=True)`, which names the repeated terms (t0 = tanh(...), t1 = sigmoid(...)).
2. `md.compile` turns the loss and the four gradients into one NumPy function, compiled once.
3. The gradients are checked against PyTorch autograd (float64, the same loss written in torch; skipped
   when torch is not installed) and against central finite differences.
4. Minibatch training with Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015),
   written out in NumPy below, reporting the training and held-out loss per epoch.
5. The full-batch alternative: `md.minimize(loss, ..., method="L-BFGS-B")` on the same training images.

Run it from the repository root:

    python examples/autoencoder.py            # full run (~30 s), writes docs/figures/autoencoder-*.png
    python examples/autoencoder.py --small    # a few epochs on a few hundred images (the CI setting)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib
import numpy as np
from sklearn.datasets import load_digits

import matdiff as md

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the Agg backend

LOSS = "norm2(X - sigmoid(W2*tanh(W1*X + b1*vector(1)') + b2*vector(1)'))^2 / sum(X.^0)"
KINDS = {"X": "matrix", "W1": "matrix", "b1": "vector", "W2": "matrix", "b2": "vector"}
WEIGHTS = ("W1", "b1", "W2", "b2")
ARGS = [*WEIGHTS, "X"]  # the order of the compiled functions' arguments
HIDDEN = 16

FULL = {"n_train": 1500, "epochs": 300, "batch": 64, "lr": 0.01, "lbfgs_maxiter": 3000}
SMALL = {"n_train": 300, "epochs": 30, "batch": 32, "lr": 0.01, "lbfgs_maxiter": 100}


def load_data(n_train: int, n_test: int | None = None, seed: int = 0):
    """The digits as columns of X, scaled to [0, 1], split at random into training and held-out images.

    Returns (X_train, X_test, y_test): 64 x n_train, 64 x n_test and the held-out labels. With n_test None,
    every image that is not a training image is held out."""
    digits = load_digits()
    X = digits.data.T / 16.0  # 64 x 1797, one image per column
    order = np.random.default_rng(seed).permutation(X.shape[1])
    train = order[:n_train]
    test = order[n_train:] if n_test is None else order[n_train : n_train + n_test]
    return X[:, train], X[:, test], digits.target[test]


def initial_weights(seed: int = 1, n_in: int = 64, n_hidden: int = HIDDEN) -> dict[str, np.ndarray]:
    """Glorot-uniform weights (Glorot & Bengio 2010: U(-a, a), a = sqrt(6 / (fan_in + fan_out))), zero biases."""
    rng = np.random.default_rng(seed)
    a = np.sqrt(6.0 / (n_in + n_hidden))
    return {
        "W1": rng.uniform(-a, a, (n_hidden, n_in)),
        "b1": np.zeros(n_hidden),
        "W2": rng.uniform(-a, a, (n_in, n_hidden)),
        "b2": np.zeros(n_in),
    }


def reconstruct(w: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Xhat = sigmoid(W2*tanh(W1*X + b1) + b2), in plain NumPy (for the figures)."""
    H = np.tanh(w["W1"] @ X + w["b1"][:, None])
    return 1.0 / (1.0 + np.exp(-(w["W2"] @ H + w["b2"][:, None])))


# --- references for the gradient check ------------------------------------------------------------------


def torch_value_and_gradients(w: dict[str, np.ndarray], X: np.ndarray):
    """The same loss written in PyTorch (float64), as a function of no arguments that returns the loss and
    autograd's gradients by W1, b1, W2, b2 (the tensors are made once, outside it, so that it can be timed).
    None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    t = [torch.tensor(w[name], dtype=torch.float64, requires_grad=True) for name in WEIGHTS]
    Xt = torch.tensor(X, dtype=torch.float64)

    def value_and_gradients():
        W1, b1, W2, b2 = t
        loss = torch.mean((Xt - torch.sigmoid(W2 @ torch.tanh(W1 @ Xt + b1[:, None]) + b2[:, None])) ** 2)
        return loss, *torch.autograd.grad(loss, t)

    return value_and_gradients


def seconds_per_call(function, repeat: int = 300) -> float:
    """The median time of one call, over `repeat` calls (after 20 calls to warm up)."""
    for _ in range(20):
        function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def finite_difference(loss, w: dict[str, np.ndarray], name: str, index: tuple, h: float = 1e-5) -> float:
    """Central difference (L(w + h e) - L(w - h e)) / 2h along one entry of w[name]; error O(h^2)."""
    plus = {k: v.copy() for k, v in w.items()}
    minus = {k: v.copy() for k, v in w.items()}
    plus[name][index] += h
    minus[name][index] -= h
    return (loss(plus) - loss(minus)) / (2 * h)


# --- Adam -----------------------------------------------------------------------------------------------


def adam_step(w, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step (Kingma & Ba 2015, Algorithm 1): moving averages of the gradient (m) and of its square
    (v), corrected for their start at zero, then a step of lr * m_hat / (sqrt(v_hat) + eps) per entry."""
    state["t"] += 1
    t = state["t"]
    for name, g in grads.items():
        m = state["m"][name] = beta1 * state["m"][name] + (1 - beta1) * g
        v = state["v"][name] = beta2 * state["v"][name] + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        w[name] = w[name] - lr * m_hat / (np.sqrt(v_hat) + eps)


def train_adam(value_and_gradients, loss, w, X_train, X_test, *, epochs, batch, lr, seed=2):
    """Minibatch Adam; returns the weights, the training and held-out loss after each epoch (entry 0: before
    training) and the seconds spent training (without the per-epoch loss evaluations)."""
    w = {name: value.copy() for name, value in w.items()}
    state = {"t": 0, "m": {k: np.zeros_like(v) for k, v in w.items()}, "v": {k: np.zeros_like(v) for k, v in w.items()}}
    rng = np.random.default_rng(seed)
    n = X_train.shape[1]
    train_loss, test_loss = [loss(w, X_train)], [loss(w, X_test)]
    seconds = 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        order = rng.permutation(n)
        for first in range(0, n, batch):
            X = X_train[:, order[first : first + batch]]
            _, *grads = value_and_gradients(*(w[k] for k in WEIGHTS), X)
            adam_step(w, dict(zip(WEIGHTS, grads)), state, lr)
        seconds += time.perf_counter() - start
        train_loss.append(loss(w, X_train))
        test_loss.append(loss(w, X_test))
    return w, np.array(train_loss), np.array(test_loss), seconds


# --- figures --------------------------------------------------------------------------------------------


def plot_loss(path, train_loss, test_loss, baseline, lbfgs, args_text):
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    epochs = np.arange(len(train_loss))
    ax.semilogy(epochs, train_loss, label="Adam, training images")
    ax.semilogy(epochs, test_loss, label="Adam, held-out images")
    ax.axhline(baseline, color="gray", linestyle=":", label="mean training image (held-out)")
    ax.axhline(lbfgs["train"], color="C2", linestyle="--", label=f"L-BFGS-B full batch, training ({lbfgs['nit']} it.)")
    ax.axhline(lbfgs["test"], color="C3", linestyle="--", label="L-BFGS-B full batch, held-out")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean squared error per pixel")
    ax.set_title(f"Autoencoder 64-16-64 on the digits ({args_text})", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_reconstructions(path, originals, rows):
    """A grid: the originals on top, then one row of reconstructions per (label, images) in rows."""
    n = originals.shape[1]
    all_rows = [("held-out", originals), *rows]
    fig, axes = plt.subplots(len(all_rows), n, figsize=(0.85 * n + 0.6, 0.95 * len(all_rows) + 0.4), dpi=100)
    for r, (label, images) in enumerate(all_rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(images[:, c].reshape(8, 8), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle("Held-out digits (top row) and their reconstructions through 16 hidden units", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --- the example ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="few epochs on a few hundred images (CI)")
    parser.add_argument("--figures", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "figures")
    parser.add_argument("--no-figures", action="store_true", help="write no figures")
    options = parser.parse_args(argv)
    setting = SMALL if options.small else FULL

    # The model and its derivatives.
    f = md.parse(LOSS, **KINDS)
    grads = {name: md.diff(f, name) for name in WEIGHTS}
    print(f"loss = {f}\n")
    for name, g in grads.items():
        print(f"d loss / d {name} =\n  {g}")
        shared = g.to_text(shared=True).replace("\n", "\n  ")
        print(f"with the repeated terms named:\n  {shared}\n")
    start = time.perf_counter()
    value_and_gradients = md.compile(f, *grads.values(), args=ARGS)  # compiled once, used for every batch
    value_only = md.compile(f, args=ARGS)
    compile_seconds = time.perf_counter() - start

    def loss(w, X):
        return float(value_only(*(w[k] for k in WEIGHTS), X))

    X_train, X_test, y_test = load_data(setting["n_train"], None if not options.small else 100)
    w0 = initial_weights()
    print(f"{X_train.shape[1]} training and {X_test.shape[1]} held-out images; "
          f"{sum(v.size for v in w0.values())} weights; md.compile: {compile_seconds:.2f} s")  # fmt: skip

    # Gradient check on one minibatch of 128 images at the initial weights, with random biases so that
    # every term of the gradients is exercised.
    rng = np.random.default_rng(3)
    w_check = {**w0, "b1": rng.normal(0, 0.5, HIDDEN), "b2": rng.normal(0, 0.5, 64)}
    X_batch = X_train[:, :128]
    value, *g_md = value_and_gradients(*(w_check[k] for k in WEIGHTS), X_batch)
    g_md = dict(zip(WEIGHTS, g_md))
    torch_call = torch_value_and_gradients(w_check, X_batch)
    error_torch = None
    if torch_call is None:
        print("\nPyTorch is not installed: the autograd comparison is skipped.")
    else:
        torch_value, *g_torch = (t.detach().numpy() for t in torch_call())
        g_torch = dict(zip(WEIGHTS, g_torch))
        # normwise relative error per array: max |matdiff - torch| / max |torch|
        error_torch = max(np.max(np.abs(g_md[k] - g_torch[k])) / np.max(np.abs(g_torch[k])) for k in WEIGHTS)
        print(f"\ngradients vs PyTorch autograd (float64, 128 images): loss {value:.12g} vs {float(torch_value):.12g}, "
              f"max relative error {error_torch:.2e}")  # fmt: skip
    # Finite differences on 5 entries of each array, drawn among entries whose gradient is at least 10% of the
    # array's largest (so that the relative error is not dominated by the differences' rounding).
    error_fd = 0.0
    for name in WEIGHTS:
        big = np.argwhere(np.abs(g_md[name]) >= 0.1 * np.max(np.abs(g_md[name])))
        for index in big[rng.choice(len(big), size=min(5, len(big)), replace=False)]:
            index = tuple(index)
            numeric = finite_difference(lambda w: loss(w, X_batch), w_check, name, index)
            error_fd = max(error_fd, abs(numeric - g_md[name][index]) / abs(g_md[name][index]))
    print(f"gradients vs central finite differences (h = 1e-5, 20 entries): max relative error {error_fd:.2e}")

    # The time of one value+gradients call on this minibatch (64 x 128), matdiff's compiled NumPy code vs
    # PyTorch autograd on the CPU (float64).
    seconds_md = seconds_per_call(lambda: value_and_gradients(*(w_check[k] for k in WEIGHTS), X_batch))
    seconds_torch = None if torch_call is None else seconds_per_call(torch_call)
    torch_text = "" if seconds_torch is None else f", PyTorch autograd {seconds_torch * 1e6:.0f} us"
    print(f"one value+gradients call on 64 x 128 (median of 300): md.compile {seconds_md * 1e6:.0f} us{torch_text}")

    # Minibatch training with Adam.
    print(f"\nAdam: {setting['epochs']} epochs, minibatches of {setting['batch']}, learning rate {setting['lr']}")
    w_adam, train_loss, test_loss, adam_seconds = train_adam(
        value_and_gradients, loss, w0, X_train, X_test, epochs=setting["epochs"], batch=setting["batch"],
        lr=setting["lr"],
    )  # fmt: skip
    baseline = float(np.mean((X_test - X_train.mean(axis=1, keepdims=True)) ** 2))
    print(f"{'epoch':>6} {'training loss':>14} {'held-out loss':>14}")
    shown = sorted({0, 1, *range(0, setting["epochs"] + 1, max(1, setting["epochs"] // 10)), setting["epochs"]})
    for epoch in shown:
        print(f"{epoch:>6} {train_loss[epoch]:>14.5f} {test_loss[epoch]:>14.5f}")
    print(f"Adam training time: {adam_seconds:.2f} s. Predicting the mean training image: held-out loss {baseline:.5f}")

    # The full-batch alternative: scipy's L-BFGS-B with matdiff's gradients.
    start = time.perf_counter()
    result = md.minimize(f, w0, data={"X": X_train}, method="L-BFGS-B", maxiter=setting["lbfgs_maxiter"])
    lbfgs_seconds = time.perf_counter() - start
    w_lbfgs = result.x
    lbfgs = {"train": float(result.fun), "test": loss(w_lbfgs, X_test), "nit": result.nit}
    print(f"\nmd.minimize ({result.method}, full batch, maxiter {setting['lbfgs_maxiter']}): {result.nit} iterations, "
          f"{result.nfev} evaluations, {lbfgs_seconds:.2f} s; {result.message}")  # fmt: skip
    marks = [i for i in (10, 100, 300, 1000, 2000, 3000) if i < len(result.history)]
    print("objective after " + ", ".join(f"{i} iterations {result.history[i]:.5f}" for i in marks))
    print(f"\n{'':>27} {'training loss':>14} {'held-out loss':>14} {'time (s)':>9}")
    print(f"{'Adam, ' + str(setting['epochs']) + ' epochs':>27} {train_loss[-1]:>14.5f} {test_loss[-1]:>14.5f} "
          f"{adam_seconds:>9.2f}")  # fmt: skip
    print(f"{'L-BFGS-B, ' + str(result.nit) + ' iterations':>27} {lbfgs['train']:>14.5f} {lbfgs['test']:>14.5f} "
          f"{lbfgs_seconds:>9.2f}")  # fmt: skip
    print("(Adam's time leaves out the per-epoch loss evaluations; L-BFGS-B's includes md.minimize's set-up)")

    if not options.no_figures:
        options.figures.mkdir(parents=True, exist_ok=True)
        args_text = f"{X_train.shape[1]} training images, minibatches of {setting['batch']}"
        loss_png = options.figures / "autoencoder-loss.png"
        plot_loss(loss_png, train_loss, test_loss, baseline, lbfgs, args_text)
        # one held-out image of each digit 0..9
        pick = [int(np.flatnonzero(y_test == d)[0]) for d in range(10) if np.any(y_test == d)]
        originals = X_test[:, pick]
        recon_png = options.figures / "autoencoder-reconstructions.png"
        plot_reconstructions(recon_png, originals, [
            ("Adam", reconstruct(w_adam, originals)), ("L-BFGS-B", reconstruct(w_lbfgs, originals)),
        ])  # fmt: skip
        print(f"\nfigures: {loss_png}, {recon_png}")

    return {
        "train_loss": train_loss,
        "test_loss": test_loss,
        "baseline_test_loss": baseline,
        "adam_seconds": adam_seconds,
        "lbfgs_train_loss": lbfgs["train"],
        "lbfgs_test_loss": lbfgs["test"],
        "lbfgs_nit": result.nit,
        "lbfgs_seconds": lbfgs_seconds,
        "grad_error_torch": error_torch,
        "grad_error_fd": error_fd,
        "seconds_per_call_matdiff": seconds_md,
        "seconds_per_call_torch": seconds_torch,
        "weights_adam": w_adam,
        "weights_lbfgs": w_lbfgs,
        "X_train": X_train,
        "X_test": X_test,
    }


if __name__ == "__main__":
    main()
