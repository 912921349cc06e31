"""Independent numeric references for the tests: finite differences and random values.

Nothing here uses matdiff's derivative code: expected values come from NumPy and from central
differences of plain evaluation.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def load_script(name: str, folder: str = "scripts") -> ModuleType:
    """A script of scripts/ or examples/ (neither is a package) loaded as a module, for testing its functions."""
    spec = importlib.util.spec_from_file_location(f"{folder}_{name}", ROOT / folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_example(name: str) -> ModuleType:
    """examples/NAME.py as a module."""
    return load_script(name, "examples")


def run_example_small(name: str, folder: Path) -> tuple[dict, Path]:
    """examples/NAME.py's main at its CI setting (--small), writing its figures into `folder`: (figures
    measured, folder)."""
    return load_example(name).main(["--small", "--figures", str(folder)]), folder


def generated_function(source: str, name: str) -> Callable:
    """The function `name` of a module's source (what md.codegen writes), run in a fresh namespace."""
    namespace: dict = {"__name__": "generated"}
    exec(compile(source, "<generated>", "exec"), namespace)
    return namespace[name]


def central_difference(
    f: Callable[[dict], np.ndarray], values: Mapping[str, np.ndarray], name: str, h: float = 1e-5
) -> np.ndarray:
    """d f / d values[name] by the five-point central difference (error O(h^4)); shape
    f.shape + values[name].shape."""
    base = {k: np.array(v, dtype=float) for k, v in values.items()}
    x = base[name]
    f0 = np.asarray(f(base), dtype=float)
    out = np.zeros(f0.shape + x.shape)
    for index in np.ndindex(*x.shape) if x.shape else [()]:
        step = h * max(1.0, abs(float(x[index])))

        def at(offset: float, index: tuple = index) -> np.ndarray:
            moved = x.copy()
            moved[index] += offset
            return np.asarray(f({**base, name: moved}), dtype=float)

        out[(...,) + tuple(index)] = (8 * (at(step) - at(-step)) - (at(2 * step) - at(-2 * step))) / (12 * step)
    return out


def symmetric_central_difference(f, values, name: str, h: float = 1e-6) -> np.ndarray:
    """The symmetric-matrix gradient (G + G')/2, by central differences that keep S symmetric.

    Moving S[i,j] and S[j,i] together by h changes f by (G_ij + G_ji) h, so half of that quotient
    is (G + G')/2 off the diagonal; on the diagonal one entry moves.
    """
    base = {k: np.array(v, dtype=float) for k, v in values.items()}
    S = base[name]
    f0 = np.asarray(f(base), dtype=float)
    out = np.zeros(f0.shape + S.shape)
    n = S.shape[0]
    for i in range(n):
        for j in range(i, n):
            step = h * max(1.0, abs(float(S[i, j])))
            direction = np.zeros_like(S)
            direction[i, j] = direction[j, i] = 1.0
            plus, minus = dict(base), dict(base)
            plus[name], minus[name] = S + step * direction, S - step * direction
            quotient = (np.asarray(f(plus)) - np.asarray(f(minus))) / (2 * step)
            out[..., i, j] = out[..., j, i] = quotient if i == j else quotient / 2
    return out


def random_values(
    variables: Mapping[str, str],
    rng: np.random.Generator,
    n: int = 3,
    m: int | None = None,
    positive: bool = False,
    spd: bool = False,
) -> dict[str, np.ndarray | float]:
    """Random values for variables by kind. Square matrices n x n unless m is given for non-square.

    spd=True makes every matrix symmetric positive definite (for logdet, inv); positive=True draws
    entries in [0.5, 1.5] (for log, sqrt).
    """
    values: dict[str, np.ndarray | float] = {}
    for name, kind in variables.items():
        if kind == "scalar":
            values[name] = float(rng.uniform(0.5, 1.5)) if positive else float(rng.normal())
        elif kind == "vector":
            values[name] = rng.uniform(0.5, 1.5, n) if positive else rng.normal(size=n)
        else:
            rows = n if (m is None or kind == "symmetric" or spd) else m
            M = rng.uniform(0.5, 1.5, (rows, n)) if positive else rng.normal(size=(rows, n))
            if spd or kind == "symmetric":
                M = M @ M.T / n + np.eye(n) if spd else (M + M.T) / 2
            values[name] = M
    return values
