"""Bad input gives a clear matdiff error: parse, shape, evaluation, differentiation and nesting."""

from __future__ import annotations

import builtins
import re

import numpy as np
import pytest

import matdiff as md

# ---------------------------------------------------------------------------------------------
# Parse errors: position and caret line


def _caret_points_at(message: str, text: str, position: int) -> None:
    """Some line of the message shows the input around `position`, with a caret under it on the next."""
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    source = text[line_start : line_end if line_end != -1 else len(text)]
    column = position - line_start
    before, after = source[:column][-20:], source[column:][:20]
    lines = message.splitlines()
    for shown, caret in zip(lines, lines[1:]):
        if caret.strip() != "^":
            continue
        at = caret.index("^")
        if (
            shown[:at].endswith(before)
            and shown[at:].startswith(after)
            and shown[at:].rstrip() != ""
            or (not after and shown[:at].endswith(before) and shown[at:].strip() == "")
        ):
            return
    raise AssertionError(f"no caret under position {position} of {text!r} in:\n{message}")


PARSE_ERRORS = [  # text, position of the offending character (len(text) for an early end)
    ("(x + y", 6),
    ("((x + y)", 8),
    ("x + y)", 5),
    ("sin(x))", 6),
    ("x +", 3),
    ("x * ", 4),
    ("A*x -", 5),
    ("x $ y", 2),
    ("x + y # z", 6),
    ("x; y", 1),
    ("x + \u00e9", 4),
    ("foo(x)", 0),
    ("x + foo(y)", 4),
    ("sin(cosec(x))", 4),
    ("x + sin", 4),
    ("x ** 2", 3),
    ("x +\ny $", 6),
    ("x +\n* y", 4),
    ("x" + " + x" * 60 + " + $", 4 * 60 + 4),
]


@pytest.mark.parametrize("text,position", PARSE_ERRORS)
def test_parse_error_position_and_caret(text: str, position: int) -> None:
    with pytest.raises(md.ParseError) as info:
        md.parse(text)
    error = info.value
    assert error.position == position
    assert error.text == text
    assert isinstance(error, md.MatdiffError)
    _caret_points_at(str(error), text, position)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_input(text: str) -> None:
    with pytest.raises(md.ParseError) as info:
        md.parse(text)
    assert 0 <= info.value.position <= len(text)
    assert "^" in str(info.value)


def test_unknown_function_is_named() -> None:
    with pytest.raises(md.ParseError, match="foo"):
        md.parse("x + foo(y)")


def test_function_name_used_as_variable() -> None:
    with pytest.raises(md.ParseError) as info:
        md.parse("x + sin")
    assert "sin" in str(info.value)


@pytest.mark.parametrize("value", [None, 3, b"x", ["x"]])
def test_non_text_input(value) -> None:
    with pytest.raises(md.MatdiffError):
        md.parse(value)


def test_unknown_kind() -> None:
    with pytest.raises(md.MatdiffError, match="tensor"):
        md.parse("x + y", x="tensor")


@pytest.mark.parametrize(
    "text", ["sin(x, y)", "tr(A, B)", "inv()", "(x+matrix(0,x))", "vector(1, 2)", "matrix(1, 2, 3) + A"]
)
def test_wrong_number_of_arguments(text: str) -> None:
    # vector(c) and matrix(c) take sizes after c in Python; from the text, a second argument was taken for a
    # size and failed later with a TypeError (found by the parser fuzzer)
    with pytest.raises(md.MatdiffError, match="takes one argument|unexpected"):
        md.parse(text)


# ---------------------------------------------------------------------------------------------
# User text never reaches eval or exec

MALICIOUS = [
    "__import__('os')",
    "__import__('os').system('true')",
    "os.system('true')",
    "x.__class__",
    "exec('1')",
    "eval('1')",
    "open('/etc/passwd')",
    "lambda: 0",
    "[x for x in y]",
    "x if y else z",
    "x; import os",
    "getattr(x, 'y')",
    "{}",
    "`ls`",
]


@pytest.mark.parametrize("text", MALICIOUS)
def test_text_never_reaches_eval(text: str, monkeypatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("user text reached eval/exec/compile")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", forbidden)
    with pytest.raises(md.ParseError):
        md.parse(text)


def test_valid_text_parses_without_eval(monkeypatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("user text reached eval/exec/compile")

    with monkeypatch.context() as patch:
        patch.setattr(builtins, "eval", forbidden)
        patch.setattr(builtins, "exec", forbidden)
        expr = md.parse("x'*A*x + sum(exp(x)) + 2.5e-1")
    x, A = np.array([1.0, 2.0]), np.array([[1.0, 0.5], [0.0, 2.0]])
    np.testing.assert_allclose(expr.evaluate({"x": x, "A": A}), x @ A @ x + np.exp(x).sum() + 0.25)


# ---------------------------------------------------------------------------------------------
# Shape errors name the operands


def _names_in(message: str, *names: str) -> None:
    for name in names:
        assert re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message), (name, message)


def test_matrix_product_with_mismatched_fixed_sizes() -> None:
    A, B = md.matrix("A", 2, 3), md.matrix("B", 2, 4)
    with pytest.raises(md.ShapeError) as info:
        A @ B.T
    message = str(info.value)
    _names_in(message, "A", "B")
    assert "3" in message and "4" in message


def test_text_matrix_product_with_known_sizes_fails_at_evaluation() -> None:
    expr = md.parse("A*B'", A="matrix", B="matrix")
    with pytest.raises(md.EvaluationError) as info:
        expr.evaluate({"A": np.ones((2, 3)), "B": np.ones((2, 4))})
    _names_in(str(info.value), "A", "B")


@pytest.mark.parametrize(
    "build,names",
    [
        (lambda: md.parse("x*y", x="vector", y="vector"), ("x", "y")),
        (lambda: md.parse("x*A", x="vector", A="matrix"), ("x", "A")),
        (lambda: md.parse("A*x'", x="vector", A="matrix"), ("A", "x")),
        (lambda: md.parse("inv(x)", x="vector"), ("x",)),
        (lambda: md.inv(md.vector("x")), ("x",)),
        (lambda: md.parse("tr(x)", x="vector"), ("x",)),
        (lambda: md.tr(md.vector("x")), ("x",)),
        (lambda: md.det(md.vector("x")), ("x",)),
        (lambda: md.logdet(md.vector("x")), ("x",)),
        (lambda: md.parse("x + A", x="vector", A="matrix"), ("x", "A")),
        (lambda: md.vector("x") + md.matrix("A"), ("x", "A")),
        (lambda: md.vector("x") + md.vector("y").T, ("x", "y")),
        (lambda: md.matrix("A", 2, 3) + md.matrix("B", 3, 2), ("A", "B")),
        (lambda: md.matrix("A", 2, 3) * md.matrix("B", 3, 2), ("A", "B")),
        (lambda: md.vector("x", 2) @ md.vector("y", 3), ("x", "y")),
        (lambda: md.tr(md.matrix("A", 2, 3)), ("A",)),
        (lambda: md.inv(md.matrix("A", 2, 3)), ("A",)),
        (lambda: md.diag(md.matrix("A", 2, 3)), ("A",)),
        (lambda: md.softmax(md.matrix("A")), ("A",)),
        (lambda: md.parse("A^B", A="matrix", B="matrix"), ("B",)),
        (lambda: md.parse("x^2", x="vector"), ("x",)),
        (lambda: md.parse("A^x", A="matrix", x="vector"), ("x",)),
        (lambda: md.parse("A / B", A="matrix", B="matrix"), ("B",)),
        (lambda: md.parse("x .* A", x="vector", A="matrix"), ("x", "A")),
    ],
    ids=lambda item: "+".join(item) if isinstance(item, tuple) else "",
)
def test_shape_error_names_operands(build, names) -> None:
    with pytest.raises(md.ShapeError) as info:
        build()
    assert isinstance(info.value, md.MatdiffError)
    _names_in(str(info.value), *names)


def test_shape_error_of_text_shows_caret() -> None:
    with pytest.raises(md.ShapeError) as info:
        md.parse("sin(x) + A", x="vector", A="matrix")
    assert "^" in str(info.value)
    assert "sin(x) + A" in str(info.value)


def test_undeclared_names_change_kind_only_where_a_scalar_is_expected() -> None:
    """x*y of two undeclared vectors is an error, not a guess; a name in a power may become a scalar."""
    with pytest.raises(md.ShapeError) as info:
        md.parse("x*y")
    assert "x'*y" in str(info.value) and "declare kinds" in str(info.value)
    assert md.parse("x^2*y").variables == {"x": "scalar", "y": "vector"}


# ---------------------------------------------------------------------------------------------
# Evaluation errors name the variable


@pytest.mark.parametrize(
    "build,values,names",
    [
        (lambda: md.parse("x'*A*x"), {"x": np.ones(3)}, ("A",)),
        (lambda: md.parse("x'*A*x"), {"A": np.eye(3)}, ("x",)),
        (lambda: md.parse("x'*A*x"), {"x": np.ones((3, 3)), "A": np.eye(3)}, ("x",)),
        (lambda: md.parse("x'*A*x"), {"x": np.ones(3), "A": np.ones(3)}, ("A",)),
        (lambda: md.parse("t*x", t="scalar"), {"t": np.ones(3), "x": np.ones(3)}, ("t",)),
        (lambda: md.vector("x", 3), {"x": np.ones(4)}, ("x",)),
        (lambda: md.matrix("A", 2, 3), {"A": np.ones((3, 2))}, ("A",)),
        (
            lambda: md.parse("x'*S*x", S="symmetric"),
            {"x": np.ones(2), "S": np.array([[1.0, 2.0], [3.0, 4.0]])},
            ("S",),
        ),
        (lambda: md.symmetric("S"), {"S": np.ones((2, 3))}, ("S",)),
        (lambda: md.parse("x'*A*x"), {"x": np.ones(4), "A": np.eye(3)}, ("x", "A")),
        (lambda: md.parse("x + y"), {"x": np.ones(4), "y": np.ones(3)}, ("x", "y")),
        (lambda: md.parse("A + B"), {"A": np.ones((2, 3)), "B": np.ones((3, 2))}, ("A", "B")),
        (lambda: md.parse("A*B"), {"A": np.ones((2, 3)), "B": np.ones((2, 3))}, ("A", "B")),
        (lambda: md.parse("x"), {"x": "abc"}, ("x",)),
        (lambda: md.parse("x"), {"x": [[1.0], [2.0, 3.0]]}, ("x",)),
    ],
    ids=lambda item: "+".join(item) if isinstance(item, tuple) else "",
)
def test_evaluation_error_names_variable(build, values, names) -> None:
    expr = build()
    with pytest.raises(md.EvaluationError) as info:
        expr.evaluate(values)
    assert isinstance(info.value, md.MatdiffError)
    _names_in(str(info.value), *names)


def test_evaluate_many_reports_missing_value() -> None:
    with pytest.raises(md.EvaluationError, match="y"):
        md.evaluate([md.parse("x"), md.parse("y")], {"x": np.ones(2)})


def test_singular_matrix() -> None:
    with pytest.raises(md.EvaluationError):
        md.parse("inv(A)").evaluate({"A": np.zeros((2, 2))})


def test_logdet_of_negative_determinant() -> None:
    with pytest.raises(md.EvaluationError):
        md.parse("logdet(A)").evaluate({"A": np.diag([1.0, -1.0])})


# ---------------------------------------------------------------------------------------------
# Differentiation errors


def test_diff_by_unknown_name() -> None:
    with pytest.raises(md.DiffError) as info:
        md.diff(md.parse("x'*A*x"), "y")
    assert "y" in str(info.value)
    assert isinstance(info.value, md.MatdiffError)


@pytest.mark.parametrize(
    "wrt",
    [(), ("y",), ("x", "y"), (3,), (None,)],
)
def test_bad_diff_requests(wrt) -> None:
    with pytest.raises(md.DiffError):
        md.diff(md.parse("x'*A*x"), *wrt)


def test_diff_by_an_expression() -> None:
    x = md.vector("x")
    with pytest.raises(md.DiffError):
        md.diff(md.sin(x), x + x)


@pytest.mark.parametrize("call", [md.diff, md.check, md.explain, md.views.derivative, md.views.derivative_text])
def test_every_entry_point_refuses_a_non_expression(call) -> None:
    with pytest.raises(md.ArgumentError, match="needs a matdiff expression or its text, got float"):
        call(3.0, "x")


@pytest.mark.parametrize("call", [md.diff, md.check, md.explain, md.views.derivative, md.views.derivative_text])
def test_kinds_go_with_text_only(call) -> None:
    with pytest.raises(md.ArgumentError, match=r"kinds \(S\) can only be declared with text"):
        call(md.parse("x'*S*x"), "x", S="symmetric")


# ---------------------------------------------------------------------------------------------
# Nesting and pathological input: the right answer or a clear MatdiffError, never RecursionError


def test_deep_parentheses() -> None:
    expr = md.parse("(" * 5000 + "x" + ")" * 5000)
    x = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(expr.evaluate({"x": x}), x)
    np.testing.assert_array_equal(md.diff(expr, "x").evaluate({"x": x}), np.eye(3))


def test_deep_parentheses_in_an_operation() -> None:
    expr = md.parse("(" * 3000 + "x'*A" + ")" * 3000 + "*x")
    x, A = np.array([1.0, 2.0]), np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(expr.evaluate({"x": x, "A": A}), x @ A @ x)


def test_deep_function_nesting() -> None:
    text = "sin(" * 3000 + "x" + ")" * 3000
    with pytest.raises(md.MatdiffError) as info:
        md.parse(text)
    assert not isinstance(info.value, RecursionError)
    assert "nest" in str(info.value).lower()


def test_deep_unary_minus() -> None:
    try:
        expr = md.parse("-" * 3000 + "x")
    except md.MatdiffError:
        return
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(expr.evaluate({"x": x}), x)


def test_deep_python_built_expression() -> None:
    """3000 nested sin calls built in Python: evaluation gives the answer; printing may refuse."""
    x = md.vector("x")
    expr = x
    for _ in range(3000):
        expr = md.sin(expr)
    value = np.array([0.5, 1.0])
    expected = value.copy()
    for _ in range(3000):
        expected = np.sin(expected)
    np.testing.assert_allclose(expr.evaluate({"x": value}), expected, rtol=1e-12)
    for action in (str, repr, md.to_latex, md.to_text, lambda e: e.to_latex(), lambda e: e._repr_latex_()):
        try:
            action(expr)
        except md.MatdiffError:
            pass


def test_derivative_of_long_chain() -> None:
    """d/dx of 100 nested sin: the chain rule's product of 100 factors must still evaluate."""
    x = md.vector("x")
    expr = x
    for _ in range(100):
        expr = md.sin(expr)
    value = np.array([0.5, 1.0])
    derivative, current = np.ones(2), value.copy()
    for _ in range(100):
        derivative *= np.cos(current)
        current = np.sin(current)
    np.testing.assert_allclose(md.diff(expr, "x").evaluate({"x": value}), np.diag(derivative), rtol=1e-10)


def test_long_flat_sum() -> None:
    """1000 terms added left to right is long, not deep."""
    expr = md.parse("x+" * 999 + "x")
    value = np.array([1.0, 2.0])
    np.testing.assert_allclose(expr.evaluate({"x": value}), 1000 * value)


def test_long_alternating_sum() -> None:
    terms = [f"{i}*x" for i in range(1, 1001)]
    text = terms[0] + "".join((" - " if i % 2 else " + ") + t for i, t in enumerate(terms[1:], 1))
    expr = md.parse(text)
    value = np.array([1.0, 2.0])
    coefficient = sum(i if (i - 1) % 2 == 0 else -i for i in range(1, 1001))
    np.testing.assert_allclose(expr.evaluate({"x": value}), coefficient * value)


def test_long_matrix_product_chain() -> None:
    """A*A*...*A with 80 factors: more factors than einsum has letters."""
    A = np.array([[0.9, 0.1, 0.0], [0.0, 0.8, 0.2], [0.1, 0.0, 0.9]])
    expr = md.parse("A*" * 79 + "A")
    np.testing.assert_allclose(expr.evaluate({"A": A}), np.linalg.matrix_power(A, 80), rtol=1e-10)


def test_long_quadratic_chain() -> None:
    A = np.array([[0.9, 0.1, 0.0], [0.0, 0.8, 0.2], [0.1, 0.0, 0.9]])
    x = np.array([1.0, -1.0, 0.5])
    expr = md.parse("x'*" + "A*" * 60 + "x")
    np.testing.assert_allclose(expr.evaluate({"A": A, "x": x}), x @ np.linalg.matrix_power(A, 60) @ x, rtol=1e-10)


def test_overlong_input() -> None:
    with pytest.raises(md.ParseError):
        md.parse("x+" * 60_000 + "x")


def test_many_variables() -> None:
    names = [f"x{i}" for i in range(200)]
    expr = md.parse(" + ".join(names))
    values = {name: np.full(2, float(i)) for i, name in enumerate(names)}
    np.testing.assert_allclose(expr.evaluate(values), np.full(2, sum(range(200))))


def test_long_garbage_is_a_parse_error() -> None:
    text = "x + " * 1000 + "$" + " + x" * 1000
    with pytest.raises(md.ParseError) as info:
        md.parse(text)
    assert info.value.position == 4000
    _caret_points_at(str(info.value), text, 4000)


# ---------------------------------------------------------------------------------------------
# Every error is a MatdiffError

ALL_ERRORS = [
    lambda: md.parse("(x"),
    lambda: md.parse(""),
    lambda: md.parse("x*y", x="vector", y="vector"),
    lambda: md.parse("x").evaluate({}),
    lambda: md.diff(md.parse("x"), "z"),
    lambda: md.parse("sin(" * 3000 + "x" + ")" * 3000),
    lambda: md.vector("x") + md.matrix("A"),
    lambda: md.vector("x", 3).evaluate({"x": np.ones(2)}),
]


@pytest.mark.parametrize("action", ALL_ERRORS, ids=[str(i) for i in range(len(ALL_ERRORS))])
def test_all_errors_are_matdiff_errors(action) -> None:
    with pytest.raises(md.MatdiffError):
        action()


def test_error_hierarchy() -> None:
    for error in (md.ParseError, md.ShapeError, md.EvaluationError, md.DiffError, md.NestingError):
        assert issubclass(error, md.MatdiffError)
