"""The browser tests' set-up: the system's Chromium driven by Playwright, a page that records what it asked for,
screenshots in each test's temporary folder (paths printed; run with ``-s`` to see them).

Chromium comes from the OS (``make test`` installs Debian's ``chromium`` when missing); without it the browser
tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

TIMEOUT_MS = 30_000
KEY = "s3cret-key-for-tests"


def chromium_path() -> str:
    """The system Chromium, or skip (fail under CI: the set-up must have installed it)."""
    path = os.environ.get("NASWOT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "no chromium on PATH (make test installs Debian's chromium as root; or set NASWOT_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    opened.requested = []  # every URL the page asked for
    opened.on("request", lambda request: opened.requested.append(request.url))
    opened.refused = []  # console messages of the Content-Security-Policy refusing something
    opened.on("console", lambda message: opened.refused.append(message.text) if "Content Security Policy" in message.text else None)
    yield opened
    context.close()


def screenshot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    print(f"screenshot: {path}")
    return path


def chart_points(page: Page, canvas: str) -> int:
    """Points in the first data set of a Chart.js chart on the page."""
    return page.evaluate(f"Chart.getChart('{canvas}').data.datasets[0].data.length")


def start_from_form(page: Page, budget: int) -> None:
    page.fill("#f-budget", str(budget))
    page.select_option("#f-strategy", "evolution")
    page.click("#f-submit")
