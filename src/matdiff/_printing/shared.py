"""Named shared subexpressions, as MatrixCalculus.org prints them: ``t0 = ...``, then the result in terms of them.

The DAG shares every equal subexpression (hash-consing), but printing writes it as a tree, so a term used in
several places is written out each time: the autoencoder's gradient repeats one sigmoid four times. Here the
number of times each node would be written is counted (the paths to it from the root); a node written more
than once, and long enough to be worth a name, becomes a variable ``t0``, ``t1``, ... (innermost first), and
the definitions are printed before the result.

The lowered program (`_lower`) names every intermediate for a machine; this names only what repeats, for a
reader. Both read the same hash-consed DAG.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from .. import _expr as E
from .._expr import Expr, postorder

MIN_LENGTH = 8  # characters: x'*y or sum(x) is short enough to repeat; sigmoid(W*x) deserves a name


def shared_terms(root: Expr, text: Callable[[Expr], str]) -> tuple[list[tuple[str, Expr]], Expr]:
    """The definitions (name, expression in terms of earlier names) and the result in terms of them.

    `text` prints one expression; it measures which repeated terms are long enough to name.
    """
    order = postorder([root])
    written: Counter[Expr] = Counter({root: 1})  # how often each node is written when the root prints
    chosen: set[Expr] = set()
    for node in reversed(order):  # parents first: a named node's parts are written once, in its definition
        if node is not root and written[node] > 1 and _nameable(node) and len(text(node)) >= MIN_LENGTH:
            chosen.add(node)
        for child in node.args:
            written[child] += 1 if node in chosen else written[node]
    taken = {n.attrs[0] for n in order if n.op == "var"}
    prefix = next(p for p in ("t", "s", "u", "v", "tmp") if not any(name.startswith(p) for name in taken))
    names: dict[Expr, Expr] = {}
    definitions: list[tuple[str, Expr]] = []
    for node in order:  # children first: a definition may use the names before it
        if node in chosen:
            body = _substituted(node, names)
            if len(text(body)) < MIN_LENGTH:  # -t0 or t0' once its parts are named: shorter written out
                continue
            name = f"{prefix}{len(definitions)}"
            definitions.append((name, body))
            names[node] = E.var(name, ("scalar", "vector", "matrix")[node.ndim], node.shape)
    return definitions, _substituted(root, names)


def _nameable(node: Expr) -> bool:
    """Leaves and row vectors are written as they are; a name stands for a scalar, vector or matrix."""
    return node.args != () and node.op != "row" and node.ndim <= 2


def _substituted(node: Expr, names: dict[Expr, Expr]) -> Expr:
    if not names:
        return node
    return E.rewrite(node, replace=lambda n: names.get(n) if n is not node else None)
