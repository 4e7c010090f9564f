"""The web book: built from the committed notebooks without running them, with nothing
fetched from the web, and read in headless Chromium as a reader would (every page: no
console error, every image loaded, math rendered, every internal link resolving)."""
import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from book import browser
from book.build import (
    COLUMN_CHARS,
    FULL_WIDTH_CHARS,
    LONG_OUTPUT,
    BookError,
    build,
    fit_outputs,
    pages,
    png_size,
    run_box,
    stage,
    stage_notebook,
)
from classroom.course import chapters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="module")
def html():
    """The book as `make book` builds it, in build/book (people look at it after a test)."""
    return build(ROOT / "build" / "book")


def test_every_chapter_gets_a_run_box_under_its_header(tmp_path):
    stage(tmp_path)
    for chapter in chapters():
        nb = nbformat.read(tmp_path / "notebooks" / f"{chapter}.ipynb", as_version=4)
        header = next(i for i, c in enumerate(nb.cells)
                      if c.source.startswith("**Learning objectives.**"))
        assert nb.cells[header + 1].source == run_box(chapter)
        assert f"notebooks/{chapter}.ipynb" in run_box(chapter)
        assert "widgets" not in nb.metadata          # no widget manager from a CDN
    assert "results/05_family.json" in run_box("05_shallower_nets")
    assert "results/" not in run_box("01_dense_blocks")   # it reads no committed result


def test_outputs_are_fitted_to_the_column():
    sentence = "The best net for 10 minutes is " + "a DenseNet with few layers, " * 8 + "done."
    table = "model" + " " * 10 + "  ".join(f"column{i}" for i in range(12))
    cell = nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
        "stream", name="stdout", text=f"{sentence}\n{table}\n")])
    fit_outputs(cell)
    lines = cell.outputs[0].text.split("\n")
    assert table in lines                                    # a table row is never broken
    assert "full-width" in cell.metadata.tags                # ... and widens its cell
    wrapped = [line for line in lines if line and line != table]
    assert len(wrapped) > 1 and all(len(line) <= FULL_WIDTH_CHARS for line in wrapped)
    assert " ".join(line.strip() for line in wrapped) == sentence

    narrow = nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
        "stream", name="stdout", text=sentence + "\n" + "line\n" * (LONG_OUTPUT + 1))])
    fit_outputs(narrow)
    assert narrow.metadata.tags == ["scroll-output"]
    assert max(map(len, narrow.outputs[0].text.split("\n"))) <= COLUMN_CHARS


@pytest.mark.parametrize("trouble", ["smoke", "unexecuted", "no header"])
def test_a_chapter_the_web_should_not_show_is_refused(tmp_path, trouble):
    nb = nbformat.read(NOTEBOOKS / "01_dense_blocks.ipynb", as_version=4)
    if trouble == "smoke":
        cell = next(c for c in nb.cells if c.get("outputs"))
        cell.outputs.append(nbformat.v4.new_output(
            "stream", name="stdout", text="SMOKE RUN for CI (shipped subset, a few steps)\n"))
        expected = "smoke-run outputs"
    elif trouble == "unexecuted":
        for c in nb.cells:
            if c.cell_type == "code":
                c.outputs = []
        expected = "no outputs"
    else:
        nb.cells = [c for c in nb.cells if not c.source.startswith("**Learning objectives.**")]
        expected = "no header cell"
    source = tmp_path / "01_dense_blocks.ipynb"
    nbformat.write(nb, source)
    with pytest.raises(BookError, match=expected):
        stage_notebook(source, tmp_path / "out.ipynb")
    assert not (tmp_path / "out.ipynb").exists()


def test_the_book_has_every_chapter_and_no_web_address_it_loads(html):
    found = {p.as_posix() for p in pages(html)}
    assert {f"notebooks/{c}.html" for c in chapters()} | {
        "index.html", "library.html", "docs/teaching.html", "docs/architecture.html"} <= found
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    for page in pages(html):
        text = (html / page).read_text()
        loaded = re.findall(r'<(?:script|link|img)\b[^>]*?(?:src|href)="(https?:[^"]*)"', text)
        assert not loaded, f"{page} loads {loaded} from the web"
    index = (html / "index.html").read_text()
    assert "Set-up: two commands" in index and "notebooks/03_training_fashion_mnist.html" in index


def test_the_notebooks_outputs_are_on_the_pages(html):
    """Figures and printed outputs come from the committed run, not a re-execution."""
    nb = json.loads((NOTEBOOKS / "03_training_fashion_mnist.ipynb").read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    figures = sum("image/png" in o.get("data", {}) for o in outputs)
    page = (html / "notebooks" / "03_training_fashion_mnist.html").read_text()
    assert page.count("<img") >= figures > 0
    printed = "".join("".join(o.get("text", "")) for o in outputs)
    accuracy = re.search(r"test accuracy: 0\.\d+ \([\d,]+ of 10,000 correct\)", printed)
    assert accuracy and accuracy[0] in page


def test_a_failed_build_leaves_the_old_book(tmp_path, monkeypatch):
    old = tmp_path / "html" / "old.txt"
    old.parent.mkdir()
    old.write_text("the previous book")
    monkeypatch.setattr("book.build.chapters", lambda: ["99_no_such_chapter"])
    with pytest.raises(FileNotFoundError):
        build(tmp_path)
    assert old.read_text() == "the previous book"
    assert not (tmp_path / ".building").exists()


needs_chromium = pytest.mark.skipif(
    browser.find_chromium() is None and os.environ.get("CI") != "true",
    reason="browser test skipped: Chromium is not installed "
           "(apt-get install chromium chromium-driver; CI installs them)")


@needs_chromium
def test_every_page_reads_cleanly_in_chromium(html):
    shots = ROOT / "build" / "book-screenshots"
    results = browser.check_book(html, shots)
    assert set(results) == {p.as_posix() for p in pages(html)}
    failed = {page: found for page, found in results.items() if found}
    assert not failed, "\n".join(f"{p}: {line}" for p, lines in failed.items() for line in lines)
    for page in results:
        name = page.removesuffix(".html").replace("/", "--")
        assert png_size((shots / f"{name}.png").read_bytes()) == (browser.WIDTH, browser.HEIGHT)
        assert png_size((shots / f"{name}.full.png").read_bytes())[0] == browser.WIDTH


@needs_chromium
def test_search_finds_a_chapter(html):
    """The search page works offline: its index ships with the book."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with browser.serve(html) as base, browser.chromium() as driver:
        driver.get(base + "search.html?q=bottleneck")
        WebDriverWait(driver, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results li"))
        found = [a.get_attribute("href") for a in
                 driver.find_elements(By.CSS_SELECTOR, "#search-results li a")]
    assert any(href.startswith(base + "notebooks/02_densenet121.html") for href in found), found


@needs_chromium
def test_the_browser_check_finds_what_is_wrong(tmp_path):
    """A page with each fault the check looks for: it must report every one."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "ok.html").write_text("<html><body><p id='here'>fine</p></body></html>")
    (site / "bad.html").write_text(
        "<html><body>"
        "<p>Raw math: $x^2$ and \\(a+b\\) left as text.</p>"
        "<p>&lt;div class='cell'&gt; shown as text</p>"
        "<p>SMOKE RUN for CI: not a result</p>"
        "<img src='missing.png'>"
        "<a href='nowhere.html'>a page that does not exist</a>"
        "<a href='ok.html#here'>a good anchor</a> <a href='ok.html#gone'>a missing one</a>"
        "<div style='width: 3000px'>wide</div>"
        "<div style='width: 300px; overflow-x: auto'><table><tr><td style='white-space: nowrap'>"
        "a prose table far wider than the 300 px column it sits in</td></tr></table></div>"
        "<script>console.error('boom')</script>"
        "</body></html>")
    results = browser.check_book(site, tmp_path / "shots")
    assert results["ok.html"] == []
    bad = "\n".join(results["bad.html"])
    for expected in ["console:", "boom", "image not loaded", "missing.png",
                     r"raw TeX in the text: '\\('", "raw HTML in the text: '<div'",
                     "smoke-run result", "broken link: nowhere.html",
                     "broken link: ok.html#gone", "px wide in a 1280 px window",
                     "a table in the text is wider than its column: 'a prose table"]:
        assert expected in bad, f"not reported: {expected}\n{bad}"
    assert "ok.html#here" not in bad
