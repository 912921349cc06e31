"""matdiff ships py.typed: user code written as the README shows must type-check with mypy.

A second snippet with a deliberate type error must fail, which proves that mypy sees matdiff's real types
(an untyped package would make everything Any, and the first check would pass vacuously).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is in the dev extra")

USER_CODE = """
    import numpy as np

    import matdiff as md

    x, A = md.vector("x"), md.matrix("A")
    f: md.Expr = x.T @ A @ x + md.sum(md.exp(x))
    gradient: md.Expr = md.diff(f, "x")
    hessian = md.diff(md.parse("x'*A*x"), "x", "x")
    by_text = md.diff("x'*S*x", "x", S="symmetric")
    value: np.ndarray = gradient.evaluate({"x": np.ones(3), "A": np.eye(3)})
    both = md.evaluate([gradient, hessian], {"x": np.ones(3), "A": np.eye(3)})
    text: str = str(gradient) + gradient.to_latex() + md.to_text(hessian) + by_text.to_text()
    t = md.scalar("t")
    g = md.softplus(x) * 2.0 - 1 / (1 + md.sinh(x)) + md.log1p(x) ** 2 + md.cosh(t) * md.arcsinh(x) - md.expm1(x)
    y: md.Expr = md.inv(A) @ x + md.tr(A) * md.norm2(x) - md.logdet(A.T @ A) * x
    shape: tuple[str | int, ...] = y.dims
    kinds: dict[str, str] = y.variables
    report = md.check("x'*A*x", "x", seed=0)
    passed: bool = bool(report)
    steps: str = md.explain("a'*inv(X)*b", "X").text()
    numerator: str = md.views.derivative_text("x'*a", "x", layout="numerator")
    estimate = md.numeric.gradient(lambda v: float(v @ v), np.ones(3))
    try:
        md.parse("x +")
    except md.ParseError as error:
        position: int = error.position
"""

WRONG = """
    import matdiff as md

    x = md.vector("x")
    wrong: int = x.T @ x
    md.sin("x")
"""


def _mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "user_code.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    command = [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"), str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_readme_style_user_code_type_checks(tmp_path: Path) -> None:
    result = _mypy(tmp_path, USER_CODE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_type_error_in_user_code_is_caught(tmp_path: Path) -> None:
    result = _mypy(tmp_path, WRONG)
    assert result.returncode == 1
    assert 'Incompatible types in assignment (expression has type "Expr", variable has type "int")' in result.stdout
    assert 'Argument 1 to "__call__" of "Operation" has incompatible type "str"' in result.stdout
