"""md.diff: derivatives of any order, by forward-mode rules over the DAG."""

from __future__ import annotations

from . import _expr as E
from ._api import expression
from ._errors import DiffError
from ._expr import Expr, find_variable, postorder
from ._limits import NodeBudget
from ._rules import CONSTANT_OPS, rule_for, variable_derivative
from ._shapes import dim_classes
from ._simplify import simplify


def diff(expr: Expr | str, /, *wrt: str | Expr, **kinds: str) -> Expr:
    """The derivative of `expr` with respect to each of `wrt` in turn.

    The result has shape ``expr.shape + wrt[0].shape + wrt[1].shape + ...`` (J_ijkl = dA_ij/dB_kl,
    as in the lecture, JAX and MatrixCalculus.org). A scalar by a vector gives a vector (the
    gradient), a vector by a vector the Jacobian, ``diff(f, x, x)`` the Hessian. Each item of `wrt`
    is a variable or the name of one in `expr`. The derivative with respect to a symmetric matrix
    is (G + G')/2, where G is the gradient that treats every entry as independent.

    `expr` may be text, parsed with the kinds given as keywords:
    ``md.diff("x'*S*x", "x", S="symmetric")``.
    """
    expr = expression(expr, kinds, "diff")
    if not wrt:
        raise DiffError("diff needs at least one variable to differentiate by")
    result = with_canonical_dims(expr)
    for item in wrt:
        variable = resolve_variable(expr, result, item)
        result = simplify(derivative(result, variable))
    return result


def with_canonical_dims(expr: Expr) -> Expr:
    """Name the inferred sizes (of eye, vector(c), ...) by their class, so a derivative that drops
    the factor that fixed a size still knows it: d(vector(1)'*x)/dx is ones of x's length."""
    classes = dim_classes([expr])
    return E.rewrite(expr, lambda node: E.resize_constant(node, classes.canonical(node.shape)))


def resolve_variable(original: Expr, current: Expr, item: str | Expr) -> Expr:
    """The variable to differentiate by: `item` itself, or the variable of that name in the expression."""
    if isinstance(item, Expr):
        if item.op != "var":
            raise DiffError(f"can only differentiate by a variable, not by {item}")
        node = find_variable([original, current], item.attrs[0])
        if node is not None and node is not item:
            raise DiffError(
                f"{item.attrs[0]} occurs in the expression as a {node.attrs[1]} of shape {node.shape}, "
                f"but the variable given is a {item.attrs[1]} of shape {item.shape}"
            )
        return item
    if not isinstance(item, str):
        raise DiffError(f"differentiate by a variable or its name, not {type(item).__name__}")
    found = find_variable([original, current], item)
    if found is not None:
        return found
    names = ", ".join(sorted(original.free)) or "none"
    maker = "matrix" if item[:1].isupper() else "vector"  # the kind the text syntax gives such a name
    raise DiffError(
        f"{item!r} does not occur in the expression (its variables: {names}); "
        f"to differentiate by a variable that does not occur, pass it, e.g. md.{maker}({item!r})"
    )


def derivative(expr: Expr, wrt: Expr) -> Expr:
    """d expr / d wrt, one forward-mode pass over the nodes that depend on `wrt`."""
    return derivatives(expr, wrt)[id(expr)]


def derivatives(expr: Expr, wrt: Expr) -> dict[int, Expr]:
    """The derivative of every node of `expr` by `wrt`, keyed by id(node) (for md.explain)."""
    name = wrt.attrs[0]
    axes = tuple(range(wrt.ndim))
    budget = NodeBudget(E.node_count, f"the derivative by {name}")
    done: dict[int, Expr] = {}
    for node in postorder([expr]):
        budget.check()
        if name not in node.free:
            done[id(node)] = E.zeros(node.shape + wrt.shape)
        elif node.op == "var":
            done[id(node)] = variable_derivative(node, wrt)
        elif node.op in CONSTANT_OPS:  # pragma: no cover - constants have no free variables
            done[id(node)] = E.zeros(node.shape + wrt.shape)
        else:
            parts = tuple(done[id(child)] for child in node.args)
            if all(E.is_zero(p) for p in parts):
                done[id(node)] = E.zeros(node.shape + wrt.shape)
            else:
                done[id(node)] = rule_for(node.op)(node, node.args, parts, axes)
    return done
