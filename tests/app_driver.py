"""Drive `spam serve` in headless Chromium: type messages, read the verdicts and bars shown, take screenshots.

Used by tests/test_app.py; also runnable by hand for docs/screenshots, one PNG per app tab and per report
section, named `<shot>-<state>.png` (state: `before` or `after` a change, as the docs compare them):
    python -m tests.app_driver --tabs http://127.0.0.1:7860 docs/screenshots after
    python -m tests.app_driver --page reports/index.html docs/screenshots after
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from dataclasses import dataclass, field
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


def thresholds_on_page(page) -> dict[str, float]:
    """{featurizer: threshold} as the verdict table shows it (its fourth cell)."""
    rows = page.locator("#verdicts [role=row]").all()
    cells = [row.locator("[role=gridcell]").all_inner_texts() for row in rows]
    return {c[0].strip(): float(c[3]) for c in cells if len(c) >= 4 and c[0].strip()}


BARS_DRAWN = """() => [...document.querySelectorAll('#probability-bars .probability-bar')].map(row => {
  const track = row.querySelector('.bar-track').getBoundingClientRect(),
        mark = row.querySelector('.threshold-marker').getBoundingClientRect(),
        fill = row.querySelector('.bar-fill').getBoundingClientRect();
  return {featurizer: row.dataset.featurizer, label: row.querySelector('.bar-label').innerText,
          marker: (mark.left + mark.width / 2 - track.left) / track.width, fill: fill.width / track.width,
          marker_width: mark.width, marker_height: mark.height, track_height: track.height};
})"""


def bars_on_page(page) -> list[dict]:
    """Each probability bar as drawn: where its threshold mark sits and how far its fill reaches, as
    fractions of its track's width, with the mark's size in pixels and the bar's label."""
    return page.evaluate(BARS_DRAWN)


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


SCROLL_THROUGH = """async () => { for (let y = 0; y < document.body.scrollHeight; y += 400) {
  window.scrollTo(0, y); await new Promise(done => setTimeout(done, 150)); } window.scrollTo(0, 0); }"""


def load_lazy_images(page) -> None:
    """Scroll the whole page once: Gradio's gallery loads a picture only when it comes into view."""
    page.evaluate(SCROLL_THROUGH)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)


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


SCREENSHOT_BYTES = 400_000  # a PNG in docs/ above this is reduced to 256 colours (text stays sharp)
REPORT_SECTIONS = {"report": "#compare", "report-plots": "#plots", "report-cars": "#cars",
                   "report-fahrenheit": "#fahrenheit"}  # fmt: skip
FIRST_FIGURES = """section => { const top = document.querySelector(section).getBoundingClientRect(),
  end = document.querySelector(section + ' .figures').getBoundingClientRect();
  return {x: top.left + scrollX, y: top.top + scrollY, width: top.width, height: end.bottom - top.top}; }"""


def small_png(png: Path) -> None:
    """Keep a screenshot for docs/ under SCREENSHOT_BYTES: a full page of plots can weigh megabytes."""
    if png.stat().st_size <= SCREENSHOT_BYTES:
        return
    from PIL import Image

    with Image.open(png) as image:
        reduced = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    reduced.save(png, optimize=True)


def screenshot_tabs(url: str, folder: Path, message: str, state: str) -> list[Path]:
    """A full-page PNG of every tab, the classify tab after classifying `message`: `<tab>-<state>.png`."""
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    shots = []

    def shot(name: str) -> None:
        shots.append(folder / f"{name}-{state}.png")
        load_lazy_images(page)
        page.screenshot(path=str(shots[-1]), full_page=True)
        small_png(shots[-1])

    with sync_playwright() as playwright:
        browser, page = open_app(playwright, url, [])
        classify_on_page(page, message, 1)
        shot("classify")
        for tab in ("compare", "cars", "fahrenheit"):
            show_tab(page, tab)
            shot(tab)
        browser.close()
    return shots


def screenshot_report(path: Path, folder: Path, state: str) -> list[Path]:
    """The report (a local HTML file) as headless Chromium draws it, one PNG per section:
    `report-<state>.png` (the compare table), `report-plots-<state>.png` (the first featurizer's plots), ..."""
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(path.resolve().as_uri(), wait_until="load")
        for name, section in REPORT_SECTIONS.items():
            shots.append(folder / f"{name}-{state}.png")
            if section == "#plots":  # every featurizer's plots would be a page of megabytes: the first one's
                page.screenshot(path=str(shots[-1]), full_page=True, clip=page.evaluate(FIRST_FIGURES, section))
            else:
                page.locator(section).screenshot(path=str(shots[-1]))
            small_png(shots[-1])
        browser.close()
    return shots


@dataclass
class Drive:
    """What a drive through the classify tab saw."""

    verdicts: list[dict] = field(default_factory=list)  # {featurizer: verdict} per message, in turn
    bars: list[list[dict]] = field(default_factory=list)  # bars_on_page after each message
    thresholds: list[dict] = field(default_factory=list)  # thresholds_on_page after each message
    notes: list[str] = field(default_factory=list)  # the page's text after each odd input
    outside: list[str] = field(default_factory=list)  # every URL requested outside the app's host


def drive(
    url: str, messages: list[str], expect_rows: int, screenshot: Path | None = None, odd: tuple[str, ...] = ()
) -> Drive:
    """Classify each message in turn, then each `odd` input (after the screenshot), and say what was seen."""
    from playwright.sync_api import sync_playwright

    seen = Drive()
    with sync_playwright() as playwright:
        browser, page = open_app(playwright, url, seen.outside)
        for message in messages:
            seen.verdicts.append(classify_on_page(page, message, expect_rows))
            seen.bars.append(bars_on_page(page))
            seen.thresholds.append(thresholds_on_page(page))
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        seen.notes = [note_for(page, message) for message in odd]
        browser.close()
    return seen


if __name__ == "__main__":
    spam = "WINNER!! You have been selected for a FREE prize. Call 09061701461 to claim"
    if sys.argv[1] == "--page":
        print("\n".join(str(p) for p in screenshot_report(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])))
    elif sys.argv[1] == "--tabs":
        print("\n".join(str(p) for p in screenshot_tabs(sys.argv[2], Path(sys.argv[3]), spam, sys.argv[4])))
    else:
        print(drive(sys.argv[1], ["Are we still on for lunch tomorrow?", spam], 1, Path(sys.argv[2])))
