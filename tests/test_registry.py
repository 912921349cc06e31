"""The operation registry: every operation has every facet, and each facet works.

Values are compared with NumPy references (the table in test_rules), derivatives with central
differences of those references, LaTeX with the spellings a textbook uses; nothing here compares the
engine with itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pytest

import matdiff as md
from matdiff._expr import rebuild
from matdiff._registry import REAL, REGISTRY, Domain, Kind, UnknownOperation, lookup, register

from .helpers import central_difference, load_script
from .test_rules import ELEMENTWISE

FUNCTIONS = [op for op in REGISTRY.values() if op.kind is not Kind.COMPOSITE]
ELEMENTWISE_OPS = [op for op in REGISTRY.values() if op.kind is Kind.ELEMENTWISE]


def _values(op, n: int = 4, seed: int = 0) -> np.ndarray:
    """Entries inside the operation's domain, as md.check draws them (positive, unit, away from 0)."""
    rng = np.random.default_rng(seed)
    if op.domain.draw == "positive":
        return rng.uniform(0.5, 1.5, n)
    if op.domain.draw == "unit":
        return rng.uniform(-0.8, 0.8, n)
    if op.domain.draw == "away":
        return rng.choice([-1.0, 1.0], n) * rng.uniform(0.3, 1.5, n)
    return rng.normal(size=n)


# Completeness ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", list(REGISTRY.values()), ids=lambda op: op.name)
def test_every_operation_has_every_facet(op) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9]*", op.name)
    assert isinstance(op.kind, Kind) and isinstance(op.domain, Domain)
    assert op.doc and op.doc.endswith(".") and op.latex
    assert callable(op.build)
    assert getattr(md, op.python) is not None and op.python in md.__all__
    assert isinstance(op.codegen, Mapping)  # room for the code-generation spellings
    if op.kind is not Kind.COMPOSITE:
        assert callable(op.value) and callable(op.derivative) and op.identity
        assert op.step_name


def test_every_elementwise_function_has_a_reference_row() -> None:
    """Adding a function means adding its test row: test_rules' table covers the registry exactly."""
    assert {op.name for op in ELEMENTWISE_OPS} == set(ELEMENTWISE)


def test_lookup_raises_for_an_unknown_operation() -> None:
    with pytest.raises(UnknownOperation, match="unknown operation 'cosec'"):
        lookup("cosec")
    assert issubclass(UnknownOperation, md.MatdiffError)


def test_an_operation_is_declared_once() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        register(REGISTRY["sin"])
    with pytest.raises(ValueError, match="declared twice"):
        register(md.Operation("einsum", Kind.ELEMENTWISE, "A clash.", r"\e", np.exp, lambda y, x: y, "e' = e"))


def test_the_parser_knows_exactly_the_registry() -> None:
    with pytest.raises(md.ParseError) as info:
        md.parse("cosec(x)")
    listed = re.search(r"\(known: (.*)\)", str(info.value)).group(1).split(", ")
    assert sorted(listed) == sorted(REGISTRY)


# Facets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ELEMENTWISE_OPS, ids=lambda op: op.name)
def test_value_and_python_spelling(op) -> None:
    reference = ELEMENTWISE[op.name][0]
    x = _values(op)
    from_text = md.parse(f"{op.name}(x)", x="vector")
    from_python = getattr(md, op.python)(md.vector("x"))
    assert from_python is from_text  # one node: md.NAME and the syntax build the same thing
    np.testing.assert_allclose(from_text.evaluate({"x": x}), reference(x), rtol=1e-12, atol=1e-300)
    assert op.name in (getattr(md, op.python).__doc__ or "")


@pytest.mark.parametrize("op", ELEMENTWISE_OPS, ids=lambda op: op.name)
def test_derivative_against_finite_differences(op) -> None:
    reference = ELEMENTWISE[op.name][0]
    x = _values(op, seed=1)
    gradient = md.diff(f"sum({op.name}(x))", "x", x="vector").evaluate({"x": x})
    expected = central_difference(lambda v: np.sum(reference(v["x"])), {"x": x}, "x")
    np.testing.assert_allclose(gradient, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("op", FUNCTIONS, ids=lambda op: op.name)
def test_explanation_names_the_registered_identity(op) -> None:
    text = f"sum({op.name}(x))" if op.kind is not Kind.MATRIX else f"sum({op.name}(X))"
    wrt = "x" if op.kind is not Kind.MATRIX else "X"
    derivation = md.explain(text, wrt)
    step = next(s for s in derivation.steps if s.of.op == op.name)
    assert step.rule == op.step_name and op.identity in step.identity


@pytest.mark.parametrize("op", FUNCTIONS, ids=lambda op: op.name)
def test_check_draws_values_in_the_domain(op) -> None:
    text, wrt = (f"sum({op.name}(x))", "x") if op.kind is not Kind.MATRIX else (f"sum({op.name}(X))", "X")
    report = md.check(text, wrt, seed=3)
    assert report, str(report)
    drawn = np.asarray(report.values[wrt])
    assert op.domain.contains(drawn)


TEXTBOOK_LATEX = {  # how the new functions print: a command where LaTeX has one, \operatorname otherwise
    "sinh": r"\sinh\left(x\right)",
    "cosh": r"\cosh\left(x\right)",
    "arcsinh": r"\operatorname{arcsinh}\left(x\right)",
    "log1p": r"\operatorname{log1p}\left(x\right)",
    "expm1": r"\operatorname{expm1}\left(x\right)",
    "softplus": r"\operatorname{softplus}\left(x\right)",
    "sqrt": r"\sqrt{x}",
    "abs": r"\left|x\right|",
    "sigmoid": r"\sigma\left(x\right)",
}


@pytest.mark.parametrize("op", FUNCTIONS, ids=lambda op: op.name)
def test_latex_is_a_command_or_operatorname(op) -> None:
    arg = "X" if op.kind is Kind.MATRIX else "x"
    latex = md.parse(f"{op.name}({arg})").to_latex()
    assert latex.startswith("\\") or latex.startswith(arg), latex  # never a bare name such as sinh\left(
    assert not re.match(r"[a-z]{2,}\\left", latex)
    if op.name in TEXTBOOK_LATEX:
        assert latex == TEXTBOOK_LATEX[op.name]


@pytest.mark.parametrize("op", FUNCTIONS, ids=lambda op: op.name)
def test_text_round_trip(op) -> None:
    arg = "X" if op.kind is Kind.MATRIX else "x"
    expr = md.parse(f"{op.name}({arg})")
    assert str(expr) == f"{op.name}({arg})"


def test_domains_reject_what_they_exclude() -> None:
    def inside(name: str, value) -> bool:
        return REGISTRY[name].domain.contains(np.asarray(value, dtype=float))

    assert inside("log", [0.5, 2.0]) and not inside("log", [-1.0])
    assert inside("log1p", [-0.5]) and not inside("log1p", [-1.5])
    assert inside("arcsin", [0.5]) and not inside("arcsin", [0.99])
    assert inside("logdet", np.eye(3)) and not inside("logdet", -np.eye(3))  # det(-I) = -1 for n = 3
    assert not inside("inv", [[1.0, 1.0], [1.0, 1.0]])
    assert REAL.contains(np.array([1e300, -1e300]))


# The six functions added through the registry ---------------------------------------------------------


def test_softplus_is_stable_at_large_arguments() -> None:
    x = np.array([-700.0, -30.0, 0.0, 30.0, 700.0])
    f = md.softplus(md.vector("x"))
    with np.errstate(all="raise"):  # no overflow anywhere
        value = f.evaluate({"x": x})
        gradient = md.diff(md.sum(f), "x").evaluate({"x": x})
        hessian = md.diff(md.sum(f), "x", "x").evaluate({"x": x})
    # softplus(x) = max(x, 0) + log1p(e^-|x|) and sigmoid(x) = 1/(1 + e^-x) = e^x/(1 + e^x): written without
    # overflow, and to full relative precision in both tails
    tail = np.exp(-np.abs(x))
    np.testing.assert_allclose(value, np.maximum(x, 0.0) + np.log1p(tail), rtol=1e-15)
    np.testing.assert_allclose(gradient, np.where(x >= 0, 1.0, tail) / (1.0 + tail), rtol=1e-14)
    # the curvature sigmoid*(1 - sigmoid) = e^-|x|/(1 + e^-|x|)^2; 1 - sigmoid cancels in the far tails,
    # so it is checked absolutely there (its largest value is 1/4)
    np.testing.assert_allclose(np.diag(hessian), tail / (1.0 + tail) ** 2, rtol=1e-12, atol=1e-16)


def test_log1p_and_expm1_keep_precision_for_small_arguments() -> None:
    x = np.array([1e-12, -3e-10, 2e-8])
    np.testing.assert_allclose(md.log1p(md.vector("x")).evaluate({"x": x}), x - x**2 / 2, rtol=1e-15)
    np.testing.assert_allclose(md.expm1(md.vector("x")).evaluate({"x": x}), x + x**2 / 2, rtol=1e-15)


def test_new_functions_compose_with_the_rest() -> None:
    """d/dX of sum(softplus(X*w)) is softplus' = sigmoid, chained through the product: sigmoid(Xw) w'."""
    X, w = np.arange(6.0).reshape(3, 2) / 5, np.array([0.3, -0.7])
    derivative = md.diff("sum(softplus(X*w))", "X").evaluate({"X": X, "w": w})
    expected = central_difference(lambda v: np.sum(np.log(1.0 + np.exp(v["X"] @ w))), {"X": X}, "X")
    np.testing.assert_allclose(derivative, expected, rtol=1e-7)
    assert str(md.diff("sum(cosh(x))", "x")) == "sinh(x)"
    assert str(md.diff("sum(sinh(x))", "x")) == "cosh(x)"


def test_constants_fold_through_the_registered_values() -> None:
    assert float(md.parse("sinh(0) + cosh(0) + log1p(0) + expm1(0)").evaluate({})) == 1.0
    assert md.parse("softplus(0)").evaluate({}) == pytest.approx(np.log(2.0), rel=1e-15)


# docs/syntax.md -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table_script():
    return load_script("make_function_table")


def test_the_function_table_in_the_docs_is_the_registry(table_script) -> None:
    ok, message = table_script.check_page()
    assert ok, message
    page = table_script.PAGE.read_text(encoding="utf-8")
    for op in REGISTRY.values():
        assert f"| `{op.name}(x)` | `md.{op.python}` |" in page


def test_a_stale_function_table_is_reported(table_script, tmp_path) -> None:
    page = tmp_path / "syntax.md"
    page.write_text(f"text\n{table_script.BEGIN}\n| old |\n{table_script.END}\n", encoding="utf-8")
    ok, message = table_script.check_page(page)
    assert not ok and table_script.COMMAND in message


# Nothing falls through --------------------------------------------------------------------------------


def test_an_unknown_operation_is_refused_everywhere() -> None:
    """A node whose operation nobody declared cannot be evaluated, differentiated, rebuilt or printed."""
    x = md.vector("x")
    rogue = md.Expr("cosec", (x,), (), x.shape)
    with pytest.raises(UnknownOperation):
        rogue.evaluate({"x": np.ones(2)})
    with pytest.raises(md.DiffError, match="no derivative rule for the operation 'cosec'"):
        md.diff(md.sum(rogue), "x")
    with pytest.raises(UnknownOperation):
        rebuild(rogue, (md.exp(x),))
    with pytest.raises(UnknownOperation):
        str(rogue)
    with pytest.raises(UnknownOperation):
        rogue.to_latex()


def test_md_gets_the_operations_and_nothing_else_from_their_module() -> None:
    for helper in ("np", "E", "register", "Kind", "Operand", "linear", "REAL", "POSITIVE", "as_expr"):
        assert not hasattr(md, helper), f"md.{helper} leaked from _ops"
    for op in REGISTRY.values():  # md.sin is the registered operation; md.trace the composite's builder
        assert getattr(md, op.python) is (op.build if op.kind is Kind.COMPOSITE else op)
