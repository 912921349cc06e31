"""The `matdiff` command line, run as the installed command in a subprocess.

Printed derivatives are parsed back and evaluated: they must equal md.diff's value (and, for the first
example, central differences of plain evaluation), so the tests do not depend on how a derivative is
spelled. The modules `--code` prints are run, and their value and derivative compared with NumPy formulas.
Exit codes: 0 on success, 1 for bad input, 2 for bad usage.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import matdiff as md
from matdiff import cli

from .helpers import central_difference, generated_function, random_values

ENV = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE")}
ENV.update(NO_COLOR="1", TERM="dumb", COLUMNS="100")


def run(*args: str, command: list[str] | None = None) -> subprocess.CompletedProcess:
    base = command or [sys.executable, "-m", "matdiff"]
    return subprocess.run([*base, *args], capture_output=True, text=True, env=ENV, timeout=60)


def fields(stdout: str) -> dict[str, str]:
    """The 'label: value' lines of `matdiff diff`'s output."""
    found = {}
    for line in stdout.splitlines():
        label, sep, value = line.partition(": ")
        if sep and label:
            found.setdefault(label.strip(), value.strip())
    return found


def assert_same_derivative(printed: str, expression: str, wrt: list[str], kinds: dict[str, str] | None = None):
    """`printed` parses back and evaluates to md.diff's value at random values."""
    f = md.parse(expression, **(kinds or {}))
    expected = md.diff(f, *wrt)
    values = random_values(f.variables, np.random.default_rng(0), n=3, spd=True)
    got = md.parse(printed, **f.variables).evaluate(values)
    np.testing.assert_allclose(got, expected.evaluate(values), rtol=1e-10, atol=1e-12)
    return values


def installed_script() -> str | None:
    beside = Path(sys.executable).parent / ("matdiff.exe" if os.name == "nt" else "matdiff")
    return str(beside) if beside.exists() else shutil.which("matdiff")


# diff -----------------------------------------------------------------------------------------------


def test_diff_prints_the_derivative_its_shape_and_the_variables():
    result = run("diff", "a'*inv(X)*b", "--wrt", "X")
    assert result.returncode == 0, result.stderr
    out = fields(result.stdout)
    values = assert_same_derivative(out["d/dX"], "a'*inv(X)*b", ["X"])
    f = md.parse("a'*inv(X)*b")
    reference = central_difference(lambda v: f.evaluate(v), values, "X")
    np.testing.assert_allclose(md.parse(out["d/dX"]).evaluate(values), reference, rtol=1e-6, atol=1e-8)
    assert out["shape"] == "m_X x n_X (matrix)"  # the shape of X, named as X's: the gradient of a scalar
    assert out["variables"] == "X matrix, a vector, b vector"
    assert out["expression"] == str(f)


def test_diff_is_the_default_command_as_in_the_readme_quick_start():
    explicit = run("diff", "a'*inv(X)*b", "--wrt", "X")
    short = run("a'*inv(X)*b", "--wrt", "X")
    assert short.returncode == 0 and short.stdout == explicit.stdout


def test_the_console_script_is_installed_and_runs():
    script = installed_script()
    if script is None:
        pytest.skip("the matdiff console script is not installed")
    result = run("diff", "x'*A*x", "--wrt", "x", "--quiet", command=[script])
    assert result.returncode == 0, result.stderr
    assert_same_derivative(result.stdout.strip(), "x'*A*x", ["x"])


@pytest.mark.parametrize(
    ("expression", "options", "wrt", "kinds"),
    [
        ("x'*A*x", ["--wrt", "x", "--order", "2"], ["x", "x"], {}),
        ("x'*A*x", ["--wrt", "x", "--wrt", "x"], ["x", "x"], {}),
        ("sum(log(1+exp(-y.*(X*w))))", ["--wrt", "w"], ["w"], {}),
        ("x1^2*x2 + x1*x2^3", ["--wrt", "x1", "--kind", "x1=scalar", "--kind", "x2=scalar"], ["x1"], None),
        ("x1^2*x2 + x1*x2^3", ["--wrt", "x2", "--kind", "x1=scalar,x2=scalar"], ["x2"], None),
        ("-logdet(X)", ["--wrt", "X"], ["X"], {}),  # an expression that starts with "-"
    ],
)
def test_diff_options_give_md_diffs_derivative(expression, options, wrt, kinds):
    result = run("diff", expression, *options, "--quiet")
    assert result.returncode == 0, result.stderr
    kinds = {"x1": "scalar", "x2": "scalar"} if kinds is None else kinds
    assert_same_derivative(result.stdout.strip(), expression, wrt, kinds)


def test_numerator_layout_prints_a_row():
    result = run("diff", "x'*a", "--wrt", "x", "--layout", "numerator", "--latex")
    assert result.returncode == 0, result.stderr
    out = fields(result.stdout)
    assert out["d/dx"].endswith("'")
    assert out["d/dx"] == md.views.derivative_text("x'*a", "x", layout="numerator")
    assert out["latex"] == md.views.derivative_latex("x'*a", "x", layout="numerator")
    assert out["shape"].startswith("1 x ")
    assert_same_derivative(out["d/dx"], "x'*a", ["x"])  # a row evaluates to the same numbers


def test_steps_name_the_rules_and_check_passes():
    result = run("diff", "a'*inv(X)*b", "--wrt", "X", "--steps", "--check", "--seed", "7")
    assert result.returncode == 0, result.stderr
    derivation = md.explain("a'*inv(X)*b", "X")
    assert derivation.text() in result.stdout
    for step in derivation.steps:
        assert step.rule in result.stdout
    assert "\nPASS: d/dX of a'*inv(X)*b" in result.stdout
    assert "seed 7" in result.stdout


def test_json_output():
    result = run("diff", "a'*inv(X)*b", "--wrt", "X", "--json", "--steps", "--check", "--kind", "a=vector")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    f = md.parse("a'*inv(X)*b")
    D = md.diff(f, "X")
    assert data["expression"] == str(f) and data["input"] == "a'*inv(X)*b"
    assert data["variables"] == f.variables and data["wrt"] == ["X"]
    assert data["shape"] == ["m_X", "n_X"] and data["latex"] == D.to_latex()  # named after X, by which it is taken
    assert_same_derivative(data["derivative"], "a'*inv(X)*b", ["X"])
    assert [s["rule"] for s in data["steps"]["steps"]] == [s.rule for s in md.explain(f, "X").steps]
    assert data["check"]["passed"] is True and isinstance(data["check"]["seed"], int)


# diff --code ---------------------------------------------------------------------------------------


def sigmoid(t: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-t))


def logistic_loss(v: dict) -> tuple[np.ndarray, np.ndarray]:
    """sum(log(1+exp(-y.*(X*w)))) and its gradient by w, -X'(y .* sigmoid(-y .* Xw))."""
    margin = v["y"] * (v["X"] @ v["w"])
    return np.sum(np.log1p(np.exp(-margin))), -v["X"].T @ (v["y"] * sigmoid(-margin))


inv = np.linalg.inv
# expression, options, NumPy values, and the value and the derivative by NumPy formulas
CODE_CASES = [
    ("x'*A*x", ["--wrt", "x"], {"A": (4, 4), "x": (4,)},
     lambda v: (v["x"] @ v["A"] @ v["x"], (v["A"] + v["A"].T) @ v["x"])),
    ("x'*A*x", ["--wrt", "x", "--order", "2"], {"A": (4, 4), "x": (4,)},
     lambda v: (v["x"] @ v["A"] @ v["x"], v["A"] + v["A"].T)),
    ("a'*inv(X)*b", ["--wrt", "X"], {"X": (3, 3), "a": (3,), "b": (3,)},
     lambda v: (v["a"] @ inv(v["X"]) @ v["b"], -np.outer(inv(v["X"]).T @ v["a"], v["b"] @ inv(v["X"]).T))),
    ("sum(log(1+exp(-y.*(X*w))))", ["--wrt", "w"], {"X": (5, 3), "w": (3,), "y": (5,)}, logistic_loss),
    ("A*X*B", ["--wrt", "X"], {"A": (2, 3), "B": (4, 5), "X": (3, 4)},
     lambda v: (v["A"] @ v["X"] @ v["B"], np.einsum("ik,lj->ijkl", v["A"], v["B"]))),
]  # fmt: skip


def code_values(shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Random values of these shapes; square matrices well away from singular (for inv)."""
    rng = np.random.default_rng(8)
    values = {name: rng.normal(size=shape) for name, shape in shapes.items()}
    for name, shape in shapes.items():
        if len(shape) == 2 and shape[0] == shape[1]:
            values[name] += 4 * np.eye(shape[0])
    return values


@pytest.mark.parametrize(
    ("expression", "options", "shapes", "formula"), CODE_CASES, ids=[" ".join(c[:1] + tuple(c[1])) for c in CODE_CASES]
)
def test_code_numpy_prints_a_module_computing_the_value_and_the_derivative(expression, options, shapes, formula):
    result = run("diff", expression, *options, "--code", "numpy")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    function = generated_function(result.stdout, "value_and_derivative")
    values = code_values(shapes)
    value, derivative = function(**values)
    expected_value, expected_derivative = formula(values)
    np.testing.assert_allclose(value, expected_value, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(derivative, expected_derivative, rtol=1e-10, atol=1e-12)

    # the same numbers as evaluating the expression and md.diff's derivative, also with the values by position
    f = md.parse(expression)
    wrt = [options[1]] * int(options[3]) if "--order" in options else [options[1]]
    positional = function(*(values[name] for name in sorted(values)))
    np.testing.assert_allclose(positional[0], f.evaluate(values), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(positional[1], md.diff(f, *wrt).evaluate(values), rtol=1e-10, atol=1e-12)


def test_code_name_and_json():
    result = run("diff", "x'*A*x", "--wrt", "x", "--code", "numpy", "--name", "f_and_grad")
    assert result.returncode == 0, result.stderr
    as_json = run("diff", "x'*A*x", "--wrt", "x", "--code", "numpy", "--name", "f_and_grad", "--json", "--check")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["code"] == result.stdout  # the module, as printed without --json
    assert data["derivative"] == str(md.diff(md.parse("x'*A*x"), "x")) and data["check"]["passed"] is True
    values = code_values({"A": (3, 3), "x": (3,)})
    value, gradient = generated_function(data["code"], "f_and_grad")(**values)
    np.testing.assert_allclose(value, values["x"] @ values["A"] @ values["x"], rtol=1e-12)
    np.testing.assert_allclose(gradient, (values["A"] + values["A"].T) @ values["x"], rtol=1e-12)
    assert "code" not in json.loads(run("diff", "x'*A*x", "--wrt", "x", "--json").stdout)


def test_code_for_every_backend_compiles_and_imports_its_library():
    imports = {}
    for backend in md.BACKENDS:
        result = run("diff", "x'*A*x", "--wrt", "x", "--code", backend.upper() if backend == "jax" else backend)
        assert result.returncode == 0, result.stderr
        tree = ast.parse(result.stdout)
        functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
        assert "value_and_derivative" in functions
        imports[backend] = [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert len({tuple(lines) for lines in imports.values()}) == len(md.BACKENDS)  # each its own imports
    assert [backend.value for backend in cli.Backend] == list(md.BACKENDS)


def test_code_with_a_check_prints_the_report_on_stderr():
    result = run("diff", "x'*A*x", "--wrt", "x", "--code", "numpy", "--check", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("PASS: d/dx of x'*A*x") and "seed 3" in result.stderr
    generated_function(result.stdout, "value_and_derivative")  # stdout is the module alone


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--code", "fortran"], ["'fortran' is not one of", "numpy", "jax", "torch", "array_api"]),
        (["--name", "g"], ["--name names the function that --code writes"]),
        (["--code", "numpy", "--name", "1x"], ["--name must be a Python identifier", "'1x'"]),
        (["--code", "numpy", "--name", "class"], ["--name must be a Python identifier"]),
        (["--code", "numpy", "--steps"], ["--code prints only the module", "--steps"]),
        (["--code", "numpy", "--latex"], ["--code prints only the module", "--latex"]),
    ],
)
def test_code_usage_errors_exit_with_2(args, shown):
    result = run("diff", "x'*A*x", "--wrt", "x", *args)
    assert result.returncode == 2
    assert result.stdout == "" and "Usage:" in result.stderr
    message = " ".join(result.stderr.replace("│", " ").split())  # rich wraps usage errors in a box
    for text in shown:
        assert text in message


# check and explain ----------------------------------------------------------------------------------


def test_check_command():
    result = run("check", "x'*S*x", "--wrt", "x", "--kind", "S=symmetric", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["passed"] is True and data["wrt"] == ["x"]
    assert data["text"].startswith("PASS: d/dx of x'*S*x")  # the report's text, as in diff's "check"
    assert_same_derivative(data["derivative"], "x'*S*x", ["x"], {"S": "symmetric"})


@pytest.mark.parametrize("form", ["text", "markdown", "latex"])
def test_explain_command_prints_md_explain(form):
    derivation = md.explain("x'*A*x", "x", "x")
    options = [] if form == "text" else [f"--{form}"]
    result = run("explain", "x'*A*x", "--wrt", "x", "--order", "2", *options)
    assert result.returncode == 0, result.stderr
    assert result.stdout == getattr(derivation, form)() + "\n"


def test_a_failed_check_exits_with_1(monkeypatch):
    """In process, with md.check made to fail: no correct derivative fails it from the command line."""
    from typer.testing import CliRunner

    real_check = md.check
    monkeypatch.setattr(md, "check", lambda *a, **k: dataclasses.replace(real_check(*a, **k), passed=False))
    for args in (["diff", "x'*A*x", "--wrt", "x", "--check"], ["check", "x'*A*x", "--wrt", "x"]):
        result = CliRunner().invoke(cli.app, args)
        assert result.exit_code == 1 and "FAIL: d/dx of x'*A*x" in result.output


# errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["a'*+*b", "sin(x", "x\t+*y"])
def test_parse_error_shows_a_caret_under_the_input(expression):
    with pytest.raises(md.ParseError) as caught:
        md.parse(expression)
    result = run("diff", expression, "--wrt", "x")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and lines[0].endswith(f"at position {caught.value.position}")
    shown, caret = lines[1], lines[2]
    assert shown == "    " + expression.replace("\t", " ")  # a tab shows as one space
    assert caret.strip() == "^" and caret.index("^") == 4 + caught.value.position


def test_errors_print_the_message_unchanged_and_as_json():
    with pytest.raises(md.ShapeError) as caught:
        md.parse("x*y")
    result = run("diff", "x*y", "--wrt", "x")
    # the message, with its advice in the command line's terms (--kind x=scalar, not md.parse(...))
    assert caught.value.base is not None and "md.parse(text, x='scalar')" in str(caught.value)
    expected = f"{caught.value.base}\n(kinds tried first: x=vector, y=vector; declare kinds, e.g. --kind x=scalar)"
    assert (result.returncode, result.stderr) == (1, f"error: {expected}\n")
    result = run("diff", "a'*+*b", "--wrt", "X", "--json")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "ParseError" and error["position"] == 4


@pytest.mark.parametrize(
    "args",
    [
        ["diff", "x'*a", "--wrt", "x", "--layout", "sideways"],  # not a layout
        ["diff", "x'*a", "--kind", "a"],  # not NAME=KIND
        ["diff", "x'*A*x"],  # two variables and no --wrt
        ["diff", "x'*x", "--wrt", "x", "--wrt", "x", "--order", "2"],
        ["diff", "x'*a", "--wrt", "x", "--code", "fortran"],  # not a backend
    ],
)
def test_usage_errors_exit_with_2(args):
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == "" and "Usage:" in result.stderr


def test_help_is_useful():
    top = run("--help")
    assert top.returncode == 0
    for word in ("diff", "check", "explain", "Examples", "--wrt X"):
        assert word in top.stdout
    sub = run("diff", "--help")
    assert sub.returncode == 0
    words = ("--wrt", "--order", "--kind", "--layout", "--latex", "--steps", "--check", "--json", "numerator", "--code")
    for word in (*words, "--name", "array_api"):
        assert word in sub.stdout


# readable results (issue 10) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "wrt", "shown"),
    [
        ("x'*a", "x", "x'*a"),  # md prints a'*x
        ("tr(X'*A*X)", "X", "tr(X'*A*X)"),  # md prints tr(A*X*X') or the like
        ("y.*(X*w)", "w", "y.*(X*w)"),  # md prints diag(y)*X*w
        ("  x' *\n  A\t*x  ", "x", "x' * A *x"),  # whitespace: runs made one space, none at the ends
    ],
)
def test_the_input_is_echoed_as_typed_in_text_and_json(typed, wrt, shown):
    text = run("diff", typed, "--wrt", wrt)
    assert text.returncode == 0, text.stderr
    assert fields(text.stdout)["expression"] == shown
    data = json.loads(run("diff", typed, "--wrt", wrt, "--json").stdout)
    assert data["input"] == shown
    assert data["expression"] == str(md.parse(typed))  # matdiff's own print, unchanged
    # both mean the same function
    f = md.parse(typed)
    values = random_values(f.variables, np.random.default_rng(1), n=3)
    np.testing.assert_allclose(md.parse(shown).evaluate(values), f.evaluate(values), rtol=1e-12)


def test_kind_advice_is_given_as_a_command_line_option():
    result = run("diff", "x*y", "--wrt", "x")
    assert result.returncode == 1
    assert "declare kinds, e.g. --kind x=scalar" in result.stderr
    assert "md.parse" not in result.stderr and "x='scalar'" not in result.stderr
    error = json.loads(run("diff", "x*y", "--wrt", "x", "--json").stdout)["error"]
    assert "--kind x=scalar" in error["message"] and "md.parse" not in error["message"]
    # the advice names a variable of the expression, and works: x a scalar makes x*y a vector
    result = run("diff", "x*y", "--wrt", "x", "--kind", "x=scalar", "--quiet")
    assert result.returncode == 0, result.stderr
    for command in ("check", "explain"):
        result = run(command, "u*v", "--wrt", "u")
        assert result.returncode == 1 and "--kind u=scalar" in result.stderr and "md." not in result.stderr


def test_a_limit_error_gives_no_python_advice():
    result = run("diff", "A^100000", "--wrt", "A")
    assert result.returncode == 1
    assert "exceeds matdiff's limit max_matrix_power" in result.stderr and "md.limits" not in result.stderr
    assert result.stderr.rstrip().endswith("^")  # the caret under the input stays last


@pytest.mark.parametrize(
    ("args", "typo", "suggested"),
    [
        (["diff", "x'*x", "--laytout", "numerator"], "--laytout", "--layout"),
        (["diff", "x'*x", "--laytout=numerator"], "--laytout", "--layout"),
        (["diff", "--laytout", "numerator", "x'*x"], "--laytout", "--layout"),
        (["x'*x", "--wtr", "x"], "--wtr", "--wrt"),  # the default command
        (["check", "x'*x", "--sede", "3"], "--sede", "--seed"),
        (["explain", "x'*x", "--markdwn"], "--markdwn", "--markdown"),
        (["serve", "--prot", "8001"], "--prot", "--port"),
    ],
)
def test_a_mistyped_option_is_named_with_the_nearest_ones(args, typo, suggested):
    result = run(*args)
    assert result.returncode == 2 and result.stdout == ""
    message = " ".join(result.stderr.replace("│", " ").split())  # rich wraps usage errors in a box
    assert f"No such option: {typo}" in message
    assert "Possible options:" in message and suggested in message.partition("Possible options:")[2]
    assert "unexpected extra argument" not in message


def test_an_extra_argument_and_a_leading_minus_still_work():
    result = run("diff", "x'*x", "--wrt", "x", "extra")
    assert result.returncode == 2 and "unexpected extra argument (extra)" in " ".join(result.stderr.split())
    result = run("diff", "--x'*x", "--wrt", "x", "--quiet")  # --x is -(-x), not an option
    assert result.returncode == 0, result.stderr
    assert_same_derivative(result.stdout.strip(), "x'*x", ["x"])
    result = run("diff", "x'*x", "--zzz")
    assert result.returncode == 2 and "No such option: --zzz" in " ".join(result.stderr.replace("│", " ").split())


@pytest.mark.parametrize("command", [[], ["diff"], ["check"], ["explain"], ["serve"]])
def test_flags_are_shown_without_a_value_in_help(command):
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "<bool>" not in result.stdout
    flags = {"diff": ["--latex", "--steps", "--check", "--json", "--quiet"], "explain": ["--markdown", "--latex"]}
    for flag in [*flags.get(command[0] if command else "", []), "--help"]:
        line = next(line for line in result.stdout.splitlines() if f"{flag} " in line)
        # the flag's name, then straight to its help text: no metavar column
        after = line.split(flag, 1)[1].replace("│", "").split()
        assert after and after[0][0].isupper(), line
