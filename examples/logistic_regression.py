"""L2-regularised logistic regression: matdiff's gradient and Hessian, md.minimize against scikit-learn.

With labels y in {-1, +1}, features X (one row per sample), weights w and an intercept b, the penalised
negative log-likelihood is

    sum(log(1 + exp(-y.*(X*w + b*vector(1))))) + lam/2*norm2(w)^2

The intercept b is a separate scalar and is NOT penalised: a penalty on b would pull the decision boundary
towards the origin of the (standardised) features for no statistical reason, and it is what scikit-learn's
LogisticRegression(C=1/lam) minimises with its lbfgs, newton-cg and newton-cholesky solvers (only liblinear
penalises its intercept; this script checks the claim by fitting the penalised variant too). scikit-learn
scales the whole objective by 1/lam (it minimises C*loss + norm2(w)^2/2), which moves no minimiser.

The data are scikit-learn's breast-cancer set (569 tumours, 30 features; y = +1 benign, -1 malignant), split
75/25 into training and test sets (stratified, fixed seed). The features are standardised with the mean and
standard deviation of the training set only, so that nothing of the test set leaks into the fit.

The script prints the derivatives matdiff derives, fits with md.minimize (its default method, methods with
the exact Hessian, and L-BFGS-B without one) and with scikit-learn's three solvers at a tight tolerance, and
compares coefficients, objective values, test accuracy and the time to a solution (median over repeats;
md.minimize's time includes deriving and compiling the gradient and Hessian, reported separately too).

Run it from the repository root (scikit-learn, scipy and matplotlib: pip install 'matdiff[examples]'), with
single-threaded BLAS for steady times:

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python examples/logistic_regression.py    # figures in docs/figures
    python examples/logistic_regression.py --small --no-figures                        # one repeat
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

import matdiff as md

NAME = "logistic_regression"
MODEL = "sum(log(1 + exp(-y.*(X*w + b*vector(1))))) + lam/2*norm2(w)^2"
KINDS = {"X": "matrix", "y": "vector", "w": "vector", "b": "scalar", "lam": "scalar"}
LAM = 1.0  # the regularisation strength (scikit-learn's C = 1/LAM = 1, its default)
SEED = 0
FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"

# md.minimize's runs: (label, method, tol). Each tolerance is one at which the method stops at the optimum (w to
# about 1e-6 relative or better) and still reports success. Asked for more (tol=1e-10), scipy's trust-exact
# reports "A bad approximation caused failure to predict improvement" on the full data and Newton-CG "Desired
# error not necessarily achieved due to precision loss" on --small's, both at the optimum: near it, the
# decrease their model predicts falls below the rounding of the objective's value.
MD_RUNS = [
    ("default", None, None),
    ("trust-exact", "trust-exact", 1e-8),
    ("Newton-CG", "Newton-CG", 1e-8),
    ("L-BFGS-B", "L-BFGS-B", 1e-12),
]
HESSIAN_METHODS = {"Newton-CG", "trust-constr", "dogleg", "trust-ncg", "trust-exact", "trust-krylov"}
SKLEARN_SOLVERS = ["lbfgs", "newton-cg", "newton-cholesky"]
SKLEARN_TOL = 1e-10


def load(small: bool) -> dict:
    """Training and test sets, standardised with the training mean and standard deviation; y in {-1, +1}."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    X, target = data.data, data.target
    if small:  # every second sample: the CI setting
        X, target = X[::2], target[::2]
    X_train, X_test, t_train, t_test = train_test_split(X, target, test_size=0.25, random_state=SEED, stratify=target)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return {
        "X": (X_train - mean) / std,
        "y": 2.0 * t_train - 1.0,
        "X_test": (X_test - mean) / std,
        "y_test": 2.0 * t_test - 1.0,
        "t": t_train,
        "features": list(data.feature_names),
    }


def objective(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, lam: float = LAM) -> float:
    """The model's objective in NumPy (log(1 + exp(z)) as logaddexp(0, z), exact for any z): every solver's
    answer is scored by this one function."""
    return float(np.sum(np.logaddexp(0.0, -y * (X @ w + b))) + lam / 2 * (w @ w))


def accuracy(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    return float(np.mean(np.where(X @ w + b >= 0, 1.0, -1.0) == y))


def race(calls: dict, repeats: int) -> tuple[dict[str, float], dict]:
    """Each call's median seconds over `repeats` rounds, the calls interleaved within a round (so that a slow
    spell of a busy machine hits them all), and each call's last result."""
    times: dict[str, list[float]] = {label: [] for label in calls}
    results = {}
    for _ in range(repeats):
        for label, call in calls.items():
            start = time.perf_counter()
            results[label] = call()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(t) for label, t in times.items()}, results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", action="store_true", help="half the samples and one timing repeat (CI)")
    parser.add_argument("--figures", type=Path, default=FIGURES, help="where the PNG files go")
    parser.add_argument("--no-figures", action="store_true", help="draw nothing")
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats (default 7, --small 1)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.small else 7)

    d = load(args.small)
    X, y = d["X"], d["y"]
    n, p = X.shape
    print(
        f"Breast cancer: {n} training and {len(d['y_test'])} test samples, {p} standardised features; "
        f"lam = {LAM} (scikit-learn C = {1 / LAM:g}).\n"
    )

    # The model and what matdiff derives from it. b*vector(1) is b times a vector of ones of the length
    # the product needs; matdiff prints it as X*w + b (a scalar added to each entry).
    f = md.parse(MODEL, **KINDS)
    derivatives = {
        "df/dw": md.diff(f, "w"),
        "df/db": md.diff(f, "b"),
        "d2f/dw2": md.diff(f, "w", "w"),
        "d2f/dw db": md.diff(f, "w", "b"),
        "d2f/db2": md.diff(f, "b", "b"),
    }
    print(f"f = {f}")
    for label, expr in derivatives.items():
        text = expr.to_text(shared=True).replace("\n", "\n" + " " * (len(label) + 3))
        print(f"{label} = {text}")
    print("(y.*y is 1 for labels in {-1, +1}; matdiff does not know that the labels are signs.)\n")

    # Every solver, timed. md.minimize derives and compiles the gradients (and the Hessian's blocks, for the
    # methods that use them) once per objective and reuses them, so these are the times of repeated solves;
    # the first solve of a new objective adds the derivation and compilation, timed apart ("first call").
    from sklearn.linear_model import LogisticRegression

    data = {"X": X, "y": y, "lam": LAM}
    x0 = {"w": np.zeros(p), "b": 0.0}
    first_call = time.perf_counter()
    md.minimize(MODEL, {"w": np.zeros(p), "b": 0.0}, data={"X": X, "y": y, "lam": LAM})
    first_call = time.perf_counter() - first_call
    calls: dict[str, Any] = {}
    for label, method, tol in MD_RUNS:
        calls[f"md.minimize {label}"] = lambda m=method, t=tol: md.minimize(MODEL, x0, data=data, method=m, tol=t)
    for solver in SKLEARN_SOLVERS:
        # C = 1/lam, and no `penalty` argument: scikit-learn 1.8 deprecated it (l1_ratio=0, its default, is L2)
        model = LogisticRegression(C=1 / LAM, solver=solver, tol=SKLEARN_TOL, max_iter=10_000)
        calls[f"sklearn {solver}"] = lambda m=model: m.fit(X, d["t"])
    seconds, results = race(calls, repeats)

    rows: dict[str, dict] = {}
    for label, _, tol in MD_RUNS:
        result = results[f"md.minimize {label}"]
        uses_hessian = result.method in HESSIAN_METHODS
        rows[f"md.minimize {label}"] = {
            "solver": f"md.minimize {label}" + (f" ({result.method})" if label != result.method else ""),
            "tol": tol,
            "nit": result.nit,
            "seconds": seconds[f"md.minimize {label}"],
            "w": result.x["w"],
            "b": float(result.x["b"]),
            "success": result.success,
            "history": result.history,
            "method": result.method,
            "hessian": uses_hessian,
        }
    default = rows["md.minimize default"]
    print(f"md.minimize with its default method:\n{results['md.minimize default']}\n")
    for solver in SKLEARN_SOLVERS:
        fitted = results[f"sklearn {solver}"]
        rows[f"sklearn {solver}"] = {
            "solver": f"sklearn {solver}",
            "tol": SKLEARN_TOL,
            "nit": int(fitted.n_iter_[0]),
            "seconds": seconds[f"sklearn {solver}"],
            "w": fitted.coef_[0].copy(),
            "b": float(fitted.intercept_[0]),
            "success": int(fitted.n_iter_[0]) < 10_000,
        }

    # The intercept: the same model with b penalised too moves b; scikit-learn agrees with the unpenalised one.
    penalised = md.minimize("sum(log(1 + exp(-y.*(X*w + b*vector(1))))) + lam/2*(norm2(w)^2 + b^2)", x0, data=data)
    lowest = min(objective(X, y, row["w"], row["b"]) for row in rows.values())
    scale = float(np.max(np.abs(default["w"])))
    print(
        "| solver | tol | iterations | time | f - lowest f | max abs diff of w (relative) | "
        "diff of b | test accuracy |"
    )
    print("|:--|--:|--:|--:|--:|--:|--:|--:|")
    for row in rows.values():
        row["fun"] = objective(X, y, row["w"], row["b"])
        row["w_diff"] = float(np.max(np.abs(row["w"] - default["w"])))
        row["b_diff"] = abs(row["b"] - default["b"])
        row["accuracy"] = accuracy(d["X_test"], d["y_test"], row["w"], row["b"])
        tol = "default" if row["tol"] is None else f"{row['tol']:g}"
        print(
            f"| {row['solver']} | {tol} | {row['nit']} | {row['seconds'] * 1e3:.1f} ms | "
            f"{row['fun'] - lowest:.1e} | {row['w_diff']:.1e} ({row['w_diff'] / scale:.1e}) | {row['b_diff']:.1e} | "
            f"{row['accuracy']:.4f} |"
        )
    print(
        f"(differences from md.minimize's default run; max |w| = {scale:.3f}, b = {default['b']:.4f}; "
        f"lowest f = {lowest:.10f}; times are medians of {repeats}; md.minimize's first call, deriving and compiling, "
        f"took {first_call * 1e3:.1f} ms)"
    )
    print(
        f"With b penalised as well, b = {float(penalised.x['b']):.4f} instead of {default['b']:.4f}: "
        f"scikit-learn's b differs from the unpenalised one by at most "
        f"{max(rows[f'sklearn {s}']['b_diff'] for s in SKLEARN_SOLVERS):.1e}.\n"
    )

    measured = {
        "n": n,
        "p": p,
        "lam": LAM,
        "w": default["w"],
        "b": default["b"],
        "method_default": default["method"],
        "rows": {label: {key: value for key, value in row.items() if key != "history"} for label, row in rows.items()},
        "b_penalised": float(penalised.x["b"]),
        "lowest": lowest,
        "figures": [],
    }
    if not args.no_figures:
        measured["figures"] = figures(args.figures, rows, lowest, d["features"])
        for path in measured["figures"]:
            print(f"wrote {path}")
    return measured


def figures(folder: Path, rows: dict, lowest: float, features: list[str]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []

    # Convergence: the objective after each iteration, minus the lowest value any solver reached.
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    floor = 1e-15 * abs(lowest)
    styles = iter(["-", "--", ":", "-."])
    for label, row in rows.items():
        if "history" not in row:
            continue
        gap = np.maximum(np.asarray(row["history"]) - lowest, floor)
        colour = "C3" if row["hessian"] else "C0"
        kind = "exact Hessian" if row["hessian"] else "gradient only"
        name = label.removeprefix("md.minimize ")
        name = name if name == row["method"] else f"{name} = {row['method']}"
        ax.semilogy(gap, color=colour, linestyle=next(styles), marker="o", markersize=3, label=f"{name} ({kind})")
    ax.axhline(floor, color="grey", linewidth=0.8)
    ax.text(0, floor * 3, "rounding level of f", color="grey", fontsize=8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("f - lowest f")
    ax.set_title("md.minimize on the breast-cancer logistic regression")
    ax.legend()
    fig.tight_layout()
    paths.append(folder / f"{NAME}-convergence.png")
    fig.savefig(paths[-1])
    plt.close(fig)

    # The coefficients: matdiff's (bars) and scikit-learn's (dots), one row per feature.
    fig, ax = plt.subplots(figsize=(7, 8), dpi=100)
    ours = rows["md.minimize default"]
    theirs = rows["sklearn lbfgs"]
    positions = np.arange(len(features))
    ax.barh(positions, ours["w"], color="C0", alpha=0.7, label=f"md.minimize ({ours['method']})")
    ax.plot(theirs["w"], positions, "o", color="C3", markersize=4, label="scikit-learn (lbfgs)")
    ax.set_yticks(positions, features, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("coefficient (standardised feature; > 0 pushes towards benign)")
    ax.set_title(f"Coefficients; intercept b = {ours['b']:.3f} (scikit-learn {theirs['b']:.3f})")
    ax.legend(loc="upper right")
    fig.tight_layout()
    paths.append(folder / f"{NAME}-coefficients.png")
    fig.savefig(paths[-1])
    plt.close(fig)
    return paths


if __name__ == "__main__":
    main()
