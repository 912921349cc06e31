"""L2-regularised logistic regression on data in chunks: matdiff's derivatives, compiled for Dask arrays.

The objective, with labels y_i in {-1, +1},

    f(w) = sum(log(1 + exp(-y.*(X*w)))) + lam/2*norm2(w)^2,

is differentiated by matdiff (gradient and Hessian) and compiled once with ``md.compile(...,
backend="array_api")``. The generated functions take their array namespace from their inputs (through
array-api-compat), so called with ``dask.array`` arrays they return lazy Dask arrays: a task graph over the
row chunks of X and y, which ``dask.compute`` runs chunk by chunk. Only p-sized results (the value, the
gradient, the p x p Hessian) come back to the driver, where the optimiser runs.

Two drivers are compared, counting the passes over the data (each ``dask.compute`` call reads every chunk once;
the value, gradient and Hessian are computed together so their common graph is traversed once):

- Newton's method with the exact Hessian X'*diag(d)*X + lam*I, a p x p matrix summed over the chunks: a
  handful of passes;
- scipy.optimize.minimize(method="L-BFGS-B", jac=True) on value and gradient: more, cheaper passes.

Both are checked against md.minimize on the same data in memory (NumPy) and against scikit-learn's
LogisticRegression(C=1/lam, fit_intercept=False), which minimises the same function.

Data: the breast-cancer data (569 x 30, standardised), and a synthetic set generated chunk by chunk by
``dask.array.random`` from a fixed seed (200,000 x 20 in the full run, 20,000 x 20 with --small), 8 row chunks
each. The full run uses a ``distributed.LocalCluster`` (2 workers of one thread each, in this process); --small
uses Dask's threaded scheduler. Choose with --scheduler.

Run:  python examples/dask_logistic.py           (the full run; writes docs/figures/dask_logistic-convergence.png)
      python examples/dask_logistic.py --small   (the CI setting)
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import matplotlib
import numpy as np
import scipy.optimize
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import matdiff as md

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"
OBJECTIVE = "sum(log(1 + exp(-y.*(X*w)))) + lam/2*norm2(w)^2"
KINDS = {"X": "matrix", "y": "vector", "w": "vector", "lam": "scalar"}
ARGS = ["w", "X", "y", "lam"]
CHUNKS = 8


# ---------------------------------------------------------------------------------------------
# The derivatives, derived once and compiled for any array-API namespace


def derivatives() -> dict[str, Any]:
    f = md.parse(OBJECTIVE, **KINDS)
    gradient = md.diff(f, "w")
    hessian = md.diff(f, "w", "w")
    return {
        "f": f, "gradient": gradient, "hessian": hessian,
        "value_gradient": md.compile(f, gradient, args=ARGS, backend="array_api"),
        "newton_terms": md.compile(f, gradient, hessian, args=ARGS, backend="array_api"),
    }  # fmt: skip


class ChunkedObjective:
    """f, its gradient and Hessian on Dask arrays X, y; counts the passes over the data (dask.compute calls)."""

    def __init__(self, X: da.Array, y: da.Array, lam: float, compiled: dict[str, Any]) -> None:
        self.X, self.y, self.lam = X, y, lam
        self.compiled = compiled
        self.passes = 0

    def _compute(self, function: Any, w: np.ndarray) -> tuple[np.ndarray, ...]:
        self.passes += 1
        # w goes in as a (one-chunk) Dask array: array-api-compat needs one namespace for all the inputs
        lazy = function(da.from_array(np.asarray(w, dtype=float)), self.X, self.y, self.lam)
        return dask.compute(*lazy)  # one traversal of the graph: each chunk of X and y is produced once

    def value_gradient(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = self._compute(self.compiled["value_gradient"], w)
        return float(value), np.asarray(gradient)

    def newton_terms(self, w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        value, gradient, hessian = self._compute(self.compiled["newton_terms"], w)
        return float(value), np.asarray(gradient), np.asarray(hessian)


def newton(objective: ChunkedObjective, p: int, tol: float = 1e-10, maxiter: int = 50) -> dict[str, Any]:
    """Newton's method with a backtracking (Armijo) line search.

    Each iteration solves H d = -g on the driver (p x p) and costs one pass over the data for f, g and H at the
    next point; a rejected step costs one more. It stops when the Newton decrement g'H^{-1}g / 2, which
    estimates f(w) - min f, is at most tol * |f(w)|, and then takes that last Newton step (no pass needed).
    """
    w = np.zeros(p)
    value, gradient, hessian = objective.newton_terms(w)
    history = [value]  # f after each pass
    for iteration in range(1, maxiter + 1):
        step = -np.linalg.solve(hessian, gradient)
        decrement = -gradient @ step / 2
        if decrement <= tol * abs(value):
            return {"w": w + step, "history": history, "iterations": iteration, "decrement": decrement}
        t = 1.0
        while True:
            trial = objective.newton_terms(w + t * step)
            history.append(trial[0])
            if trial[0] <= value - 0.25 * t * 2 * decrement or t < 1e-8:  # sufficient decrease
                break
            t /= 2
        w = w + t * step
        value, gradient, hessian = trial
    raise RuntimeError("Newton's method did not converge")


def lbfgs(objective: ChunkedObjective, p: int, tol: float = 1e-12) -> dict[str, Any]:
    """scipy's L-BFGS-B on value and gradient: one pass over the data per function evaluation."""
    history: list[float] = []

    def fun(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = objective.value_gradient(w)
        history.append(value)
        return value, gradient

    result = scipy.optimize.minimize(fun, np.zeros(p), jac=True, method="L-BFGS-B", tol=tol,
                                     options={"maxiter": 1000})  # fmt: skip
    return {"w": result.x, "history": history, "iterations": int(result.nit), "success": bool(result.success),
            "message": str(result.message)}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Data


def breast_cancer() -> tuple[da.Array, da.Array]:
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    rows = -(-len(y) // CHUNKS)
    return da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(2.0 * y - 1, chunks=rows)


def synthetic(n: int, p: int, seed: int = 0) -> tuple[da.Array, da.Array]:
    """X with standard normal entries and y in {-1, +1} with P(y = 1) = sigmoid(x'w_true), generated lazily chunk
    by chunk: the data never exist in full on the driver. The same seed (and chunks) gives the same data."""
    rows = -(-n // CHUNKS)
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((n, p), chunks=(rows, p))
    w_true = np.random.default_rng(seed).normal(size=p)
    u = rng.random(n, chunks=rows)
    y = da.where(u < 1 / (1 + da.exp(-(X @ w_true))), 1.0, -1.0)
    return X, y


# ---------------------------------------------------------------------------------------------
# The fit and its checks


def fit(name: str, X: da.Array, y: da.Array, lam: float, compiled: dict[str, Any]) -> dict[str, Any]:
    n, p = X.shape
    print(f"\n{name}: X {n} x {p} in {X.numblocks[0]} row chunks of {X.chunks[0][0]}, lam = {lam}")
    objective = ChunkedObjective(X, y, lam, compiled)
    start = time.perf_counter()
    by_newton = newton(objective, p)
    newton_time, newton_passes = time.perf_counter() - start, objective.passes

    objective.passes = 0
    start = time.perf_counter()
    by_lbfgs = lbfgs(objective, p)
    lbfgs_time, lbfgs_passes = time.perf_counter() - start, objective.passes

    # the references, on the data in memory (the only place the example materialises X)
    X_in_memory, y_in_memory = (np.asarray(a) for a in dask.compute(X, y))
    start = time.perf_counter()
    r = md.minimize(OBJECTIVE, {"w": np.zeros(p)}, data={"X": X_in_memory, "y": y_in_memory, "lam": lam})
    md_time = time.perf_counter() - start
    start = time.perf_counter()
    model = LogisticRegression(C=1 / lam, fit_intercept=False, solver="newton-cholesky", tol=1e-10, max_iter=100)
    model.fit(X_in_memory, y_in_memory)
    sklearn_time = time.perf_counter() - start
    w_md, w_sklearn = r.x["w"], model.coef_.ravel()

    def f_numpy(w: np.ndarray) -> float:  # the objective in NumPy, for the table
        return float(np.sum(np.logaddexp(0, -y_in_memory * (X_in_memory @ w))) + lam / 2 * w @ w)

    scale = np.max(np.abs(w_md))
    rows = [
        ("Newton, Dask", by_newton["w"], newton_passes, by_newton["iterations"], newton_time),
        ("L-BFGS-B, Dask", by_lbfgs["w"], lbfgs_passes, by_lbfgs["iterations"], lbfgs_time),
        (f"md.minimize ({r.method}), NumPy", w_md, None, r.nit, md_time),
        ("sklearn (newton-cholesky)", w_sklearn, None, int(model.n_iter_[0]), sklearn_time),
    ]
    print(f"    {'solver':<34}{'passes':>7}{'iterations':>12}{'objective':>20}{'max|w - w_md|/max|w_md|':>26}{'s':>8}")
    for label, w, passes, iterations, seconds in rows:
        shown = "" if passes is None else str(passes)
        print(f"    {label:<34}{shown:>7}{iterations:>12}{f_numpy(w):>20.10f}{np.max(np.abs(w - w_md)) / scale:>26.1e}"
              f"{seconds:>8.2f}")  # fmt: skip
    print(f"    L-BFGS-B stopped: {by_lbfgs['message']}")
    return {
        "X": X_in_memory, "y": y_in_memory, "lam": lam,
        "newton": by_newton["w"], "newton_passes": newton_passes, "newton_history": by_newton["history"],
        "newton_time": newton_time,
        "lbfgs": by_lbfgs["w"], "lbfgs_passes": lbfgs_passes, "lbfgs_history": by_lbfgs["history"],
        "lbfgs_time": lbfgs_time,
        "md": w_md, "md_method": r.method, "md_time": md_time, "md_fun": r.fun,
        "sklearn": w_sklearn, "sklearn_time": sklearn_time,
    }  # fmt: skip


@contextlib.contextmanager
def scheduler(name: str) -> Iterator[None]:
    """Dask's threaded or synchronous scheduler, or a distributed.LocalCluster of 2 single-thread workers inside
    this process (closed on exit)."""
    if name != "distributed":
        with dask.config.set(scheduler=name):
            yield
        return
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        with Client(cluster):
            yield


def figure(results: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.8))
    for ax, (name, result) in zip(np.atleast_1d(axes), results.items()):
        best = min(result["md_fun"], *result["newton_history"], *result["lbfgs_history"])
        floor = 1e-16 * abs(best)
        for key, label, style in (("newton_history", "Newton (exact Hessian)", "o-"),
                                  ("lbfgs_history", "L-BFGS-B (gradient)", ".-")):  # fmt: skip
            gaps = np.maximum(np.array(result[key]) - best, floor) / abs(best)
            ax.semilogy(np.arange(1, len(gaps) + 1), gaps, style, label=label, markersize=4)
        ax.set_xlabel("passes over the data (dask.compute calls)")
        ax.set_ylabel("(f - f*) / |f*|")
        n, p = result["X"].shape
        ax.set_title(f"{name} ({n:,} x {p}, {CHUNKS} chunks)", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend()
    fig.suptitle("L2-regularised logistic regression on Dask arrays: objective after each pass", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="20,000 synthetic rows instead of 200,000 (CI)")
    parser.add_argument("--figures", type=Path, default=FIGURES, help="where to write the PNG file")
    parser.add_argument("--no-figures", action="store_true", help="write no figure")
    parser.add_argument("--scheduler", choices=["distributed", "threads", "synchronous"], default=None,
                        help="Dask scheduler (default: distributed, or threads with --small)")  # fmt: skip
    args = parser.parse_args(argv)
    name = args.scheduler or ("threads" if args.small else "distributed")
    compiled = derivatives()
    print("objective:", compiled["f"])
    print("gradient: ", compiled["gradient"])
    print("Hessian:  ", compiled["hessian"].to_text(shared=True).replace("\n", "\n           "))
    print(f"Dask scheduler: {name}")
    n = 20_000 if args.small else 200_000
    with scheduler(name):
        results = {
            "breast cancer": fit("breast cancer", *breast_cancer(), 1.0, compiled),
            "synthetic": fit("synthetic", *synthetic(n, 20), 1.0, compiled),
        }
    if not args.no_figures:
        args.figures.mkdir(parents=True, exist_ok=True)
        figure(results, args.figures / "dask_logistic-convergence.png")
        print(f"\nfigure written to {args.figures}")
    return {"scheduler": name, **results}


if __name__ == "__main__":
    main()
