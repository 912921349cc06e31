"""Numerical derivatives of any Python callable: the lecture's limit definition, made trustworthy.

The derivative is the limit of the difference quotient (f(x + h) - f(x)) / h. Here it is taken on a
short sequence of steps h, h/2, h/4, and Richardson extrapolation cancels the leading truncation
terms of the quotients (for central differences the errors go as h^2, h^4, ..., so three steps leave
an O(h^6) error). The last two extrapolations differ by about the error that remains, which is
returned with every result, together with the round-off the steps allow.

Shapes follow the engine: the derivative of f: R^(s_in) -> R^(s_out) has shape s_out + s_in, with no
flattening by hand. The input's float dtype is kept, so a float32 function is differenced in float32
and its error estimate says so.

    >>> import numpy as np
    >>> from matdiff import numeric
    >>> est = numeric.derivative(np.sin, 1.0)   # cos(1), error about 1e-12, 7 evaluations
    >>> round(float(est.value), 12), est.evaluations
    (0.540302305868, 7)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._errors import ArgumentError, EvaluationError, ShapeError

__all__ = ["Estimate", "derivative", "directional", "gradient", "hessian", "jacobian", "step_errors", "plot_step_error"]

# method: (offsets of the stencil in steps, weights, order of the leading error, growth of the orders)
_STENCILS = {
    "central": ((1.0, -1.0), (0.5, -0.5), 2, 2),
    "forward": ((1.0, 0.0), (1.0, -1.0), 1, 1),
    "backward": ((0.0, -1.0), (1.0, -1.0), 1, 1),
}
_LEVELS = 3  # steps h, h/2, h/4 for Richardson extrapolation
_PLAIN_LEVELS = 2  # without extrapolation: the quotient at h/2, its error judged against the one at h
_SAFETY = 2.0  # the error estimate is this multiple of the observed difference of extrapolations


@dataclass(frozen=True)
class Estimate:
    """A numerical derivative with its estimated absolute error (entry by entry).

    `value` and `error` have the derivative's shape, f(x).shape + x.shape; `evaluations` counts the
    calls to f; `step` is the base step used for each entry of x. `np.asarray(estimate)` is `value`.
    """

    value: np.ndarray
    error: np.ndarray
    evaluations: int
    step: np.ndarray
    method: str
    notes: tuple[str, ...] = field(default=())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.value, dtype=dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    def __repr__(self) -> str:
        worst = float(np.max(self.error)) if self.error.size else 0.0
        return (
            f"Estimate(shape={self.value.shape}, max error ~ {worst:.1e}, evaluations={self.evaluations}, "
            f"method={self.method!r})"
        )


class _Counted:
    """f with its calls counted, its results checked and returned as arrays of one dtype."""

    def __init__(self, f: Callable[..., Any], dtype: np.dtype) -> None:
        if not callable(f):
            raise ArgumentError(f"f must be callable, got {type(f).__name__}")
        self.f = f
        self.dtype = dtype
        self.calls = 0
        self.out_shape: tuple[int, ...] | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        try:
            with np.errstate(all="ignore"):  # steps may leave f's domain; non-finite results are handled
                value = np.asarray(self.f(x.copy()), dtype=self.dtype)
        except (TypeError, ValueError) as error:
            raise EvaluationError(f"f could not be evaluated: {error}") from error
        if self.out_shape is None:
            self.out_shape = value.shape
        elif value.shape != self.out_shape:
            raise ShapeError(f"f returned shape {value.shape} at one point and {self.out_shape} at another")
        return value


def _prepare(f: Callable[..., Any], x: Any) -> tuple[_Counted, np.ndarray, np.ndarray]:
    try:
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise ArgumentError(f"x must be a number or an array of numbers: {error}") from None
    if not np.all(np.isfinite(x)):
        raise EvaluationError(f"x has non-finite entries at {np.argwhere(~np.isfinite(x)).tolist()[:5]}")
    counted = _Counted(f, x.dtype)
    fx = counted(x)
    if not np.all(np.isfinite(fx)):
        raise EvaluationError("f(x) has non-finite entries: the derivative is not defined there")
    return counted, x, fx


# Base steps: the smallest step's size that balances truncation against round-off, as a power of
# eps, by (method, levels): e.g. central differences extrapolated over three steps keep an O(h^6)
# truncation error, and their error estimate (the last correction) goes as h^4.
_STEP_POWERS = {("central", 3): 1 / 6, ("central", 2): 1 / 3, ("forward", 3): 1 / 4, ("forward", 2): 1 / 2}


def _checked_step(step: Any, x: np.ndarray) -> np.ndarray:
    """A step given by the user: positive, finite, a number or one per entry of x."""
    try:
        steps = np.broadcast_to(np.asarray(step, dtype=x.dtype), x.shape).copy()
    except (TypeError, ValueError):
        raise ArgumentError(f"step must be a number or an array of x's shape {x.shape}, got {step!r}") from None
    if np.any(steps <= 0) or not np.all(np.isfinite(steps)):
        raise ArgumentError("step must be positive and finite")
    return steps


def _base_steps(x: np.ndarray, step: Any, method: str, levels: int, power: float | None = None) -> np.ndarray:
    """Steps relative to max(|x|, 1); `step` overrides them."""
    if step is not None:
        return _checked_step(step, x)
    eps = float(np.finfo(x.dtype).eps)
    kind = "central" if method == "central" else "forward"
    base = eps ** (power if power is not None else _STEP_POWERS[(kind, levels)])
    return (base * np.maximum(np.abs(x), 1.0)).astype(x.dtype)


def _richardson(
    quotients: list[np.ndarray], order: int, growth: int, extrapolate: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Extrapolate quotients at steps h, h/2, h/4, ...; return the best value and its error estimate.

    Without extrapolation the last quotient is the value, and its error, c (h/2)^p, is estimated from
    the first two: D(h) - D(h/2) = (2^p - 1) c (h/2)^p."""
    if not extrapolate:
        return quotients[-1], _SAFETY * np.abs(quotients[-1] - quotients[-2]) / (2.0**order - 1.0)
    table = [quotients]
    for m in range(1, len(quotients)):
        factor = 2.0 ** (order + (m - 1) * growth)
        previous = table[-1]
        table.append([(factor * previous[k + 1] - previous[k]) / (factor - 1.0) for k in range(len(previous) - 1)])
    best = table[-1][-1]
    if len(quotients) == 1:
        return best, np.zeros_like(best)
    runner_up = table[-2][-1]
    return best, _SAFETY * np.abs(best - runner_up)


def _roundoff(values: list[np.ndarray], step: float, dtype: np.dtype, scale: float) -> np.ndarray:
    eps = float(np.finfo(dtype).eps)
    size = max((float(np.max(np.abs(v))) for v in values if v.size), default=0.0)
    return np.full(values[0].shape, scale * eps * max(size, np.finfo(dtype).tiny) / step)


def _along(
    counted: _Counted, x: np.ndarray, fx: np.ndarray, direction: np.ndarray, h: float, method: str, levels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """d f(x + t u)/dt at t = 0 for the direction u: the value, its error estimate, the part of that
    estimate no step can remove (round-off, a kink), and where the quotients did not converge as
    h^order (the steps straddle a kink or are too large): there the estimate is only a guess."""
    offsets, _, order, growth = _STENCILS[method]
    quotients, seen = [], [fx]
    norm2 = float(np.sum(direction.astype(np.float64) ** 2))
    for level in range(levels):
        hk = h / 2.0**level
        values, positions = [], []
        for offset in offsets:
            point = x + (offset * hk) * direction
            # the step actually taken, x + h rounded, minus x: exact for a coordinate direction
            positions.append(float(np.sum((point - x).astype(np.float64) * direction)) / norm2)
            values.append(fx if offset == 0.0 else counted(point))
        seen += [v for v, offset in zip(values, offsets) if offset != 0.0]
        difference = values[0].astype(np.float64) - values[1].astype(np.float64)
        quotients.append(difference / (positions[0] - positions[1]))
    with np.errstate(all="ignore"):  # overflow to inf is reported by the caller as leaving f's domain
        return _assess(quotients, seen, counted, fx, h, x.dtype, method, levels)


def _assess(quotients, seen, counted, fx, h, dtype, method, levels):
    """Extrapolate the quotients and judge the result: value, error, floor and non-convergence."""
    _, _, order, growth = _STENCILS[method]
    extrapolate = levels > _PLAIN_LEVELS
    value, error = _richardson(quotients, order, growth, extrapolate)
    smallest = h / 2.0 ** (levels - 1)
    floor = _roundoff(seen, smallest, dtype, 4.0 if extrapolate else 1.0)
    if levels >= 3:  # differences that do not shrink as h^order: the steps are not yet small enough
        first, second = np.abs(quotients[0] - quotients[1]), np.abs(quotients[1] - quotients[2])
        ratio = first / np.maximum(second, np.finfo(float).tiny)
        expected = 2.0**order
        erratic = ((ratio < expected / 3) | (ratio > expected * 3)) & (np.maximum(first, second) > 100 * floor)
        error = np.where(erratic, np.maximum(error, 2.0 * np.maximum(first, second)), error)
    else:
        erratic = np.zeros(fx.shape, dtype=bool)
    if method == "central":  # a kink: one-sided quotients that disagree at every step
        floor = np.maximum(floor, _kink(counted, seen, fx, h, levels))
    return value, error + floor, floor, erratic


def _kink(counted: _Counted, seen: list[np.ndarray], fx: np.ndarray, h: float, levels: int) -> np.ndarray:
    """Half the jump between the forward and backward quotients where it does not shrink with h."""
    pairs = [(seen[1 + 2 * k], seen[2 + 2 * k]) for k in range(levels)]
    jumps = [np.abs((p - fx) - (fx - m)).astype(np.float64) / (h / 2.0**k) for k, (p, m) in enumerate(pairs)]
    if levels < 2:
        return np.zeros(fx.shape)
    # smooth: the jump is f''h and halves with h; a kink keeps it (a corner's slopes differ by a constant)
    steady = jumps[-1] > 0.75 * jumps[-2]
    return np.where(steady & (jumps[-1] > 0), jumps[-1] / 2.0, 0.0)


def _check_finite(value: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(value)):
        raise EvaluationError(
            f"f is not finite near x along {what}: the step leaves f's domain; pass a smaller step= or move x"
        )


def jacobian(
    f: Callable[..., Any], x: Any, *, method: str = "central", richardson: bool = True, step: Any = None
) -> Estimate:
    """The derivative of f at x, of shape f(x).shape + x.shape, with an error estimate.

    `method` is "central" (default), "forward" or "backward"; `richardson` extrapolates over the
    steps h, h/2, h/4; `step` overrides the base step (a number or one per entry of x). The default
    step is relative to max(|x|, 1). Where an estimate is poor or f is not finite, a step relative to
    |x| itself (for |x| < 1), smaller steps and a larger one are tried, and the best estimate kept.
    """
    if method not in _STENCILS:
        raise ArgumentError(f"method must be one of {', '.join(_STENCILS)}, got {method!r}")
    counted, x, fx = _prepare(f, x)
    levels = _LEVELS if richardson else _PLAIN_LEVELS
    steps = _base_steps(x, step, method, levels)
    flat_x = x.reshape(-1)
    value = np.zeros(fx.shape + (flat_x.size,))
    error = np.zeros_like(value)
    for j in range(flat_x.size):
        direction = np.zeros_like(flat_x)
        direction[j] = 1.0
        direction = direction.reshape(x.shape)
        h = float(steps.reshape(-1)[j])
        relative = h * abs(float(flat_x[j])) if 0 < abs(float(flat_x[j])) < 1 else h  # near a domain edge at 0
        best = _adaptive(counted, x, fx, direction, h, method, levels, adapt=step is None, alternative=relative)
        value[..., j], error[..., j] = best
    shape = fx.shape + x.shape
    return Estimate(value.reshape(shape), error.reshape(shape), counted.calls, steps, method)


# The relative error an estimate should reach before no other step is tried, by (method, levels):
# about 1e-10 in float64 for extrapolated central differences, looser for the cheaper schemes.
_TARGETS = {
    ("central", _LEVELS): lambda eps: 3.0 * eps ** (2 / 3),
    ("forward", _LEVELS): lambda eps: 30.0 * eps ** (2 / 3),
    ("central", _PLAIN_LEVELS): lambda eps: 300.0 * eps ** (2 / 3),
    ("forward", _PLAIN_LEVELS): lambda eps: 100.0 * eps ** (1 / 2),
}


def _adaptive(
    counted, x, fx, direction, h, method, levels, adapt: bool, alternative: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The estimate at h; where its error is large, or f is not finite there, also at the step
    relative to |x| itself (for |x| < 1, near a domain edge at 0), then h/10 down to h/10^4, and
    10h. Estimates whose quotients converged are preferred, then the smallest error; of unconverged
    ones, the smallest step (the most local)."""
    try:
        best = _along(counted, x, fx, direction, h, method, levels)
        _check_finite(best[0], "a coordinate")
    except EvaluationError:
        if not adapt:
            raise
        best = (np.zeros(fx.shape), np.full(fx.shape, np.inf), np.full(fx.shape, np.inf), np.ones(fx.shape, bool))
    if not adapt:
        return best[:2]
    eps = float(np.finfo(x.dtype).eps)
    target = _TARGETS[("central" if method == "central" else "forward", levels)](eps)
    trials = [alternative] if alternative is not None and alternative != h else []
    trials += [h * 0.1, h * 0.01, h * 1e-3, h * 1e-4, h * 10.0]
    best_step = np.full(fx.shape, h)
    for trial_step in trials:
        value, error, floor, erratic = best
        scale = np.maximum(np.abs(value), np.max(np.abs(value), initial=0.0))
        good_enough = (error <= target * scale) & ~erratic
        hopeless = (error <= 4.0 * floor) & ~erratic  # round-off or a kink: smaller steps do not help
        lost = floor > 1e-6 * scale  # round-off swamps f's change: a step relative to |x| may resolve it
        if np.all(good_enough | hopeless) and not (trial_step == alternative and np.any(lost & ~good_enough)):
            break
        try:
            trial = _along(counted, x, fx, direction, trial_step, method, levels)
        except EvaluationError:
            continue
        if not np.all(np.isfinite(trial[0])):
            continue
        converged_now = ~trial[3] & best[3]
        same_kind = trial[3] == best[3]
        closer = np.where(trial[3], trial_step < best_step, trial[1] < best[1])
        better = converged_now | (same_kind & closer)
        best = tuple(np.where(better, t, b) for t, b in zip(trial, best))  # type: ignore[assignment]  # four arrays in, four out
        best_step = np.where(better, trial_step, best_step)
    _check_finite(best[1], "a coordinate")
    return best[:2]


def derivative(f: Callable[..., Any], x: Any, **options: Any) -> Estimate:
    """The derivative of f at x (any shapes): the same as `jacobian`."""
    return jacobian(f, x, **options)


def gradient(f: Callable[..., Any], x: Any, **options: Any) -> Estimate:
    """The gradient of a scalar function f at x, of shape x.shape."""
    estimate = jacobian(f, x, **options)
    x_shape = estimate.step.shape
    if estimate.value.shape != x_shape:
        out = estimate.value.shape[: estimate.value.ndim - len(x_shape)]
        raise ShapeError(f"gradient needs a scalar function, but f returns shape {out}; use jacobian")
    return estimate


def directional(f: Callable[..., Any], x: Any, u: Any, *, method: str = "central", step: Any = None) -> Estimate:
    """The derivative of f at x along the direction u (the Jacobian applied to u), shape f(x).shape."""
    counted, x, fx = _prepare(f, x)
    u = np.asarray(u, dtype=x.dtype)
    if u.shape != x.shape:
        raise ShapeError(f"the direction has shape {u.shape}, but x has shape {x.shape}")
    if method not in _STENCILS:
        raise ArgumentError(f"method must be one of {', '.join(_STENCILS)}, got {method!r}")
    norm = float(np.linalg.norm(u.astype(np.float64)))
    if norm == 0.0:
        return Estimate(np.zeros(fx.shape), np.zeros(fx.shape), counted.calls, np.asarray(0.0), method)
    scale = max(float(np.max(np.abs(x))) if x.size else 0.0, 1.0)
    base = float(_base_steps(np.asarray(scale, x.dtype), None, method, _LEVELS))
    h = float(_checked_step(step, np.asarray(0.0, x.dtype))) if step is not None else base / norm
    value, error = _adaptive(counted, x, fx, u, h, method, _LEVELS, adapt=step is None)
    return Estimate(value, error, counted.calls, np.asarray(h), method)


def hessian(f: Callable[..., Any], x: Any, *, richardson: bool = True, step: Any = None) -> Estimate:
    """The Hessian of a scalar function f at x, of shape x.shape + x.shape, with an error estimate.

    Central second differences with Richardson extrapolation over h, h/2, h/4: 6n^2 + 1 evaluations
    for n entries (numdifftools spends 30n^2 + 1); without extrapolation, over h and h/2. Round-off
    grows as eps/h^2, so the steps are larger than for first derivatives and scale with max(|x|, 1);
    where they leave f's domain, steps relative to |x| are tried, then smaller ones. The result is
    symmetric by construction.
    """
    counted, x, fx = _prepare(f, x)
    if fx.size != 1:
        raise ShapeError(f"hessian needs a scalar function, but f returns shape {fx.shape}")
    extrapolate = richardson
    levels = _LEVELS if richardson else _PLAIN_LEVELS
    if step is not None:
        candidates = [_base_steps(x, step, "central", levels)]
    else:
        eps = float(np.finfo(x.dtype).eps)
        base = eps ** (1 / 12 if richardson else 1 / 6)
        candidates = [base * np.maximum(np.abs(x), 1.0), base * np.where(x != 0, np.abs(x), 1.0)]
        candidates += [candidates[-1] / 10.0, candidates[-1] / 100.0]
    for steps in candidates:
        result = _second_differences(counted, x, float(fx.reshape(())), steps.astype(x.dtype), levels, extrapolate)
        if result is not None:
            value, error = result
            shape = x.shape + x.shape
            return Estimate(value.reshape(shape), error.reshape(shape), counted.calls, steps, "central")
    raise EvaluationError("f is not finite near x: every step tried leaves f's domain; pass a smaller step=")


def _second_differences(
    counted: _Counted, x: np.ndarray, f0: float, steps: np.ndarray, levels: int, extrapolate: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """All second partial derivatives at one set of steps, or None where f is not finite."""
    flat, h = x.reshape(-1), steps.reshape(-1)
    n = flat.size
    value, error = np.zeros((n, n)), np.zeros((n, n))
    unit = np.eye(n, dtype=x.dtype)
    eps = float(np.finfo(x.dtype).eps)
    seen = abs(f0)

    def at(shift: np.ndarray) -> float:
        return float(counted((flat + shift).reshape(x.shape)).reshape(()))

    for i in range(n):
        for j in range(i, n):
            quotients = []
            for level in range(levels):
                hi, hj = h[i] / 2.0**level, h[j] / 2.0**level
                if i == j:  # (f(x+h) - 2 f(x) + f(x-h)) / h^2
                    points = [at(hi * unit[i]), at(-hi * unit[i])]
                    quotient = (points[0] - 2.0 * f0 + points[1]) / (hi * hi)
                else:  # (f(++) - f(+-) - f(-+) + f(--)) / (4 hi hj)
                    points = [at(a * hi * unit[i] + b * hj * unit[j]) for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
                    quotient = (points[0] - points[1] - points[2] + points[3]) / (4.0 * hi * hj)
                if not np.all(np.isfinite(points)):
                    return None
                seen = max(seen, *(abs(p) for p in points))
                quotients.append(np.asarray(quotient))
            v, e = _richardson(quotients, 2, 2, extrapolate)
            smallest = float(min(h[i], h[j])) / 2.0 ** (levels - 1)
            value[i, j] = value[j, i] = float(v)
            error[i, j] = error[j, i] = float(e) + 8.0 * eps * seen / smallest**2
    return value, error


# ---------------------------------------------------------------------------------------------
# The limit made visible: error against step size


def step_errors(
    f: Callable[[float], float], x: float, *, exact: float | None = None, steps: Any = None
) -> dict[str, np.ndarray]:
    """Errors of the forward and central quotients (and Richardson) at each step size.

    Returns {"step": h, "forward": |error|, "central": |error|, "richardson": |error|}. `exact` is the
    true derivative; without it the best Richardson estimate stands in for it.
    """
    steps = np.logspace(-15, 0, 61) if steps is None else np.asarray(steps, dtype=float)
    x = float(x)
    if exact is None:
        exact = float(derivative(f, x).value)

    def g(t: float) -> float:
        return float(np.asarray(f(t)))

    fx = g(x)
    forward = np.array([(g(x + h) - fx) / h for h in steps])
    central = np.array([(g(x + h) - g(x - h)) / (2 * h) for h in steps])
    richardson = np.array(
        [float(jacobian(lambda t: g(float(t)), x, step=h).value) for h in steps]  # noqa: B023 - evaluated at once
    )
    return {
        "step": steps,
        "forward": np.abs(forward - exact),
        "central": np.abs(central - exact),
        "richardson": np.abs(richardson - exact),
    }


def plot_step_error(
    f: Callable[[float], float], x: float, *, exact: float | None = None, steps: Any = None, path: str | None = None
):
    """A log-log plot of the error of difference quotients against the step h.

    As h shrinks the truncation error falls (slope 1 for forward, 2 for central differences) until
    round-off, about eps/h, takes over and the error rises again: the limit of the lecture, seen in
    floating point. Returns the matplotlib Figure; with `path`, also saves it as a PNG. Needs the
    optional dependency matplotlib (pip install "matdiff[plot]").
    """
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError('plot_step_error needs matplotlib: pip install "matdiff[plot]"') from error
    data = step_errors(f, x, exact=exact, steps=steps)
    floor = np.finfo(float).tiny
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for name, style in (("forward", "o-"), ("central", "s-"), ("richardson", "^-")):
        axes.loglog(data["step"], np.maximum(data[name], floor), style, markersize=3, label=name)
    eps = np.finfo(float).eps
    axes.loglog(data["step"], eps / data["step"], "k:", label="round-off ~ eps/h")
    axes.set_xlabel("step h")
    axes.set_ylabel("absolute error of the derivative")
    axes.set_title(f"difference quotients at x = {x:g}")
    axes.legend()
    axes.grid(True, which="major", alpha=0.3)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure
