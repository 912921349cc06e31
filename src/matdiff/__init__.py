"""matdiff: symbolic matrix calculus. Derivatives of scalar, vector and matrix expressions.

>>> import matdiff as md
>>> f = md.parse("x'*A*x")
>>> print(md.diff(f, "x"))
A*x + A'*x
"""

from . import numeric, views

# the composites (sugar for products) are registered beside their builders in _algebra; __all__ lists them
from ._algebra import constant_matrix, constant_vector, diag, eye, norm1, trace, transpose  # noqa: F401
from ._algebra import total as sum  # noqa: F401, A001 - md.sum mirrors the syntax's sum()
from ._api import evaluate, matrix, scalar, symmetric, to_latex, to_text, vector
from ._check import CheckReport, check, check_gradient
from ._codegen import BACKENDS, codegen
from ._codegen import compile_exprs as compile  # noqa: A001 - md.compile, as the issue names it
from ._diff import diff
from ._errors import ArgumentError, DiffError, EvaluationError, MatdiffError, NestingError, ParseError, ShapeError
from ._explain import Derivation, Step, explain, explain_chain, explain_limit
from ._expr import Expr
from ._limits import LimitError, Limits, limits
from ._ops import *  # noqa: F403 - every public name of _ops is a registered function (md.sin, md.inv, ...)
from ._parser import parse
from ._registry import REGISTRY as _REGISTRY
from ._registry import Operation

tr = trace

__all__ = [
    "ArgumentError", "DiffError", "EvaluationError", "Expr", "MatdiffError", "NestingError", "ParseError", "ShapeError",
    "LimitError", "Limits", "Operation", "diff", "limits", "evaluate", "eye", "matrix", "numeric", "parse",
    "scalar", "symmetric", "to_latex", "to_text",
    "tr", "transpose", "vector", "CheckReport", "check", "check_gradient", "Derivation", "Step", "explain",
    "explain_chain", "explain_limit", "views", "BACKENDS", "codegen", "compile",
    *sorted({operation.python for operation in _REGISTRY.values()}),  # md.sin, md.trace, md.sum, ...
]  # fmt: skip
__version__ = "0.1.0"
