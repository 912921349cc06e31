"""docs/lecture.md is generated from the engine: it must match what scripts/make_lecture_page.py produces now."""

from __future__ import annotations

import pytest

from .helpers import load_script


@pytest.fixture(scope="module")
def generator():
    return load_script("make_lecture_page")


def test_lecture_page_is_up_to_date(generator):
    ok, message = generator.check_page()
    assert ok, f"{message}\nRegenerate it with: {generator.COMMAND}"


def test_lecture_page_is_deterministic(generator):
    first = generator.build_page()
    assert generator.build_page() == first
    assert not generator.FAILURES


def test_lecture_page_covers_every_example(generator):
    page = generator.build_page()
    for k in range(1, 13):
        assert f"\n## {k}. " in page
    assert "## The identities the lecture lists" in page and "### Linear regression" in page
    assert "### An auto-encoder" in page
    assert page.count("\n### ") >= len(generator.IDENTITIES) + 2
    for rule in ("power rule", "product rule", "quotient rule", "sum rule", "Jacobi's formula", "trace rule"):
        assert f"*{rule}*" in page
    assert "md.explain_limit(3)" in page and page.count("md.explain_chain(") == 3
    assert "6×20 (mn × pq)" in page
    assert "MISMATCH" not in page


def test_check_mode_reports_a_stale_page(generator, tmp_path, capsys):
    stale = tmp_path / "lecture.md"
    stale.write_text("# an old page\n", encoding="utf-8")
    ok, message = generator.check_page(stale)
    assert not ok and generator.COMMAND in message
    ok, message = generator.check_page(tmp_path / "missing.md")
    assert not ok and generator.COMMAND in message


def test_command_line_check(generator, monkeypatch, tmp_path):
    assert generator.main(["--check"]) == 0
    monkeypatch.setattr(generator, "PAGE", tmp_path / "lecture.md")
    assert generator.main(["--check"]) == 1
