"""Simplification after differentiation.

The canonical constructors already flatten products, eliminate Kronecker deltas, fold constants,
propagate zeros and merge like terms. This pass adds factoring, which derivatives need to stay
cheap: a sum of products that differ in one factor becomes one product,

    A *(s) B1 + A *(s) B2  ->  A *(s) (B1 + B2)        (distributivity)

so the Hessian of a logistic loss is one X' diag(c) X, not three.
"""

from __future__ import annotations

from collections import defaultdict

from . import _expr as E
from ._expr import Expr
from ._limits import NodeBudget


def simplify(expr: Expr) -> Expr:
    """Rebuild bottom-up, factoring every sum. Bounded by md.limits.max_nodes."""
    budget = NodeBudget(E.node_count, "simplifying a derivative")

    def factored(node: Expr) -> Expr:
        budget.check()
        return factor_sum(node, budget) if node.op == "add" else node

    return E.rewrite(expr, then=factored)


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
