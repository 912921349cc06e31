"""The web page in a real headless browser: Debian's chromium driven by Playwright.

The test types an expression, chooses kinds, presses the button, finds the rendered result and the
steps, checks the text result against md.diff numerically, then types bad input and finds the error.
The Export code panel's NumPy module is run and compared with NumPy formulas, and choosing another
backend changes the module's import line.
It keeps screenshots in tests/artifacts/ (web.png, web-error.png); the pictures of docs/ are
tests/test_web_page.py's, at 1280 px and 375 px.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import matdiff as md

from .helpers import generated_function
from .test_api_server import running_server

pytest.importorskip("starlette", reason='the web extra is not installed (pip install "matdiff[web]")')
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)

CHROMIUM = os.environ.get("MATDIFF_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def page():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    with running_server() as url, playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1000, "height": 900}, device_scale_factor=1)
        # nothing may load from the internet: any request that is not to the server fails the test
        outside: list[str] = []
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(url)
                else outside.append(route.request.url) or route.abort()
            ),
        )
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(url + "/")
        yield tab
        assert not outside, f"the page loaded from outside the server: {outside}"
        assert not errors, f"JavaScript errors: {errors}"
        browser.close()


def test_derivative_of_a_inv_x_b(page):
    page.fill("#expression", "a'*inv(X)*b")
    page.wait_for_selector('select[data-variable="X"]')
    for name, kind in (("a", "vector"), ("b", "vector"), ("X", "matrix")):
        page.select_option(f'select[data-variable="{name}"]', kind)
    page.wait_for_selector('select[data-variable="X"]')
    page.select_option("#wrt", "X")
    page.click("#go")
    page.wait_for_selector("#result:not([hidden]) #math .katex")
    page.wait_for_selector("#steps li .katex")

    text = page.inner_text("#derivative-text")
    assert page.inner_text("#shape").endswith("(matrix)")
    assert len(page.query_selector_all("#steps li")) == 2
    assert "d inv(U)" in page.inner_text("#steps")
    assert page.inner_text("#check-badge") == "PASS"

    # the text form parses and evaluates to md.diff's value
    kinds = {"a": "vector", "b": "vector", "X": "matrix"}
    rng = np.random.default_rng(5)
    values = {"a": rng.normal(size=3), "b": rng.normal(size=3), "X": rng.normal(size=(3, 3)) + 3 * np.eye(3)}
    expected = md.diff(md.parse("a'*inv(X)*b", **kinds), "X").evaluate(values)
    shown = md.parse(text, **kinds).evaluate(values)
    np.testing.assert_allclose(shown, expected, rtol=1e-12)
    X_inv = np.linalg.inv(values["X"])
    np.testing.assert_allclose(shown, -np.outer(X_inv.T @ values["a"], values["b"] @ X_inv.T), rtol=1e-12)

    # the steps toggle
    page.click("#toggle-steps")
    assert page.is_hidden("#steps")
    page.click("#toggle-steps")
    assert page.is_visible("#steps")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web.png"), full_page=True)


def import_lines(code: str) -> list[str]:
    return [line for line in code.splitlines() if line.startswith(("import ", "from "))]


def test_export_code_panel(page):
    page.fill("#expression", "x'*A*x")
    page.wait_for_selector('select[data-variable="x"]')
    page.select_option("#wrt", "x")
    assert page.eval_on_selector("#code-backend", "select => select.value") == "numpy"
    page.click("#go")
    # the code comes with the derivative: once the page shows this one, its code is this one's
    derivative = str(md.diff(md.parse("x'*A*x"), "x"))
    page.wait_for_function("(text) => document.getElementById('derivative-text').textContent === text", arg=derivative)
    code = page.text_content("#code") or ""
    assert "def " in code and import_lines(code)

    # the NumPy module shown computes x'Ax and its gradient (A + A')x
    function = generated_function(code, "value_and_derivative")
    rng = np.random.default_rng(3)
    A, x = rng.normal(size=(4, 4)), rng.normal(size=4)
    value, gradient = function(A=A, x=x)
    np.testing.assert_allclose(value, x @ A @ x, rtol=1e-12)
    np.testing.assert_allclose(gradient, (A + A.T) @ x, rtol=1e-12)

    # another backend: the panel asks again, and the import line changes
    page.select_option("#code-backend", "jax")
    page.wait_for_function(
        """(before) => {
            const pre = document.getElementById("code");
            const lines = pre.textContent.split("\\n").filter((l) => /^(import|from) /.test(l));
            return !pre.hasAttribute("aria-busy") && lines.join("\\n") !== before;
        }""",
        arg="\n".join(import_lines(code)),
    )
    jax_code = page.text_content("#code") or ""
    assert "def " in jax_code and "jax" in "\n".join(import_lines(jax_code))
    assert import_lines(jax_code) != import_lines(code)

    page.click("#copy-code")
    page.wait_for_selector("#toast:not([hidden])")
    assert page.inner_text("#toast") == "Code copied"
    page.select_option("#code-backend", "numpy")
    page.wait_for_function("() => /import numpy/.test(document.getElementById('code').textContent)")


def test_bad_input_shows_the_error(page):
    page.fill("#expression", "x+*y")
    page.click("#go")
    page.wait_for_selector("#error:not([hidden])")
    assert "unexpected '*'" in page.inner_text("#error-message")
    caret = page.inner_text("#error-caret")
    assert caret.splitlines()[0].strip() == "x+*y" and caret.splitlines()[1].strip() == "^"
    assert page.is_hidden("#result")
    assert "Traceback" not in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-error.png"), full_page=True)


def test_second_order_by_a_vector(page):
    page.fill("#expression", "x'*A*x")
    page.wait_for_selector('select[data-variable="x"]')
    page.select_option("#wrt", "x")
    page.select_option("#order", "2")
    page.click("#go")
    page.wait_for_selector("#result:not([hidden]) #math .katex")
    assert page.inner_text("#derivative-text") == "A + A'"
    page.select_option("#order", "1")
