"""Property-based tests: random well-typed expressions, checked against independent numerics.

Expressions are generated as TEXT from a typed grammar (scalar / vector / matrix productions) over
fixed variables with known kinds, using only constructions whose domain is safe for any finite
input: denominators are bounded away from zero (``2 + sin(.)``, ``1 + e.*e``), ``exp`` only sees
bounded arguments, ``log``/``sqrt`` see arguments >= 1, ``inv``/``det``/``logdet`` see matrices like
``eye + M'*M`` or ``eye + 0.1*tanh(M)`` (spectral radius of ``0.1*tanh(M)`` <= 0.4 for n <= 4) and
``norm2`` sees ``2 + sin(.)``. So every example evaluates without NumPy warnings (which pytest turns
into errors) and is smooth where it is evaluated.

Reference values come from central differences of plain evaluation (tests/helpers.py), never from
matdiff's derivative code, except in the second-derivative test (see there).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import matdiff as md

from .fuzzing import size_unknown_in_text
from .helpers import central_difference, symmetric_central_difference

# When a property fails, hypothesis imports libcst (to suggest a patch), which warns through
# mypy_extensions; with filterwarnings=error that warning would hide the failure behind an
# INTERNALERROR. It says nothing about matdiff, so ignore exactly it.
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")

# Variables and their kinds. C is n x (n+1), so it only appears as C*...*C' or C*f(C'*v).
KINDS = {
    "a": "scalar",
    "b": "scalar",
    "x": "vector",
    "y": "vector",
    "A": "matrix",
    "B": "matrix",
    "S": "symmetric",
    "C": "matrix",
}
MAX_DEPTH = 4

Gen = Callable[[str], str]


def _pos(kind: str, g: Gen, choice: int) -> str:
    """An expression of `kind` whose entries are >= 1 (a safe denominator / log / sqrt argument)."""
    e = g(kind)
    if choice == 0:
        return f"(2 + sin({e}))"
    return f"(1 + ({e})^2)" if kind == "scalar" else f"(1 + {e}.*{e})"


def _gram(g: Gen) -> str:
    """eye + 0.1*T'*T with T = tanh(M): symmetric positive definite with eigenvalues in [1, 1 + 0.1 n],
    so det and inv stay moderate and finite differences stay accurate under sin/exp."""
    m = g("matrix")
    return f"(eye + 0.1*tanh({m})'*tanh({m}))"


# Productions by result kind: each takes `g` (generate a sub-expression of a kind) and `p` (a
# positive sub-expression of a kind) and returns parenthesised text. A transposed operand is always
# parenthesised: in ``(x).^2'`` the quote would bind to the exponent. Leaves come first so that
# hypothesis shrinks towards them.
LEAVES = {
    "scalar": ["a", "b", "1.5"],
    "vector": ["x", "y"],
    "matrix": ["A", "B", "S", "(C*C')"],
}

RULES: dict[str, list[Callable[[Gen, Gen], str]]] = {
    "scalar": [
        lambda g, p: f"({g('scalar')} + {g('scalar')})",
        lambda g, p: f"({g('scalar')} - {g('scalar')})",
        lambda g, p: f"({g('scalar')} * {g('scalar')})",
        lambda g, p: f"({g('scalar')} / {p('scalar')})",
        lambda g, p: f"(-{g('scalar')})",
        lambda g, p: f"({g('scalar')})^2",
        lambda g, p: f"(tanh({g('scalar')}))^3",  # bounded: nested powers cannot outrun finite differences
        lambda g, p: f"({p('scalar')})^-1",
        lambda g, p: f"({p('scalar')})^0.5",
        lambda g, p: f"sin({g('scalar')})",
        lambda g, p: f"cos({g('scalar')})",
        lambda g, p: f"tanh({g('scalar')})",
        lambda g, p: f"sigmoid({g('scalar')})",
        lambda g, p: f"exp(sin({g('scalar')}))",
        lambda g, p: f"exp(0.1*tanh({g('scalar')}))",
        lambda g, p: f"log({p('scalar')})",
        lambda g, p: f"sqrt({p('scalar')})",
        lambda g, p: f"tan(0.5*sin({g('scalar')}))",
        lambda g, p: f"abs(sin({g('scalar')}) - 2)",
        lambda g, p: f"relu(2 + sin({g('scalar')}))",
        lambda g, p: f"(({g('vector')})'*{g('vector')})",
        lambda g, p: f"(({g('vector')})'*{g('matrix')}*{g('vector')})",
        lambda g, p: f"sum({g('vector')})",
        lambda g, p: f"sum({g('matrix')})",
        lambda g, p: f"tr({g('matrix')})",
        lambda g, p: f"norm2(2 + sin({g('vector')}))",
        lambda g, p: f"norm2(2 + sin({g('matrix')}))",
        lambda g, p: f"logsumexp({g('vector')})",
        lambda g, p: f"logsumexp({g('matrix')})",
        lambda g, p: f"sum(softmax({g('vector')}).*{g('vector')})",
        lambda g, p: f"det(eye + 0.1*tanh({g('matrix')}))",
        lambda g, p: f"det({_gram(g)})",
        lambda g, p: f"logdet({_gram(g)})",
        lambda g, p: f"tr(inv({_gram(g)}))",
    ],
    "vector": [
        lambda g, p: f"({g('vector')} + {g('vector')})",
        lambda g, p: f"({g('vector')} - {g('vector')})",
        lambda g, p: f"({g('scalar')}*{g('vector')})",
        lambda g, p: f"({g('vector')}*{g('scalar')})",
        lambda g, p: f"({g('vector')} .* {g('vector')})",
        lambda g, p: f"({g('vector')} ./ {p('vector')})",
        lambda g, p: f"({g('vector')} / {p('scalar')})",
        lambda g, p: f"({g('vector')} + {g('scalar')})",
        lambda g, p: f"(-{g('vector')})",
        lambda g, p: f"({g('matrix')}*{g('vector')})",
        lambda g, p: f"(({g('vector')})'*{g('matrix')})'",
        lambda g, p: f"({g('vector')}).^2",
        lambda g, p: f"sin({g('vector')})",
        lambda g, p: f"cos({g('vector')})",
        lambda g, p: f"tanh({g('vector')})",
        lambda g, p: f"sigmoid({g('vector')})",
        lambda g, p: f"exp(sin({g('vector')}))",
        lambda g, p: f"log({p('vector')})",
        lambda g, p: f"sqrt({p('vector')})",
        lambda g, p: f"softmax({g('vector')})",
        lambda g, p: f"diag({g('matrix')})",
        lambda g, p: f"(C*tanh(C'*{g('vector')}))",
        lambda g, p: f"(inv({_gram(g)})*{g('vector')})",
    ],
    "matrix": [
        lambda g, p: f"({g('matrix')} + {g('matrix')})",
        lambda g, p: f"({g('matrix')} - {g('matrix')})",
        lambda g, p: f"({g('matrix')}*{g('matrix')})",
        lambda g, p: f"({g('scalar')}*{g('matrix')})",
        lambda g, p: f"({g('matrix')} .* {g('matrix')})",
        lambda g, p: f"({g('matrix')} ./ {p('matrix')})",
        lambda g, p: f"({g('matrix')} / {p('scalar')})",
        lambda g, p: f"({g('matrix')} + {g('scalar')})",
        lambda g, p: f"(eye + {g('matrix')})",
        lambda g, p: f"(-{g('matrix')})",
        lambda g, p: f"({g('matrix')})'",
        lambda g, p: f"({g('vector')}*({g('vector')})')",
        lambda g, p: f"diag({g('vector')})",
        lambda g, p: f"(tanh({g('matrix')}))^2",  # bounded, so nested powers cannot blow up
        lambda g, p: f"(tanh({g('matrix')})).^2",
        lambda g, p: f"inv({_gram(g)})",
        lambda g, p: f"{_gram(g)}^-1",
        lambda g, p: f"inv(eye + 0.1*tanh({g('matrix')}))",
        lambda g, p: f"sin({g('matrix')})",
        lambda g, p: f"tanh({g('matrix')})",
        lambda g, p: f"sigmoid({g('matrix')})",
        lambda g, p: f"exp(sin({g('matrix')}))",
        lambda g, p: f"log({p('matrix')})",
        lambda g, p: f"sqrt({p('matrix')})",
        lambda g, p: f"(C*diag(sin(C'*{g('vector')}))*C')",
    ],
}


@st.composite
def expression_text(draw, kind: str, depth: int = MAX_DEPTH) -> str:
    """Random well-formed text of the given kind, nested at most `depth` productions deep."""
    # A leaf with probability 1/3 (always at depth 0); shrinks towards leaves.
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(LEAVES[kind]))
    rule = draw(st.sampled_from(RULES[kind]))

    def g(k: str) -> str:
        return draw(expression_text(k, depth - 1))

    def p(k: str) -> str:
        return _pos(k, g, draw(st.integers(0, 1)))

    return rule(g, p)


def random_values(seed: int, n: int) -> dict[str, float | np.ndarray]:
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(n, n))
    return {
        "a": float(rng.normal()),
        "b": float(rng.normal()),
        "x": rng.normal(size=n),
        "y": rng.normal(size=n),
        "A": rng.normal(size=(n, n)),
        "B": rng.normal(size=(n, n)),
        "S": (m + m.T) / 2,
        "C": rng.normal(size=(n, n + 1)),
    }


@st.composite
def cases(draw, kinds: tuple[str, ...] = ("scalar",), depth: int = MAX_DEPTH):
    """(text, parsed expression, values) for an expression of one of `kinds`."""
    kind = draw(st.sampled_from(kinds))
    text = draw(expression_text(kind, depth))
    n = draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    expr = md.parse(text, **KINDS)
    note(f"text: {text}\nn = {n}, seed = {seed}")
    note(f"parsed: {printed(expr)}")
    return text, expr, random_values(seed, n)


def printed(expr) -> str:
    """str(expr) for notes; a failure to print is reported by the round-trip test, not here."""
    try:
        return str(expr)
    except Exception as error:
        return f"<str() raised {type(error).__name__}: {error}>"


def fd(f, values, name: str) -> np.ndarray:
    """Central differences by `name`, symmetrised for a symmetric variable (as md.diff defines it)."""
    if KINDS[name] == "symmetric":
        return symmetric_central_difference(f, values, name)
    return central_difference(f, values, name)


def assert_matches(got, expected, what: str) -> None:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * scale, err_msg=what)


# ---------------------------------------------------------------------------------------------
# 2. First derivatives against central differences of plain evaluation


@settings(max_examples=300, deadline=None)
@given(cases(kinds=("scalar", "scalar", "vector", "matrix")))
def test_first_derivative_matches_finite_differences(case):
    text, expr, values = case
    for name in expr.variables:
        derivative = md.diff(expr, name)
        note(f"d/d{name}: {printed(derivative)}")
        assert_matches(derivative.evaluate(values), fd(expr.evaluate, values, name), f"d({text})/d{name}")


# ---------------------------------------------------------------------------------------------
# 3. Second derivatives


@settings(max_examples=150, deadline=None)
@given(cases(depth=2), st.data())
def test_second_derivative_matches_finite_differences(case, data):
    # The reference here is central differences of the engine's own first derivative, evaluated.
    # That is sound because test_first_derivative_matches_finite_differences checks first
    # derivatives (of expressions from the same grammar) against differences of plain evaluation.
    # Depth 2, not MAX_DEPTH: the engine's symbolic second derivative by a matrix can take tens of
    # seconds for deeper matrix expressions, e.g. det(eye + M'*M) with M = ((C*C')^2)^2.
    text, expr, values = case
    names = list(expr.variables)
    if not names:
        return
    first = data.draw(st.sampled_from(names), label="first")
    second = data.draw(st.sampled_from(names), label="second")
    d1 = md.diff(expr, first)
    d2 = md.diff(expr, first, second)
    note(f"d1: {printed(d1)}\nd2: {printed(d2)}")
    got = d2.evaluate(values)
    assert_matches(got, fd(d1.evaluate, values, second), f"d2({text})/d{first}d{second}")
    # Mixed partials commute: d2/d(first)d(second) is d2/d(second)d(first) with the axes swapped.
    swapped = md.diff(expr, second, first).evaluate(values)
    k = np.ndim(values[second])
    assert_matches(got, np.moveaxis(swapped, tuple(range(k)), tuple(range(-k, 0))), "symmetry of mixed partials")


# ---------------------------------------------------------------------------------------------
# 4. Printing round-trips: parse(str(e)) evaluates like e


def assert_round_trip(expr, values, what: str) -> None:
    text = str(expr)
    note(f"{what} prints as: {text}")
    again = md.parse(text, **KINDS)
    try:
        got = again.evaluate(values)
    except md.EvaluationError as error:
        assert size_unknown_in_text(error, text), error  # eye, vector(1), matrix(1) whose size nothing fixes
        return
    np.testing.assert_allclose(got, expr.evaluate(values), rtol=1e-9, atol=1e-12, err_msg=what)


@settings(max_examples=300, deadline=None)
@given(cases(kinds=("scalar", "vector", "matrix")))
def test_printed_expression_parses_back(case):
    _, expr, values = case
    assert_round_trip(expr, values, "expression")


@settings(max_examples=200, deadline=None)
@given(cases(kinds=("scalar", "vector", "matrix")))
def test_printed_first_derivative_parses_back(case):
    _, expr, values = case
    # Matrix notation must parse back; index notation (D[i,j] = ...), which the printer falls back to
    # where it finds no matrix form, is documented as for reading only (docs/syntax.md).
    for name, kind in expr.variables.items():
        rank = expr.ndim + {"scalar": 0, "vector": 1}.get(kind, 2)
        derivative = md.diff(expr, name)
        if rank <= 2 and not str(derivative).startswith("D["):
            assert_round_trip(derivative, values, f"d/d{name}")


# ---------------------------------------------------------------------------------------------
# 5. Hash-consing and deterministic evaluation


@settings(max_examples=200, deadline=None)
@given(cases(kinds=("scalar", "vector", "matrix")))
def test_parse_is_hash_consed_and_evaluation_deterministic(case):
    text, expr, values = case
    assert md.parse(text, **KINDS) is expr
    snapshot = {k: np.array(v, copy=True) for k, v in values.items()}
    first, second = expr.evaluate(values), expr.evaluate(values)
    np.testing.assert_array_equal(first, second)
    for k, v in values.items():  # evaluation leaves its inputs alone
        np.testing.assert_array_equal(v, snapshot[k])
