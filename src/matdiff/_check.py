"""Derivative checking: md.check (symbolic against numerical) and md.check_gradient (hand-written).

Both compare a claimed derivative with a finite-difference estimate from `matdiff.numeric` and return
a `CheckReport`. The verdict is entry by entry: an entry passes when

    |claimed - numeric| <= max(ERROR_FACTOR * its error estimate, rtol * scale),

where `scale` is the largest |numeric| entry (1 where every entry is 0 within its error estimate), so
entries near zero are judged on the derivative's scale, not their own, and the result does not grow
with the number of entries.
`rtol` defaults to 1e-7 in float64 and grows with the dtype's round-off (1e-7 * sqrt(eps / eps64):
about 2.3e-3 in float32); the error estimate widens the tolerance only where the finite differences
themselves are that uncertain (round-off in float32, a badly conditioned function). The relative
error of an entry is |claimed - numeric| / scale.

Random values for md.check (where none are given) follow these rules:
- **sizes**: every class of equal dimensions gets its own size, 3, 4, 5, ... in the order the
  variables' axes appear (variables by name), so a transposition mistake changes a shape; fixed sizes
  are kept. When the values drawn fall outside the expression's domain (say X'*X singular), the sizes
  are tried in reverse order, then shuffled, with fresh values each time.
- **kinds**: symmetric variables get symmetric values; square matrices inside `logdet`, `inv` or `det`
  get symmetric positive definite values (U U'/n + I), and so do symmetric ones there.
- **domains**: each function's registered domain (`_ops.py`) decides how the variables inside it are
  drawn: positive domains (`log`, `sqrt`, `log1p`, and a power with a non-integer or negative
  exponent) give entries in [0.5, 1.5]; `arcsin`, `arccos` and `tan`, entries in (-0.8, 0.8); the
  functions with a kink at 0 (`abs`, `sign`, `relu`, `step`), entries at least 0.3 away from 0.
  Everything else is standard normal. Values whose function arguments fall outside the domain are
  drawn again.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from . import numeric
from ._api import expression
from ._diff import diff, resolve_variable
from ._errors import ArgumentError, DiffError, EvaluationError, MatdiffError, ShapeError, UnfixedSizeError, advised
from ._evaluate import evaluate
from ._expr import Expr, postorder, variables
from ._limits import limits
from ._registry import REAL, is_function, lookup
from ._shapes import DimClasses, dim_classes

__all__ = ["CheckReport", "Entry", "check", "check_gradient"]

ERROR_FACTOR = 4.0  # an entry may differ by this many times the finite-difference error estimate
WORST_SHOWN = 5  # entries listed in a report
FAST_ABOVE = 2000  # check_gradient checks random directions when x has more entries than this
_EPS64 = float(np.finfo(np.float64).eps)


def default_rtol(dtype: Any) -> float:
    """The relative tolerance for a dtype: 1e-7 in float64, scaled by sqrt(eps) for others."""
    eps = float(np.finfo(dtype).eps)
    return 1e-7 * float(np.sqrt(eps / _EPS64))


class Entry(NamedTuple):
    """One compared entry: its index, the claimed and numerical values, their difference and the
    absolute tolerance it had to meet."""

    index: tuple[int, ...]  # type: ignore[assignment]  # the entry's index; shadows tuple.index, as documented
    claimed: float
    numeric: float
    difference: float
    tolerance: float


@dataclass(frozen=True)
class CheckReport:
    """The result of `md.check` or `md.check_gradient`; `bool(report)` is the verdict.

    `max_rel_error` is the largest |claimed - numeric| / scale, with `scale` the largest |numeric|
    entry (1 if every entry is 0 within its error estimate). `worst_index` is the entry that came
    closest to (or furthest past) its tolerance; `worst_symbolic` and `worst_numeric` are the two
    values there. `tolerance` is the relative tolerance at that entry (rtol, or the error estimate's
    share where that is larger) and `reason` says where it comes from. In fast mode the "entries"
    are random directions u, v and the values are v·J·u.
    """

    passed: bool
    max_rel_error: float
    worst_index: tuple[int, ...]
    worst_symbolic: float
    worst_numeric: float
    tolerance: float
    reason: str
    expression: str  # what was differentiated: the expression's text, or "f"
    wrt: tuple[str, ...]
    shape: tuple[int, ...]  # the derivative's shape
    evaluations: int  # calls of the function that the finite differences made
    scale: float
    rtol: float
    reference: str  # how the numerical derivative was computed
    worst: tuple[Entry, ...]  # the few worst entries, worst first
    derivative: str = ""  # the symbolic derivative's text (md.check)
    claimed_label: str = "symbolic"  # what the claimed values are: "symbolic" or "grad(x)"
    mode: str = "entries"  # "entries", or "directions" in check_gradient's fast mode
    seed: int | None = None  # the seed that reproduces the random values or directions
    values: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def title(self) -> str:
        if self.claimed_label == "symbolic":
            by = " ".join(f"d/d{name}" for name in self.wrt)
            return f"{by} of {self.expression}"
        return "grad(x) against finite differences of f"

    def _where(self, index: tuple[int, ...]) -> str:
        if self.mode == "directions":
            return f"direction {index[0] + 1}"
        return f"entry {list(index)}"

    def __str__(self) -> str:
        shape = "x".join(map(str, self.shape)) or "scalar"
        lines = [f"{'PASS' if self.passed else 'FAIL'}: {self.title} (shape {shape})"]
        if self.derivative:
            text = self.derivative if len(self.derivative) <= 200 else self.derivative[:197] + "..."
            lines.append(f"  derivative: {text}")
        if not self.worst:  # nothing compared: say why
            lines.append(f"  {self.reason}")
        else:
            lines.append(
                f"  worst {self._where(self.worst_index)}: {self.claimed_label} {self.worst_symbolic:.12g}, "
                f"numeric {self.worst_numeric:.12g}"
            )
            lines.append(
                f"  max relative error {self.max_rel_error:.2e} (of the scale {self.scale:.3g}); "
                f"tolerance {self.tolerance:.2e}: {self.reason}"
            )
        if not self.passed:
            failing = [e for e in self.worst if e.difference > e.tolerance]
            if len(failing) > 1:
                lines.append("  failing: " + "; ".join(self._entry_text(e) for e in failing[1:]))
        lines.append(f"  reference: {self.reference}; {self.evaluations} evaluations")
        if self.seed is not None:
            lines.append(f"  seed {self.seed}")
        return "\n".join(lines)

    def _entry_text(self, e: Entry) -> str:
        return f"{self._where(e.index)}: {e.claimed:.6g} vs {e.numeric:.6g}"

    def _repr_markdown_(self) -> str:
        verdict = "**PASS**" if self.passed else "**FAIL**"
        rows = [
            f"{verdict}: `{self.title}`, shape {self.shape}",
            "",
            f"| {'direction' if self.mode == 'directions' else 'index'} | {self.claimed_label} | numeric "
            "| difference | tolerance |",
            "|---|---|---|---|---|",
        ]
        for e in self.worst:
            where = str(e.index[0] + 1) if self.mode == "directions" else str(list(e.index))
            rows.append(f"| {where} | {e.claimed:.10g} | {e.numeric:.10g} | {e.difference:.2e} | {e.tolerance:.2e} |")
        rows += ["", f"Tolerance: {self.reason}. Reference: {self.reference}, {self.evaluations} evaluations."]
        return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# Comparison


def _compare(
    claimed: np.ndarray,
    estimate_value: np.ndarray,
    estimate_error: np.ndarray,
    rtol: float,
    rtol_origin: str,
    unit: str = "entries",
) -> dict[str, Any]:
    """The verdict and its evidence, entry by entry."""
    claimed = np.asarray(claimed, dtype=np.float64)
    num = np.asarray(estimate_value, dtype=np.float64)
    err = np.asarray(estimate_error, dtype=np.float64)
    # the scale: the largest |numeric| entry, or 1 where every entry is zero within its error estimate
    significant = np.abs(num) > ERROR_FACTOR * err
    scale = float(np.max(np.abs(num[significant]))) if np.any(significant) else 0.0
    scale = scale if scale > 0 and np.isfinite(scale) else 1.0
    difference = np.abs(claimed - num)
    floor = rtol * scale
    tolerance = np.maximum(ERROR_FACTOR * err, floor)
    widened = int(np.count_nonzero(ERROR_FACTOR * err > floor))
    if num.size == 0:
        reason = f"rtol {rtol:.1e} ({rtol_origin}); the derivative has no entries to compare"
        return _no_entries(True, rtol, reason)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tolerance > 0, difference / tolerance, np.where(difference > 0, np.inf, 0.0))
    flat_order = np.argsort(-ratio.reshape(-1), kind="stable")[:WORST_SHOWN]
    worst = tuple(
        Entry(
            tuple(int(i) for i in np.unravel_index(k, num.shape)),
            float(claimed.reshape(-1)[k]),
            float(num.reshape(-1)[k]),
            float(difference.reshape(-1)[k]),
            float(tolerance.reshape(-1)[k]),
        )
        for k in flat_order
    )
    passed = bool(np.all(difference <= tolerance))
    one = "entry" if unit == "entries" else "value"
    if np.any(significant):
        reason = f"rtol {rtol:.1e} ({rtol_origin}) x the scale {scale:.3g}, the largest |numeric| {one}"
    else:
        reason = f"rtol {rtol:.1e} ({rtol_origin}) x the scale 1, as every numeric {one} is 0 within its error"
    if widened:
        reason += (
            f"; at {widened} of {num.size} {unit} {ERROR_FACTOR:g} x the finite-difference error estimate"
            " is larger and is used there"
        )
    head = worst[0]
    return dict(
        passed=passed,
        max_rel_error=float(np.max(difference)) / scale,
        worst_index=head.index,
        worst_symbolic=head.claimed,
        worst_numeric=head.numeric,
        tolerance=head.tolerance / scale,
        scale=scale,
        worst=worst,
        reason=reason,
    )


def _no_entries(passed: bool, rtol: float, reason: str) -> dict[str, Any]:
    """A verdict without entries to compare (none, or shapes that differ)."""
    nan = float("nan")
    return dict(
        passed=passed,
        max_rel_error=0.0 if passed else float("inf"),
        worst_index=(),
        worst_symbolic=nan,
        worst_numeric=nan,
        tolerance=rtol,
        scale=1.0,
        worst=(),
        reason=reason,
    )


def _rtol(rtol: float | None, dtype: Any) -> tuple[float, str]:
    if rtol is None:
        return default_rtol(dtype), f"the default for {np.dtype(dtype).name}"
    rtol = float(rtol)
    if not rtol >= 0 or not np.isfinite(rtol):
        raise ArgumentError(f"rtol must be a non-negative number, got {rtol!r}")
    return rtol, "given"


def _fresh_seed(seed: int | None) -> int:
    if seed is None:
        return int(np.random.default_rng().integers(2**63))
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ArgumentError(f"seed must be an integer or None, got {type(seed).__name__}")
    return int(seed)


def _describe(estimate: numeric.Estimate, what: str) -> str:
    return f"{what}, {estimate.method} differences with Richardson extrapolation"


# ---------------------------------------------------------------------------------------------
# md.check


def check(
    expr: Expr | str,
    /,
    *wrt: str | Expr,
    values: Mapping[str, Any] | None = None,
    seed: int | None = None,
    rtol: float | None = None,
    **kinds: str,
) -> CheckReport:
    """Compare md.diff(expr, *wrt) with a numerical derivative, at `values` or at random values.

    `expr` is an expression or text, parsed with the kinds given as keywords
    (``md.check("x'*S*x", "x", S="symmetric")``).

    Random values respect kinds and domains (see the module's documentation): symmetric for symmetric
    variables, positive definite inside logdet/inv/det, positive inside log/sqrt, and distinct sizes
    for distinct dimensions. Values given are used as they are; variables left out are drawn.

    The numerical reference: for a first derivative, finite differences of expr's value; for a second
    derivative of a scalar by one variable twice, the numerical Hessian of expr's value; otherwise
    finite differences of the symbolic derivative one order lower (the report says so). By a
    symmetric S, the differenced function is V -> expr(S=(V+V')/2), whose gradient is (G+G')/2, as
    md.diff defines it. Returns a CheckReport; `bool(report)` is the verdict.
    """
    expr = expression(expr, kinds, "check")
    if values is not None and not isinstance(values, Mapping):
        raise ArgumentError(f"values must be a mapping from names to values, got {type(values).__name__}")
    seed = _fresh_seed(seed)
    nodes = variables([expr])
    if not wrt:
        if len(nodes) != 1:
            found = ", ".join(nodes) or "none"
            raise DiffError(f"say which variables to differentiate by: the expression has {found}")
        wrt = (next(iter(nodes)),)
    targets = [resolve_variable(expr, expr, item) for item in wrt]
    for node in targets:
        nodes.setdefault(node.attrs[0], node)
    derivative = diff(expr, *wrt)
    rtol_value, rtol_origin = _rtol(rtol, np.float64)

    given = dict(values or {})
    drawn = _draw_values([expr, *targets], nodes, given, np.random.default_rng(seed), sized=[derivative])
    claimed = np.asarray(evaluate([derivative], drawn)[0], dtype=np.float64)
    if not np.all(np.isfinite(claimed)):
        raise advised(EvaluationError, "the symbolic derivative is not finite at these values", "values")

    names = tuple(node.attrs[0] for node in targets)
    last = targets[-1]
    if len(targets) == 1:
        estimate = numeric.jacobian(_bind(expr, drawn, last), drawn[last.attrs[0]])
        reference = _describe(estimate, f"the numerical derivative of the expression by {names[0]}")
    elif len(targets) == 2 and names[0] == names[1] and expr.ndim == 0:
        estimate = numeric.hessian(_bind(expr, drawn, last), drawn[last.attrs[0]])
        reference = f"the numerical Hessian of the expression by {names[0]}, central second differences"
        reference += " with Richardson extrapolation"
    else:
        lower = diff(expr, *wrt[:-1])
        estimate = numeric.jacobian(_bind(lower, drawn, last), drawn[last.attrs[0]])
        reference = _describe(
            estimate,
            f"the numerical derivative by {names[-1]} of the symbolic derivative by "
            f"{', '.join(names[:-1])} (so this checks the last order; check the lower ones separately)",
        )
    if last.attrs[1] == "symmetric":
        reference += f"; {names[-1]} is symmetric, so the function differenced is V -> f((V+V')/2)"
    num = np.asarray(estimate.value, dtype=np.float64)
    err = np.asarray(estimate.error, dtype=np.float64)
    if num.shape != claimed.shape:  # the distinct sizes make a transposed result show here
        reason = f"the symbolic derivative has shape {claimed.shape}, the numerical one {num.shape}"
        result = _no_entries(False, rtol_value, reason)
    else:
        result = _compare(claimed, num, err, rtol_value, rtol_origin)
    return CheckReport(
        **result,
        expression=str(expr),
        wrt=names,
        shape=claimed.shape,
        evaluations=int(estimate.evaluations),
        rtol=rtol_value,
        reference=reference,
        derivative=_text(derivative),
        claimed_label="symbolic",
        mode="entries",
        seed=seed,
        values=drawn,
    )


def _text(expr: Expr) -> str:
    try:
        return str(expr)
    except Exception:  # pragma: no cover - printing never fails, but a report must not either
        return "<derivative>"


def _bind(target: Expr, values: Mapping[str, Any], variable: Expr) -> Callable[[np.ndarray], np.ndarray]:
    """target's value as a function of one variable, the others held at `values`."""
    name, kind = variable.attrs

    def f(v: np.ndarray) -> np.ndarray:
        if kind == "symmetric":
            v = (v + v.T) / 2.0  # exactly symmetric: a + b == b + a in floating point
        return evaluate([target], {**values, name: v})[0]

    return f


# Random values -------------------------------------------------------------------------------

_ATTEMPTS = 8


def _domains(roots: list[Expr]) -> dict[str, set[str]]:
    """For each variable, the constraints that the functions above it put on its values."""
    flags: dict[str, set[str]] = {}
    for node in postorder(roots):
        flag = None
        if node.op == "pow":
            exponent = float(node.attrs[0])
            if not exponent.is_integer() or exponent < 0:
                flag = "positive"
        elif is_function(node.op):
            flag = lookup(node.op).domain.draw
        if flag is not None:
            for name in node.free:
                flags.setdefault(name, set()).add(flag)
    return flags


def _draw_values(
    roots: list[Expr],
    nodes: Mapping[str, Expr],
    given: dict[str, Any],
    rng: np.random.Generator,
    sized: Sequence[Expr] = (),
) -> dict[str, Any]:
    """Values for every variable: those given, the rest drawn by the rules in the module docstring, at
    sizes small enough that no array of `roots` or of `sized` (the derivative) passes the entry bound."""
    missing = [name for name in nodes if name not in given]
    if not missing:
        return given
    classes = dim_classes(roots)
    domains = _domains(roots)
    fixed: dict[Any, int] = {}
    for name, value in given.items():  # sizes that the given values fix
        node = nodes.get(name)
        shape = np.shape(value)
        if node is not None and len(shape) == node.ndim:
            for dim, size in zip(node.shape, shape):
                fixed.setdefault(classes.find(dim), int(size))
    free: list[Any] = []
    for name in missing:
        for dim in nodes[name].shape:
            root = classes.find(dim)
            if isinstance(root, int):
                fixed.setdefault(root, root)
            elif root not in fixed and root not in free:
                free.append(root)
    used = set(fixed.values())
    pool = list(itertools.islice((s for s in itertools.count(3) if s not in used), len(free)))
    failure = ""
    for attempt in range(_ATTEMPTS):
        if attempt == 0:
            order = pool
        elif attempt == 1:
            order = pool[::-1]
        else:
            order = [pool[i] for i in rng.permutation(len(pool))]
        sizes = _bounded({**fixed, **dict(zip(free, order))}, free, classes, [*roots, *sized])
        values = dict(given)
        for name in missing:
            node = nodes[name]
            shape = tuple(sizes[classes.find(d)] for d in node.shape)
            square = node.ndim == 2 and classes.find(node.shape[0]) == classes.find(node.shape[1])
            values[name] = _draw(node.attrs[1], shape, square, domains.get(name, set()), rng)
        failure = _outside_domain(roots, values)
        if not failure:
            return values
    base = f"could not draw values in the expression's domain in {_ATTEMPTS} tries ({failure})"
    raise advised(EvaluationError, base, "values")


def _bounded(sizes: dict[Any, int], free: list[Any], classes: DimClasses, roots: list[Expr]) -> dict[Any, int]:
    """`sizes` with the free ones lowered, largest first, until no array of `roots` (the expression, its
    derivative and everything between) has more than md.limits.max_check_entries entries: distinct sizes
    catch transposition mistakes, but many dimensions of distinct sizes make huge tensors."""
    shapes = {tuple(classes.find(d) for d in node.shape) for node in postorder(roots)}

    def largest(sizes: dict[Any, int]) -> int:
        entries = (math.prod(sizes.get(d, d if isinstance(d, int) else 1) for d in shape) for shape in shapes)
        return max(entries, default=1)

    sizes = dict(sizes)
    while largest(sizes) > limits.max_check_entries:
        shrinkable = [d for d in free if sizes[d] > 1]
        if not shrinkable:
            raise limits.exceeded("max_check_entries", f"checking with arrays of {largest(sizes):,} entries")
        biggest = max(shrinkable, key=lambda d: sizes[d])
        sizes[biggest] -= 1
    return sizes


def _draw(kind: str, shape: tuple[int, ...], square: bool, flags: set[str], rng: np.random.Generator) -> Any:
    if "positive" in flags:
        low, high = (0.2, 0.8) if "unit" in flags else (0.5, 1.5)
        value = rng.uniform(low, high, shape)
    elif "unit" in flags:
        value = rng.uniform(-0.8, 0.8, shape)
        if "away" in flags:
            value = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 0.8, shape)
    elif "away" in flags:
        value = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 1.5, shape)
    else:
        value = rng.normal(size=shape)
    if square and ("spd" in flags or kind == "symmetric"):
        n = shape[0]
        value = value @ value.T / n + np.eye(n) if "spd" in flags else (value + value.T) / 2.0
    if kind == "scalar":
        return float(value)
    return value


def _outside_domain(roots: list[Expr], values: Mapping[str, Any]) -> str:
    """Why the values are unsuitable ('' if they are fine): a function's argument outside its domain,
    a badly conditioned matrix, or a non-finite value."""
    probes = [n for n in postorder(roots) if n.op == "pow" or (is_function(n.op) and lookup(n.op).domain is not REAL)]
    try:
        with np.errstate(all="ignore"):
            results = evaluate([*roots, *(n.args[0] for n in probes)], values)
    except UnfixedSizeError:
        raise  # no values evaluate it: say so now, not after drawing others
    except MatdiffError as error:
        return str(error)
    for root, value in zip(roots, results):
        if not np.all(np.isfinite(value)):
            return f"{root} is not finite"
    for node, arg in zip(probes, results[len(roots) :]):
        arg = np.asarray(arg, dtype=np.float64)
        if node.op == "pow" and not float(node.attrs[0]).is_integer() and not np.all(arg > 1e-3):
            return "the base of a fractional power is not positive"
        if node.op == "pow" and float(node.attrs[0]) < 0 and not np.all(np.abs(arg) > 1e-3):
            return "the base of a negative power is near zero"
        if node.op != "pow" and not lookup(node.op).domain.contains(arg):
            return f"the argument of {node.op} {lookup(node.op).domain.reason}"
    return ""


# ---------------------------------------------------------------------------------------------
# md.check_gradient


def check_gradient(
    f: Callable[[np.ndarray], Any],
    grad: Callable[[np.ndarray], Any],
    x: Any,
    *,
    rtol: float | None = None,
    fast: bool | None = None,
    directions: int = 8,
    seed: int | None = None,
) -> CheckReport:
    """Check a hand-written gradient or Jacobian `grad(x)` of `f` at `x` against finite differences.

    `grad(x)` must have shape f(x).shape + x.shape (a gradient has x's shape; the Jacobian of a vector
    function is len(f) x len(x)). Unlike scipy.optimize.check_grad it judges each entry relative to the
    derivative's scale and names the worst entries; its tolerance follows x's dtype and the error
    estimate of the finite differences, so float32 gradients do not fail falsely. With `fast` (default
    when x has more than 2000 entries) it compares v·J·u with the numerical derivative along u, for
    `directions` random pairs u, v, instead of every entry. Returns a CheckReport.
    """
    for what, function in (("f", f), ("grad", grad)):
        if not callable(function):
            raise ArgumentError(f"{what} must be callable (a function of x), got {type(function).__name__}")
    if isinstance(directions, bool) or not isinstance(directions, (int, np.integer)) or directions < 1:
        raise ArgumentError(f"directions must be a positive integer, got {directions!r}")
    try:
        x = np.asarray(x)
    except (TypeError, ValueError) as error:
        raise ArgumentError(f"x must be a number or an array of numbers: {error}") from None
    if x.dtype == object or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ArgumentError(f"x must be a real number or array, got dtype {x.dtype}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    _finite(x, "x")
    fx = np.asarray(_call(f, x, "f"))
    _finite(fx, "f(x)")
    claimed = np.asarray(_call(grad, x, "grad"))
    expected = fx.shape + x.shape
    if claimed.shape != expected:
        raise ShapeError(_shape_message(claimed.shape, fx.shape, x.shape))
    _finite(claimed, "grad(x)")
    seed = _fresh_seed(seed)
    rtol_value, rtol_origin = _rtol(rtol, x.dtype)
    fast = x.size > FAST_ABOVE if fast is None else bool(fast)
    common = dict(expression="f", wrt=("x",), shape=expected, rtol=rtol_value, claimed_label="grad(x)", seed=seed)

    if not fast:
        estimate = numeric.jacobian(f, x)
        result = _compare(claimed, estimate.value, estimate.error, rtol_value, rtol_origin)
        return CheckReport(
            **result,
            **common,
            evaluations=int(estimate.evaluations),
            reference=_describe(estimate, "the numerical Jacobian of f, entry by entry"),
            mode="entries",
        )

    rng = np.random.default_rng(seed)
    claimed64 = claimed.astype(np.float64)
    sym, num, err = np.zeros(directions), np.zeros(directions), np.zeros(directions)
    evaluations = 0
    for k in range(directions):
        u = rng.normal(size=x.shape).astype(x.dtype)
        v = rng.normal(size=fx.shape)
        estimate = numeric.directional(f, x, u)
        evaluations += int(estimate.evaluations)
        Ju = np.tensordot(claimed64, u.astype(np.float64), axes=x.ndim) if x.ndim else claimed64 * float(u)
        sym[k] = float(np.sum(v * Ju))
        num[k] = float(np.sum(v * np.asarray(estimate.value, dtype=np.float64)))
        err[k] = float(np.sum(np.abs(v) * np.asarray(estimate.error, dtype=np.float64)))
    result = _compare(sym, num, err, rtol_value, rtol_origin, unit="directions")
    return CheckReport(
        **result,
        **common,
        evaluations=evaluations,
        reference=(
            f"fast mode: v·J·u for {directions} random normal directions u (x's shape) and v (f's shape), "
            "the numerical side by differences of f along u with Richardson extrapolation"
        ),
        mode="directions",
    )


def _call(function: Callable[[np.ndarray], Any], x: np.ndarray, what: str) -> Any:
    try:
        with np.errstate(all="ignore"):
            return function(x.copy())
    except (TypeError, ValueError, ArithmeticError) as error:
        raise EvaluationError(f"{what}(x) could not be evaluated: {type(error).__name__}: {error}") from error


def _finite(value: np.ndarray, what: str) -> None:
    try:
        ok = np.isfinite(value)
    except TypeError:
        raise EvaluationError(f"{what} is not numeric (dtype {value.dtype})") from None
    if not np.all(ok):
        bad = np.argwhere(~ok)
        where = ", ".join(str(list(map(int, i))) for i in bad[:5]) if value.ndim else "its value"
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise EvaluationError(f"{what} has non-finite entries (NaN or inf) at {where}{more}")


def _shape_message(got: tuple[int, ...], out: tuple[int, ...], inp: tuple[int, ...]) -> str:
    expected = out + inp
    message = (
        f"grad(x) has shape {got}, but the derivative of f must have shape f(x).shape + x.shape = "
        f"{out} + {inp} = {expected}"
    )
    if got == inp + out and got != expected:
        message += ": it looks transposed (the output's axes come first, as in the Jacobian dF_i/dx_j)"
    elif int(np.prod(got, dtype=np.int64)) == int(np.prod(expected, dtype=np.int64)):
        message += ": it has the right number of entries; reshape it"
    return message
