"""Pathological input gets the right answer or a clear md.MatdiffError, quickly: regression tests for the
reliability issue's engine items, and for md.limits.

Expected values come from NumPy (matrix_power, SciPy-style logsumexp) and from the definitions; nothing
here compares the engine with itself.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from typer.testing import CliRunner

import matdiff as md
from matdiff import _parser as parser_module
from matdiff import cli

# 1, 6, 9: constants that are not finite real numbers -------------------------------------------


@pytest.mark.parametrize(
    "text, culprit",
    [
        ("t/(arcsin(2)*B)", "arcsin(2)"),
        ("arcsin(2)*B", "arcsin(2)"),
        ("log(-1)*B", "log(-1)"),
        ("sqrt(-1)*A", "sqrt(-1)"),
        ("x^1e999", "the number 1e999"),
        ("x/0", "division by zero"),
        ("0/0", "division by zero"),
        ("x^(1e200*1e200)", "a product of constants"),
    ],
)
def test_a_constant_that_is_not_finite_is_a_clear_error(text: str, culprit: str) -> None:
    with pytest.raises(md.EvaluationError) as info:
        md.parse(text)
    message = str(info.value)
    assert culprit in message and "not a finite real number" in message
    assert message.splitlines()[-1].strip() == "^"  # with a caret under the part that folded


def test_python_built_constants_are_checked_too() -> None:
    x = md.vector("x")
    with pytest.raises(md.EvaluationError, match="log"):
        md.log(md.parse("0")) * x
    with pytest.raises(md.EvaluationError, match="division by zero"):
        x / 0


def test_symbolic_cancellation_follows_algebra() -> None:
    """t - t is 0 and t/t is 1, as in SymPy: simplification assumes finite values and nonzero divisors
    (documented in docs/syntax.md); a constant 0/0 is an error, above."""
    t = {"t": 0.7}
    assert float(md.parse("t - t", t="scalar").evaluate(t)) == 0.0
    assert float(md.parse("t/t", t="scalar").evaluate(t)) == 1.0


# 2: the kind search is bounded ---------------------------------------------------------------------


def test_kind_search_finds_many_powers_at_once() -> None:
    text = "+".join(f"a{i}^b{i}" for i in range(20))
    expr = md.parse(text)
    assert set(expr.variables.values()) == {"scalar"} and len(expr.variables) == 40
    values = {f"{p}{i}": 1.0 + i / 10 for i in range(20) for p in "ab"}
    expected = sum((1 + i / 10) ** (1 + i / 10) for i in range(20))
    assert float(expr.evaluate(values)) == pytest.approx(expected, rel=1e-14)


def test_kind_search_gives_up_after_a_bounded_number_of_readings(monkeypatch) -> None:
    builds = []
    real_build = parser_module._build
    monkeypatch.setattr(parser_module, "_build", lambda *a: builds.append(1) or real_build(*a))
    text = "+".join(f"a{i}^b{i}" for i in range(12)) + " + A*x*y"  # A*x*y never type-checks
    with pytest.raises(md.ShapeError):
        md.parse(text)
    assert len(builds) == parser_module._SEARCH_LIMIT


# 3: matrix powers by repeated squaring, with a bound --------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 2, 5, 13, 64, 100, -1, -6])
def test_matrix_powers(k: int) -> None:
    A = np.array([[0.9, 0.2, 0.0], [-0.1, 0.8, 0.3], [0.05, 0.0, 0.7]])
    got = md.parse(f"A^({k})").evaluate({"A": A})
    np.testing.assert_allclose(got, np.linalg.matrix_power(A, k), rtol=1e-10, atol=1e-300)


def test_a_large_matrix_power_is_small_and_its_bound_is_clear() -> None:
    assert md.parse("A^10000").depth < 40  # about 2 log2(k) products, not k - 1
    for text in ("A^100000", "A^1e308", "A^(-20000)"):
        with pytest.raises(md.LimitError, match="max_matrix_power"):
            md.parse(text)
    with md.limits.raised(max_matrix_power=100_000):
        assert md.parse("A^100000").depth < 50


# 4: long sums ---------------------------------------------------------------------------------------------


def test_long_sums_build_in_near_linear_time() -> None:
    """5,000 terms of distinct variables and of one variable: the sum is right (and is built balanced,
    so this takes about a second where the binary chain took minutes)."""
    n = 5000
    distinct = md.parse(" + ".join(f"x{i}" for i in range(n)))
    values = {f"x{i}": np.full(2, float(i)) for i in range(n)}
    np.testing.assert_allclose(distinct.evaluate(values), np.full(2, n * (n - 1) / 2))
    same = md.parse(" - ".join("x" for _ in range(n)))
    np.testing.assert_allclose(same.evaluate({"x": np.ones(2)}), np.full(2, 1 - (n - 1)))


def test_a_chain_keeps_its_signs() -> None:
    v = {"a": 1.0, "b": 2.0, "c": 4.0, "d": 8.0, "e": 16.0, "f": 32.0}
    kinds = dict.fromkeys(v, "scalar")
    expr = md.parse("a - b + c - (d - e) - f", **kinds)
    assert float(expr.evaluate(v)) == 1 - 2 + 4 - (8 - 16) - 32


# 7, 8: values that are not real numbers; empty inputs ------------------------------------------------------


@pytest.mark.parametrize(
    "value, says",
    [
        (np.array([1j, 1, 1]), "complex"),
        ([None, 1.0, 2.0], "None"),
        (np.array([1.0, None], dtype=object), "None"),
        (["a", "b"], "text"),
        ([[1.0, 2.0], [3.0]], "not a numeric array"),
    ],
)
def test_values_that_are_not_real_numbers_are_refused(value, says: str) -> None:
    x = md.vector("x")
    with pytest.raises(md.EvaluationError, match=says):
        (x.T @ x).evaluate({"x": value})


def test_numbers_of_any_real_dtype_are_accepted() -> None:
    x = md.vector("x")
    for value in ([1, 2], np.array([1, 2], dtype=np.int8), np.array([True, False]), np.array([1.0, 2.0], dtype=object)):
        expected = float(np.sum(np.asarray(value, dtype=float) ** 2))
        assert float((x.T @ x).evaluate({"x": value})) == expected


def test_empty_inputs() -> None:
    x = md.vector("x")
    empty = np.zeros(0)
    assert md.softmax(x).evaluate({"x": empty}).shape == (0,)
    assert float(md.logsumexp(x).evaluate({"x": empty})) == -np.inf  # log of an empty sum, as SciPy
    assert md.evaluate([], {}) == []
    with pytest.raises(md.ArgumentError, match="values must map"):
        md.evaluate([x], [1.0, 2.0])


def test_logsumexp_of_infinities_matches_numpy() -> None:
    x = md.vector("x")
    for value, expected in (([-np.inf, -np.inf], -np.inf), ([np.inf, 1.0], np.inf), ([-np.inf, 0.0], 0.0)):
        with np.errstate(divide="ignore"):
            reference = np.log(np.sum(np.exp(np.asarray(value))))
        assert float(md.logsumexp(x).evaluate({"x": np.asarray(value)})) == expected == reference


# 11: the command line never prints a traceback for these ------------------------------------------------


@pytest.mark.parametrize(
    "args, exit_code",
    [
        (["diff", "text'*x", "--wrt", "x", "--kind", "text=vector"], 0),
        (["diff", "arcsin(2)*B", "--wrt", "B"], 1),
        (["diff", "x^1e999", "--wrt", "x"], 1),
        (["diff", "A^1e308", "--wrt", "A"], 1),
    ],
)
def test_the_command_line_answers_without_a_traceback(args: list[str], exit_code: int) -> None:
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # typer's exit, not a crash
    if exit_code == 0:
        assert "d/dx:" in result.stdout and "text" in result.stdout


def test_a_variable_may_be_called_like_a_parameter() -> None:
    """kinds are keywords, so the entry points take the expression positionally only."""
    expr = md.parse("text'*x", text="vector")
    assert expr.variables == {"text": "vector", "x": "vector"}
    gradient = md.diff("expr*x'*x", "x", expr="scalar").evaluate({"expr": 2.0, "x": np.array([1.0, 2.0])})
    np.testing.assert_allclose(gradient, 2 * 2.0 * np.array([1.0, 2.0]))


# 12: md.check keeps its arrays small --------------------------------------------------------------------------


def test_check_lowers_sizes_to_stay_within_its_entry_bound() -> None:
    text = "a'*X*b*c'*Y*d*e'*Z*f"
    with md.limits.raised(max_check_entries=200):
        report = md.check(text, "X", "Z", seed=2)
    assert report, str(report)
    assert np.prod(report.shape) <= 200  # the 4-D second derivative, at lowered sizes
    unbounded = md.check(text, "X", "Z", seed=2)
    assert np.prod(unbounded.shape) > 200


# Limits: derivation size and depth ---------------------------------------------------------------------------------


def test_a_derivative_that_grows_past_the_node_limit_stops_clearly() -> None:
    start = time.monotonic()
    with md.limits.raised(max_nodes=300), pytest.raises(md.LimitError, match="max_nodes"):
        md.diff("det(X*X'*X + inv(X))", "X", "X", "X")
    assert time.monotonic() - start < 30  # stopped, not hung


def test_depth_limit() -> None:
    x = md.vector("x")
    expr = x
    with md.limits.raised(max_depth=500), pytest.raises(md.LimitError, match="max_depth"):
        for _ in range(1000):
            expr = md.sin(expr)


def test_limits_refuse_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="positive whole number"):
        md.limits.max_nodes = 0
    with pytest.raises(AttributeError, match="no limit"):
        md.limits.max_nodez = 5
    assert md.limits.max_nodes == md.Limits().max_nodes


# Found by differential testing against JAX -------------------------------------------------------------------------


def test_a_row_to_the_power_zero_stays_a_row() -> None:
    expr = md.parse("x' + x'.^0")
    assert expr.kind == "row"
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(expr.evaluate({"x": x}), x + 1)


@pytest.mark.parametrize("text", ["x'*x*tr(A^0)", "sum(x)*tr(A^0)"])
def test_an_identity_whose_size_nothing_in_the_text_fixes(text: str) -> None:
    """A^0 is eye of A's size; it prints as eye (no size witness), so the printed text names the constant and
    not its size: the expression evaluates, the text alone says clearly that eye's size is not fixed."""
    values = {"x": np.array([1.0, 2.0, 3.0]), "A": np.eye(4)}
    expr = md.parse(text)
    expected = (14.0 if "x'*x" in text else 6.0) * 4  # tr(I_4) = 4
    assert float(expr.evaluate(values)) == expected
    printed = str(expr)
    assert "tr(eye)" in printed and "^0" not in printed
    with pytest.raises(md.EvaluationError, match="the size of eye is not fixed by any variable"):
        md.parse(printed).evaluate(values)


def test_json_output_of_a_limit_error() -> None:
    result = CliRunner().invoke(cli.app, ["diff", "A^100000", "--wrt", "A", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["type"] == "LimitError"


def test_an_identity_folded_away_leaves_its_partner_s_size() -> None:
    """eye*t is t: its length is t's, so evaluating it needs no value for the matrix that sized the eye."""
    expr = md.parse("(X^0)*-t")
    np.testing.assert_allclose(expr.evaluate({"t": np.array([1.0, 2.0])}), [-1.0, -2.0])
    assert expr.variables == {"t": "vector"}


@pytest.mark.parametrize("text", ["log(0)", "arcsin(2)*B", "cos(1e308).^cos(1e308)+eye+x", "(-2)^0.5*x", "100^200"])
def test_folding_raises_no_numpy_warning(text: str) -> None:
    """The suite turns warnings into errors: folding must report its own clear error, not a RuntimeWarning."""
    with pytest.raises(md.EvaluationError, match="not a finite real number"):
        md.parse(text)


def test_a_function_of_a_zero_tensor_is_checked_like_a_constant() -> None:
    """0.^x is exp(x.*log(0)): log of the zero vector is -inf in every entry, a clear error, not a warning."""
    for text in ("t./0.^x+S", "log(0*x)"):
        with pytest.raises(md.EvaluationError, match=r"log\(0\) gives -inf"):
            md.parse(text)
    x = np.array([0.5, -1.0])
    np.testing.assert_allclose(md.parse("cos(0*x)").evaluate({"x": x}), np.ones(2))
