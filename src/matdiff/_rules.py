"""Derivative rules: the structural ones here, and the chain rule for the registered functions.

Forward mode: the rule for a node y = op(x1, ..., xk) receives the derivatives dx_i (each of shape
x_i.shape + w, for a variable of shape w) and returns dy, of shape y.shape + w. Each rule is a line or
two and cites its identity. Products, sums, powers and row vectors have their rules in
`STRUCTURAL_RULES`; every function brings its own from the registry (`_ops.py`), an element-wise f as
f'(x) through `chain_rule`. An operation with neither raises DiffError: a missing rule is never taken to
mean zero.
"""

from __future__ import annotations

from collections.abc import Callable

from . import _expr as E
from ._errors import DiffError
from ._expr import Expr
from ._registry import REGISTRY, Kind

Rule = Callable[[Expr, tuple[Expr, ...], tuple[Expr, ...], tuple[int, ...]], Expr]


def _terms(node: Expr) -> tuple[Expr, ...]:
    return node.args if node.op == "add" else (node,)


def linear(d: Expr, build: Callable[[Expr], Expr]) -> Expr:
    """Apply a linear map term by term, so the Kronecker deltas in d stay eliminable."""
    return E.add([build(term) for term in _terms(d)])


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


def chain_rule(derivative: Callable[[Expr, Expr], Expr]) -> Rule:
    # chain rule for an element-wise f: d f(x) = f'(x) ⊙ dx
    return lambda y, args, d, w: linear(d[0], lambda t: E.hadamard_broadcast(derivative(y, args[0]), t))


def variable_labels(w: tuple[int, ...]) -> tuple[int, ...]:
    """Labels for the variable's axes in a rule's einsum, clear of the operands' labels 0..9."""
    return tuple(10 + i for i in w)


def _power_rule(y: Expr, args: tuple[Expr, ...], d: tuple[Expr, ...], w: tuple[int, ...]) -> Expr:
    # (x^p)' = p x^(p-1), element-wise
    p = y.attrs[0]
    return chain_rule(lambda y, x: E.scale(p, E.power(x, p - 1.0)))(y, args, d, w)


STRUCTURAL_RULES: dict[str, Rule] = {
    "einsum": _product_rule,
    "add": lambda y, args, d, w: E.add(d),  # sum rule
    "row": lambda y, args, d, w: d[0],  # a row vector has its column's numbers
    "pow": _power_rule,
}
CONSTANT_OPS = ("const", "zeros", "ones", "delta")  # their derivative is zero


def rule_for(op: str) -> Rule:
    """The forward rule of an operation: a structural one, or the registered function's (through the
    chain rule for an element-wise function). An operation without a rule raises DiffError."""
    if op in STRUCTURAL_RULES:
        return STRUCTURAL_RULES[op]
    operation = REGISTRY.get(op)
    if operation is None or operation.derivative is None:
        raise DiffError(f"no derivative rule for the operation {op!r}")
    if operation.kind is Kind.ELEMENTWISE:
        return chain_rule(operation.derivative)
    return operation.derivative


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
