"""Evaluation speed: matdiff's derived gradients and Hessians beside hand-written NumPy.

Run from the repository root:

    python benchmarks/bench_evaluate.py                  # n = 100, 1000, 2000
    python benchmarks/bench_evaluate.py --quick          # small sizes, few repeats (for CI)
    python benchmarks/bench_evaluate.py --sizes 100 500

Two functions: the quadratic form x'*A*x (A is n x n) and the logistic loss
sum(log(1+exp(-y.*(X*w)))) (X is 2n x n, y in {-1, 1}^2n). Each derivative is derived once (not timed),
checked against the NumPy formula with assert_allclose, and then both are timed, interleaved, over several
repeats. The table gives the median time per call and the ratio matdiff/NumPy (median of the per-repeat
ratios, and the smallest). The machine may be small and noisy: read the ratios. Nothing asserts on time.
On a busy 2-core machine, OPENBLAS_NUM_THREADS=1 (or OMP_NUM_THREADS=1) makes the BLAS-bound rows far steadier.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np
from numpy.testing import assert_allclose

import matdiff as md
from timing import fmt_time, loop_size, per_call  # benchmarks/timing.py, beside this script


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def compare(matdiff_call, numpy_call, repeats: int, target: float) -> tuple[float, float, float, float]:
    """Median seconds per call of each, then the median and the smallest per-repeat ratio matdiff/NumPy."""
    n_md, n_np = loop_size(matdiff_call, target), loop_size(numpy_call, target)
    md_times, np_times = [], []
    for _ in range(repeats):  # interleaved, so that a slow spell of the machine hits both
        np_times.append(per_call(numpy_call, n_np))
        md_times.append(per_call(matdiff_call, n_md))
    ratios = [a / b for a, b in zip(md_times, np_times)]
    return statistics.median(md_times), statistics.median(np_times), statistics.median(ratios), min(ratios)


def cases(n: int, rng: np.random.Generator):
    """(name, matdiff expression, values, [(NumPy label, NumPy function)]) for size n."""
    quad = md.parse("x'*A*x")
    A, x = rng.normal(size=(n, n)), rng.normal(size=n)
    quad_values = {"A": A, "x": x}
    yield (
        "x'*A*x  gradient",
        md.diff(quad, "x"),
        quad_values,
        [("(A+A.T)@x", lambda: (A + A.T) @ x), ("A@x+A.T@x", lambda: A @ x + A.T @ x)],
    )
    yield "x'*A*x  Hessian", md.diff(quad, "x", "x"), quad_values, [("A+A.T", lambda: A + A.T)]

    loss = md.parse("sum(log(1+exp(-y.*(X*w))))")
    X = rng.normal(size=(2 * n, n)) / np.sqrt(n)
    y = rng.choice([-1.0, 1.0], size=2 * n)
    w = rng.normal(size=n)
    loss_values = {"X": X, "y": y, "w": w}

    def np_gradient():
        return -(X.T @ (y * sigmoid(-y * (X @ w))))

    def np_hessian():
        s = sigmoid(y * (X @ w))
        return X.T @ ((s * (1 - s))[:, None] * X)

    def np_both():
        z = y * (X @ w)
        return np.logaddexp(0.0, -z).sum(), -(X.T @ (y * sigmoid(-z)))

    yield "logistic gradient", md.diff(loss, "w"), loss_values, [("-(X.T@(y*s(-y*Xw)))", np_gradient)]
    yield "logistic Hessian", md.diff(loss, "w", "w"), loss_values, [("X.T@(s(1-s)[:,None]*X)", np_hessian)]
    yield "logistic loss+gradient", [loss, md.diff(loss, "w")], loss_values, [("shared z=y*Xw", np_both)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="values of n (default 100 1000 2000)")
    parser.add_argument("--quick", action="store_true", help="n = 50 and 200, few repeats (for CI)")
    parser.add_argument("--repeat", type=int, default=None, help="timing repeats (default 7, quick 3)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([50, 200] if args.quick else [100, 1000, 2000])
    repeats = args.repeat or (3 if args.quick else 7)
    target = 0.02 if args.quick else 0.1  # seconds per timed loop

    print(f"matdiff {md.__version__}, NumPy {np.__version__}; {repeats} repeats, interleaved; derivation not timed")
    header = (
        f"{'n':>5}  {'derivative':<23} {'NumPy formula':<23} {'NumPy':>10} {'matdiff':>10} "
        f"{'ratio':>7} {'min ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for n in sizes:
        for name, derived, values, baselines in cases(n, rng):
            many = isinstance(derived, list)

            def matdiff_call(d=derived, v=values):
                return md.evaluate(d, v)

            for label, numpy_call in baselines:
                expected, got = numpy_call(), matdiff_call()
                for e, g in zip(expected, got) if many else [(expected, got)]:
                    assert_allclose(g, e, rtol=1e-9, atol=1e-9 * max(1.0, float(np.max(np.abs(e)))))
                t_md, t_np, ratio, low = compare(matdiff_call, numpy_call, repeats, target)
                print(
                    f"{n:>5}  {name:<23} {label:<23} {fmt_time(t_np):>10} {fmt_time(t_md):>10} "
                    f"{ratio:>6.2f}x {low:>8.2f}x",
                    flush=True,
                )
    print("\nAll matdiff results equal the NumPy ones (assert_allclose, rtol 1e-9).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
