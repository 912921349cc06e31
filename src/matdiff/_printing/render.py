"""Rendering a layout tree as text (the parseable syntax) or as LaTeX.

One renderer walks the doc; a `Target` table says how each construct is spelled in one output:
operators and separators, brackets, how a call, a transpose, a power and an index are written, and
which operands need brackets. Precedences are shared: the targets differ in spelling, not in how
tightly a product binds. LaTeX function names come from the operation registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._registry import STRUCTURAL, lookup
from .doc import (
    Call,
    Divide,
    Doc,
    ElementwiseDivide,
    Equation,
    Group,
    Hadamard,
    Indexed,
    Number,
    Power,
    Product,
    Sum,
    Symbol,
    Term,
    Transpose,
    flat_factors,
    negated,
)

# How tightly each construct binds: an operand whose precedence is below what its place needs is
# bracketed. Nothing lies between POSTFIX and ATOM, so any place that wants more than a transpose
# takes atoms only.
EQUATION, SUM, PRODUCT, NEGATIVE, POWER, POSTFIX, ATOM = 0, 1, 2, 3, 4, 5, 9


def _after_first(position: int, operand: Doc) -> bool:
    return position > 0


def _never(position: int, operand: Doc) -> bool:
    return False


@dataclass(frozen=True)
class Infix:
    """Operands joined by `separator` at product precedence. An operand that binds exactly as tightly
    (another product, a quotient) is bracketed where `bracketed(position, operand)` says so: a/(b*c)."""

    separator: str
    bracketed: Callable[[int, Doc], bool] = _after_first


@dataclass(frozen=True)
class Template:
    """Operands placed in the `{}` slots of `spelling` without brackets, as in \\frac{a}{b}: an atom."""

    spelling: str


@dataclass(frozen=True)
class Target:
    """How one output spells each construct; formats take the rendered operands in `{}` slots."""

    brackets: tuple[str, str]
    symbol: Callable[[str], str]  # a name as written
    function: Callable[[Call], str]  # a command (written before bracketed arguments) or a `{}` template
    product: Infix
    hadamard: Infix
    divide: Infix | Template
    elementwise_divide: Infix | Template
    transpose: str
    postfix_operand: int  # the precedence that the operand of a transpose or a power needs
    power: str  # base, exponent
    elementwise_power: str
    negative_exponent: str  # wraps a negative exponent
    index: str  # body, index names
    index_separator: str


def format_number(value: float) -> str:
    """2 for 2.0; repr for anything that is not a moderate integer."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def render(doc: Doc, target: Target) -> str:
    """`doc` spelled in `target`."""
    return _render(doc, target)[0]


def render_text(doc: Doc) -> str:
    """`doc` in the text syntax, which parses back to the expression."""
    return render(doc, TEXT)


def render_latex(doc: Doc) -> str:
    """`doc` as LaTeX."""
    return render(doc, LATEX)


def _render(doc: Doc, target: Target) -> tuple[str, int]:
    """The spelling of `doc` and its precedence."""
    # isinstance checks, most frequent kinds first: this runs once per doc node, and a `match` on
    # class patterns made printing twice as slow (CPython 3.11)
    if isinstance(doc, Symbol):
        return target.symbol(doc.name), ATOM
    if isinstance(doc, Call):
        return _call(doc, target)
    if isinstance(doc, Product):
        positive = negated(doc)
        if positive is not None:
            return "-" + _operand(positive, PRODUCT, target), PRODUCT
        return _operator(target.product, flat_factors(doc.factors), target)
    if isinstance(doc, Number):
        return format_number(doc.value), ATOM if doc.value >= 0 else NEGATIVE
    if isinstance(doc, Transpose):
        return target.transpose.format(_operand(doc.body, target.postfix_operand, target)), POSTFIX
    if isinstance(doc, Sum):
        return _sum(doc.terms, target), SUM
    if isinstance(doc, Power):
        spelling = target.elementwise_power if doc.elementwise else target.power
        number = format_number(doc.exponent)
        if doc.exponent < 0:
            number = target.negative_exponent.format(number)
        return spelling.format(_operand(doc.base, target.postfix_operand, target), number), POWER
    if isinstance(doc, Hadamard):
        reciprocals = [f for f in doc.factors if isinstance(f, ElementwiseDivide) and f.numerator == Number(1.0)]
        if reciprocals and len(reciprocals) < len(doc.factors):  # x.*(1./y) reads x./y
            others = [f for f in doc.factors if f not in reciprocals]
            numerator = others[0] if len(others) == 1 else Hadamard(tuple(others))
            denominator = reciprocals[0].denominator if len(reciprocals) == 1 else Hadamard(
                tuple(r.denominator for r in reciprocals))
            return _render(ElementwiseDivide(numerator, denominator), target)
        return _operator(target.hadamard, doc.factors, target)
    if isinstance(doc, Divide):
        return _operator(target.divide, (doc.numerator, doc.denominator), target)
    if isinstance(doc, ElementwiseDivide):
        return _operator(target.elementwise_divide, (doc.numerator, doc.denominator), target)
    if isinstance(doc, Indexed):
        return _indexed(_operand(doc.body, ATOM, target), doc.names, target), ATOM
    if isinstance(doc, Group):
        return _bracketed(render(doc.body, target), target), ATOM
    if isinstance(doc, Equation):
        left = _indexed(doc.head, doc.names, target) if doc.names else doc.head
        return f"{left} = {render(doc.body, target)}", EQUATION
    raise AssertionError(doc)  # pragma: no cover


def _bracketed(text: str, target: Target) -> str:
    opening, closing = target.brackets
    return f"{opening}{text}{closing}"


def _operand(doc: Doc, precedence: int, target: Target, strict: bool = False) -> str:
    """`doc` in a place that needs `precedence`, bracketed if it binds less tightly (or, where
    `strict`, as tightly: the right of a quotient)."""
    text, own = _render(doc, target)
    if own < precedence or (strict and own == precedence):
        return _bracketed(text, target)
    return text


def _operator(spelling: Infix | Template, operands: Sequence[Doc], target: Target) -> tuple[str, int]:
    if isinstance(spelling, Template):
        return spelling.spelling.format(*(render(d, target) for d in operands)), ATOM
    pieces = (_operand(d, PRODUCT, target, spelling.bracketed(k, d)) for k, d in enumerate(operands))
    return spelling.separator.join(pieces), PRODUCT


def _is_template(spelling: str) -> bool:
    """A spelling with a `{}` slot, or with braces escaped for str.format (vector's \\mathbf{{1}})."""
    return "{}" in spelling or "{{" in spelling


def _call(call: Call, target: Target) -> tuple[str, int]:
    spelling = target.function(call)
    if not _is_template(spelling):
        return spelling + _bracketed(", ".join(render(a, target) for a in call.args), target), ATOM
    if spelling.startswith("{}"):  # a superscript on the argument, inv's X^{-1}: it binds like a transpose
        return spelling.format(_operand(call.args[0], target.postfix_operand, target)), POSTFIX
    return spelling.format(", ".join(render(a, target) for a in call.args)), ATOM


def _sum(terms: Sequence[Term], target: Target) -> str:
    """a + b - c; a negative term is bracketed when it is itself a sum: a - (b + c)."""
    pieces = []
    for k, term in enumerate(terms):
        text = _operand(term.body, SUM, target, strict=term.negative)
        sign = ("-" if term.negative else "") if k == 0 else (" - " if term.negative else " + ")
        pieces.append(sign + text)
    return "".join(pieces)


def _indexed(body: str, names: Sequence[str], target: Target) -> str:
    return target.index.format(body, target.index_separator.join(names))


# Text -------------------------------------------------------------------------------------------

TEXT = Target(
    brackets=("(", ")"),
    symbol=lambda name: name,
    function=lambda call: call.name,
    # * and .* bind alike, so one inside the other is bracketed even in first place, (A.*B)*C and
    # (A*B).*C; only a leading Hadamard product inside another goes without: A.*B.*C
    product=Infix("*", lambda k, d: k > 0 or isinstance(d, Hadamard)),
    hadamard=Infix(".*", lambda k, d: k > 0 or not isinstance(d, Hadamard)),
    divide=Infix("/"),
    elementwise_divide=Infix("./"),
    transpose="{}'",
    postfix_operand=POSTFIX,
    power="{}^{}",
    elementwise_power="{}.^{}",
    negative_exponent="({})",  # x.^(-2)
    index="{}[{}]",
    index_separator=",",
)


# LaTeX ------------------------------------------------------------------------------------------

_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda",
    "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega",
}  # fmt: skip


def _latex_symbol(name: str) -> str:
    """eye as I, dX as a differential, Greek names as letters, trailing digits and _sub as subscripts."""
    if name == "eye":
        return "I"
    if len(name) == 2 and name[0] == "d" and name[1].isalpha():  # a differential: dX, spaced from what follows
        return rf"\mathrm{{d}}{name[1]}\,"
    stem = name.rstrip("0123456789")
    digits = name[len(stem) :]
    if "_" in stem:
        stem, _, sub = stem.partition("_")
        digits = sub + digits
    stem = "\\" + stem if stem in _GREEK else (stem if len(stem) == 1 else rf"\mathit{{{stem}}}")
    return f"{stem}_{{{digits}}}" if digits else stem


def _latex_function(call: Call) -> str:
    """The registry's spelling; the structural calls (einsum, ones, hole) keep their names."""
    if call.name in ("vector", "matrix") and call.args == (Number(0.0),):
        return r"\mathbf{{0}}"  # the registry spells the ones; zeros print the same way with 0
    return call.name if call.name in STRUCTURAL else lookup(call.name).latex


LATEX = Target(
    brackets=(r"\left(", r"\right)"),
    symbol=_latex_symbol,
    function=_latex_function,
    # juxtaposition binds more tightly than the element-wise operators, as a reader takes A x \odot y:
    # an element-wise product or quotient inside a product is bracketed, A \left(x \odot y\right)
    product=Infix(" ", lambda k, d: isinstance(d, (Hadamard, ElementwiseDivide))),
    hadamard=Infix(r" \odot ", lambda k, d: k > 0 and isinstance(d, ElementwiseDivide)),
    divide=Template(r"\frac{{{}}}{{{}}}"),
    elementwise_divide=Infix(r" \oslash "),
    transpose="{}^{{\\top}}",
    postfix_operand=POSTFIX + 1,  # superscripts do not stack: (A^T)^2, not A^T^2
    power="{}^{{{}}}",
    elementwise_power="{}^{{\\circ {}}}",
    negative_exponent="{}",
    index="{}_{{{}}}",
    index_separator="",
)
