"""The logistic-loss Hessian on a GPU: matdiff's generated code beside jax.hessian on the same GPU.

Run from the repository root, on a machine with a GPU:

    python benchmarks/bench_gpu.py               # n = 4000 (X is 2n x n), float32 and float64
    python benchmarks/bench_gpu.py --n 1000

Backends: "jax" (jitted, on JAX's default GPU device), "torch" (CUDA tensors) and "array_api" with CuPy
arrays, each where installed and given a GPU; the baseline is `jax.jit(jax.hessian(loss))` on the same GPU.
Each result is first compared with the baseline. Times are medians of repeated calls, synchronised with
the device (`block_until_ready`, `torch.cuda.synchronize`, CuPy's stream). Where no GPU is present it says
so and exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import matdiff as md


def median_seconds(call: Callable[[], Any], sync: Callable[[Any], Any], repeats: int) -> float:
    sync(call())  # warm up: compilation, allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sync(call())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(hessian: md.Expr, X: np.ndarray, w: np.ndarray, y: np.ndarray, dtype: type, repeats: int) -> list:
    """(name, seconds per call) for the baseline, then each backend that has a GPU here."""
    import jax
    import jax.numpy as jnp

    Xj, wj, yj = (jnp.asarray(a, dtype=dtype) for a in (X, w, y))

    def loss(w: Any) -> Any:
        return jnp.sum(jnp.logaddexp(0.0, -yj * (Xj @ w)))

    baseline = jax.jit(jax.hessian(loss))
    expected = np.asarray(baseline(wj))
    rows = [("jax.jit(jax.hessian)", median_seconds(lambda: baseline(wj), lambda r: r.block_until_ready(), repeats))]
    ours = jax.jit(md.compile(hessian, backend="jax"))
    np.testing.assert_allclose(np.asarray(ours(Xj, wj, yj)), expected, rtol=1e-3, atol=1e-5)
    rows.append(("md.compile jax", median_seconds(lambda: ours(Xj, wj, yj), lambda r: r.block_until_ready(), repeats)))
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        Xt, wt, yt = (torch.as_tensor(a, dtype=getattr(torch, np.dtype(dtype).name), device="cuda") for a in (X, w, y))
        compiled = md.compile(hessian, backend="torch")
        np.testing.assert_allclose(compiled(Xt, wt, yt).cpu().numpy(), expected, rtol=1e-3, atol=1e-5)
        synchronize = torch.cuda.synchronize
        rows.append(("md.compile torch (CUDA)", median_seconds(lambda: compiled(Xt, wt, yt), lambda r: synchronize(),
                                                               repeats)))  # fmt: skip
    try:
        import cupy
    except ImportError:
        return rows
    Xc, wc, yc = (cupy.asarray(a, dtype=dtype) for a in (X, w, y))
    portable = md.compile(hessian, backend="array_api")
    np.testing.assert_allclose(cupy.asnumpy(portable(Xc, wc, yc)), expected, rtol=1e-3, atol=1e-5)
    stream = cupy.cuda.Stream.null
    seconds = median_seconds(lambda: portable(Xc, wc, yc), lambda r: stream.synchronize(), repeats)
    rows.append(("md.compile array_api (CuPy)", seconds))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    try:
        import jax
    except ImportError:
        print("JAX is not installed: pip install 'matdiff[jax]' (with a CUDA build of jaxlib)")
        return 0
    if not any(device.platform == "gpu" for device in jax.devices()):
        print(f"no GPU: JAX sees {[str(d) for d in jax.devices()]}; nothing to measure")
        return 0
    jax.config.update("jax_enable_x64", True)
    f = md.parse("sum(log(1+exp(-y.*(X*w))))")
    hessian = md.diff(f, "w", "w")
    n, rng = args.n, np.random.default_rng(0)
    X, w, y = rng.normal(size=(2 * n, n)) / np.sqrt(n), rng.normal(size=n), rng.choice([-1.0, 1.0], size=2 * n)
    print(f"logistic-loss Hessian, X {2 * n} x {n}; {jax.devices()[0]}")
    print("| dtype | code | ms per call | ratio to jax.hessian |\n|---|---|---|---|")
    for dtype in (np.float32, np.float64):
        rows = measure(hessian, X, w, y, dtype, args.repeats)
        for name, seconds in rows:
            print(f"| {np.dtype(dtype).name} | {name} | {seconds * 1e3:.3f} | {rows[0][1] / seconds:.2f}x faster |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
