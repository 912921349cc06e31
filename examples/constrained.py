"""Constrained least squares written as an expression plus constraints, solved by md.minimize.

The model is text ("GENO-style": the objective, the bounds and the constraints as one writes them on paper);
matdiff derives the gradient (and the Hessians and constraint Jacobians the chosen method needs) and
scipy.optimize solves. Three problems, each checked against a solver written for it alone:

(a) Non-negative least squares, ``norm2(A*x - b)^2`` with x >= 0: one handwritten digit (an 8x8 image from
    scikit-learn's bundled digits data) written as a non-negative combination of 50 other digit images, five
    of each class. The non-negativity makes the combination sparse and, mostly, of images of the same digit.
    Reference: scipy.optimize.nnls (the active-set method of Lawson and Hanson, 1974).
(b) Least squares on the probability simplex, ``norm2(A*w - b)^2`` with sum(w) == 1 and w >= 0: a test image
    as a convex combination of the ten class-mean images (prototypes). Reference: projected gradient with the
    sort-based Euclidean projection onto the simplex (Held, Wolfe and Crowder 1974; Duchi, Shalev-Shwartz,
    Singer and Chandra 2008), written below.
(c) Least squares in a ball, ``norm2(A*x - b)^2`` with ``norm2(x)^2 <= r^2`` (a nonlinear constraint): the
    diabetes regression with the coefficient vector's length limited. Reference: the KKT conditions give
    (A'A + mu*I) x = A'b with |x| = r, solved for the multiplier mu by bisection (ridge regression whose
    penalty is chosen by the radius).

Run:  python examples/constrained.py            (the full run: writes docs/figures/constrained-*.png)
      python examples/constrained.py --small    (fewer test images and repetitions: the CI setting)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from scipy.optimize import nnls
from sklearn.datasets import load_diabetes, load_digits

import matdiff as md

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"
ZERO = 1e-8  # a coefficient at most this is counted as on its bound x = 0


def timed(solve: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    """The result of solve() and its best wall time over `repeats` runs (each md.minimize call derives and
    compiles its derivatives afresh, so the time includes that)."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = solve()
        best = min(best, time.perf_counter() - start)
    return result, best


def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    return data.data / 16.0, data.target  # pixel intensities in [0, 1], one 8x8 image a row


# ---------------------------------------------------------------------------------------------
# (a) Non-negative least squares


def nnls_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A: 64 x 50, the first five images of each digit as columns; b: the first 3 not among them."""
    images, labels = digits()
    chosen = np.concatenate([np.flatnonzero(labels == k)[:5] for k in range(10)])
    others = np.setdiff1d(np.arange(len(labels)), chosen)
    target = int(others[labels[others] == 3][0])
    # 50 columns, 64 rows and full column rank: the NNLS solution is unique, so coefficients can be compared
    return images[chosen].T, images[target], labels[chosen], target


def part_nnls(repeats: int) -> dict[str, Any]:
    A, b, dictionary_labels, target = nnls_problem()
    (x_ref, residual), t_ref = timed(lambda: nnls(A, b), repeats)
    f_ref = residual**2
    print("(a) Non-negative least squares: digit image", target, "as a non-negative combination of 50 others")
    print(f"    A {A.shape}, rank {np.linalg.matrix_rank(A)}, condition number {np.linalg.cond(A):.0f}")
    print(f"    scipy.optimize.nnls: objective {f_ref:.12f}, {np.sum(x_ref == 0)} coefficients at 0, "
          f"{t_ref * 1e3:.2f} ms")  # fmt: skip
    settings = [  # (label, method, tol)
        ("default", None, None),
        ("default, tol=1e-12", None, 1e-12),
        ("L-BFGS-B", "L-BFGS-B", None),
        ("SLSQP", "SLSQP", None),
        ("trust-constr", "trust-constr", None),
        ("trust-constr, tol=1e-12", "trust-constr", 1e-12),
    ]
    runs = {}
    print(f"    {'setting':<24}{'method':<14}{'nit':>5}{'objective - nnls':>18}{'max|x - x_nnls|':>17}"
          f"{'x == 0':>8}{'x <= 1e-8':>11}{'ms':>8}")  # fmt: skip
    for label, method, tol in settings:
        r, seconds = timed(
            lambda method=method, tol=tol: md.minimize(
                "norm2(A*x - b)^2", {"x": np.zeros(A.shape[1])}, data={"A": A, "b": b}, bounds={"x": (0, None)},
                method=method, tol=tol,
            ),
            repeats,
        )  # fmt: skip
        x = r.x["x"]
        runs[label] = {"x": x, "fun": r.fun, "nit": r.nit, "method": r.method, "time": seconds, "success": r.success,
                       "error": float(np.max(np.abs(x - x_ref))), "gap": r.fun - f_ref,
                       "zeros": int(np.sum(x == 0)), "active": int(np.sum(x <= ZERO))}  # fmt: skip
        run = runs[label]
        print(f"    {label:<24}{r.method:<14}{r.nit:>5}{run['gap']:>18.2e}{run['error']:>17.2e}{run['zeros']:>8}"
              f"{run['active']:>11}{seconds * 1e3:>8.1f}" + ("" if r.success else f"  ({r.message})"))  # fmt: skip
    weights = x_ref / x_ref.sum()
    classes = {k: float(weights[dictionary_labels == k].sum()) for k in range(10)}
    print(f"    share of the coefficients on images of a 3: {classes[3]:.2f} (by nnls)")
    return {"A": A, "b": b, "labels": dictionary_labels, "target": target, "reference": x_ref, "reference_fun": f_ref,
            "reference_time": t_ref, "runs": runs, "share_of_3": classes[3]}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# (b) Least squares on the probability simplex


def simplex_projection(v: np.ndarray) -> np.ndarray:
    """The Euclidean projection of v onto {w : w >= 0, sum(w) = 1}, by sorting.

    With u = v sorted in decreasing order, rho the largest j with u_j - (u_1 + ... + u_j - 1)/j > 0 and
    theta = (u_1 + ... + u_rho - 1)/rho, the projection is max(v - theta, 0) (Held, Wolfe and Crowder 1974;
    Duchi, Shalev-Shwartz, Singer and Chandra, "Efficient projections onto the l1-ball", ICML 2008).
    """
    u = np.sort(v)[::-1]
    excess = np.cumsum(u) - 1
    rho = np.flatnonzero(u - excess / np.arange(1, len(v) + 1) > 0)[-1]
    return np.maximum(v - excess[rho] / (rho + 1), 0)


def projected_gradient(A: np.ndarray, b: np.ndarray, tol: float = 1e-15, maxiter: int = 200_000) -> np.ndarray:
    """min |A w - b|^2 on the simplex: w <- P(w - grad/L), L = 2 |A|_2^2 the gradient's Lipschitz constant,
    until a step moves no coordinate by more than tol."""
    step = 1 / (2 * np.linalg.norm(A, 2) ** 2)
    w = np.full(A.shape[1], 1 / A.shape[1])
    for _ in range(maxiter):
        updated = simplex_projection(w - step * 2 * A.T @ (A @ w - b))
        if np.max(np.abs(updated - w)) <= tol:
            return updated
        w = updated
    raise RuntimeError("projected gradient did not converge")


def simplex_problem(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A: the ten class means of the first half of the digits (64 x 10); B: `count` test images from the second
    half (rows), the first of digit 0, 1, 2, ... in turn; and their labels."""
    images, labels = digits()
    half = len(labels) // 2
    A = np.stack([images[:half][labels[:half] == k].mean(axis=0) for k in range(10)], axis=1)
    rows = [half + int(np.flatnonzero(labels[half:] == k % 10)[k // 10]) for k in range(count)]
    return A, images[rows], labels[rows]


def part_simplex(count: int, repeats: int) -> dict[str, Any]:
    A, B, labels = simplex_problem(count)
    print(f"\n(b) Least squares on the simplex: {count} test images as convex combinations of the 10 class means")
    spellings = {  # the same model, spelled three ways
        "bounds": {"constraints": ["sum(w) == 1"], "bounds": {"w": (0, None)}},
        "w >= 0": {"constraints": ["sum(w) == 1", "w >= 0"]},
        "trust-constr": {"constraints": ["sum(w) == 1"], "bounds": {"w": (0, None)}, "method": "trust-constr"},
        "trust-constr, tol=1e-12": {"constraints": ["sum(w) == 1"], "bounds": {"w": (0, None)},
                                    "method": "trust-constr", "tol": 1e-12},
    }  # fmt: skip
    weights = {name: np.zeros((count, 10)) for name in ["reference", *spellings]}
    times = {name: 0.0 for name in weights}
    nits: dict[str, list[int]] = {name: [] for name in spellings}
    methods = {}
    for i, b in enumerate(B):
        weights["reference"][i], seconds = timed(lambda b=b: projected_gradient(A, b), repeats)
        times["reference"] += seconds
        for name, options in spellings.items():
            r, seconds = timed(
                lambda b=b, options=options: md.minimize(
                    "norm2(A*w - b)^2", {"w": np.full(10, 0.1)}, data={"A": A, "b": b}, **options
                ),
                repeats,
            )
            weights[name][i] = r.x["w"]
            times[name] += seconds
            nits[name].append(r.nit)
            methods[name] = r.method
            if not r.success:
                print(f"    image {i}, {name}: {r.message}")
    reference = weights["reference"]

    def objective(W: np.ndarray) -> np.ndarray:
        return np.sum((W @ A.T - B) ** 2, axis=1)

    print(f"    {'spelling':<36}{'method':<14}{'nit':>7}{'max|w - w_ref|':>16}{'rel. objective gap':>20}"
          f"{'max w where w_ref = 0':>23}{'zeros agree':>13}{'ms':>8}")  # fmt: skip
    print(f"    {'projected gradient (reference)':<36}{'':<14}{'':>7}{'':>16}{'':>20}{'':>23}{'':>13}"
          f"{times['reference'] * 1e3:>8.1f}")  # fmt: skip
    summary = {}
    for name in spellings:
        W = weights[name]
        error = float(np.max(np.abs(W - reference)))
        gap = float(np.max((objective(W) - objective(reference)) / objective(reference)))
        inactive = float(np.max(W[reference == 0]))
        agree = int(np.sum(np.all((W <= ZERO) == (reference <= ZERO), axis=1)))
        summary[name] = {"error": error, "gap": gap, "agree": agree, "method": methods[name], "time": times[name],
                         "nit": nits[name], "inactive": inactive}  # fmt: skip
        label = {"bounds": 'sum(w) == 1, bounds w >= 0', "w >= 0": 'sum(w) == 1, "w >= 0"',
                 "trust-constr": 'bounds, method="trust-constr"',
                 "trust-constr, tol=1e-12": 'bounds, "trust-constr", tol=1e-12'}[name]  # fmt: skip
        print(f"    {label:<36}{methods[name]:<14}{f'{min(nits[name])}-{max(nits[name])}':>7}{error:>16.2e}{gap:>20.2e}"
              f"{inactive:>23.1e}{f'{agree}/{count}':>13}{times[name] * 1e3:>8.1f}")  # fmt: skip
    print(f"    the reference's weights at 0 per image: {np.sum(reference == 0, axis=1).tolist()}")
    nearest = np.argmax(reference, axis=1)
    print(f"    largest weight on the image's own class: {int(np.sum(nearest == labels))} of {count}")
    return {"A": A, "B": B, "labels": labels, "weights": weights, "times": times, "summary": summary}


# ---------------------------------------------------------------------------------------------
# (c) Least squares in a ball: a nonlinear constraint


def ball_reference(A: np.ndarray, b: np.ndarray, radius: float) -> tuple[np.ndarray, float]:
    """min |A x - b|^2 with |x| <= r, for r below the length of the least-squares solution: the KKT conditions
    give (A'A + mu I) x = A'b with mu > 0 and |x(mu)| = r, and |x(mu)| decreases in mu: bisection on mu."""
    G, h = A.T @ A, A.T @ b
    eye = np.eye(len(h))

    def length(mu: float) -> float:
        return float(np.linalg.norm(np.linalg.solve(G + mu * eye, h)))

    low, high = 0.0, 1.0
    while length(high) > radius:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if length(middle) > radius else (low, middle)
    mu = (low + high) / 2
    return np.linalg.solve(G + mu * eye, h), mu


def part_ball(repeats: int) -> dict[str, Any]:
    X, y = load_diabetes(return_X_y=True)
    A = (X - X.mean(axis=0)) / X.std(axis=0)
    b = (y - y.mean()) / y.std()
    radius = 0.5  # the least-squares solution has length 0.85, so the constraint is active
    x_ref, mu = ball_reference(A, b, radius)
    f_ref = float(np.sum((A @ x_ref - b) ** 2))
    print(f"\n(c) Least squares in a ball: diabetes (A {A.shape}, standardised), |x| <= {radius}")
    print(f"    |x_lstsq| = {np.linalg.norm(np.linalg.lstsq(A, b, rcond=None)[0]):.3f}; reference: bisection "
          f"gives mu = {mu:.6f} (ridge penalty)")  # fmt: skip
    runs = {}
    for label, method, tol in (("default", None, None), ("trust-constr", "trust-constr", None),
                               ("trust-constr, tol=1e-12", "trust-constr", 1e-12)):  # fmt: skip
        r, seconds = timed(
            lambda method=method, tol=tol: md.minimize(
                "norm2(A*x - b)^2", {"x": np.zeros(A.shape[1])}, data={"A": A, "b": b},
                constraints=[f"norm2(x)^2 <= {radius**2}"], method=method, tol=tol,
            ),
            repeats,
        )  # fmt: skip
        x = r.x["x"]
        runs[label] = {"x": x, "method": r.method, "nit": r.nit, "time": seconds, "success": r.success,
                       "error": float(np.max(np.abs(x - x_ref))), "gap": (r.fun - f_ref) / f_ref,
                       "length": float(np.linalg.norm(x))}  # fmt: skip
        run = runs[label]
        print(f"    {label:<24}{r.method:<14}{r.nit:>4} iterations, max|x - x_ref| {run['error']:.1e}, relative "
              f"objective gap {run['gap']:+.1e}, |x| - r {run['length'] - radius:+.1e}, {seconds * 1e3:.1f} ms"
              + ("" if r.success else f" ({r.message})"))  # fmt: skip
    return {"A": A, "b": b, "radius": radius, "reference": x_ref, "mu": mu, "runs": runs}


# ---------------------------------------------------------------------------------------------
# Figures


def figure_nnls(result: dict[str, Any], path: Path) -> None:
    A, b, labels, x_ref = result["A"], result["b"], result["labels"], result["reference"]
    x = result["runs"]["default"]["x"]
    method = result["runs"]["default"]["method"]
    fig = plt.figure(figsize=(10, 5.6))
    grid = fig.add_gridspec(2, 6, height_ratios=[1.5, 1])
    ax = fig.add_subplot(grid[0, :])
    index = np.arange(len(x))
    ax.vlines(index, 0, x_ref, color="0.6", linewidth=3, label="scipy.optimize.nnls")
    ax.plot(index, x, "o", color="C0", markersize=4, label=f"md.minimize ({method})")
    for k in range(1, 10):
        ax.axvline(5 * k - 0.5, color="0.85", linewidth=0.8)
    ax.set_xticks(5 * np.arange(10) + 2, [f"digit {k}" for k in range(10)], fontsize=8)
    ax.set_xlim(-0.7, len(x) - 0.3)
    ax.set_ylabel("coefficient x_i")
    ax.set_xlabel("dictionary image (five of each digit)")
    ax.set_title("Non-negative least squares: a handwritten 3 as a non-negative combination of 50 digit images")
    ax.legend(loc="upper left")
    order = np.argsort(x_ref)[::-1][:4]
    panels = [(b, "the image b"), (A @ x_ref, "A*x (nnls)")] + [
        (A[:, i], f"x = {x_ref[i]:.2f} (a {labels[i]})") for i in order
    ]
    for k, (image, title) in enumerate(panels):
        axis = fig.add_subplot(grid[1, k])
        axis.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axis.set_title(title, fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figure_simplex(result: dict[str, Any], path: Path) -> None:
    A, B, labels, weights = result["A"], result["B"], result["labels"], result["weights"]
    W, reference = weights["bounds"], weights["reference"]
    count = len(B)
    fig, axes = plt.subplots(3, count, figsize=(1.25 * count + 0.6, 4.6),
                             gridspec_kw={"height_ratios": [1, 1, 1.1]})  # fmt: skip
    axes = np.asarray(axes).reshape(3, count)
    for i in range(count):
        for row, image in ((0, B[i]), (1, A @ W[i])):
            axes[row, i].imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            axes[row, i].set_xticks([])
            axes[row, i].set_yticks([])
        axes[0, i].set_title(f"a {labels[i]}", fontsize=9)
        bars = axes[2, i]
        bars.bar(np.arange(10), W[i], color="C0", label="md.minimize")
        bars.plot(np.arange(10), reference[i], "_", color="k", markersize=7, markeredgewidth=1.5,
                  label="projected gradient")  # fmt: skip
        bars.set_ylim(0, 1)
        bars.set_xticks(range(10), [str(k) for k in range(10)], fontsize=6)
        bars.tick_params(axis="y", labelsize=6)
        if i:
            bars.set_yticklabels([])
    axes[0, 0].set_ylabel("image b", fontsize=9)
    axes[1, 0].set_ylabel("A*w", fontsize=9)
    axes[2, 0].set_ylabel("weight w_k", fontsize=9)
    axes[2, count // 2].set_xlabel("class mean k", fontsize=9)
    handles, names = axes[2, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower right", fontsize=8, ncol=2)
    separator = " " if count >= 8 else "\n"
    fig.suptitle(f"Least squares on the simplex:{separator}test images as convex combinations of the 10 class-mean "
                 "images", fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="fewer test images and one timing run (CI)")
    parser.add_argument("--figures", type=Path, default=FIGURES, help="where to write the PNG files")
    parser.add_argument("--no-figures", action="store_true", help="write no figures")
    args = parser.parse_args(argv)
    repeats = 1 if args.small else 5
    count = 4 if args.small else 10
    result = {"nnls": part_nnls(repeats), "simplex": part_simplex(count, repeats), "ball": part_ball(repeats)}
    if not args.no_figures:
        args.figures.mkdir(parents=True, exist_ok=True)
        figure_nnls(result["nnls"], args.figures / "constrained-nnls.png")
        figure_simplex(result["simplex"], args.figures / "constrained-simplex.png")
        print(f"\nfigures written to {args.figures}")
    return result


if __name__ == "__main__":
    main()
