"""Drive `spam serve` in headless Chromium: type messages, read the verdicts shown, take a screenshot.

Used by tests/test_app.py; also runnable by hand for the README's screenshot:
    python -m tests.app_driver http://127.0.0.1:7860 reports/app.png
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def verdicts_on_page(page) -> dict[str, str]:
    """{featurizer: verdict} as the verdict table shows it (first two cells of each row; Gradio's grid roles)."""
    rows = page.locator("#verdicts [role=row]").all()
    cells = [row.locator("[role=gridcell]").all_inner_texts() for row in rows]
    return {c[0].strip(): c[1].strip() for c in cells if len(c) >= 2 and c[0].strip()}


TABLE_CHANGED = """([before, rows]) => {
  const table = document.querySelector('#verdicts');
  return table && table.innerText !== before && table.querySelectorAll('[role=gridcell]').length >= 4 * rows;
}"""


def classify_on_page(page, message: str, expect_rows: int) -> dict[str, str]:
    before = page.locator("#verdicts").inner_text()
    page.get_by_label("SMS message").fill(message)
    page.get_by_role("button", name="Classify").click()
    page.wait_for_function(TABLE_CHANGED, arg=[before, expect_rows], timeout=30_000)
    page.wait_for_timeout(500)  # let the bar chart and highlights render for the screenshot
    return verdicts_on_page(page)


def note_for(page, message: str) -> str:
    """Submit `message` and return the page's text once the app has answered (notes included)."""
    before = page.locator("body").inner_text()
    page.get_by_label("SMS message").fill(message)
    page.get_by_role("button", name="Classify").click()
    page.wait_for_function("before => document.body.innerText !== before", arg=before, timeout=30_000)
    page.wait_for_timeout(300)
    return page.locator("body").inner_text()


def drive(
    url: str, messages: list[str], expect_rows: int, screenshot: Path | None = None, odd: tuple[str, ...] = ()
) -> tuple[list[dict], list[str], list[str]]:
    """Verdicts for each message in turn, the page text after each `odd` input (taken after the screenshot),
    and every URL the page requested outside `url`'s host."""
    from playwright.sync_api import sync_playwright

    host = urlparse(url).hostname
    outside: list[str] = []
    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.on("request", lambda r: outside.append(r.url) if urlparse(r.url).hostname not in (host, None) else None)
        page.goto(url, wait_until="networkidle")
        for message in messages:
            results.append(classify_on_page(page, message, expect_rows))
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        notes = [note_for(page, message) for message in odd]
        browser.close()
    return results, notes, outside


if __name__ == "__main__":
    spam = "WINNER!! You have been selected for a FREE prize. Call 09061701461 to claim"
    print(drive(sys.argv[1], ["Are we still on for lunch tomorrow?", spam], 1, Path(sys.argv[2])))
