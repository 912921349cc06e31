"""Numerical derivatives: accuracy against function evaluations, md.numeric beside numdifftools and SciPy.

Run from the repository root:

    python benchmarks/bench_numeric.py             # the full suite
    python benchmarks/bench_numeric.py --quick     # smaller settings sweeps, for CI
    python benchmarks/bench_numeric.py --install   # pip-install numdifftools first if it is missing

Every case is a smooth float64 function with a closed-form derivative: scalar derivatives (some badly
scaled), gradients and Hessians. Each tool differentiates the same function, wrapped so that the points
at which it is evaluated are counted.

Table 1 runs each tool with its default settings (md.numeric also with method="forward" and with
richardson=False) and prints
  - rel. err: the error achieved, max |estimate - exact| / max |exact| over the entries;
  - est. err: the tool's own error estimate, scaled the same way (max estimate / max |exact|);
  - honest:   "yes" where the error actually made is at most twice the estimate (or below 1e-13,
              round-off level), "NO" where the estimate understates it;
  - evals:    the points at which f was evaluated. scipy.differentiate calls f vectorised, on arrays of
              many points at once, and numdifftools may too: every point counts, not every call. For a
              function of n variables a point is one x of n entries (scipy's `jacobian` and `hessian`
              pass arrays of shape (n, ...): each column is a point).

Table 2 sweeps each tool's accuracy settings and reports the fewest evaluations with which it reached a
relative error of 1e-10, with the settings that did it. The sweep knows the exact answer (an oracle):
a user without one could not pick these settings, so the table flatters the tool with the most knobs.
Steps are left to each tool's own rule (scipy: initial_step=0.5 absolute; numdifftools: its Max and Min
step generators; md.numeric: its automatic step). Only real finite differences are compared:
numdifftools' complex-step methods need f to accept complex input and are left out.

numdifftools and SciPy (>= 1.15, for scipy.differentiate) are optional: a missing one is skipped.
Nothing here asserts on the results; it prints them.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from matdiff import numeric

TARGET = 1e-10
ROUNDOFF = 1e-13  # errors below this are round-off: any error estimate "bounds" them


# ---------------------------------------------------------------------------------------------
# Optional competitors


def _load(module: str, requirement: str, install: bool) -> tuple[Any, str]:
    """The competitor's module, installed first when asked; or None and why it is skipped."""
    try:
        return importlib.import_module(module), ""
    except ImportError:
        pass
    if install:
        print(f"{module} is missing: python -m pip install --quiet '{requirement}' ...", flush=True)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", requirement], check=False)
        if done.returncode == 0:
            importlib.invalidate_caches()
            try:
                return importlib.import_module(module), ""
            except ImportError:
                pass
        return None, f"skipped: {module} could not be installed (pip install '{requirement}')"
    return None, f"skipped: {module} not installed (pip install '{requirement}', or run with --install)"


# ---------------------------------------------------------------------------------------------
# Test cases


@dataclass
class Case:
    """f at x with its exact derivative. Scalar cases: f is elementwise. Multivariate cases: f takes x of
    shape (n, ...) and reduces over axis 0 (the convention of scipy.differentiate.jacobian/hessian)."""

    name: str
    kind: str  # "derivative", "gradient" or "hessian"
    f: Callable[[np.ndarray], np.ndarray]
    x: Any
    exact: np.ndarray

    @property
    def n(self) -> int:
        return 1 if self.kind == "derivative" else int(np.size(self.x))


def _rosen(x: np.ndarray) -> np.ndarray:
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2, axis=0)


def _rosen_grad(x: np.ndarray) -> np.ndarray:
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def _rosen_hess(x: np.ndarray) -> np.ndarray:
    n = x.size
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        h[i + 1, i + 1] += 200.0
        h[i, i + 1] = h[i + 1, i] = -400.0 * x[i]
    return h


def _logsumexp(x: np.ndarray) -> np.ndarray:
    top = np.max(x, axis=0)
    return top + np.log(np.sum(np.exp(x - top), axis=0))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def cases() -> list[Case]:
    rng = np.random.default_rng(20240603)
    x10 = rng.uniform(-1.5, 1.5, 10)
    x5 = rng.uniform(-1.5, 1.5, 5)
    lse_x = rng.normal(size=10)
    a = rng.normal(scale=0.5, size=5)
    y5 = rng.uniform(-1.0, 1.0, 5)

    def exp_sin_hess_f(x: np.ndarray) -> np.ndarray:
        return np.exp(np.tensordot(a, x, axes=(0, 0))) + np.sum(np.sin(x), axis=0)

    exp_sin_hess = np.exp(a @ y5) * np.outer(a, a) - np.diag(np.sin(y5))
    e = np.exp
    return [
        Case("exp(x) at 1", "derivative", np.exp, 1.0, np.asarray(np.e)),
        Case("sin(x) at 2.3", "derivative", np.sin, 2.3, np.asarray(np.cos(2.3))),
        Case("log(x) at 1e-3", "derivative", np.log, 1e-3, np.asarray(1e3)),
        Case("1/(1+x^2) at 0.7", "derivative", lambda x: 1.0 / (1.0 + x * x), 0.7, np.asarray(-1.4 / 1.49**2)),
        Case("x^5 at 50", "derivative", lambda x: x**5, 50.0, np.asarray(5.0 * 50.0**4)),
        Case("exp(sin x) at 0.9", "derivative", lambda x: e(np.sin(x)), 0.9, np.asarray(np.cos(0.9) * e(np.sin(0.9)))),
        Case("1e8 sin(1e-3 x) at 1e3", "derivative", lambda x: 1e8 * np.sin(x / 1e3), 1e3, np.asarray(1e5 * np.cos(1))),
        Case("log(x) at 1e6", "derivative", np.log, 1e6, np.asarray(1e-6)),
        Case("grad Rosenbrock n=10", "gradient", _rosen, x10, _rosen_grad(x10)),
        Case("grad logsumexp n=10", "gradient", _logsumexp, lse_x, _softmax(lse_x)),
        Case("hess Rosenbrock n=5", "hessian", _rosen, x5, _rosen_hess(x5)),
        Case("hess exp(a.x)+sum sin n=5", "hessian", exp_sin_hess_f, y5, exp_sin_hess),
    ]


class Counted:
    """f with the points it is evaluated at counted (a call on an array of k points counts k)."""

    def __init__(self, case: Case) -> None:
        self.f = case.f
        self.n = case.n
        self.multivariate = case.kind != "derivative"
        self.points = 0

    def __call__(self, x: Any, *args: Any) -> Any:
        x = np.asarray(x)
        self.points += x.size // self.n if self.multivariate else x.size
        return self.f(x, *args)


# ---------------------------------------------------------------------------------------------
# Running one tool


@dataclass
class Outcome:
    rel_error: float = np.nan
    est_error: float = np.nan
    evals: int = 0
    failure: str = ""

    @property
    def reached(self) -> bool:
        return not self.failure and np.isfinite(self.rel_error) and self.rel_error <= TARGET


def _measure(case: Case, run: Callable[[Counted], tuple[Any, Any]]) -> Outcome:
    counted = Counted(case)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value, error = run(counted)
    except Exception as exc:  # a competitor's failure is a result, not a crash of the benchmark
        return Outcome(evals=counted.points, failure=f"{type(exc).__name__}: {exc}"[:60])
    value = np.asarray(value, dtype=float).reshape(case.exact.shape)
    scale = float(np.max(np.abs(case.exact)))
    rel = float(np.max(np.abs(value - case.exact))) / scale
    est = float(np.max(np.abs(error))) / scale if error is not None else np.nan
    if not np.isfinite(rel):
        return Outcome(evals=counted.points, est_error=est, failure="non-finite result")
    return Outcome(rel, est, counted.points)


def run_matdiff(case: Case, **options: Any) -> Outcome:
    def run(f: Counted) -> tuple[Any, Any]:
        x = np.asarray(case.x, dtype=float)
        if case.kind == "hessian":
            est = numeric.hessian(f, x, **options)
        elif case.kind == "gradient":
            est = numeric.gradient(f, x, **options)
        else:
            est = numeric.derivative(f, x, **options)
        return est.value, est.error

    return _measure(case, run)


def run_numdifftools(nd: Any, case: Case, generator: str | None = None, num_steps: int | None = None, **options: Any):
    step = None
    if generator is not None:
        step = getattr(nd, generator)(num_steps=num_steps)

    def run(f: Counted) -> tuple[Any, Any]:
        tool = {"derivative": nd.Derivative, "gradient": nd.Gradient, "hessian": nd.Hessian}[case.kind]
        result = tool(f, step=step, full_output=True, **options)(case.x)
        return result.estimate, result.error_estimate

    return _measure(case, run)


def run_scipy(sd: Any, case: Case, **options: Any) -> Outcome:
    def run(f: Counted) -> tuple[Any, Any]:
        if case.kind == "hessian":
            result = sd.hessian(f, np.asarray(case.x, dtype=float), **options)
            return result.ddf, result.error
        if case.kind == "gradient":
            result = sd.jacobian(f, np.asarray(case.x, dtype=float), **options)
        else:
            result = sd.derivative(f, case.x, **options)
        return result.df, result.error

    return _measure(case, run)


# ---------------------------------------------------------------------------------------------
# Sweeps for table 2: the fewest evaluations that reach TARGET


@dataclass
class Best:
    evals: int | None = None
    settings: str = ""
    tried: int = 0

    def offer(self, outcome: Outcome, settings: str) -> None:
        self.tried += 1
        if outcome.reached and (self.evals is None or outcome.evals < self.evals):
            self.evals, self.settings = outcome.evals, settings

    def text(self) -> str:
        if self.evals is None:
            return f"not reached ({self.tried} tried)"
        return f"{self.evals} ({self.settings})"


def sweep_matdiff(case: Case) -> Best:
    best = Best()
    if case.kind == "hessian":
        grid = [({}, "default"), ({"richardson": False}, "no richardson")]
    else:
        grid = [
            ({}, "central"),
            ({"method": "forward"}, "forward"),
            ({"richardson": False}, "central, no richardson"),
            ({"method": "forward", "richardson": False}, "forward, no richardson"),
        ]
    for options, label in grid:
        best.offer(run_matdiff(case, **options), label)
    return best


def sweep_numdifftools(nd: Any, case: Case, quick: bool) -> Best:
    best = Best()
    orders = (2, 4) if case.kind == "hessian" else ((2, 4, 8) if quick else (2, 4, 6, 8))
    num_steps = (1, 2, 3, 5, 8, 15) if quick else (1, 2, 3, 4, 5, 6, 8, 10, 15)
    terms = (2,) if quick else (1, 2)
    for generator in ("MinStepGenerator", "MaxStepGenerator"):
        for order in orders:
            for rt in terms:
                for k in num_steps:  # ascending cost: the first success is the cheapest of this line
                    outcome = run_numdifftools(nd, case, generator, k, order=order, richardson_terms=rt)
                    label = f"{generator[:3]}Step num_steps={k} order={order} rich={rt}"
                    best.offer(outcome, label)
                    if outcome.reached:
                        break
    return best


def sweep_scipy(sd: Any, case: Case, quick: bool) -> Best:
    best = Best()
    orders = (2, 4, 8) if quick else (2, 4, 6, 8)
    tolerances = (None, {"rtol": 1e-13})
    maxiters = (1, 2, 3, 4, 6, 10) if quick else tuple(range(1, 11))
    for order in orders:
        for tol in tolerances:
            for maxiter in maxiters:  # ascending cost: stop at the first success
                outcome = run_scipy(sd, case, order=order, maxiter=maxiter, tolerances=tol)
                label = f"order={order} maxiter={maxiter}" + ("" if tol is None else " rtol=1e-13")
                best.offer(outcome, label)
                if outcome.reached:
                    break
    return best


# ---------------------------------------------------------------------------------------------
# Printing


def _fmt(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.1e}"


def table_defaults(all_cases: list[Case], nd: Any, sd: Any) -> None:
    header = f"{'function':<27} {'tool':<22} {'rel. err':>9} {'est. err':>9} {'honest':>6} {'evals':>6}  note"
    print(header)
    print("-" * len(header))
    for case in all_cases:
        rows: list[tuple[str, Outcome | str]] = [
            ("md.numeric central", run_matdiff(case)),
            ("md.numeric forward", run_matdiff(case, method="forward") if case.kind != "hessian" else "n/a"),
            ("md.numeric no richard.", run_matdiff(case, richardson=False)),
        ]
        rows.append(("numdifftools", run_numdifftools(nd, case) if nd is not None else "skipped"))
        rows.append(("scipy.differentiate", run_scipy(sd, case) if sd is not None else "skipped"))
        for k, (tool, outcome) in enumerate(rows):
            name = case.name if k == 0 else ""
            if isinstance(outcome, str):
                print(f"{name:<27} {tool:<22} {outcome:>9}")
                continue
            honest = "-"
            if np.isfinite(outcome.est_error) and not outcome.failure:
                bounded = outcome.rel_error <= 2.0 * outcome.est_error or outcome.rel_error < ROUNDOFF
                honest = "yes" if bounded else "NO"
            rel = _fmt(outcome.rel_error) if not outcome.failure else "failed"
            mark = "" if outcome.reached or outcome.failure else f"above {TARGET:.0e}"
            line = (
                f"{name:<27} {tool:<22} {rel:>9} {_fmt(outcome.est_error):>9} {honest:>6} {outcome.evals:>6}  "
                f"{outcome.failure or mark}"
            )
            print(line.rstrip())
        print()


def table_sweeps(all_cases: list[Case], nd: Any, sd: Any, quick: bool) -> dict[str, list[int]]:
    width = 40
    header = f"{'function':<27} {'md.numeric':<{width}} {'numdifftools':<{width}} {'scipy.differentiate'}"
    print(header)
    print("-" * (28 + 3 * (width + 1)))
    tally: dict[str, list[str]] = {"fewest": [], "tie": [], "more": [], "unreached": []}
    for case in all_cases:
        mine = sweep_matdiff(case)
        theirs = [
            sweep_numdifftools(nd, case, quick) if nd is not None else None,
            sweep_scipy(sd, case, quick) if sd is not None else None,
        ]
        cells = [mine.text()] + ["skipped" if b is None else b.text() for b in theirs]
        print(f"{case.name:<27} " + " ".join(f"{c:<{width}}" for c in cells).rstrip())
        others = [b.evals for b in theirs if b is not None and b.evals is not None]
        if mine.evals is None:
            tally["unreached"].append(case.name)
        elif others:
            cheapest = min(others)
            key = "fewest" if mine.evals < cheapest else ("tie" if mine.evals == cheapest else "more")
            tally[key].append(case.name)
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller settings sweeps in table 2")
    parser.add_argument("--install", action="store_true", help="pip-install numdifftools if it is missing")
    args = parser.parse_args()

    nd, nd_note = _load("numdifftools", "numdifftools", args.install)
    sd, sd_note = _load("scipy.differentiate", "scipy>=1.15", args.install)
    versions = [f"numpy {np.__version__}"]
    if nd is not None:
        versions.append(f"numdifftools {nd.__version__}")
    if sd is not None:
        versions.append(f"scipy {importlib.import_module('scipy').__version__}")
    print("md.numeric vs numdifftools vs scipy.differentiate, float64; " + ", ".join(versions))
    for note in (nd_note, sd_note):
        if note:
            print(note)
    all_cases = cases()
    start = time.perf_counter()

    print("\nTable 1: default settings. rel. err = max|est - exact| / max|exact|; est. err = the tool's own")
    print("error estimate on the same scale; honest = actual error <= 2 x estimate (or < 1e-13); evals = points")
    print("at which f was evaluated (vectorised calls count every point; scipy's jacobian/hessian pass (n, ...)")
    print("arrays: each column is one point).\n")
    table_defaults(all_cases, nd, sd)

    print(f"Table 2: fewest evaluations reaching rel. err <= {TARGET:.0e} over a sweep of each tool's settings")
    print("(chosen with the exact answer as oracle; steps left to each tool's own rule).\n")
    tally = table_sweeps(all_cases, nd, sd, args.quick)
    compared = len(tally["fewest"]) + len(tally["tie"]) + len(tally["more"])
    print(
        f"\nmd.numeric needs fewer evaluations than every competitor that ran on {len(tally['fewest'])} of {compared} "
        f"functions both sides reached, ties on {len(tally['tie'])}, needs more on {len(tally['more'])}"
        + (f" ({', '.join(tally['more'])})" if tally["more"] else "")
    )
    if tally["unreached"]:
        print(f"md.numeric did not reach {TARGET:.0e} on: {', '.join(tally['unreached'])}")
    print(f"total time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
