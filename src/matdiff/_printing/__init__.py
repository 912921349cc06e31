"""Printing: a separate pass from expressions to a small layout tree, then to text or LaTeX.

- `doc`: the layout tree, one frozen dataclass per construct (Symbol, Product, Sum, ...);
- `matrix`: the matrix-notation pass, which reads each product's index structure as chains,
  traces, diag and Hadamard products, and states sizes that nothing else fixes;
- `index`: index notation, ``D[i,j,k] = A[i,k]*x[j]``, where no matrix form exists, and the
  einsum last resort;
- `render`: one renderer, with a table of spellings for the text syntax and one for LaTeX.

Everything the rest of matdiff needs is exported here; the modules are internal to the package.
"""

from __future__ import annotations

from .. import _expr as E
from .._expr import Expr
from .doc import Divide, Doc, ElementwiseDivide, Equation, Hadamard, Product, Sum  # what callers inspect or build
from .index import INDEX_NAMES, FreshNames, einsum_layout, index_body, index_equation, index_layout
from .matrix import NoMatrixForm, matrix_layout
from .render import render_latex, render_text
from .shared import shared_terms

__all__ = [
    "INDEX_NAMES", "Divide", "Doc", "ElementwiseDivide", "Equation", "FreshNames", "Hadamard", "NoMatrixForm",
    "Product", "Sum", "einsum_layout", "index_body", "index_layout", "layout", "render_latex", "render_text",
    "to_latex", "to_text",
]  # fmt: skip


def layout(node: Expr) -> Doc:
    """The layout of `node`: matrix notation where every product has one, index notation otherwise."""
    if node.ndim <= 2:
        try:
            return matrix_layout(node)
        except NoMatrixForm:
            pass
    return index_equation(node)


def to_text(node: Expr, shared: bool = False) -> str:
    """The text syntax of an expression (index notation where no matrix form exists). With `shared`, terms
    written more than once are named first, one definition a line: ``t0 = ...``, then the result."""
    if not shared:
        return render_text(layout(node))
    definitions, result = shared_terms(node, to_text)
    return "\n".join([*(f"{name} = {to_text(body)}" for name, body in definitions), to_text(result)])


def to_latex(node: Expr, shared: bool = False) -> str:
    """LaTeX for an expression, in matrix notation or in index notation. With `shared`, an aligned block:
    the named terms, then the result."""
    if not shared:
        return render_latex(layout(node))
    definitions, result = shared_terms(node, to_text)
    if not definitions:
        return to_latex(result)
    lines = [f"{render_latex(layout(E.var(name, 'scalar')))} &= {to_latex(body)}" for name, body in definitions]
    return "\\begin{aligned}" + " \\\\ ".join([*lines, f"& {to_latex(result)}"]) + "\\end{aligned}"
