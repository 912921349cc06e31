"""The functions of the syntax, each declared once with all its facets (see `_registry.Operation`).

A new element-wise function is one `_elementwise(...)` declaration here, plus its row in the rule tests
(tests/test_rules.py): its name in the syntax, `md.NAME`, evaluation, derivative, explanation, LaTeX and
domain for checks all come from it. `matdiff` re-exports every operation declared here, so the declaration
is also the public function `md.NAME`.

Element-wise derivatives are f'(y, x) with y = f(x) the node; the chain rule d f(x) = f'(x) ⊙ dx is
applied in `_rules`. Reductions and matrix functions give their forward rule
(y, args, dargs, w) -> dy with dy of shape y.shape + w, each citing its identity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from . import _expr as E
from ._errors import EvaluationError, ShapeError
from ._expr import Expr, Operand, as_expr, describe, orient_like
from ._registry import (
    ABOVE_MINUS_ONE,
    AWAY_FROM_POLES,
    NONZERO,
    OPEN_UNIT,
    POSITIVE,
    POSITIVE_DETERMINANT,
    REAL,
    WELL_CONDITIONED,
    Domain,
    Kind,
    Operation,
    register,
)
from ._rules import linear, variable_labels

# ---------------------------------------------------------------------------------------------
# Declaration helpers


def _elementwise(
    name: str,
    value: Callable[[np.ndarray], np.ndarray],
    derivative: Callable[[Expr, Expr], Expr],
    identity: str,
    latex: str,
    domain: Domain = REAL,
    doc: str = "",
    codegen: dict[str, str] | None = None,
    helpers: dict[str, str] | None = None,
) -> Operation:
    """An element-wise function: f applied to every entry. Its node constructor folds constants.
    `codegen` and `helpers` spell it in generated code where ``{ns}.NAME(x)`` does not (`_registry`)."""

    def build(x: Operand) -> Expr:
        return E.elementwise(name, value, as_expr(x))

    return register(
        Operation(
            name, Kind.ELEMENTWISE, doc or f"Element-wise {name}.", latex, value, derivative, identity,
            python=name, domain=domain, build=build, codegen=codegen or {}, helpers=helpers or {}, symmetric=True,
        )
    )  # fmt: skip


def _array_api_name(name: str) -> dict[str, str]:
    """NumPy and JAX say arcsin; PyTorch and the Array API standard say asin."""
    return {"torch": f"torch.{name}({{x}})", "array_api": f"xp.{name}({{x}})"}


def _hadamard(a: Expr, b: Expr) -> Expr:
    labels = tuple(range(a.ndim))
    return E.einsum([a, b], [labels, labels], labels)


def _one_plus(x: Expr) -> Expr:
    return E.add([E.ones(x.shape), x])


def _one_minus(x: Expr) -> Expr:
    return E.add([E.ones(x.shape), E.scale(-1.0, x)])


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    # 1/(1 + e^-x) for x >= 0 and e^x/(1 + e^x) below: no overflow, full relative precision in both tails
    tail = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, tail) / (1.0 + tail)


# ---------------------------------------------------------------------------------------------
# Element-wise functions: name, NumPy value, f'(y, x) with y = f(x), identity, LaTeX, domain

# Trigonometric
sin: Operation = _elementwise("sin", np.sin, lambda y, x: cos(x), "sin' = cos", r"\sin")
cos: Operation = _elementwise("cos", np.cos, lambda y, x: E.scale(-1.0, sin(x)), "cos' = -sin", r"\cos")
tan: Operation = _elementwise(
    "tan", np.tan, lambda y, x: _one_plus(E.power(y, 2.0)), "tan' = 1 + tan^2", r"\tan", AWAY_FROM_POLES
)
arcsin: Operation = _elementwise(
    "arcsin", np.arcsin, lambda y, x: E.power(_one_minus(E.power(x, 2.0)), -0.5), "arcsin'(u) = 1/sqrt(1 - u^2)",
    r"\arcsin", OPEN_UNIT, codegen=_array_api_name("asin"),
)  # fmt: skip
arccos: Operation = _elementwise(
    "arccos", np.arccos, lambda y, x: E.scale(-1.0, E.power(_one_minus(E.power(x, 2.0)), -0.5)),
    "arccos'(u) = -1/sqrt(1 - u^2)", r"\arccos", OPEN_UNIT, codegen=_array_api_name("acos"),
)  # fmt: skip
arctan: Operation = _elementwise(
    "arctan", np.arctan, lambda y, x: E.power(_one_plus(E.power(x, 2.0)), -1.0), "arctan'(u) = 1/(1 + u^2)", r"\arctan",
    codegen=_array_api_name("atan"),
)

# Exponentials, logarithms and roots
exp: Operation = _elementwise("exp", np.exp, lambda y, x: y, "exp' = exp", r"\exp")
log: Operation = _elementwise("log", np.log, lambda y, x: E.power(x, -1.0), "log'(u) = 1/u", r"\log", POSITIVE)
sqrt: Operation = _elementwise(
    "sqrt", np.sqrt, lambda y, x: E.scale(0.5, E.power(y, -1.0)), "sqrt'(u) = 1/(2 sqrt(u))", r"\sqrt{{{}}}", POSITIVE
)
log1p: Operation = _elementwise(
    "log1p", np.log1p, lambda y, x: E.power(_one_plus(x), -1.0), "log1p'(u) = 1/(1 + u)",
    r"\operatorname{log1p}", ABOVE_MINUS_ONE, "Element-wise log(1 + x), accurate for small x.",
)  # fmt: skip
expm1: Operation = _elementwise(
    "expm1", np.expm1, lambda y, x: exp(x), "expm1' = exp", r"\operatorname{expm1}", REAL,
    "Element-wise exp(x) - 1, accurate for small x.",
)  # fmt: skip

# Hyperbolic
sinh: Operation = _elementwise("sinh", np.sinh, lambda y, x: cosh(x), "sinh' = cosh", r"\sinh")
cosh: Operation = _elementwise("cosh", np.cosh, lambda y, x: sinh(x), "cosh' = sinh", r"\cosh")
tanh: Operation = _elementwise(
    "tanh", np.tanh, lambda y, x: _one_minus(E.power(y, 2.0)), "tanh' = 1 - tanh^2", r"\tanh"
)
arcsinh: Operation = _elementwise(
    "arcsinh", np.arcsinh, lambda y, x: E.power(_one_plus(E.power(x, 2.0)), -0.5), "arcsinh'(u) = 1/sqrt(1 + u^2)",
    r"\operatorname{arcsinh}", codegen=_array_api_name("asinh"),
)  # fmt: skip

# Activations, and piecewise functions (their derivatives hold away from the kink at 0)
sigmoid: Operation = _elementwise(
    "sigmoid", _stable_sigmoid, lambda y, x: _hadamard(y, _one_minus(y)), "sigmoid' = sigmoid (1 - sigmoid)",
    r"\sigma", doc="Element-wise logistic sigmoid 1/(1 + exp(-x)), computed stably.",
    codegen={"numpy": "_sigmoid({x})", "jax": "jax.nn.sigmoid({x})", "torch": "torch.sigmoid({x})",
             "array_api": "_sigmoid(xp, {x})"},
    helpers={
        "numpy": "def _sigmoid(x):\n    tail = np.exp(-np.abs(x))  # no overflow in either tail\n"
                 "    return np.where(x >= 0, 1.0, tail) / (1.0 + tail)\n",
        "array_api": "def _sigmoid(xp, x):\n    tail = xp.exp(-xp.abs(x))  # no overflow in either tail\n"
                     "    return xp.where(x >= 0, xp.ones_like(x), tail) / (1.0 + tail)\n",
    },
)  # fmt: skip
softplus: Operation = _elementwise(
    "softplus", lambda x: np.logaddexp(0.0, x), lambda y, x: sigmoid(x), "softplus' = sigmoid",
    r"\operatorname{softplus}", doc="Element-wise log(1 + exp(x)), computed stably (no overflow at x = 700).",
    codegen={"numpy": "np.logaddexp(0.0, {x})", "jax": "jnp.logaddexp(0.0, {x})",
             "torch": "torch.logaddexp({x}, torch.zeros_like({x}))",
             "array_api": "xp.logaddexp({x}, xp.zeros_like({x}))"},
)  # fmt: skip
abs: Operation = _elementwise("abs", np.abs, lambda y, x: sign(x), "abs' = sign (u != 0)", r"\left|{}\right|", NONZERO)
sign: Operation = _elementwise(
    "sign", np.sign, lambda y, x: E.zeros(x.shape), "sign' = 0 (u != 0)", r"\operatorname{sign}", NONZERO
)
relu: Operation = _elementwise(
    "relu", lambda x: np.maximum(x, 0.0), lambda y, x: step(x), "relu' = step (u != 0)", r"\operatorname{relu}",
    NONZERO, "Element-wise max(x, 0).",
    codegen={"numpy": "np.maximum({x}, 0.0)", "jax": "jnp.maximum({x}, 0.0)", "torch": "torch.relu({x})",
             "array_api": "xp.where({x} > 0, {x}, xp.zeros_like({x}))"},
)  # fmt: skip
step: Operation = _elementwise(
    "step", lambda x: (x > 0).astype(np.float64), lambda y, x: E.zeros(x.shape), "step' = 0 (u != 0)",
    r"\operatorname{step}", NONZERO, "Element-wise Heaviside step: 1 where x > 0, else 0.",
    codegen={"numpy": "({x} > 0).astype({x}.dtype)", "jax": "({x} > 0).astype({x}.dtype)",
             "torch": "({x} > 0).to({x}.dtype)", "array_api": "xp.astype({x} > 0, {x}.dtype)"},
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Helpers of generated code, by backend (see `_registry.Operation.helpers`). NumPy's raise or treat edge cases
# as evaluation does; the traced and lazy backends (JAX, the Array API standard) cannot branch on values.

_LOGDET_HELPERS = {
    "numpy": """
def _logdet(X):
    sign, logabs = np.linalg.slogdet(X)
    if sign <= 0:
        raise ValueError("logdet needs a matrix with a positive determinant")
    return logabs
""",
    "jax": """
def _logdet(X):
    sign, logabs = jnp.linalg.slogdet(X)
    return jnp.where(sign > 0, logabs, jnp.nan)  # NaN where the determinant is not positive
""",
    "torch": """
def _logdet(X):
    sign, logabs = torch.linalg.slogdet(X)
    return torch.where(sign > 0, logabs, torch.full_like(logabs, torch.nan))  # NaN where det <= 0
""",
    "array_api": """
def _logdet(xp, X):
    sign, logabs = xp.linalg.slogdet(X)
    return xp.where(sign > 0, logabs, xp.full_like(logabs, xp.nan))  # NaN where det <= 0
""",
}
_SOFTMAX_HELPERS = {
    "numpy": """
def _softmax(x):
    if x.size == 0:
        return x.copy()
    shifted = np.exp(x - np.max(x))
    return shifted / np.sum(shifted)
""",
    "array_api": """
def _softmax(xp, x):
    if x.shape[0] == 0:
        return x
    shifted = xp.exp(x - xp.max(x))
    return shifted / xp.sum(shifted)
""",
}
_LOGSUMEXP_HELPERS = {
    "numpy": """
def _logsumexp(x):
    if x.size == 0:
        return np.asarray(-np.inf)
    top = np.max(x)
    if not np.isfinite(top):
        return np.asarray(top)
    return top + np.log(np.sum(np.exp(x - top)))
""",
    "array_api": """
def _logsumexp(xp, x):
    if x.size == 0:
        return xp.asarray(-xp.inf, dtype=x.dtype)
    top = xp.max(x)
    return top + xp.log(xp.sum(xp.exp(x - top)))
""",
}


# ---------------------------------------------------------------------------------------------
# Functions of a square matrix


def _square_function(name: str, x: Expr, shape: tuple[E.Dim, ...]) -> Expr:
    E.square_dims(x, name)
    return Expr(name, (x,), (), shape)


def _linalg_code(name: str) -> dict[str, str]:
    """The same function of every backend's linalg namespace (np.linalg.inv, torch.linalg.inv, ...)."""
    return dict.fromkeys(("numpy", "jax", "torch", "array_api"), f"{{ns}}.linalg.{name}({{x}})")


def _inverse_node(x: Expr) -> Expr:
    return x.args[0] if x.op == "inv" else _square_function("inv", x, (x.shape[0], x.shape[0]))


def _linalg(function: Callable[[np.ndarray], np.ndarray], name: str) -> Callable[[np.ndarray], np.ndarray]:
    def value(x: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(function(x))
        except np.linalg.LinAlgError as error:
            raise EvaluationError(f"{name} of a singular matrix: {error}") from None

    return value


def _logdet_value(x: np.ndarray) -> np.ndarray:
    sign, logabs = np.linalg.slogdet(x)  # stable where det itself would overflow
    if sign <= 0:
        raise EvaluationError("logdet needs a matrix with a positive determinant")
    return np.asarray(logabs)


def _inverse_rule(y: Expr, args: tuple[Expr, ...], d: tuple[Expr, ...], w: tuple[int, ...]) -> Expr:
    # d inv(X) = -inv(X) dX inv(X)  (Matrix Cookbook eq. 59)
    wl = variable_labels(w)
    return linear(d[0], lambda t: E.einsum([E.const(-1.0), y, t, y], [(), (0, 2), (2, 3) + wl, (3, 1)], (0, 1) + wl))


def _determinant_rule(y: Expr, args: tuple[Expr, ...], d: tuple[Expr, ...], w: tuple[int, ...]) -> Expr:
    # d det X = det(X) tr(inv(X) dX)  (Jacobi's formula; Matrix Cookbook eq. 46)
    inverse, wl = _inverse_node(args[0]), variable_labels(w)
    return linear(d[0], lambda t: E.einsum([y, inverse, t], [(), (1, 0), (0, 1) + wl], wl))


def _log_determinant_rule(y: Expr, args: tuple[Expr, ...], d: tuple[Expr, ...], w: tuple[int, ...]) -> Expr:
    # d logdet X = tr(inv(X) dX)  (Matrix Cookbook eq. 50)
    inverse, wl = _inverse_node(args[0]), variable_labels(w)
    return linear(d[0], lambda t: E.einsum([inverse, t], [(1, 0), (0, 1) + wl], wl))


def _inv(a: Operand) -> Expr:
    a = as_expr(a)
    return E.power(a, -1.0) if a.ndim == 0 else _inverse_node(a)  # the inverse of a scalar is 1/a


def _det(a: Operand) -> Expr:
    a = as_expr(a)
    return a if a.ndim == 0 else _square_function("det", a, ())


def _logdet(a: Operand) -> Expr:
    a = as_expr(a)
    return log(a) if a.ndim == 0 else _square_function("logdet", a, ())


inv: Operation = register(
    Operation(
        "inv", Kind.MATRIX, "The inverse of a square matrix (of a scalar: 1/a).", "{}^{{-1}}",
        _linalg(np.linalg.inv, "inv"), _inverse_rule, "d inv(U) = -inv(U) dU inv(U)", python="inv",
        domain=WELL_CONDITIONED, build=_inv, codegen=_linalg_code("inv"), symmetric=True,
    )
)  # fmt: skip
det: Operation = register(
    Operation(
        "det", Kind.MATRIX, "The determinant of a square matrix.", r"\det", _linalg(np.linalg.det, "det"),
        _determinant_rule, "d det(U) = det(U) tr(inv(U) dU)", "Jacobi's formula", python="det",
        domain=WELL_CONDITIONED, build=_det, codegen=_linalg_code("det"),
    )
)  # fmt: skip
logdet: Operation = register(
    Operation(
        "logdet", Kind.MATRIX, "log det(A), for A with a positive determinant (computed with slogdet).", r"\log\det",
        _logdet_value, _log_determinant_rule, "d logdet(U) = tr(inv(U) dU)", python="logdet",
        domain=POSITIVE_DETERMINANT, build=_logdet,
        codegen={"numpy": "_logdet({x})", "jax": "_logdet({x})", "torch": "_logdet({x})",
                 "array_api": "_logdet(xp, {x})"},
        helpers=_LOGDET_HELPERS,
    )
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Reductions


def _softmax_value(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        return x.copy()  # the softmax of an empty vector is empty
    shifted = np.exp(x - x.max())
    return shifted / shifted.sum()


def _logsumexp_value(x: np.ndarray) -> np.ndarray:
    # log(sum(exp(x))) shifted by the largest entry, as NumPy's and SciPy's: log of an empty sum is -inf,
    # and where the largest entry is not finite (all -inf, or an inf) it is the answer itself
    if x.size == 0:
        return np.asarray(-np.inf)
    top = x.max()
    if not np.isfinite(top):
        return np.asarray(top)
    return np.asarray(top + np.log(np.exp(x - top).sum()))


def _softmax_rule(y: Expr, args: tuple[Expr, ...], d: tuple[Expr, ...], w: tuple[int, ...]) -> Expr:
    # d softmax(x) = diag(s) dx - s s' dx
    wl = variable_labels(w)
    return linear(
        d[0],
        lambda t: E.add(
            [
                E.einsum([y, t], [(0,), (0,) + wl], (0,) + wl),
                E.einsum([E.const(-1.0), y, y, t], [(), (0,), (1,), (1,) + wl], (0,) + wl),
            ]
        ),
    )


def _logsumexp_rule(y: Expr, args: tuple[Expr, ...], d: tuple[Expr, ...], w: tuple[int, ...]) -> Expr:
    # d logsumexp(x) = sum(exp(x - logsumexp x) ⊙ dx) = softmax(x)' dx for a vector
    (x,) = args
    s, wl = tuple(range(x.ndim)), variable_labels(w)
    if x.ndim == 1:
        weights = _softmax_node(x)
    else:
        weights = exp(E.add([x, E.scale(-1.0, E.einsum([y, E.ones(x.shape)], [(), s], s))]))
    return linear(d[0], lambda t: E.einsum([weights, t], [s, s + wl], wl))


def _norm2_rule(y: Expr, args: tuple[Expr, ...], d: tuple[Expr, ...], w: tuple[int, ...]) -> Expr:
    # d ||X|| = sum(X ⊙ dX) / ||X||
    s, wl = tuple(range(args[0].ndim)), variable_labels(w)
    return linear(d[0], lambda t: E.einsum([E.power(y, -1.0), args[0], t], [(), s, s + wl], wl))


def _softmax_node(x: Expr) -> Expr:
    if x.ndim != 1:
        raise ShapeError(f"softmax needs a vector, got {describe(x)}")
    return Expr("softmax", (x,), (), x.shape)


def _softmax(a: Operand) -> Expr:
    a = as_expr(a)
    return orient_like(_softmax_node(E.strip_row(a)), a)


def _logsumexp(a: Operand) -> Expr:
    a = E.strip_row(as_expr(a))
    return a if a.ndim == 0 else Expr("logsumexp", (a,), (), ())


def _norm2(a: Operand) -> Expr:
    a = E.strip_row(as_expr(a))
    return abs(a) if a.ndim == 0 else Expr("norm2", (a,), (), ())


softmax: Operation = register(
    Operation(
        "softmax", Kind.REDUCTION, "exp(x) / sum(exp(x)) for a vector, computed stably.",
        r"\operatorname{softmax}", _softmax_value, _softmax_rule,
        "d softmax(u) = (diag(s) - s s') du, s = softmax(u)", python="softmax", build=_softmax,
        codegen={"numpy": "_softmax({x})", "jax": "jax.nn.softmax({x})", "torch": "torch.softmax({x}, 0)",
                 "array_api": "_softmax(xp, {x})"},
        helpers=_SOFTMAX_HELPERS,
    )
)  # fmt: skip
logsumexp: Operation = register(
    Operation(
        "logsumexp", Kind.REDUCTION, "log(sum(exp(a))), computed stably.", r"\operatorname{logsumexp}",
        _logsumexp_value, _logsumexp_rule, "d logsumexp(u) = softmax(u)' du", python="logsumexp", build=_logsumexp,
        codegen={"numpy": "_logsumexp({x})", "jax": "jax.nn.logsumexp({x})",
                 "torch": "torch.logsumexp({x}, dim={axes})", "array_api": "_logsumexp(xp, {x})"},
        helpers=_LOGSUMEXP_HELPERS,
    )
)  # fmt: skip
norm2: Operation = register(
    Operation(
        "norm2", Kind.REDUCTION, "The Euclidean norm of a vector, the Frobenius norm of a matrix.",
        r"\left\|{}\right\|_2", lambda x: np.asarray(np.sqrt(np.sum(x * x))), _norm2_rule,
        "d ||U|| = sum(U .* dU) / ||U||", python="norm2", build=_norm2,
        codegen=dict.fromkeys(("numpy", "jax", "torch", "array_api"), "{ns}.sqrt({ns}.sum({x} * {x}))"),
    )
)  # fmt: skip


if not TYPE_CHECKING:
    # `from ._ops import *` in matdiff/__init__.py takes exactly the operations declared above, not the helpers
    # this module imports; type checkers skip this block and see each operation with its declared type.
    __all__ = [name for name, value in list(globals().items()) if isinstance(value, Operation)]
