"""Index notation, for expressions with no matrix form (most 3-D and 4-D results).

`index_layout` writes the body of ``D[i,j,k] = A[i,k]*x[j]``, with summation over every index not on
the left; where even that fails, `einsum_layout` is the last resort, which never fails:
``einsum("ij,jk->ik", A, B)`` for products and plain calls for the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._expr import Expr, postorder
from .._registry import STRUCTURAL, Kind, lookup
from .doc import Call, Doc, Equation, Indexed, Number, Power, Sum, Symbol, Term, product_of, signed
from .matrix import NoMatrixForm, matrix_doc, matrix_layout

INDEX_NAMES = "ijklpqrstuvwabcdefgh"
"""Index names in the order they are handed out: the output's first, then the summed ones."""


class FreshNames:
    """Hands out index names not yet taken: INDEX_NAMES in order, then i20, i21, ..."""

    def __init__(self, taken: Sequence[str]) -> None:
        self.taken = set(taken)

    def __call__(self) -> str:
        for name in INDEX_NAMES:
            if name not in self.taken:
                self.taken.add(name)
                return name
        name = f"i{len(self.taken)}"
        self.taken.add(name)
        return name


def index_equation(node: Expr) -> Doc:
    """``D[i,j,k] = body`` for `node`, or the body alone for a scalar."""
    names = list(INDEX_NAMES[: node.ndim])
    body = index_body(node, names, names)
    return Equation("D", tuple(names), body) if names else body


def index_body(node: Expr, names: Sequence[str], taken: Sequence[str]) -> Doc:
    """The right-hand side of index notation for `node`, whose axes are called `names`; summed
    indices get names not in `taken`. Falls back to `einsum_layout`."""
    try:
        return index_layout(node, names, FreshNames(taken))
    except NoMatrixForm:
        return einsum_layout(node, names)


def index_layout(node: Expr, names: Sequence[str], fresh: FreshNames) -> Doc:
    """`node` in index notation with its axes called `names` and summed indices named by `fresh`:
    matrix notation for the parts that have it, indexed. Raises NoMatrixForm where that fails."""
    if node.ndim <= 2 and node.op not in ("einsum", "add", "delta", "ones", "zeros"):
        try:
            doc = matrix_layout(node)
            return Indexed(doc, tuple(names)) if names else doc
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
            factors.append(index_layout(child, [label_names[x] for x in labels], fresh))
        return product_of(factors)
    if node.op == "add":
        return Sum(tuple(signed(index_layout(term, names, fresh)) for term in node.args))
    if node.op == "zeros":
        return Number(0.0)
    if node.op == "delta":
        return Indexed(Symbol("eye"), tuple(names))
    if node.op == "pow":
        return Power(index_layout(node.args[0], names, fresh), node.attrs[0], False)
    if node.op == "row":
        return index_layout(node.args[0], names, fresh)
    if node.op == "ones":  # indexed, so that a sum over its labels counts: ones[j,k] summed is m*n
        return Indexed(Call("vector" if node.ndim == 1 else "matrix", (Number(1.0),)), tuple(names))
    if node.op not in STRUCTURAL and lookup(node.op).kind is Kind.ELEMENTWISE:
        return Call(node.op, (index_layout(node.args[0], names, fresh),))
    raise NoMatrixForm


def einsum_layout(node: Expr, names: Sequence[str]) -> Doc:
    """The last resort, never failing: einsum("ij,jk->ik", A, B) for products, nested calls, and the
    whole indexed by `names`. An unknown operation still raises UnknownOperation."""
    docs: dict[int, Doc] = {}
    for n in postorder([node]):
        args = [docs[id(c)] for c in n.args]
        if n.ndim <= 2 and n.op != "einsum":
            try:
                docs[id(n)] = matrix_doc(n, args)
                continue
            except NoMatrixForm:
                pass
        docs[id(n)] = _last_resort_doc(n, args)
    return Indexed(docs[id(node)], tuple(names)) if names else docs[id(node)]


def _last_resort_doc(node: Expr, args: list[Doc]) -> Doc:
    """A node with no matrix form: a product as einsum(...), a sum of its terms, anything else a call."""
    if node.op == "einsum":
        subs, out = node.attrs
        letters = ["".join(INDEX_NAMES[x % 20] for x in s) for s in subs]
        spec = ",".join(letters) + "->" + "".join(INDEX_NAMES[x % 20] for x in out)
        return Call("einsum", (Symbol(f'"{spec}"'), *args))
    if node.op == "add":
        return Sum(tuple(Term(a) for a in args))
    if node.op not in STRUCTURAL:  # a structural node prints as a call of its name, zeros(); no other
        lookup(node.op)  # name does: UnknownOperation for one that is not registered
    return Call(node.op, tuple(args))
