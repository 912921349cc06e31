"""matdiff: symbolic matrix calculus. Derivatives of scalar, vector and matrix expressions, of any order,
printed in matrix notation (or index notation where no matrix form exists) and evaluated with NumPy.

>>> import matdiff as md
>>> f = md.parse("x'*A*x")          # MatrixCalculus.org's syntax; x is a vector, A a matrix
>>> g = md.diff(f, "x")             # the gradient: shape f.shape + x.shape
>>> print(g)
A*x + A'*x
>>> print(md.diff(f, "x", "x"))     # the Hessian
A + A'

## Where to start

- **Expressions**: `parse` reads text (kinds declared by keyword: `md.parse("x'*S*x", S="symmetric")`);
  `scalar`, `vector`, `matrix` and `symmetric` make variables for Python operators (`@` is the matrix
  product). Every function of the syntax is also `md.NAME` (`md.exp`, `md.logdet`, `md.softmax`, ...).
  An expression is an `Expr`: `str(expr)` is text that parses back, `expr.to_latex()` is LaTeX.
- **Derivatives**: `diff(f, *wrt)` of any order; `explain` derives step by step, one named rule at a time.
  `matdiff.views` gives layouts (gradient or numerator), index notation and flattened Jacobians.
- **Numbers**: `Expr.evaluate` and `evaluate` compute values with NumPy; `codegen` and `compile` write the
  value and the derivative as a Python function for NumPy, JAX, PyTorch or the Array API.
- **Optimisation**: `minimize` fits a model written as an expression with scipy.optimize, using symbolic
  gradients and exact Hessians (`md.minimize("norm2(A*x - b)^2", {"x": x0}, data={"A": A, "b": b})`).
- **Checks**: `check` compares a symbolic derivative with a numerical one; `check_gradient` checks a
  gradient written by hand; `matdiff.numeric` differentiates any Python function numerically.
- **Errors** derive from `MatdiffError`; `limits` bounds the work of one call.

The command line (`matdiff diff "x'*A*x" --wrt x`) and the local web page (`matdiff serve`) are described
in the README; the syntax, kinds and shapes in docs/syntax.md.
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
from ._minimize import MinimizeResult, minimize
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
    "explain_chain", "explain_limit", "views", "BACKENDS", "codegen", "compile", "MinimizeResult", "minimize",
    *sorted({operation.python for operation in _REGISTRY.values()}),  # md.sin, md.trace, md.sum, ...
]  # fmt: skip
__version__ = "0.1.0"
