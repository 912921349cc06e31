"""Code generation: a lowered program (`_lower`) printed as a Python module for one array library.

`codegen` returns the module's source; `compile` runs it and returns the function. The generated module
imports only its backend (NumPy, JAX, PyTorch, or array-api-compat for the Array API standard) and needs
nothing of matdiff. Every name in it is an identifier matdiff made (temporaries, sizes) or a variable name
checked to be a Python identifier, numbers are printed by `repr`, and expressions appear only inside the
docstring (escaped), so running it executes nothing a user typed.
"""

from __future__ import annotations

import importlib.util
import itertools
import linecache
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._errors import ArgumentError, MatdiffError
from ._expr import Expr
from ._lower import Instruction, Program, lower
from ._registry import REGISTRY, lookup

BACKENDS = ("numpy", "jax", "torch", "array_api")
"""The backends of `md.codegen` and `md.compile`."""


@dataclass(frozen=True)
class Backend:
    """How one array library spells the program's instructions."""

    name: str
    ns: str  # the namespace in generated code
    imports: tuple[str, ...]
    module: str  # what must be importable to run the code
    extra: str  # the pip extra that installs it
    convert: str  # how each argument is taken in ({x}); "" for as given
    library: str  # the library's name, for messages

    def call(self, function: str, *args: str, **keywords: str) -> str:
        parts = [*args, *(f"{k}={v}" for k, v in keywords.items())]
        return f"{self.ns}.{function}({', '.join(parts)})"

    def creation(self, function: str, *args: str) -> str:  # eye, full, asarray with the program's dtype
        device = {"device": "device"} if self.name in ("torch", "array_api") else {}
        return self.call(function, *args, dtype="dtype", **device)

    def spell(self, instruction: Instruction) -> str | None:
        """The right-hand side of one instruction (None: the instruction prints no line)."""
        op, args, attrs = instruction.op, instruction.args, instruction.attrs
        if self.name == "jax" and op not in ("matmul", "solve", "tensordot"):
            # XLA on the CPU fuses A + A.T into one loop that walks A by columns, 10-15 times slower than
            # NumPy at n = 1000-2000; a transpose in blocks (_JAX_TRANSPOSED) is not. Products take the
            # transpose into the matrix product itself, so they keep A.T.
            args = tuple(f"_transposed({a[:-2]})" if a.endswith(".T") else a for a in args)
        if op == "matmul":
            return f"{args[0]} @ {args[1]}"
        if op == "mul":
            return f"{args[0]} * {args[1]}"
        if op == "scale":
            return f"-{args[0]}" if attrs[0] == "-1" else f"{attrs[0]} * {args[0]}"
        if op == "add":
            return _signed_sum(args, attrs)
        if op == "power":
            return self.power(args[0], attrs[0])
        if op == "func":
            operation = lookup(attrs[0])
            ndim = attrs[1] if len(attrs) > 1 else 0
            return operation.code(self.name, args[0], ndim, self.ns)
        if op == "sum":
            axes = attrs[0]
            axis = str(axes[0]) if len(axes) == 1 else str(axes)
            return self.call("sum", args[0], **{"dim" if self.name == "torch" else "axis": axis})
        if op == "permute":
            if self.name == "torch":
                return f"{args[0]}.permute{attrs[0]}"
            return self.call("permute_dims" if self.name == "array_api" else "transpose", args[0], str(attrs[0]))
        if op == "diagonal":
            if self.name == "array_api":
                return f"xp.linalg.diagonal({args[0]})"
            if self.name == "torch":
                return f"torch.diagonal({args[0]}, dim1=-2, dim2=-1)"
            return self.call("diagonal", args[0], axis1="-2", axis2="-1")
        if op == "tensordot":
            axes = f"({list(attrs[0])}, {list(attrs[1])})"
            return self.call("tensordot", args[0], args[1], **{"dims" if self.name == "torch" else "axes": axes})
        if op == "solve":
            return self.solve(args, attrs[0], attrs[1])
        if op == "factor":
            return self.factor(args[0])
        if op == "eye":
            return self.creation("eye", attrs[0])
        if op == "full":
            return self.creation("full", _tuple(attrs[0]), attrs[1])
        if op == "broadcast":
            return self.call("broadcast_to", args[0], _tuple(attrs[0]))
        if op == "array":
            return self.creation("tensor" if self.name == "torch" else "asarray", attrs[0])
        raise ArgumentError(f"no {self.name} spelling for the instruction {op!r}")  # pragma: no cover

    def power(self, x: str, p: float) -> str:
        if p == -1.0:
            return f"1.0 / {x}"
        if p == 0.5:
            return self.call("sqrt", x)
        if p == -0.5:
            return f"1.0 / {self.call('sqrt', x)}"
        return f"{x} ** {_literal(p)}"

    def solve(self, args: tuple[str, ...], transposed: bool, rhs_ndim: int) -> str:
        factor, matrix, rhs = args if len(args) == 3 else (None, *args)
        if factor is not None and self.name == "jax":
            return f"jax.scipy.linalg.lu_solve({factor}, {rhs}, trans={int(transposed)})"
        if factor is not None and self.name == "torch":
            adjoint = ", adjoint=True" if transposed else ""
            if rhs_ndim == 1:
                return f"torch.linalg.lu_solve(*{factor}, {rhs}[:, None]{adjoint})[:, 0]"
            return f"torch.linalg.lu_solve(*{factor}, {rhs}{adjoint})"
        return f"{self.ns}.linalg.solve({matrix}{'.T' if transposed else ''}, {rhs})"

    def factor(self, matrix: str) -> str | None:
        if self.name == "jax":
            return f"jax.scipy.linalg.lu_factor({matrix})"
        if self.name == "torch":
            return f"torch.linalg.lu_factor({matrix})"
        return None  # NumPy and the Array API standard have no factorisation to keep: each solve factors


_TERMS_PER_LINE = 16  # Python's parser nests a long chain of + deeply: longer sums take several lines


_JAX_TRANSPOSED = """
def _transposed(a, block=64):
    # a.T, in blocks of 64 x 64: XLA on the CPU transposes a large matrix inside a fused loop far more slowly
    m, n = a.shape
    if m * n < 1 << 16:
        return a.T
    p, q = -m % block, -n % block
    padded = jnp.pad(a, ((0, p), (0, q))) if p or q else a
    blocks = padded.reshape((m + p) // block, block, (n + q) // block, block).transpose(2, 3, 0, 1)
    return blocks.reshape(n + q, m + p)[:n, :m]
"""


def backend_uses_transposed(backend: Backend, instruction: Instruction) -> bool:
    spelled = backend.spell(instruction)
    return spelled is not None and "_transposed(" in spelled


def _tuple(items: Sequence[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _literal(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def _signed_sum(refs: Sequence[str], coefficients: Sequence[float]) -> str:
    text = ""
    for k, (ref, c) in enumerate(zip(refs, coefficients)):
        magnitude = abs(c)
        term = ref if magnitude == 1.0 else f"{_literal(magnitude)} * {ref}"
        if k == 0:
            text = f"-{term}" if c < 0 else term
        else:
            text += f" - {term}" if c < 0 else f" + {term}"
    return text


_BACKENDS = {
    "numpy": Backend("numpy", "np", ("import numpy as np",), "numpy", "", "np.asarray({x})", "NumPy"),
    "jax": Backend("jax", "jnp", ("import jax", "import jax.numpy as jnp"), "jax", "jax",
                   "jnp.asarray({x})", "JAX"),  # fmt: skip
    "torch": Backend("torch", "torch", ("import torch",), "torch", "torch", "torch.as_tensor({x})", "PyTorch"),
    "array_api": Backend("array_api", "xp", ("from array_api_compat import array_namespace, device as device_of",),
                         "array_api_compat",
                         "array-api", "", "array-api-compat"),  # fmt: skip
}


def backend_named(name: object) -> Backend:
    """The backend called `name`; anything else is an ArgumentError listing the choices."""
    if not isinstance(name, str) or name not in _BACKENDS:
        raise ArgumentError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")
    return _BACKENDS[name]


# ---------------------------------------------------------------------------------------------
# The module


def _docstring(program: Program, backend: Backend, indent: str) -> list[str]:
    lines = ["Computed by matdiff from:", ""]
    for k, (expr, shape) in enumerate(zip(program.exprs, program.output_shapes)):
        try:
            shown = str(expr)
        except MatdiffError:  # nested too deeply to print
            shown = f"(an expression nested {expr.depth} deep)"
        if len(shown) > 300:
            shown = shown[:297] + "..."
        lines.append(f"{k}. {shown}")
        lines.append(f"   {expr.kind}, shape {_tuple(shape) if shape else '()'}")
    lines += ["", "Arguments:"]
    for p in program.parameters:
        if not p.used:
            read = ", ".join(f"{ident} = {p.ident}.shape[{axis}]" for ident, axis in p.reads)
            use = f" but for its size ({read})" if read else " (accepted and ignored)"
            lines.append(f"{p.ident}: not used{use}")
        else:
            shape_text = _tuple([ident for ident, _ in p.axes]) if p.axes else "()"
            note = " (its symmetry is not checked)" if p.kind == "symmetric" else ""
            lines.append(f"{p.ident}: {p.kind}, shape {shape_text}{note}")
    many = len(program.outputs) > 1
    lines += [
        "",
        f"Returns {'a tuple of the results, in the order above' if many else 'the result'}; vectors are 1-D arrays.",
        "A derivative of F by X has shape F.shape + X.shape (the gradient of a scalar has the shape of X).",
    ]
    text = "\n".join(f"{indent}{line}" if line else "" for line in lines)
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')  # a docstring, whatever the text holds
    return [f'{indent}"""{text.lstrip()}', f'{indent}"""']


def _checks(program: Program, backend: Backend, indent: str) -> list[str]:
    lines: list[str] = []
    for p in program.parameters:
        for ident, axis in p.reads:
            lines.append(f"{indent}{ident} = {p.ident}.shape[{axis}]")
        if not p.used:
            continue
        name = p.ident
        lines.append(f"{indent}if {name}.ndim != {p.ndim}:")
        lines.append(
            f'{indent}    raise ValueError(f"{name} is a {p.kind}, so it needs {p.ndim} '
            f'ax{"i" if p.ndim == 1 else "e"}s; got shape {{tuple({name}.shape)}}")'
        )
        binding = [(k, ident) for k, (ident, binds) in enumerate(p.axes) if binds]
        if len(binding) == p.ndim and p.ndim:
            targets = ", ".join(ident for _, ident in binding) + ("," if p.ndim == 1 else "")
            lines.append(f"{indent}{targets} = {name}.shape")
            continue
        for k, ident in binding:
            lines.append(f"{indent}{ident} = {name}.shape[{k}]")
        if p.ndim and len(binding) < p.ndim:
            expected = _tuple([ident for ident, _ in p.axes])
            lines.append(f"{indent}if tuple({name}.shape) != {expected}:")
            lines.append(
                f'{indent}    raise ValueError(f"{name} has shape {{tuple({name}.shape)}}; '
                f'the other arguments need {expected} = {{{expected}}}")'
            )
    return lines


def source(program: Program, backend: Backend, name: str, docstring: bool = True) -> str:
    """The module defining `name` that runs `program` with `backend` (with its docstring, or without, for
    evaluation's own use)."""
    indent = "    "
    used = [p for p in program.parameters if p.used or p.reads]
    helper_ops = sorted({i.attrs[0] for i in program.instructions if i.op == "func"})
    helpers = [REGISTRY[op].helpers[backend.name] for op in helper_ops if backend.name in REGISTRY[op].helpers]
    head = [f'"""{name}: generated by matdiff for {backend.library}; it needs nothing of matdiff to run."""', ""]
    head += list(backend.imports)
    if backend.name == "jax" and program.uses("factor"):
        head.append("import jax.scipy.linalg")
    if backend.name == "jax" and any(backend_uses_transposed(backend, i) for i in program.instructions):
        helpers.append(_JAX_TRANSPOSED)
    for helper in helpers:
        head += ["", "", helper.strip("\n")]
    body: list[str] = []
    if docstring:
        body += _docstring(program, backend, indent)
    if backend.name == "array_api":
        arrays = [p.ident for p in used if p.ndim > 0] or [p.ident for p in used]
        body.append(f"{indent}xp = array_namespace({', '.join(arrays)})" if arrays else f"{indent}import numpy as xp")
        convert = "xp.asarray({x})"
    else:
        convert = backend.convert
    if convert:
        for p in used:
            body.append(f"{indent}{p.ident} = {convert.format(x=p.ident)}")
    body += _checks(program, backend, indent)
    creates = any(i.op in ("eye", "full", "array") for i in program.instructions)
    if creates:
        body += _dtype_lines(program, backend, indent)
    for instruction in program.instructions:
        if instruction.op == "add" and len(instruction.args) > _TERMS_PER_LINE:  # long sums: a few lines
            args, coefficients = instruction.args, instruction.attrs
            for start in range(0, len(args), _TERMS_PER_LINE):
                part = _signed_sum(args[start : start + _TERMS_PER_LINE], coefficients[start : start + _TERMS_PER_LINE])
                line = f"{instruction.target} + ({part})" if start else part
                body.append(f"{indent}{instruction.target} = {line}")
            continue
        right = backend.spell(instruction)
        if right is not None:
            body.append(f"{indent}{instruction.target} = {right}")
    outputs = []
    for ref, expr in zip(program.outputs, program.exprs):
        if backend.name == "numpy" and expr.ndim == 0:
            ref = f"np.asarray({ref})"  # NumPy returns a scalar, not a 0-d array, from x @ y
        outputs.append(ref)
    body.append(f"{indent}return {', '.join(outputs)}")
    params = ", ".join(p.ident for p in program.parameters)
    return "\n".join([*head, "", "", f"def {name}({params}):", *body]) + "\n"


def _dtype_lines(program: Program, backend: Backend, indent: str) -> list[str]:
    used = [p.ident for p in program.parameters if p.used]
    if not used:
        defaults = {"numpy": "np.float64", "jax": "jnp.result_type(float)", "torch": "torch.float64",
                    "array_api": "xp.float64"}  # fmt: skip
        lines = [f"{indent}dtype = {defaults[backend.name]}"]
        if backend.name in ("torch", "array_api"):
            lines.append(f"{indent}device = None")
        return lines
    first = used[0]
    if backend.name == "numpy":
        return [f"{indent}dtype = np.result_type({', '.join(used)}, 1.0)"]
    if backend.name == "jax":
        return [f"{indent}dtype = jnp.result_type({', '.join(used)}, 1.0)"]
    if backend.name == "torch":
        return [
            f"{indent}dtype = {first}.dtype if {first}.is_floating_point() else torch.get_default_dtype()",
            f"{indent}device = {first}.device",
        ]
    return [
        f'{indent}dtype = {first}.dtype if xp.isdtype({first}.dtype, "real floating") else xp.float64',
        f"{indent}device = device_of({first})",  # Dask arrays have no .device attribute
    ]


# ---------------------------------------------------------------------------------------------
# Public entry points


def _roots(exprs: Sequence[Any], what: str) -> tuple[Expr, ...]:
    if not exprs:
        raise ArgumentError(f"{what} needs at least one expression")
    for item in exprs:
        if not isinstance(item, Expr):
            raise ArgumentError(f"{what} needs matdiff expressions, got {type(item).__name__}")
    return tuple(exprs)


def _args(args: Sequence[str] | str | None) -> Sequence[str] | None:
    if isinstance(args, str):
        return [args]
    if args is not None and not isinstance(args, Sequence):
        raise ArgumentError(f"args must be a list of variable names, got {type(args).__name__}")
    return args


def _function_name(name: object) -> str:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ArgumentError(f"name must be a Python identifier not starting with _, got {name!r}")
    import keyword

    if keyword.iskeyword(name):
        raise ArgumentError(f"name must not be a Python keyword, got {name!r}")
    return name


def codegen(*exprs: Expr, args: Sequence[str] | None = None, backend: str = "numpy", name: str = "f") -> str:
    """The source of a Python module defining ``def name(...)`` that computes `exprs` with `backend`.

    `backend` is "numpy", "jax", "torch" or "array_api" (the Python Array API standard, with the namespace
    taken from the inputs through array-api-compat: NumPy, CuPy, PyTorch, JAX and Dask arrays). The module
    imports only its backend. Its parameters are `args` in order (default: every variable of the
    expressions, alphabetically; names no expression uses are accepted and ignored); it checks the arguments'
    shapes against each other, raising ValueError naming the argument, and returns one array, or a tuple
    of arrays in the order of `exprs`. Shared work is computed once, into temporaries t0, t1, ...
    """
    chosen = backend_named(backend)
    program = lower(_roots(exprs, "codegen"), _args(args))
    return source(program, chosen, _function_name(name))


_counter = itertools.count()


def _run(text: str, name: str) -> Callable[..., Any]:
    """The function `name` defined by generated source `text` (shown in tracebacks through linecache)."""
    filename = f"<matdiff-generated-{next(_counter)}>"
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)
    namespace: dict[str, Any] = {"__name__": "matdiff.generated"}
    exec(compile(text, filename, "exec"), namespace)  # noqa: S102 - matdiff's own generated code, see the module doc
    return namespace[name]


def _ensure_installed(backend: Backend) -> None:
    if importlib.util.find_spec(backend.module) is None:
        raise ArgumentError(
            f"the {backend.name} backend needs {backend.library}, which is not installed: "
            f"pip install 'matdiff[{backend.extra}]'"
        )


def compile_exprs(*exprs: Expr, args: Sequence[str] | None = None, backend: str = "numpy") -> Callable[..., Any]:
    """`exprs` as a Python function of their variables, run with `backend` (see `codegen`).

    The function takes the variables by position, in `args` order (default: alphabetical), or by
    keyword, and returns one array or a tuple of arrays. Its `source` attribute holds the generated
    module; `jax.jit` and `torch.compile` accept it. Compiled functions are cached per expressions,
    `args` and backend.
    """
    chosen = backend_named(backend)
    roots = _roots(exprs, "compile")
    arguments = _args(args)
    key = ("compiled", roots[1:], tuple(arguments) if arguments is not None else None, chosen.name)
    function = roots[0]._memo.get(key)
    if function is None:
        _ensure_installed(chosen)
        program = lower(roots, arguments)
        text = source(program, chosen, "compiled")
        function = _run(text, "compiled")
        renamed = [p for p in program.parameters if p.ident != p.name]
        if renamed:
            function = _with_names(function, program)
        function.source = text  # type: ignore[attr-defined]
        function.args = tuple(p.name for p in program.parameters)  # type: ignore[attr-defined]
        roots[0]._memo[key] = function
    return function


def _with_names(function: Callable[..., Any], program: Program) -> Callable[..., Any]:
    """A wrapper that takes keywords by the variables' names where Python needed other identifiers."""
    names = [p.name for p in program.parameters]

    def call(*args: Any, **kwargs: Any) -> Any:
        values = list(args)
        for name in names[len(values) :]:
            if name not in kwargs:
                raise TypeError(f"missing argument {name!r}")
            values.append(kwargs.pop(name))
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(sorted(kwargs))}")
        return function(*values)

    return call


def evaluator(roots: Sequence[Expr], args: Sequence[str]) -> Callable[..., Any]:
    """The compiled NumPy function behind `expr.evaluate`, of `args` (the variables, then any other names
    whose sizes it needs). Cached per expressions and args."""
    key = ("evaluator", tuple(roots[1:]), tuple(args))
    found = roots[0]._memo.get(key)
    if found is None:
        program = lower(roots, args)
        found = _run(source(program, _BACKENDS["numpy"], "evaluate", docstring=False), "evaluate")
        roots[0]._memo[key] = found
    return found
