"""Readable results (issue 10): advice in each front end's terms, the input echoed as typed, no internal
names in messages or printed shapes, `^` read left to right, and what `A^0` is.

Expected values come from NumPy; messages are checked for what they must say and must not say, not
word for word.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import matdiff as md
from matdiff import _service as service
from matdiff.web import _work

INTERNAL = re.compile(r"\b_d\d+\b")  # the internal names of sizes inferred from use


def message_of(call) -> str:
    with pytest.raises(md.MatdiffError) as caught:
        call()
    return str(caught.value)


# Advice in the front end's terms ---------------------------------------------------------------------


def test_python_advice_stays_in_pythons_terms():
    message = message_of(lambda: md.parse("x*y"))
    assert "declare kinds, e.g. md.parse(text, x='scalar')" in message
    assert "(kinds tried first: x=vector, y=vector;" in message


def test_the_web_api_phrases_the_kind_advice_for_the_page_and_the_api():
    status, body = _work.run("diff", {"expression": "u*v", "wrt": "u"})
    assert status == 400 and body["type"] == "ShapeError"
    assert "md.parse" not in body["message"] and "--kind" not in body["message"]
    assert "u: scalar" in body["message"] and '"kinds"' in body["message"] and "kind menus" in body["message"]
    status, body = _work.run("variables", {"expression": "u*v"})
    assert status == 400 and "md.parse" not in body["message"] and "u: scalar" in body["message"]


def test_error_message_rephrases_every_kind_of_advice():
    cli_names = service.ArgumentNames(seed="--seed", kind="--kind {name}={kind}")
    with pytest.raises(md.ShapeError) as caught:
        md.parse("a*b")
    assert service.error_message(caught.value, cli_names).endswith("declare kinds, e.g. --kind a=scalar)")
    with pytest.raises(md.LimitError) as limit:
        md.parse("A^20000")
    shown = service.error_message(limit.value, cli_names)
    assert "md.limits" in str(limit.value) and "md.limits" not in shown
    assert shown.startswith("the matrix power") and shown.endswith("^")  # the caret stays under the input
    values = md._errors.advised(md.EvaluationError, "the symbolic derivative is not finite at these values", "values")
    assert str(values).endswith("pass other values=")
    assert service.error_message(values, cli_names).endswith("try another --seed")
    assert service.error_message(values).endswith("try another 'seed'")
    plain = md.ShapeError("no advice here")
    assert service.error_message(plain, cli_names) == "no advice here"


# The input as typed ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "wrt", "shown"),
    [
        ("x'*a", "x", "x'*a"),
        ("tr(X'*A*X)", "X", "tr(X'*A*X)"),
        ("y.*(X*w)", "w", "y.*(X*w)"),
        ("\tsum( exp(\n x) )  ", "x", "sum( exp( x) )"),
    ],
)
def test_post_api_diff_echoes_the_input_and_keeps_the_expression(typed, wrt, shown):
    status, body = _work.run("diff", {"expression": typed, "wrt": wrt, "steps": False, "check": False})
    assert status == 200, body
    assert body["input"] == shown == service.echo(typed)
    assert body["expression"] == str(md.parse(typed))


def test_the_real_server_echoes_the_input():
    api_server = pytest.importorskip("tests.test_api_server", reason="the web extra is not installed")
    with api_server.running_server() as url:
        status, body = api_server.post(url + "/api/diff", {"expression": " x'*a ", "wrt": "x", "check": False})
    assert status == 200 and body["input"] == "x'*a" and body["expression"] == str(md.parse("x'*a"))


# No internal names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("x + eye", "eye (matrix, n_eye x n_eye)"),
        ("x*eye*y", "eye (matrix, n_eye x n_eye)"),
        ("vector(1)*A", "vector(1) (vector, n_vector)"),
        ("x + matrix(1)", "matrix(1) (matrix, m_matrix x n_matrix)"),
        ("inv(vector(1))", "vector(1) (vector, n_vector)"),
        ("vector(1)*vector(1)", "(vector, n_vector)"),
    ],
)
def test_shape_errors_name_sizes_inferred_from_use_readably(text, shown):
    message = message_of(lambda: md.parse(text))
    assert shown in message and not INTERNAL.search(message)


def test_python_built_shape_errors_too():
    message = message_of(lambda: md.eye() + md.vector("x", 3))
    assert "eye (matrix, n_eye x n_eye)" in message and not INTERNAL.search(message)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("tr(eye)", "the size of eye"),
        ("sum(vector(2))", "the length of vector(c)"),
        ("sum(matrix(2))", "of matrix(c)"),
    ],
)
def test_a_size_nothing_fixes_is_named_after_its_constant(text, what):
    expr = md.parse(text)
    message = message_of(lambda: expr.evaluate({}))
    assert message.startswith("the ") and what in message and "is not fixed" in message
    assert not INTERNAL.search(message)
    message = message_of(lambda: md.codegen(expr))
    assert what in message and not INTERNAL.search(message)


def test_a_size_of_a_variable_that_is_not_given_names_the_variable():
    message = message_of(lambda: md.parse("A^0").evaluate({}))
    assert "m_A" in message and "give a value for A" in message


@pytest.mark.parametrize(
    ("text", "shape", "words"),
    [
        ("eye", ["n_eye", "n_eye"], "n_eye × n_eye (matrix)"),
        ("vector(1)", ["n_vector"], "n_vector (vector)"),
        ("matrix(1)", ["m_matrix", "n_matrix"], "m_matrix × n_matrix (matrix)"),
        ("x*vector(1)'", ["n_x", "n_vector"], "n_x × n_vector (matrix)"),
        ("eye*x", ["n_x"], "n_x (vector)"),  # a size a variable fixes is the variable's
    ],
)
def test_printed_shapes_name_sizes_inferred_from_use_readably(text, shape, words):
    data = service.variables_json(text)
    assert data["shape"] == shape and data["shape_text"] == words
    derived = service.derivative_json(service.derive("x'*x*vector(1)", wrt="x"))
    assert derived["shape"] == ["n_vector", "n_x"] and not INTERNAL.search(derived["shape_text"])


# ^ reads left to right ---------------------------------------------------------------------------------


def test_power_reads_left_to_right_as_in_matlab():
    assert float(md.parse("2^3^2").evaluate({})) == 64.0  # (2^3)^2, MATLAB's 64; not 2^9 = 512
    assert float(md.parse("2^(3^2)").evaluate({})) == 512.0
    assert float(md.parse("2^-1^2").evaluate({})) == 0.25  # (2^-1)^2
    assert float(md.parse("-2^2").evaluate({})) == -4.0  # unary minus binds looser than ^


def test_elementwise_and_matrix_powers_read_left_to_right():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 1.5, size=4)
    A = rng.normal(size=(3, 3)) / 2
    np.testing.assert_allclose(md.parse("x.^2.^3").evaluate({"x": x}), (x**2) ** 3, rtol=1e-12)
    np.testing.assert_allclose(md.parse("x.^(2.^3)").evaluate({"x": x}), x**8, rtol=1e-12)
    np.testing.assert_allclose(
        md.parse("A^2^3").evaluate({"A": A}), np.linalg.matrix_power(np.linalg.matrix_power(A, 2), 3), rtol=1e-12
    )
    np.testing.assert_allclose(md.parse("A^(2^3)").evaluate({"A": A}), np.linalg.matrix_power(A, 8), rtol=1e-12)
    np.testing.assert_allclose(md.parse("A'^2").evaluate({"A": A}), np.linalg.matrix_power(A.T, 2), rtol=1e-12)


def test_a_chain_of_powers_prints_back_to_the_same_numbers():
    t = md.scalar("t")
    expr = md.parse("t^1.5^0.5", t="scalar")
    assert float(expr.evaluate({"t": 1.7})) == pytest.approx((1.7**1.5) ** 0.5, rel=1e-12)
    again = md.parse(str(expr), t="scalar")
    assert float(again.evaluate({"t": 1.7})) == pytest.approx((1.7**1.5) ** 0.5, rel=1e-12)
    assert md.diff(expr, t).evaluate({"t": 1.7}) == pytest.approx(0.75 * 1.7**-0.25, rel=1e-10)


# A^0 ---------------------------------------------------------------------------------------------------


def test_a_matrix_to_the_power_0_is_the_identity_of_its_size_and_no_longer_depends_on_it():
    expr = md.parse("A^0")
    A = np.random.default_rng(4).normal(size=(3, 3))
    assert expr.variables == {}  # A only gives the size
    np.testing.assert_array_equal(expr.evaluate({"A": A}), np.eye(3))  # a value for A gives that size
    assert str(expr) == "eye"  # printed as the identity, its size not written: the text alone has no size
    with pytest.raises(md.DiffError, match="md.matrix"):
        md.diff(expr, "A")
    zero = md.diff(expr, md.matrix("A")).evaluate({"A": A})
    np.testing.assert_array_equal(zero, np.zeros((3, 3, 3, 3)))
    np.testing.assert_allclose(md.parse("A^0*x").evaluate({"A": A, "x": A[0]}), A[0])  # eye*x = x


def test_check_reports_a_size_nothing_fixes_at_once():
    message = message_of(lambda: md.check("tr(eye) + x'*x", "x", seed=0))
    assert message.startswith("the size of eye is not fixed") and "could not draw" not in message
    assert not INTERNAL.search(message)
    status, body = _work.run("diff", {"expression": "sum(vector(1))*t", "kinds": {"t": "scalar"}, "wrt": "t"})
    assert status == 200 and body["check"]["passed"] is None  # the derivative all the same
    assert body["check"]["text"].startswith("no check: the length of vector(c) is not fixed")


# ---------------------------------------------------------------------------------------------
# Forms met in the applications (docs/applications.md)


def test_the_gradient_by_a_bias_is_a_row_sum():
    # d/db of |X - V*tanh(W*X + b*1')|^2 sums over the batch's columns: (E.*(V'*R))*vector(1), no diag(...)
    f = md.parse("norm2(X - V*tanh(W*X + b*vector(1)'))^2", X="matrix", W="matrix", V="matrix", b="vector")
    gradient = md.diff(f, "b")
    text = str(gradient)
    assert "diag(" not in text and text.endswith("*vector(1)")
    rng = np.random.default_rng(4)
    X, W, V, b = rng.normal(size=(4, 6)), rng.normal(size=(3, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    H = np.tanh(W @ X + b[:, None])
    expected = np.sum((1 - H**2) * (-2 * V.T @ (X - V @ H)), axis=1)  # the chain rule by hand, in NumPy
    values = {"X": X, "W": W, "V": V, "b": b}
    np.testing.assert_allclose(gradient.evaluate(values), expected, rtol=1e-12)
    reparsed = md.parse(text, X="matrix", W="matrix", V="matrix", b="vector")
    np.testing.assert_allclose(reparsed.evaluate(values), expected, rtol=1e-12)


def test_named_terms_are_never_a_bare_negation_of_another():
    f = md.parse("norm2(X - sigmoid(W*X))^2", X="matrix", W="matrix")
    text = md.diff(f, "W").to_text(shared=True)
    definitions = [line for line in text.splitlines() if " = " in line]
    assert definitions == ["t0 = sigmoid(W*X)"], text
    assert "-2*(t0.*(X - t0).*(1 - t0))*X'" in text


def test_a_sum_takes_the_shape_of_the_terms_it_keeps():
    # A - A cancels: the sum is B + 1, sized by B alone (it was named after A's sizes, which nothing fixed)
    expr = md.parse("(((A-A)+B)+1)")
    assert expr.variables == {"B": "matrix"} and "A" not in "".join(map(str, expr.shape))
    B = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(expr.evaluate({"B": B}), B + 1)
