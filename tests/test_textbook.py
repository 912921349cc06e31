"""Readable results: derivatives print as a textbook writes them, with no size witnesses, and LaTeX groups.

Each row of TEXTBOOK is a derivative from the lecture, the Matrix Cookbook or an ML loss, with the form a
textbook gives. The printed result must evaluate equal to that form (both evaluated with NumPy at random
values) and be at most 1.25 times as long in tokens; over the table, the median ratio must be at most 1.1.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings

import matdiff as md

from .test_properties import cases

TOKEN = re.compile(r"\.\*|\./|\.\^|[A-Za-z_][A-Za-z_0-9]*|\d+\.?\d*(?:e[+-]?\d+)?|[-+*/^'(),]")


def tokens(text: str) -> int:
    return len(TOKEN.findall(text))


# (expression, kinds, variables differentiated by, the textbook's form)
TEXTBOOK = [
    # the lecture and the Matrix Cookbook (section 2)
    ("x'*a", {}, "x", "a"),
    ("a'*x", {}, "x", "a"),
    ("x'*x", {}, "x", "2*x"),
    ("x'*A*x", {}, "x", "A*x + A'*x"),
    ("x'*S*x", {"S": "symmetric"}, "x", "2*S*x"),
    ("x'*A*x", {}, ("x", "x"), "A + A'"),
    ("A*x", {}, "x", "A"),
    ("x.*y", {}, "x", "diag(y)"),
    ("a'*X*b", {}, "X", "a*b'"),
    ("a'*X'*b", {}, "X", "b*a'"),
    ("tr(A*X)", {}, "X", "A'"),
    ("tr(X'*A)", {}, "X", "A"),
    ("tr(X'*X)", {}, "X", "2*X"),
    ("tr(X*X)", {}, "X", "2*X'"),
    ("tr(X'*A*X)", {}, "X", "A*X + A'*X"),
    ("tr(A*X*B)", {}, "X", "A'*B'"),
    ("det(X)", {}, "X", "det(X)*inv(X)'"),
    ("logdet(X)", {}, "X", "inv(X)'"),
    ("a'*inv(X)*b", {}, "X", "-inv(X)'*a*b'*inv(X)'"),
    ("tr(inv(X)*A)", {}, "X", "-inv(X)'*A'*inv(X)'"),
    ("norm2(x)", {}, "x", "x/norm2(x)"),
    ("norm2(x)^2", {}, "x", "2*x"),
    ("norm2(X)^2", {}, "X", "2*X"),
    ("x1^2*x2 + x1*x2^3", {"x1": "scalar", "x2": "scalar"}, "x1", "2*x1*x2 + x2^3"),
    ("sin(t)^2 + cos(t)", {"t": "scalar"}, "t", "2*sin(t)*cos(t) - sin(t)"),
    # constants: a textbook writes I and 1
    ("x", {}, "x", "eye"),
    ("tr(X)", {}, "X", "eye"),
    ("sum(x)", {}, "x", "vector(1)"),
    ("sum(X)", {}, "X", "matrix(1)"),
    # element-wise functions and ML losses
    ("sum(exp(x))", {}, "x", "exp(x)"),
    ("sum(sin(x))", {}, "x", "cos(x)"),
    ("logsumexp(x)", {}, "x", "softmax(x)"),
    ("sigmoid(x)", {}, "x", "diag(sigmoid(x).*(1 - sigmoid(x)))"),
    ("tanh(W*x)", {}, "x", "diag(1 - tanh(W*x).^2)*W"),
    ("norm2(X*w-y)^2", {}, "w", "2*X'*(X*w - y)"),
    ("norm2(X*w-y)^2", {}, ("w", "w"), "2*X'*X"),
    ("(X*w-y)'*(X*w-y)", {}, "w", "2*X'*(X*w - y)"),
    ("sum(log(1+exp(-y.*(X*w))))", {}, "w", "-X'*(y.*sigmoid(-y.*(X*w)))"),
    ("sum(log(1+exp(-y.*(X*w))))", {}, ("w", "w"),
     "X'*diag(y.^2.*sigmoid(-y.*(X*w)).*(1 - sigmoid(-y.*(X*w))))*X"),
    ("sum(softplus(X*w))", {}, "w", "X'*sigmoid(X*w)"),
    ("sum(log(1+exp(X*w))) - y'*X*w", {}, "w", "X'*(sigmoid(X*w) - y)"),
]  # fmt: skip


def _values(variables: dict[str, str], rng: np.random.Generator, n: int = 4) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, kind in variables.items():
        if kind == "scalar":
            values[name] = rng.uniform(0.5, 1.5)
        elif kind == "vector":
            values[name] = rng.normal(size=n)
        else:
            M = rng.normal(size=(n, n))
            values[name] = M + M.T + 2 * n * np.eye(n) if kind == "symmetric" else M + n * np.eye(n)
    return values


def _row(case) -> tuple[str, str]:
    text, kinds, wrt, book = case
    f = md.parse(text, **kinds)
    wrt = (wrt,) if isinstance(wrt, str) else wrt
    derivative = md.diff(f, *wrt)
    values = _values(f.variables, np.random.default_rng(len(text)))
    got = derivative.evaluate(values)
    constants = {"eye": np.eye(4), "vector(1)": np.ones(4), "matrix(1)": np.ones((4, 4))}  # sized by the result
    expected = constants[book] if book in constants else md.parse(book, **f.variables).evaluate(values)
    np.testing.assert_allclose(got, np.broadcast_to(expected, got.shape), rtol=1e-10, atol=1e-12)
    return str(derivative), book


@pytest.mark.parametrize("case", TEXTBOOK, ids=lambda c: f"{c[0]} by {''.join(c[2])}")
def test_derivative_prints_as_the_textbook_form(case) -> None:
    printed, book = _row(case)
    assert tokens(printed) <= 1.25 * tokens(book), f"{printed!r} is much longer than the textbook's {book!r}"


def test_the_table_as_a_whole_reads_like_the_textbook() -> None:
    ratios = [tokens(printed) / tokens(book) for printed, book in map(_row, TEXTBOOK)]
    assert len(ratios) >= 30
    assert np.median(ratios) <= 1.1 and max(ratios) <= 1.25


@settings(max_examples=150, deadline=None)
@given(cases(kinds=("scalar", "vector", "matrix")))
def test_no_size_witnesses_anywhere(case) -> None:
    """No x.^0, diag(x.^0) or the like: constants print as eye, vector(1), matrix(1)."""
    _, expr, _ = case
    for name in expr.variables:
        for text in (str(md.diff(expr, name)), md.diff(expr, name).to_latex()):
            assert ".^0" not in text and "^{\\circ 0}" not in text, text


def test_named_shared_terms() -> None:
    """The autoencoder's gradient writes its sigmoid once, as t0; the named text evaluates like the result."""
    f = md.parse("norm2(X - W2*sigmoid(W1*X))^2")
    gradient = md.diff(f, "W1")
    assert str(gradient).count("sigmoid(W1*X)") >= 3
    lines = gradient.to_text(shared=True).splitlines()
    assert lines[0] == "t0 = sigmoid(W1*X)" and "sigmoid" not in lines[-1] and "t0" in lines[-1]
    rng = np.random.default_rng(1)
    values = {"X": rng.normal(size=(3, 5)), "W1": rng.normal(size=(2, 3)), "W2": rng.normal(size=(3, 2))}
    t0 = md.parse(lines[0].split(" = ")[1]).evaluate(values)
    result = md.parse(lines[-1], t0="matrix").evaluate({**values, "t0": t0})
    np.testing.assert_allclose(result, gradient.evaluate(values), rtol=1e-12)
    latex = gradient.to_latex(shared=True)
    assert latex.startswith(r"\begin{aligned}t_{0} &= \sigma") and latex.endswith(r"\end{aligned}")
    assert md.parse("x'*A*x").to_text(shared=True) == str(md.parse("x'*A*x"))  # nothing repeats


# ---------------------------------------------------------------------------------------------
# LaTeX grouping, against a precedence table

# How tightly each LaTeX operator binds (higher binds more): a reader takes juxtaposition (the matrix product)
# before the element-wise operators, and those before + and -.
PRECEDENCE = {"sum": 1, "hadamard": 2, "product": 3}


def _operator_of(doc) -> str | None:
    from matdiff._printing import doc as D

    if isinstance(doc, D.Sum):
        return "sum"
    if isinstance(doc, (D.Hadamard, D.ElementwiseDivide)):
        return "hadamard"
    if isinstance(doc, D.Product) and len(doc.factors) > 1 and D.negated(doc) is None:
        return "product"  # -a, for a product, reads as -(a) whatever a is: -y ⊙ X w is -(y ⊙ X w) = (-y) ⊙ X w
    return None


def _check_grouping(doc) -> None:
    """Every operand that binds less tightly than its operator, by PRECEDENCE, is bracketed in the LaTeX."""
    from matdiff._printing import doc as D
    from matdiff._printing.render import render_latex

    outer = _operator_of(doc)
    children = {D.Sum: lambda d: [t.body for t in d.terms], D.Hadamard: lambda d: list(d.factors),
                D.Product: lambda d: list(d.factors), D.ElementwiseDivide: lambda d: [d.numerator, d.denominator],
                D.Transpose: lambda d: [d.body], D.Call: lambda d: list(d.args)}  # fmt: skip
    for child in children.get(type(doc), lambda d: [])(doc):
        inner = _operator_of(child)
        if outer and inner and PRECEDENCE[inner] < PRECEDENCE[outer]:
            whole, part = render_latex(doc), render_latex(child)
            assert rf"\left({part}\right)" in whole, f"{part!r} is not bracketed in {whole!r}"
        _check_grouping(child)


@pytest.mark.parametrize("text", ["A*(x.*y)", "A*(x./y)", "(A+B)*x", "A*(x+y).*z", "(x.*y)'*A*(u+v)",
                                  "-X'*(y.*sigmoid(-y.*(X*w)))", "(A*x).*(B*y)", "A*x.*y + B*(x.*y)"])
def test_latex_grouping_follows_the_precedence_table(text: str) -> None:
    from matdiff._printing import layout

    _check_grouping(layout(md.parse(text)))
    assert md.parse("A*(x.*y)").to_latex() == r"A \left(x \odot y\right)"


@settings(max_examples=150, deadline=None)
@given(cases(kinds=("vector", "matrix")))
def test_latex_grouping_of_random_derivatives(case) -> None:
    from matdiff._printing import layout

    _, expr, _ = case
    for name in expr.variables:
        _check_grouping(layout(md.diff(expr, name)))


def test_a_four_dimensional_derivative_shows_its_kronecker_form() -> None:
    """d(A*X*B)/dX prints in index notation; the command line and the JSON give its matrix form beside it,
    kron(B', A), the matrix of d vec(F)/d vec(X) under column-major vec (checked against NumPy)."""
    from typer.testing import CliRunner

    from matdiff import _service, cli

    rng = np.random.default_rng(2)
    A, X, B = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    derived = _service.derive("A*X*B", wrt=["X"])
    data = _service.derivative_json(derived)
    assert data["derivative"].startswith("D[") and data["kronecker"]["text"] == "kron(B', A)"
    assert data["kronecker"]["latex"] == r"B^{\top} \otimes A"
    D = derived.derivative.evaluate({"A": A, "X": X, "B": B})
    np.testing.assert_allclose(D.reshape((2 * 5, 3 * 4), order="F"), np.kron(B.T, A), rtol=1e-12)
    result = CliRunner().invoke(cli.app, ["diff", "A*X*B", "--wrt", "X"])
    assert result.exit_code == 0 and "vec form:   kron(B', A)" in result.stdout
    assert _service.derivative_json(_service.derive("x'*A*x", wrt=["x"]))["kronecker"] is None
