"""The layout tree: what the printer's passes build from an expression and the renderer reads.

Each kind of node is a small frozen dataclass, so a pass can compare docs by value (is this factor
the ones vector? is the numerator 1?) and the renderer can dispatch on the class. Nothing here knows
about a target: how a product or an index is spelled is in `render.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Symbol:
    """A name: a variable, ``eye``, or an einsum subscript string (with its quotes)."""

    name: str


@dataclass(frozen=True, slots=True)
class Number:
    """A number; negative ones bind less tightly than atoms (``-2`` needs brackets in ``x^(-2)``)."""

    value: float


@dataclass(frozen=True, slots=True)
class Call:
    """A function applied to arguments: ``sin(x)``, ``diag(v)``, ``vector(1)``, ``einsum("ij->i", A)``."""

    name: str
    args: tuple[Doc, ...] = ()


@dataclass(frozen=True, slots=True)
class Transpose:
    """``A'``."""

    body: Doc


@dataclass(frozen=True, slots=True)
class Product:
    """The matrix product, and scaling: ``2*A*B``. A leading negative number prints as a minus sign."""

    factors: tuple[Doc, ...]


@dataclass(frozen=True, slots=True)
class Hadamard:
    """The element-wise product: ``A.*B``."""

    factors: tuple[Doc, ...]


@dataclass(frozen=True, slots=True)
class Divide:
    """A scalar quotient: ``a/b``."""

    numerator: Doc
    denominator: Doc


@dataclass(frozen=True, slots=True)
class ElementwiseDivide:
    """The element-wise quotient: ``1./x``."""

    numerator: Doc
    denominator: Doc


@dataclass(frozen=True, slots=True)
class Power:
    """``x^2`` for a scalar, ``x.^2`` (`elementwise`) for a vector or matrix."""

    base: Doc
    exponent: float
    elementwise: bool


@dataclass(frozen=True, slots=True)
class Term:
    """One term of a sum, with its sign kept apart so that sums print ``a - b``, not ``a + -b``."""

    body: Doc
    negative: bool = False


@dataclass(frozen=True, slots=True)
class Sum:
    """``a + b - c``."""

    terms: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class Indexed:
    """An entry in index notation: ``A[i,k]``."""

    body: Doc
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Group:
    """Brackets that precedence alone would not give: a scalar ``(a'*b)`` among other factors."""

    body: Doc


@dataclass(frozen=True, slots=True)
class Equation:
    """Index notation for a whole expression: ``D[i,j,k] = body``; ``head = body`` with no indices."""

    head: str
    names: tuple[str, ...]
    body: Doc


Doc = (
    Symbol | Number | Call | Transpose | Product | Hadamard | Divide | ElementwiseDivide | Power | Sum | Indexed
    | Group | Equation
)  # fmt: skip
"""Any node of the layout tree."""


def product_of(factors: Sequence[Doc]) -> Doc:
    """One factor as itself, several as their product."""
    return factors[0] if len(factors) == 1 else Product(tuple(factors))


def flat_factors(factors: Sequence[Doc]) -> list[Doc]:
    """The factors of a product, with nested products spliced in: a*(b*c) prints as a*b*c."""
    flat: list[Doc] = []
    for factor in factors:
        flat.extend(flat_factors(factor.factors) if isinstance(factor, Product) else [factor])
    return flat


def negated(product: Product) -> Doc | None:
    """For a product with a leading negative number, -c*rest, the product c*rest; else None."""
    factors = flat_factors(product.factors)
    first = factors[0]
    if not isinstance(first, Number) or first.value >= 0:
        return None
    rest = factors[1:] if first.value == -1.0 else [Number(-first.value), *factors[1:]]
    return product_of(rest)


def signed(doc: Doc) -> Term:
    """A term of a sum with a leading negative number split off, so sums print a - b, not a + -b."""
    if isinstance(doc, Number) and doc.value < 0:
        return Term(Number(-doc.value), negative=True)
    if isinstance(doc, Product):
        positive = negated(doc)
        if positive is not None:
            return Term(positive, negative=True)
    if isinstance(doc, Divide):
        numerator = signed(doc.numerator)
        return Term(Divide(numerator.body, doc.denominator), numerator.negative)
    return Term(doc)
