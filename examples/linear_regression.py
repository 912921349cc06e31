"""Linear regression by maximum likelihood: matdiff derives the normal equations, md.minimize fits the model.

The model is y = X*w + e with Gaussian noise e ~ N(0, s2*I). Its negative log-likelihood, up to the constant
n/2*log(2*pi), which is dropped because it moves neither the optimum nor any derivative, is

    norm2(y - X*w)^2/(2*s2) + sum(y.^0)*log(s2)/2        (sum(y.^0) is n, the number of samples)

This script, on scikit-learn's diabetes data (442 patients, 10 standardised features, one column of ones
added to X for the intercept):

1. prints the gradients by w and by s2 as matdiff derives them;
2. sets them to zero by hand: the gradient by w gives the normal equations X'*X*w = X'*y (solved with
   np.linalg.solve), the gradient by s2 gives s2 = norm2(y - X*w)^2/n;
3. fits w and s2 together with md.minimize (s2 kept positive by a bound) and compares the fit with
   np.linalg.lstsq and scikit-learn's LinearRegression;
4. takes the Hessian at the optimum, whose inverse (the inverse observed Fisher information) gives the
   standard errors of w, and checks them against the textbook OLS formula s2*inv(X'*X);
5. draws the profile of the negative log-likelihood in s2, md.minimize's convergence, and the fitted
   values against the measured ones.

Run it from the repository root (scikit-learn, scipy and matplotlib: pip install 'matdiff[examples]'):

    python examples/linear_regression.py               # the figures go to docs/figures
    python examples/linear_regression.py --no-figures
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import matdiff as md

NAME = "linear_regression"
MODEL = "norm2(y - X*w)^2/(2*s2) + sum(y.^0)*log(s2)/2"
KINDS = {"X": "matrix", "y": "vector", "w": "vector", "s2": "scalar"}
FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"


# The data's own names s1..s6 are blood serum measurements (scikit-learn's DESCR): named here by what they
# measure, so that "s2" means only the noise variance below.
SERUM = {"s1": "tc", "s2": "ldl", "s3": "hdl", "s4": "tch", "s5": "ltg", "s6": "glu"}


def load() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The diabetes data with a leading column of ones, so that w[0] is the intercept. The ten features are
    already centred and scaled (each column has unit length); y measures the disease's progression a year on."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    X = np.column_stack([np.ones(len(data.target)), data.data])
    names = [f"{name} ({SERUM[name]})" if name in SERUM else name for name in data.feature_names]
    return X, data.target.astype(float), ["intercept", *names]


def max_relative(a: np.ndarray, b: np.ndarray) -> float:
    """max|a - b| / max|b|: the largest difference, relative to the reference's scale."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def fit(X: np.ndarray, y: np.ndarray, method: str | None, tol: float | None, bounded: bool = True) -> dict:
    """md.minimize from w = 0, s2 = 1; its result and the seconds it took (derivation included)."""
    start = time.perf_counter()
    result = md.minimize(
        MODEL,
        {"w": np.zeros(X.shape[1]), "s2": 1.0},
        data={"X": X, "y": y},
        bounds={"s2": (1e-8, None)} if bounded else None,
        method=method,
        tol=tol,
        maxiter=10_000,
    )
    return {"result": result, "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--small", action="store_true", help="the CI setting (the data is small: only the profile curve is coarser)"
    )
    parser.add_argument("--figures", type=Path, default=FIGURES, help="where the PNG files go")
    parser.add_argument("--no-figures", action="store_true", help="draw nothing")
    args = parser.parse_args(argv)

    X, y, names = load()
    n, p = X.shape
    print(f"Diabetes data: n = {n} samples, {p - 1} features + a column of ones (the intercept): X is {n} x {p}.\n")

    # 1. The model and its derivatives, as matdiff prints them.
    f = md.parse(MODEL, **KINDS)
    grad_w = md.diff(f, "w")
    grad_s2 = md.diff(f, "s2")
    hess_ww = md.diff(f, "w", "w")
    hess_ws2 = md.diff(f, "w", "s2")
    hess_s2s2 = md.diff(f, "s2", "s2")
    print(f"negative log-likelihood  f = {f}")
    print(f"df/dw      = {grad_w}")
    print(f"df/ds2     = {grad_s2}")
    print(f"d2f/dw2    = {hess_ww}")
    print(f"d2f/dw ds2 = {hess_ws2}")
    print(f"d2f/ds2^2  = {hess_s2s2}\n")

    # 2. Setting the gradients to zero. df/dw = -2*X'*(y - X*w)/(2*s2) vanishes (for any s2 > 0) exactly when
    # X'*(y - X*w) = 0, i.e. X'*X*w = X'*y: the normal equations. X'X is 11 x 11 and positive definite here,
    # so np.linalg.solve does it (lstsq, below, is the numerically safer route in general).
    # df/ds2 = -2*norm2(r)^2/(2*s2)^2 + n/(2*s2) vanishes at s2 = norm2(r)^2/n, r = y - X*w.
    w_normal = np.linalg.solve(X.T @ X, X.T @ y)
    s2_normal = float(np.sum((y - X @ w_normal) ** 2) / n)
    gradients = md.compile(grad_w, grad_s2, hess_ww, hess_ws2, hess_s2s2)
    gw, gs2 = gradients(X=X, y=y, w=w_normal, s2=s2_normal)[:2]
    # The gradient by w is affine in w, with slope the Hessian: at s2 = 1 that slope is X'X itself, and the
    # gradient at w = 0 is -X'y. The normal equations, read off matdiff's own numbers:
    Hww_at_1 = gradients(X=X, y=y, w=np.zeros(p), s2=1.0)[2]
    gw_at_0 = gradients(X=X, y=y, w=np.zeros(p), s2=1.0)[0]
    w_from_matdiff = np.linalg.solve(Hww_at_1, -gw_at_0)
    print("Normal equations X'X w = X'y (np.linalg.solve) and s2 = |y - Xw|^2/n:")
    print(f"  s2 = {s2_normal:.6f}; the gradients there: |df/dw| = {np.linalg.norm(gw):.2e}, df/ds2 = {float(gs2):.2e}")
    print(
        f"  solving  [d2f/dw2 at s2=1] w = -[df/dw at w=0]  gives the same w: max relative difference "
        f"{max_relative(w_from_matdiff, w_normal):.1e}\n"
    )

    # 3. Fitting w and s2 together. The problem is badly scaled (w's entries are in the hundreds, s2 in the
    # thousands, X'X has condition number ~5e4, the intercept's column of ones is 21 times longer than the
    # standardised features), so stopping rules matter: several methods and tolerances side by side.
    # The default with bounds is L-BFGS-B followed by projected Newton steps with the exact Hessian; the plain
    # L-BFGS-B rows show why those steps are there.
    runs = {
        "default": fit(X, y, None, None),
        "L-BFGS-B alone": fit(X, y, "L-BFGS-B", None),
        "L-BFGS-B alone, tol=1e-15": fit(X, y, "L-BFGS-B", 1e-15),
        "trust-constr, tol=1e-10": fit(X, y, "trust-constr", 1e-10),
        "trust-exact, no bound": fit(X, y, "trust-exact", None, bounded=False),
    }
    best = runs["default"]["result"]
    print("md.minimize with its default method, from w = 0, s2 = 1, bounds s2 in [1e-8, inf):")
    print(f"{runs['default']['result']}\n")
    print("md.minimize against the normal equations (relative differences):")
    print("| run | method | iterations | seconds | w | s2 | success |")
    print("|:--|:--|--:|--:|--:|--:|:--|")
    for label, run in runs.items():
        r = run["result"]
        run["w_error"] = max_relative(r.x["w"], w_normal)
        run["s2_error"] = abs(float(r.x["s2"]) - s2_normal) / s2_normal
        print(
            f"| {label} | {r.method} | {r.nit} | {run['seconds']:.3f} | {run['w_error']:.1e} | "
            f"{run['s2_error']:.1e} | {r.success} |"
        )
    print(
        "(trust-exact without a bound works because log(s2) is NaN for s2 < 0, which its trust region steps "
        "back from.)\n"
    )

    # The references: LAPACK's least squares and scikit-learn (the ones column is in X, so no second intercept).
    from sklearn.linear_model import LinearRegression

    w_lstsq = np.linalg.lstsq(X, y, rcond=None)[0]
    sk = LinearRegression(fit_intercept=False).fit(X, y)
    w_fit, s2_fit = best.x["w"], float(best.x["s2"])
    references = {"np.linalg.lstsq": w_lstsq, "sklearn LinearRegression": sk.coef_, "normal equations": w_normal}
    print("md.minimize (the default) against the references:")
    print("| reference | max relative difference of w | relative difference of s2 |")
    print("|:--|--:|--:|")
    agreement = {}
    for label, w_ref in references.items():
        s2_ref = float(np.sum((y - X @ w_ref) ** 2) / n)
        agreement[label] = (max_relative(w_fit, w_ref), abs(s2_fit - s2_ref) / s2_ref)
        print(f"| {label} | {agreement[label][0]:.1e} | {agreement[label][1]:.1e} |")
    print()

    # 4. Standard errors. The observed Fisher information is the Hessian of the negative log-likelihood at the
    # optimum; its inverse estimates the covariance of (w, s2). The cross block d2f/dw ds2 = 4*X'*(y - X*w)/
    # (2*s2)^2 vanishes there (the normal equations), so the w block of the inverse is inv(X'X/s2) = s2*inv(X'X):
    # the OLS formula, with the maximum-likelihood s2 = RSS/n (the textbook one divides by n - p instead).
    Hww, Hws2, Hs2s2 = gradients(X=X, y=y, w=w_fit, s2=s2_fit)[2:]
    hessian = np.block([[Hww, Hws2[:, None]], [Hws2[None, :], np.atleast_2d(Hs2s2)]])
    covariance = np.linalg.inv(hessian)
    se_fisher = np.sqrt(np.diag(covariance)[:p])
    se_s2 = float(np.sqrt(covariance[p, p]))
    se_ols = np.sqrt(np.diag(s2_normal * np.linalg.inv(X.T @ X)))
    print(
        f"Hessian at md.minimize's optimum: d2f/dw2 = X'X/s2 ({p} x {p}), |d2f/dw ds2| = {np.linalg.norm(Hws2):.1e} "
        f"(zero at the exact optimum), d2f/ds2^2 = {float(Hs2s2):.4e} = n/(2 s2^2)"
    )
    print("Standard errors: sqrt(diag(inverse Hessian)) against sqrt(diag(s2*inv(X'X))):")
    print("| coefficient | w | s.e. (Fisher) | s.e. (OLS) |")
    print("|:--|--:|--:|--:|")
    for name, w_i, a, b in zip(names, w_fit, se_fisher, se_ols):
        print(f"| {name} | {w_i:.3f} | {a:.4f} | {b:.4f} |")
    se_error = max_relative(se_fisher, se_ols)
    print(
        f"max relative difference {se_error:.1e}; s.e. of s2 = {se_s2:.2f} (= s2*sqrt(2/n) = "
        f"{s2_normal * np.sqrt(2 / n):.2f}); dividing by n - p instead of n scales every s.e. by "
        f"sqrt(n/(n-p)) = {np.sqrt(n / (n - p)):.4f}\n"
    )

    measured = {
        "n": n,
        "p": p,
        "w": w_fit,
        "s2": s2_fit,
        "w_normal": w_normal,
        "s2_normal": s2_normal,
        "w_from_matdiff": w_from_matdiff,
        "w_default": runs["default"]["result"].x["w"],
        "s2_default": float(runs["default"]["result"].x["s2"]),
        "method_default": runs["default"]["result"].method,
        "runs": {
            label: {
                "method": run["result"].method,
                "nit": run["result"].nit,
                "seconds": run["seconds"],
                "w_error": run["w_error"],
                "s2_error": run["s2_error"],
                "success": run["result"].success,
            }
            for label, run in runs.items()
        },
        "agreement": agreement,
        "hessian": hessian,
        "se_fisher": se_fisher,
        "se_ols": se_ols,
        "se_s2": se_s2,
        "se_error": se_error,
        "figures": [],
    }
    if not args.no_figures:
        measured["figures"] = figures(args.figures, X, y, w_fit, s2_fit, runs, small=args.small)
        for path in measured["figures"]:
            print(f"wrote {path}")
    return measured


def figures(
    folder: Path, X: np.ndarray, y: np.ndarray, w: np.ndarray, s2: float, runs: dict, small: bool
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    n = len(y)
    rss = float(np.sum((y - X @ w) ** 2))
    paths = []

    # The likelihood: its profile in s2 (w held at the optimum), and md.minimize's path to the minimum.
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    grid = s2 * np.linspace(0.3, 3.0, 60 if small else 400)
    left.plot(grid, rss / (2 * grid) + n / 2 * np.log(grid), color="C0", label="f(w*, s2)")
    left.plot([s2], [rss / (2 * s2) + n / 2 * np.log(s2)], "o", color="C3", label=f"optimum s2 = RSS/n = {s2:.0f}")
    left.set_xlabel("s2 (noise variance)")
    left.set_ylabel("negative log-likelihood")
    left.set_title("Profile in s2, w at its optimum")
    left.legend()
    lowest = min(min(run["result"].history) for run in runs.values())
    floor = 1e-13 * abs(lowest)
    for i, (label, run) in enumerate(runs.items()):
        history = np.maximum(np.asarray(run["result"].history) - lowest, floor)
        # the default may follow another run's path exactly: drawn dashed and wider, its last point marked
        style = {"linestyle": "--", "linewidth": 3, "alpha": 0.6} if label == "default" else {}
        right.semilogy(history, color=f"C{i}", label=f"{label} ({run['result'].method})", **style)
        right.plot([len(history) - 1], [history[-1]], "o", color=f"C{i}")
    right.set_xlabel("iteration")
    right.set_ylabel("f - (lowest f found)")
    right.set_title("md.minimize from w = 0, s2 = 1")
    right.legend(fontsize=8)
    fig.tight_layout()
    paths.append(folder / f"{NAME}-likelihood.png")
    fig.savefig(paths[-1])
    plt.close(fig)

    # The fit: fitted values against the measured ones.
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    fitted = X @ w
    r2 = 1 - rss / float(np.sum((y - y.mean()) ** 2))
    ax.scatter(fitted, y, s=10, alpha=0.6, label="patients")
    limits = [min(fitted.min(), y.min()), max(fitted.max(), y.max())]
    ax.plot(limits, limits, color="C3", label="fitted = measured")
    ax.set_xlabel("fitted value X*w")
    ax.set_ylabel("measured disease progression y")
    ax.set_title(f"Diabetes, linear model: $R^2$ = {r2:.3f}, $\\sigma$ = {np.sqrt(s2):.1f}")
    ax.legend()
    fig.tight_layout()
    paths.append(folder / f"{NAME}-fit.png")
    fig.savefig(paths[-1])
    plt.close(fig)
    return paths


if __name__ == "__main__":
    main()
