"""md.minimize: a model written as an expression, solved by scipy.optimize with symbolic derivatives.

The objective's gradient by each optimised variable (and, for the methods that use one, its exact Hessian
blocks ``md.diff(f, a, b)``) are derived once with `md.diff`, compiled once with `md.compile` (NumPy
backend) and packed into the flat vectors and matrices that scipy.optimize works with. Constraints
(``"sum(w) == 1"``, ``"A*x <= b"``) are differentiated the same way: their Jacobians, and for trust-constr the
Hessian of the Lagrangian term, are compiled too.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _expr as E
from ._api import expression
from ._codegen import compile_exprs
from ._diff import diff
from ._errors import ArgumentError, EvaluationError, ShapeError, UnfixedSizeError, with_tail
from ._evaluate import evaluate
from ._expr import Expr

# scipy.optimize.minimize's methods, by their lower-case name, and what each can use or take
_METHODS = {m.lower(): m for m in (
    "Nelder-Mead", "Powell", "CG", "BFGS", "Newton-CG", "L-BFGS-B", "TNC", "COBYLA", "COBYQA", "SLSQP",
    "trust-constr", "dogleg", "trust-ncg", "trust-exact", "trust-krylov",
)}  # fmt: skip
_GRADIENT = {"CG", "BFGS", "Newton-CG", "L-BFGS-B", "TNC", "SLSQP", "trust-constr", "dogleg", "trust-ncg",
             "trust-exact", "trust-krylov"}  # fmt: skip
_HESSIAN = {"Newton-CG", "trust-constr", "dogleg", "trust-ncg", "trust-exact", "trust-krylov"}
_HESSIAN_PRODUCT = {"Newton-CG", "trust-constr", "trust-ncg", "trust-krylov"}  # can take hessp instead
_BOUNDS = {"Nelder-Mead", "Powell", "L-BFGS-B", "TNC", "SLSQP", "trust-constr", "COBYLA", "COBYQA"}
_CONSTRAINTS = {"SLSQP", "trust-constr"}
SMALL = 500
"""Up to this many unknowns in all, Hessians are formed in full: unconstrained problems are solved by
trust-exact and bounded or constrained ones by trust-constr, each with the exact Hessian. Above it, the
methods that can take Hessian-vector products get them instead (compiled from the derivative of the
gradient's inner product with a direction), and unconstrained or bounds-only problems are solved by L-BFGS-B."""

_KIND_BY_NDIM = {0: "scalar", 1: "vector", 2: "matrix"}
_NDIM_BY_KIND = {"scalar": 0, "vector": 1, "matrix": 2, "symmetric": 2}
_COMPARISON = re.compile(r"==|<=|>=")


@dataclass
class MinimizeResult:
    """The solution found by `md.minimize`.

    `x` maps each optimised name to its value, an array of the shape of its initial value (a 0-d array for
    a scalar); `fun` is the objective there; `success`, `status` and `message` are scipy's verdict; `nit`
    the number of iterations; `history` the objective at x0 and after each iteration (its last entry is
    `fun`); `method` the scipy method used; `nfev` the number of objective evaluations; `raw` scipy's own
    OptimizeResult, with everything else it reports.
    """

    x: dict[str, np.ndarray]
    fun: float
    success: bool
    status: int
    message: str
    nit: int
    history: list[float]
    method: str
    nfev: int = 0
    raw: Any = field(default=None, repr=False)

    def __str__(self) -> str:
        verdict = "converged" if self.success else "did not converge"
        lines = [
            f"md.minimize {verdict} ({self.method}, {self.nit} iterations, {self.nfev} evaluations)",
            f"  message: {self.message}",
            f"  fun:     {self.fun:.10g}",
            "  x:",
        ]
        for name, value in self.x.items():
            text = np.array2string(np.asarray(value), precision=6, threshold=20, edgeitems=3, max_line_width=100)
            shape = f"  (shape {value.shape})" if value.ndim else ""
            indented = text.replace("\n", "\n" + " " * (6 + len(name)))
            lines.append(f"    {name} = {indented}{shape}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{name}: {value.shape}" for name, value in self.x.items())
        return (
            f"MinimizeResult(fun={self.fun:.10g}, success={self.success}, status={self.status}, nit={self.nit}, "
            f"method={self.method!r}, x={{{shapes}}})"
        )


@dataclass
class _Constraint:
    """g(values) in [low, high], element-wise; `text` names it in messages."""

    g: Expr
    low: np.ndarray
    high: np.ndarray
    op: str
    text: str


# ---------------------------------------------------------------------------------------------
# Arguments


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArgumentError(f"{what} must be a dict from names to values, got {type(value).__name__}")
    for name in value:
        if not isinstance(name, str):
            raise ArgumentError(f"{what} must have variable names as keys, got {name!r}")
    return value


def _array(name: str, value: object) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ArgumentError(f"the value of {name} is not an array of numbers: {error}") from None
    if array.dtype.kind not in "biuf":
        raise ArgumentError(f"the value of {name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim > 2:
        raise ShapeError(f"{name} has shape {array.shape}: values must be scalars, vectors or matrices")
    return array.astype(float)


def _shapes(arrays: Mapping[str, np.ndarray]) -> str:
    return ", ".join(f"{name} {tuple(a.shape)}" for name, a in arrays.items()) or "none"


def _objective(objective: Expr | str, x0: Mapping[str, np.ndarray], data: Mapping[str, np.ndarray],
               kinds: Mapping[str, str] | None) -> Expr:  # fmt: skip
    if isinstance(objective, str):
        declared = dict(_mapping(kinds, "kinds"))
        given = {name: _KIND_BY_NDIM[a.ndim] for name, a in {**x0, **data}.items()}
        try:
            f = expression(objective, {**given, **declared}, "minimize")
        except ShapeError as error:
            kinds_text = ", ".join(f"{name} {tuple(a.shape)} a {_KIND_BY_NDIM[a.ndim]}" for name, a in
                                   {**x0, **data}.items() if name not in declared)  # fmt: skip
            raise with_tail(error, f"\n(the kinds come from the values' shapes: {kinds_text})") from None
    else:
        f = expression(objective, dict(_mapping(kinds, "kinds")), "minimize")
    if f.ndim != 0:
        raise ShapeError(f"the objective must be a scalar, but {f} is a {f.kind} (shape {f.shape})")
    return f


def _check_names(f: Expr, x0: Mapping[str, np.ndarray], data: Mapping[str, np.ndarray]) -> None:
    variables = f.variables
    listed = ", ".join(variables) or "none"
    if not x0:
        raise ArgumentError("x0 must name at least one variable to optimise")
    for what, values in (("x0", x0), ("data", data)):
        for name in values:
            if name not in variables and what == "x0":  # data may be used by a constraint alone: checked there
                raise ArgumentError(f"{what} names {name!r}, which does not occur in the objective (its variables: "
                                    f"{listed})")  # fmt: skip
    both = sorted(set(x0) & set(data))
    if both:
        raise ArgumentError(f"{', '.join(both)} given both in x0 and in data: a variable is optimised or fixed")
    missing = [name for name in variables if name not in x0 and name not in data]
    if missing:
        raise ArgumentError(
            f"the objective's variable{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"{'are' if len(missing) > 1 else 'is'} given neither in x0 (to optimise) nor in data (fixed)"
        )
    for name, value in x0.items():
        if not np.all(np.isfinite(value)):
            raise ArgumentError(f"x0 for {name} is not finite: {value}")
    for name, kind in variables.items():
        value = x0[name] if name in x0 else data[name]
        if value.ndim != _NDIM_BY_KIND[kind] or (kind == "symmetric" and value.shape[0] != value.shape[1]):
            need = "a square matrix" if kind == "symmetric" else f"{_NDIM_BY_KIND[kind]} axes"
            raise ShapeError(f"{name} is a {kind} in the objective, so its value needs {need}; got shape "
                             f"{value.shape}")  # fmt: skip


def _evaluate_at(exprs: Sequence[Expr], values: Mapping[str, np.ndarray], what: str) -> list[np.ndarray]:
    try:
        with np.errstate(all="ignore"):
            return evaluate(list(exprs), values)
    except EvaluationError as error:
        shapes = _shapes(values)
        if "must agree" in str(error) or "axes" in str(error) or "shape" in str(error):
            raise ShapeError(f"the values do not fit {what}: {error} (the values' shapes: {shapes})") from error
        if isinstance(error, UnfixedSizeError):
            raise
        raise EvaluationError(f"{what} cannot be evaluated at x0: {error}") from error


def _bounds(bounds: object, x0: Mapping[str, np.ndarray], data: Mapping[str, np.ndarray],
            f: Expr) -> dict[str, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    result: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, pair in _mapping(bounds, "bounds").items():
        if name not in x0:
            where = "is data, held fixed" if name in data else "does not occur in the objective"
            if name not in data and name in f.variables:  # pragma: no cover - _check_names rules it out
                where = "is not in x0"
            raise ArgumentError(f"bounds names {name!r}, which {where}; bounds apply to the names in x0")
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ArgumentError(f"the bounds of {name} must be a pair (low, high), with None for unbounded; "
                                f"got {pair!r}")  # fmt: skip
        shape = x0[name].shape
        sides = []
        for side, default in zip(pair, (-np.inf, np.inf)):
            value = default if side is None else _array(f"the bound of {name}", side)
            try:
                array = np.broadcast_to(np.asarray(value, dtype=float), shape).copy()
            except ValueError:
                raise ShapeError(
                    f"the bound of {name} has shape {np.shape(value)}, which does not broadcast to {name}'s shape "
                    f"{shape}"
                ) from None
            if np.isnan(array).any():
                raise ArgumentError(f"the bounds of {name} contain NaN")
            sides.append(array)
        low, high = sides
        bad = np.argwhere(low > high)
        if bad.size:
            at = tuple(int(i) for i in bad[0])
            where = f" at index {at if len(at) > 1 else at[0]}" if at else ""
            raise ArgumentError(f"the bounds of {name} are infeasible{where}: low {low[at]} > high {high[at]}")
        result[name] = (low, high)
    return result


def _split_comparison(text: str) -> tuple[str, str, str]:
    found = _COMPARISON.findall(text)
    if len(found) != 1:
        if not found:
            strict = next((op for op in ("<", ">", "=") if op in text), None)
            advice = f" ({strict!r} is not one: use ==, <= or >=)" if strict else ""
            raise ArgumentError(f"the constraint {text!r} is not a comparison lhs == rhs, lhs <= rhs or lhs >= rhs"
                                f"{advice}")  # fmt: skip
        raise ArgumentError(f"the constraint {text!r} has {len(found)} comparisons; write one per constraint")
    lhs, rhs = _COMPARISON.split(text)
    if not lhs.strip() or not rhs.strip():
        raise ArgumentError(f"the constraint {text!r} needs an expression on both sides of {found[0]}")
    rest = (lhs + rhs).replace("<", "").replace(">", "")
    if "<" in lhs + rhs or ">" in lhs + rhs or "=" in rest:
        raise ArgumentError(f"the constraint {text!r} is not one comparison: use ==, <= or >= once")
    return lhs, found[0], rhs


def _constraint(item: object, kinds: Mapping[str, str], values: Mapping[str, np.ndarray], f: Expr,
                x0: Mapping[str, np.ndarray]) -> _Constraint:  # fmt: skip
    if isinstance(item, str):
        lhs_text, op, rhs_text = _split_comparison(item)
        sides: list[Any] = [lhs_text, rhs_text]
        text = item
    elif isinstance(item, tuple) and len(item) == 3 and item[1] in ("==", "<=", ">="):
        sides, op = [item[0], item[2]], item[1]
        text = f"{item[0]} {op} {item[2]}"
    else:
        shown = str(item) if isinstance(item, Expr) else repr(item)
        raise ArgumentError(
            f"the constraint {shown} is not a comparison: write text such as 'sum(w) == 1' or 'A*x <= b', "
            f"or a tuple (lhs, op, rhs) with op '==', '<=' or '>='"
        )
    exprs = [_side(side, kinds, text) for side in sides]
    lhs, rhs = exprs
    constant = [not isinstance(e, Expr) or not e.variables for e in (lhs, rhs)]
    if all(constant):
        raise ArgumentError(f"the constraint {text!r} has no variables")
    for e in (lhs, rhs):
        if isinstance(e, Expr):
            for name in e.variables:
                if name not in f.variables and name not in values:
                    raise ArgumentError(f"the constraint {text!r} uses {name!r}, which is neither in the objective "
                                        f"(its variables: {', '.join(f.variables)}) nor in data")  # fmt: skip
    if constant[1] or constant[0]:
        g, bound_side = (lhs, rhs) if constant[1] else (rhs, lhs)
        if constant[0]:  # c <= g is g >= c
            op = {"<=": ">=", ">=": "<=", "==": "=="}[op]
        bound = bound_side
        if isinstance(bound_side, Expr):
            try:
                bound = _evaluate_at([bound_side], {}, text)[0]
            except UnfixedSizeError:  # a size only the other side fixes (vector(1)): compare the difference
                g, bound = lhs - rhs, np.zeros(())
    else:
        g, bound = lhs - rhs, np.zeros(())
    assert isinstance(g, Expr)
    if g.ndim > 1:
        raise ShapeError(f"the constraint {text!r} compares {g.kind}s: constraints are scalar or element-wise "
                         f"over a vector")  # fmt: skip
    if not any(name in x0 for name in g.variables):
        raise ArgumentError(f"the constraint {text!r} involves none of the variables optimised ({', '.join(x0)})")
    involved = [name for name in x0 if name in g.variables]
    value, *jacobian = _evaluate_at([g, *(diff(g, name) for name in involved)], values, f"the constraint {text!r}")
    if not np.all(np.isfinite(value)):
        raise EvaluationError(f"the constraint {text!r} is not finite at x0: start inside its domain")
    for name, part in zip(involved, jacobian):
        if not np.all(np.isfinite(part)):
            raise EvaluationError(f"the derivative of the constraint {text!r} by {name} is not finite at x0 (as that "
                                  f"of norm2(x) at x = 0): start where the constraint is differentiable")  # fmt: skip
    try:
        c = np.broadcast_to(np.asarray(bound, dtype=float), value.shape).ravel()
    except ValueError:
        raise ShapeError(f"the constraint {text!r} compares shape {value.shape} with shape {np.shape(bound)}") from None
    inf = np.full(value.size, np.inf)
    low, high = {"==": (c, c), "<=": (-inf, c), ">=": (c, inf)}[op]
    return _Constraint(g, np.array(low, dtype=float), np.array(high, dtype=float), op, text)


def _side(side: object, kinds: Mapping[str, str], text: str) -> Expr | np.ndarray:
    """One side of a comparison: an expression, or an array of numbers."""
    if isinstance(side, str):
        return expression(side, dict(kinds), "minimize")
    if isinstance(side, Expr):
        return side
    if isinstance(side, bool) or not isinstance(side, (int, float, np.number, np.ndarray, list)):
        raise ArgumentError(f"a side of the constraint {text!r} is a {type(side).__name__}, not an expression, "
                            f"its text or numbers")  # fmt: skip
    return _array(f"a side of the constraint {text!r}", side)


def _method(method: object, has_bounds: bool, has_constraints: bool, size: int) -> str:
    if method is None:
        # SLSQP and L-BFGS-B land on active constraints and bounds (x'x <= 1: 1e-8, where trust-constr's
        # default leaves 4e-4; on nnls's problems trust-constr is 20-230x slower and leaves its barrier's 1e-6).
        # Quasi-Newton methods stop early on badly scaled problems, which the projected Newton steps after
        # L-BFGS-B repair (see _onto_active_bounds).
        if has_constraints:
            return "SLSQP" if size <= SMALL else "trust-constr"
        if has_bounds:
            return "L-BFGS-B"
        return "trust-exact" if size <= SMALL else "L-BFGS-B"
    if not isinstance(method, str) or method.lower() not in _METHODS:
        raise ArgumentError(f"unknown method {method!r}: use one of {', '.join(_METHODS.values())}")
    chosen = _METHODS[method.lower()]
    if has_constraints and chosen not in _CONSTRAINTS:
        raise ArgumentError(f"method {chosen} does not take constraints: use {' or '.join(sorted(_CONSTRAINTS))}")
    if has_bounds and chosen not in _BOUNDS:
        raise ArgumentError(f"method {chosen} does not take bounds: use one of {', '.join(sorted(_BOUNDS))}")
    return chosen


# ---------------------------------------------------------------------------------------------
# The problem, packed into one flat vector


class _Packing:
    """The optimised variables laid end to end in one flat vector, in x0's order."""

    def __init__(self, x0: Mapping[str, np.ndarray]) -> None:
        self.names = list(x0)
        self.shapes = [x0[name].shape for name in self.names]
        self.sizes = [int(np.prod(shape, dtype=int)) for shape in self.shapes]
        self.offsets = [0, *np.cumsum(self.sizes).tolist()]
        self.size = self.offsets[-1]

    def pack(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.ravel(values[name]) for name in self.names]).astype(float)

    def unpack(self, z: np.ndarray) -> dict[str, np.ndarray]:
        return {
            name: z[start:stop].reshape(shape)
            for name, shape, start, stop in zip(self.names, self.shapes, self.offsets, self.offsets[1:])
        }

    def blocks(self) -> list[tuple[int, int]]:
        """The (i, j) pairs of the Hessian's blocks with i <= j."""
        n = len(self.names)
        return [(i, j) for i in range(n) for j in range(i, n)]

    def assemble(self, blocks: Sequence[np.ndarray]) -> np.ndarray:
        """The full symmetric matrix from its upper blocks (in `blocks()` order)."""
        full = np.zeros((self.size, self.size))
        for (i, j), block in zip(self.blocks(), blocks):
            rows = slice(self.offsets[i], self.offsets[i + 1])
            cols = slice(self.offsets[j], self.offsets[j + 1])
            matrix = np.reshape(block, (self.sizes[i], self.sizes[j]))
            full[rows, cols] = matrix
            if i != j:
                full[cols, rows] = matrix.T
        return full


@functools.lru_cache(maxsize=64)
def _gradients(f: Expr, names: tuple[str, ...]) -> tuple[Expr, ...]:
    """The gradient of f by each name, derived once per objective (expressions are hash-consed)."""
    return tuple(diff(f, name) for name in names)


@functools.lru_cache(maxsize=64)
def _hessian_blocks(f: Expr, names: tuple[str, ...]) -> tuple[Expr, ...]:
    """The Hessian blocks d2f/da db for a <= b in `names` order (the order of `_Packing.blocks`)."""
    count = len(names)
    return tuple(diff(f, names[i], names[j]) for i in range(count) for j in range(i, count))


def _as_tuple(result: Any) -> tuple[np.ndarray, ...]:
    return result if isinstance(result, tuple) else (result,)


def _multiplier_name(taken: Mapping[str, str] | set[str]) -> str:
    name = "multiplier"
    while name in taken:
        name += "_"
    return name


# ---------------------------------------------------------------------------------------------
# The entry point


def minimize(
    objective: Expr | str,
    x0: Mapping[str, Any],
    *,
    data: Mapping[str, Any] | None = None,
    bounds: Mapping[str, tuple[Any, Any]] | None = None,
    constraints: Sequence[Any] | str | tuple | None = None,
    method: str | None = None,
    tol: float | None = None,
    maxiter: int | None = None,
    progress: bool = False,
    kinds: Mapping[str, str] | None = None,
) -> MinimizeResult:
    """Minimise a scalar expression over the variables named in `x0`, with scipy.optimize.

    ``md.minimize("norm2(A*x - b)^2", {"x": np.zeros(3)}, data={"A": A, "b": b})`` returns a
    `MinimizeResult` whose ``.x["x"]`` is the least-squares solution.

    - `objective`: an expression, or its text. With text, each variable's kind comes from its value:
      a 0-D value is a scalar, 1-D a vector, 2-D a matrix; declare symmetric matrices (or any other kind) with
      `kinds`, e.g. ``kinds={"S": "symmetric"}`` (text only).
    - `x0`: the initial value of each variable optimised (scalars, vectors or matrices, several at once).
    - `data`: the values of the objective's other variables, held fixed.
    - `bounds`: name -> (low, high), each None (unbounded), a number or an array broadcast to the variable's
      shape.
    - `constraints`: one or a list of comparisons, as text ``"sum(w) == 1"``, ``"A*x <= b"``, ``"x >= 0"``, or
      tuples ``(lhs, op, rhs)`` of expressions, text or numbers with op "==", "<=" or ">="; scalar, or
      element-wise over a vector. Their Jacobians are derived symbolically.
    - `method`: a scipy.optimize.minimize method. The default, up to `SMALL` (500) unknowns in all:
      "trust-exact" (exact Hessian) without bounds or constraints; "L-BFGS-B" with bounds only, followed by
      projected Newton steps with the exact Hessian (quasi-Newton methods stop early on badly scaled
      problems; the steps make the answer exact, on the active bounds); "SLSQP" with constraints. Above
      `SMALL`: "L-BFGS-B" (without the steps) without constraints, "trust-constr" with Hessian-vector
      products with them. trust-constr is an interior-point method: at an active bound its answer lies
      about 1e-6 inside.
      Methods that use a Hessian get the exact one, assembled from the blocks ``md.diff(f, a, b)``, or
      above `SMALL` unknowns (Newton-CG, trust-ncg, trust-krylov, trust-constr) exact Hessian-vector
      products, the derivative of the gradient's inner product with a direction.
    - `tol`, `maxiter`: passed to scipy (``tol``, ``options={"maxiter": ...}``; for TNC, which counts no
      iterations, ``maxfun``); None keeps scipy's defaults.
    - `progress`: show the iteration and the objective with rich while solving (on stderr).

    Gradients and Hessians are derived once and compiled once (`md.compile`, NumPy backend). NumPy's
    floating-point warnings are silenced while solving: a trial point outside the objective's domain gives
    inf or NaN, which scipy's line searches and trust regions step back from.

    Errors (each an `md.MatdiffError`): an `ArgumentError` for a name in x0, data, bounds or a constraint that
    is not in the objective, a variable of the objective given neither in x0 nor data, a non-finite x0, an
    infeasible bound (low > high), a constraint that is not a comparison or an unknown method; a
    `ShapeError` for an objective that is not a scalar or values whose shapes disagree with the expression
    or with each other (naming them and their shapes); an `EvaluationError` where the objective is not
    finite at x0.
    """
    try:
        import scipy.optimize
    except ImportError:  # pragma: no cover - scipy is installed with the optimize extra
        raise ArgumentError(
            "md.minimize needs scipy, which is not installed: pip install 'matdiff[optimize]'"
        ) from None

    x0_given = _mapping(x0, "x0")
    start = {name: _array(name, value) for name, value in x0_given.items()}
    fixed = {name: _array(name, value) for name, value in _mapping(data, "data").items()}
    f = _objective(objective, start, fixed, kinds)
    _check_names(f, start, fixed)
    all_values = {**fixed, **start}
    value0 = _evaluate_at([f], all_values, "the objective")[0]
    if not np.isfinite(value0):
        raise EvaluationError(f"the objective is not finite at x0 ({float(value0)}): start inside its domain")
    limits = _bounds(bounds, start, fixed, f)
    for name, (low, high) in limits.items():
        start[name] = np.clip(start[name], low, high)
    if constraints is None:
        items: list[Any] = []
    elif isinstance(constraints, (str, tuple)) or isinstance(constraints, Expr):
        items = [constraints]
    else:
        items = list(constraints)
    # data the objective does not use may be used by constraints (the radius r in "x'*x <= r^2")
    constraint_kinds = {**{name: _KIND_BY_NDIM[a.ndim] for name, a in fixed.items()}, **(kinds or {}), **f.variables}
    comparisons = [_constraint(item, constraint_kinds, {**fixed, **start}, f, start) for item in items]
    in_constraints = {name for c in comparisons for name in c.g.variables}
    for name in fixed:
        if name not in f.variables and name not in in_constraints:
            raise ArgumentError(f"data names {name!r}, which occurs neither in the objective (its variables: "
                                f"{', '.join(f.variables)}) nor in a constraint")  # fmt: skip
    extra_args = sorted(in_constraints - set(f.variables))
    packing = _Packing(start)
    chosen = _method(method, bool(limits), bool(comparisons), packing.size)
    if tol is not None and (not isinstance(tol, (int, float)) or not tol > 0 or not math.isfinite(tol)):
        raise ArgumentError(f"tol must be a positive number, got {tol!r}")
    if maxiter is not None and (not isinstance(maxiter, int) or isinstance(maxiter, bool) or maxiter < 1):
        raise ArgumentError(f"maxiter must be a positive integer, got {maxiter!r}")

    args = [*f.variables, *extra_args]  # every compiled function takes every value given
    names = packing.names
    value_and_gradient = compile_exprs(f, *_gradients(f, tuple(names)), args=args)

    def values_at(z: np.ndarray) -> dict[str, np.ndarray]:
        return {**fixed, **packing.unpack(z)}

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        value, *gradients = _as_tuple(value_and_gradient(**values_at(z)))
        return float(value), np.concatenate([np.ravel(g) for g in gradients])

    def value_only(z: np.ndarray) -> float:
        return fun(z)[0]

    options: dict[str, Any] = {}
    if maxiter is not None:  # TNC counts no iterations: its limit is on evaluations
        options["maxfun" if chosen == "TNC" else "maxiter"] = maxiter
    keywords: dict[str, Any] = {"method": chosen, "tol": tol, "options": options}
    if chosen in _GRADIENT:
        keywords["jac"] = True
        objective_function: Callable[[np.ndarray], Any] = fun
    else:
        objective_function = value_only
    by_products = chosen in _HESSIAN_PRODUCT and packing.size > SMALL
    found = E.variables([f])
    nodes = {name: found[name] for name in names}
    if chosen in _HESSIAN and by_products:
        product = _hessian_product(f, packing, fixed, args, nodes)
        keywords["hessp"] = lambda z, p: product(z, p, {})
    elif chosen in _HESSIAN:
        hessian_blocks = compile_exprs(*_hessian_blocks(f, tuple(names)), args=args)

        def hess(z: np.ndarray) -> np.ndarray:
            return packing.assemble(_as_tuple(hessian_blocks(**values_at(z))))

        keywords["hess"] = hess
    if limits:
        low = packing.pack({name: limits.get(name, (np.full(s, -np.inf), None))[0]
                            for name, s in zip(names, packing.shapes)})  # fmt: skip
        high = packing.pack({name: limits.get(name, (None, np.full(s, np.inf)))[1]
                             for name, s in zip(names, packing.shapes)})  # fmt: skip
        keywords["bounds"] = scipy.optimize.Bounds(low, high)
    if comparisons:
        keywords["constraints"] = [
            _scipy_constraint(c, packing, fixed, args, chosen, by_products, nodes, scipy.optimize) for c in comparisons
        ]

    history = [float(value0)]
    display = _Progress(maxiter) if progress else None

    def callback(intermediate_result: Any) -> None:
        # scipy passes an OptimizeResult to a callback with this parameter name, except TNC and COBYLA,
        # which pass the current point
        value: float | None = None
        if isinstance(intermediate_result, np.ndarray):
            value = value_only(intermediate_result)
        else:
            value = getattr(intermediate_result, "fun", None)
        if value is None:  # pragma: no cover - every method of scipy >= 1.11 reports fun
            value = value_only(np.asarray(intermediate_result.x))
        history.append(float(value))
        if display is not None:
            display.update(len(history) - 1, history[-1])

    try:
        if display is not None:
            display.start(history[0])
        with np.errstate(all="ignore"):
            solution = scipy.optimize.minimize(objective_function, packing.pack(start), callback=callback, **keywords)
    finally:
        if display is not None:
            display.stop()
    if method is None and limits and not comparisons and packing.size <= SMALL:
        hessian_blocks = compile_exprs(*_hessian_blocks(f, tuple(names)), args=args)

        def full_hessian(z: np.ndarray) -> np.ndarray:
            return packing.assemble(_as_tuple(hessian_blocks(**values_at(z))))

        with np.errstate(all="ignore"):
            polished = _onto_active_bounds(np.asarray(solution.x, dtype=float), fun, full_hessian,
                                           keywords["bounds"].lb, keywords["bounds"].ub)  # fmt: skip
        if polished is not None:
            solution.x, solution.fun, steps = polished
            plural = "s" if steps > 1 else ""
            solution.message = f"{solution.message}; then {steps} projected Newton step{plural} with the exact Hessian"
    final = float(solution.fun)
    if history[-1] != final:
        history.append(final)
    x = {}
    for name, kind_value in packing.unpack(np.asarray(solution.x, dtype=float)).items():
        value = np.array(kind_value, dtype=float)
        if f.variables[name] == "symmetric":
            value = (value + value.T) / 2
        x[name] = value
    return MinimizeResult(
        x=x,
        fun=final,
        success=bool(solution.success) and math.isfinite(final),
        status=int(solution.status),
        message=str(solution.message),
        nit=int(getattr(solution, "nit", len(history) - 1)),
        history=history,
        method=chosen,
        nfev=int(getattr(solution, "nfev", 0)),
        raw=solution,
    )


def _scipy_constraint(c: _Constraint, packing: _Packing, fixed: Mapping[str, np.ndarray], args: list[str],
                      method: str, by_products: bool, nodes: Mapping[str, Expr], optimize: Any) -> Any:  # fmt: skip
    """One constraint for scipy: a NonlinearConstraint (trust-constr) or dicts (SLSQP)."""
    names = packing.names
    variables = c.g.variables
    involved = [name for name in names if name in variables]
    jacobian_exprs = [diff(c.g, name) for name in involved]
    compiled = compile_exprs(c.g, *jacobian_exprs, args=args)
    count = c.low.size

    def values_at(z: np.ndarray) -> dict[str, np.ndarray]:
        return {**fixed, **packing.unpack(z)}

    def g(z: np.ndarray) -> np.ndarray:
        return np.ravel(_as_tuple(compiled(**values_at(z)))[0])

    def jacobian(z: np.ndarray) -> np.ndarray:
        _, *parts = _as_tuple(compiled(**values_at(z)))
        full = np.zeros((count, packing.size))
        for name, part in zip(involved, parts):
            k = names.index(name)
            full[:, packing.offsets[k] : packing.offsets[k + 1]] = np.reshape(part, (count, packing.sizes[k]))
        return full

    if method == "trust-constr":
        taken = set(args)
        multiplier_name = _multiplier_name(taken)
        if c.g.ndim == 0:
            multiplier = E.var(multiplier_name, "scalar")
            lagrangian = multiplier * c.g
        else:
            multiplier = E.var(multiplier_name, "vector", (c.g.shape[0],))
            lagrangian = multiplier.T @ c.g
        if by_products:  # the Lagrangian term's Hessian as a linear operator: products, never the matrix
            from scipy.sparse.linalg import LinearOperator

            product = _hessian_product(lagrangian, packing, fixed, [*args, multiplier_name], nodes)

            def hess_product(z: np.ndarray, v: np.ndarray) -> Any:
                given = {multiplier_name: v if c.g.ndim else v[0]}
                return LinearOperator((packing.size, packing.size), matvec=lambda p: product(z, p, given), dtype=float)

            return optimize.NonlinearConstraint(g, c.low, c.high, jac=jacobian, hess=hess_product)
        pairs = [(i, j) for i, j in packing.blocks()]
        blocks = [diff(lagrangian, names[i], names[j]) if names[i] in variables and names[j] in variables else None
                  for i, j in pairs]  # fmt: skip
        nonzero = [b for b in blocks if b is not None]
        hessians = compile_exprs(*nonzero, args=[*args, multiplier_name]) if nonzero else None

        def hess(z: np.ndarray, v: np.ndarray) -> np.ndarray:
            found = iter(_as_tuple(hessians(**values_at(z), **{multiplier_name: v if c.g.ndim else v[0]}))
                         if hessians is not None else ())  # fmt: skip
            parts = [next(found) if b is not None else np.zeros((packing.sizes[i], packing.sizes[j]))
                     for b, (i, j) in zip(blocks, pairs)]  # fmt: skip
            return packing.assemble(parts)

        return optimize.NonlinearConstraint(g, c.low, c.high, jac=jacobian, hess=hess)
    if c.op == "==":
        return {"type": "eq", "fun": lambda z: g(z) - c.low, "jac": jacobian}
    if c.op == "<=":
        return {"type": "ineq", "fun": lambda z: c.high - g(z), "jac": lambda z: -jacobian(z)}
    return {"type": "ineq", "fun": lambda z: g(z) - c.low, "jac": jacobian}


def _projected_gradient(z: np.ndarray, gradient: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """The size of the step z -> clip(z - gradient): zero exactly where z is optimal within the bounds."""
    return float(np.linalg.norm(z - np.clip(z - gradient, low, high)))


def _onto_active_bounds(z: np.ndarray, fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
                        hess: Callable[[np.ndarray], np.ndarray], low: np.ndarray,
                        high: np.ndarray) -> tuple[np.ndarray, float, int] | None:  # fmt: skip
    """Projected Newton steps (Bertsekas, 1982) from L-BFGS-B's answer, or None where they do not help.

    L-BFGS-B finds the active bounds, but as a quasi-Newton method it stops early on badly scaled problems
    (the diabetes regression by maximum likelihood: 3.5e-4 relative error in w). Each step puts on its
    bound every variable within 1e-4 (relative) of it whose gradient pushes it out, and takes a Newton step
    with the exact Hessian in the other variables, which converges quadratically from there. A step is kept only
    while the objective does not rise (beyond rounding) and the projected gradient shrinks, so a point that
    is already better, or a region where the Hessian is not positive definite, is left as it is.
    """
    value, gradient = fun(z)
    measure = _projected_gradient(z, gradient, low, high)
    improved = None
    for _ in range(10):
        near = 1e-4 * np.maximum(1.0, np.abs(z))
        at_low = (z - low <= near) & (gradient > 0)
        at_high = (high - z <= near) & (gradient < 0)
        free = ~(at_low | at_high)
        trial = np.where(at_low, low, np.where(at_high, high, z))
        _, trial_gradient = fun(trial)
        if free.any():
            block = hess(trial)[np.ix_(free, free)]
            try:
                step = np.linalg.solve(block, -trial_gradient[free])
            except np.linalg.LinAlgError:
                return improved
            trial[free] = np.clip(trial[free] + step, low[free], high[free])
        trial_value, trial_gradient = fun(trial)
        trial_measure = _projected_gradient(trial, trial_gradient, low, high)
        rounding = 1e-12 * max(1.0, abs(value))
        if not (np.isfinite(trial_value) and trial_value <= value + rounding and trial_measure < measure):
            return improved
        z, value, gradient, measure = trial, trial_value, trial_gradient, trial_measure
        improved = (z, value, (improved[2] if improved else 0) + 1)
        if measure == 0.0:
            break
    return improved


_Product = Callable[[np.ndarray, np.ndarray, Mapping[str, Any]], np.ndarray]


def _hessian_product(scalar: Expr, packing: _Packing, fixed: Mapping[str, np.ndarray], args: list[str],
                     variables: Mapping[str, Expr]) -> _Product:  # fmt: skip
    """(z, p, more) -> H(z) p for the Hessian H of `scalar` by the packed variables, never forming H.

    With a direction variable d_i beside each optimised x_i, the derivative by x_i of the inner product
    sum_j <grad_j scalar, d_j> is sum_j H_ij d_j (H is symmetric): forward over reverse, done symbolically,
    so for the logistic loss it lowers to X'*(c.*(X*d)) at the cost of two matrix-vector products.
    `more` gives the values of `args` beyond the objective's (a constraint's multiplier); `variables` maps
    each optimised name to its variable node (a constraint need not involve them all).
    """
    taken = set(args)
    directions = []
    for name in packing.names:
        direction = f"direction_{name}"
        while direction in taken:
            direction += "_"
        taken.add(direction)
        directions.append(direction)
    terms = []
    for name, direction in zip(packing.names, directions):
        gradient = diff(scalar, variables[name])
        along = E.var(direction, _KIND_BY_NDIM[gradient.ndim], gradient.shape)
        labels = list(range(gradient.ndim))
        terms.append(E.einsum([gradient, along], [labels, labels], []))
    pairing = E.add(terms)
    products = compile_exprs(*(diff(pairing, variables[name]) for name in packing.names), args=[*args, *directions])

    def product(z: np.ndarray, p: np.ndarray, more: Mapping[str, Any]) -> np.ndarray:
        values = {**fixed, **packing.unpack(z), **more}
        along = dict(zip(directions, packing.unpack(np.asarray(p, dtype=float)).values()))
        return np.concatenate([np.ravel(part) for part in _as_tuple(products(**values, **along))])

    return product


class _Progress:
    """A rich display of the iteration and the objective, on stderr."""

    def __init__(self, maxiter: int | None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns: list[Any] = [SpinnerColumn(), TextColumn("md.minimize: iteration {task.completed}")]
        if maxiter is not None:
            columns += [BarColumn(), TextColumn("of {task.total}")]
        columns += [TextColumn("objective {task.fields[objective]}"), TimeElapsedColumn()]
        self.progress = Progress(*columns, console=Console(stderr=True))
        self.task = self.progress.add_task("minimize", total=maxiter, objective="")

    def start(self, value: float) -> None:
        self.progress.start()
        self.update(0, value)

    def update(self, iteration: int, value: float) -> None:
        self.progress.update(self.task, completed=iteration, objective=f"{value:.10g}")

    def stop(self) -> None:
        self.progress.stop()
