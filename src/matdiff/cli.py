"""The `matdiff` command: derivatives, checks and step-by-step derivations from a terminal.

    matdiff diff "a'*inv(X)*b" --wrt X          # the derivative, its shape and the variables' kinds
    matdiff "a'*inv(X)*b" --wrt X               # the same: diff is the default command
    matdiff check "logdet(X)" --wrt X           # compare with a numerical derivative
    matdiff explain "x'*A*x" --wrt x            # the rules, one step at a time
    matdiff diff "x'*A*x" --wrt x --code numpy  # a Python module computing the value and the gradient
    matdiff serve                               # the web page at http://127.0.0.1:8000/

Exit codes: 0 on success, 1 for an error in the input (any md.MatdiffError) or a failed check, 2 for a
usage error (an unknown option, a missing argument). With --json, stdout carries one JSON object, also
for an error in the input ({"error": {...}}), and nothing else.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Sequence
from enum import Enum
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

import matdiff as md
from matdiff import _service as service
from matdiff._service import shape_text

COMMANDS = ("diff", "check", "explain", "serve")
"""The subcommands; a first argument that is none of these (nor a top-level option) means `diff`."""

_TOP_LEVEL = ("--help", "--version", "--install-completion", "--show-completion")

OPTION_NAMES = service.ArgumentNames(
    wrt="--wrt", order="--order", layout="--layout", seed="--seed", code="--code", name="--name",
    kind="--kind {name}={kind}",
)  # fmt: skip
"""How the service's error messages name the options (and declare a kind)."""

EXAMPLES = """[bold]Examples[/bold]

  matdiff diff "a'*inv(X)*b" --wrt X
  matdiff diff "x'*A*x" --wrt x --order 2
  matdiff diff "x1^2*x2 + x1*x2^3" --wrt x1 --kind x1=scalar,x2=scalar
  matdiff diff "x'*a" --wrt x --layout numerator
  matdiff diff "logdet(X)" --wrt X --latex --steps --check
  matdiff diff "sum(log(1+exp(-y.*(X*w))))" --wrt w --json
  matdiff diff "x'*A*x" --wrt x --code numpy > f.py
  matdiff check "x'*S*x" --wrt x --kind S=symmetric
  matdiff explain "a'*inv(X)*b" --wrt X --markdown

The syntax is MatrixCalculus.org's: ' transposes, * is the matrix product, .* and ./ are element-wise.
Undeclared names are matrices (upper-case initial) or vectors (lower-case). Quote the expression."""

def _bare_flags(params: list[Any]) -> list[Any]:
    """`params` with every flag (--latex, --json, --help, ...) shown in --help as taking no value: typer's
    rich help would show it as taking a <bool>."""
    for param in params:
        if getattr(param, "param_type_name", "") == "option" and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


class _Group(TyperGroup):
    """The matdiff command: its --help shows flags without a value."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_flags(super().get_params(ctx))


_OPTION_LIKE = re.compile(r"--[A-Za-z][\w-]*(=.*)?", re.DOTALL)


class _Command(TyperCommand):
    """A command whose EXPR may start with "-" ("-logdet(X)"), and whose unknown options still get click's
    "No such option" error with the nearest known ones.

    Unknown options are let through as arguments (ignore_unknown_options), so that "-logdet(X)" reaches
    EXPR; then anything left over that looks like a long option (--laytout, --laytout=numerator) is
    reported as an unknown option, with the possible ones; other extra arguments as extra arguments.
    """

    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_flags(super().get_params(ctx))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.allow_extra_args = True  # checked below, after the unknown options are told apart
        extra = super().parse_args(ctx, args)
        if not extra or ctx.resilient_parsing:
            return extra
        expression = ctx.params.get("expression")
        candidates = [expression] if isinstance(expression, str) else []
        for arg in [*candidates, *extra]:  # EXPR too: "diff --laytout numerator EXPR" fills EXPR with it
            if _OPTION_LIKE.fullmatch(arg):
                name = arg.partition("=")[0]
                known = [opt for param in self.get_params(ctx) for opt in param.opts if opt.startswith("--")]
                near = difflib.get_close_matches(name, known)
                ctx.fail(f"No such option: {name}" + (f" (Possible options: {', '.join(near)})" if near else ""))
        ctx.allow_extra_args = False
        raise ctx.fail(f"Got unexpected extra argument{'s' if len(extra) > 1 else ''} ({' '.join(extra)})")


app = typer.Typer(
    name="matdiff",
    cls=_Group,
    epilog=EXAMPLES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)

# An expression may start with "-" ("-logdet(X)"): commands pass options they do not know through as
# arguments, so it reaches EXPR instead of failing as an unknown option. A misspelt option still fails,
# as an unknown option with the nearest known ones (exit code 2; see _Command).
_COMMAND_SETTINGS = {"ignore_unknown_options": True}


class Layout(str, Enum):
    gradient = "gradient"
    numerator = "numerator"


class Backend(str, Enum):
    """The array libraries --code writes for: md.BACKENDS, in its order."""

    numpy = "numpy"
    jax = "jax"
    torch = "torch"
    array_api = "array_api"


# Options shared by the commands -------------------------------------------------------------------


def _parse_kinds(values: list[str] | None) -> list[str]:
    for item in _kind_items(values or []):
        name, sep, kind = item.partition("=")
        if not sep or not name.strip() or not kind.strip():
            raise typer.BadParameter(f"expected NAME=KIND, like a=vector or X=symmetric, got {item!r}")
    return values or []


def _kind_items(values: Sequence[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _kinds(values: Sequence[str]) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in _kind_items(values))
    return {name.strip(): kind.strip() for name, kind in pairs}


ExprArg = Annotated[
    str,
    typer.Argument(
        metavar="EXPR",
        help='The expression, quoted: "a\'*inv(X)*b".',
        show_default=False,
    ),
]
WrtOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--wrt",
        metavar="NAME",
        help="Variable to differentiate by; repeat for a higher derivative (--wrt x --wrt x). "
        "May be left out when the expression has one variable.",
        show_default=False,
    ),
]
OrderOpt = Annotated[
    int,
    typer.Option("--order", min=1, help="Order of the derivative by the single --wrt variable (2: the Hessian)."),
]
KindOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--kind",
        metavar="NAME=KIND",
        callback=_parse_kinds,
        help="Declare kinds: scalar, vector, matrix or symmetric. Comma-separated or repeated: "
        "--kind a=vector,X=matrix.",
        show_default=False,
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option("--seed", help="Seed for the random values of the check (the report prints the one it used)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


# Output ---------------------------------------------------------------------------------------------


def _console(stderr: bool = False) -> Console:
    # No markup, no highlighting, no wrapping: expressions, LaTeX and carets print exactly as they are
    # (a tab shows as one space, so that a caret stays under its character).
    return Console(stderr=stderr, markup=False, highlight=False, emoji=False, soft_wrap=True, tab_size=1)


def _line(console: Console, label: str, value: str, width: int) -> None:
    console.print(Text.assemble((f"{label}:".ljust(width + 2), "bold"), value))


def _fail(error: md.MatdiffError, as_json: bool) -> NoReturn:
    """Report `error`: a usage error (exit code 2) for a bad option, else the message (exit code 1)."""
    message = service.error_message(error, OPTION_NAMES)  # advice in the command line's terms (--kind)
    if isinstance(error, service.UsageError):
        raise typer.BadParameter(message, param_hint=f"'--{error.argument}'") from None
    if as_json:
        _print_json(service.error_json(error, OPTION_NAMES))
    _console(stderr=True).print(Text.assemble(("error: ", "bold red"), message))
    raise typer.Exit(1)


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2))


def _variables_text(variables: dict[str, str]) -> str:
    return ", ".join(f"{name} {kind}" for name, kind in variables.items()) or "none"


def _label(wrt: Sequence[str]) -> str:
    return " ".join(f"d/d{name}" for name in wrt)


def _print_report(console: Console, report: md.CheckReport) -> None:
    first, _, rest = str(report).partition("\n")
    verdict, _, title = first.partition(":")
    console.print(Text.assemble((verdict, "bold green" if report else "bold red"), ":" + title))
    if rest:
        console.print(Text(rest))


# Work shared by the commands ------------------------------------------------------------------------


def _prepare(
    expression: str, kind: Sequence[str], wrt: list[str] | None, order: int, as_json: bool
) -> tuple[md.Expr, list[str]]:
    """The parsed expression and the variables to differentiate by, one per derivative."""
    try:
        expr = service.parse(expression, _kinds(kind))
        return expr, service.resolve_wrt(expr, wrt, order, names=OPTION_NAMES)
    except md.MatdiffError as error:
        _fail(error, as_json)


# Commands -------------------------------------------------------------------------------------------


@app.command(cls=_Command, context_settings=_COMMAND_SETTINGS, epilog=EXAMPLES)
def diff(
    expression: ExprArg,
    wrt: WrtOpt = None,
    order: OrderOpt = 1,
    kind: KindOpt = None,
    layout: Annotated[
        Layout,
        typer.Option(
            "--layout",
            case_sensitive=False,
            help="gradient: d(x'a)/dx is the column a (the Matrix Cookbook's). "
            "numerator: it is the row a' (the lecture's).",
        ),
    ] = Layout.gradient,
    latex: Annotated[bool, typer.Option("--latex", help="Also print the derivative as LaTeX.")] = False,
    shared: Annotated[
        bool,
        typer.Option("--shared", help="Name the terms the derivative repeats (t0 = ...), then print it in them."),
    ] = False,
    steps: Annotated[bool, typer.Option("--steps", help="Show the derivation, one named rule per step.")] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Compare with a numerical derivative at random values; exit 1 if it fails."),
    ] = False,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="Print only the derivative (its LaTeX with --latex), for scripts.")
    ] = False,
    code: Annotated[
        Backend | None,
        typer.Option(
            "--code",
            case_sensitive=False,
            help="Print a Python module instead: a function of the variables that returns the value of EXPR "
            "and its derivative, written for this array library (md.codegen). With --json, the \"code\" field.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="NAME",
            help=f"The name of the function --code writes. \\[default: {service.CODE_NAME}]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Differentiate EXPR: print the derivative, its shape and the variables with their kinds.

    The derivative of F by X has the shape F.shape + X.shape: entry (i,j,k,l) is dF_ij/dX_kl.
    Where no matrix form exists, it is printed in index notation.
    With --code, print only a Python module whose function returns the value and the derivative.
    """
    if name is not None and code is None:
        raise typer.BadParameter("--name names the function that --code writes: add --code", param_hint="'--name'")
    if code is not None and not as_json and (steps or latex):
        option = "--steps" if steps else "--latex"
        raise typer.BadParameter(
            f"--code prints only the module: leave out {option}, or add --json for both", param_hint="'--code'"
        )
    try:
        derived = service.derive(
            expression,
            kinds=_kinds(kind or []),
            wrt=wrt,
            order=order,
            layout=layout.value,
            steps=steps,
            check=check,
            seed=seed,
            code=None if code is None else code.value,
            code_name=name,
            names=OPTION_NAMES,
        )
        # the JSON and the texts are printed after they are all made: an error prints nothing but itself
        data = service.derivative_json(derived) if as_json else None
        expr, derivative, names = derived.expression, derived.derivative, derived.wrt
        text, tex = derivative.to_text(shared=shared), derivative.to_latex(shared=shared)
        shape = shape_text(derivative, dims=service.derivative_dims(derived))
    except md.MatdiffError as error:
        _fail(error, as_json)
    derivation, report = derived.derivation, derived.report
    if data is not None:
        _print_json(data)
    elif derived.code is not None:
        # the module alone on stdout, to be redirected into a file; the check's report goes to stderr
        sys.stdout.write(derived.code if derived.code.endswith("\n") else derived.code + "\n")
        if report is not None:
            _print_report(_console(stderr=True), report)
    else:
        console = _console()
        if quiet:
            console.print(Text(tex if latex else text))
        else:
            label = _label(names)
            width = max(len(label), len("expression"))
            _line(console, "expression", derived.input, width)  # as typed, its whitespace normalised
            _line(console, "variables", _variables_text(expr.variables), width)
            if "\n" in text:  # named terms first, a line each, then the derivative in them
                *definitions, text = text.splitlines()
                for definition in definitions:
                    term, _, body = definition.partition(" = ")
                    _line(console, term, body, width)
            _line(console, label, text, width)
            kronecker = service.kronecker_json(derived)
            if kronecker is not None:  # index notation above: its matrix form, d vec(F)/d vec(X)
                _line(console, "vec form", kronecker["text"], width)
            if latex:
                _line(console, "latex", tex, width)
            _line(console, "shape", shape, width)
            if layout is Layout.numerator:
                _line(console, "layout", "numerator", width)
        if derivation is not None:
            console.print()
            console.print(Text(derivation.text()))
        if report is not None:
            console.print()
            _print_report(console, report)
    if report is not None and not report:
        raise typer.Exit(1)


@app.command(cls=_Command, context_settings=_COMMAND_SETTINGS, epilog=EXAMPLES)
def check(
    expression: ExprArg,
    wrt: WrtOpt = None,
    order: OrderOpt = 1,
    kind: KindOpt = None,
    seed: SeedOpt = None,
    rtol: Annotated[
        float | None,
        typer.Option("--rtol", min=0.0, help="Relative tolerance (default: 1e-7 for float64)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the derivative of EXPR against a numerical one (md.check); exit 1 if they differ.

    Random values respect kinds and domains: symmetric for symmetric variables,
    positive definite inside logdet/inv/det, positive inside log/sqrt.
    The report names the worst entry, the largest relative error, the tolerance and the seed (--seed).
    """
    expr, names = _prepare(expression, kind or [], wrt, order, as_json)
    try:
        report = md.check(expr, *names, seed=service.check_seed(seed, OPTION_NAMES), rtol=rtol)
    except md.MatdiffError as error:
        _fail(error, as_json)
    if as_json:
        _print_json(service.check_command_json(expr, names, report))
    else:
        _print_report(_console(), report)
    if not report:
        raise typer.Exit(1)


@app.command(cls=_Command, context_settings=_COMMAND_SETTINGS, epilog=EXAMPLES)
def explain(
    expression: ExprArg,
    wrt: WrtOpt = None,
    order: OrderOpt = 1,
    kind: KindOpt = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown with $...$ mathematics.")] = False,
    latex: Annotated[bool, typer.Option("--latex", help="Print a LaTeX aligned environment.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Derive EXPR step by step (md.explain): each step names its rule (sum, product, chain, an identity).

    Every step is an expression that evaluates; the steps run from the outside in.
    """
    if sum((markdown, latex, as_json)) > 1:
        raise typer.BadParameter("choose one of --markdown, --latex and --json", param_hint="'--markdown'")
    expr, names = _prepare(expression, kind or [], wrt, order, as_json)
    try:
        derivation = md.explain(expr, *names)
        output = derivation.markdown() if markdown else derivation.latex() if latex else derivation.text()
        data = service.explain_json(expr, names, derivation) if as_json else None
    except md.MatdiffError as error:
        _fail(error, as_json)
    if data is not None:
        _print_json(data)
    else:
        _console().print(Text(output))


@app.command(cls=_Command)
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; 0.0.0.0 opens it to the network.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit",
            min=0.1,
            help="Seconds a derivation may take, from when it gets a worker, before it is stopped.",
        ),
    ] = 5.0,
    memory_limit: Annotated[
        int,
        typer.Option(
            "--memory-limit", min=0, help="Megabytes of memory a derivation may take before it is stopped; 0: no cap."
        ),
    ] = 1024,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Derivations run at once. \\[default: the CPUs, from 2 to 8]"),
    ] = None,
    queue_size: Annotated[
        int,
        typer.Option("--queue-size", min=0, help="Requests that may wait for a worker; the next ones get a 503."),
    ] = 64,
    queue_wait: Annotated[
        float,
        typer.Option("--queue-wait", min=0.0, help="Seconds a request may wait for a worker before it gets a 503."),
    ] = 10.0,
    read_timeout: Annotated[
        float,
        typer.Option(
            "--read-timeout", min=0.1, help="Seconds a client may take to send a request's headers, and its body."
        ),
    ] = 10.0,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            metavar="NAME",
            help="Another name the Host header may give (NAME or NAME:PORT; * for any); repeatable. "
            "127.0.0.1, localhost, [::1] and --host are always accepted.",
        ),
    ] = None,
) -> None:
    """Start the web page and its JSON API (docs/web.md) on http://127.0.0.1:8000/; Ctrl+C stops it.

    Needs the web extra: pip install "matdiff\\[web]".
    """
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        message = 'the web page needs the web extra: pip install "matdiff[web]" (starlette and uvicorn)'
        _console(stderr=True).print(Text.assemble(("error: ", "bold red"), message))
        raise typer.Exit(1) from None
    from matdiff.web import serve as run

    shown = f"[{host}]" if ":" in host else host
    _console().print(Text.assemble(("matdiff", "bold"), f" serving on http://{shown}:{port}/ (Ctrl+C stops it)"))
    run(
        host=host,
        port=port,
        time_limit=time_limit,
        workers=workers,
        memory_limit=memory_limit,
        queue_size=queue_size,
        queue_wait=queue_wait,
        read_timeout=read_timeout,
        allow_hosts=allow_host or [],
    )


def _version(value: bool) -> None:
    if value:
        print(f"matdiff {md.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Symbolic matrix calculus: derivatives of scalar, vector and matrix expressions, of any order.

    [bold]matdiff EXPR --wrt X[/bold] is short for [bold]matdiff diff EXPR --wrt X[/bold].
    """


def main(argv: Sequence[str] | None = None, prog_name: str = "matdiff") -> None:
    """Run the command line on `argv` (default: sys.argv[1:]); exits with the command's exit code.

    When the first argument is not a command (diff, check, explain) nor a top-level option, `diff` is
    meant: `matdiff "x'*A*x" --wrt x` is `matdiff diff "x'*A*x" --wrt x`.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in COMMANDS and args[0] not in _TOP_LEVEL:
        args.insert(0, "diff")
    app(args=args, prog_name=prog_name)


if __name__ == "__main__":
    main()
