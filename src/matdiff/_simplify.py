"""Simplification after differentiation.

The canonical constructors already flatten products, eliminate Kronecker deltas, fold constants,
propagate zeros and merge like terms. This pass adds factoring, which derivatives need to stay
cheap: a sum of products that differ in one factor becomes one product,

    A *(s) B1 + A *(s) B2  ->  A *(s) (B1 + B2)        (distributivity)

so the Hessian of a logistic loss is one X' diag(c) X, not three; and it writes the logistic function
where the chain rule spelt it out (`textbook`):

    exp(t) .* (1 + exp(t)).^-1  ->  sigmoid(t)           1 ./ (1 + exp(t))  ->  sigmoid(-t)
    s - s.^2                    ->  s .* (1 - s)

which is shorter, reads as a textbook does, and evaluates without overflow where exp(t) would.
"""

from __future__ import annotations

from collections import defaultdict

from . import _expr as E
from ._expr import Expr
from ._limits import NodeBudget
from ._registry import lookup


def simplify(expr: Expr) -> Expr:
    """Rebuild bottom-up, factoring every sum. Bounded by md.limits.max_nodes."""
    budget = NodeBudget(E.node_count, "simplifying a derivative")

    def factored(node: Expr) -> Expr:
        budget.check()
        node = textbook(node)
        return textbook(factor_sum(node, budget)) if node.op == "add" else node

    return E.rewrite(expr, then=factored)


# ---------------------------------------------------------------------------------------------
# Textbook forms: the logistic function


def textbook(node: Expr) -> Expr:
    """`node` with the logistic function written as such (see the module docstring); others unchanged."""
    if node.op == "einsum":
        return _sigmoid_factors(node)
    if node.op == "add":
        return _one_minus_factored(node)
    return node


def _one_plus_exp(node: Expr) -> Expr | None:
    """t, where node is 1 + exp(t)."""
    if node.op == "add" and len(node.args) == 2:
        for one, other in (node.args, node.args[::-1]):
            if (one.op == "ones" or E.is_const(one, 1.0)) and other.op == "exp":
                return other.args[0]
    return None


def _power_of_exp(node: Expr, t: Expr) -> float:
    """p where node is exp(t).^p, else 0."""
    if node.op == "exp" and node.args[0] is t:
        return 1.0
    if node.op == "pow" and node.args[0].op == "exp" and node.args[0].args[0] is t:
        return float(node.attrs[0])
    return 0.0


def _sigmoid_factors(node: Expr) -> Expr:
    """exp(t).^p .* (1 + exp(t)).^-q on the same indices = sigmoid(t).^p .* sigmoid(-t).^(q - p), p <= q."""
    factors = list(zip(node.args, node.attrs[0]))
    changed = True
    while changed:
        changed = False
        for k, (factor, labels) in enumerate(factors):
            t = _one_plus_exp(factor.args[0]) if factor.op == "pow" and factor.attrs[0] < 0 else None
            if t is None:
                continue
            q = -float(factor.attrs[0])
            partner = next((j for j, (g, ls) in enumerate(factors) if ls == labels and _power_of_exp(g, t)), None)
            p = _power_of_exp(factors[partner][0], t) if partner is not None else 0.0
            if p > q or p < 0:
                continue
            sigmoid = lookup("sigmoid")
            new = [(E.power(sigmoid(t), p), labels)] if p else []
            if q > p:
                new.append((E.power(sigmoid(E.scale(-1.0, t)), q - p), labels))
            factors = [f for j, f in enumerate(factors) if j not in (k, partner)] + new
            changed = True
            break
    if len(factors) == len(node.args) and all(a is f for a, (f, _) in zip(node.args, factors)):
        return node
    return E.einsum([f for f, _ in factors], [ls for _, ls in factors], node.attrs[1])


def _one_minus_factored(node: Expr) -> Expr:
    """c*s - c*s.^2 = c*s .* (1 - s): the derivative of the logistic function, as textbooks write it."""
    if len(node.args) != 2:
        return node
    (c1, b1), (c2, b2) = (E.split_coefficient(term) for term in node.args)
    for (ca, a), (cb, b) in (((c1, b1), (c2, b2)), ((c2, b2), (c1, b1))):
        if b.op == "pow" and b.attrs[0] == 2.0 and b.args[0] is a and cb == -ca and a.ndim == node.ndim:
            labels = tuple(range(a.ndim))
            one_minus = E.add([E.ones(a.shape) if a.ndim else E.const(1.0), E.scale(-1.0, a)])
            return E.scale(ca, E.einsum([a, one_minus], [labels, labels], labels))
    return node


def _holes(base: Expr):
    """Ways to see a product as key[hole := content]: one factor, or every factor on one label."""
    subs, out = base.attrs
    for position, operand in enumerate(base.args):
        args = base.args[:position] + (E.hole(operand.shape),) + base.args[position + 1 :]
        yield E.einsum(args, subs, out), operand
    dims = {label: dim for node, labels in zip(base.args, subs) for label, dim in zip(labels, node.shape)}
    for label in dims:  # e.g. the vectors c[k] in X'*diag(c)*X, as one element-wise factor
        group = [i for i, labels in enumerate(subs) if set(labels) <= {label}]
        if len(group) < 2 or len(group) == len(subs) or all(not subs[i] for i in group):
            continue
        content = E.einsum([base.args[i] for i in group], [subs[i] for i in group], (label,))
        rest = [i for i in range(len(subs)) if i not in group]
        keyed = [base.args[i] for i in rest] + [E.hole((dims[label],))]
        yield E.einsum(keyed, [subs[i] for i in rest] + [(label,)], out), content


def factor_sum(node: Expr, budget: NodeBudget | None = None) -> Expr:
    """Merge the terms of a sum that are one product with one factor changed."""
    terms = list(node.args)
    views: dict[Expr, list[tuple[Expr, Expr]]] = {}
    merged_any = False
    while True:
        if budget is not None:
            budget.check()
        groups: dict[Expr, list[tuple[int, Expr]]] = defaultdict(list)
        for index, term in enumerate(terms):
            if term not in views:
                coefficient, base = E.split_coefficient(term)
                holes = list(_holes(base)) if base.op == "einsum" else []
                views[term] = [(key, E.scale(coefficient, c) if coefficient != 1.0 else c) for key, c in holes]
            for key, content in views[term]:
                if not groups[key] or groups[key][-1][0] != index:
                    groups[key].append((index, content))
        used: set[int] = set()
        combined: list[Expr] = []
        for key, members in sorted(groups.items(), key=lambda item: -len(item[1])):
            members = [(i, c) for i, c in members if i not in used]
            if len(members) < 2:
                continue
            used.update(i for i, _ in members)
            hole = next(a for a in key.args if a.op == "hole")
            merged = E.add([content for _, content in members])
            combined.append(E.einsum([merged if a is hole else a for a in key.args], *key.attrs))
        if not combined:
            break
        merged_any = True
        terms = [t for i, t in enumerate(terms) if i not in used] + combined
    return E.add(terms) if merged_any else node
