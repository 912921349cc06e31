"""The text syntax (MatrixCalculus.org-compatible), parsed with a Lark LALR grammar.

User text is only ever tokenised and parsed: it never reaches eval or exec. Parsing and
building are iterative, so deeply nested input cannot exhaust Python's stack.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import _algebra as A
from . import _expr as E
from ._errors import EvaluationError, MatdiffError, ParseError, ShapeError, _caret, advised, with_tail
from ._expr import Expr
from ._limits import LimitError
from ._registry import REGISTRY

GRAMMAR = r"""
?start: sum
?sum: product
    | sum "+" product   -> add
    | sum "-" product   -> sub
?product: unary
    | product "*" unary   -> mul
    | product "/" unary   -> div
    | product ".*" unary  -> hadamard
    | product "./" unary  -> ediv
?unary: power
    | "-" unary -> neg
    | "+" unary
?power: postfix
    | power "^" exponent   -> pow
    | power ".^" exponent  -> epow
?exponent: postfix
    | "-" exponent -> neg
    | "+" exponent
?postfix: atom
    | postfix "'"         -> transpose
?atom: NUMBER             -> number
    | NAME                -> name
    | NAME "(" sum ("," sum)* ")" -> call
    | "(" sum ")"
NUMBER: /(\d+(\.\d+)?|\.\d+)([eE][-+]?\d+)?/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
%ignore /[ \t\r\n]+/
"""

_PARSER = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)
MAX_DEPTH = 200  # deeper input gets a clear error, far from Python's own stack limit
MAX_LENGTH = 100_000
_CONSTANTS = {"eye"}
_BINARY = {
    "add": A.add, "sub": A.sub, "mul": A.matmul, "div": A.divide, "hadamard": A.hadamard,
    "ediv": A.elementwise_divide, "pow": A.power, "epow": A.elementwise_power,
}  # fmt: skip
_SEARCH_LIMIT = 256  # kind assignments tried at most: the search is exponential in the names it may change
_FAMILY = {"add": "sum", "sub": "sum", "mul": "product", "div": "product", "hadamard": "product", "ediv": "product"}


def parse(text: str, /, **kinds: str) -> Expr:
    """Parse an expression in the MatrixCalculus.org-style syntax.

    Declare kinds by keyword: ``md.parse("x'*A*x", x="vector", A="symmetric")``. Undeclared names
    get a kind by convention, an upper-case initial a matrix and a lower-case one a vector. Where
    that does not type-check, names used in a power (a^b) or as a divisor (a/b) may change kind:
    one name at a time (to a scalar first), then all of them to scalars, then the other combinations,
    at most 256 readings in all; otherwise the first error stands. A constant that folds to a value that
    is not finite (``1/0``, ``log(-1)``, ``arcsin(2)``, ``1e999``) is an EvaluationError with a caret.
    """
    if not isinstance(text, str):
        raise ParseError(f"expected text, got {type(text).__name__}", repr(text), 0)
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the expression is longer than {MAX_LENGTH} characters", text[:200], 0)
    for name, kind in kinds.items():
        if kind not in E.KINDS:
            raise ShapeError(f"unknown kind {kind!r} for {name}: use one of {', '.join(E.KINDS)}")
    tree = _syntax_tree(text)
    names = _collect_names(tree, text)
    return _build_with_kinds(_sum_chains(tree), text, names, _scalar_hints(tree), kinds)


def _syntax_tree(text: str) -> Tree:
    if not text.strip():
        raise ParseError("empty expression", text, 0)
    try:
        tree = _PARSER.parse(text)
    except UnexpectedCharacters as error:
        position = error.pos_in_stream or 0
        raise ParseError(f"unexpected character {text[position]!r}", text, position) from None
    except UnexpectedEOF:
        raise ParseError("unexpected end of input", text, len(text)) from None
    except UnexpectedToken as error:
        token = error.token
        if token.type == "$END":
            raise ParseError("unexpected end of input", text, len(text)) from None
        raise ParseError(f"unexpected {str(token)!r}", text, token.start_pos) from None
    except UnexpectedInput as error:  # pragma: no cover - the cases above are exhaustive
        raise ParseError("invalid input", text, getattr(error, "pos_in_stream", 0) or 0) from None
    return tree


def _children_trees(node: Tree | Token) -> list[Tree]:
    return [c for c in node.children if isinstance(c, Tree)] if isinstance(node, Tree) else []


def _collect_names(tree: Tree, text: str) -> list[str]:
    """Variable names in order of appearance; checks function names and nesting depth."""
    names: list[str] = []
    stack: list[tuple[Tree, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            position = node.meta.start_pos if not node.meta.empty else 0
            raise ParseError(f"the expression is nested more than {MAX_DEPTH} levels deep", text, position)
        if node.data == "name":
            name = str(node.children[0])
            if name in REGISTRY:
                raise ParseError(f"{name} is a function: write {name}(...)", text, node.meta.start_pos)
            if name not in _CONSTANTS and name not in names:
                names.append(name)
        if node.data == "call":
            fname = node.children[0]
            assert isinstance(fname, Token)
            if str(fname) not in REGISTRY:
                known = ", ".join(sorted(REGISTRY))
                raise ParseError(f"unknown function {str(fname)!r} (known: {known})", text, fname.start_pos or 0)
        for child in reversed(_children_trees(node)):  # a chain a+b+c... is flat once built
            same_family = child.data in _FAMILY and _FAMILY[child.data] == _FAMILY.get(node.data)
            stack.append((child, depth if same_family else depth + 1))
    return names


def _default_kind(name: str) -> str:
    return "matrix" if name[0].isupper() else "vector"


def _alternatives(name: str) -> tuple[str, ...]:
    return ("scalar", "vector") if name[0].isupper() else ("scalar", "matrix")


def _scalar_hints(tree: Tree) -> set[str]:
    """Names used where a scalar is expected: in a power a^b, or as a divisor a/b."""
    hinted: set[str] = set()
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    while stack:
        node, hint = stack.pop()
        if node.data == "name" and hint:
            hinted.add(str(node.children[0]))
        children = _children_trees(node)
        for position, child in enumerate(children):
            divisor = node.data == "div" and position == 1
            stack.append((child, hint or node.data == "pow" or divisor))
    return hinted


def _departures(base: Mapping[str, str], free: list[str]) -> Iterator[dict[str, str]]:
    """Kind assignments to try, in order: the convention; each single departure (to a scalar first);
    every hinted name a scalar (the usual reading of many powers, a^b + c^d); then the other
    combinations, fewest departures first. The caller stops after _SEARCH_LIMIT of them."""
    yield dict(base)
    for name in free:
        for kind in _alternatives(name):
            yield dict(base, **{name: kind})
    if len(free) > 1:
        yield dict(base, **{name: "scalar" for name in free})
    for changes in range(2, len(free) + 1):
        for chosen in itertools.combinations(free, changes):
            for kinds in itertools.product(*(_alternatives(n) for n in chosen)):
                yield dict(base, **dict(zip(chosen, kinds)))


def _build_with_kinds(tree: Tree, text: str, names: list[str], hints: set[str], declared: Mapping[str, str]) -> Expr:
    free = [n for n in names if n not in declared and n in hints]
    base = {n: declared.get(n, _default_kind(n)) for n in names}
    first_error: MatdiffError | None = None
    for assignment in itertools.islice(_departures(base, free), _SEARCH_LIMIT):
        try:
            return _build(tree, text, assignment)
        except ShapeError as error:
            if first_error is None:
                first_error = error
    assert first_error is not None
    undeclared = [n for n in names if n not in declared]
    if undeclared:
        # the kinds tried, and an example that names a variable of the expression; front ends phrase it
        kinds_used = ", ".join(f"{n}={base[n]}" for n in names)
        raise advised(ShapeError, str(first_error), "kinds", tried=kinds_used, name=undeclared[0]) from None
    raise first_error


T = TypeVar("T")
_CHAIN = "chain:"  # a sum t1 ± t2 ± ... as one node; the signs follow the prefix


def _bottom_up(tree: Tree, visit: Callable[[Tree, list[T]], T]) -> T:
    """visit(node, the results for its subtrees) for every node, children first, with an explicit stack:
    input nested past Python's recursion limit is no problem."""
    done: dict[int, T] = {}
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        subtrees = _children_trees(node)
        if not expanded:
            stack.append((node, True))
            stack.extend((child, False) for child in subtrees)
            continue
        done[id(node)] = visit(node, [done[id(child)] for child in subtrees])
    return done[id(tree)]


def _sum_chains(tree: Tree) -> Tree:
    """The tree with each left-deep chain a + b - c + ... made one node of all its terms, so that it is
    built as a balanced sum: a chain of n binary sums would flatten n times, O(n^2)."""

    def visit(node: Tree, subtrees: list[Tree]) -> Tree:
        rebuilt = iter(subtrees)
        children = [next(rebuilt) if isinstance(c, Tree) else c for c in node.children]
        if node.data not in ("add", "sub"):
            return Tree(node.data, children, node.meta)
        left, right = children
        chained = left.data.startswith(_CHAIN)
        terms, signs = ([*left.children], left.data[len(_CHAIN) :]) if chained else ([left], "+")
        signs += "+" if node.data == "add" else "-"
        return Tree(_CHAIN + signs, [*terms, right], node.meta)

    return _bottom_up(tree, visit)


def _balanced_sum(terms: list[Expr]) -> Expr:
    """t1 + t2 + ... added pairwise in a balanced tree: the same sum, in O(n log n) flattening."""
    while len(terms) > 1:
        paired = [A.add(terms[k], terms[k + 1]) for k in range(0, len(terms) - 1, 2)]
        terms = paired + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0]


def _build(tree: Tree, text: str, kinds: Mapping[str, str]) -> Expr:
    """Build the expression bottom-up."""
    variables = {name: E.var(name, kind) for name, kind in kinds.items()}

    def visit(node: Tree, args: list[Expr]) -> Expr:
        try:
            return _node(node, args, variables)
        except (ShapeError, EvaluationError, LimitError) as error:  # a caret under the part that failed
            position = node.meta.start_pos if not node.meta.empty else 0
            raise with_tail(error, f"\n{_caret(text, position)}") from None

    return _bottom_up(tree, visit)


def _node(node: Tree, args: list[Expr], variables: Mapping[str, Expr]) -> Expr:
    kind = node.data
    if kind == "number":
        return E.const(float(str(node.children[0])), f"the number {node.children[0]}")
    if kind == "name":
        name = str(node.children[0])
        return A.eye() if name in _CONSTANTS else variables[name]
    if kind == "call":
        function = REGISTRY[str(node.children[0])].build
        assert function is not None
        if len(args) > 1:  # vector(c) and matrix(c) take sizes after c from Python, never from the text
            raise ShapeError(f"{node.children[0]} takes one argument, got {len(args)}")
        try:
            return function(*args)
        except TypeError:
            raise ShapeError(f"{node.children[0]} takes one argument, got {len(args)}") from None
    if kind.startswith(_CHAIN):
        signs = kind[len(_CHAIN) :]
        return _balanced_sum([term if sign == "+" else A.neg(term) for term, sign in zip(args, signs)])
    if kind == "neg":
        return A.neg(args[0])
    if kind == "transpose":
        return A.transpose(args[0])
    if kind in _BINARY:
        return _BINARY[kind](*args)
    if kind == "unary":  # unary plus
        return args[0]
    raise AssertionError(kind)  # pragma: no cover
