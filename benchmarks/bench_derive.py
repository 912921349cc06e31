"""Derivation speed: md.diff beside SymPy's matrix-expression `.diff`, with a numeric check of both.

Run from the repository root:

    python benchmarks/bench_derive.py            # the full suite
    python benchmarks/bench_derive.py --quick    # fewer repeats, for CI

For every case the script times md.diff (parsing excluded) and, where SymPy can write the expression
with MatrixSymbol, SymPy's `expr.diff(X)`. Both results are evaluated at a random point (n = 3, m = 5):
matdiff's against central differences of its own evaluation one order lower, SymPy's against matdiff's
value (or the finite differences where matdiff disagrees with them). SymPy's cache is cleared before
each timed call, since a repeated call would otherwise return the cached result.

The machine this runs on may be small and noisy: compare the ratios, not the absolute times. Nothing here
asserts on time.
"""

from __future__ import annotations

import argparse
import math
import signal
import statistics
import sys
import time
import timeit
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

import matdiff as md

try:
    import sympy as sp
    from sympy.core.cache import clear_cache
except ImportError:  # SymPy is optional: without it only matdiff is timed
    sp = None

DIMS = {"n": 3, "m": 5}  # sizes of the random point used for the numeric checks


@dataclass(frozen=True)
class Case:
    text: str  # matdiff syntax
    wrt: tuple[str, ...]  # md.diff(f, *wrt): one name for a gradient/Jacobian, two for a second derivative
    sympy: Callable[[Any], Any] | None = None  # builds the SymPy expression from a namespace of symbols
    kinds: dict[str, str] = field(default_factory=dict)
    shapes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # default: vectors (n,), matrices (n, n)
    domain: str = "normal"  # "spd": square matrices are SPD; "positive": entries in [0.5, 1.5]
    signs: tuple[str, ...] = ()  # vectors whose values are +-1 (labels of the logistic loss)
    note: str = ""


def _sum(v):  # the sum of a column vector's entries, as a 1 x 1 matrix expression (SymPy's natural form)
    return sp.OneMatrix(1, v.shape[0]) * v


def _scalar_sum(v):  # the same as a scalar, for scalar functions of it
    return _sum(v)[0, 0]


def _ew(v, f):  # element-wise function
    return v.applyfunc(f)


def _sigmoid(z):
    return 1 / (1 + sp.exp(-z))


# fmt: off
CASES: list[Case] = [
    # --- scalar-valued, gradients: the lecture's and the Matrix Cookbook's identities
    Case("a'*x", ("x",), lambda s: s.a.T * s.x),
    Case("x'*a", ("x",), lambda s: s.x.T * s.a),
    Case("x'*x", ("x",), lambda s: s.x.T * s.x),
    Case("x'*A*x", ("x",), lambda s: s.x.T * s.A * s.x),
    Case("x'*A*x", ("A",), lambda s: s.x.T * s.A * s.x),
    Case("a'*X*b", ("X",), lambda s: s.a.T * s.X * s.b),
    Case("a'*X'*b", ("X",), lambda s: s.a.T * s.X.T * s.b),
    Case("a'*inv(X)*b", ("X",), lambda s: s.a.T * s.X.inv() * s.b, domain="spd"),
    Case("x'*inv(A)*x", ("A",), lambda s: s.x.T * s.A.inv() * s.x, domain="spd"),
    Case("(x-A*s)'*W*(x-A*s)", ("s",), lambda s: (s.x - s.A * s.s).T * s.W * (s.x - s.A * s.s),
         kinds={"s": "vector", "W": "symmetric"}, shapes={"A": ("n", "m"), "s": ("m",)}, note="W symmetric"),
    Case("norm2(y-P*theta)^2", ("theta",), lambda s: (s.y - s.P * s.theta).T * (s.y - s.P * s.theta),
         shapes={"P": ("m", "n"), "y": ("m",)}, note="least squares"),
    Case("tr(X)", ("X",), lambda s: sp.Trace(s.X)),
    Case("tr(A*X*B)", ("X",), lambda s: sp.Trace(s.A * s.X * s.B)),
    Case("tr(X'*A*X)", ("X",), lambda s: sp.Trace(s.X.T * s.A * s.X)),
    Case("tr(X*X)", ("X",), lambda s: sp.Trace(s.X * s.X)),
    Case("tr(inv(X)*A)", ("X",), lambda s: sp.Trace(s.X.inv() * s.A), domain="spd"),
    Case("det(X)", ("X",), lambda s: sp.det(s.X), domain="spd"),
    Case("det(A*X*B)", ("X",), lambda s: sp.det(s.A * s.X * s.B), domain="spd"),
    Case("logdet(X)", ("X",), lambda s: sp.log(sp.det(s.X)), domain="spd"),
    Case("logdet(X'*X)", ("X",), lambda s: sp.log(sp.det(s.X.T * s.X))),
    Case("logdet(S)", ("S",), None, kinds={"S": "symmetric"}, domain="spd", note="S symmetric"),
    Case("x'*S*x", ("S",), None, kinds={"S": "symmetric"}, note="S symmetric"),
    Case("norm2(x)", ("x",), lambda s: sp.sqrt((s.x.T * s.x)[0, 0])),
    Case("norm1(x)", ("x",), None),
    Case("sum(x)", ("x",), lambda s: _sum(s.x)),
    # --- scalar functions of traces and inner products: SymPy's silent failures
    Case("log(tr(X))", ("X",), lambda s: sp.log(sp.Trace(s.X)), domain="positive"),
    Case("exp(a'*x)", ("x",), lambda s: sp.exp((s.a.T * s.x)[0, 0])),
    Case("sin(a'*x)", ("x",), lambda s: sp.sin((s.a.T * s.x)[0, 0])),
    Case("1/tr(X)", ("X",), lambda s: 1 / sp.Trace(s.X), domain="positive"),
    Case("tr(A)+tr(A*A)", ("A",), lambda s: sp.Trace(s.A) + sp.Trace(s.A * s.A)),
    Case("tr(X'*X)-3", ("X",), lambda s: sp.Trace(s.X.T * s.X) - 3),
    Case("tr(A*X)/tr(B*X)", ("X",), lambda s: sp.Trace(s.A * s.X) / sp.Trace(s.B * s.X), domain="positive"),
    Case("sqrt(tr(X'*X))", ("X",), lambda s: sp.sqrt(sp.Trace(s.X.T * s.X))),
    Case("(a'*x)^2", ("x",), lambda s: (s.a.T * s.x) ** 2),
    Case("a'*(x.*x)", ("x",), lambda s: s.a.T * sp.hadamard_product(s.x, s.x)),
    Case("a'*exp(x)", ("x",), lambda s: s.a.T * _ew(s.x, sp.exp)),
    Case("logsumexp(x)", ("x",), lambda s: sp.log(_scalar_sum(_ew(s.x, sp.exp)))),
    Case("sigmoid(a'*x)", ("x",), lambda s: _sigmoid((s.a.T * s.x)[0, 0])),
    Case("sum(tanh(W*x))", ("W",), lambda s: _sum(_ew(s.W * s.x, sp.tanh)), shapes={"W": ("m", "n")}),
    Case("sum(log(1+exp(-y.*(X*w))))", ("w",),
         lambda s: _sum(_ew(sp.OneMatrix(s.m, 1) + _ew(-sp.hadamard_product(s.y, s.X * s.w), sp.exp), sp.log)),
         shapes={"X": ("m", "n"), "y": ("m",)}, signs=("y",), note="logistic loss"),
    Case("norm2(x-V*sigmoid(W*x+b)-c)^2", ("W",),
         lambda s: (lambda r: r.T * r)(s.x - s.V * _ew(s.W * s.x + s.b, _sigmoid) - s.c),
         shapes={"V": ("n", "m"), "W": ("m", "n"), "b": ("m",)}, note="auto-encoder"),
    # --- the lecture's scalar examples
    Case("(2*x+1)^4", ("x",), lambda s: (2 * s.x + 1) ** 4, kinds={"x": "scalar"}),
    Case("(x+2*y^3)^2", ("y",), lambda s: (s.x + 2 * s.y**3) ** 2, kinds={"x": "scalar", "y": "scalar"}),
    Case("x1^2*x2+x1*x2^3", ("x1",), lambda s: s.x1**2 * s.x2 + s.x1 * s.x2**3,
         kinds={"x1": "scalar", "x2": "scalar"}),
    Case("sin(t)^2+2*cos(t)", ("t",), lambda s: sp.sin(s.t) ** 2 + 2 * sp.cos(s.t), kinds={"t": "scalar"}),
    Case("exp(t*cos(t)*(t*sin(t))^2)", ("t",), lambda s: sp.exp(s.t * sp.cos(s.t) * (s.t * sp.sin(s.t)) ** 2),
         kinds={"t": "scalar"}),
    # --- vector-valued: Jacobians (SymPy returns them transposed, in denominator layout)
    Case("A*x", ("x",), lambda s: s.A * s.x, shapes={"A": ("m", "n")}),
    Case("A*x", ("A",), lambda s: s.A * s.x, shapes={"A": ("m", "n")}),
    Case("x.*x", ("x",), lambda s: sp.hadamard_product(s.x, s.x)),
    Case("exp(x)", ("x",), lambda s: _ew(s.x, sp.exp)),
    Case("tanh(W*x)", ("x",), lambda s: _ew(s.W * s.x, sp.tanh), shapes={"W": ("m", "n")}),
    Case("sigmoid(W*x+b)", ("W",), lambda s: _ew(s.W * s.x + s.b, _sigmoid), shapes={"W": ("m", "n"), "b": ("m",)}),
    Case("relu(W*x)", ("x",), None, shapes={"W": ("m", "n")}),
    Case("softmax(x)", ("x",), lambda s: _ew(s.x, sp.exp) / _scalar_sum(_ew(s.x, sp.exp))),
    Case("x/norm2(x)", ("x",), lambda s: s.x / sp.sqrt((s.x.T * s.x)[0, 0])),
    Case("x/(x'*x)", ("x",), lambda s: s.x / sp.Trace(s.x.T * s.x), note="SymPy: x/tr(x'x)"),
    Case("x*x'", ("x",), lambda s: s.x * s.x.T),
    # --- matrix-valued
    Case("inv(X)", ("X",), lambda s: s.X.inv(), domain="spd"),
    Case("A*X*B", ("X",), lambda s: s.A * s.X * s.B),
    Case("X'", ("X",), lambda s: s.X.T),
    Case("X*X", ("X",), lambda s: s.X * s.X),
    Case("X.*X", ("X",), lambda s: sp.hadamard_product(s.X, s.X)),
    Case("B'*B", ("B",), lambda s: s.B.T * s.B, shapes={"B": ("m", "n")}),
    Case("inv(A+t*B)", ("t",), lambda s: (s.A + s.t * s.B).inv(), kinds={"t": "scalar"}, domain="spd"),
    Case("det(X)*inv(X)", ("X",), lambda s: sp.det(s.X) * s.X.inv(), domain="spd"),
    # --- second derivatives
    Case("x'*A*x", ("x", "x"), lambda s: s.x.T * s.A * s.x),
    Case("x'*A*x", ("x", "A"), lambda s: s.x.T * s.A * s.x),
    Case("norm2(A*x-b)^2", ("x", "x"), lambda s: (s.A * s.x - s.b).T * (s.A * s.x - s.b),
         shapes={"A": ("m", "n"), "b": ("m",)}),
    Case("(a'*x)^2", ("x", "x"), lambda s: (s.a.T * s.x) ** 2),
    Case("a'*exp(x)", ("x", "x"), lambda s: s.a.T * _ew(s.x, sp.exp)),
    Case("logsumexp(x)", ("x", "x"), lambda s: sp.log(_scalar_sum(_ew(s.x, sp.exp)))),
    Case("norm2(x)", ("x", "x"), lambda s: sp.sqrt((s.x.T * s.x)[0, 0])),
    Case("sigmoid(a'*x)", ("x", "x"), lambda s: _sigmoid((s.a.T * s.x)[0, 0])),
    Case("sum(log(1+exp(-y.*(X*w))))", ("w", "w"),
         lambda s: _sum(_ew(sp.OneMatrix(s.m, 1) + _ew(-sp.hadamard_product(s.y, s.X * s.w), sp.exp), sp.log)),
         shapes={"X": ("m", "n"), "y": ("m",)}, signs=("y",), note="logistic Hessian"),
    Case("tr(X'*A*X)", ("X", "X"), lambda s: sp.Trace(s.X.T * s.A * s.X)),
    Case("logdet(X)", ("X", "X"), lambda s: sp.log(sp.det(s.X)), domain="spd"),
    Case("det(X)", ("X", "X"), lambda s: sp.det(s.X), domain="spd"),
    Case("(x+2*y^3)^2", ("x", "y"), lambda s: (s.x + 2 * s.y**3) ** 2, kinds={"x": "scalar", "y": "scalar"}),
]
# fmt: on


# ---------------------------------------------------------------------------------------------
# Values and numeric checks


def _shape(case: Case, name: str, kind: str) -> tuple[str, ...]:
    if name in case.shapes:
        return case.shapes[name]
    return {"scalar": (), "vector": ("n",), "matrix": ("n", "n"), "symmetric": ("n", "n")}[kind]


def random_values(case: Case, variables: dict[str, str], rng: np.random.Generator) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, kind in variables.items():
        shape = tuple(DIMS[d] for d in _shape(case, name, kind))
        if kind == "scalar":
            values[name] = float(rng.uniform(0.5, 1.5))
        elif name in case.signs:
            values[name] = rng.choice([-1.0, 1.0], size=shape)
        elif case.domain == "positive":
            values[name] = rng.uniform(0.5, 1.5, shape)
        else:
            values[name] = rng.normal(size=shape)
        if kind == "symmetric" or (kind == "matrix" and case.domain == "spd" and shape[0] == shape[1]):
            M = values[name]
            values[name] = M @ M.T / shape[0] + np.eye(shape[0]) if case.domain == "spd" else (M + M.T) / 2
    return values


def central_difference(expr, values: dict[str, Any], name: str, symmetric: bool, h: float = 1e-6) -> np.ndarray:
    """d expr / d values[name]; for a symmetric variable, the symmetrised gradient (G + G')/2."""
    x = np.asarray(values[name], dtype=float)
    f0 = np.asarray(expr.evaluate(values))
    out = np.zeros(f0.shape + x.shape)
    for index in np.ndindex(*x.shape) if x.shape else [()]:
        step = h * max(1.0, abs(float(x[index])))
        direction = np.zeros_like(x)
        direction[index] = 1.0
        if symmetric:
            direction[index[::-1]] = 1.0
        plus, minus = dict(values), dict(values)
        plus[name], minus[name] = x + step * direction, x - step * direction
        if not x.shape:
            plus[name], minus[name] = float(plus[name]), float(minus[name])
        diff = (np.asarray(expr.evaluate(plus)) - np.asarray(expr.evaluate(minus))) / (2 * step)
        out[(...,) + tuple(index)] = diff / 2 if symmetric and index[0] != index[1] else diff
    return out


def close(a: np.ndarray, b: np.ndarray, rtol: float) -> bool:
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=rtol * scale))


# ---------------------------------------------------------------------------------------------
# Timing


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def limited(function: Callable[[], Any], seconds: float) -> Any:
    """Call `function`, raising _Timeout after `seconds` (where the platform has SIGALRM)."""
    if not hasattr(signal, "setitimer"):
        return function()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return function()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def median_time(function: Callable[[], Any], repeats: int, target: float) -> float:
    """Median seconds per call over `repeats` runs of a loop sized to take about `target` seconds."""
    timer = timeit.Timer(function)
    once = timer.timeit(1)
    number = max(1, min(10_000, int(target / max(once, 1e-7))))
    return statistics.median(t / number for t in timer.repeat(repeats, number))


# ---------------------------------------------------------------------------------------------
# SymPy


def sympy_symbols(case: Case, variables: dict[str, str]) -> SimpleNamespace:
    dims = {d: sp.Symbol(d, integer=True, positive=True) for d in DIMS}
    symbols = {}
    for name, kind in variables.items():
        shape = [dims[d] for d in _shape(case, name, kind)]
        if kind == "scalar":
            symbols[name] = sp.Symbol(name)
        elif kind == "vector":
            symbols[name] = sp.MatrixSymbol(name, shape[0], 1)
        else:
            symbols[name] = sp.MatrixSymbol(name, *shape)
    return SimpleNamespace(**symbols, **dims)


def sympy_numeric(result, s: SimpleNamespace, values: dict[str, Any]) -> np.ndarray:
    """Evaluate a SymPy derivative at the point `values`, through explicit matrices."""
    result = result.xreplace({getattr(s, d): sp.Integer(size) for d, size in DIMS.items()})
    replace = {}
    for name, value in values.items():
        if np.ndim(value) == 0:
            replace[sp.Symbol(name)] = sp.Float(float(value))
        else:
            array = np.asarray(value, dtype=float).reshape(np.shape(value)[0], -1)
            replace[sp.MatrixSymbol(name, *array.shape)] = sp.ImmutableMatrix(array)
    result = result.xreplace(replace).doit()
    if hasattr(result, "as_explicit"):
        result = result.as_explicit()
    if isinstance(result, sp.MatrixBase | sp.NDimArray):
        return np.array(result.tolist(), dtype=float)
    return np.array(float(sp.N(result)))


def sympy_layouts(value: np.ndarray, blocks: list[int]) -> list[np.ndarray]:
    """matdiff's layout (output axes, then each variable's) and SymPy's (the blocks in reverse order)."""
    starts = np.cumsum([0] + blocks)
    order = [i for b in reversed(range(len(blocks))) for i in range(starts[b], starts[b + 1])]
    return [value, np.transpose(value, order)]


def run_sympy(case: Case, variables, values, reference, blocks, repeats: int, limit: float) -> tuple[str, float]:
    """SymPy's status on the case ('ok', 'ok(T)', 'wrong', ...) and its median time (nan if none)."""
    if case.sympy is None:
        return "n/a", math.nan
    s = sympy_symbols(case, variables)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expr = case.sympy(s)
            wrt = [getattr(s, name) for name in case.wrt]
        except Exception as error:  # SymPy cannot even build it
            return f"n/a ({type(error).__name__})", math.nan

        def derive():
            result = expr
            for variable in wrt:
                result = result.diff(variable)
            return result

        clear_cache()
        try:
            result = limited(derive, limit)
        except _Timeout:
            return "timeout", math.nan
        except Exception as error:
            return f"error ({type(error).__name__})", math.nan
        times = []
        for _ in range(repeats):
            clear_cache()
            start = time.perf_counter()
            try:
                limited(derive, limit)
            except _Timeout:
                break
            times.append(time.perf_counter() - start)
        elapsed = statistics.median(times) if times else math.nan
        if isinstance(result, sp.Basic) and result.has(sp.Derivative):
            return "unevaluated", elapsed
        if reference is None:
            return "unchecked", elapsed
        try:
            value = limited(lambda: sympy_numeric(result, s, values), limit)
        except (Exception, _Timeout):
            return "unchecked", elapsed
    squeezed = np.squeeze(value)
    layouts = [np.squeeze(v) for v in sympy_layouts(reference, blocks)]
    if close(squeezed, layouts[0], 1e-6):
        return "ok", elapsed
    if close(squeezed, layouts[1], 1e-6):
        return "ok(T)", elapsed
    if squeezed.shape != layouts[0].shape and squeezed.shape != layouts[1].shape:
        return "wrong shape", elapsed
    return "wrong", elapsed


# ---------------------------------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (for CI)")
    parser.add_argument("--repeat", type=int, default=None, help="timing repeats per case (default 7, quick 3)")
    parser.add_argument("--limit", type=float, default=10.0, help="seconds allowed per SymPy call (default 10)")
    parser.add_argument("--no-sympy", action="store_true", help="time matdiff only")
    parser.add_argument("-k", default="", help="only cases whose text contains this string")
    args = parser.parse_args(argv)
    repeats = args.repeat or (3 if args.quick else 7)
    target = 0.01 if args.quick else 0.04
    sympy_repeats = 3 if args.quick else 5
    use_sympy = sp is not None and not args.no_sympy
    if sp is None and not args.no_sympy:
        print("SymPy is not installed: timing matdiff only.\n")

    cases = [c for c in CASES if args.k in c.text]
    header = f"{'#':>3}  {'expression':<32} {'d/d':<6} {'result':<7} {'matdiff':>9}"
    if use_sympy:
        header += f" {'sympy':>9} {'ratio':>7}  {'md check':<9} {'sympy':<22}"
    else:
        header += f"  {'md check':<9}"
    versions = f"matdiff {md.__version__}, NumPy {np.__version__}" + (f", SymPy {sp.__version__}" if use_sympy else "")
    print(versions)
    print(f"{len(cases)} cases; {repeats} repeats; checks at n = {DIMS['n']}, m = {DIMS['m']}\n")
    print(header)
    print("-" * len(header))

    rows = []
    for number, case in enumerate(cases, 1):
        f = md.parse(case.text, **case.kinds)
        variables = dict(f.variables)
        values = random_values(case, variables, np.random.default_rng(number))
        status, reference, elapsed, kind, blocks = "ok", None, math.nan, "-", []
        try:
            derivative = md.diff(f, *case.wrt)
            kind = derivative.kind
            elapsed = median_time(lambda f=f, case=case: md.diff(f, *case.wrt), repeats, target)
            reference = np.asarray(derivative.evaluate(values))
            lower = md.diff(f, *case.wrt[:-1]) if len(case.wrt) > 1 else f
            last = case.wrt[-1]
            fd = central_difference(lower, values, last, variables[last] == "symmetric")
            if not close(reference, fd, 1e-5):
                status = "FD MISMATCH"
                reference = fd
            blocks = [f.ndim] + [np.ndim(values[w]) for w in case.wrt]
        except Exception as error:  # an engine bug: report it, keep going
            status = f"error ({type(error).__name__}: {error})"[:60]
        row = {"case": case, "md": elapsed, "md_status": status, "sympy": math.nan, "sympy_status": ""}
        line = f"{number:>3}  {case.text:<32} {','.join(case.wrt):<6} {kind:<7} {fmt_time(elapsed):>9}"
        if use_sympy:
            sympy_status, sympy_time = run_sympy(case, variables, values, reference, blocks, sympy_repeats, args.limit)
            row.update(sympy=sympy_time, sympy_status=sympy_status)
            ratio = sympy_time / elapsed if sympy_status.startswith("ok") else math.nan
            ratio_text = "-" if math.isnan(ratio) else f"{ratio:.1f}x"
            line += f" {fmt_time(sympy_time):>9} {ratio_text:>7}  {status:<9} {sympy_status:<22}"
        else:
            line += f"  {status:<9}"
        print((line + ("  " + case.note if case.note else "")).rstrip(), flush=True)
        rows.append(row)

    print()
    md_times = [r["md"] for r in rows if not math.isnan(r["md"])]
    md_ok = sum(r["md_status"] == "ok" for r in rows)
    print(f"matdiff: {md_ok}/{len(rows)} derivatives agree with finite differences")
    if md_times:
        print(f"matdiff: median md.diff time over {len(md_times)} cases: {fmt_time(statistics.median(md_times))}")
    if use_sympy:
        tally: dict[str, int] = {}
        for r in rows:
            key = r["sympy_status"].split(" (")[0]
            tally[key] = tally.get(key, 0) + 1
        print("SymPy:   " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items(), key=lambda kv: -kv[1])))
        good = [r for r in rows if r["sympy_status"].startswith("ok") and not math.isnan(r["sympy"])]
        returned = [r["sympy"] for r in rows if not math.isnan(r["sympy"])]
        if returned:
            print(
                f"SymPy:   median .diff time over the {len(returned)} cases it returns: "
                f"{fmt_time(statistics.median(returned))}"
            )
        if good:
            print(
                f"SymPy:   median .diff time over the {len(good)} cases it gets right: "
                f"{fmt_time(statistics.median(r['sympy'] for r in good))}"
            )
            ratios = [r["sympy"] / r["md"] for r in good if not math.isnan(r["md"])]
            print(
                f"Ratio:   median SymPy/matdiff time on those {len(ratios)} common cases: "
                f"{statistics.median(ratios):.1f}x (range {min(ratios):.1f}x to {max(ratios):.1f}x)"
            )
        print("\nok(T): right, in SymPy's transposed (denominator) layout. SymPy is timed with its cache cleared.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
