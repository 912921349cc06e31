"""md.minimize against specialised solvers: time to a solution, iterations and agreement.

Run from the repository root (BLAS is set to one thread by this script unless the variables are already set;
scikit-learn and scipy are needed):

    python benchmarks/bench_minimize.py                 # 7 repeats
    python benchmarks/bench_minimize.py --quick         # tiny sizes, 1 repeat (the CI smoke test)
    python benchmarks/bench_minimize.py --repeats 15

Sections:
  1. L2-regularised logistic regression, sum(log(1 + exp(-y.*(X*w + b*vector(1))))) + lam/2*norm2(w)^2 with
     an unpenalised intercept b and lam = 1, on the breast-cancer data (569 x 30, standardised) and on a
     synthetic problem (n = 20000 samples, p = 100 features, seed 0): md.minimize with exact Hessians (its
     default, trust-exact, Newton-CG) and without (L-BFGS-B), against scikit-learn's LogisticRegression(C=1/lam)
     with the lbfgs, newton-cg and newton-cholesky solvers (which do not penalise the intercept either).
  2. Least squares, norm2(A*x - b)^2, against np.linalg.lstsq (A is 1000 x 50 and 10000 x 200).
  3. Non-negative least squares, the same objective with bounds x >= 0, against scipy.optimize.nnls.

Every solver's answer is first checked (assert) against a reference: Newton's method written out in NumPy for
section 1 (to a step below 1e-13), lstsq for section 2, nnls for section 3. The agreement column is the
largest difference from the reference relative to the reference's largest entry. Each solver runs at a
tolerance at which it reaches the reference to 1e-5 (section 1) or 1e-6 (sections 2 and 3); md.minimize's
default method also runs at its default tolerance, checked to 1e-4 only. The tolerance is shown in each row.

md.minimize's time is the whole call: parsing, packing, and scipy's solve. md.minimize derives the gradient
(and the Hessian's blocks, for methods that use them) once per objective and md.compile caches the compiled code,
and the agreement check calls every solver once first, so neither is in the times: they are the times of
repeated solves. The "md.diff alone" column times the md.diff calls a first solve of a new objective makes.
Each time is the median over the repeats, the solvers of one problem
interleaved within a repeat (a slow spell of the machine hits them all); each timed loop lasts about 0.05 s. The
ratio is the median of the per-repeat ratios to the first row's solver (scikit-learn's lbfgs, lstsq or nnls)
timed in the same repeats: above 1 is slower. Nothing asserts on time.
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before NumPy loads its BLAS

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import matdiff as md  # noqa: E402
from timing import fmt_time, loop_size, per_call  # noqa: E402  (benchmarks/timing.py, beside this script)

NA = "–"
LAM = 1.0
LOGISTIC = "sum(log(1 + exp(-y.*(X*w + b*vector(1))))) + lam/2*norm2(w)^2"
LEAST_SQUARES = "norm2(A*x - b)^2"
HESSIAN_METHODS = {"Newton-CG", "trust-constr", "dogleg", "trust-ncg", "trust-exact", "trust-krylov"}


@dataclass
class Settings:
    repeats: int
    target: float  # seconds per timed loop
    quick: bool


@dataclass
class Solver:
    """One row: a call that solves the problem and returns (solution, iterations, success)."""

    label: str
    tol: str
    call: Callable[[], tuple[np.ndarray, int | None, bool | None]]
    bound: float  # the largest agreement with the reference accepted
    derivation: Callable[[], Any] | None = None  # md.diff calls alone (a first solve's), for md.minimize's rows


def agreement(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


def run(problem: str, solvers: Sequence[Solver], reference: np.ndarray, settings: Settings) -> None:
    """Check every solver against `reference`, time them interleaved and print the table."""
    checks = {}
    for solver in solvers:
        solution, iterations, success = solver.call()
        error = agreement(solution, reference)
        assert error <= solver.bound, f"{problem}, {solver.label}: {error:.1e} from the reference"
        checks[solver.label] = (error, iterations, success)
    calls: dict[str, Callable[[], Any]] = {solver.label: solver.call for solver in solvers}
    calls.update({f"{s.label} derivation": s.derivation for s in solvers if s.derivation is not None})
    numbers = {
        label: max(1, loop_size(call, settings.target)) if settings.target else 1 for label, call in calls.items()
    }
    times: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(settings.repeats):
        for label, call in calls.items():
            times[label].append(per_call(call, numbers[label]))
    base = solvers[0].label
    print(f"\n### {problem}\n")
    rows = []
    for solver in solvers:
        error, iterations, success = checks[solver.label]
        median = statistics.median(times[solver.label])
        ratio = statistics.median(a / b for a, b in zip(times[solver.label], times[base]))
        derivation = times.get(f"{solver.label} derivation")
        rows.append(
            [
                solver.label,
                solver.tol,
                fmt_time(median),
                NA if derivation is None else fmt_time(statistics.median(derivation)),
                NA if iterations is None else str(iterations),
                f"{ratio:.2f}×",
                f"{error:.1e}",
                NA if success is None else ("yes" if success else "no"),
            ]
        )
    table(["solver", "tol", "time", "md.diff alone", "iterations", f"× {base}", "agreement", "success"], rows)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A Markdown table, padded for reading in a terminal: the first two columns left, the others right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    align = "ll" + "r" * (len(headers) - 2)

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(w) if a == "l" else cell.rjust(w) for cell, w, a in zip(cells, widths, align)]
        return "| " + " | ".join(padded) + " |"

    print(line(headers))
    print("|" + "|".join(":" + "-" * (w + 1) if a == "l" else "-" * (w + 1) + ":" for w, a in zip(widths, align)) + "|")
    for row in rows:
        print(line(row))
    sys.stdout.flush()


def md_row(
    label: str,
    objective: str,
    x0: dict,
    data: dict,
    method: str | None,
    tol: float | None,
    bound: float,
    bounds: dict | None = None,
    pack: Callable[[dict], np.ndarray] | None = None,
) -> Solver:
    """A row for md.minimize; `pack` turns its .x into the vector compared with the reference."""

    def call() -> tuple[np.ndarray, int | None, bool | None]:
        result = md.minimize(objective, x0, data=data, bounds=bounds, method=method, tol=tol)
        return (pack(result.x) if pack else next(iter(result.x.values()))), result.nit, result.success

    chosen = md.minimize(objective, x0, data=data, bounds=bounds, method=method, tol=tol, maxiter=1).method
    kinds = {name: ("scalar", "vector", "matrix")[np.ndim(value)] for name, value in {**x0, **data}.items()}
    f = md.parse(objective, **kinds)
    names = list(x0)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i:]] if chosen in HESSIAN_METHODS else []

    def derivation() -> list[md.Expr]:
        return [md.diff(f, name) for name in names] + [md.diff(f, a, b) for a, b in pairs]

    name = f"md.minimize {label}" + (f" ({chosen})" if label != chosen else "")
    return Solver(name, "default" if tol is None else f"{tol:g}", call, bound, derivation)


# ---------------------------------------------------------------------------------------------
# 1. Logistic regression


def newton_logistic(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """(w, b) minimising the logistic objective, by Newton's method with backtracking (hand-written NumPy)."""
    A = np.column_stack([X, np.ones(len(y))])
    penalty = np.append(np.full(X.shape[1], lam), 0.0)

    def f(z: np.ndarray) -> float:
        return float(np.sum(np.logaddexp(0.0, -y * (A @ z))) + 0.5 * z @ (penalty * z))

    z = np.zeros(A.shape[1])
    for _ in range(100):
        s = 0.5 * (1 + np.tanh(-0.5 * y * (A @ z)))  # sigmoid(-margin)
        gradient = -A.T @ (y * s) + penalty * z
        step = np.linalg.solve(A.T @ (A * (s * (1 - s))[:, None]) + np.diag(penalty), -gradient)
        t = 1.0
        while f(z + t * step) > f(z) + 1e-4 * t * (gradient @ step) and t > 1e-10:
            t /= 2
        z = z + t * step
        if np.max(np.abs(t * step)) < 1e-13:
            return z
    raise AssertionError("the reference Newton iteration did not converge")


def logistic_rows(X: np.ndarray, y: np.ndarray) -> list[Solver]:
    from sklearn.linear_model import LogisticRegression

    def pack(x: dict) -> np.ndarray:
        return np.append(x["w"], x["b"])

    rows = []
    for solver in ("lbfgs", "newton-cg", "newton-cholesky"):
        # C = 1/lam; no `penalty` argument (deprecated in scikit-learn 1.8; l1_ratio=0, the default, is L2)
        model = LogisticRegression(C=1 / LAM, solver=solver, tol=1e-10, max_iter=100_000)

        def call(model: Any = model) -> tuple[np.ndarray, int | None, bool | None]:
            model.fit(X, y > 0)
            return np.append(model.coef_[0], model.intercept_[0]), int(model.n_iter_[0]), None

        rows.append(Solver(f"sklearn {solver}", "1e-10", call, 1e-5))
    x0 = {"w": np.zeros(X.shape[1]), "b": 0.0}
    data = {"X": X, "y": y, "lam": LAM}
    rows += [
        md_row("default", LOGISTIC, x0, data, None, None, 1e-5, pack=pack),
        md_row("trust-exact", LOGISTIC, x0, data, "trust-exact", None, 1e-5, pack=pack),
        md_row("Newton-CG", LOGISTIC, x0, data, "Newton-CG", 1e-8, 1e-5, pack=pack),
        md_row("L-BFGS-B", LOGISTIC, x0, data, "L-BFGS-B", 1e-12, 1e-5, pack=pack),
    ]
    return rows


def section_logistic(settings: Settings) -> None:
    from sklearn.datasets import load_breast_cancer

    print("\n## 1. L2-regularised logistic regression (lam = 1, intercept not penalised)")
    X, target = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    problems = [("breast cancer", X, 2.0 * target - 1)]
    n, p = (2000, 20) if settings.quick else (20_000, 100)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, p))
    probability = 1 / (1 + np.exp(-(X @ (2 * rng.standard_normal(p) / np.sqrt(p)) + 0.5)))
    problems.append(("synthetic", X, np.where(rng.random(n) < probability, 1.0, -1.0)))
    for name, X, y in problems:
        reference = newton_logistic(X, y, LAM)
        run(f"{name}: n = {X.shape[0]}, p = {X.shape[1]}", logistic_rows(X, y), reference, settings)


# ---------------------------------------------------------------------------------------------
# 2. and 3. Least squares, without and with x >= 0


def sizes(settings: Settings) -> list[tuple[int, int]]:
    return [(100, 5), (300, 20)] if settings.quick else [(1000, 50), (10_000, 200)]


def section_least_squares(settings: Settings) -> None:
    print("\n## 2. Least squares: norm2(A*x - b)^2 against np.linalg.lstsq")
    rng = np.random.default_rng(1)
    for n, p in sizes(settings):
        A = rng.standard_normal((n, p))
        b = A @ rng.standard_normal(p) + 0.5 * rng.standard_normal(n)
        reference = np.linalg.lstsq(A, b, rcond=None)[0]
        x0, data = {"x": np.zeros(p)}, {"A": A, "b": b}
        rows = [
            Solver("np.linalg.lstsq", NA, lambda A=A, b=b: (np.linalg.lstsq(A, b, rcond=None)[0], None, None), 1e-12),
            md_row("default", LEAST_SQUARES, x0, data, None, None, 1e-4),
            md_row("L-BFGS-B", LEAST_SQUARES, x0, data, "L-BFGS-B", 1e-14, 1e-6),
            md_row("Newton-CG", LEAST_SQUARES, x0, data, "Newton-CG", 1e-8, 1e-6),
        ]
        run(f"A is {n} x {p}", rows, reference, settings)


def section_nnls(settings: Settings) -> None:
    from scipy.optimize import nnls

    print("\n## 3. Non-negative least squares: norm2(A*x - b)^2, x >= 0, against scipy.optimize.nnls")
    rng = np.random.default_rng(2)
    for n, p in sizes(settings):
        A = rng.standard_normal((n, p))
        b = A @ rng.standard_normal(p) + 0.5 * rng.standard_normal(n)  # about half the bounds active
        reference = nnls(A, b)[0]
        x0, data, bounds = {"x": np.ones(p)}, {"A": A, "b": b}, {"x": (0, None)}
        rows = [
            Solver("scipy nnls", NA, lambda A=A, b=b: (nnls(A, b)[0], None, None), 1e-12),
            md_row("default", LEAST_SQUARES, x0, data, None, None, 1e-4, bounds),
            md_row("L-BFGS-B", LEAST_SQUARES, x0, data, "L-BFGS-B", 1e-15, 1e-6, bounds),
            md_row("trust-constr", LEAST_SQUARES, x0, data, "trust-constr", 1e-10, 1e-6, bounds),
        ]
        active = int(np.sum(reference == 0))
        run(f"A is {n} x {p}, {active} of {p} bounds active", rows, reference, settings)


# ---------------------------------------------------------------------------------------------


def header(settings: Settings) -> None:
    import scipy
    import sklearn

    print("# md.minimize benchmark\n")
    versions = [
        f"matdiff {md.__version__}",
        f"Python {platform.python_version()}",
        f"NumPy {np.__version__}",
        f"SciPy {scipy.__version__}",
        f"scikit-learn {sklearn.__version__}",
    ]
    print(", ".join(versions))
    threads = ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))
    try:
        from threadpoolctl import threadpool_info

        pools = ", ".join(f"{pool['internal_api']} {pool['num_threads']}" for pool in threadpool_info())
        threads += f" (threads in use: {pools})"
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    print(f"{platform.machine()}, {os.cpu_count()} cores; {threads}")
    print(f"{settings.repeats} repeats, interleaved; medians.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat (the CI smoke test)")
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats (default 7, --quick 1)")
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")  # ×, – on any locale
    repeats = args.repeats or (1 if args.quick else 7)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    settings = Settings(repeats, 0.0 if args.quick else 0.05, args.quick)
    header(settings)
    start = time.perf_counter()
    section_logistic(settings)
    section_least_squares(settings)
    section_nnls(settings)
    elapsed = time.perf_counter() - start
    print(f"\nEvery answer agrees with its reference (asserted, to the bound given above). {elapsed:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
