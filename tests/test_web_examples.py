"""The page's menu of examples and its icon, through a real `matdiff serve` (no browser needed).

Every example in src/matdiff/web/static/examples.json (the file the page's menu is built from) is sent to
POST /api/diff as the page sends it: it must parse, differentiate and pass its numerical check, and its
text form must evaluate to md.diff's value. The page's icon is served, at the URL the page links and at
/favicon.ico, so a browser's load has no 404.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import matdiff as md

from .test_api_server import post, running_server

pytest.importorskip("starlette", reason='the web extra is not installed (pip install "matdiff[web]")')

STATIC = Path(__file__).resolve().parent.parent / "src" / "matdiff" / "web" / "static"
EXAMPLES = json.loads((STATIC / "examples.json").read_text(encoding="utf-8"))
ALL = [example for group in EXAMPLES["groups"] for example in group["examples"]]


@pytest.fixture(scope="module")
def server():
    with running_server(10.0) as url:
        yield url


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers.get("content-type", ""), response.read()


def test_the_menu_has_the_lecture_and_ml_losses():
    expressions = {example["expression"] for example in ALL}
    for wanted in (
        "x'*A*x", "a'*inv(X)*b", "logdet(X)", "tr(X'*A*X)", "sum(log(1+exp(-y.*(X*w))))", "norm2(X*w-y)^2",
        "sum(softplus(X*w))", "softmax(W*x)", "norm2(X - W2*tanh(W1*X))^2", "det(X)", "sin(x1)*x2^2",
    ):  # fmt: skip
        assert wanted in expressions
    for example in ALL:
        assert set(example) <= {"label", "expression", "wrt", "kinds", "order", "layout"}, example
        assert example["label"] and example["expression"] and example["wrt"]


def test_the_examples_file_is_served(server):
    status, content_type, body = get(server + "/static/examples.json")
    assert status == 200 and "json" in content_type
    assert json.loads(body) == EXAMPLES


@pytest.mark.parametrize("example", ALL, ids=[f"{e['label']}: {e['expression']}" for e in ALL])
def test_every_example_differentiates(server, example):
    kinds = example.get("kinds", {})
    order = example.get("order", 1)
    body = {"expression": example["expression"], "kinds": kinds, "wrt": [example["wrt"]], "order": order, "seed": 1}
    status, data = post(server + "/api/diff", body)
    assert status == 200, data
    assert data["wrt"] == [example["wrt"]] * order
    for name, kind in kinds.items():
        assert data["variables"][name] == kind
    assert data["check"]["passed"] is True, data["check"]["text"]
    assert data["steps"]["error"] is None or isinstance(data["steps"]["error"], str)

    # the text form evaluates to md.diff's value at random values (index notation is not parseable)
    if re.match(r"D\[[a-z, ]+\] =", data["derivative"]):
        return
    expr = md.parse(example["expression"], **kinds)
    rng = np.random.default_rng(2)
    values = {}
    for name, kind in expr.variables.items():
        if kind == "scalar":
            values[name] = rng.uniform(0.5, 1.5)
        elif kind == "vector":
            values[name] = rng.normal(size=3)
        else:
            M = rng.normal(size=(3, 3))
            values[name] = M + M.T + 6 * np.eye(3) if kind == "symmetric" else M + 3 * np.eye(3)
    expected = md.diff(expr, *[example["wrt"]] * order).evaluate(values)
    shown = md.parse(data["derivative"], **expr.variables).evaluate(values)
    np.testing.assert_allclose(shown, expected, rtol=1e-10, atol=1e-12)


def test_the_icon_is_served(server):
    page = get(server + "/")[2].decode()
    link = re.search(r'<link rel="icon" href="([^"]+)" type="([^"]+)"', page)
    assert link, "index.html links no icon"
    for path in (link.group(1), "/favicon.ico"):
        status, content_type, body = get(server + path)
        assert status == 200
        assert content_type.startswith("image/svg+xml")
        assert body.lstrip().startswith(b"<svg") and "∂" in body.decode()
