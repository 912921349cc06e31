"""md.explain: a derivative as a derivation, one named rule at a time, as the lecture does it.

Each step takes one subexpression u of the function, names the rule that differentiates it (sum,
product, quotient, power, chain rule, or an identity such as d inv(U) = -inv(U) dU inv(U)) and
gives du/dX, simplified. Steps run from the outside in, as one differentiates by hand, and every
step is an expression that evaluates, so its numbers can be checked against finite differences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import comb

from . import _algebra as A
from . import _expr as E
from ._api import expression
from ._diff import derivatives, resolve_variable, with_canonical_dims
from ._errors import DiffError, ShapeError
from ._expr import Expr, find_variable, postorder
from ._parser import parse
from ._printing import to_latex, to_text
from ._registry import REGISTRY, Kind
from ._simplify import simplify

__all__ = ["Derivation", "Step", "explain", "explain_limit", "explain_chain"]


@dataclass(frozen=True)
class Step:
    """One rule applied: d`of`/d`by` = `result`.

    `rule` names it ("product rule", "chain rule (exp)", "identity: d inv(U) = ..."); `identity` is
    the rule in symbols; `of` is the expression differentiated and `result` its derivative by `by`
    (an expression of shape of.shape + by.shape), or, for limit steps, the expression at that stage.
    """

    rule: str
    identity: str
    of: Expr
    result: Expr
    by: Expr | None = None

    @property
    def differential(self) -> Expr | None:
        """d[of] as an expression in the direction d<X> (a variable named "dX" for X): the
        derivative applied to dX, which reads as matrix calculus where the derivative is a 3-D or
        4-D tensor: d inv(X) = -inv(X)*dX*inv(X)."""
        if self.by is None:
            return None
        direction = E.var("d" + self.by.attrs[0], self.by.attrs[1], self.by.shape)
        n, k = self.of.ndim, self.by.ndim
        labels = tuple(range(n + k))
        return E.einsum([self.result, direction], [labels, labels[n:]], labels[:n])

    @property
    def _differential(self) -> Expr:
        differential = self.differential
        assert differential is not None, "only a step by a variable has a differential"
        return differential

    @property
    def _gradient_form(self) -> bool:
        return self.by is not None and self.of.ndim + self.by.ndim <= 2

    def text(self) -> str:
        if self.by is None and self.of is self.result:
            return f"{self.rule}: {self.identity}\n    {to_text(self.of)}"
        if self.by is None:
            return f"{self.rule}: {self.identity}\n    {to_text(self.of)} = {to_text(self.result)}"
        lines = [f"{self.rule}: {self.identity}", f"    d[{to_text(self.of)}] = {to_text(self._differential)}"]
        if self._gradient_form:
            lines.append(f"    d/d{to_text(self.by)} [{to_text(self.of)}] = {to_text(self.result)}")
        return "\n".join(lines)

    def latex(self) -> str:
        if self.by is None and self.of is self.result:
            body = to_latex(self.of)
        elif self.by is None:
            body = rf"{to_latex(self.of)} = {to_latex(self.result)}"
        elif self._gradient_form:
            partial = rf"\frac{{\partial}}{{\partial {to_latex(self.by)}}}"
            body = rf"{partial}\left[{to_latex(self.of)}\right] = {to_latex(self.result)}"
        else:
            body = rf"d\left[{to_latex(self.of)}\right] = {to_latex(self._differential)}"
        return rf"&\text{{{_latex_text(self.rule)}}}\colon\; {body}"


@dataclass(frozen=True)
class Derivation:
    """The steps from an expression to its derivative, and the result.

    `str()` and `.text()` give plain text, `.markdown()` and `.latex()` the other formats; in a
    notebook it displays as Markdown with mathematics.
    """

    title: str
    steps: tuple[Step, ...]
    result: Expr | tuple[Expr, ...]  # a tuple: the entries of a row, df/d(s, t) = [df/ds, df/dt]

    def text(self) -> str:
        lines = [self.title]
        lines += [f"{k}. " + step.text() for k, step in enumerate(self.steps, 1)]
        lines.append(f"result: {_text_of(self.result)}")
        return "\n".join(lines)

    __str__ = text

    def markdown(self) -> str:
        lines = [f"**`{self.title}`**", ""]
        for k, step in enumerate(self.steps, 1):
            lines.append(f"{k}. *{step.rule}*: `{step.identity}`  ")
            lines.append(f"   ${step.latex().split(chr(92) + ';', 1)[1].strip()}$")
        lines += ["", f"**Result:** ${_latex_of(self.result)}$"]
        return "\n".join(lines)

    def latex(self) -> str:
        rows = r" \\ ".join(step.latex() for step in self.steps)
        return rf"\begin{{aligned}} {rows} \end{{aligned}}"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def _repr_latex_(self) -> str:
        return f"$${self.latex()}$$"

    def __iter__(self):
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)


def _text_of(result: Expr | tuple[Expr, ...]) -> str:
    return to_text(result) if isinstance(result, Expr) else "[" + ", ".join(to_text(r) for r in result) + "]"


def _latex_of(result: Expr | tuple[Expr, ...]) -> str:
    if isinstance(result, Expr):
        return to_latex(result)
    return r"\begin{bmatrix} " + " & ".join(to_latex(r) for r in result) + r" \end{bmatrix}"


def _latex_text(text: str) -> str:
    return text.replace("_", r"\_").replace("^", r"\^{}")


# Rules, named as a textbook names them ---------------------------------------------------------------

def _depends(node: Expr, wrt: Expr) -> bool:
    return wrt.attrs[0] in node.free


def _rule(node: Expr, wrt: Expr) -> tuple[str, str]:
    """The rule that differentiates `node`, and the rule in symbols."""
    op = node.op
    if op == "add":
        return "sum rule", "d(U + V) = dU + dV"
    if op == "row":
        return "transpose rule", "d(U') = (dU)'"
    if op == "pow":
        p = node.attrs[0]
        power = "" if p - 1 == 1 else f"^{_number(p - 1)}" if p - 1 >= 0 else f"^({_number(p - 1)})"
        base = "" if p - 1 == 0 else f" U{power}"
        factor = {1.0: "", -1.0: "-"}.get(p, _number(p) + " ")
        return "power rule", f"d(U^{_number(p)}) = {factor}{base.strip()} dU"
    if op == "einsum":
        return _product_rule_name(node, wrt)
    operation = REGISTRY.get(op)
    if operation is None or operation.kind is Kind.COMPOSITE:
        raise DiffError(f"no derivative rule for the operation {op!r}")
    if operation.kind is Kind.ELEMENTWISE:
        return operation.step_name, f"d {op}(U) = {op}'(U) .* dU, {operation.identity}"
    return operation.step_name, operation.identity


def _product_rule_name(node: Expr, wrt: Expr) -> tuple[str, str]:
    subs, out = node.attrs
    dependent = [a for a in node.args if _depends(a, wrt)]
    if len(node.args) == 1:
        (labels,) = subs
        if len(labels) == 2 and labels[0] == labels[1] and not out:
            return "trace rule", "d tr(U) = tr(dU)"
        if len(labels) == 2 and labels[0] == labels[1]:
            return "linearity (diag)", "d diag(U) = diag(dU)"
        if not out:
            return "linearity (sum)", "d sum(U) = sum(dU)"
        return "transpose rule", "d(U') = (dU)'"
    divisors = [a for a in dependent if a.op == "pow" and a.attrs[0] < 0]
    if divisors:
        return "quotient rule", "d(U/V) = (dU V - U dV)/V^2"
    wrt_leaf = [a for a in node.args if a is wrt]
    if not out and len(wrt_leaf) == 1 and len(dependent) == 1 and wrt.ndim:
        x = to_text(wrt)
        return "identity (linear form)", f"f = {to_text(node)} is linear in {x}, f = <G, {x}>, so df/d{x} = G"
    if not out and len(wrt_leaf) == 2 and len(dependent) == 2 and len(node.args) == 3 and wrt.ndim == 1:
        x = to_text(wrt)
        form = f"f = {to_text(node)} is a quadratic form {x}'M{x}"
        return "identity (quadratic form)", f"{form}, so df/d{x} = (M + M'){x}"
    if len(dependent) >= 2:
        return "product rule", "d(U V) = dU V + U dV"
    if len(node.args) == 2 and any(a.ndim == 0 and not _depends(a, wrt) for a in node.args):
        return "constant multiple rule", "d(c U) = c dU"
    return "linearity", "d(A U B) = A dU B for constant A, B"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# md.explain -----------------------------------------------------------------------------------------


def explain(expr: Expr | str, /, *wrt: str | Expr, **kinds: str) -> Derivation:
    """The derivation of d expr / d wrt, step by step, each step a named rule.

    `expr` is an expression or text (parsed with `kinds`). Steps run from the outside in: the rule
    for the whole expression first, then the rules for the parts it needs. Each step's `of` and
    `result` are expressions, so every step can be evaluated and checked. With several variables,
    the derivation of each further derivative follows.
    """
    expr = expression(expr, kinds, "explain")
    if not wrt:
        raise DiffError("explain needs at least one variable to differentiate by")
    current = with_canonical_dims(expr)
    steps: list[Step] = []
    names = []
    for item in wrt:
        variable = resolve_variable(expr, current, item)
        steps += _steps(current, variable)
        current = simplify(derivatives(current, variable)[id(current)])
        names.append(to_text(variable))
    title = f"d/d{' d/d'.join(names)} of {to_text(expr)}"
    return Derivation(title, tuple(steps), current)


def _steps(expr: Expr, wrt: Expr) -> list[Step]:
    found = derivatives(expr, wrt)
    steps = []
    for node in reversed(postorder([expr])):  # parents before children: from the outside in
        if not _depends(node, wrt) or node.op == "var":
            continue
        rule, identity = _rule(node, wrt)
        steps.append(Step(rule, identity, node, simplify(found[id(node)]), wrt))
    return steps


# The limit definition, for polynomials -----------------------------------------------------------


def explain_limit(n: int, variable: str = "x") -> Derivation:
    """The derivative of x^n from the limit definition, as the lecture derives it.

    The steps are expressions in x and the step h: the difference quotient ((x+h)^n - x^n)/h, the
    binomial expansion with x^n cancelled, the division by h, and the limit h -> 0, n x^(n-1). Each
    evaluates at any h, so a test can watch the quotient approach the limit.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ShapeError(f"explain_limit needs a natural number n, got {n!r}")
    x, h = E.var(variable, "scalar"), E.var("h", "scalar")
    if variable == "h":
        raise ShapeError("the variable of explain_limit cannot be called h: h is the step")
    f = A.power(x, n)
    quotient = A.divide(A.sub(A.power(A.add(x, h), n), f), h)
    terms = [A.hadamard(comb(n, i), A.hadamard(A.power(x, n - i), A.power(h, i))) for i in range(n + 1)]
    cancelled = A.divide(E.add(terms[1:]), h)
    divided = E.add([A.hadamard(comb(n, i), A.hadamard(A.power(x, n - i), A.power(h, i - 1))) for i in range(1, n + 1)])
    limit = A.hadamard(n, A.power(x, n - 1))
    steps = (
        Step("limit definition", "f'(x) = lim_{h->0} (f(x+h) - f(x))/h", quotient, quotient),
        Step(
            "binomial theorem",
            "(x+h)^n = sum_{i=0}^{n} C(n,i) x^(n-i) h^i; its i = 0 term x^n cancels",
            quotient,
            cancelled,
        ),
        Step("divide by h", "each remaining term has a factor h", cancelled, divided),
        Step("limit h -> 0", "every term with h^(i-1), i >= 2, vanishes", divided, limit),
    )
    return Derivation(f"d/d{variable} of {to_text(f)} from the limit definition", steps, limit)


# The chain rule through named intermediate variables ----------------------------------------------


def explain_chain(f: Expr | str, inner: Mapping[str, Expr | str], *wrt: str, **kinds: str) -> Derivation:
    """df/d(wrt) for f written in intermediate variables that are themselves functions of wrt.

    `f` is written in the names of `inner` (scalars), `inner` maps each name to its expression in
    the variables `wrt` (scalars). The derivation shows the Jacobian df/dx (1 x k), the Jacobian
    dx/d(wrt) (k x m), their product, and the result after substituting x and simplifying, as in
    the lecture's df/d(s,t) = (df/dx)(dx/d(s,t)).
    """
    names = list(inner)
    if not names:
        raise ShapeError("explain_chain needs at least one intermediate variable")
    if not wrt:
        raise DiffError("explain_chain needs the variables to differentiate by")
    scalar_kinds = {name: "scalar" for name in [*names, *wrt]} | kinds
    f = parse(f, **scalar_kinds) if isinstance(f, str) else f
    pieces = {n: parse(e, **scalar_kinds) if isinstance(e, str) else e for n, e in inner.items()}
    for name, piece in [("f", f), *pieces.items()]:
        if piece.ndim != 0:
            raise ShapeError(f"explain_chain works with scalar functions; {name} has shape {piece.shape}")
    outer = [[simplify(_d(f, n)) for n in names]]
    jacobian = [[simplify(_d(pieces[n], w)) for w in wrt] for n in names]
    product = [[E.add([A.matmul(outer[0][k], jacobian[k][j]) for k in range(len(names))]) for j in range(len(wrt))]]
    composed = _substitute(f, pieces)
    direct = [simplify(_d(composed, w)) for w in wrt]
    steps = []
    x_vec, w_vec = ", ".join(names), ", ".join(wrt)
    for j, w in enumerate(wrt):
        wvar = find_variable([composed], w) or E.var(w, "scalar")
        for k, n in enumerate(names):
            rule = f"partial derivative d{n}/d{w}"
            steps.append(Step(rule, f"{n} = {to_text(pieces[n])}", pieces[n], jacobian[k][j], wvar))
    for k, n in enumerate(names):
        steps.append(Step(f"partial derivative df/d{n}", f"f = {to_text(f)}", f, outer[0][k], find_variable([f], n)))
    jacobians = (
        f"df/dx = [{', '.join(to_text(e) for e in outer[0])}], dx/d({w_vec}) = ["
        + "; ".join(", ".join(to_text(e) for e in row) for row in jacobian)
        + "]"
    )
    for j, w in enumerate(wrt):
        wvar = find_variable([composed], w) or E.var(w, "scalar")
        rule = (
            f"df/d{w} = sum_k df/dx_k dx_k/d{w}: the Jacobians multiplied, "
            f"(1 x {len(names)}) times ({len(names)} x {len(wrt)}), {jacobians}"
        )
        steps.append(Step("chain rule", rule, composed, simplify(product[0][j]), wvar))
        note = f"write ({x_vec}) in ({w_vec}) and simplify"
        steps.append(Step("substitute", note, composed, direct[j], wvar))
    result = direct[0] if len(wrt) == 1 else tuple(direct)
    title = f"df/d({w_vec}) for f = {to_text(f)} with " + ", ".join(f"{n} = {to_text(pieces[n])}" for n in names)
    return Derivation(title, tuple(steps), result)


def _d(expr: Expr, name: str) -> Expr:
    variable = find_variable([expr], name)
    if variable is None:
        return E.const(0.0) if expr.ndim == 0 else E.zeros(expr.shape)
    return derivatives(expr, variable)[id(expr)]


def _substitute(expr: Expr, pieces: Mapping[str, Expr]) -> Expr:
    """expr with each named variable replaced by its expression."""
    return E.rewrite(expr, lambda node: pieces.get(node.attrs[0]) if node.op == "var" else None)
