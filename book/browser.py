"""Open every page of the built book in headless Chromium, as a reader would, and list what
is wrong: console errors, images that did not load, math MathJax did not render, raw TeX or
HTML in the text, internal links that lead nowhere, a table in the prose that does not fit
its column, and a page wider than the window (a notebook's own outputs may scroll). A
1280x800 screenshot of each page is saved for a person to look at.

Chromium and ChromeDriver are Debian's ``chromium`` and ``chromium-driver``; Selenium is
given both paths so that it never tries to download a driver.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from .build import SMOKE_LABEL, pages

WIDTH, HEIGHT = 1280, 800
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Chromium flags for a machine without internet: no sandbox (CI runs as root), no GPU, and
# none of the background connections (updates, sync, safe browsing) a closed network refuses.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-default-apps", "--disable-extensions",
         f"--window-size={WIDTH},{HEIGHT}")

# Waits for every image and for MathJax's typesetting, then reports what the reader sees.
# Text inside code, scripts and rendered math is left out of the raw-TeX and raw-HTML search.
INSPECT = r"""
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
const settle = img => img.complete ? Promise.resolve() : new Promise(resolve => {
    img.loading = "eager";
    img.addEventListener("load", resolve);
    img.addEventListener("error", resolve);
});
const typeset = window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve();
Promise.all(images.map(settle).concat([typeset])).then(() => {
    const skip = "pre, code, script, style, textarea, mjx-container, .highlight, .output";
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const prose = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        const shown = parent && parent.offsetParent !== null;
        if (shown && !parent.closest(skip)) prose.push(node.nodeValue);
    }
    done({
        mathjax: !!(window.MathJax && MathJax.startup),
        broken_images: images.filter(i => i.naturalWidth === 0).map(i => i.currentSrc || i.src),
        images: images.length,
        math: document.querySelectorAll(".math").length,
        unrendered_math: Array.from(document.querySelectorAll(".math"))
            .filter(m => !m.querySelector("mjx-container")).map(m => m.textContent.slice(0, 60)),
        math_errors: document.querySelectorAll("mjx-merror, [data-mjx-error]").length,
        prose: prose.join(" "),
        text: document.body.innerText,
        links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
        wide_tables: Array.from(document.querySelectorAll("table"))
            .filter(t => !t.closest(".cell_output"))
            .filter(t => t.parentElement.scrollWidth > t.parentElement.clientWidth + 1)
            .map(t => t.textContent.trim().slice(0, 40)),
        page_width: document.documentElement.scrollWidth,
        window_width: window.innerWidth,
    });
}).catch(err => done({error: String(err)}));
"""
RAW_TEX = (r"\(", r"\)", r"\[", r"\]", "$$", r"\begin{", r"\frac")
RAW_HTML_TAGS = ("<div", "<span", "<table", "<img", "<br", "<details", "<p>", "</", "&lt;", "&gt;")


class BrowserError(Exception):
    """The browser check cannot run (no Chromium, no Selenium); the message says what to do."""


def find_chromium() -> tuple[str, str] | None:
    """``(chromium, chromedriver)`` paths, or ``None`` when either is missing."""
    browser = next((p for p in map(shutil.which, BROWSERS) if p), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:   # the check reports problems, not requests
        pass


@contextlib.contextmanager
def serve(html: Path) -> Iterator[str]:
    """Serve ``html`` on a free port of 127.0.0.1 (Python's own server) and yield its URL."""
    handler = functools.partial(_Quiet, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium driven by Selenium, its viewport exactly 1280x800."""
    found = find_chromium()
    if found is None:
        raise BrowserError("Chromium or ChromeDriver not found: install Debian's chromium and "
                           "chromium-driver (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise BrowserError("selenium is not installed: pip install -e '.[book]'") from None
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
        driver.set_script_timeout(300)      # a busy machine renders slowly
        yield driver
    finally:
        driver.quit()


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        self.ids.update(v for k, v in attrs if k in ("id", "name") and v)


@functools.cache
def _fetch_ids(url: str) -> set[str] | None:
    """The element ids of the page at ``url``, or ``None`` when it does not load."""
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            body = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return None
    parser = _Ids()
    parser.feed(body)
    return parser.ids


def broken_links(links: list[str], base: str) -> list[str]:
    """The links into the book (``base``) whose page or ``#anchor`` does not exist."""
    broken = []
    for link in sorted(set(links)):
        if not link.startswith(base):
            continue                                # the web: not reachable from here
        page, _, anchor = link.partition("#")
        ids = _fetch_ids(page)
        if ids is None or (anchor and urllib.parse.unquote(anchor) not in ids):
            broken.append(link[len(base):])
    return broken


def save_full_page(driver, path: Path) -> None:
    """Save the whole page, 1280 px wide, as a reviewer reads it: the viewport is made as
    tall as the page for one DevTools screenshot, then set back to 1280x800."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    metrics = {"width": WIDTH, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": height})
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))
    finally:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": HEIGHT})


def inspect(driver, base: str, page: Path, screenshot: Path) -> list[str]:
    """Load one page, save its screenshot, and list what is wrong with it."""
    driver.get(base + page.as_posix())
    seen = driver.execute_async_script(INSPECT)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(screenshot))
    save_full_page(driver, screenshot.with_suffix(".full.png"))
    if "error" in seen:
        return [f"the page's check script failed: {seen['error']}"]
    found = [f"console: {e['message']}" for e in driver.get_log("browser")
             if e["level"] == "SEVERE"]
    found += [f"image not loaded: {src}" for src in seen["broken_images"]]
    if seen["math"] and not seen["mathjax"]:
        found.append(f"{seen['math']} math elements but MathJax did not load")
    found += [f"math not rendered: {text!r}" for text in seen["unrendered_math"]]
    if seen["math_errors"]:
        found.append(f"{seen['math_errors']} MathJax errors")
    found += [f"raw TeX in the text: {tex!r}" for tex in RAW_TEX if tex in seen["prose"]]
    found += [f"raw HTML in the text: {tag!r}" for tag in RAW_HTML_TAGS if tag in seen["prose"]]
    if SMOKE_LABEL in seen["text"]:
        found.append(f"a smoke-run result ({SMOKE_LABEL!r}) on the page: run `make pages`")
    found += [f"broken link: {link}" for link in broken_links(seen["links"], base)]
    found += [f"a table in the text is wider than its column: {text!r}"
              for text in seen["wide_tables"]]
    if seen["page_width"] > seen["window_width"]:
        found.append(f"the page is {seen['page_width']} px wide in a {seen['window_width']} px "
                     "window: something overflows")
    return found


def check_book(html: Path, screenshots: Path) -> dict[str, list[str]]:
    """Every page of the book at ``html``: its problems (an empty list when it passed).
    The screenshots are written to ``screenshots/<page>.png`` (the first 1280x800) and
    ``<page>.full.png`` (the whole page); ``/`` in a path becomes ``--``. They replace the
    previous set."""
    shutil.rmtree(screenshots, ignore_errors=True)
    results = {}
    with serve(html) as base, chromium() as driver:
        for page in pages(html):
            shot = screenshots / (page.with_suffix("").as_posix().replace("/", "--") + ".png")
            results[page.as_posix()] = inspect(driver, base, page, shot)
    return results
