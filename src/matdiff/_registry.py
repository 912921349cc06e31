"""The operation registry: what matdiff knows about each function, declared once.

Every function of the syntax is one `Operation` (declared in `_ops.py`, or, for the functions that
are sugar for a product, beside their builder in `_algebra.py`), and every table that needs to know
about functions derives from `REGISTRY`: the parser's function list, the `md.*` names, evaluation,
derivative rules, step names in explanations, LaTeX spellings and the domains used for random values
in checks. A name that is not registered raises `UnknownOperation`; nothing falls through to a default.

The structural nodes (products, sums, variables, constants, powers, row vectors) are not functions; their
evaluation, derivative and printing are written once each in the module that owns that pass, keyed by
the names in `STRUCTURAL`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ._errors import MatdiffError

if TYPE_CHECKING:
    from ._expr import Expr, Operand

STRUCTURAL = ("var", "const", "zeros", "ones", "delta", "hole", "row", "einsum", "add", "pow")
"""The node operations that are not registered functions: leaves, products, sums, powers, row vectors."""


class Kind(enum.Enum):
    """What an operation does to the shape of its argument."""

    ELEMENTWISE = "element-wise"  # f applied to every entry: same shape
    REDUCTION = "reduction"  # a vector or matrix to a scalar, or softmax's vector to a vector
    MATRIX = "matrix function"  # a function of a square matrix: inv, det, logdet
    COMPOSITE = "composite"  # sugar that lowers to a product or to other operations (tr, diag, sum, ...)


@dataclass(frozen=True)
class Domain:
    """Where a function's argument may lie: used to draw random values in checks, and to reject them.

    `draw` names the distribution `md.check` draws a variable from ("positive", "unit", "away", "spd",
    or None for a standard normal); `contains` tells whether an evaluated argument is inside, and
    `reason` says why not.
    """

    name: str
    draw: str | None
    contains: Callable[[np.ndarray], bool]
    reason: str = ""


def _square(a: np.ndarray) -> bool:
    return a.ndim == 2 and a.shape[0] == a.shape[1]


REAL = Domain("real", None, lambda a: True)
POSITIVE = Domain("x > 0", "positive", lambda a: bool(np.all(a > 1e-3)), "is not positive")
ABOVE_MINUS_ONE = Domain("x > -1", "positive", lambda a: bool(np.all(a > -1.0 + 1e-3)), "is not above -1")
OPEN_UNIT = Domain("-1 < x < 1", "unit", lambda a: bool(np.all(np.abs(a) < 0.95)), "is not inside (-1, 1)")
AWAY_FROM_POLES = Domain("cos x != 0", "unit", lambda a: bool(np.all(np.abs(np.cos(a)) > 0.05)), "is near a pole")
NONZERO = Domain("x != 0", "away", lambda a: True)  # smooth away from 0; drawn away from it
WELL_CONDITIONED = Domain(
    "square, invertible",
    "spd",
    lambda a: not _square(a) or bool(np.linalg.cond(a) < 1e8),
    "is badly conditioned",
)
POSITIVE_DETERMINANT = Domain(
    "square, det > 0",
    "spd",
    lambda a: not _square(a) or (bool(np.linalg.cond(a) < 1e8) and bool(np.linalg.slogdet(a)[0] > 0)),
    "is badly conditioned or has a non-positive determinant",
)


class UnknownOperation(MatdiffError):
    """An operation name that no registry entry declares."""


@dataclass(frozen=True, eq=False)
class Operation:
    """One function of the syntax, with every facet that matdiff needs of it, side by side.

    - `name`: the node's operation and the spelling in the text syntax (``sin(x)``);
    - `kind`: element-wise, reduction, matrix function, or composite (sugar for other nodes);
    - `value`: the NumPy implementation, array to array (none for composites);
    - `derivative`: for an element-wise f, ``f'(y, x)`` as an expression (y = f(x) is the node, so
      sigmoid' can reuse it); for reductions and matrix functions, the forward rule
      ``(y, args, dargs, w) -> dy``;
    - `rule` and `identity`: how `md.explain` names the step and the rule in symbols;
    - `latex`: a command (``\\sin``, ``\\operatorname{softplus}``) or a template with ``{}`` for the
      argument (``\\sqrt{{{}}}``);
    - `python`: the name under `md` (``md.sin``); `domain`: where the argument may lie;
    - `build`: the constructor for the syntax and for `md.NAME` (element-wise functions get theirs);
    - `codegen`: the spelling in generated code, by backend name: a template with ``{x}`` for the argument,
      ``{ns}`` for the backend's namespace (``np``, ``jnp``, ``torch``, ``xp``) and ``{axes}`` for all of the
      argument's axes; a backend not named spells it ``{ns}.NAME({x})``;
    - `helpers`: by backend name, the source of helper functions that its template calls;
    - `symmetric`: whether the function of a symmetric matrix is symmetric;
    - `doc`: one line for `md.NAME`'s docstring.
    """

    name: str
    kind: Kind
    doc: str
    latex: str
    value: Callable[[np.ndarray], np.ndarray] | None = None
    derivative: Callable[..., Expr] | None = None
    identity: str = ""
    rule: str = ""
    python: str = ""
    domain: Domain = REAL
    build: Callable[..., Expr] | None = None
    codegen: Mapping[str, str] = field(default_factory=dict)
    helpers: Mapping[str, str] = field(default_factory=dict)
    symmetric: bool = False

    def __call__(self, x: Operand) -> Expr:
        """The operation applied to an expression (or a number): ``md.sin(x)``."""
        assert self.build is not None
        return self.build(x)

    def __repr__(self) -> str:
        return f"<matdiff operation {self.name} ({self.kind.value})>"

    def __post_init__(self) -> None:  # md.sin.__doc__ describes the function, not the class
        object.__setattr__(self, "__doc__", f"{self.doc}\n\nIn the syntax: {self.name}(x). Domain: {self.domain.name}.")

    def latex_call(self, argument: str) -> str:
        """The LaTeX of the operation applied to `argument` (already LaTeX): a template filled in, or the
        command followed by the argument in brackets."""
        if "{}" in self.latex or "{{" in self.latex:  # a template (braces escaped for str.format)
            return self.latex.format(argument)
        return rf"{self.latex}\left({argument}\right)"

    def code(self, backend: str, argument: str, ndim: int, namespace: str) -> str:
        """The operation applied to `argument` (a name) in generated code for `backend`."""
        template = self.codegen.get(backend, "{ns}." + self.name + "({x})")
        return template.format(x=argument, ns=namespace, axes=tuple(range(ndim)))

    @property
    def step_name(self) -> str:
        """The rule's name in a derivation: "chain rule (sin)", "Jacobi's formula", ..."""
        return self.rule or (f"chain rule ({self.name})" if self.kind is Kind.ELEMENTWISE else "identity")


REGISTRY: dict[str, Operation] = {}
"""Every registered operation, by its name in the syntax."""


def register(operation: Operation) -> Operation:
    """Add an operation to the registry; a name may be declared only once."""
    if operation.name in REGISTRY or operation.name in STRUCTURAL:
        raise ValueError(f"the operation {operation.name!r} is declared twice")
    if operation.kind is not Kind.COMPOSITE and (operation.value is None or operation.derivative is None):
        raise ValueError(f"the operation {operation.name!r} needs a value and a derivative")
    REGISTRY[operation.name] = operation
    return operation


def lookup(name: str) -> Operation:
    """The registered operation called `name`; raises UnknownOperation for any other name."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownOperation(f"unknown operation {name!r}") from None


def is_function(name: str) -> bool:
    """Whether `name` is a registered function with a node of its own (not a composite)."""
    operation = REGISTRY.get(name)
    return operation is not None and operation.kind is not Kind.COMPOSITE


def of_kind(kind: Kind) -> tuple[str, ...]:
    """The names of the registered operations of one kind, in declaration order."""
    return tuple(name for name, operation in REGISTRY.items() if operation.kind is kind)
