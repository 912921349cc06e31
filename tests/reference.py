"""An independent evaluator, for tests: each node of the DAG computed on its own, products by np.einsum.

matdiff evaluates through a lowered program (`_lower`, `_codegen`): products become matrix products, solves
and broadcasts. This evaluator shares none of that: it walks the DAG and computes every node from its
children with NumPy (a product is one `np.einsum` of its operands, a function is the registry's NumPy value),
so comparing the two checks the lowering and every code-generation backend against a plain reading of
the expression.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from matdiff._errors import MatdiffError
from matdiff._expr import Expr, postorder
from matdiff._registry import lookup
from matdiff._shapes import dim_classes

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _sizes(roots: list[Expr], values: Mapping[str, Any]) -> dict:
    """The size of every dimension class, from the variables' arrays (and arrays named after a size)."""
    classes = dim_classes(roots)
    sizes: dict = {}
    for node in postorder(roots):
        for dim in node.shape:
            root = classes.find(dim)
            if isinstance(root, int):
                sizes[root] = root
    for node in postorder(roots):
        if node.op == "var":
            for dim, n in zip(node.shape, np.shape(values[node.attrs[0]])):
                sizes[classes.find(dim)] = n
        for dim in node.shape:
            if isinstance(dim, str) and dim[:2] in ("m_", "n_") and dim[2:] in values:
                shape = np.shape(values[dim[2:]])
                if shape:
                    sizes.setdefault(classes.find(dim), shape[0] if dim[0] == "m" else shape[-1])
    return {dim: sizes[classes.find(dim)] for node in postorder(roots) for dim in node.shape}


def reference_evaluate(roots: list[Expr], values: Mapping[str, Any]) -> list[np.ndarray]:
    """Every root's value, node by node."""
    done = _evaluate_nodes(roots, values)
    return [np.asarray(done[id(root)]) for root in roots]


def well_conditioned(roots: list[Expr], values: Mapping[str, Any], limit: float = 1e8) -> bool:
    """Whether every matrix that inv, det or logdet is applied to has a condition number below `limit`:
    elsewhere two correct evaluations may differ in every digit."""
    nodes = postorder(roots)
    if not any(node.op in ("inv", "det", "logdet") for node in nodes):
        return True
    done = _evaluate_nodes(roots, values)
    return all(
        np.all(np.isfinite(done[id(node.args[0])])) and np.linalg.cond(done[id(node.args[0])]) < limit
        for node in nodes
        if node.op in ("inv", "det", "logdet")
    )


def _evaluate_nodes(roots: list[Expr], values: Mapping[str, Any]) -> dict[int, np.ndarray]:
    size = _sizes(roots, values)
    done: dict[int, np.ndarray] = {}
    for node in postorder(roots):
        args = [done[id(child)] for child in node.args]
        shape = tuple(size[d] for d in node.shape)
        op = node.op
        if op == "var":
            value = np.asarray(values[node.attrs[0]], dtype=np.float64)
        elif op == "const":
            value = np.asarray(node.attrs[0])
        elif op in ("zeros", "ones"):
            value = np.zeros(shape) if op == "zeros" else np.ones(shape)
        elif op == "delta":
            value = np.eye(shape[0])
        elif op == "row":
            value = args[0]
        elif op == "einsum":
            subs, out = node.attrs
            spec = ",".join("".join(_LETTERS[i] for i in s) for s in subs) + "->" + "".join(_LETTERS[i] for i in out)
            value = np.einsum(spec, *args, optimize=len(args) > 2)
        elif op == "add":
            value = sum(np.broadcast_to(a, shape) for a in args)
        elif op == "pow":
            value = np.power(args[0], node.attrs[0])
        else:
            try:
                value = lookup(op).value(args[0])
            except MatdiffError:  # a singular matrix, a determinant that is not positive
                value = np.full(shape, np.nan)
        done[id(node)] = np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
    return done
