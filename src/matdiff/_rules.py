"""Derivative rules, one table keyed by operation.

Forward mode: the rule for a node y = op(x1, ..., xk) receives the derivatives dx_i (each of shape
x_i.shape + w, for a variable of shape w) and returns dy, of shape y.shape + w. Each rule is a
line or two and cites its identity. An operation missing from the table raises DiffError: a
missing rule is never taken to mean zero.
"""

from __future__ import annotations

from collections.abc import Callable

from . import _expr as E
from ._errors import DiffError
from ._expr import Expr

Rule = Callable[[Expr, tuple[Expr, ...], tuple[Expr, ...], tuple[int, ...]], Expr]


def _terms(node: Expr) -> tuple[Expr, ...]:
    return node.args if node.op == "add" else (node,)


def _linear(d: Expr, build: Callable[[Expr], Expr]) -> Expr:
    """Apply a linear map term by term, so the Kronecker deltas in d stay eliminable."""
    return E.add([build(term) for term in _terms(d)])


def _upto(n: int) -> tuple[int, ...]:
    return tuple(range(n))


def _product_rule(node: Expr, args: tuple[Expr, ...], d: tuple[Expr, ...], w: tuple[int, ...]) -> Expr:
    # d(A *(s1,s2,s3) B) = dA *(s1w, s2, s3w) B + A *(s1, s2w, s3w) dB  (Laue et al. 2018)
    subs, out = node.attrs
    shift = 1 + max((label for s in subs for label in s), default=-1)
    wl = tuple(shift + i for i in w)
    terms = []
    for i, di in enumerate(d):
        if E.is_zero(di):
            continue
        for term in _terms(di):
            operands = args[:i] + (term,) + args[i + 1 :]
            new_subs = subs[:i] + (subs[i] + wl,) + subs[i + 1 :]
            terms.append(E.einsum(operands, new_subs, out + wl))
    return E.add(terms)


def _elementwise(derivative: Callable[[Expr, Expr], Expr]) -> Rule:
    # chain rule for an element-wise f: d f(x) = f'(x) ⊙ dx
    return lambda y, args, d, w: _linear(d[0], lambda t: E.hadamard_broadcast(derivative(y, args[0]), t))


def _one_minus_square(y: Expr) -> Expr:
    return E.add([E.ones(y.shape), E.scale(-1.0, E.power(y, 2.0))])


def _hadamard(a: Expr, b: Expr) -> Expr:
    labels = _upto(a.ndim)
    return E.einsum([a, b], [labels, labels], labels)


ELEMENTWISE_DERIVATIVES: dict[str, Callable[[Expr, Expr], Expr]] = {
    "sin": lambda y, x: E.apply("cos", x),  # sin' = cos
    "cos": lambda y, x: E.scale(-1.0, E.apply("sin", x)),  # cos' = -sin
    "tan": lambda y, x: E.add([E.ones(x.shape), E.power(y, 2.0)]),  # tan' = 1 + tan^2
    "arcsin": lambda y, x: E.power(_one_minus_square(x), -0.5),  # 1/sqrt(1-x^2)
    "arccos": lambda y, x: E.scale(-1.0, E.power(_one_minus_square(x), -0.5)),  # -1/sqrt(1-x^2)
    "arctan": lambda y, x: E.power(E.add([E.ones(x.shape), E.power(x, 2.0)]), -1.0),  # 1/(1+x^2)
    "exp": lambda y, x: y,  # exp' = exp
    "log": lambda y, x: E.power(x, -1.0),  # log' = 1/x
    "sqrt": lambda y, x: E.scale(0.5, E.power(y, -1.0)),  # sqrt' = 1/(2 sqrt x)
    "tanh": lambda y, x: _one_minus_square(y),  # tanh' = 1 - tanh^2
    "sigmoid": lambda y, x: _hadamard(y, _one_minus(y)),  # s' = s(1-s)
    "abs": lambda y, x: E.apply("sign", x),  # |x|' = sign x (x != 0)
    "sign": lambda y, x: E.zeros(x.shape),  # piecewise constant: 0 away from x = 0
    "relu": lambda y, x: E.apply("step", x),  # relu' = step (x != 0)
    "step": lambda y, x: E.zeros(x.shape),  # piecewise constant: 0 away from x = 0
    "pow": lambda y, x: E.scale(y.attrs[0], E.power(x, y.attrs[0] - 1.0)),  # (x^p)' = p x^(p-1)
}


def _one_minus(y: Expr) -> Expr:
    return E.add([E.ones(y.shape), E.scale(-1.0, y)])


def _inverse(y: Expr, args, d, w) -> Expr:
    # d inv(X) = -inv(X) dX inv(X)  (Matrix Cookbook eq. 59)
    return _linear(
        d[0], lambda t: E.einsum([E.const(-1.0), y, t, y], [(), (0, 2), (2, 3) + _w(w), (3, 1)], (0, 1) + _w(w))
    )


def _w(w: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(10 + i for i in w)  # labels for the variable's axes, clear of 0..9


def _determinant(y: Expr, args, d, w) -> Expr:
    # d det X = det(X) tr(inv(X) dX)  (Jacobi's formula; Matrix Cookbook eq. 46)
    inverse = E.matrix_function("inv", args[0])
    return _linear(d[0], lambda t: E.einsum([y, inverse, t], [(), (1, 0), (0, 1) + _w(w)], _w(w)))


def _log_determinant(y: Expr, args, d, w) -> Expr:
    # d logdet X = tr(inv(X) dX)  (Matrix Cookbook eq. 50)
    inverse = E.matrix_function("inv", args[0])
    return _linear(d[0], lambda t: E.einsum([inverse, t], [(1, 0), (0, 1) + _w(w)], _w(w)))


def _softmax(y: Expr, args, d, w) -> Expr:
    # d softmax(x) = diag(s) dx - s s' dx
    return _linear(
        d[0],
        lambda t: E.add(
            [
                E.einsum([y, t], [(0,), (0,) + _w(w)], (0,) + _w(w)),
                E.einsum([E.const(-1.0), y, y, t], [(), (0,), (1,), (1,) + _w(w)], (0,) + _w(w)),
            ]
        ),
    )


def _logsumexp(y: Expr, args, d, w) -> Expr:
    # d logsumexp(x) = sum(exp(x - logsumexp x) ⊙ dx) = softmax(x)' dx for a vector
    (x,) = args
    if x.ndim == 1:
        weights = E.reduction("softmax", x)
    else:
        spread = E.einsum([y, E.ones(x.shape)], [(), _upto(x.ndim)], _upto(x.ndim))
        weights = E.apply("exp", E.add([x, E.scale(-1.0, spread)]))
    s = _upto(x.ndim)
    return _linear(d[0], lambda t: E.einsum([weights, t], [s, s + _w(w)], _w(w)))


def _norm2(y: Expr, args, d, w) -> Expr:
    # d ||X|| = sum(X ⊙ dX) / ||X||
    s = _upto(args[0].ndim)
    return _linear(d[0], lambda t: E.einsum([E.power(y, -1.0), args[0], t], [(), s, s + _w(w)], _w(w)))


RULES: dict[str, Rule] = {
    "einsum": _product_rule,
    "add": lambda y, args, d, w: E.add(d),  # sum rule
    "row": lambda y, args, d, w: d[0],  # a row vector has its column's numbers
    "inv": _inverse,
    "det": _determinant,
    "logdet": _log_determinant,
    "softmax": _softmax,
    "logsumexp": _logsumexp,
    "norm2": _norm2,
    **{name: _elementwise(rule) for name, rule in ELEMENTWISE_DERIVATIVES.items()},
}
CONSTANT_OPS = ("const", "zeros", "ones", "delta")  # their derivative is zero


def rule_for(op: str) -> Rule:
    try:
        return RULES[op]
    except KeyError:
        raise DiffError(f"no derivative rule for the operation {op!r}") from None


def variable_derivative(x: Expr, wrt: Expr) -> Expr:
    """dX/dW: a product of Kronecker deltas when X is W, else zero."""
    if x is not wrt:
        return E.zeros(x.shape + wrt.shape)
    if wrt.ndim == 0:
        return E.const(1.0)
    if wrt.ndim == 1:
        return E.delta(wrt.shape[0])
    m, n = wrt.shape
    plain = E.einsum([E.delta(m), E.delta(n)], [(0, 2), (1, 3)], (0, 1, 2, 3))
    if wrt.attrs[1] != "symmetric":
        return plain
    # symmetric W: dW_ij/dW_kl = (δik δjl + δil δjk)/2, so the gradient is (G + G')/2
    swapped = E.einsum([E.delta(m), E.delta(n)], [(0, 3), (1, 2)], (0, 1, 2, 3))
    return E.add([E.scale(0.5, plain), E.scale(0.5, swapped)])
