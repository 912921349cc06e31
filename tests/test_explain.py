"""md.explain, md.explain_limit and md.explain_chain: every step is checked numerically.

Expected values are independent of the engine: NumPy closed forms, and central differences of plain
evaluation (tests/helpers.py). A step's result is compared with the finite-difference derivative of
that step's own `of`, and its differential with a finite difference of `of` along a random direction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import matdiff as md

from .helpers import central_difference, symmetric_central_difference


def assert_fd(got, expected, rtol=1e-6):
    """Compare with a finite-difference reference (relative tolerance about 1e-6)."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-7 * scale)


def assert_closed(got, expected):
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-11)


def spd(rng, n):
    M = rng.normal(size=(n, n))
    return M @ M.T / n + np.eye(n)


def sym(rng, n):
    M = rng.normal(size=(n, n))
    return (M + M.T) / 2


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def fd(expr: md.Expr, values: dict, variable: md.Expr) -> np.ndarray:
    """d expr / d variable by central differences of plain evaluation; symmetric matrices move in pairs."""
    name, kind = variable.attrs[0], variable.attrs[1]
    difference = symmetric_central_difference if kind == "symmetric" else central_difference
    return difference(expr.evaluate, values, name)


def directional_difference(f: Callable[[dict], np.ndarray], values: dict, name: str, direction, h=1e-5):
    """(d/de) f(values with name + e*direction) at e = 0, by the five-point central difference."""
    base = {k: np.array(v, dtype=float) for k, v in values.items()}
    x = base[name]

    def at(e):
        return np.asarray(f({**base, name: x + e * np.asarray(direction)}), dtype=float)

    return (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h)


def random_direction(variable: md.Expr, value, rng):
    shape = np.shape(value)
    direction = rng.normal(size=shape) if shape else float(rng.normal())
    if variable.attrs[1] == "symmetric":
        direction = (direction + direction.T) / 2
    return direction


# The table -----------------------------------------------------------------------------------------


@dataclass
class Case:
    text: str
    wrt: tuple[str, ...]
    values: Callable[[np.random.Generator], dict]
    closed: Callable[[dict], np.ndarray]
    kinds: dict = field(default_factory=dict)
    rules: tuple[str, ...] = ()  # rule names (or prefixes ending in "*") that must appear


S2 = dict(x="scalar", y="scalar")
X12 = dict(x1="scalar", x2="scalar")


def _inv_bilinear(v):
    Xi = np.linalg.inv(v["X"])
    return -Xi.T @ np.outer(v["a"], v["b"]) @ Xi.T


def _inv_tensor(v):
    Xi = np.linalg.inv(v["X"])
    return -np.einsum("ik,lj->ijkl", Xi, Xi)


def _sigmoid_layer(v):
    s = sigmoid(v["W"] @ v["x"] + v["b"])
    return np.einsum("i,ik,l->ikl", s * (1 - s), np.eye(len(s)), v["x"])


def _btb(v):
    B = v["B"]
    n = B.shape[1]
    eye = np.eye(n)
    return np.einsum("jp,iq->pqij", eye, B) + np.einsum("jq,ip->pqij", eye, B)


CASES = {
    "a'inv(X)b": Case(
        "a'*inv(X)*b", ("X",),
        lambda r: {"a": r.normal(size=3), "b": r.normal(size=3), "X": spd(r, 3)},
        _inv_bilinear, rules=("identity*",),
    ),
    "tr(AXB)": Case(
        "tr(A*X*B)", ("X",),
        lambda r: {"A": r.normal(size=(2, 3)), "X": r.normal(size=(3, 4)), "B": r.normal(size=(4, 2))},
        lambda v: v["A"].T @ v["B"].T,
    ),
    "a'Xb": Case(
        "a'*X*b", ("X",),
        lambda r: {"a": r.normal(size=3), "X": r.normal(size=(3, 4)), "b": r.normal(size=4)},
        lambda v: np.outer(v["a"], v["b"]),
    ),
    "x'a": Case("x'*a", ("x",), lambda r: {"x": r.normal(size=4), "a": r.normal(size=4)}, lambda v: v["a"]),
    "x'Bx": Case(
        "x'*B*x", ("x",),
        lambda r: {"x": r.normal(size=4), "B": r.normal(size=(4, 4))},
        lambda v: (v["B"] + v["B"].T) @ v["x"], rules=("identity (quadratic form)",),
    ),
    "weighted-ls": Case(
        "(x-A*s)'*W*(x-A*s)", ("s",),
        lambda r: {"x": r.normal(size=4), "A": r.normal(size=(4, 3)), "s": r.normal(size=3), "W": sym(r, 4)},
        lambda v: -2 * v["A"].T @ v["W"] @ (v["x"] - v["A"] @ v["s"]), kinds=dict(W="symmetric"),
        rules=("product rule", "sum rule"),
    ),
    "det": Case(
        "det(X)", ("X",), lambda r: {"X": spd(r, 3)},
        lambda v: np.linalg.det(v["X"]) * np.linalg.inv(v["X"]).T, rules=("Jacobi's formula",),
    ),
    "logdet": Case("logdet(X)", ("X",), lambda r: {"X": spd(r, 3)}, lambda v: np.linalg.inv(v["X"]).T),
    "logdet-symmetric": Case(
        "logdet(S)", ("S",), lambda r: {"S": spd(r, 3)}, lambda v: np.linalg.inv(v["S"]), kinds=dict(S="symmetric"),
    ),
    "inv": Case("inv(X)", ("X",), lambda r: {"X": spd(r, 3)}, _inv_tensor, rules=("identity*",)),
    "logsumexp": Case(
        "log(sum(exp(x)))", ("x",), lambda r: {"x": r.normal(size=4)}, lambda v: softmax(v["x"]),
        rules=("chain rule (log)", "chain rule (exp)", "linearity (sum)"),
    ),
    "least-squares": Case(
        "norm2(y-P*theta)^2", ("theta",),
        lambda r: {"y": r.normal(size=5), "P": r.normal(size=(5, 3)), "theta": r.normal(size=3)},
        lambda v: -2 * v["P"].T @ (v["y"] - v["P"] @ v["theta"]), rules=("power rule", "sum rule"),
    ),
    "sigmoid-layer": Case(
        "sigmoid(W*x+b)", ("W",),
        lambda r: {"W": r.normal(size=(3, 4)), "x": r.normal(size=4), "b": r.normal(size=3)},
        _sigmoid_layer, rules=("chain rule (sigmoid)", "sum rule"),
    ),
    "Ax-by-x": Case(
        "A*x", ("x",), lambda r: {"A": r.normal(size=(3, 4)), "x": r.normal(size=4)}, lambda v: v["A"],
    ),
    "Ax-by-A": Case(
        "A*x", ("A",), lambda r: {"A": r.normal(size=(3, 4)), "x": r.normal(size=4)},
        lambda v: np.einsum("ik,l->ikl", np.eye(3), v["x"]),
    ),
    "B'B-by-B": Case(
        "B'*B", ("B",), lambda r: {"B": r.normal(size=(4, 3))}, _btb, rules=("product rule",),
    ),
    "(2x+1)^4": Case(
        "(2*x+1)^4", ("x",), lambda r: {"x": float(r.normal())}, lambda v: 8 * (2 * v["x"] + 1) ** 3,
        kinds=dict(x="scalar"), rules=("power rule", "constant multiple rule", "sum rule"),
    ),
    "(x+2y^3)^2-by-x": Case(
        "(x+2*y^3)^2", ("x",), lambda r: {"x": float(r.normal()), "y": float(r.normal())},
        lambda v: 2 * (v["x"] + 2 * v["y"] ** 3), kinds=S2, rules=("power rule", "sum rule"),
    ),
    "(x+2y^3)^2-by-y": Case(
        "(x+2*y^3)^2", ("y",), lambda r: {"x": float(r.normal()), "y": float(r.normal())},
        lambda v: 12 * v["y"] ** 2 * (v["x"] + 2 * v["y"] ** 3), kinds=S2, rules=("power rule", "sum rule"),
    ),
    "x1^2x2+x1x2^3-by-x1": Case(
        "x1^2*x2 + x1*x2^3", ("x1",), lambda r: {"x1": float(r.normal()), "x2": float(r.normal())},
        lambda v: 2 * v["x1"] * v["x2"] + v["x2"] ** 3, kinds=X12, rules=("sum rule",),
    ),
    "x1^2x2+x1x2^3-by-x2": Case(
        "x1^2*x2 + x1*x2^3", ("x2",), lambda r: {"x1": float(r.normal()), "x2": float(r.normal())},
        lambda v: v["x1"] ** 2 + 3 * v["x1"] * v["x2"] ** 2, kinds=X12, rules=("sum rule",),
    ),
    "x/tr(X)": Case(
        "x/tr(X)", ("X",), lambda r: {"x": float(r.normal()), "X": spd(r, 3)},
        lambda v: -v["x"] * np.eye(3) / np.trace(v["X"]) ** 2, kinds=dict(x="scalar"),
        rules=("quotient rule", "trace rule"),
    ),
    "sin/(1+x^2)": Case(
        "sin(x)/(1+x^2)", ("x",), lambda r: {"x": float(r.normal())},
        lambda v: (np.cos(v["x"]) * (1 + v["x"] ** 2) - 2 * v["x"] * np.sin(v["x"])) / (1 + v["x"] ** 2) ** 2,
        kinds=dict(x="scalar"), rules=("quotient rule", "chain rule (sin)"),
    ),
    "sin*exp": Case(
        "sin(x)*exp(x)", ("x",), lambda r: {"x": float(r.normal())},
        lambda v: np.exp(v["x"]) * (np.sin(v["x"]) + np.cos(v["x"])), kinds=dict(x="scalar"),
        rules=("product rule", "chain rule (sin)", "chain rule (exp)"),
    ),
    # second derivatives: the derivation of each further derivative follows the first
    "x'Ax-hessian": Case(
        "x'*A*x", ("x", "x"), lambda r: {"x": r.normal(size=4), "A": r.normal(size=(4, 4))},
        lambda v: v["A"] + v["A"].T, rules=("identity (quadratic form)", "sum rule"),
    ),
    "(2x+1)^4-second": Case(
        "(2*x+1)^4", ("x", "x"), lambda r: {"x": float(r.normal())}, lambda v: 48 * (2 * v["x"] + 1) ** 2,
        kinds=dict(x="scalar"), rules=("power rule",),
    ),
    "x1^2x2+x1x2^3-mixed": Case(
        "x1^2*x2 + x1*x2^3", ("x1", "x2"), lambda r: {"x1": float(r.normal()), "x2": float(r.normal())},
        lambda v: 2 * v["x1"] + 3 * v["x2"] ** 2, kinds=X12,
    ),
    "logsumexp-hessian": Case(
        "log(sum(exp(x)))", ("x", "x"), lambda r: {"x": r.normal(size=4)},
        lambda v: np.diag(softmax(v["x"])) - np.outer(softmax(v["x"]), softmax(v["x"])),
    ),
}  # fmt: skip

EXACT_RULES = {
    "sum rule", "product rule", "quotient rule", "power rule", "trace rule", "transpose rule",
    "constant multiple rule", "Jacobi's formula", "linearity",
}  # fmt: skip
RULE_PREFIXES = ("chain rule (", "identity", "linearity (")


def in_vocabulary(rule: str) -> bool:
    return rule in EXACT_RULES or rule.startswith(RULE_PREFIXES)


def has_rule(derivation: md.Derivation, wanted: str) -> bool:
    rules = [step.rule for step in derivation.steps]
    if wanted.endswith("*"):
        return any(rule.startswith(wanted[:-1]) for rule in rules)
    return wanted in rules


def setup(name: str, seed: int = 0):
    case = CASES[name]
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    return case, md.parse(case.text, **case.kinds), case.values(rng), rng


# Every step, numerically ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_step_result_is_the_derivative_of_its_expression(name, seed):
    case, expr, values, _ = setup(name, seed)
    derivation = md.explain(expr, *case.wrt)
    assert derivation.steps
    for step in derivation.steps:
        assert step.by is not None and step.by.attrs[0] in case.wrt
        got = step.result.evaluate(values)
        assert_fd(got, fd(step.of, values, step.by))


@pytest.mark.parametrize("name", CASES)
def test_every_step_differential_is_the_directional_derivative(name):
    case, expr, values, rng = setup(name, 2)
    for step in md.explain(expr, *case.wrt).steps:
        variable = step.by
        direction = random_direction(variable, values[variable.attrs[0]], rng)
        differential = step.differential
        assert differential is not None and differential.ndim == step.of.ndim
        assert "d" + variable.attrs[0] in differential.free
        got = differential.evaluate({**values, "d" + variable.attrs[0]: direction})
        expected = directional_difference(step.of.evaluate, values, variable.attrs[0], direction)
        assert_fd(got, expected)


@pytest.mark.parametrize("name", CASES)
def test_the_result_is_the_derivative(name):
    case, expr, values, _ = setup(name, 3)
    derivation = md.explain(expr, *case.wrt)
    expected = case.closed(values)
    assert_closed(derivation.result.evaluate(values), expected)
    assert_closed(md.diff(expr, *case.wrt).evaluate(values), expected)
    if len(case.wrt) == 1:  # first derivatives: also against finite differences of the expression
        variable = derivation.steps[0].by
        assert variable.attrs[0] == case.wrt[0]
        assert_fd(derivation.result.evaluate(values), fd(expr, values, variable))
        # the first step is the rule for the whole expression, and its result is the derivative
        assert_closed(derivation.steps[0].of.evaluate(values), expr.evaluate(values))
        assert_closed(derivation.steps[0].result.evaluate(values), expected)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if len(c.wrt) == 2])
def test_second_derivatives_continue_from_the_first(name):
    case, expr, values, _ = setup(name, 4)
    steps = md.explain(expr, *case.wrt).steps
    first = md.explain(expr, case.wrt[0]).steps
    assert len(steps) > len(first)
    assert [s.rule for s in steps[: len(first)]] == [s.rule for s in first]
    # the second pass starts from the first derivative: its expression is d expr/d wrt[0]
    second = steps[len(first)]
    variable = first[0].by
    assert_fd(second.of.evaluate(values), fd(expr, values, variable))
    assert_closed(second.result.evaluate(values), case.closed(values))


# Rule names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_every_rule_is_named_from_the_vocabulary(name):
    case, expr, _, _ = setup(name)
    derivation = md.explain(expr, *case.wrt)
    for step in derivation.steps:
        assert in_vocabulary(step.rule), step.rule
        assert step.identity.strip()
    for wanted in case.rules:
        assert has_rule(derivation, wanted), (wanted, [s.rule for s in derivation.steps])


def test_named_rules_for_the_lecture_cases():
    power = md.explain("(2*x+1)^4", "x", x="scalar")
    assert power.steps[0].rule == "power rule"
    assert {"constant multiple rule", "sum rule"} <= {s.rule for s in power.steps}

    inverse = md.explain("a'*inv(X)*b", "X")
    identities = [s.identity for s in inverse.steps if s.rule.startswith("identity")]
    assert any("inv(U)" in identity for identity in identities)
    inv_step = next(s for s in inverse.steps if s.of.op == "inv")
    assert "d inv(U) = -inv(U) dU inv(U)" in inv_step.identity

    assert md.explain("det(X)", "X").steps[0].rule == "Jacobi's formula"
    assert md.explain("x/tr(X)", "X", x="scalar").steps[0].rule == "quotient rule"
    assert md.explain("sin(x)/(1+x^2)", "x", x="scalar").steps[0].rule == "quotient rule"
    assert md.explain("sin(x)*exp(x)", "x", x="scalar").steps[0].rule == "product rule"
    assert md.explain("tr(X)", "X").steps[0].rule == "trace rule"
    assert md.explain("exp(sin(x))", "x", x="scalar").steps[0].rule == "chain rule (exp)"
    assert md.explain("x^3 + sin(x)", "x", x="scalar").steps[0].rule == "sum rule"


def test_python_built_expressions_explain_too():
    x = md.scalar("x")
    derivation = md.explain(md.sin(x) * md.exp(x), x)
    assert derivation.steps[0].rule == "product rule"
    for v in [-1.3, 0.25, 2.1]:
        assert_closed(derivation.result.evaluate({"x": v}), np.exp(v) * (np.sin(v) + np.cos(v)))


# The limit definition ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 7))
def test_limit_definition(n):
    derivation = md.explain_limit(n)
    steps = derivation.steps
    assert len(steps) >= 3
    for x in [-1.3, 0.4, 1.7]:
        exact = n * x ** (n - 1)
        # the difference quotient approaches n x^(n-1) as h -> 0
        quotient = steps[0].of.evaluate({"x": x, "h": 1e-6})
        assert abs(float(quotient) - exact) < 1e-4 * max(1.0, abs(exact)) * n
        assert_closed(((x + 1e-6) ** n - x**n) / 1e-6, quotient)
        # every step but the limit is exact algebra: its result equals its expression at any h
        for step in steps[:-1]:
            v = {"x": x, "h": 0.3}
            assert_closed(step.result.evaluate(v), step.of.evaluate(v))
            assert_closed(step.of.evaluate(v), ((x + 0.3) ** n - x**n) / 0.3)
        # the limit step: its expression at h = 0 is its result
        assert_closed(steps[-1].of.evaluate({"x": x, "h": 0.0}), steps[-1].result.evaluate({"x": x, "h": 0.0}))
        assert_closed(derivation.result.evaluate({"x": x}), exact)
        assert_closed(steps[-1].result.evaluate({"x": x}), exact)


def test_limit_definition_other_variable_and_text():
    derivation = md.explain_limit(3, "t")
    assert_closed(derivation.result.evaluate({"t": 2.0}), 12.0)
    text = derivation.text()
    assert "binomial" in text and "limit" in text


# The chain rule through named intermediate variables ------------------------------------------------


def check_chain_steps(derivation: md.Derivation, values: dict):
    assert derivation.steps
    for step in derivation.steps:
        assert step.by is not None
        assert_fd(step.result.evaluate(values), fd(step.of, values, step.by))


@pytest.mark.parametrize("t", [-1.3, 0.25, 0.9, 2.1])
def test_chain_example6(t):
    derivation = md.explain_chain("x1^2 + 2*x2", {"x1": "sin(t)", "x2": "cos(t)"}, "t")
    expected = 2 * np.sin(t) * (np.cos(t) - 1)
    assert_closed(derivation.result.evaluate({"t": t}), expected)
    values = {"t": t, "x1": np.sin(t), "x2": np.cos(t)}
    check_chain_steps(derivation, values)
    rules = [s.rule for s in derivation.steps]
    assert "chain rule" in rules
    assert "partial derivative df/dx1" in rules and "partial derivative dx2/dt" in rules
    partial = {s.rule: s for s in derivation.steps}
    assert_closed(partial["partial derivative df/dx1"].result.evaluate(values), 2 * np.sin(t))
    assert_closed(partial["partial derivative df/dx2"].result.evaluate(values), 2.0)
    assert_closed(partial["partial derivative dx1/dt"].result.evaluate(values), np.cos(t))
    assert_closed(partial["partial derivative dx2/dt"].result.evaluate(values), -np.sin(t))
    chain = next(s for s in derivation.steps if s.rule == "chain rule")
    assert "(1 x 2) times (2 x 1)" in chain.identity
    assert_closed(chain.result.evaluate(values), expected)


@pytest.mark.parametrize("t", [-1.3, 0.25, 0.9, 2.1])
def test_chain_example9(t):
    derivation = md.explain_chain("exp(x1*x2^2)", {"x1": "t*cos(t)", "x2": "t*sin(t)"}, "t")
    x1, x2 = t * np.cos(t), t * np.sin(t)
    lecture = np.exp(x1 * x2**2) * (x2**2 * (np.cos(t) - t * np.sin(t)) + 2 * x1 * x2 * (np.sin(t) + t * np.cos(t)))
    assert_closed(derivation.result.evaluate({"t": t}), lecture)
    check_chain_steps(derivation, {"t": t, "x1": x1, "x2": x2})
    partial = {s.rule: s for s in derivation.steps}
    values = {"t": t, "x1": x1, "x2": x2}
    assert_closed(partial["partial derivative df/dx1"].result.evaluate(values), x2**2 * np.exp(x1 * x2**2))
    assert_closed(partial["partial derivative df/dx2"].result.evaluate(values), 2 * x1 * x2 * np.exp(x1 * x2**2))


def test_chain_two_parameters_gives_a_row():
    # f(x1, x2) = x1*x2^2 + sin(x1) with x1 = s*t, x2 = s + t^2 (lecture example 7)
    derivation = md.explain_chain("x1*x2^2 + sin(x1)", {"x1": "s*t", "x2": "s + t^2"}, "s", "t")
    assert isinstance(derivation.result, tuple) and len(derivation.result) == 2
    rng = np.random.default_rng(7)
    for s, t in rng.normal(size=(4, 2)):
        a, b = s * t, s + t**2
        df_dx = np.array([b**2 + np.cos(a), 2 * a * b])  # 1 x 2
        dx_dst = np.array([[t, s], [1.0, 2 * t]])  # 2 x 2
        got = np.array([r.evaluate({"s": s, "t": t}) for r in derivation.result])
        assert_closed(got, df_dx @ dx_dst)
        composed = md.parse("(s*t)*(s + t^2)^2 + sin(s*t)", s="scalar", t="scalar")
        fd_row = np.array([fd(composed, {"s": s, "t": t}, md.scalar(w)) for w in "st"])
        assert_fd(got, fd_row)
        check_chain_steps(derivation, {"s": s, "t": t, "x1": a, "x2": b})
    chains = [st for st in derivation.steps if st.rule == "chain rule"]
    assert len(chains) == 2 and all("(1 x 2) times (2 x 2)" in st.identity for st in chains)
    assert "[" in derivation.text().splitlines()[-1]


# Formats and errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a'inv(X)b", "det", "sigmoid-layer", "(2x+1)^4", "x'Ax-hessian"])
def test_formats(name):
    case, expr, _, _ = setup(name)
    derivation = md.explain(expr, *case.wrt)
    text, markdown, latex = derivation.text(), derivation.markdown(), derivation.latex()
    for out in (text, markdown, latex, str(derivation)):
        assert isinstance(out, str) and out.strip()
    assert str(derivation) == text
    for step in derivation.steps:
        assert step.rule in markdown and step.rule in text
        assert isinstance(step.text(), str) and isinstance(step.latex(), str)
    assert derivation._repr_markdown_() == markdown
    assert derivation._repr_latex_().startswith("$$") and derivation._repr_latex_().endswith("$$")
    assert latex.startswith(r"\begin{aligned}")
    assert len(derivation) == len(derivation.steps) and list(derivation) == list(derivation.steps)


def test_formats_of_limit_and_chain():
    for derivation in [
        md.explain_limit(4),
        md.explain_chain("x1^2 + 2*x2", {"x1": "sin(t)", "x2": "cos(t)"}, "t"),
        md.explain_chain("x1*x2", {"x1": "s*t", "x2": "s + t"}, "s", "t"),
    ]:
        for out in (derivation.text(), derivation.markdown(), derivation.latex(), derivation._repr_latex_()):
            assert isinstance(out, str) and out.strip()
        for step in derivation.steps:
            assert step.rule in derivation.markdown()


def test_errors():
    with pytest.raises(md.DiffError):
        md.explain("x'*a")
    with pytest.raises(md.DiffError):
        md.explain("x'*a", "z")
    with pytest.raises(md.MatdiffError):
        md.explain_limit(0)
    with pytest.raises(md.MatdiffError):
        md.explain_limit(-2)
    with pytest.raises(md.DiffError):
        md.explain_chain("x1^2", {"x1": "sin(t)"})
