"""Compiled evaluation: md.compile beside hand-written NumPy, expr.evaluate, JAX and PyTorch.

Run from the repository root, with single-threaded BLAS (on a small or busy machine the BLAS-bound rows are
otherwise far from steady; NumPy and PyTorch then run on one core):

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_codegen.py    # n = 10, 100, 1000, 2000
    python benchmarks/bench_codegen.py --quick                  # n = 10, 100, few repeats (the CI smoke test)
    python benchmarks/bench_codegen.py --sizes 100 500 --repeats 9 --only grad jax

PyTorch is set to one thread (torch.set_num_threads(1)) and runs on the CPU in float64; JAX runs with
jax_enable_x64. XLA's CPU backend ignores those variables and uses every core for large products (with
JAX 0.10, XLA_FLAGS=--xla_cpu_multi_thread_eigen=false no longer stops it): to compare one core with one
core, pin the whole run to one, `taskset -c 0 python benchmarks/bench_codegen.py`. The JAX-against-JAX
ratios of section 3 do not depend on it; the JAX columns beside NumPy do.

Sections (--only takes one or more of these names):
  grad      gradients of x'*A*x (A is n x n), norm2(X*w-y)^2 and sum(log(1+exp(-y.*(X*w)))) (X is 2n x n,
            y in {-1, 1}^2n): md.compile(gradient) and gradient.evaluate(values) beside hand-written NumPy
            (A@x + A.T@x, 2*X.T@(X@w - y), -X.T@(y*sigmoid(-y*(X@w))) with a stable sigmoid), with
            jax.jit(jax.grad(f)) and torch.func.grad(f) as extra columns.
  inverse   the gradient of a'*inv(X)*b by X (X = n*I + randn, well conditioned) beside the solve-based
            -outer(solve(X.T, a), solve(X, b)), with SciPy's one-LU version (lu_factor, lu_solve) for scale.
  jax       jax.jit(md.compile(gradient, backend="jax")) beside jax.jit(jax.grad(f)), and the Hessians of
            x'*A*x and of the logistic loss, jax.jit(md.compile(hessian, backend="jax")) beside
            jax.jit(jax.hessian(f)).
  overhead  the fixed cost of one call at n = 2, value and gradient together, in microseconds.
  deep      the Hessian by x of sum(tanh(W_L*...tanh(W1*x))) with 5 x 5 matrices, L = 2, 4, 6, 8 layers:
            md.diff and md.compile once, then expr.evaluate and the compiled function per call.
The GPU benchmark is benchmarks/bench_gpu.py.

Every result (matdiff's and the other libraries') is first checked against the hand-written NumPy
reference with numpy.testing.assert_allclose, so a run is also a correctness test. Derivation and
compilation (md.diff, md.compile, jax.jit's tracing) are done before timing. Each row is timed interleaved
(every repeat runs each column once in turn, so a slow spell of the machine hits them all), each timed loop
lasting about 0.1 s (0.01 s with --quick). A time is the median over the repeats of the time per call; a
ratio is the median of the per-repeat ratios, against the baseline timed in the same repeats. Targets are
marked in the tables and summed up at the end; nothing asserts on time. JAX and PyTorch are optional: a
missing one is skipped with a line saying so. The tables are Markdown, to paste into an issue.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.testing import assert_allclose

import matdiff as md
import timing  # benchmarks/timing.py, beside this script
from timing import loop_size, per_call

SECTIONS = ("grad", "inverse", "jax", "overhead", "deep")
HAS_COMPILE = hasattr(md, "compile")
NA = "–"  # a column that could not run (a missing library, or md.compile not yet there)

jax: Any = None
jnp: Any = None
torch: Any = None
scipy_linalg: Any = None


def load_optional() -> list[str]:
    """Import JAX (with x64) and PyTorch (one thread) where installed; the lines saying what is skipped."""
    global jax, jnp, torch, scipy_linalg
    notes = []
    try:
        jax = importlib.import_module("jax")
        jnp = importlib.import_module("jax.numpy")
        jax.config.update("jax_enable_x64", True)
    except ImportError as error:
        notes.append(f"JAX is not installed ({error}): its columns are skipped.")
    try:
        torch = importlib.import_module("torch")
        torch.set_num_threads(1)
    except ImportError as error:
        notes.append(f"PyTorch is not installed ({error}): its columns are skipped.")
    try:
        scipy_linalg = importlib.import_module("scipy.linalg")
    except ImportError as error:
        notes.append(f"SciPy is not installed ({error}): the one-LU column of section 2 is skipped.")
    if not HAS_COMPILE:
        notes.append("This matdiff has no md.compile: the compiled columns are skipped.")
    return notes


# ---------------------------------------------------------------------------------------------
# Timing


@dataclass
class Timings:
    """Seconds per call of each column, one entry per repeat (the repeats interleaved)."""

    times: dict[str, list[float]]

    def median(self, label: str) -> float | None:
        return statistics.median(self.times[label]) if label in self.times else None

    def ratio(self, label: str, base: str) -> tuple[float, float] | None:
        """Median and largest per-repeat ratio label/base (time over time: below 1 is faster)."""
        if label not in self.times or base not in self.times:
            return None
        ratios = [a / b for a, b in zip(self.times[label], self.times[base])]
        return statistics.median(ratios), max(ratios)

    def speedup(self, label: str, base: str) -> tuple[float, float] | None:
        """Median and smallest per-repeat speed-up of label over base (base time over label time)."""
        if label not in self.times or base not in self.times:
            return None
        speedups = [b / a for a, b in zip(self.times[label], self.times[base])]
        return statistics.median(speedups), min(speedups)


def race(calls: dict[str, Callable[[], Any] | None], repeats: int, target: float) -> Timings:
    """Time every call that is not None, interleaved over `repeats` rounds."""
    live = {label: call for label, call in calls.items() if call is not None}
    numbers = {label: loop_size(call, target) for label, call in live.items()}
    times: dict[str, list[float]] = {label: [] for label in live}
    for _ in range(repeats):
        for label, call in live.items():
            times[label].append(per_call(call, numbers[label]))
    return Timings(times)


def fmt_time(seconds: float | None) -> str:
    return NA if seconds is None else timing.fmt_time(seconds)


def fmt_us(seconds: float | None) -> str:
    return NA if seconds is None else f"{seconds * 1e6:.1f}"


def fmt_ratio(value: tuple[float, float] | None) -> str:
    return NA if value is None else f"{value[0]:.2f}×"


# ---------------------------------------------------------------------------------------------
# Targets and tables


@dataclass
class Target:
    what: str
    goal: str  # e.g. "≤ 1.5×"
    measured: tuple[float, float]  # the median and the worst repeat
    met: bool


@dataclass
class Report:
    targets: list[Target] = field(default_factory=list)

    def at_most(self, what: str, ratio: tuple[float, float] | None, limit: float) -> str:
        """Record the target ratio ≤ limit (time over baseline time); the table cell that shows it."""
        if ratio is None:
            return f"≤ {limit:g}×: {NA}"
        target = Target(what, f"≤ {limit:g}×", ratio, ratio[0] <= limit)
        self.targets.append(target)
        return f"≤ {limit:g}× {'✓' if target.met else '✗ MISSED'}"

    def at_least(self, what: str, speedup: tuple[float, float] | None, limit: float) -> str:
        """Record the target speed-up ≥ limit; the table cell that shows it."""
        if speedup is None:
            return f"≥ {limit:g}× faster: {NA}"
        target = Target(what, f"≥ {limit:g}× faster", speedup, speedup[0] >= limit)
        self.targets.append(target)
        return f"≥ {limit:g}× {'✓' if target.met else '✗ MISSED'}"

    def summary(self) -> None:
        print("\n### Targets\n")
        if not self.targets:
            print("No target was measured in this run.")
            return
        met = sum(t.met for t in self.targets)
        print(f"{met} of {len(self.targets)} targets met (median ratio over the repeats).")
        missed = [t for t in self.targets if not t.met]
        if missed:
            print()
            table(
                ["missed target", "goal", "median", "worst repeat"],
                [[t.what, t.goal, f"{t.measured[0]:.2f}×", f"{t.measured[1]:.2f}×"] for t in missed],
            )


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> None:
    """A Markdown table, padded for reading in a terminal. `align` has an "l" or "r" per column (by default
    the first column aligns left, the others right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(w) if a == "l" else cell.rjust(w) for cell, w, a in zip(cells, widths, align)]
        return "| " + " | ".join(padded) + " |"

    rule = [":" + "-" * (w + 1) if a == "l" else "-" * (w + 1) + ":" for w, a in zip(widths, align)]
    print(line(headers))
    print("|" + "|".join(rule) + "|")
    for row in rows:
        print(line(row))
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# Checking


def close(got: Any, expected: Any, what: str) -> None:
    """assert_allclose with a tolerance scaled to the result's size, for arrays of NumPy, JAX or PyTorch."""
    got, expected = as_numpy(got), as_numpy(expected)
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * scale, err_msg=what)


def close_all(got: Any, expected: Any, what: str) -> None:
    if isinstance(expected, tuple):
        assert isinstance(got, (tuple, list)) and len(got) == len(expected), f"{what}: {len(expected)} results"
        for i, (g, e) in enumerate(zip(got, expected)):
            close(g, e, f"{what}, result {i}")
    else:
        close(got, expected, what)


def as_numpy(value: Any) -> np.ndarray:
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def checked(call: Callable[[], Any] | None, expected: Any, what: str) -> Callable[[], Any] | None:
    """`call` after checking its result (which also compiles it, for JAX) against `expected`."""
    if call is not None:
        close_all(call(), expected, what)
    return call


def ready(call: Callable[[], Any]) -> Callable[[], Any]:
    """A JAX call that waits for its results (JAX dispatches asynchronously)."""
    return lambda: jax.block_until_ready(call())


# ---------------------------------------------------------------------------------------------
# The functions: each with its matdiff expression, hand-written NumPy derivatives and a definition that
# NumPy, JAX and PyTorch all run (given the array module)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for any z


@dataclass
class Problem:
    name: str
    text: str
    names: tuple[str, ...]  # the arguments, the variable differentiated by first
    arrays: tuple[np.ndarray, ...]
    value: Callable[..., Any]  # hand NumPy
    grad: Callable[..., Any]  # hand NumPy
    value_and_grad: Callable[..., Any]  # hand NumPy, sharing work
    generic: Callable[[Any], Callable[..., Any]]  # array module -> f(*args), for JAX and PyTorch
    hessian: Callable[..., Any] | None = None  # hand NumPy

    @property
    def expr(self) -> md.Expr:
        return md.parse(self.text)

    @property
    def values(self) -> dict[str, np.ndarray]:
        return dict(zip(self.names, self.arrays))

    def jax_args(self) -> tuple[Any, ...]:
        return tuple(jnp.asarray(a) for a in self.arrays)

    def torch_args(self) -> tuple[Any, ...]:
        return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in self.arrays)


def quadratic(n: int, rng: np.random.Generator) -> Problem:
    A, x = rng.normal(size=(n, n)), rng.normal(size=n)

    def value_and_grad(x, A):
        Ax = A @ x
        return x @ Ax, Ax + A.T @ x

    return Problem(
        "x'*A*x", "x'*A*x", ("x", "A"), (x, A),
        value=lambda x, A: x @ A @ x,
        grad=lambda x, A: A @ x + A.T @ x,
        value_and_grad=value_and_grad,
        generic=lambda xp: lambda x, A: x @ A @ x,
        hessian=lambda x, A: A + A.T,
    )  # fmt: skip


def least_squares(n: int, rng: np.random.Generator) -> Problem:
    X, y, w = rng.normal(size=(2 * n, n)), rng.normal(size=2 * n), rng.normal(size=n)

    def value_and_grad(w, X, y):
        r = X @ w - y
        return r @ r, 2 * (X.T @ r)

    return Problem(
        "norm2(X*w-y)^2", "norm2(X*w-y)^2", ("w", "X", "y"), (w, X, y),
        value=lambda w, X, y: np.sum((X @ w - y) ** 2),
        grad=lambda w, X, y: 2 * (X.T @ (X @ w - y)),
        value_and_grad=value_and_grad,
        generic=lambda xp: lambda w, X, y: xp.sum((X @ w - y) ** 2),
    )  # fmt: skip


def logistic(n: int, rng: np.random.Generator) -> Problem:
    X = rng.normal(size=(2 * n, n)) / np.sqrt(n)
    y = rng.choice([-1.0, 1.0], size=2 * n)
    w = rng.normal(size=n)

    def value_and_grad(w, X, y):
        z = y * (X @ w)
        return np.logaddexp(0.0, -z).sum(), -(X.T @ (y * sigmoid(-z)))

    def hessian(w, X, y):
        s = sigmoid(y * (X @ w))
        return X.T @ ((s * (1 - s))[:, None] * X)

    return Problem(
        "logistic", "sum(log(1+exp(-y.*(X*w))))", ("w", "X", "y"), (w, X, y),
        value=lambda w, X, y: np.logaddexp(0.0, -y * (X @ w)).sum(),
        grad=lambda w, X, y: -(X.T @ (y * sigmoid(-y * (X @ w)))),
        value_and_grad=value_and_grad,
        generic=lambda xp: lambda w, X, y: xp.sum(xp.log(1 + xp.exp(-y * (X @ w)))),
        hessian=hessian,
    )  # fmt: skip


def inverse(n: int, rng: np.random.Generator) -> Problem:
    X = n * np.eye(n) + rng.normal(size=(n, n))
    a, b = rng.normal(size=n), rng.normal(size=n)

    def value_and_grad(X, a, b):
        u, v = np.linalg.solve(X.T, a), np.linalg.solve(X, b)
        return a @ v, -np.outer(u, v)

    return Problem(
        "a'*inv(X)*b", "a'*inv(X)*b", ("X", "a", "b"), (X, a, b),
        value=lambda X, a, b: a @ np.linalg.solve(X, b),
        grad=lambda X, a, b: -np.outer(np.linalg.solve(X.T, a), np.linalg.solve(X, b)),
        value_and_grad=value_and_grad,
        generic=lambda xp: lambda X, a, b: a @ xp.linalg.solve(X, b),
    )  # fmt: skip


def one_lu_gradient(X: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The gradient of a'*inv(X)*b with one LU factorisation of X for both solves (SciPy)."""
    lu = scipy_linalg.lu_factor(X)
    return -np.outer(scipy_linalg.lu_solve(lu, a, trans=1), scipy_linalg.lu_solve(lu, b))


GRADIENT_PROBLEMS = (quadratic, least_squares, logistic)


def md_compile(exprs: Sequence[md.Expr], names: Sequence[str], backend: str = "numpy") -> Callable[..., Any]:
    """md.compile of the expressions, taking the arguments by position in the order `names`."""
    return md.compile(*exprs, args=list(names), backend=backend)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# Sections


@dataclass
class Settings:
    sizes: list[int]
    repeats: int
    target: float


def section_grad(settings: Settings, report: Report) -> None:
    print("\n## 1. Gradients, compiled NumPy\n")
    print("Time per call; ratios are against hand-written NumPy (below 1: faster than it).\n")
    rng = np.random.default_rng(1)
    rows = []
    for n in settings.sizes:
        for make in GRADIENT_PROBLEMS:
            p = make(n, rng)
            args, values = p.arrays, p.values
            expected = p.grad(*args)
            gradient = md.diff(p.expr, p.names[0])
            calls: dict[str, Callable[[], Any] | None] = {"numpy": lambda p=p, args=args: p.grad(*args)}
            compiled = md_compile([gradient], p.names) if HAS_COMPILE else None
            calls["compiled"] = checked(compiled and (lambda c=compiled, a=args: c(*a)), expected, f"compiled {p.name}")
            calls["evaluate"] = checked(lambda g=gradient, v=values: g.evaluate(v), expected, f"evaluate {p.name}")
            calls["jax"] = calls["torch"] = None
            if jax is not None:
                jitted, jargs = jax.jit(jax.grad(p.generic(jnp))), p.jax_args()
                calls["jax"] = checked(ready(lambda f=jitted, a=jargs: f(*a)), expected, f"jax.grad {p.name}")
            if torch is not None:
                tgrad, targs = torch.func.grad(p.generic(torch)), p.torch_args()
                calls["torch"] = checked(lambda f=tgrad, a=targs: f(*a), expected, f"torch.func.grad {p.name}")
            t = race(calls, settings.repeats, settings.target)
            what = f"{p.name} gradient, n = {n}"
            goals = []
            limit = 1.5 if n <= 100 else 1.1 if n >= 1000 else None
            if limit is not None:
                ratio = t.ratio("compiled", "numpy")
                goals.append("compiled " + report.at_most(f"compiled / NumPy, {what}", ratio, limit))
            if n == 100:
                ratio = t.ratio("evaluate", "numpy")
                goals.append("evaluate " + report.at_most(f"evaluate / NumPy, {what}", ratio, 2.0))
            rows.append([
                str(n), p.name, fmt_time(t.median("numpy")),
                fmt_time(t.median("compiled")), fmt_ratio(t.ratio("compiled", "numpy")),
                fmt_time(t.median("evaluate")), fmt_ratio(t.ratio("evaluate", "numpy")),
                fmt_time(t.median("jax")), fmt_ratio(t.ratio("jax", "numpy")),
                fmt_time(t.median("torch")), fmt_ratio(t.ratio("torch", "numpy")),
                "; ".join(goals),
            ])  # fmt: skip
    table(
        ["n", "gradient of", "hand NumPy", "md.compile", "ratio", "evaluate", "ratio",
         "jax.jit(jax.grad)", "ratio", "torch.func.grad", "ratio", "targets"],
        rows, "ll" + "r" * 9 + "l",
    )  # fmt: skip


def section_inverse(settings: Settings, report: Report) -> None:
    print("\n## 2. The inverse: the gradient of a'*inv(X)*b by X\n")
    print("Hand NumPy: -np.outer(np.linalg.solve(X.T, a), np.linalg.solve(X, b)); X = n*I + randn.")
    print("SciPy: the same with one LU factorisation (lu_factor, then lu_solve with trans=1 and 0), for scale.")
    print("JAX and PyTorch differentiate a @ solve(X, b).\n")
    rng = np.random.default_rng(2)
    rows = []
    for n in settings.sizes:
        p = inverse(n, rng)
        args, values = p.arrays, p.values
        expected = p.grad(*args)
        gradient = md.diff(p.expr, "X")
        calls: dict[str, Callable[[], Any] | None] = {"numpy": lambda p=p, args=args: p.grad(*args)}
        compiled = md_compile([gradient], p.names) if HAS_COMPILE else None
        calls["compiled"] = checked(compiled and (lambda c=compiled, a=args: c(*a)), expected, "compiled inverse")
        calls["evaluate"] = checked(lambda g=gradient, v=values: g.evaluate(v), expected, "evaluate inverse")
        calls["scipy"] = calls["jax"] = calls["torch"] = None
        if scipy_linalg is not None:
            calls["scipy"] = checked(lambda a=args: one_lu_gradient(*a), expected, "SciPy one-LU inverse")
        if jax is not None:
            jitted, jargs = jax.jit(jax.grad(p.generic(jnp))), p.jax_args()
            calls["jax"] = checked(ready(lambda f=jitted, a=jargs: f(*a)), expected, "jax.grad inverse")
        if torch is not None:
            tgrad, targs = torch.func.grad(p.generic(torch)), p.torch_args()
            calls["torch"] = checked(lambda f=tgrad, a=targs: f(*a), expected, "torch.func.grad inverse")
        t = race(calls, settings.repeats, settings.target)
        what = f"compiled / solve-based NumPy, a'*inv(X)*b by X, n = {n}"
        goal = report.at_most(what, t.ratio("compiled", "numpy"), 1.1)
        rows.append([
            str(n), fmt_time(t.median("numpy")),
            fmt_time(t.median("scipy")), fmt_ratio(t.ratio("scipy", "numpy")),
            fmt_time(t.median("compiled")), fmt_ratio(t.ratio("compiled", "numpy")),
            fmt_time(t.median("evaluate")), fmt_ratio(t.ratio("evaluate", "numpy")),
            fmt_time(t.median("jax")), fmt_ratio(t.ratio("jax", "numpy")),
            fmt_time(t.median("torch")), fmt_ratio(t.ratio("torch", "numpy")),
            "compiled " + goal,
        ])  # fmt: skip
    table(
        ["n", "hand NumPy (solve)", "SciPy (one LU)", "ratio", "md.compile", "ratio", "evaluate", "ratio",
         "jax.jit(jax.grad)", "ratio", "torch.func.grad", "ratio", "target"],
        rows, "l" + "r" * 11 + "l",
    )  # fmt: skip


def section_jax(settings: Settings, report: Report) -> None:
    print("\n## 3. The JAX backend\n")
    if jax is None:
        print("Skipped: JAX is not installed.")
        return
    if not HAS_COMPILE:
        print("Skipped: this matdiff has no md.compile.")
        return
    print("Both sides jax.jit-compiled before timing, x64, results waited for (block_until_ready).\n")
    print('### Gradients: jax.jit(md.compile(gradient, backend="jax")) beside jax.jit(jax.grad(f))\n')
    rng = np.random.default_rng(3)
    rows = []
    for n in settings.sizes:
        for make in GRADIENT_PROBLEMS:
            p = make(n, rng)
            expected, jargs = p.grad(*p.arrays), p.jax_args()
            gradient = md.diff(p.expr, p.names[0])
            ours = jax.jit(md_compile([gradient], p.names, backend="jax"))
            theirs = jax.jit(jax.grad(p.generic(jnp)))
            t = race(
                {
                    "jax": checked(ready(lambda f=theirs, a=jargs: f(*a)), expected, f"jax.grad {p.name}"),
                    "ours": checked(ready(lambda f=ours, a=jargs: f(*a)), expected, f"md.compile jax {p.name}"),
                },
                settings.repeats,
                settings.target,
            )
            ratio = t.ratio("ours", "jax")
            goal = report.at_most(f"md.compile jax / jax.grad, {p.name} gradient, n = {n}", ratio, 1.2)
            rows.append([str(n), p.name, fmt_time(t.median("jax")), fmt_time(t.median("ours")), fmt_ratio(ratio), goal])
    table(["n", "gradient of", "jax.jit(jax.grad)", "jax.jit(md.compile)", "ratio", "target"], rows, "llrrrl")

    print('\n### Hessians: jax.jit(md.compile(hessian, backend="jax")) beside jax.jit(jax.hessian(f))\n')
    print("The speed-up is jax.hessian's time over md.compile's (above 1: md.compile is faster).\n")
    rows = []
    for n in settings.sizes:
        for make, limit in ((quadratic, 20.0), (logistic, 3.0)):
            p = make(n, rng)
            assert p.hessian is not None
            expected, jargs = p.hessian(*p.arrays), p.jax_args()
            hessian = md.diff(p.expr, p.names[0], p.names[0])
            ours = jax.jit(md_compile([hessian], p.names, backend="jax"))
            theirs = jax.jit(jax.hessian(p.generic(jnp)))
            t = race(
                {
                    "numpy": lambda p=p: p.hessian(*p.arrays),  # type: ignore[misc]
                    "jax": checked(ready(lambda f=theirs, a=jargs: f(*a)), expected, f"jax.hessian {p.name}"),
                    "ours": checked(ready(lambda f=ours, a=jargs: f(*a)), expected, f"md.compile jax {p.name} Hessian"),
                },
                settings.repeats,
                settings.target,
            )
            speedup = t.speedup("ours", "jax")
            goal = ""
            if n == 2000:
                goal = report.at_least(f"jax.hessian / md.compile jax, {p.name} Hessian, n = {n}", speedup, limit)
            rows.append([
                str(n), p.name, fmt_time(t.median("numpy")), fmt_time(t.median("jax")), fmt_time(t.median("ours")),
                NA if speedup is None else f"{speedup[0]:.1f}×", goal,
            ])  # fmt: skip
    table(
        ["n", "Hessian of", "hand NumPy", "jax.jit(jax.hessian)", "jax.jit(md.compile)", "speed-up", "target"],
        rows, "llrrrrl",
    )  # fmt: skip


def section_overhead(settings: Settings, report: Report) -> None:
    print("\n## 4. Fixed cost per call: value and gradient at n = 2, in µs\n")
    rng = np.random.default_rng(4)
    rows = []
    for make in GRADIENT_PROBLEMS:
        p = make(2, rng)
        args, values = p.arrays, p.values
        expected = tuple(p.value_and_grad(*args))
        value = p.expr
        gradient = md.diff(value, p.names[0])
        calls: dict[str, Callable[[], Any] | None] = {
            "numpy": lambda p=p, a=args: p.value_and_grad(*a),
            "evaluate": checked(lambda e=[value, gradient], v=values: md.evaluate(e, v), expected, "md.evaluate"),
        }
        calls["compiled"] = calls["md jax"] = calls["md torch"] = calls["jax"] = calls["torch"] = None
        if HAS_COMPILE:
            compiled = md_compile([value, gradient], p.names)
            calls["compiled"] = checked(lambda c=compiled, a=args: c(*a), expected, f"compiled {p.name}")
        if jax is not None:
            jargs = p.jax_args()
            vg = jax.jit(jax.value_and_grad(p.generic(jnp)))
            calls["jax"] = checked(ready(lambda f=vg, a=jargs: f(*a)), expected, f"jax.value_and_grad {p.name}")
            if HAS_COMPILE:
                ours = jax.jit(md_compile([value, gradient], p.names, backend="jax"))
                calls["md jax"] = checked(ready(lambda f=ours, a=jargs: f(*a)), expected, f"md.compile jax {p.name}")
        if torch is not None:
            targs = p.torch_args()
            gv = torch.func.grad_and_value(p.generic(torch))
            swapped = tuple(reversed(expected))  # grad_and_value returns (gradient, value)
            calls["torch"] = checked(lambda f=gv, a=targs: f(*a), swapped, f"torch.func.grad_and_value {p.name}")
            if HAS_COMPILE:
                ours_t = md_compile([value, gradient], p.names, backend="torch")
                calls["md torch"] = checked(lambda f=ours_t, a=targs: f(*a), expected, f"md.compile torch {p.name}")
        t = race(calls, settings.repeats, settings.target)
        rows.append([p.name] + [fmt_us(t.median(k)) for k in
                    ("numpy", "compiled", "evaluate", "md jax", "jax", "md torch", "torch")])  # fmt: skip
    table(
        ["value and gradient of", "hand NumPy", "md.compile numpy", "md.evaluate", "jax.jit(md.compile jax)",
         "jax.jit(jax.value_and_grad)", "md.compile torch", "torch.func.grad_and_value"],
        rows,
    )  # fmt: skip


def network_text(layers: int) -> str:
    inner = "x"
    for k in range(1, layers + 1):
        inner = f"tanh(W{k}*{inner})"
    return f"sum({inner})"


def network_hessian(x: np.ndarray, *weights: np.ndarray) -> np.ndarray:
    """The Hessian of sum(h_L), h_k = tanh(W_k h_(k-1)), h_0 = x, by hand: forward Jacobians da_k/dx, then
    H = sum_k (da_k/dx)' diag(delta_k .* tanh''(a_k)) (da_k/dx) with the adjoints delta_k = df/dh_k."""
    jacobian = np.eye(len(x))  # dh_k/dx
    pre, outputs = [], []
    h = x
    for W in weights:
        da = W @ jacobian
        h = np.tanh(W @ h)
        jacobian = (1 - h**2)[:, None] * da
        pre.append(da)
        outputs.append(h)
    delta = np.ones_like(h)
    H = np.zeros((len(x), len(x)))
    for W, da, h in zip(reversed(weights), reversed(pre), reversed(outputs)):
        d1 = 1 - h**2
        H += da.T @ ((delta * -2 * h * d1)[:, None] * da)
        delta = W.T @ (delta * d1)
    return H


def section_deep(settings: Settings, report: Report) -> None:
    print("\n## 5. A deep network: the Hessian by x of sum(tanh(W_L*...tanh(W1*x))), 5 x 5 matrices\n")
    print("md.diff and md.compile are timed once (the first call); the others per call.\n")
    rng = np.random.default_rng(5)
    rows = []
    for layers in (2, 4, 6, 8):
        names = ("x", *(f"W{k}" for k in range(1, layers + 1)))
        arrays = (rng.normal(size=5), *(rng.normal(size=(5, 5)) / np.sqrt(5) * 1.5 for _ in range(layers)))
        values = dict(zip(names, arrays))
        expected = network_hessian(*arrays)
        f = md.parse(network_text(layers))
        start = time.perf_counter()
        hessian = md.diff(f, "x", "x")
        t_diff = time.perf_counter() - start
        calls: dict[str, Callable[[], Any] | None] = {
            "numpy": lambda a=arrays: network_hessian(*a),
            "evaluate": checked(lambda h=hessian, v=values: h.evaluate(v), expected, f"evaluate, {layers} layers"),
            "compiled": None,
            "jax": None,
        }
        t_compile = None
        if HAS_COMPILE:
            start = time.perf_counter()
            compiled = md_compile([hessian], names)
            t_compile = time.perf_counter() - start
            calls["compiled"] = checked(lambda c=compiled, a=arrays: c(*a), expected, f"compiled, {layers} layers")
        if jax is not None:
            generic = lambda x, *Ws: jnp.sum(_network(jnp, x, Ws))
            jitted, jargs = jax.jit(jax.hessian(generic)), tuple(jnp.asarray(a) for a in arrays)
            calls["jax"] = checked(ready(lambda f=jitted, a=jargs: f(*a)), expected, f"jax.hessian, {layers} layers")
        t = race(calls, settings.repeats, settings.target)
        rows.append([
            str(layers), fmt_time(t_diff), fmt_time(t_compile), fmt_time(t.median("numpy")),
            fmt_time(t.median("evaluate")), fmt_time(t.median("compiled")),
            fmt_ratio(t.ratio("evaluate", "compiled")), fmt_time(t.median("jax")),
        ])  # fmt: skip
    table(
        ["layers", "md.diff (once)", "md.compile (once)", "hand NumPy", "evaluate", "md.compile",
         "evaluate / compiled", "jax.jit(jax.hessian)"],
        rows,
    )  # fmt: skip


def _network(xp: Any, x: Any, weights: Sequence[Any]) -> Any:
    h = x
    for W in weights:
        h = xp.tanh(W @ h)
    return h


RUNNERS = {
    "grad": section_grad,
    "inverse": section_inverse,
    "jax": section_jax,
    "overhead": section_overhead,
    "deep": section_deep,
}


def header() -> None:
    versions = [f"matdiff {md.__version__}", f"Python {platform.python_version()}", f"NumPy {np.__version__}"]
    versions.append(f"JAX {jax.__version__}" if jax is not None else "JAX not installed")
    versions.append(f"PyTorch {torch.__version__}" if torch is not None else "PyTorch not installed")
    print("# matdiff compiled evaluation benchmark\n")
    print(", ".join(versions))
    threads = {
        name: os.environ.get(name, "unset")
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")
    }
    cores = f"{os.cpu_count()} cores"
    if hasattr(os, "sched_getaffinity"):
        cores += f" ({len(os.sched_getaffinity(0))} usable by this process)"
    print(f"{platform.machine()}, {cores}; " + ", ".join(f"{k}={v}" for k, v in threads.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 10 and 100, few repeats, short loops (for CI)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="values of n (default 10 100 1000 2000)")
    parser.add_argument("--repeats", "--repeat", type=int, default=None, help="timing repeats (default 7, quick 3)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=None, metavar="SECTION",
                        help=f"run only these sections: {', '.join(SECTIONS)}")  # fmt: skip
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")  # µs, ×, ✓ on any locale
    sizes = args.sizes or ([10, 100] if args.quick else [10, 100, 1000, 2000])
    if min(sizes) < 1:
        parser.error("sizes must be positive")
    repeats = args.repeats or (3 if args.quick else 7)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    settings = Settings(sizes, repeats, 0.01 if args.quick else 0.1)

    notes = load_optional()
    header()
    for note in notes:
        print(note)
    print(f"{repeats} repeats, interleaved; n = {', '.join(map(str, sizes))}; derivation and compilation not timed.")
    report = Report()
    start = time.perf_counter()
    for name in [s for s in SECTIONS if args.only is None or s in args.only]:
        RUNNERS[name](settings, report)
    report.summary()
    elapsed = time.perf_counter() - start
    print(f"\nEvery result equals the hand-written NumPy one (assert_allclose, rtol 1e-9). {elapsed:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
