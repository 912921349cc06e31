"""Smoke test of benchmarks/bench_minimize.py: it runs to the end in its quick mode.

The benchmark asserts that every solver's answer (md.minimize's and scikit-learn's logistic regression, lstsq,
nnls) agrees with an independent reference before timing it, so this is also a correctness test of
md.minimize on those problems. Nothing here looks at the times.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_bench_minimize_quick() -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("scipy")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, str(BENCHMARKS / "bench_minimize.py"), "--quick"]
    result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", env=env, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for heading in ("## 1.", "## 2.", "## 3.", "### breast cancer", "### synthetic"):
        assert heading in result.stdout, heading
    assert "Every answer agrees with its reference" in result.stdout
