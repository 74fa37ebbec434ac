"""Drive `spam serve` in headless Chromium: type messages, read the verdicts shown, take a screenshot.

Used by tests/test_app.py; also runnable by hand for the README's screenshots of every tab, before and after input:
    python -m tests.app_driver --tabs http://127.0.0.1:7860 docs/screenshots
and of the report:
    python -m tests.app_driver --page reports/index.html docs/screenshots/report.png
"""

from __future__ import annotations

import contextlib
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
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    busy = "() => document.body.innerText.includes('processing |')"
    with contextlib.suppress(PlaywrightTimeout):  # a fast answer can come and go before we look
        page.wait_for_function(busy, timeout=5_000)
    # changed, and Gradio's "processing | 0.3s" tracker gone: the answer itself, not the wait for it
    answered = "before => { const t = document.body.innerText; return t !== before && !t.includes('processing |'); }"
    page.wait_for_function(answered, arg=before, timeout=60_000)
    page.wait_for_timeout(300)
    return page.locator("body").inner_text()


TABS = {"classify": "Classify a message", "compare": "Compare featurizers", "cars": "Used-car price",
        "fahrenheit": "Celsius → Fahrenheit"}  # fmt: skip


def open_app(playwright, url: str, outside: list[str]):
    """A page on `url` that records every request outside its host into `outside`."""
    host = urlparse(url).hostname
    browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.on("request", lambda r: outside.append(r.url) if urlparse(r.url).hostname not in (host, None) else None)
    page.goto(url, wait_until="networkidle")
    return browser, page


def show_tab(page, tab: str) -> None:
    page.get_by_role("tab", name=TABS[tab]).click()
    page.wait_for_timeout(700)  # let images and plots lay out


def first_look(url: str) -> dict:
    """What a person sees before typing anything: the classify tab's text, the car price, gallery thumbnails."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser, page = open_app(playwright, url, [])
        classify_text = page.locator("body").inner_text()
        show_tab(page, "compare")
        fits = page.eval_on_selector_all(".thumbnail-item img", "els => els.map(e => getComputedStyle(e).objectFit)")
        show_tab(page, "cars")
        price = page.locator("#car-price input").input_value()
        browser.close()
    return {"classify_text": classify_text, "car_price": price, "thumbnail_fits": fits}


def screenshot_tabs(url: str, folder: Path, message: str) -> list[Path]:
    """A full-page PNG of every tab, and of the classify and used-car tabs after input too."""
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    shots = []

    def shot(name: str) -> None:
        shots.append(folder / f"{name}.png")
        page.screenshot(path=str(shots[-1]), full_page=True)

    with sync_playwright() as playwright:
        browser, page = open_app(playwright, url, [])
        shot("classify-before")
        classify_on_page(page, message, 1)
        shot("classify-after")
        show_tab(page, "compare")
        shot("compare")
        show_tab(page, "cars")
        shot("cars-before")
        age = page.get_by_label("Car age (years)").first
        age.fill("12")
        age.press("Enter")
        page.wait_for_timeout(1000)
        shot("cars-after")
        show_tab(page, "fahrenheit")
        shot("fahrenheit")
        browser.close()
    return shots


def screenshot_page(path: Path, png: Path) -> None:
    """A full-page PNG of a local HTML file (the report), as headless Chromium draws it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(path.resolve().as_uri(), wait_until="load")
        page.screenshot(path=str(png), full_page=True)
        browser.close()


def drive(
    url: str, messages: list[str], expect_rows: int, screenshot: Path | None = None, odd: tuple[str, ...] = ()
) -> tuple[list[dict], list[str], list[str]]:
    """Verdicts for each message in turn, the page text after each `odd` input (taken after the screenshot),
    and every URL the page requested outside `url`'s host."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    results = []
    with sync_playwright() as playwright:
        browser, page = open_app(playwright, url, outside)
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
    if sys.argv[1] == "--page":
        screenshot_page(Path(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1] == "--tabs":
        print("\n".join(str(p) for p in screenshot_tabs(sys.argv[2], Path(sys.argv[3]), spam)))
    else:
        print(drive(sys.argv[1], ["Are we still on for lunch tomorrow?", spam], 1, Path(sys.argv[2])))
