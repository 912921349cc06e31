"""The page's behaviour in a real headless browser (Debian's chromium, driven by Playwright), each test in
a fresh browser context with its own URL and state:

kinds reset for each expression (only kinds set explicitly, of names still present, are kept); the
variables panel cleared on error; long formulas in horizontal scroll containers that show there is more;
the layout at 375 px; the check as a table; the menu of examples; the state kept in the URL; the icon; the
input echoed as typed. It keeps screenshots at 1280 px and 375 px in tests/artifacts/; with
MATDIFF_UPDATE_SCREENSHOT=1 it also rewrites docs/screenshot.png and docs/screenshot-phone.png.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import matdiff as md

from .test_api_server import running_server

pytest.importorskip("starlette", reason='the web extra is not installed (pip install "matdiff[web]")')
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)

from .test_web import ARGS, CHROMIUM  # noqa: E402  (after the skips: test_web needs playwright too)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
EXAMPLES = json.loads((ROOT / "src" / "matdiff" / "web" / "static" / "examples.json").read_text(encoding="utf-8"))
UPDATE = os.environ.get("MATDIFF_UPDATE_SCREENSHOT") == "1"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server(10.0) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        # scrollbars drawn as a person's browser draws them (Playwright hides them by default)
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=ARGS, headless=True, ignore_default_args=["--hide-scrollbars"]
        )
        yield browser
        browser.close()


@pytest.fixture
def open_page(server, browser) -> Iterator[Callable[..., Any]]:
    """open_page(query="", width=1280, height=900, phone=False): a fresh context's page at the server's
    / + query, once its script has run (`phone`: a phone's browser, with touch and overlay scrollbars).
    Afterwards: no request left the server, none but the API's failed (no 404 for an icon; the API answers
    bad input with a 400), and no JavaScript error was raised."""
    contexts, outside, failed, errors = [], [], [], []

    def opener(query: str = "", width: int = 1280, height: int = 900, phone: bool = False):
        context = browser.new_context(
            viewport={"width": width, "height": height}, device_scale_factor=1, is_mobile=phone, has_touch=phone
        )
        contexts.append(context)
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(server)
                else outside.append(route.request.url) or route.abort()
            ),
        )
        tab = context.new_page()
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.on(
            "response",
            lambda response: (
                response.status >= 400 and not response.url.startswith(server + "/api/") and failed.append(response.url)
            ),
        )
        tab.goto(server + "/" + query)
        tab.wait_for_selector("body[data-ready]")
        tab.wait_for_selector("#examples:not([disabled])")
        return tab

    yield opener
    for context in contexts:
        context.close()
    assert not outside, f"the page loaded from outside the server: {outside}"
    assert not failed, f"requests that failed: {failed}"
    assert not errors, f"JavaScript errors: {errors}"


def kind_of(page, name: str) -> str:
    return page.eval_on_selector(f'select[data-variable="{name}"]', "select => select.value")


def is_explicit(page, name: str) -> bool:
    return page.eval_on_selector(f'.var[data-variable="{name}"]', "chip => chip.classList.contains('set')")


def type_expression(page, text: str, *names: str) -> None:
    """Replace the expression with `text` and wait until the panel shows exactly `names`."""
    page.fill("#expression", text)
    page.wait_for_function(
        """(names) => {
            const shown = [...document.querySelectorAll("select[data-variable]")].map((s) => s.dataset.variable);
            return JSON.stringify(shown.sort()) === JSON.stringify(names.slice().sort());
        }""",
        arg=list(names),
    )


def differentiate(page) -> None:
    page.evaluate("() => { const r = document.getElementById('result'); if (r) r.hidden = true; }")
    page.click("#go")
    page.wait_for_selector("#result:not([hidden]) #math .katex")


def box(page, selector: str) -> dict[str, float]:
    return page.eval_on_selector(
        selector, "e => { const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; }"
    )


# 1. Kinds reset for each expression ---------------------------------------------------------------------


def test_kinds_reset_for_each_expression(open_page):
    page = open_page()
    type_expression(page, "x'*A*x", "A", "x")
    assert kind_of(page, "A") == "matrix" and not is_explicit(page, "A")
    page.select_option('select[data-variable="A"]', "symmetric")
    page.wait_for_selector('.var.set[data-variable="A"]')

    # A, set by the user, is still in the new expression: kept, and marked as set
    type_expression(page, "A*X*B", "A", "B", "X")
    assert kind_of(page, "A") == "symmetric" and is_explicit(page, "A")
    assert (kind_of(page, "X"), kind_of(page, "B")) == ("matrix", "matrix")
    assert not is_explicit(page, "X") and not is_explicit(page, "B")

    # an expression without A forgets it; A coming back is inferred again (it used to stay symmetric)
    type_expression(page, "x'*b", "b", "x")
    type_expression(page, "x'*A*x", "A", "x")
    assert kind_of(page, "A") == "matrix" and not is_explicit(page, "A")
    page.select_option("#wrt", "x")
    differentiate(page)
    assert page.inner_text("#derivative-text") == "A*x + A'*x"

    # an inferred kind is never carried over: x2 is a scalar in the first, a vector in the second
    type_expression(page, "sin(x1)*x2^2", "x1", "x2")
    assert kind_of(page, "x2") == "scalar"
    type_expression(page, "x2'*A*x2", "A", "x2")
    assert kind_of(page, "x2") == "vector"

    # the reset button gives back the inferred kind
    page.select_option('select[data-variable="x2"]', "scalar")
    page.wait_for_selector('.var.set[data-variable="x2"]')
    page.click('.var[data-variable="x2"] button.reset')
    page.wait_for_selector('.var:not(.set)[data-variable="x2"]')
    assert kind_of(page, "x2") == "vector"


# 2. The variables panel on error ------------------------------------------------------------------------


def test_the_variables_panel_is_cleared_on_error(open_page):
    page = open_page()
    type_expression(page, "x'*A*x", "A", "x")
    page.fill("#expression", "x'*A*+")
    page.wait_for_selector("#variables.failed")
    assert page.query_selector_all("select[data-variable]") == []
    assert page.eval_on_selector("#wrt", "select => select.options.length") == 0
    page.click("#go")
    page.wait_for_selector("#error:not([hidden])")
    assert page.query_selector_all("select[data-variable]") == []
    assert "A" not in page.inner_text("#variables").split()

    # after a differentiation that worked, an error clears what it showed too
    type_expression(page, "a'*X*b", "X", "a", "b")
    differentiate(page)
    page.fill("#expression", "a'*X*")
    page.click("#go")
    page.wait_for_selector("#error:not([hidden])")
    assert page.is_hidden("#result")
    assert page.query_selector_all("select[data-variable]") == []


# 3. Long formulas scroll, with a hint -------------------------------------------------------------------


def test_long_formulas_scroll_visibly(open_page):
    page = open_page(width=900)
    terms = [f"x'*A{i}*x" for i in range(1, 13)]
    type_expression(page, " + ".join(terms), *[f"A{i}" for i in range(1, 13)], "x")
    page.select_option("#wrt", "x")
    differentiate(page)
    card = box(page, "#result")
    math = page.eval_on_selector(
        "#math",
        """m => ({scrollWidth: m.scrollWidth, clientWidth: m.clientWidth, overflowX: getComputedStyle(m).overflowX,
                 scrollbar: m.offsetHeight - m.clientHeight})""",
    )
    assert math["scrollWidth"] > math["clientWidth"] + 100, "the formula should be wider than the card"
    assert math["overflowX"] == "auto" and math["scrollbar"] > 0  # a scrollbar that takes room: visible
    shown = box(page, "#math")
    assert card["x"] <= shown["x"] and shown["x"] + shown["w"] <= card["x"] + card["w"]
    wrapper = "document.getElementById('math').parentElement"
    assert page.evaluate(f"() => {wrapper}.className") == "scroller more-right"
    page.wait_for_function(f"() => getComputedStyle({wrapper}, '::after').opacity === '1'")  # the fade, shown
    assert page.evaluate(f"() => getComputedStyle({wrapper}, '::before').opacity") == "0"
    page.eval_on_selector("#math", "m => { m.scrollLeft = m.scrollWidth; }")
    page.wait_for_function(f"() => {wrapper}.className === 'scroller more-left'")

    # the text form wraps inside the card; the code block scrolls in its own container
    text = box(page, "#derivative-text")
    assert text["x"] + text["w"] <= card["x"] + card["w"]
    code = page.eval_on_selector("#code", "c => [getComputedStyle(c).overflowX, c.parentElement.className]")
    assert code[0] == "auto" and code[1].startswith("scroller")
    # a long formula in a step scrolls the same way
    assert page.eval_on_selector("#steps .step-math", "m => m.classList.contains('scroll')")


# 4. 375 px, and the screenshots -------------------------------------------------------------------------


def test_phone_layout(open_page):
    width, height = 375, 667
    page = open_page(width=width, height=height, phone=True)
    type_expression(page, "a'*inv(X)*b", "X", "a", "b")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width  # nothing wider than the screen

    # the header is one line: the mark and the tagline side by side, not broken
    brand, tagline, header = box(page, ".brand"), box(page, ".tagline"), box(page, "header.top")
    assert abs(brand["y"] - tagline["y"]) < 8 and tagline["x"] > brand["x"] + brand["w"]
    assert header["h"] < 60 and tagline["x"] + tagline["w"] <= width

    # the three selectors share a row, the button takes the row below, all within the screen
    rows = [box(page, selector) for selector in ("#wrt", "#order", "#layout")]
    assert max(r["y"] for r in rows) - min(r["y"] for r in rows) < 2
    assert all(r["x"] >= 0 and r["x"] + r["w"] <= width for r in rows)
    assert page.eval_on_selector_all(".controls .label", "ls => ls.every((l) => l.scrollWidth <= l.clientWidth)")
    button = box(page, "#go")
    assert button["y"] > rows[0]["y"] + rows[0]["h"] - 1 and button["w"] > width / 2

    page.select_option("#wrt", "X")
    differentiate(page)
    assert box(page, "#result")["y"] < height * 0.9, "the result starts below the first screen"
    assert box(page, "#math")["y"] < height
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-phone.png"), full_page=True)
    if UPDATE:
        page.screenshot(path=str(ROOT / "docs" / "screenshot-phone.png"), full_page=True)


def test_desktop_screenshot(open_page):
    page = open_page(width=1280)
    type_expression(page, "a'*inv(X)*b", "X", "a", "b")
    page.select_option("#wrt", "X")
    differentiate(page)
    page.wait_for_selector("#steps li .katex")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-desktop.png"), full_page=True)
    if UPDATE:
        page.screenshot(path=str(ROOT / "docs" / "screenshot.png"), full_page=True)


# 5. The check as a table --------------------------------------------------------------------------------


def check_cells(page) -> dict[str, str]:
    return page.eval_on_selector(
        "#check-table",
        """t => Object.fromEntries([...t.querySelectorAll("tr")].map(
               (r) => [r.dataset.field, r.querySelector(".value").textContent]))""",
    )


PARTS = ("symbolic", "numeric")


def test_the_check_is_a_table(open_page):
    page = open_page()
    type_expression(page, "x'*A*x", "A", "x")
    page.select_option("#wrt", "x")
    differentiate(page)
    assert page.is_visible("#check-table") and page.inner_text("#check-badge") == "PASS"
    assert page.is_hidden("#check-text")  # the full report only on demand
    cells = check_cells(page)
    assert list(cells) == ["passed", "max_rel_error", "tolerance", "worst", "evaluations", "seed"]

    # the same check, run here with the seed the table shows: the same random values, so the same
    # tolerance and evaluations; the errors are rounding noise (which entry is worst may differ from one
    # process to another), so they are held to the tolerance
    report = md.check(md.parse("x'*A*x"), "x", seed=int(cells["seed"]))
    assert cells["passed"] == "PASS" and bool(report)
    assert float(cells["tolerance"]) == pytest.approx(report.tolerance, rel=1e-2)
    assert int(cells["evaluations"]) == report.evaluations
    assert 0 <= float(cells["max_rel_error"]) <= float(cells["tolerance"])
    index = json.loads(cells["worst"])
    assert len(index) == 1 and 0 <= index[0] < report.shape[0]
    symbolic, numeric = (float(page.inner_text(f"#check-table tr[data-field=worst] code.{part}")) for part in PARTS)
    assert symbolic == pytest.approx(numeric, rel=1e-6)
    # the symbolic value shown is that entry of the gradient (A + A')x at the check's random values
    A, x = report.values["A"], report.values["x"]
    assert symbolic == pytest.approx(((A + A.T) @ x)[index[0]], rel=1e-10)  # shown to 12 digits
    page.click("#check-report summary")
    assert page.inner_text("#check-text").startswith("PASS")


# 6. The menu of examples --------------------------------------------------------------------------------


def choose_example(page, expression: str, label: str | None = None) -> dict[str, Any]:
    examples = [example for group in EXAMPLES["groups"] for example in group["examples"]]
    index = next(
        i for i, e in enumerate(examples) if e["expression"] == expression and (label is None or e["label"] == label)
    )
    page.select_option("#examples", str(index))
    return examples[index]


def test_the_menu_of_examples(open_page):
    page = open_page()
    count = sum(len(group["examples"]) for group in EXAMPLES["groups"])
    assert page.eval_on_selector("#examples", "s => s.querySelectorAll('optgroup option').length") == count
    groups = page.eval_on_selector_all("#examples optgroup", "gs => gs.map((g) => g.label)")
    assert groups == [group["label"] for group in EXAMPLES["groups"]]

    # the logistic loss: the expression, the variable, and a derivative that is the gradient NumPy gives
    example = choose_example(page, "sum(log(1+exp(-y.*(X*w))))")
    page.wait_for_selector("#result:not([hidden]) #math .katex")
    assert page.input_value("#expression") == example["expression"]
    assert page.input_value("#wrt") == "w"
    rng = np.random.default_rng(4)
    X, w, y = rng.normal(size=(5, 3)), rng.normal(size=3), rng.choice([-1.0, 1.0], size=5)
    shown = md.parse(page.inner_text("#derivative-text")).evaluate({"X": X, "w": w, "y": y})
    margins = y * (X @ w)
    np.testing.assert_allclose(shown, -X.T @ (y / (1 + np.exp(margins))), rtol=1e-12)

    # an example with kinds sets them (as chosen, so marked), and its variable
    page.wait_for_timeout(50)
    choose_example(page, "sin(x1)*x2^2")
    page.wait_for_function("() => document.getElementById('derivative-text').textContent === 'cos(x1)*x2^2'")
    assert (kind_of(page, "x1"), kind_of(page, "x2")) == ("scalar", "scalar")
    assert is_explicit(page, "x1") and is_explicit(page, "x2")
    assert page.input_value("#wrt") == "x1"

    # an example of order 2 sets the order, and the next one sets it back
    choose_example(page, "x'*A*x", "Hessian of a quadratic form")
    page.wait_for_function("() => document.getElementById('derivative-text').textContent === \"A + A'\"")
    assert page.input_value("#order") == "2"
    choose_example(page, "logdet(X)")
    page.wait_for_function("() => document.getElementById('derivative-text').textContent === \"inv(X)'\"")
    assert page.input_value("#order") == "1"
    assert page.input_value("#examples") == ""  # back to the prompt, so the same one can be chosen again


# 7. The state in the URL --------------------------------------------------------------------------------


def test_the_state_is_kept_in_the_url(open_page):
    page = open_page()
    page.wait_for_selector('select[data-variable="X"]')  # the default expression's variables, shown
    assert urllib.parse.urlsplit(page.url).query == ""  # an untouched page has no state in its URL
    history = page.evaluate("() => history.length")
    expression = "x'*S*x + sum(exp(x))"
    type_expression(page, expression, "S", "x")
    page.select_option('select[data-variable="S"]', "symmetric")
    page.wait_for_selector('.var.set[data-variable="S"]')
    page.select_option("#wrt", "x")
    page.select_option("#order", "2")
    page.select_option("#layout", "numerator")
    differentiate(page)
    page.select_option("#code-backend", "jax")  # in the result's Export panel
    page.wait_for_function("() => /import jax/.test(document.getElementById('code').textContent)")

    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query == {
        "expr": [expression], "kinds": ["S:symmetric"], "wrt": ["x"], "order": ["2"], "layout": ["numerator"],
        "code": ["jax"],
    }  # fmt: skip
    assert page.evaluate("() => history.length") == history  # replaced, not pushed: no reload either
    shared = page.url

    # the link, opened elsewhere: the same state, differentiated
    other = open_page("?" + urllib.parse.urlsplit(shared).query)
    other.wait_for_selector("#result:not([hidden]) #math .katex")
    assert other.input_value("#expression") == expression
    assert kind_of(other, "S") == "symmetric" and is_explicit(other, "S")
    assert (other.input_value("#wrt"), other.input_value("#order")) == ("x", "2")
    assert (other.input_value("#layout"), other.input_value("#code-backend")) == ("numerator", "jax")
    other.wait_for_function("() => /import jax/.test(document.getElementById('code').textContent)")
    rng = np.random.default_rng(6)
    M, x = rng.normal(size=(3, 3)), rng.normal(size=3)
    S = M + M.T
    hessian = md.parse(other.inner_text("#derivative-text"), S="symmetric").evaluate({"S": S, "x": x})
    np.testing.assert_allclose(hessian, 2 * S + np.diag(np.exp(x)), rtol=1e-12)
    assert other.url == shared  # restoring rewrites nothing

    # a change of state is written back at once; the defaults are left out
    other.select_option("#order", "1")
    other.wait_for_function("() => !location.search.includes('order=')")
    other.select_option("#code-backend", "numpy")
    other.wait_for_function("() => !location.search.includes('code=')")


# 8. The icon, 9. the input as typed ---------------------------------------------------------------------


def test_icon_is_linked_and_loads(open_page):
    page = open_page()
    href = page.eval_on_selector('link[rel="icon"]', "link => link.href")
    status = page.evaluate("async (href) => (await fetch(href)).status", href)
    assert status == 200  # and open_page fails the test on any response of 400 or more, /favicon.ico included


def test_the_input_is_echoed_as_typed(open_page):
    page = open_page()
    typed = "  x'   *\ta  "
    type_expression(page, typed, "a", "x")
    page.select_option("#wrt", "x")
    differentiate(page)
    assert page.inner_text("#result-input") == " ".join(typed.split())  # "x' * a", not matdiff's "a'*x"
    rng = np.random.default_rng(8)
    a, x = rng.normal(size=3), rng.normal(size=3)
    np.testing.assert_allclose(md.parse(page.inner_text("#derivative-text")).evaluate({"a": a, "x": x}), a)


# Named shared terms ---------------------------------------------------------------------------------------


def test_repeated_terms_are_shown_named(open_page):
    """The autoencoder's gradient repeats sigmoid(W1*X): the page shows it once, as t0, and the named form
    evaluates like the derivative; a derivative with nothing repeated shows no such block."""
    query = "?" + urllib.parse.urlencode({"expr": "norm2(X - W2*sigmoid(W1*X))^2", "wrt": "W1"})
    page = open_page(query)
    page.wait_for_selector("#result:not([hidden]) #shared:not([hidden]) #shared-math .katex")
    definition, result = page.inner_text("#shared-text").splitlines()
    assert definition == "t0 = sigmoid(W1*X)" and "t0" in result and "sigmoid" not in result
    rng = np.random.default_rng(5)
    values = {"X": rng.normal(size=(3, 4)), "W1": rng.normal(size=(2, 3)), "W2": rng.normal(size=(3, 2))}
    t0 = md.parse(definition.split(" = ")[1]).evaluate(values)
    named = md.parse(result, t0="matrix").evaluate({**values, "t0": t0})
    shown = md.parse(page.inner_text("#derivative-text")).evaluate(values)
    np.testing.assert_allclose(named, shown, rtol=1e-12)
    type_expression(page, "x'*A*x", "A", "x")
    differentiate(page)
    assert page.eval_on_selector("#shared", "e => e.hidden")


def test_a_four_dimensional_derivative_shows_its_kronecker_form(open_page):
    page = open_page("?" + urllib.parse.urlencode({"expr": "A*X*B", "wrt": "X"}))
    page.wait_for_selector("#result:not([hidden]) #kronecker:not([hidden]) #kronecker-math .katex")
    assert page.inner_text("#kronecker-text") == "kron(B', A)"
    assert page.inner_text("#derivative-text").startswith("D[i,j,k,l]")
