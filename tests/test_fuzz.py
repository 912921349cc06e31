"""Fuzzing: random well-typed expressions against independent references, and random bytes at the parser.

The generator, the NumPy/JAX interpreter of its trees and the checks live in tests/fuzzing.py. Here they
run at CI size (a few seconds to half a minute); for a long run with counts of every outcome use

    python scripts/fuzz.py --expressions 5000 --differential 1000 --parser 30000

or run this file with ``MATDIFF_FUZZ=long`` (hypothesis then draws far more examples per test).

Outcomes (see tests/fuzzing.py): a clear md.MatdiffError for an expression outside a domain is accepted
("rejected"); a ParseError or ShapeError for the generator's well-typed text, another exception type, a
wrong value or derivative, a printed form that does not parse back to the same numbers, or a time-out
fails the test.
"""

from __future__ import annotations

import os
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings

import matdiff as md

from . import fuzzing

pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")

LONG = os.environ.get("MATDIFF_FUZZ") == "long"
EXAMPLES = {
    "finite_differences": 5000 if LONG else 200,
    "jax": 1000 if LONG else 30,
    "parser": 30000 if LONG else 800,
}
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]


def describe(case: fuzzing.Case) -> None:
    note(f"text: {case.text}\nsizes: {case.sizes}, seed: {case.seed}")


def test_generator_covers_every_registered_function():
    # A new function in the registry needs a production (with a safe domain) in tests/fuzzing.py.
    assert fuzzing.uncovered_operations() == set()


def test_reference_interpreter_agrees_with_numpy_on_a_fixed_tree():
    # x'*inv(eye + A*A')*x + logdet(eye + A*A') - sum(softmax(x)), by hand in NumPy
    N, n, nn = fuzzing.Node, ("n",), ("n", "n")
    x, a = N("var", (), n, "x"), N("var", (), nn, "A")
    spd = N("add", (N("eye", (), nn), N("mul", (a, N("transpose", (a,), nn)), nn)), nn)
    row = N("mul", (N("transpose", (x,), ("T", "n")), N("call", (spd,), nn, "inv")), ("T", "n"))
    total = N("add", (N("mul", (row, x), ()), N("call", (spd,), (), "logdet")), ())
    tree = N("sub", (total, N("call", (N("call", (x,), n, "softmax"),), (), "sum")), ())
    text = "(((((x)' * inv((eye + (A * (A)')))) * x) + logdet((eye + (A * (A)')))) - sum(softmax(x)))"
    assert fuzzing.render(tree) == text
    sizes = {"n": 3, "m": 2}
    values = fuzzing.random_values(0, sizes)
    M = np.eye(3) + values["A"] @ values["A"].T
    expected = values["x"] @ np.linalg.solve(M, values["x"]) + np.linalg.slogdet(M)[1] - 1.0
    value, magnitude = fuzzing.reference(tree, values, sizes)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    assert magnitude >= abs(expected) - 1e-12
    np.testing.assert_allclose(md.parse(text, **fuzzing.KINDS).evaluate(values), expected, rtol=1e-12)


@settings(max_examples=EXAMPLES["finite_differences"], deadline=timedelta(seconds=60), suppress_health_check=SLOW)
@given(fuzzing.cases())
def test_random_expressions_against_finite_differences(case):
    # values against NumPy; first derivatives against central differences of NumPy evaluation (with
    # Richardson extrapolation and an error estimate, md.numeric); second derivatives of scalar
    # expressions along random directions against second differences; printed forms parse back.
    describe(case)
    outcome = fuzzing.check_case(case, fd=True, limit=50.0)
    note(outcome.label)
    assert outcome.status != "failed", outcome.detail


@settings(max_examples=EXAMPLES["jax"], deadline=timedelta(seconds=60), suppress_health_check=SLOW)
@given(fuzzing.cases())
def test_random_expressions_against_jax(case):
    # the same tree as a jax.numpy function: values, Jacobians (any shape) and Hessian blocks of scalar
    # expressions by JAX autodiff, compared tightly (no finite-difference error to allow for)
    jax = pytest.importorskip("jax")
    fuzzing.load_jax()  # 64-bit floats
    describe(case)
    outcome = fuzzing.check_case(case, jax=jax, fd=False, limit=50.0)
    note(outcome.label)
    assert outcome.status != "failed", outcome.detail


@settings(max_examples=EXAMPLES["parser"], deadline=timedelta(seconds=10), suppress_health_check=SLOW)
@given(fuzzing.parser_inputs())
def test_parser_raises_only_matdiff_errors_and_never_hangs(text):
    # md.parse of bytes, junk, token soup and long or deep input: a MatdiffError or an expression, within
    # 5 seconds; an expression must print, and print as text that parses back to the same numbers
    outcome = fuzzing.check_text(text, limit=5.0)
    note(outcome.label)
    assert outcome.status != "failed", f"input {text[:300]!r}: {outcome.detail}"
