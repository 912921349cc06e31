"""Test configuration: CI runs hypothesis derandomized, so a run is repeatable."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


# ---------------------------------------------------------------------------------------------
# Every evaluation the suite makes, recorded for tests/test_codegen.py: each set of expressions evaluated
# (derivatives of every order and kind, from every test) is run again through every code-generation
# backend, after the other tests (see pytest_collection_modifyitems).

import numpy as np  # noqa: E402

import matdiff._check  # noqa: E402
import matdiff._evaluate  # noqa: E402
import matdiff.views  # noqa: E402

EVALUATED: dict[tuple, dict] = {}
"""The expressions evaluated by the suite (a tuple of roots) and the first values they were evaluated at."""
MAX_RECORDED = 4000

_evaluate = matdiff._evaluate.evaluate


def _recording_evaluate(roots, values):
    results = _evaluate(roots, values)
    key = tuple(roots)
    if key not in EVALUATED and len(EVALUATED) < MAX_RECORDED:
        EVALUATED[key] = {name: np.array(value, dtype=np.float64) for name, value in values.items()
                          if isinstance(value, (int, float, np.ndarray, list)) and not isinstance(value, bool)}
    return results


matdiff._evaluate.evaluate = _recording_evaluate
matdiff._check.evaluate = _recording_evaluate
matdiff.views._evaluate = _recording_evaluate


def pytest_collection_modifyitems(items: list) -> None:
    """Tests marked after_suite run last, once every other test has recorded its evaluations."""
    items.sort(key=lambda item: item.get_closest_marker("after_suite") is not None)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "after_suite: runs after every other test (it uses what they recorded)")
