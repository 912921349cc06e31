"""The work behind the command line (cli.py) and the web page's API (web/_work.py), done once.

Both front ends take an expression's text, kinds, the variables to differentiate by (`wrt`), an order and
a layout; both answer with the same JSON objects, built here:

- `derive` parses, resolves the variables (`resolve_wrt`, `check_layout`, `check_seed`) and differentiates,
  with the steps (md.explain), the numerical check (md.check) and the code computing the value and the
  derivative (md.codegen, `check_backend`, `check_code_name`) when asked; `derivative_json` is its object.
- `steps_json` and `check_json` are the one shape of a derivation and of a check report, inside the
  derivative's object and in the `explain` and `check` commands' objects (`explain_json`, `check_command_json`).
- `variables_json` answers POST /api/variables; `error_detail` and `error_json` describe an md.MatdiffError.

A bad request raises md.ArgumentError; those about the form of the arguments (a missing or contradictory
variable, order, layout, backend or function name) raise its subclass `UsageError`, which the command line
reports as a usage error (exit code 2) and the web page as a 400 like every other error. Error messages name
the arguments as the front end spells them (`ArgumentNames`): "--order" on the command line, "'order'" in
the API.

The front ends only read their options or the request's JSON, and format or serialize these objects.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import matdiff as md
from matdiff._expr import Dim, dim_text, variables

LAYOUTS: tuple[str, ...] = md.views.LAYOUTS
"""The layouts a derivative is printed in: "gradient" (the default) and "numerator"."""
BACKENDS: tuple[str, ...] = md.BACKENDS
"""The backends md.codegen writes code for: "numpy", "jax", "torch" and "array_api"."""
CODE_NAME = "value_and_derivative"
"""The name of the generated function that returns the value and the derivative, unless one is given."""


class ArgumentNames(NamedTuple):
    """How a front end spells its arguments in error messages: as options (--wrt) or as JSON fields ('wrt').

    `kind` is how it declares a variable's kind, with {name} and {kind} to fill in: the advice of an error
    whose input did not type-check with the kinds inferred (see `error_message`).
    """

    wrt: str = "'wrt'"
    order: str = "'order'"
    layout: str = "'layout'"
    seed: str = "'seed'"
    code: str = "'code'"
    name: str = "'name'"
    kind: str = '{name}: {kind} (the kind menus on the page, "kinds" in the API)'


FIELD_NAMES = ArgumentNames()
"""The web API's (and page's) spelling, the default: its JSON fields, quoted."""


class UsageError(md.ArgumentError):
    """A bad argument in the form of a request, not in its expression: a variable to differentiate by
    missing where the expression has several, an order above 1 with several variables, an order, layout
    or seed out of range, an unknown backend or a function name that is not a Python identifier.
    `argument` names it: "wrt", "order", "layout", "seed", "code" or "name".

    The command line has always answered these with its usage message and exit code 2; other errors,
    like a variable that is not in the expression, are errors in the input (exit code 1).
    """

    def __init__(self, message: str, argument: str) -> None:
        super().__init__(message)
        self.argument = argument


# Resolving the arguments -----------------------------------------------------------------------------


def resolve_wrt(
    expr: md.Expr,
    wrt: str | Sequence[str] | None,
    order: int = 1,
    *,
    max_order: int | None = None,
    names: ArgumentNames = FIELD_NAMES,
) -> list[str]:
    """The variables to differentiate by in turn, one per derivative: `wrt` (a name or a list of names),
    or the expression's only variable when `wrt` is empty; with `order` above 1, the single name repeated
    `order` times. `max_order`, where given, bounds both the order and the number of derivatives.

    Raises UsageError for a missing or contradictory `wrt` or `order`, and md.ArgumentError for a name that
    is not a variable of the expression.
    """
    requested = [wrt] if isinstance(wrt, str) else list(wrt or [])
    # bool is an int in Python, but `"order": true` in a request is a mistake, not an order of 1
    whole = isinstance(order, int) and not isinstance(order, bool)
    if not whole or order < 1 or (max_order is not None and order > max_order):
        bounds = f"from 1 to {max_order}" if max_order else "1 or more"
        raise UsageError(f"{names.order} must be a whole number {bounds}", "order")
    variables = expr.variables
    if not requested:
        if len(variables) != 1:
            raise UsageError(
                f"say which variable to differentiate by (the expression has {_listing(variables)})", "wrt"
            )
        requested = list(variables)
    if order > 1:
        if len(requested) != 1:
            raise UsageError(f"{names.order} above 1 needs a single {names.wrt} variable", "order")
        requested = requested * order
    if max_order is not None and len(requested) > max_order:
        raise UsageError(f"at most {max_order} derivatives in a row", "wrt")
    for name in requested:
        if name not in variables:
            raise md.ArgumentError(f"{name!r} is not a variable of the expression (it has {_listing(variables)})")
    return requested


def check_layout(layout: str, names: ArgumentNames = FIELD_NAMES) -> str:
    """`layout` itself when it is one of LAYOUTS; raises UsageError otherwise."""
    if layout not in LAYOUTS:
        choices = " or ".join(f'"{choice}"' for choice in LAYOUTS)
        raise UsageError(f"{names.layout} must be {choices}", "layout")
    return layout


def check_seed(seed: int | None, names: ArgumentNames = FIELD_NAMES) -> int | None:
    """`seed` itself when it is None or a whole number >= 0 (what NumPy's generators take); raises UsageError
    otherwise, rather than letting NumPy's ValueError through as an internal error."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise UsageError(f"{names.seed} must be a whole number, 0 or more", "seed")
    return seed


def check_backend(code: Any, names: ArgumentNames = FIELD_NAMES) -> str | None:
    """`code` itself when it is None (no code asked for) or one of BACKENDS; raises UsageError otherwise."""
    if code is not None and (not isinstance(code, str) or code not in BACKENDS):
        choices = ", ".join(f'"{choice}"' for choice in BACKENDS[:-1]) + f' or "{BACKENDS[-1]}"'
        raise UsageError(f"{names.code} must be {choices}", "code")
    return code


def check_code_name(name: Any, names: ArgumentNames = FIELD_NAMES) -> str:
    """The generated function's name: CODE_NAME where `name` is None, else `name` itself when it is a Python
    identifier that is not a keyword and does not start with "_" (md.codegen keeps those for its own
    names); raises UsageError otherwise."""
    if name is None:
        return CODE_NAME
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        message = f"{names.name} must be a Python identifier not starting with _, like {CODE_NAME}; got {name!r}"
        raise UsageError(message, "name")
    return name


def echo(text: str) -> str:
    """The input as typed, to show back beside the result: every run of whitespace (spaces, tabs, newlines)
    made one space, and none at either end. "x'*a" stays x'*a, where md prints the expression as a'*x."""
    return " ".join(text.split())


def parse(text: str, kinds: Mapping[str, str] | None = None) -> md.Expr:
    """md.parse(text) with the declared `kinds` ({"X": "symmetric"}); the others are inferred.

    Its errors advise in Python's terms: front ends show them with `error_message`."""
    return md.parse(text, **dict(kinds or {}))


# Deriving --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    """One derivative request's answer: what the front ends print or serialize (see `derivative_json`).

    `derivation`, `report` and `code` are None where the steps, the check or the code were not asked for,
    or where they failed in a tolerant `derive`: then `steps_error`, `check_error` or `code_error` says why.
    `code` is the source of the module md.codegen writes for the value and the derivative. `input` is the
    text as typed, its whitespace normalised (`echo`); `expression` is what it parsed to.
    """

    input: str
    expression: md.Expr
    wrt: list[str]
    layout: str
    derivative: md.Expr
    derivation: md.Derivation | None = None
    steps_error: str | None = None
    report: md.CheckReport | None = None
    check_error: str | None = None
    code: str | None = None
    code_error: str | None = None


def derive(
    text: str,
    *,
    kinds: Mapping[str, str] | None = None,
    wrt: str | Sequence[str] | None = None,
    order: int = 1,
    layout: str = "gradient",
    steps: bool = False,
    check: bool = False,
    seed: int | None = None,
    rtol: float | None = None,
    code: str | None = None,
    code_name: str | None = None,
    max_order: int | None = None,
    names: ArgumentNames = FIELD_NAMES,
    tolerant: bool = False,
) -> Derived:
    """Parse `text` with `kinds`, resolve `wrt` and `order` (see `resolve_wrt`), and differentiate in
    `layout`; with `steps`, derive it step by step (md.explain); with `check`, compare it with a numerical
    derivative (md.check with `seed` and `rtol`); with `code`, one of BACKENDS, write the module of a
    function `code_name` (default CODE_NAME) that returns the expression's value and its derivative, in
    `layout` (md.codegen).

    Raises md.MatdiffError for bad input (UsageError for bad arguments). With `tolerant`, an error of
    md.explain, md.check or md.codegen does not lose the derivative: it is kept in `steps_error`,
    `check_error` or `code_error` (the web page shows the derivative whatever happens to the rest).
    """
    expr = parse(text, kinds)
    variables = resolve_wrt(expr, wrt, order, max_order=max_order, names=names)
    check_layout(layout, names)
    check_seed(seed, names)
    check_backend(code, names)
    function_name = check_code_name(code_name, names)
    derivative = md.views.derivative(expr, *variables, layout=layout)
    derivation = report = source = None
    steps_error = check_error = code_error = None
    if steps:
        try:
            derivation = md.explain(expr, *variables)
        except md.MatdiffError as error:
            if not tolerant:
                raise
            steps_error = error_message(error, names)
    if check:
        try:
            report = md.check(expr, *variables, seed=seed, rtol=rtol)
        except md.MatdiffError as error:
            if not tolerant:
                raise
            check_error = error_message(error, names)
    if code is not None:
        try:
            source = md.codegen(expr, derivative, backend=code, name=function_name)
        except md.MatdiffError as error:
            if not tolerant:
                raise
            code_error = error_message(error, names)
    return Derived(
        echo(text), expr, variables, layout, derivative, derivation, steps_error, report, check_error, source,
        code_error,
    )  # fmt: skip


# The JSON objects ------------------------------------------------------------------------------------


def derivative_json(derived: Derived) -> dict[str, Any]:
    """The derivative's JSON object, the same from `matdiff diff --json` and `POST /api/diff`:

    expression (as md prints it: "a'*x"), input (as typed, its whitespace normalised: "x'*a"),
    expression_latex, variables, wrt, layout, derivative, latex, shape, shape_text, kind; then "steps"
    (see `steps_json`) where the steps were asked for, "check" (see `check_json`) where the check was,
    and "code" (the module's source) where code was. Where md.codegen failed in a tolerant `derive`,
    "code" is None and "code_error" says why.
    """
    expr, derivative = derived.expression, derived.derivative
    data: dict[str, Any] = {
        "expression": str(expr),
        "input": derived.input,
        "expression_latex": md.to_latex(expr),
        "variables": expr.variables,
        "wrt": list(derived.wrt),
        "layout": derived.layout,
        "derivative": str(derivative),
        "latex": md.to_latex(derivative),
        "shape": shape_json(derivative, derivative_dims(derived)),
        "shape_text": shape_text(derivative, times=" × ", dims=derivative_dims(derived)),
        "kind": derivative.kind,
        "shared": shared_json(derivative),
        "kronecker": kronecker_json(derived),
    }
    if derived.derivation is not None:
        data["steps"] = steps_json(derived.derivation)
    elif derived.steps_error is not None:
        data["steps"] = steps_error_json(derived.steps_error)
    if derived.report is not None:
        data["check"] = check_json(derived.report)
    elif derived.check_error is not None:
        data["check"] = check_error_json(derived.check_error)
    if derived.code is not None:
        data["code"] = derived.code
    elif derived.code_error is not None:
        data.update(code=None, code_error=derived.code_error)
    return data


STEPS_FIELDS = ("title", "steps", "result", "text", "markdown", "latex", "error")
"""The fields of a derivation's object; each step has STEP_FIELDS."""
STEP_FIELDS = ("rule", "identity", "of", "by", "result", "text", "latex")


def steps_json(derivation: md.Derivation) -> dict[str, Any]:
    """A derivation's object (md.explain): its title, its steps, the result in matdiff's syntax, and the
    whole as text, Markdown and LaTeX; "error" is None. Each step has its rule, identity, the expressions
    differentiated (of, by) and the result, and the step as text and as LaTeX.

    "result" is a list of texts where the derivation's result is a row of entries (df/d(s, t)).
    """
    result = derivation.result
    return {
        "title": derivation.title,
        "steps": [
            {
                "rule": step.rule,
                "identity": step.identity,
                "of": str(step.of),
                "by": None if step.by is None else str(step.by),
                "result": str(step.result),
                "text": step.text(),
                "latex": step.latex(),
            }
            for step in derivation.steps
        ],
        "result": str(result) if isinstance(result, md.Expr) else [str(entry) for entry in result],
        "text": derivation.text(),
        "markdown": derivation.markdown(),
        "latex": derivation.latex(),
        "error": None,
    }


def steps_error_json(message: str) -> dict[str, Any]:
    """The derivation's object where md.explain failed: every field None but "error", its message."""
    return {**dict.fromkeys(STEPS_FIELDS), "error": message}


CHECK_FIELDS = (
    "passed", "max_rel_error", "tolerance", "worst_index", "worst_symbolic", "worst_numeric", "reason",
    "reference", "shape", "evaluations", "seed", "derivative", "text",
)  # fmt: skip
"""The fields of a check report's object."""


def check_json(report: md.CheckReport) -> dict[str, Any]:
    """A check report's object (md.check): the verdict, the largest relative error and its tolerance, the
    worst entry's index and values, why that tolerance, how the numerical derivative was computed, the
    derivative's shape, the function evaluations, the seed that reproduces it, the derivative checked
    (in gradient layout) and the report as text. Non-finite numbers are None: JSON has no NaN.
    """
    return {
        "passed": bool(report),
        "max_rel_error": _finite(report.max_rel_error),
        "tolerance": _finite(report.tolerance),
        "worst_index": [int(i) for i in report.worst_index],
        "worst_symbolic": _finite(report.worst_symbolic),
        "worst_numeric": _finite(report.worst_numeric),
        "reason": report.reason,
        "reference": report.reference,
        "shape": [int(n) for n in report.shape],
        "evaluations": int(report.evaluations),
        "seed": report.seed,
        "derivative": report.derivative,
        "text": str(report),
    }


def check_error_json(message: str) -> dict[str, Any]:
    """The check's object where md.check could not run: "passed" is None (neither PASS nor FAIL), "text"
    is "no check: " and the reason, every other field None."""
    return {**dict.fromkeys(CHECK_FIELDS), "text": f"no check: {message}"}


def explain_json(expr: md.Expr, wrt: Sequence[str], derivation: md.Derivation) -> dict[str, Any]:
    """`matdiff explain --json`: the expression, the variables differentiated by, and `steps_json`'s fields."""
    return {"expression": str(expr), "wrt": list(wrt), **steps_json(derivation)}


def check_command_json(expr: md.Expr, wrt: Sequence[str], report: md.CheckReport) -> dict[str, Any]:
    """`matdiff check --json`: the expression, the variables differentiated by, and `check_json`'s fields."""
    return {"expression": str(expr), "wrt": list(wrt), **check_json(report)}


def variables_json(text: str, kinds: Mapping[str, str] | None = None) -> dict[str, Any]:
    """POST /api/variables: the expression, its variables with their kinds (given or inferred), its shape
    (as `shape_json` and `shape_text`) and its LaTeX."""
    expr = parse(text, kinds)
    return {
        "expression": str(expr),
        "variables": expr.variables,
        "shape": shape_json(expr),
        "shape_text": shape_text(expr, times=" × "),
        "latex": md.to_latex(expr),
    }


def error_message(error: md.MatdiffError, names: ArgumentNames = FIELD_NAMES) -> str:
    """The error's message as the front end that `names` spells should show it: where md's message ends in
    advice for Python (md.parse(text, x='scalar'), md.limits, values=), the same advice in the front end's
    terms (--kind x=scalar, or the page's kind menus and "kinds"); otherwise the message unchanged."""
    if error.hint is None or error.base is None:
        return str(error)
    hint, details = error.hint
    if hint == "kinds":
        example = names.kind.format(name=details["name"], kind="scalar")
        advice = f"\n(kinds tried first: {details['tried']}; declare kinds, e.g. {example})"
    elif hint == "values":
        advice = f"; try another {names.seed}"
    elif hint == "limit":
        advice = ""  # md.limits is set in Python: neither front end can raise it
    else:  # pragma: no cover - every hint md gives is handled above
        return str(error)
    return error.base + advice + error.tail


def error_detail(error: md.MatdiffError, names: ArgumentNames = FIELD_NAMES) -> dict[str, Any]:
    """What went wrong, for JSON: the error's type (its md.* name), message (`error_message`), and for an
    md.ParseError the position in the input and the reason without the caret lines (None otherwise)."""
    message = error_message(error, names)
    detail: dict[str, Any] = {"type": _public_name(error), "message": message, "position": None, "reason": None}
    if isinstance(error, md.ParseError):
        detail.update(position=error.position, reason=error.reason)
    return detail


def error_json(error: md.MatdiffError, names: ArgumentNames = FIELD_NAMES) -> dict[str, Any]:
    """{"error": error_detail(error)}: the object `matdiff ... --json` prints for an error in the input."""
    return {"error": error_detail(error, names)}


# Shapes ----------------------------------------------------------------------------------------------


def derivative_dims(derived: Derived) -> list[Dim]:
    """The derivative's shape as a user names it: the expression's, then each variable's own (the gradient
    by w has the size n_w, though w's length is X's width n_X too). In numerator layout, as matdiff has it."""
    if derived.layout != "gradient":
        return list(derived.derivative.dims)
    nodes = variables([derived.expression])
    dims: list[Dim] = list(derived.expression.dims)
    for name in derived.wrt:
        dims += list(nodes[name].shape)
    return dims if len(dims) == derived.derivative.ndim else list(derived.derivative.dims)


def shape_json(expr: md.Expr, dims: Sequence[Dim] | None = None) -> list[int | str]:
    """The shape, a dimension per entry: a number where it is fixed, else its name ("m_X"; a size that only
    a constant has is named after it: "n_eye", "n_vector", "m_matrix", "n_matrix")."""
    return [d if isinstance(d, int) else dim_text(d) for d in (expr.dims if dims is None else dims)]


def shape_text(expr: md.Expr, times: str = " x ", dims: Sequence[Dim] | None = None) -> str:
    """The shape in words, for people: "m_X x n_X (matrix)", "1 x n_a (row vector)", "scalar"."""
    names = [dim_text(d) for d in (expr.dims if dims is None else dims)]
    if not names:
        return "scalar"
    if expr.kind == "row":
        return f"1{times}{names[0]} (row vector)"
    what = {1: "vector", 2: "matrix"}.get(len(names), f"{len(names)}-D tensor")
    return f"{times.join(names)} ({what})"


def kronecker_json(derived: Derived) -> dict[str, Any] | None:
    """Where the derivative prints in index notation, its matrix form if it has one: d vec(F) / d vec(X) as
    a Kronecker product (`md.views.kronecker`, column-major vec): {"text": "kron(B', A)", "latex"}; else None."""
    derivative = derived.derivative
    if derived.layout != "gradient" or derivative.ndim < 3 or derivative.ndim > 4 or len(derived.wrt) != 1:
        return None
    if derivative.ndim - derived.expression.ndim > 2 or derived.expression.ndim > 2:
        return None
    form = md.views.kronecker(derivative, out_ndim=derived.expression.ndim)
    return None if form is None else {"text": str(form), "latex": form.to_latex()}


def shared_json(derivative: md.Expr) -> dict[str, Any] | None:
    """The derivative with its repeated terms named (`to_text(shared=True)`): "text" (the definitions, a line
    each, then the result) and "latex"; None where no term repeats."""
    text = derivative.to_text(shared=True)
    if "\n" not in text:
        return None
    return {"text": text, "latex": derivative.to_latex(shared=True)}


# Helpers ---------------------------------------------------------------------------------------------


def _listing(variables: Mapping[str, str]) -> str:
    """The variables' names for a message: "A, x", or "none"."""
    return ", ".join(variables) or "none"


def _finite(value: Any) -> float | None:
    """`value` as a float, or None where it is NaN or infinite."""
    value = float(value)
    return value if math.isfinite(value) else None  # JSON has no NaN or infinity


def _public_name(error: md.MatdiffError) -> str:
    """The name of the md.* error class `error` is an instance of, the most specific one: a UsageError
    is reported as the ArgumentError it is, so that clients see only the documented names."""
    for cls in type(error).__mro__:
        if getattr(md, cls.__name__, None) is cls:
            return cls.__name__
    return type(error).__name__
