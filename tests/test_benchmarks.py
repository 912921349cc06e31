"""Smoke tests of the benchmarks: they run to the end in their quick mode.

benchmarks/bench_codegen.py checks every result against hand-written NumPy before timing it, so this is
also a correctness test of md.compile and expr.evaluate (and of the JAX and PyTorch columns, where those
libraries are installed). Nothing here looks at the times.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_bench_codegen_quick() -> None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, str(BENCHMARKS / "bench_codegen.py"), "--quick", "--repeats", "1"]
    result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", env=env, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for heading in ("## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "### Targets"):
        assert heading in result.stdout, heading
