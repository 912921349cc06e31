"""matdiff: symbolic matrix calculus. Derivatives of scalar, vector and matrix expressions.

>>> import matdiff as md
>>> f = md.parse("x'*A*x")
>>> print(md.diff(f, "x"))
A*x + A'*x
"""

from . import numeric, views
from ._algebra import apply as _apply
from ._algebra import (
    constant_matrix,
    constant_vector,
    det,
    diag,
    eye,
    inv,
    logdet,
    logsumexp,
    norm1,
    norm2,
    softmax,
    trace,
    transpose,
)
from ._algebra import total as sum  # noqa: A001 - md.sum mirrors the syntax's sum()
from ._api import evaluate, matrix, scalar, symmetric, to_latex, to_text, vector
from ._check import CheckReport, check, check_gradient
from ._diff import diff
from ._errors import ArgumentError, DiffError, EvaluationError, MatdiffError, NestingError, ParseError, ShapeError
from ._explain import Derivation, Step, explain, explain_chain, explain_limit
from ._expr import Expr
from ._parser import parse

tr = trace


def _elementwise(name: str):
    def function(x):
        return _apply(name, x)

    function.__name__ = name
    function.__doc__ = f"Element-wise {name}."
    return function


sin, cos, tan = _elementwise("sin"), _elementwise("cos"), _elementwise("tan")
arcsin, arccos, arctan = _elementwise("arcsin"), _elementwise("arccos"), _elementwise("arctan")
exp, log, sqrt, tanh = _elementwise("exp"), _elementwise("log"), _elementwise("sqrt"), _elementwise("tanh")
abs, sign = _elementwise("abs"), _elementwise("sign")  # noqa: A001
relu, sigmoid, step = _elementwise("relu"), _elementwise("sigmoid"), _elementwise("step")

__all__ = [
    "ArgumentError", "DiffError", "EvaluationError", "Expr", "MatdiffError", "NestingError", "ParseError", "ShapeError",
    "abs", "arccos", "arcsin", "arctan", "constant_matrix", "constant_vector", "cos", "det", "diag",
    "diff", "evaluate", "exp", "eye", "inv", "log", "logdet", "logsumexp", "matrix", "norm1", "norm2", "numeric",
    "parse", "relu", "scalar", "sigmoid", "sign", "sin", "softmax", "sqrt", "sum", "symmetric", "tan",
    "step", "tanh", "to_latex", "to_text", "tr", "trace", "transpose", "vector",
    "CheckReport", "check", "check_gradient", "Derivation", "Step", "explain", "explain_chain", "explain_limit",
    "views",
]  # fmt: skip
__version__ = "0.1.0"
