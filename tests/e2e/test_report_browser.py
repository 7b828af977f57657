"""The report of the e2e run opens in a real browser (Debian's Chromium, driven by playwright) with every
section drawn from data, no console errors, and a screenshot kept in test-artifacts/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _chromium() -> str:
    path = os.environ.get("RAPPORT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is needed for the report's browser test: `make browser` installs Debian's package")
    return path


@pytest.fixture(scope="module")
def rendered_report(pipeline_run):
    from playwright.sync_api import sync_playwright

    from rapport.report import build_report

    path = build_report(pipeline_run["as_of"])
    ARTIFACTS.mkdir(exist_ok=True)
    messages: list[tuple[str, str]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda message: messages.append((message.type, message.text)))
        page.on("pageerror", lambda error: messages.append(("pageerror", str(error))))
        page.route("http*://**", lambda route: route.abort())  # self-contained: nothing may load from a network
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
        sections = page.eval_on_selector_all(
            "section",
            "els => els.map(e => ({title: e.querySelector('h2').innerText, "
            "plots: e.querySelectorAll('.js-plotly-plot .main-svg').length, "
            "rows: e.querySelectorAll('table tbody tr').length, empty: e.classList.contains('empty')}))",
        )
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    return {"path": path, "messages": messages, "sections": sections}


def test_report_renders_without_console_errors(rendered_report):
    errors = [m for m in rendered_report["messages"] if m[0] in ("error", "pageerror")]
    assert errors == []
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


def test_every_section_is_drawn_from_data(rendered_report):
    from rapport.report import SECTION_TITLES

    sections = {s["title"]: s for s in rendered_report["sections"]}
    assert list(sections) == list(SECTION_TITLES)
    for title, section in sections.items():
        assert not section["empty"], f"section {title!r} has no data"
        assert section["plots"] + section["rows"] > 0, f"section {title!r} shows neither a plot nor a table"
