"""The documentation tells the truth: links stay inside the repository, docs/numeric.md's examples return
what they say, the license and changelog exist, and the API reference builds from the docstrings."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import matdiff as md
from matdiff import numeric

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_point_at_files_of_the_repository(page):
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path = (page.parent / target).resolve()
        assert path.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert path.exists(), f"{page.name} links to a missing file: {target}"
    assert "shared/reference" not in text, f"{page.name} names a file outside the repository"


def test_numeric_md_examples_return_what_they_say():
    est = numeric.derivative(np.exp, 1.0)
    assert repr(est).startswith("Estimate(shape=(), max error ~ ") and "evaluations=7" in repr(est)
    # .value and .error are 0-d float64 arrays, not floats
    assert isinstance(est.value, np.ndarray) and est.value.shape == () and est.value.dtype == np.float64
    assert isinstance(est.error, np.ndarray) and est.error.shape == ()
    assert float(est.value) == pytest.approx(np.e, rel=1e-13) and 1e-13 < float(est.error) < 1e-10
    assert est.evaluations == 7 and float(est.step) == pytest.approx(0.00246, rel=1e-2)
    np.testing.assert_array_equal(np.asarray(est), est.value)

    kink = numeric.derivative(np.abs, 0.0)
    assert (float(kink.value), float(kink.error)) == (0.0, 1.0)
    relu = numeric.derivative(lambda x: np.maximum(x, 0), 0.0)
    assert (float(relu.value), float(relu.error)) == (0.5, 0.5)
    near = numeric.derivative(np.abs, 1e-3)
    assert float(near.value) == pytest.approx(1.0) and float(near.error) < 1e-10

    assert numeric.jacobian(lambda X: X @ X, np.array([[1.0, 2.0], [3.0, 4.0]])).shape == (2, 2, 2, 2)
    A = np.array([[2.0, 1.0], [0.0, 3.0]])
    expected = A + A.T  # [[4, 1], [1, 6]]; at X = eye, (A + A')X is A + A'
    np.testing.assert_allclose(numeric.gradient(lambda X: np.trace(X.T @ A @ X), np.eye(2)).value, expected)
    np.testing.assert_allclose(numeric.hessian(lambda x: x @ A @ x, np.array([1.0, -1.0])).value, expected)

    e32 = numeric.derivative(np.sin, np.float32(0.5))
    assert e32.value.dtype == np.float64 and abs(float(e32.value) - np.cos(0.5)) < 1e-6 < float(e32.error)
    assert float(numeric.derivative(np.sin, 0.5).error) < 1e-11

    data = numeric.step_errors(np.exp, 1.0, exact=np.e)
    assert list(data.keys()) == ["step", "forward", "central", "richardson"]
    assert 1e-6 < data["step"][data["central"].argmin()] < 1e-5 and data["central"].min() < 1e-10

    M = np.arange(1.0, 10.0).reshape(3, 3)
    f = lambda x: x @ M @ x
    assert bool(md.check_gradient(f, lambda x: (M + M.T) @ x, np.array([1.0, 2.0, 3.0])))
    assert not bool(md.check_gradient(f, lambda x: 2 * M @ x, np.array([1.0, 2.0, 3.0])))
    x = np.random.default_rng(0).standard_normal(10_000)
    report = md.check_gradient(lambda x: np.sum(np.sin(x)), np.cos, x)
    assert bool(report) and report.evaluations == 56  # fast mode: 8 directions x 7


def test_the_license_is_mit_as_pyproject_says():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "Copyright (c) 2026 the matdiff authors" in text
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_the_changelog_has_an_unreleased_section_and_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings[0] == "Unreleased" and md.__version__ in headings
    unreleased = text.split("## Unreleased", 1)[1].split("\n## ", 1)[0]
    for entry in ("md.codegen", "md.compile", "--code", "Export code", "left to right", "--kind x=scalar"):
        assert entry in unreleased, entry


@pytest.mark.skipif(importlib.util.find_spec("pdoc") is None, reason="pdoc (the docs extra) is not installed")
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_api_reference_builds_from_the_docstrings(tmp_path):
    env_path = str(Path(sys.executable).parent)
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "make_api_docs.sh"), str(tmp_path / "api")],
        capture_output=True, text=True, timeout=120,
        env={"PATH": f"{env_path}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "api" / "matdiff.html").read_text(encoding="utf-8")
    for name in ("parse", "diff", "check", "codegen", "Expr", "MatdiffError"):
        assert f'id="{name}"' in page, name  # the public API, from __all__
    assert (tmp_path / "api" / "matdiff" / "numeric.html").exists()
    pages = {path.name for path in (tmp_path / "api" / "matdiff").iterdir()}
    assert not any(name.startswith("_") for name in pages) and "cli.html" not in pages  # no private module


def test_applications_md_first_example_runs_and_matches_nnls():
    """The md.minimize example at the top of docs/applications.md runs as printed; its answer is nnls's."""
    scipy_optimize = pytest.importorskip("scipy.optimize")
    text = (ROOT / "docs" / "applications.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/applications.md", "exec"), namespace)  # noqa: S102 - our own documentation
    A, b = namespace["A"], namespace["b"]
    np.testing.assert_allclose(namespace["result"].x["x"], scipy_optimize.nnls(A, b)[0], atol=1e-12)
