"""Shapes: dimensions that an expression forces to be equal, by unification.

Dimensions are names (n_x, m_A, or _d1 for sizes inferred from use) or fixed sizes. Every product,
sum and square-matrix function relates some of them; union-find over those relations gives the
classes that evaluation binds to sizes and that printing and differentiation name consistently.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._errors import ShapeError
from ._expr import Dim, Expr, postorder
from ._registry import REGISTRY, Kind


class DimClasses:
    """Classes of dimensions that the expression forces to be equal."""

    def __init__(self) -> None:
        self.parent: dict[Dim, Dim] = {}

    def find(self, d: Dim) -> Dim:
        root = d
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while d != root:  # path compression
            self.parent[d], d = root, self.parent.get(d, d)
        return root

    def union(self, a: Dim, b: Dim, where: str = "") -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if isinstance(ra, int) and isinstance(rb, int):
            raise ShapeError(f"dimension mismatch{where}: {ra} vs {rb}")
        if isinstance(ra, int) or (not isinstance(rb, int) and _rank(ra) < _rank(rb)):
            ra, rb = rb, ra
        self.parent[ra] = rb  # an int, or the most readable name, becomes the representative

    def canonical(self, shape: Sequence[Dim]) -> tuple[Dim, ...]:
        return tuple(self.find(d) for d in shape)


def _rank(name: Dim) -> tuple:
    text = str(name)
    return (text.startswith("_"), text)


def dim_classes(roots: Sequence[Expr]) -> DimClasses:
    """The dimension classes of a DAG, from every node that relates dimensions."""
    classes = DimClasses()
    for node in postorder(roots):
        if node.op == "einsum":
            by_label: dict[int, Dim] = {}
            for child, labels in zip(node.args, node.attrs[0]):
                for label, dim in zip(labels, child.shape):
                    classes.union(by_label.setdefault(label, dim), dim)
        elif node.op == "add":
            for term in node.args[1:]:
                for a, b in zip(node.args[0].shape, term.shape):
                    classes.union(a, b)
        elif node.op == "delta":
            classes.union(node.shape[0], node.shape[1])
        elif node.op in REGISTRY and REGISTRY[node.op].kind is Kind.MATRIX:  # a function of a square matrix
            classes.union(node.args[0].shape[0], node.args[0].shape[1])
    return classes
