"""Printing: a separate pass from expressions to a small layout tree, then to text or LaTeX.

Products are printed in matrix notation by reading the index structure of each product as a
graph: every matrix is an edge between its two indices, a chain of edges is a matrix product,
a closed chain a trace, and a vector at a label used three times becomes diag(v). Where no
matrix form exists (most 3-D and 4-D results), the whole expression falls back to index
notation, `D[i,j,k] = A[i,k]*x[j]`, with summation over every index not on the left.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass

from . import _expr as E
from ._expr import Expr, dim_owner, is_symmetric, postorder
from ._registry import REGISTRY, is_function

INDEX_NAMES = "ijklpqrstuvwabcdefgh"


class NoMatrixForm(Exception):
    """Raised inside the matrix-notation pass when a product has no matrix form."""


# Layout nodes --------------------------------------------------------------------------------
# ("sym", name) ("num", value) ("call", name, [args]) ("t", x) ("mul", [factors]) ("had", [factors])
# ("div", a, b) ("ediv", a, b) ("pow", base, exponent, elementwise) ("add", [(sign, term)])
# ("idx", x, [names]) ("eq", [names], body)


@dataclass(frozen=True)
class Factor:
    """One factor of a matrix chain: its layout and its orientation."""

    doc: tuple
    kind: str  # "matrix", "col", "row" or "scalar"
    symmetric: bool = False
    alone: tuple | None = None  # for ones, zeros and eye: the form that states its size

    def transposed(self) -> Factor:
        flipped = {"col": "row", "row": "col"}.get(self.kind, self.kind)
        diagonal_matrix = self.kind == "matrix" and self.doc[0] == "call" and self.doc[1] == "diag"
        if self.symmetric or self.kind == "scalar" or diagonal_matrix:
            return Factor(self.doc, flipped, self.symmetric, self.alone)
        alone = None if self.alone is None else ("t", self.alone)
        if self.doc[0] == "t":
            return Factor(self.doc[1], flipped, alone=alone)
        return Factor(("t", self.doc), flipped, alone=alone)


_OWNERS: ContextVar[dict | None] = ContextVar("size_owners", default=None)


def layout(node: Expr) -> tuple:
    """Matrix notation where every product has one, index notation otherwise."""
    token = _OWNERS.set(_local_owners(node))
    try:
        if node.ndim <= 2:
            try:
                return _matrix_layout(node)
            except NoMatrixForm:
                pass
        names = list(INDEX_NAMES[: node.ndim])
        try:
            return ("eq", names, _index_layout(node, names, _Fresh(names)))
        except NoMatrixForm:
            return ("eq", names, _einsum_layout(node, names))
    finally:
        _OWNERS.reset(token)


def _local_owners(root: Expr) -> dict:
    """The variables of the expression itself that own sizes: preferred as witnesses, so the
    printed text does not depend on which variables were created elsewhere."""
    owners = {}
    for node in postorder([root]):
        if node.op == "var":
            name, kind = node.attrs
            for axis, dim in enumerate(node.shape):
                if isinstance(dim, str) and dim.endswith("_" + name):
                    owners.setdefault(dim, (name, kind, axis))
    return owners


def _matrix_layout(root: Expr) -> tuple:
    docs: dict[int, tuple] = {}
    for node in postorder([root]):  # iterative: deep expressions print without recursion
        docs[id(node)] = _matrix_doc(node, [docs[id(c)] for c in node.args])
    return docs[id(root)]


def _size_witness(dim) -> tuple | None:
    """A ones vector of size `dim` written with the variable that owns the size (x.^0), so that
    printed text keeps sizes that nothing else in it fixes."""
    owner = (_OWNERS.get() or {}).get(dim) or dim_owner(dim)
    if owner is None:
        return None
    name, kind, axis = owner
    if kind == "vector":
        base = ("sym", name)
    elif kind == "symmetric":
        base = ("call", "diag", [("sym", name)])
    else:
        pair = [("t", ("sym", name)), ("sym", name)] if axis == 1 else [("sym", name), ("t", ("sym", name))]
        base = ("call", "diag", [("mul", pair)])
    return ("pow", base, 0.0, True)


def _constant_doc(node: Expr, plain: bool = False) -> tuple:
    """ones, zeros and eye. `plain` where the text around fixes their size (a sum, a product with
    other factors); elsewhere written with the variables that own their sizes: x.^0, diag(x.^0)."""
    witnesses = [None if plain else _size_witness(d) for d in node.shape]
    if not all(witnesses):
        if node.op == "delta":
            return ("sym", "eye")
        return ("call", "vector" if node.ndim == 1 else "matrix", [_number(0.0 if node.op == "zeros" else 1.0)])
    if node.op == "delta":
        return ("call", "diag", [witnesses[0]])
    doc = witnesses[0] if node.ndim == 1 else ("mul", [witnesses[0], ("t", witnesses[1])])
    return ("mul", [_number(0.0), doc]) if node.op == "zeros" else doc


def _number(value: float) -> tuple:
    return ("num", value)


def _ones_doc(ndim: int) -> tuple:
    return ("call", "vector" if ndim == 1 else "matrix", [_number(1.0)])


def _matrix_doc(node: Expr, args: list[tuple]) -> tuple:
    op = node.op
    if node.ndim > 2 and op == "ones":
        return ("call", "ones", [])  # only ever a factor of a product, which splits it by axis
    if node.ndim > 2:
        raise NoMatrixForm
    if op == "var":
        return ("sym", node.attrs[0])
    if op == "const":
        return _number(node.attrs[0])
    if op in ("zeros", "ones", "delta"):
        return _constant_doc(node)
    if op == "row":
        inner = node.args[0]
        if inner.op == "einsum":
            return _einsum_doc(inner, [_matrix_layout(c) for c in inner.args], row=True)
        return ("t", args[0])
    if op == "add":
        spread = [_spread_constant(term) for term in node.args]
        docs = [s or _plain(term) or doc for s, term, doc in zip(spread, node.args, args)]
        if all(s is not None or term.op in _CONSTANTS for s, term in zip(spread, node.args)):
            docs[0] = args[0]  # nothing else in the sum fixes its shape: the first term states it
        return ("add", [_signed(term, doc) for term, doc in zip(node.args, docs)])
    if op == "pow":
        return _power_doc(node, args[0])
    if op == "einsum":
        return _einsum_doc(node, args)
    if is_function(op):
        return ("call", op, args)
    raise NoMatrixForm  # pragma: no cover


_CONSTANTS = ("ones", "zeros", "delta")


def _spread_constant(term: Expr) -> tuple | None:
    """c*ones in a sum prints as the scalar c, which the syntax spreads over every entry."""
    if term.op == "ones":
        return _number(1.0)
    if term.op == "einsum":
        subs, out = term.attrs
        spread = [k for k, (a, ls) in enumerate(zip(term.args, subs)) if a.op == "ones" and ls == out]
        if spread and not any(set(ls) & set(out) for k, ls in enumerate(subs) if k != spread[0]):
            rest = [k for k in range(len(subs)) if k != spread[0]]  # the scalar that multiplies the ones
            return _matrix_layout(E.einsum([term.args[k] for k in rest], [subs[k] for k in rest], ()))
    return None


def _negated(doc: tuple) -> tuple | None:
    """For a product with a leading negative number, -c*rest, the product c*rest; else None."""
    factors = _flatten_mul(doc[1])
    if factors[0][0] != "num" or factors[0][1] >= 0:
        return None
    rest = factors[1:] if factors[0][1] == -1.0 else [_number(-factors[0][1])] + factors[1:]
    return rest[0] if len(rest) == 1 else ("mul", rest)


def _signed(term: Expr, doc: tuple) -> tuple[int, tuple]:
    """Split a leading negative number off a term, so sums print a - b, not a + -b."""
    if doc[0] == "num" and doc[1] < 0:
        return -1, _number(-doc[1])
    if doc[0] == "mul" and _negated(doc) is not None:
        return -1, _negated(doc)
    if doc[0] == "div":
        sign, numerator = _signed(term, doc[1])
        return sign, ("div", numerator, doc[2])
    return 1, doc


def _power_doc(node: Expr, base: tuple) -> tuple:
    exponent = node.attrs[0]
    if exponent == 0.5:
        return ("call", "sqrt", [base])
    if exponent < 0 and node.ndim == 0:
        positive = ("pow", base, -exponent, False) if exponent != -1.0 else base
        return ("div", _number(1.0), positive)
    if exponent == -1.0:
        return ("ediv", _number(1.0), base)
    return ("pow", base, exponent, node.ndim > 0)


# Products in matrix notation -----------------------------------------------------------------


def _operand_factor(node: Expr, doc: tuple) -> Factor:
    kind = {0: "scalar", 1: "col", 2: "matrix"}[node.ndim]
    return Factor(doc, kind, is_symmetric(node))


@dataclass(frozen=True)
class _Item:
    """An operand of a product being printed: its layout, shape facts and index labels."""

    doc: tuple
    ndim: int
    symmetric: bool
    labels: tuple[int, ...]
    is_delta: bool = False
    alone: tuple | None = None

    def factor(self) -> Factor:
        return Factor(self.doc, {0: "scalar", 1: "col", 2: "matrix"}[self.ndim], self.symmetric, self.alone)


def _einsum_doc(node: Expr, docs: list[tuple], row: bool = False) -> tuple:
    subs, out = node.attrs
    only_constants = all(c.ndim == 0 or c.op in ("ones", "zeros", "delta") for c in node.args)  # nothing sizes them
    items = []
    for child, labels, doc in zip(node.args, subs, docs):
        if child.op == "ones" and child.ndim >= 2:  # ones[i,j] = ones[i]*ones[j]: each end sized apart
            for label, dim in zip(labels, child.shape):
                plain = _ones_doc(1)
                witness = _size_witness(dim) or plain
                items.append(_Item(witness if only_constants else plain, 1, False, (label,), alone=witness))
            continue
        plain = (_alone(child) if only_constants else _plain(child)) or doc
        items.append(_Item(plain, child.ndim, is_symmetric(child), labels, child.op == "delta", _alone(child)))
    return _product_doc(items, out, row)


def _plain(node: Expr) -> tuple | None:
    return _constant_doc(node, plain=True) if node.op in ("ones", "zeros", "delta") else None


def _alone(node: Expr) -> tuple | None:
    return _constant_doc(node) if node.op in ("ones", "zeros", "delta") else None


def _product_doc(items: list[_Item], out: tuple[int, ...], row: bool = False) -> tuple:
    scalars = [item.doc for item in items if item.ndim == 0]
    operands = [(item.factor(), item.labels) for item in items if item.ndim > 0]
    try:
        return _product(scalars, _chains(operands, out, row) if operands else [])
    except NoMatrixForm:
        doc = _split_doc(items, out)
        return ("t", doc) if row else doc


def _covers(items: list[_Item], labels) -> list[int]:
    return [x for x in labels if any(x in item.labels for item in items)]


def _split_doc(items: list[_Item], out: tuple[int, ...]) -> tuple:
    """Products the chain reading cannot print whole: A .* (rest), diag(v), diag(M), or a block
    of factors printed on its own, as in A*(B.*(C*D'))."""
    for k, item in enumerate(items):
        rest = items[:k] + items[k + 1 :]
        on_output = set(item.labels) == set(out) and len(item.labels) == len(out)
        if out and on_output and len(_covers(rest, out)) == len(out):
            doc = item.doc if item.labels == out else item.factor().transposed().doc
            return ("had", [doc, _product_doc(rest, out)])
        if item.is_delta and len(out) == 2 and set(item.labels) == set(out):  # v[i]*eye[i,j] = diag(v)
            present = _covers(rest, out)
            if len(present) == 1:
                return ("call", "diag", [_product_doc(rest, tuple(present))])
    counts = Counter(x for item in items for x in item.labels) + Counter(out)
    for k, item in enumerate(items):  # M[j,k] summed over k alone is the vector M*vector(1)
        lonely = [x for x in item.labels if counts[x] == 1]
        if item.ndim == 2 and len(lonely) == 1 and item.labels[0] != item.labels[1]:
            kept = item.labels[0] if lonely[0] == item.labels[1] else item.labels[1]
            oriented = item.factor() if kept == item.labels[0] else item.factor().transposed()
            vector = _Item(("mul", [oriented.doc, _ONES_COL.doc]), 1, False, (kept,))
            return _product_doc(items[:k] + [vector] + items[k + 1 :], out)
    parts = _components(items, out)
    if len(parts) > 1 and all(len(_covers(part, out)) == len(out) for part in parts):  # (A*B).*(C*D)
        return ("had", [_product_doc(part, out) for part in parts])
    fresh = 1 + max(x for item in items for x in item.labels + out)
    if len(out) == 1:  # M[i,i] of a product: diag(M)
        holders = [k for k, item in enumerate(items) if out[0] in item.labels]
        if len(holders) >= 2:
            k = holders[-1]
            labels = tuple(fresh if x == out[0] else x for x in items[k].labels)
            renamed = list(items)
            renamed[k] = dataclasses.replace(items[k], labels=labels)
            return ("call", "diag", [_product_doc(renamed, (out[0], fresh))])
    if not out:  # a scalar: sum(M) for M the product kept on two of its labels, where M prints
        counts = Counter(x for item in items for x in item.labels)
        for item in items:
            if len(set(item.labels)) == 2 and max(counts[x] for x in item.labels) > 2:
                try:
                    return ("call", "sum", [_product_doc(items, item.labels)])
                except NoMatrixForm:
                    continue
    block = _block(items, out)
    if block is not None:
        inside, labels = block
        rest = [item for k, item in enumerate(items) if k not in inside]
        part = _Item(_product_doc([items[k] for k in inside], labels), len(labels), False, labels)
        return _product_doc(rest + [part], out)
    raise NoMatrixForm


def _components(items: list[_Item], out: tuple[int, ...]) -> list[list[_Item]]:
    """Groups of factors joined by summed labels (output labels do not join)."""
    groups: list[tuple[set, list[_Item]]] = []
    for item in items:
        summed = set(item.labels) - set(out)
        joined = [g for g in groups if g[0] & summed]
        merged = (summed.union(*(g[0] for g in joined)), [it for g in joined for it in g[1]] + [item])
        groups = [g for g in groups if not any(g is j for j in joined)] + [merged]
    scalars = [g for g in groups if not any(it.labels for it in g[1])]
    rest = [g[1] for g in groups if any(it.labels for it in g[1])]
    if rest and scalars:
        rest[0] = [it for g in scalars for it in g[1]] + rest[0]
    return rest


def _block(items: list[_Item], out: tuple[int, ...]) -> tuple[list[int], tuple[int, ...]] | None:
    """Factors on two crowded labels (and labels used only among them) form a sub-product."""
    counts = Counter(x for item in items for x in item.labels) + Counter(out)
    crowded = [x for x, c in counts.items() if c > 2]
    for p in crowded:
        for q in [p] + [x for x in counts if x != p]:  # q == p: a block on one label, a vector
            inside = {k for k, item in enumerate(items) if {p, q} & set(item.labels) and (p == q or item.ndim > 1)}
            grown = True
            while grown:  # take in the factors joined to the block by its summed labels
                summed = {x for k in inside for x in items[k].labels} - {p, q} - set(out)
                joined = {k for k, item in enumerate(items) if summed & set(item.labels)}
                grown = not joined <= inside
                inside |= joined
            while True:  # drop factors that carry a label used outside the block
                outside = set(out) | {x for k, item in enumerate(items) if k not in inside for x in item.labels}
                leaving = {k for k in inside if (set(items[k].labels) - {p, q}) & outside}
                if not leaving:
                    break
                inside -= leaving
            if not 2 <= len(inside) < len(items):
                continue
            order = [x for k, item in enumerate(items) if k not in inside for x in item.labels] + list(out)
            used = {x for k in inside for x in items[k].labels}
            ends = sorted(used & set(order), key=order.index)  # the block's labels seen from outside
            if 1 <= len(ends) <= 2 and set(ends) <= {p, q}:
                return sorted(inside), tuple(ends)
    return None


def _product(scalars: list[tuple], chains: list[tuple]) -> tuple:
    numerators = [d for d in scalars if d[0] != "div"]
    denominators = [d[2] for d in scalars if d[0] == "div" and d[1] == ("num", 1.0)]
    numerators += [d for d in scalars if d[0] == "div" and d[1] != ("num", 1.0)]
    factors = numerators + chains
    if not factors:
        factors = [_number(1.0)]
    body = factors[0] if len(factors) == 1 else ("mul", factors)
    if denominators:
        den = denominators[0] if len(denominators) == 1 else ("mul", denominators)
        return ("div", body, den)
    return body


def _chains(operands: list[tuple[Factor, tuple[int, ...]]], out: tuple[int, ...], row: bool) -> list[tuple]:
    """Matrix-notation factors of a product, read off its index graph."""
    counts = Counter(label for _, ls in operands for label in ls) + Counter(out)
    scalar_factors: list[tuple] = []
    kept = []
    for factor, labels in operands:  # A[i,i]: a trace if i is used nowhere else, else diag(A)
        if len(labels) == 2 and labels[0] == labels[1]:
            if counts[labels[0]] == 2:
                scalar_factors.append(("call", "tr", [factor.doc]))
                continue
            factor, labels = Factor(("call", "diag", [factor.doc]), "col"), (labels[0],)
        kept.append((factor, labels))
    operands = _diagonals(_merge_hadamard(kept, out), out)
    counts = Counter(label for _, ls in operands for label in ls) + Counter(out)
    if any(c > 2 for c in counts.values()):
        raise NoMatrixForm
    unused = list(range(len(operands)))

    def walk(label: int, chain: list[Factor], stop: int | None = None) -> tuple[list[Factor], int | None]:
        """Extend a chain from `label` to an output label, a vector, a ones end or `stop`."""
        while True:
            if label == stop:
                return chain, None
            nxt = next((i for i in unused if label in operands[i][1]), None)
            if nxt is None:
                if label in out:
                    return chain, label
                chain.append(_ONES_COL)  # a label summed in one place only: a ones vector
                return chain, None
            unused.remove(nxt)
            factor, labels = operands[nxt]
            if len(labels) == 1:
                chain.append(factor)
                return chain, None
            chain.append(factor if labels[0] == label else factor.transposed())
            label = labels[1] if labels[0] == label else labels[0]
            if label in out:
                return chain, label

    result: list[Factor] | None = None
    if out:
        first, end = _sized(walk(out[0], []))
        if len(out) == 2 and end != out[1]:
            second, _ = _sized(walk(out[1], []))
            first = first + [f.transposed() for f in reversed(second)]  # an outer product u*v'
        result = first
    while unused:  # closed chains give scalars: a'*M*b, sum(M*b), tr(A*B)
        vectors = [i for i in unused if len(operands[i][1]) == 1]
        ends = [i for i in unused if any(counts[x] == 1 for x in operands[i][1])]
        start = (vectors or ends or unused)[0]
        unused.remove(start)
        factor, labels = operands[start]
        if len(labels) == 1:
            chain, _ = walk(labels[0], [factor.transposed()])
        elif start in ends:
            begin = labels[0] if counts[labels[0]] == 1 else labels[1]
            oriented = factor if labels[0] == begin else factor.transposed()
            chain, _ = walk(labels[1] if labels[0] == begin else labels[0], [_ONES_COL.transposed(), oriented])
        else:
            chain, _ = walk(labels[1], [factor], stop=labels[0])
            flipped = [f.transposed() for f in reversed(chain)]
            readings = [c[k:] + c[:k] for c in (chain, flipped) for k in range(len(c))]  # tr is cyclic
            scalar_factors.append(("call", "tr", [_render_chain(_best_reading(readings))]))
            continue
        flipped = [f.transposed() for f in reversed(chain)]
        scalar_factors.append(_closed_chain(_best_reading([chain, flipped])))
    docs = scalar_factors
    if result is not None:
        if row:
            result = [f.transposed() for f in reversed(result)]
        docs = docs + [_render_chain(result)]
    if len(docs) > 1:  # a scalar a'*b among other factors reads as (a'*b)
        docs = [("group", d) if d[0] == "mul" else d for d in docs]
    return docs


def _transposes(chain: list[Factor]) -> int:
    return sum(f.doc[0] == "t" and f.kind != "row" for f in chain)


def _best_reading(chains: list[list[Factor]]) -> list[Factor]:
    """Of equivalent readings of a closed chain, the one with the fewest transposes."""
    return min(chains, key=lambda c: (_transposes(c), render_text(_render_chain(c))))


def _sized(walked: tuple[list[Factor], int | None]) -> tuple[list[Factor], int | None]:
    """A path that is one constant (2*sum(x)*vector(1), vector(1)*s') has nothing else to fix its
    size: print the constant in the form that states it."""
    chain, end = walked
    if len(chain) == 1 and chain[0].alone:
        chain = [Factor(chain[0].alone, chain[0].kind)]
    return chain, end


_ONES_COL = Factor(("call", "vector", [("num", 1.0)]), "col")


def _is_ones(factor: Factor, kind: str | None = None) -> bool:
    """A plain ones vector (vector(1), or its transpose when a row)."""
    plain = factor.doc == _ONES_COL.doc or factor.doc == ("t", _ONES_COL.doc)
    return plain and (kind is None or factor.kind == kind)


def _closed_chain(chain: list[Factor]) -> tuple:
    """A scalar chain row*...*col, with a ones vector at an end read as sum(...)."""
    if all(f.alone or _is_ones(f) for f in chain):  # sum(vector(1))
        chain = [Factor(f.alone, f.kind) if f.alone else f for f in chain]
    if _is_ones(chain[-1], "col") and not _is_ones(chain[0], "row"):
        chain = [f.transposed() for f in reversed(chain)]
    if _is_ones(chain[0], "row"):
        rest = chain[1:]
        if len(rest) > 1 and _is_ones(rest[-1], "col"):
            rest = rest[:-1]
        return ("call", "sum", [_render_chain(rest)])
    return _render_chain(chain)


def _render_chain(chain: list[Factor]) -> tuple:
    docs = [f.doc for f in chain]
    return docs[0] if len(docs) == 1 else ("mul", docs)


def _merge_hadamard(operands: list[tuple[Factor, tuple]], out: tuple) -> list[tuple[Factor, tuple]]:
    """Operands on one set of labels, each used three or more times, multiply element-wise."""
    counts = Counter(label for _, ls in operands for label in ls) + Counter(out)
    merged: list[tuple[Factor, tuple]] = []
    for factor, labels in operands:
        for k, (other, other_labels) in enumerate(merged):
            if set(other_labels) == set(labels) and len(set(labels)) == len(labels) and _shared_more(labels, counts):
                aligned = factor if labels == other_labels else factor.transposed()
                merged[k] = (
                    Factor(("had", _flatten_had(other.doc) + _flatten_had(aligned.doc)), other.kind),
                    other_labels,
                )
                counts.subtract(labels)
                break
        else:
            merged.append((factor, labels))
    return merged


def _shared_more(labels: tuple, counts: Counter) -> bool:
    """Two factors on the same labels multiply element-wise unless that is a plain contraction:
    x'*y (one label, used only by the two) stays an inner product, tr(A'*B) a trace."""
    return all(counts[x] > 2 for x in labels) if len(labels) == 1 else any(counts[x] > 2 for x in labels)


def _flatten_had(doc: tuple) -> list[tuple]:
    return list(doc[1]) if doc[0] == "had" else [doc]


def _diagonals(operands: list[tuple[Factor, tuple]], out: tuple) -> list[tuple[Factor, tuple]]:
    """A vector at a label used three times is diag(v) between two copies of that label."""
    operands = list(operands)
    out_list = list(out)
    fresh = max([x for _, ls in operands for x in ls] + list(out), default=0) + 1
    while True:
        counts = Counter(label for _, ls in operands for label in ls) + Counter(out_list)
        crowded = [x for x, c in counts.items() if c > 2]
        if not crowded:
            return operands
        label = crowded[0]
        vector = next((i for i, (f, ls) in enumerate(operands) if ls == (label,)), None)
        if vector is None:
            raise NoMatrixForm
        factor, _ = operands[vector]
        target = next((i for i, (f, ls) in enumerate(operands) if i != vector and label in ls), None)
        if target is not None and operands[target][0].doc == ("sym", "eye"):  # v[i]*eye[i,j] = diag(v)
            operands[target] = (Factor(("call", "diag", [factor.doc]), "matrix"), operands[target][1])
            del operands[vector]
            continue
        operands[vector] = (Factor(("call", "diag", [factor.doc]), "matrix"), (label, fresh))
        if target is None:
            raise NoMatrixForm
        f, ls = operands[target]
        position = ls.index(label)
        operands[target] = (f, ls[:position] + (fresh,) + ls[position + 1 :])
        fresh += 1


# Index notation ------------------------------------------------------------------------------


class _Fresh:
    def __init__(self, taken: list[str]) -> None:
        self.taken = set(taken)

    def __call__(self) -> str:
        for name in INDEX_NAMES:
            if name not in self.taken:
                self.taken.add(name)
                return name
        name = f"i{len(self.taken)}"
        self.taken.add(name)
        return name


def _index_layout(node: Expr, names: list[str], fresh: _Fresh) -> tuple:
    if node.ndim <= 2 and node.op not in ("einsum", "add", "delta", "ones", "zeros"):
        try:
            doc = _matrix_layout(node)
            return ("idx", doc, names) if names else doc
        except NoMatrixForm:
            pass
    if node.op == "einsum":
        subs, out = node.attrs
        label_names = dict(zip(out, names))
        factors = []
        for child, labels in zip(node.args, subs):
            for label in labels:
                if label not in label_names:
                    label_names[label] = fresh()
            factors.append(_index_layout(child, [label_names[x] for x in labels], fresh))
        return factors[0] if len(factors) == 1 else ("mul", factors)
    if node.op == "add":
        return ("add", [_signed(term, _index_layout(term, names, fresh)) for term in node.args])
    if node.op == "zeros":
        return _number(0.0)
    if node.op == "delta":
        return ("idx", ("sym", "eye"), names)
    if node.op == "pow":
        return ("pow", _index_layout(node.args[0], names, fresh), node.attrs[0], False)
    if is_function(node.op) and REGISTRY[node.op].kind.value == "element-wise":
        return ("call", node.op, [_index_layout(node.args[0], names, fresh)])
    if node.op == "row":
        return _index_layout(node.args[0], names, fresh)
    if node.op == "ones":  # indexed, so that a sum over its labels counts: ones[j,k] summed is m*n
        return ("idx", _ones_doc(node.ndim), names)
    raise NoMatrixForm  # pragma: no cover


def _einsum_layout(node: Expr, names: list[str]) -> tuple:
    """The last resort, never failing: einsum("ij,jk->ik", A, B) for products, nested calls."""
    docs: dict[int, tuple] = {}
    for n in postorder([node]):
        args = [docs[id(c)] for c in n.args]
        try:
            docs[id(n)] = _matrix_doc(n, args) if n.ndim <= 2 and n.op != "einsum" else None
        except NoMatrixForm:
            docs[id(n)] = None
        if docs[id(n)] is None:
            if n.op == "einsum":
                subs, out = n.attrs
                letters = ["".join(INDEX_NAMES[x % 20] for x in s) for s in subs]
                spec = ",".join(letters) + "->" + "".join(INDEX_NAMES[x % 20] for x in out)
                docs[id(n)] = ("call", "einsum", [("sym", f'"{spec}"')] + args)
            elif n.op == "add":
                docs[id(n)] = ("add", [(1, a) for a in args])
            else:
                docs[id(n)] = ("call", n.op, args)
    return ("idx", docs[id(node)], names) if names else docs[id(node)]


# Text ----------------------------------------------------------------------------------------

_PREC = {"add": 1, "mul": 2, "had": 2, "div": 2, "ediv": 2, "neg": 3, "pow": 4, "t": 5}


def to_text(node: Expr) -> str:
    """The text syntax of an expression (index notation where no matrix form exists)."""
    return render_text(layout(node))


def _format_number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def render_text(doc: tuple) -> str:
    text, _ = _text(doc)
    return text


def _text(doc: tuple) -> tuple[str, int]:
    kind = doc[0]
    if kind == "sym":
        return doc[1], 9
    if kind == "num":
        text = _format_number(doc[1])
        return text, 9 if doc[1] >= 0 else 3
    if kind == "call":
        return f"{doc[1]}({', '.join(_text(a)[0] for a in doc[2])})", 9
    if kind == "t":
        return _wrap(doc[1], 5) + "'", 5
    if kind == "mul":
        if _negated(doc) is not None:
            return "-" + _wrap(_negated(doc), 2), 2
        factors = _flatten_mul(doc[1])
        return "*".join(_wrap(f, 2, strict=i > 0 or f[0] == "had") for i, f in enumerate(factors)), 2
    if kind == "had":
        return ".*".join(_wrap(f, 2, strict=i > 0 or f[0] != "had") for i, f in enumerate(doc[1])), 2
    if kind in ("div", "ediv"):
        sep = "/" if kind == "div" else "./"
        return f"{_wrap(doc[1], 2)}{sep}{_wrap(doc[2], 2, strict=True)}", 2
    if kind == "pow":
        op = ".^" if doc[3] else "^"
        return f"{_wrap(doc[1], 5)}{op}{_format_number(doc[2])}" if doc[
            2
        ] >= 0 else f"{_wrap(doc[1], 5)}{op}({_format_number(doc[2])})", 4
    if kind == "add":
        return _join_sum(doc[1], _wrap), 1
    if kind == "idx":
        return f"{_wrap(doc[1], 9)}[{','.join(doc[2])}]", 9
    if kind == "group":
        return f"({_text(doc[1])[0]})", 9
    if kind == "eq":
        return f"D[{','.join(doc[1])}] = {_text(doc[2])[0]}" if doc[1] else _text(doc[2])[0], 0
    raise AssertionError(kind)  # pragma: no cover


def _join_sum(terms: list[tuple[int, tuple]], wrap) -> str:
    """a + b - c, with `wrap` the renderer's own bracketing."""
    pieces = []
    for k, (sign, term) in enumerate(terms):
        text = wrap(term, 1, strict=sign < 0)
        pieces.append(("-" if sign < 0 else "") + text if k == 0 else (" - " if sign < 0 else " + ") + text)
    return "".join(pieces)


def _flatten_mul(factors: list[tuple]) -> list[tuple]:
    flat: list[tuple] = []
    for f in factors:
        flat.extend(_flatten_mul(f[1]) if f[0] == "mul" else [f])
    return flat


def _wrap(doc: tuple, prec: int, strict: bool = False) -> str:
    text, own = _text(doc)
    if own < prec or (strict and own == prec):
        return f"({text})"
    return text


# LaTeX ---------------------------------------------------------------------------------------

_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda",
    "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega",
}  # fmt: skip


def to_latex(node: Expr) -> str:
    """LaTeX for an expression, in matrix notation or in index notation."""
    return _latex(layout(node))[0]


def _latex_name(name: str) -> str:
    if len(name) == 2 and name[0] == "d" and name[1].isalpha():  # a differential: dX, spaced from what follows
        return rf"\mathrm{{d}}{name[1]}\,"
    stem = name.rstrip("0123456789")
    digits = name[len(stem) :]
    if "_" in stem:
        stem, _, sub = stem.partition("_")
        digits = sub + digits
    stem = "\\" + stem if stem in _GREEK else (stem if len(stem) == 1 else rf"\mathit{{{stem}}}")
    return f"{stem}_{{{digits}}}" if digits else stem


def _latex(doc: tuple) -> tuple[str, int]:
    kind = doc[0]
    if kind == "sym":
        return ("I" if doc[1] == "eye" else _latex_name(doc[1])), 9
    if kind == "num":
        return _format_number(doc[1]), 9 if doc[1] >= 0 else 3
    if kind == "call":
        name, args = doc[1], doc[2]
        inner = ", ".join(_latex(a)[0] for a in args)
        if name in ("vector", "matrix"):
            return (r"\mathbf{0}" if args[0] == ("num", 0.0) else r"\mathbf{1}"), 9
        if name == "inv":
            return f"{_lwrap(args[0], 9)}^{{-1}}", 5
        if name == "norm2":
            return rf"\left\|{inner}\right\|_2", 9
        if name == "abs":
            return rf"\left|{inner}\right|", 9
        if name == "sqrt":
            return rf"\sqrt{{{inner}}}", 9
        spelling = REGISTRY[name].latex if name in REGISTRY else name
        if "{}" in spelling:
            return spelling.format(inner), 9
        return rf"{spelling}\left({inner}\right)", 9
    if kind == "t":
        return f"{_lwrap(doc[1], 6)}^{{\\top}}", 5
    if kind == "mul":
        if _negated(doc) is not None:
            return "-" + _lwrap(_negated(doc), 2), 2
        factors = _flatten_mul(doc[1])
        return r" ".join(_lwrap(f, 2, strict=i > 0 and f[0] == "num") for i, f in enumerate(factors)), 2
    if kind == "had":
        return r" \odot ".join(_lwrap(f, 2) for f in doc[1]), 2
    if kind == "div":
        return rf"\frac{{{_latex(doc[1])[0]}}}{{{_latex(doc[2])[0]}}}", 9
    if kind == "ediv":
        return rf"{_lwrap(doc[1], 2)} \oslash {_lwrap(doc[2], 2, strict=True)}", 2
    if kind == "pow":
        power = f"{_lwrap(doc[1], 6)}^{{{_format_number(doc[2])}}}"
        return (power if not doc[3] else f"{_lwrap(doc[1], 6)}^{{\\circ {_format_number(doc[2])}}}"), 4
    if kind == "add":
        return _join_sum(doc[1], _lwrap), 1
    if kind == "idx":
        return f"{_lwrap(doc[1], 9)}_{{{''.join(doc[2])}}}", 9
    if kind == "group":
        return rf"\left({_latex(doc[1])[0]}\right)", 9
    if kind == "eq":
        body = _latex(doc[2])[0]
        return (f"D_{{{''.join(doc[1])}}} = {body}" if doc[1] else body), 0
    raise AssertionError(kind)  # pragma: no cover


def _lwrap(doc: tuple, prec: int, strict: bool = False) -> str:
    text, own = _latex(doc)
    if own < prec or (strict and own == prec):
        return rf"\left({text}\right)"
    return text
