"""The matrix-notation pass: an expression of at most two axes as a layout tree, or NoMatrixForm.

Products are read off their index structure as a graph: every matrix is an edge between its two
indices, a chain of edges is a matrix product, a closed chain a trace (or, through a vector, a
scalar a'*M*b), and a vector at a label used three times becomes diag(v). Products the chain reading
cannot print whole are split: an element-wise factor, diag of a product, a block printed on its own.
ones, zeros and eye print as vector(1), matrix(1) and eye, as a textbook writes 1 and I: their sizes are
stated beside the result (the front ends show the shape). Where nothing else in the printed text fixes such
a size, the text alone does not evaluate: it names the constant, not its size.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import _expr as E
from .._expr import Expr, is_symmetric, postorder
from .._registry import lookup
from .doc import (
    Call,
    Divide,
    Doc,
    ElementwiseDivide,
    Group,
    Hadamard,
    Number,
    Power,
    Product,
    Sum,
    Symbol,
    Transpose,
    product_of,
    signed,
)
from .render import render_text


class NoMatrixForm(Exception):
    """Raised inside the matrix-notation pass when a product has no matrix form."""


_CONSTANTS = ("ones", "zeros", "delta")
_KINDS = {0: "scalar", 1: "col", 2: "matrix"}

@dataclass(frozen=True)
class Factor:
    """One factor of a matrix chain: its layout and its orientation."""

    doc: Doc
    kind: str  # "matrix", "col", "row" or "scalar"
    symmetric: bool = False
    alone: Doc | None = None  # for ones, zeros and eye: the form that states its size

    def transposed(self) -> Factor:
        flipped = {"col": "row", "row": "col"}.get(self.kind, self.kind)
        diagonal_matrix = self.kind == "matrix" and isinstance(self.doc, Call) and self.doc.name == "diag"
        if self.symmetric or self.kind == "scalar" or diagonal_matrix:
            return Factor(self.doc, flipped, self.symmetric, self.alone)
        alone = None if self.alone is None else Transpose(self.alone)
        if isinstance(self.doc, Transpose):
            return Factor(self.doc.body, flipped, alone=alone)
        return Factor(Transpose(self.doc), flipped, alone=alone)


_ONES_COL = Factor(Call("vector", (Number(1.0),)), "col")


# Expressions, node by node ----------------------------------------------------------------------


def matrix_layout(root: Expr) -> Doc:
    """`root` in matrix notation; raises NoMatrixForm where some part has none."""
    docs: dict[int, Doc] = {}
    for node in postorder([root]):  # iterative: deep expressions print without recursion
        docs[id(node)] = matrix_doc(node, [docs[id(c)] for c in node.args])
    return docs[id(root)]


def matrix_doc(node: Expr, args: list[Doc]) -> Doc:
    """One node in matrix notation, given its arguments' layouts; raises NoMatrixForm where it has none,
    and UnknownOperation for an operation that is neither structural nor registered."""
    if node.ndim > 2 and node.op == "ones":
        return Call("ones")  # only ever a factor of a product, which splits it by axis
    if node.ndim > 2 or node.op == "hole":  # a hole (a placeholder in simplification) has no matrix form
        raise NoMatrixForm
    structural = _STRUCTURAL_DOCS.get(node.op)
    if structural is not None:
        return structural(node, args)
    lookup(node.op)  # every other operation is a registered function: UnknownOperation if not
    return Call(node.op, tuple(args))


def _variable_doc(node: Expr, args: list[Doc]) -> Doc:
    return Symbol(node.attrs[0])


def _const_doc(node: Expr, args: list[Doc]) -> Doc:
    return Number(node.attrs[0])


def _row_doc(node: Expr, args: list[Doc]) -> Doc:
    inner = node.args[0]
    if inner.op == "einsum":  # the product read as a row, so v'*A rather than (A'*v)'
        return _einsum_doc(inner, [matrix_layout(c) for c in inner.args], row=True)
    return Transpose(args[0])


def _sum_doc(node: Expr, args: list[Doc]) -> Doc:
    spread = [_spread_constant(term) for term in node.args]
    docs = [s or _plain(term) or doc for s, term, doc in zip(spread, node.args, args)]
    if all(s is not None or term.op in _CONSTANTS for s, term in zip(spread, node.args)):
        docs[0] = args[0]  # nothing else in the sum fixes its shape: the first term states it
    return Sum(tuple(signed(doc) for doc in docs))


def _power_doc(node: Expr, args: list[Doc]) -> Doc:
    base, exponent = args[0], node.attrs[0]
    if exponent == 0.5:
        return Call("sqrt", (base,))
    if exponent < 0 and node.ndim == 0:
        positive = Power(base, -exponent, False) if exponent != -1.0 else base
        return Divide(Number(1.0), positive)
    if exponent == -1.0:
        return ElementwiseDivide(Number(1.0), base)
    return Power(base, exponent, node.ndim > 0)


def _constant_doc(node: Expr, args: Sequence[Doc] = ()) -> Doc:  # no args: a leaf
    """ones, zeros and eye: vector(1), matrix(1), vector(0), matrix(0) and eye."""
    if node.op == "delta":
        return Symbol("eye")
    return _filled(node.ndim, 0.0 if node.op == "zeros" else 1.0)


def _filled(ndim: int, value: float) -> Doc:
    """vector(c) or matrix(c): a constant whose size the text around it fixes, or the result states."""
    return Call("vector" if ndim == 1 else "matrix", (Number(value),))


def _plain(node: Expr) -> Doc | None:
    return _constant_doc(node) if node.op in _CONSTANTS else None


def _spread_constant(term: Expr) -> Doc | None:
    """c*ones in a sum prints as the scalar c, which the syntax spreads over every entry."""
    if term.op == "ones":
        return Number(1.0)
    if term.op == "einsum":
        subs, out = term.attrs
        spread = [k for k, (a, ls) in enumerate(zip(term.args, subs)) if a.op == "ones" and ls == out]
        if spread and not any(set(ls) & set(out) for k, ls in enumerate(subs) if k != spread[0]):
            rest = [k for k in range(len(subs)) if k != spread[0]]  # the scalar that multiplies the ones
            return matrix_layout(E.einsum([term.args[k] for k in rest], [subs[k] for k in rest], ()))
    return None


# Products ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """An operand of a product being printed: its layout, shape facts and index labels."""

    doc: Doc
    ndim: int
    symmetric: bool
    labels: tuple[int, ...]
    is_delta: bool = False
    alone: Doc | None = None

    def factor(self) -> Factor:
        return Factor(self.doc, _KINDS[self.ndim], self.symmetric, self.alone)


def _einsum_doc(node: Expr, docs: list[Doc], row: bool = False) -> Doc:
    subs, out = node.attrs
    items = []
    for child, labels, doc in zip(node.args, subs, docs):
        if child.op == "ones" and child.ndim >= 2:  # ones[i,j] = ones[i]*ones[j]: each end apart
            for label in labels:
                items.append(_Item(_filled(1, 1.0), 1, False, (label,), alone=_filled(1, 1.0)))
            continue
        plain = _plain(child) or doc
        items.append(_Item(plain, child.ndim, is_symmetric(child), labels, child.op == "delta", _plain(child)))
    return _product_doc(items, out, row)


# The structural operations with a matrix form, each from the node and its arguments' layouts.
_STRUCTURAL_DOCS: dict[str, Callable[[Expr, list[Doc]], Doc]] = {
    "var": _variable_doc,
    "const": _const_doc,
    "zeros": _constant_doc,
    "ones": _constant_doc,
    "delta": _constant_doc,
    "row": _row_doc,
    "add": _sum_doc,
    "pow": _power_doc,
    "einsum": _einsum_doc,
}


def _product_doc(items: list[_Item], out: tuple[int, ...], row: bool = False) -> Doc:
    if len(out) == 1 and len(items) > 2:  # v[i]*(M*u)[i]: v.*(M*u), as textbooks write it, not diag(v)*M*u
        for k, item in enumerate(items):
            rest = [other for other in items[:k] + items[k + 1 :] if other.ndim > 0]
            if item.ndim == 1 and item.labels == out and not item.is_delta and _covers(rest, out):
                scalars = [other.doc for other in items if other.ndim == 0]
                doc = _product(scalars, [Hadamard((item.doc, _product_doc(rest, out)))])
                return Transpose(doc) if row else doc
    scalars = [item.doc for item in items if item.ndim == 0]
    operands = [(item.factor(), item.labels) for item in items if item.ndim > 0]
    try:
        return _product(scalars, _chains(operands, out, row) if operands else [])
    except NoMatrixForm:
        doc = _split_doc(items, out)
        return Transpose(doc) if row else doc


def _product(scalars: list[Doc], chains: list[Doc]) -> Doc:
    """Scalars, then chains; scalar reciprocals 1/d gather into one denominator."""
    numerators: list[Doc] = [d for d in scalars if not isinstance(d, Divide)]
    numerators += [d for d in scalars if isinstance(d, Divide) and d.numerator != Number(1.0)]
    denominators = [d.denominator for d in scalars if isinstance(d, Divide) and d.numerator == Number(1.0)]
    body = product_of(numerators + chains or [Number(1.0)])
    return Divide(body, product_of(denominators)) if denominators else body


# Products the chain reading cannot print whole ----------------------------------------------------


def _covers(items: list[_Item], labels: Sequence[int]) -> list[int]:
    return [x for x in labels if any(x in item.labels for item in items)]


def _split_doc(items: list[_Item], out: tuple[int, ...]) -> Doc:
    """Products the chain reading cannot print whole: A .* (rest), diag(v), diag(M), or a block
    of factors printed on its own, as in A*(B.*(C*D')). The first way that applies is taken."""
    for split in _SPLITS:
        doc = split(items, out)
        if doc is not None:
            return doc
    raise NoMatrixForm


def _on_output(items: list[_Item], out: tuple[int, ...]) -> Doc | None:
    """A factor on the output labels multiplies the rest element-wise, A .* (rest); eye on them
    makes a vector a diagonal matrix, v[i]*eye[i,j] = diag(v)."""
    for k, item in enumerate(items):
        rest = items[:k] + items[k + 1 :]
        on_output = set(item.labels) == set(out) and len(item.labels) == len(out)
        if out and on_output and len(_covers(rest, out)) == len(out):
            doc = item.doc if item.labels == out else item.factor().transposed().doc
            return Hadamard((doc, _product_doc(rest, out)))
        if item.is_delta and len(out) == 2 and set(item.labels) == set(out):
            present = _covers(rest, out)
            if len(present) == 1:
                return Call("diag", (_product_doc(rest, tuple(present)),))
    return None


def _summed_matrix(items: list[_Item], out: tuple[int, ...]) -> Doc | None:
    """M[j,k] summed over k alone is the vector M*vector(1)."""
    counts = Counter(x for item in items for x in item.labels) + Counter(out)
    for k, item in enumerate(items):
        lonely = [x for x in item.labels if counts[x] == 1]
        if item.ndim == 2 and len(lonely) == 1 and item.labels[0] != item.labels[1]:
            kept = item.labels[0] if lonely[0] == item.labels[1] else item.labels[1]
            oriented = item.factor() if kept == item.labels[0] else item.factor().transposed()
            vector = _Item(Product((oriented.doc, _ONES_COL.doc)), 1, False, (kept,))
            return _product_doc(items[:k] + [vector] + items[k + 1 :], out)
    return None


def _independent_parts(items: list[_Item], out: tuple[int, ...]) -> Doc | None:
    """Parts joined only by output labels, each on all of them, multiply element-wise: (A*B).*(C*D)."""
    parts = _components(items, out)
    if len(parts) > 1 and all(len(_covers(part, out)) == len(out) for part in parts):
        return Hadamard(tuple(_product_doc(part, out) for part in parts))
    return None


def _row_sums(items: list[_Item], out: tuple[int, ...]) -> Doc | None:
    """E[i,j] .* (rest)[i,j] summed over j: (E.*(rest))*vector(1), the sum over a batch's columns (the gradient
    by a bias b in W*X + b*vector(1)'), rather than diag(E*(rest)'). Only where the rest is itself a product,
    so that diag(A*B) stays as it is."""
    if len(out) != 1 or len(items) < 3:
        return None
    counts = Counter(x for item in items for x in item.labels)
    for item in items:
        others = [x for x in item.labels if x != out[0]]
        if item.ndim != 2 or len(set(item.labels)) != 2 or out[0] not in item.labels or counts[others[0]] < 2:
            continue
        try:
            summed = _product_doc(items, (out[0], others[0]))
        except NoMatrixForm:
            continue
        return Product((summed, _ONES_COL.doc))
    return None


def _diagonal_of_product(items: list[_Item], out: tuple[int, ...]) -> Doc | None:
    """M[i,i] of a product M: diag(M), with the last holder of i given a label of its own."""
    holders = [k for k, item in enumerate(items) if len(out) == 1 and out[0] in item.labels]
    if len(holders) < 2:
        return None
    fresh = 1 + max(x for item in items for x in item.labels + out)
    k = holders[-1]
    renamed = list(items)
    renamed[k] = dataclasses.replace(items[k], labels=tuple(fresh if x == out[0] else x for x in items[k].labels))
    return Call("diag", (_product_doc(renamed, (out[0], fresh)),))


def _sum_of_product(items: list[_Item], out: tuple[int, ...]) -> Doc | None:
    """A scalar: sum(M) for M the product kept on two of its labels, where M prints."""
    if out:
        return None
    counts = Counter(x for item in items for x in item.labels)
    for item in items:
        if len(set(item.labels)) == 2 and max(counts[x] for x in item.labels) > 2:
            try:
                return Call("sum", (_product_doc(items, item.labels),))
            except NoMatrixForm:
                continue
    return None


def _block_product(items: list[_Item], out: tuple[int, ...]) -> Doc | None:
    """A block of factors (see `_block`) printed as one factor of the rest."""
    block = _block(items, out)
    if block is None:
        return None
    inside, labels = block
    rest = [item for k, item in enumerate(items) if k not in inside]
    part = _Item(_product_doc([items[k] for k in inside], labels), len(labels), False, labels)
    return _product_doc(rest + [part], out)


_SPLITS: tuple[Callable[[list[_Item], tuple[int, ...]], Doc | None], ...] = (
    _on_output,
    _summed_matrix,
    _independent_parts,
    _row_sums,
    _diagonal_of_product,
    _sum_of_product,
    _block_product,
)


def _components(items: list[_Item], out: tuple[int, ...]) -> list[list[_Item]]:
    """Groups of factors joined by summed labels (output labels do not join)."""
    groups: list[tuple[set[int], list[_Item]]] = []
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


# Chains -------------------------------------------------------------------------------------------

Operand = tuple[Factor, tuple[int, ...]]  # a factor of a product and its index labels


def _chains(operands: list[Operand], out: tuple[int, ...], row: bool) -> list[Doc]:
    """Matrix-notation factors of a product, read off its index graph: the scalars (traces, inner
    products, sums), then the chain between the output labels."""
    docs, kept = _repeated_labels(operands, out)
    graph = _Graph(_diagonals(_merge_hadamard(kept, out), out), out)
    result = graph.open_chain() if out else None  # walked first: it takes its factors before the scalars
    docs += graph.closed_chains()
    if result is not None:
        docs.append(_render_chain(_flipped(result) if row else result))
    if len(docs) > 1:  # a scalar a'*b among other factors reads as (a'*b)
        docs = [Group(d) if isinstance(d, Product) else d for d in docs]
    return docs


def _repeated_labels(operands: list[Operand], out: tuple[int, ...]) -> tuple[list[Doc], list[Operand]]:
    """A[i,i]: a trace if i is used nowhere else (returned as a scalar), else the vector diag(A)."""
    counts = Counter(label for _, ls in operands for label in ls) + Counter(out)
    traces: list[Doc] = []
    kept = []
    for factor, labels in operands:
        if len(labels) == 2 and labels[0] == labels[1]:
            if counts[labels[0]] == 2:
                traces.append(Call("tr", (factor.doc,)))
                continue
            factor, labels = Factor(Call("diag", (factor.doc,)), "col"), (labels[0],)
        kept.append((factor, labels))
    return traces, kept


class _Graph:
    """The operands of a product as edges between their labels, each walked into one chain.

    Every label is used at most twice (by two operands, or by one operand and the output), so a
    chain from a label is unique: the operands it meets, oriented along the walk."""

    def __init__(self, operands: list[Operand], out: tuple[int, ...]) -> None:
        self.operands = operands
        self.out = out
        self.counts = Counter(label for _, ls in operands for label in ls) + Counter(out)
        if any(c > 2 for c in self.counts.values()):
            raise NoMatrixForm
        self.unused = list(range(len(operands)))

    def walk(self, label: int, chain: list[Factor], stop: int | None = None) -> tuple[list[Factor], int | None]:
        """Extend a chain from `label` to an output label, a vector, a ones end or `stop`; returns
        the chain and the output label it ends at, if any."""
        while True:
            if label == stop:
                return chain, None
            nxt = next((i for i in self.unused if label in self.operands[i][1]), None)
            if nxt is None:
                if label in self.out:
                    return chain, label
                chain.append(_ONES_COL)  # a label summed in one place only: a ones vector
                return chain, None
            self.unused.remove(nxt)
            factor, labels = self.operands[nxt]
            if len(labels) == 1:
                chain.append(factor)
                return chain, None
            chain.append(factor if labels[0] == label else factor.transposed())
            label = labels[1] if labels[0] == label else labels[0]
            if label in self.out:
                return chain, label

    def open_chain(self) -> list[Factor]:
        """The chain from the first output label: a column, a matrix, or an outer product u*v'."""
        first, end = _sized(self.walk(self.out[0], []))
        if len(self.out) == 2 and end != self.out[1]:
            second, _ = _sized(self.walk(self.out[1], []))
            first = first + _flipped(second)
        return first

    def closed_chains(self) -> list[Doc]:
        """The operands left over form closed chains, each a scalar: a'*M*b, sum(M*b), tr(A*B)."""
        docs = []
        while self.unused:
            docs.append(self._closed_chain())
        return docs

    def _closed_chain(self) -> Doc:
        vectors = [i for i in self.unused if len(self.operands[i][1]) == 1]
        ends = [i for i in self.unused if any(self.counts[x] == 1 for x in self.operands[i][1])]
        start = (vectors or ends or self.unused)[0]
        self.unused.remove(start)
        factor, labels = self.operands[start]
        if len(labels) == 1:
            chain, _ = self.walk(labels[0], [factor.transposed()])
        elif start in ends:  # a label summed in one place: the chain starts at a ones row
            begin = labels[0] if self.counts[labels[0]] == 1 else labels[1]
            oriented = factor if labels[0] == begin else factor.transposed()
            chain, _ = self.walk(labels[1] if labels[0] == begin else labels[0], [_ONES_COL.transposed(), oriented])
        else:
            chain, _ = self.walk(labels[1], [factor], stop=labels[0])
            readings = [c[k:] + c[:k] for c in (chain, _flipped(chain)) for k in range(len(c))]  # tr is cyclic
            return Call("tr", (_render_chain(_best_reading(readings)),))
        return _closed_chain(_best_reading([chain, _flipped(chain)]))


def _flipped(chain: list[Factor]) -> list[Factor]:
    """The transpose of a chain: (A*B)' = B'*A'."""
    return [f.transposed() for f in reversed(chain)]


def _transposes(chain: list[Factor]) -> int:
    return sum(isinstance(f.doc, Transpose) and f.kind != "row" for f in chain)


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


def _is_ones(factor: Factor, kind: str | None = None) -> bool:
    """A plain ones vector (vector(1), or its transpose when a row)."""
    plain = factor.doc in (_ONES_COL.doc, Transpose(_ONES_COL.doc))
    return plain and (kind is None or factor.kind == kind)


def _closed_chain(chain: list[Factor]) -> Doc:
    """A scalar chain row*...*col, with a ones vector at an end read as sum(...)."""
    if all(f.alone or _is_ones(f) for f in chain):  # sum(vector(1))
        chain = [Factor(f.alone, f.kind) if f.alone else f for f in chain]
    if _is_ones(chain[-1], "col") and not _is_ones(chain[0], "row"):
        chain = _flipped(chain)
    if _is_ones(chain[0], "row"):
        rest = chain[1:]
        if len(rest) > 1 and _is_ones(rest[-1], "col"):
            rest = rest[:-1]
        return Call("sum", (_render_chain(rest),))
    return _render_chain(chain)


def _render_chain(chain: list[Factor]) -> Doc:
    return product_of([f.doc for f in chain])


def _merge_hadamard(operands: list[Operand], out: tuple[int, ...]) -> list[Operand]:
    """Operands on one set of labels, each used three or more times, multiply element-wise."""
    counts = Counter(label for _, ls in operands for label in ls) + Counter(out)
    merged: list[Operand] = []
    for factor, labels in operands:
        for k, (other, other_labels) in enumerate(merged):
            if set(other_labels) == set(labels) and len(set(labels)) == len(labels) and _shared_more(labels, counts):
                aligned = factor if labels == other_labels else factor.transposed()
                hadamard = Hadamard((*_hadamard_factors(other.doc), *_hadamard_factors(aligned.doc)))
                merged[k] = (Factor(hadamard, other.kind), other_labels)
                counts.subtract(labels)
                break
        else:
            merged.append((factor, labels))
    return merged


def _shared_more(labels: tuple[int, ...], counts: Counter[int]) -> bool:
    """Two factors on the same labels multiply element-wise unless that is a plain contraction:
    x'*y (one label, used only by the two) stays an inner product, tr(A'*B) a trace."""
    return all(counts[x] > 2 for x in labels) if len(labels) == 1 else any(counts[x] > 2 for x in labels)


def _hadamard_factors(doc: Doc) -> tuple[Doc, ...]:
    return doc.factors if isinstance(doc, Hadamard) else (doc,)


def _diagonals(operands: list[Operand], out: tuple[int, ...]) -> list[Operand]:
    """A vector at a label used three times is diag(v) between two copies of that label."""
    operands = list(operands)
    fresh = max([x for _, ls in operands for x in ls] + list(out), default=0) + 1
    while True:
        counts = Counter(label for _, ls in operands for label in ls) + Counter(out)
        crowded = [x for x, c in counts.items() if c > 2]
        if not crowded:
            return operands
        label = crowded[0]
        vector = next((i for i, (f, ls) in enumerate(operands) if ls == (label,)), None)
        if vector is None:
            raise NoMatrixForm
        diagonal = Factor(Call("diag", (operands[vector][0].doc,)), "matrix")
        target = next((i for i, (f, ls) in enumerate(operands) if i != vector and label in ls), None)
        if target is not None and operands[target][0].doc == Symbol("eye"):  # v[i]*eye[i,j] = diag(v)
            operands[target] = (diagonal, operands[target][1])
            del operands[vector]
            continue
        operands[vector] = (diagonal, (label, fresh))
        if target is None:
            raise NoMatrixForm
        f, ls = operands[target]
        position = ls.index(label)
        operands[target] = (f, ls[:position] + (fresh,) + ls[position + 1 :])
        fresh += 1
