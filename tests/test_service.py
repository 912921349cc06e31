"""One service behind the command line and the web page (matdiff._service).

`matdiff diff --json --steps --check --seed S --code numpy` and `POST /api/diff` must answer the same
object: the tests compare the two front ends field by field, and check the derivative against its known
closed form in NumPy (the text parsed back where it is in matrix form, the known index notation where it
is a 3-D or 4-D tensor), and the generated code's value and derivative against NumPy formulas. They also
pin the resolution errors (md.ArgumentError, with clear messages) and the command line's exit codes for them.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import matdiff as md
from matdiff import _service as service
from matdiff import cli
from matdiff.web import _work

from .helpers import generated_function

SEED = 20240611

DERIVATIVE_FIELDS = [
    "expression", "input", "expression_latex", "variables", "wrt", "layout", "derivative", "latex", "shape",
    "shape_text", "kind", "shared", "kronecker", "steps", "check", "code",
]  # fmt: skip
STEPS_FIELDS = ["title", "steps", "result", "text", "markdown", "latex", "error"]
STEP_FIELDS = ["rule", "identity", "of", "by", "result", "text", "latex"]
CHECK_FIELDS = [
    "passed", "max_rel_error", "tolerance", "worst_index", "worst_symbolic", "worst_numeric", "reason",
    "reference", "shape", "evaluations", "seed", "derivative", "text",
]  # fmt: skip


def values_for(variables: dict[str, str]) -> dict[str, np.ndarray]:
    """3 x 3 matrices that are neither symmetric (so a missing transpose shows) nor singular, with a
    positive determinant (for logdet); symmetric ones where declared; vectors of length 3."""
    rng = np.random.default_rng(11)
    values: dict[str, np.ndarray] = {}
    for name, kind in variables.items():
        if kind == "vector":
            values[name] = rng.normal(size=3)
        elif kind == "symmetric":
            M = rng.normal(size=(3, 3))
            values[name] = (M + M.T) / 2
        else:
            values[name] = rng.normal(size=(3, 3)) + 4 * np.eye(3)
            assert np.linalg.det(values[name]) > 0
    return values


inv = np.linalg.inv


def d_a_inv_x_b(v: dict) -> np.ndarray:
    """d(a' inv(X) b)/dX = -inv(X)' a b' inv(X)' (the Matrix Cookbook)."""
    return -np.outer(inv(v["X"]).T @ v["a"], v["b"] @ inv(v["X"]).T)


# the expressions' values in NumPy
VALUES = {
    "a'*inv(X)*b": lambda v: v["a"] @ inv(v["X"]) @ v["b"],
    "logdet(X)": lambda v: np.log(np.linalg.det(v["X"])),
    "x'*A*x": lambda v: v["x"] @ v["A"] @ v["x"],
    "x'*S*x": lambda v: v["x"] @ v["S"] @ v["x"],
    "A*x": lambda v: v["A"] @ v["x"],
    "A*X*B": lambda v: v["A"] @ v["X"] @ v["B"],
}

# id, expression, wrt (as the API takes it), order, kinds, the known closed form in NumPy, and the known
# text where the derivative has no matrix form (index notation, which md.parse does not read back)
CASES = [
    ("a'inv(X)b", "a'*inv(X)*b", ["X"], 1, {}, d_a_inv_x_b, None),
    ("logdet", "logdet(X)", ["X"], 1, {}, lambda v: inv(v["X"]).T, None),
    ("hessian", "x'*A*x", "x", 2, {}, lambda v: v["A"] + v["A"].T, None),
    ("symmetric", "x'*S*x", ["x"], 1, {"S": "symmetric"}, lambda v: 2 * v["S"] @ v["x"], None),
    ("symmetric-hessian", "x'*S*x", ["x"], 2, {"S": "symmetric"}, lambda v: 2 * v["S"], None),
    ("3-D", "A*x", ["A"], 1, {}, lambda v: np.einsum("ij,k->ijk", np.eye(3), v["x"]), "D[i,j,k] = x[k]*eye[i,j]"),
    ("4-D", "A*X*B", ["X"], 1, {}, lambda v: np.einsum("ik,lj->ijkl", v["A"], v["B"]), "D[i,j,k,l] = A[i,k]*B[l,j]"),
]  # fmt: skip


def cli_json(*args: str, exit_code: int = 0) -> dict:
    result = CliRunner().invoke(cli.app, list(args))
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def cli_args(expression: str, wrt, order: int, kinds: dict[str, str]) -> list[str]:
    args = ["diff", expression]
    for name in [wrt] if isinstance(wrt, str) else wrt:
        args += ["--wrt", name]
    args += ["--order", str(order)]
    for name, kind in kinds.items():
        args += ["--kind", f"{name}={kind}"]
    return args


def web_json(payload: dict) -> dict:
    status, body = _work.run("diff", payload)
    assert status == 200, body
    return body


@pytest.mark.parametrize(
    ("expression", "wrt", "order", "kinds", "closed_form", "index_text"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_command_line_and_web_answer_the_same_object(expression, wrt, order, kinds, closed_form, index_text):
    options = ["--json", "--steps", "--check", "--seed", str(SEED), "--code", "numpy"]
    from_cli = cli_json(*cli_args(expression, wrt, order, kinds), *options)
    payload = {"expression": expression, "wrt": wrt, "order": order, "kinds": kinds, "seed": SEED, "code": "numpy"}
    from_web = web_json(payload)

    assert list(from_cli) == DERIVATIVE_FIELDS and list(from_web) == DERIVATIVE_FIELDS
    for field in DERIVATIVE_FIELDS:
        assert from_cli[field] == from_web[field], field

    data = from_web
    names = [wrt] * order if isinstance(wrt, str) else wrt * order
    f = md.parse(expression, **kinds)
    assert data["input"] == expression and data["expression"] == str(f)
    assert data["variables"] == {**f.variables, **kinds} and data["wrt"] == names and data["layout"] == "gradient"

    # the derivative is the known closed form
    values = values_for(data["variables"])
    if index_text is None:
        printed = md.parse(data["derivative"], **data["variables"]).evaluate(values)
        np.testing.assert_allclose(printed, closed_form(values), rtol=1e-10, atol=1e-12)
    else:
        assert data["derivative"] == index_text
        assert data["kind"] == "tensor" and len(data["shape"]) == len(index_text.split("=")[0].split(","))
        engine = md.views.derivative(f, *names).evaluate(values)
        np.testing.assert_allclose(engine, closed_form(values), rtol=1e-10, atol=1e-12)
    assert data["shape_text"].endswith(f"({len(data['shape'])}-D tensor)" if len(data["shape"]) > 2 else ")")

    # the steps: the object of md.explain, rule by rule
    steps = data["steps"]
    assert list(steps) == STEPS_FIELDS and steps["error"] is None
    derivation = md.explain(f, *names)
    assert [step["rule"] for step in steps["steps"]] == [step.rule for step in derivation.steps]
    assert all(list(step) == STEP_FIELDS for step in steps["steps"])
    assert steps["text"] == derivation.text() and steps["latex"].startswith("\\begin{aligned}")

    # the check passed, with the seed asked for, and its numbers are md.check's
    check = data["check"]
    report = md.check(f, *names, seed=SEED)
    assert list(check) == CHECK_FIELDS
    assert check["passed"] is True and check["seed"] == SEED and check["text"].startswith("PASS")
    assert check["max_rel_error"] == report.max_rel_error <= check["tolerance"]
    assert check["worst_index"] == list(report.worst_index) and check["evaluations"] == report.evaluations
    assert len(check["shape"]) == len(data["shape"])

    # the code computes the value and the derivative
    value, derivative = generated_function(data["code"], service.CODE_NAME)(**values)
    np.testing.assert_allclose(value, VALUES[expression](values), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(derivative, closed_form(values), rtol=1e-10, atol=1e-12)


def test_real_server_answers_the_same_object():
    """The same object through `matdiff serve`'s HTTP and JSON encoding (the server's test helpers)."""
    api_server = pytest.importorskip("tests.test_api_server", reason="the web extra is not installed")
    args = ["diff", "a'*inv(X)*b", "--wrt", "X", "--json", "--steps", "--check", "--seed", str(SEED), "--code", "jax"]
    from_cli = cli_json(*args)
    with api_server.running_server() as url:
        status, from_server = api_server.post(
            url + "/api/diff", {"expression": "a'*inv(X)*b", "wrt": "X", "seed": SEED, "code": "jax"}
        )
    assert status == 200 and from_server == from_cli
    assert from_server["code"] == md.codegen(md.parse("a'*inv(X)*b"), md.diff(md.parse("a'*inv(X)*b"), "X"),
                                             backend="jax", name=service.CODE_NAME)
    assert from_server["check"]["passed"] is True and from_server["derivative"] == "-inv(X)'*a*b'*inv(X)'"


def test_explain_and_check_commands_use_the_same_steps_and_check_objects():
    args = ["x'*A*x", "--wrt", "x"]
    diff = cli_json("diff", *args, "--json", "--steps", "--check", "--seed", str(SEED))
    explained = cli_json("explain", *args, "--json")
    checked = cli_json("check", *args, "--json", "--seed", str(SEED))
    assert list(explained) == ["expression", "wrt", *STEPS_FIELDS]
    assert {field: explained[field] for field in STEPS_FIELDS} == diff["steps"]
    assert list(checked) == ["expression", "wrt", *CHECK_FIELDS]
    assert {field: checked[field] for field in CHECK_FIELDS} == diff["check"]
    assert explained["wrt"] == checked["wrt"] == ["x"] and explained["expression"] == "x'*A*x"


def test_numerator_layout_and_no_steps_or_check():
    from_cli = cli_json("diff", "x'*a", "--wrt", "x", "--layout", "numerator", "--json")
    payload = {"expression": "x'*a", "wrt": ["x"], "layout": "numerator", "steps": False, "check": False}
    from_web = web_json(payload)
    assert from_cli == from_web
    assert "steps" not in from_web and "check" not in from_web
    assert from_web["derivative"] == "a'" and from_web["layout"] == "numerator" and from_web["kind"] == "row"
    assert from_web["shape_text"].startswith("1 × ") and from_web["shape_text"].endswith("(row vector)")


def test_code_in_numerator_layout_and_with_every_backend():
    args = ["diff", "x'*a", "--wrt", "x", "--layout", "numerator", "--json"]
    for backend in md.BACKENDS:
        from_cli = cli_json(*args, "--code", backend)
        from_web = web_json(
            {"expression": "x'*a", "wrt": "x", "layout": "numerator", "steps": False, "check": False, "code": backend}
        )
        assert from_cli == from_web and list(from_web)[-1] == "code"
        assert "def value_and_derivative(" in from_web["code"]
    values = values_for({"a": "vector", "x": "vector"})
    code = web_json({"expression": "x'*a", "wrt": "x", "layout": "numerator", "code": "numpy"})["code"]
    value, derivative = generated_function(code, service.CODE_NAME)(**values)
    np.testing.assert_allclose(value, values["x"] @ values["a"], rtol=1e-12)
    np.testing.assert_allclose(np.ravel(derivative), values["a"], rtol=1e-12)  # the row a'


def test_variables_object():
    status, body = _work.run("variables", {"expression": "a'*inv(X)*b", "kinds": {"a": "vector"}})
    assert status == 200
    assert body == {
        "expression": "a'*inv(X)*b",
        "variables": {"X": "matrix", "a": "vector", "b": "vector"},
        "shape": [],
        "shape_text": "scalar",
        "latex": md.parse("a'*inv(X)*b").to_latex(),
    }
    assert _work.run("variables", {"expression": "A*x"})[1]["shape_text"] == "m_A (vector)"


# Where the steps or the check cannot be had ------------------------------------------------------------


def test_a_failed_derivation_or_check_keeps_the_derivative_on_the_web_and_fails_on_the_command_line(monkeypatch):
    def no_steps(*args, **kwargs):
        raise md.DiffError("no steps for this one")

    def no_check(*args, **kwargs):
        raise md.EvaluationError("the symbolic derivative is not finite at these values")

    monkeypatch.setattr(md, "explain", no_steps)
    monkeypatch.setattr(md, "check", no_check)
    data = web_json({"expression": "x'*A*x", "wrt": "x"})
    assert data["derivative"] == "A*x + A'*x"
    assert data["steps"] == {**dict.fromkeys(STEPS_FIELDS), "error": "no steps for this one"}
    assert data["check"] == {
        **dict.fromkeys(CHECK_FIELDS),
        "text": "no check: the symbolic derivative is not finite at these values",
    }
    error = cli_json("diff", "x'*A*x", "--wrt", "x", "--json", "--check", exit_code=1)["error"]
    assert error["type"] == "EvaluationError" and error["message"].startswith("the symbolic derivative")


def test_a_failed_code_generation_keeps_the_derivative_on_the_web_and_fails_on_the_command_line(monkeypatch):
    def no_code(*args, **kwargs):
        raise md.EvaluationError("no code for this one")

    monkeypatch.setattr(md, "codegen", no_code)
    data = web_json({"expression": "x'*A*x", "wrt": "x", "check": False, "code": "torch"})
    assert data["derivative"] == "A*x + A'*x" and "steps" in data
    assert data["code"] is None and data["code_error"] == "no code for this one"
    error = cli_json("diff", "x'*A*x", "--wrt", "x", "--json", "--code", "torch", exit_code=1)["error"]
    assert error == {"type": "EvaluationError", "message": "no code for this one", "position": None, "reason": None}
    result = CliRunner().invoke(cli.app, ["diff", "x'*A*x", "--wrt", "x", "--code", "torch"])
    assert result.exit_code == 1 and result.stdout == "" and "error: no code for this one" in result.output


def test_non_finite_numbers_of_a_check_are_null():
    report = md.check("x'*A*x", "x", seed=SEED)
    broken = dataclasses.replace(report, max_rel_error=float("nan"), worst_numeric=float("inf"))
    data = service.check_json(broken)
    assert data["max_rel_error"] is None and data["worst_numeric"] is None
    assert data["worst_symbolic"] == report.worst_symbolic
    json.dumps(data, allow_nan=False)  # would raise on NaN


# Errors ------------------------------------------------------------------------------------------------


def test_a_parse_error_is_described_the_same_by_both():
    expression = "a'*+*b"
    with pytest.raises(md.ParseError) as caught:
        md.parse(expression)
    from_cli = cli_json("diff", expression, "--wrt", "X", "--json", exit_code=1)["error"]
    status, from_web = _work.run("diff", {"expression": expression, "wrt": "X"})
    assert status == 400
    expected = {"type": "ParseError", "message": str(caught.value), "position": 4, "reason": "unexpected '*'"}
    assert from_cli == expected
    assert from_web == {"error": str(caught.value), **expected}


@pytest.mark.parametrize(
    ("expression", "wrt", "order", "message"),
    [
        ("x'*A*x", None, 1, "say which variable to differentiate by (the expression has A, x)"),
        ("x'*A*x", [], 1, "say which variable to differentiate by (the expression has A, x)"),
        ("2*3", None, 1, "say which variable to differentiate by (the expression has none)"),
        ("x'*A*x", ["x", "A"], 2, "'order' above 1 needs a single 'wrt' variable"),
        ("x'*x", "x", 0, "'order' must be a whole number 1 or more"),
        ("x'*x", "x", True, "'order' must be a whole number 1 or more"),
    ],
)
def test_missing_or_contradictory_arguments_are_usage_errors(expression, wrt, order, message):
    expr = md.parse(expression)
    with pytest.raises(md.ArgumentError) as caught:
        service.resolve_wrt(expr, wrt, order)
    assert str(caught.value) == message
    assert isinstance(caught.value, service.UsageError) and isinstance(caught.value, md.MatdiffError)


def test_the_order_is_bounded_where_the_caller_says():
    expr = md.parse("x'*x")
    assert service.resolve_wrt(expr, "x", 4, max_order=4) == ["x"] * 4
    assert service.resolve_wrt(expr, None, 3) == ["x"] * 3
    with pytest.raises(md.ArgumentError, match=r"^'order' must be a whole number from 1 to 4$"):
        service.resolve_wrt(expr, "x", 5, max_order=4)
    with pytest.raises(md.ArgumentError, match=r"^at most 4 derivatives in a row$"):
        service.resolve_wrt(expr, ["x"] * 5, max_order=4)


def test_a_name_that_is_not_a_variable_is_an_argument_error_in_the_input():
    with pytest.raises(md.ArgumentError) as caught:
        service.resolve_wrt(md.parse("x'*A*x"), ["x", "y"])
    assert str(caught.value) == "'y' is not a variable of the expression (it has A, x)"
    assert not isinstance(caught.value, service.UsageError)


def test_unknown_layout_and_bad_seed():
    with pytest.raises(md.ArgumentError, match=r"""^'layout' must be "gradient" or "numerator"$"""):
        service.check_layout("sideways")
    with pytest.raises(md.ArgumentError, match=r"^--layout must be"):
        service.derive("x'*a", wrt="x", layout="rows", names=cli.OPTION_NAMES)
    assert service.check_layout("numerator") == "numerator"
    for seed in (-1, 1.5, "7", True):
        with pytest.raises(md.ArgumentError, match=r"^'seed' must be a whole number, 0 or more$"):
            service.check_seed(seed)
    assert service.check_seed(0) == 0 and service.check_seed(None) is None


def test_backend_and_function_name():
    assert service.BACKENDS == md.BACKENDS == ("numpy", "jax", "torch", "array_api")
    assert service.check_backend(None) is None
    for backend in md.BACKENDS:
        assert service.check_backend(backend) == backend
    for code in ("fortran", "NumPy", "", 5, True, ["numpy"], {"numpy": 1}):
        with pytest.raises(service.UsageError) as caught:
            service.check_backend(code)
        assert str(caught.value) == "'code' must be \"numpy\", \"jax\", \"torch\" or \"array_api\""
        assert caught.value.argument == "code"
    with pytest.raises(md.ArgumentError, match=r"^--code must be "):
        service.derive("x'*x", code="c", names=cli.OPTION_NAMES)

    assert service.check_code_name(None) == service.CODE_NAME == "value_and_derivative"
    assert service.check_code_name("f_and_grad") == "f_and_grad"
    for name in ("1x", "class", "_private", "f-g", "", 7):
        with pytest.raises(service.UsageError, match=r"^'name' must be a Python identifier") as caught:
            service.check_code_name(name)
        assert caught.value.argument == "name"


@pytest.mark.parametrize("code", ["fortran", 5, True, ["numpy"], {"backend": "numpy"}])
def test_a_bad_code_field_is_a_400_naming_it(code):
    status, body = _work.run("diff", {"expression": "x'*A*x", "wrt": "x", "code": code})
    assert status == 400
    assert body["type"] == "ArgumentError" and body["error"] == body["message"]
    assert body["message"].startswith("'code' must be") and "array_api" in body["message"]


def test_messages_name_the_options_on_the_command_line():
    with pytest.raises(md.ArgumentError, match=r"^--order above 1 needs a single --wrt variable$"):
        service.resolve_wrt(md.parse("x'*A*x"), ["x", "A"], 2, names=cli.OPTION_NAMES)


@pytest.mark.parametrize(
    ("args", "exit_code", "shown"),
    [
        (["diff", "x'*A*x"], 2, "say which variable to differentiate by (the expression has A, x)"),
        (["diff", "x'*A*x", "--json"], 2, "say which variable to differentiate by"),
        (["explain", "x'*A*x"], 2, "say which variable to differentiate by"),
        (["check", "x'*A*x"], 2, "say which variable to differentiate by"),
        (["diff", "x'*x", "--wrt", "x", "--wrt", "x", "--order", "2"], 2, "--order above 1 needs a single --wrt"),
        (["check", "x'*A*x", "--wrt", "x", "--wrt", "A", "--order", "2"], 2, "--order above 1 needs a single --wrt"),
        (["diff", "x'*a", "--wrt", "x", "--layout", "sideways"], 2, "sideways"),
        (["diff", "x'*a", "--wrt", "x", "--order", "0"], 2, "--order"),
        (["diff", "x'*x", "--wrt", "y"], 1, "error: 'y' is not a variable of the expression (it has x)"),
        (["explain", "x'*x", "--wrt", "y"], 1, "error: 'y' is not a variable of the expression (it has x)"),
        (["diff", "x'*x", "--wrt", "x"], 0, "2*x"),
    ],
)
def test_command_line_exit_codes(args, exit_code, shown):
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == exit_code, result.output
    assert shown in " ".join(result.output.replace("│", " ").split())  # rich wraps usage errors in a box
    if exit_code == 2:
        assert result.stdout == "" and "Usage:" in result.output


def test_command_line_json_error_for_a_name_that_is_not_a_variable():
    error = cli_json("diff", "x'*x", "--wrt", "y", "--json", exit_code=1)["error"]
    assert error == {
        "type": "ArgumentError",
        "message": "'y' is not a variable of the expression (it has x)",
        "position": None,
        "reason": None,
    }
    status, body = _work.run("diff", {"expression": "x'*x", "wrt": "y"})
    assert status == 400 and body == {"error": error["message"], **error}
