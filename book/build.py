"""Stage the book's sources and render them with Sphinx (``python -m book build``)."""
from __future__ import annotations

import base64
import contextlib
import io
import json
import shutil
import struct
import textwrap
from pathlib import Path

import nbformat

from classroom.course import chapters, results_used
from gluon_densenet.chapters.results import SMOKE_LABEL

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
NOTEBOOKS = ROOT / "notebooks"
PAGES = ["index.md", "library.md"]   # the book's own pages; both draw on README
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# The text column at a 1280 px window (measured in Chromium): 676 px, of which an output
# box's text gets 644 px, 76 characters; sphinx-book-theme's full-width cells are 136 % of
# the column (105 characters). Wider figures and tables get a full-width cell; printed
# sentences are wrapped, as Jupyter wraps them; an output longer than LONG_OUTPUT lines
# scrolls in its own box.
COLUMN_PX, COLUMN_CHARS, FULL_WIDTH_CHARS, LONG_OUTPUT = 676, 74, 102, 60


class BookError(Exception):
    """The book could not be built; the message says why and what to do."""


def run_box(chapter: str) -> str:
    """The "run this chapter yourself" box put under a chapter's header on its page."""
    results = ", ".join(f"`results/{p.name}`" for p in results_used(chapter))
    if not results:
        reuses = ""
    elif "run_or_load(" in (NOTEBOOKS / f"{chapter}.py").read_text():
        reuses = (f"\n\nIn a full run its experiments reuse the committed results ({results}) "
                  "while their settings are unchanged; `GLUON_DENSENET_RERUN=1` redoes them.")
    else:
        reuses = f"\n\nIt reads committed results of an earlier chapter ({results})."
    return f"""::::{{admonition}} Run this chapter yourself
:class: tip

This page shows the committed full run. To run the chapter on your machine, from a copy of
the gluon-densenet repository with Python 3.11 and `make`:

```bash
make install       # .venv: MXNet 1.9.1 and the chapters' packages
.venv/bin/jupyter lab notebooks/{chapter}.ipynb
```

Smoke mode is the quick run that CI makes; the chapter's opening says what it changes:

```bash
export GLUON_DENSENET_SMOKE=1
.venv/bin/jupyter lab notebooks/{chapter}.ipynb
```{reuses}

The download button at the top of the page gives this notebook; it imports
`gluon_densenet`, so install the package first (`make install` in the repository).
::::"""


def png_size(head: bytes) -> tuple[int, int]:
    """``(width, height)`` from the first 24 bytes of a PNG file (its IHDR chunk)."""
    return struct.unpack(">II", head[16:24])


def _is_table(line: str) -> bool:
    return "  " in line.strip()      # aligned columns: a run of two spaces inside the line


def _wrap(text: str, width: int) -> str:
    """Wrap printed sentences wider than ``width``; table lines are left whole."""
    lines = []
    for line in text.split("\n"):
        body = line.lstrip(" ")
        indent = line[:len(line) - len(body)]
        if len(line) <= width or _is_table(line):
            lines.append(line)
        else:
            lines += textwrap.wrap(body, width, initial_indent=indent,
                                   subsequent_indent=indent + "  ",
                                   break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines)


def fit_outputs(cell) -> None:
    """Make a code cell's outputs readable in the book's column (see COLUMN_PX): a cell
    with a wide figure or table is made full-width, then its printed sentences are wrapped
    to the width it has, and a long output scrolls in its own box."""
    outputs = cell.get("outputs", [])
    streams = [o for o in outputs if o.output_type == "stream"]
    data = [o.get("data", {}) for o in outputs]
    wide = (any(_is_table(line) and len(line) > COLUMN_CHARS
                for o in streams for line in o.text.split("\n"))
            or any("<table" in d.get("text/html", "") for d in data)
            or any("image/png" in d and png_size(base64.b64decode(d["image/png"][:32]))[0]
                   > COLUMN_PX for d in data))
    tags = cell.metadata.setdefault("tags", [])
    if wide and "full-width" not in tags:
        tags.append("full-width")
    for o in streams:
        o.text = _wrap(o.text, FULL_WIDTH_CHARS if wide else COLUMN_CHARS)
    if sum(o.text.count("\n") for o in streams) > LONG_OUTPUT and "scroll-output" not in tags:
        tags.append("scroll-output")


def stage_notebook(source: Path, dest: Path) -> None:
    """Copy a chapter with its box inserted after the header cell (the one that opens with
    "**Learning objectives.**"), its outputs fitted to the column, its exercises' answer
    and test code folded, and without widget state that no output displays. A chapter
    without outputs, or with a smoke run's, is refused: the web shows full runs."""
    nb = nbformat.read(source, as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    if not outputs or SMOKE_LABEL in json.dumps(outputs):
        kind = "smoke-run outputs" if outputs else "no outputs"
        raise BookError(f"{source.name} has {kind}; the book shows full runs: run `make pages`")
    header = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                   and c.source.startswith("**Learning objectives.**")), None)
    if header is None:
        raise BookError(f"{source.name} has no header cell opening with "
                        "'**Learning objectives.**'; add one (docs/teaching.md, headers)")
    chapter = source.stem
    nb.cells.insert(header + 1, nbformat.v4.new_markdown_cell(run_box(chapter)))
    for cell in nb.cells:
        if cell.cell_type == "code":
            fit_outputs(cell)
            grading = cell.metadata.get("nbgrader", {})
            if grading.get("solution") or grading.get("grade"):
                # an exercise's model answer and its tests: folded until the reader asks
                cell.metadata.setdefault("tags", []).append("hide-input")
    if not any(WIDGET_VIEW in o.get("data", {}) for o in outputs):
        # tqdm's progress widgets were closed during the run; keeping their state would
        # make the page load the widget manager from a CDN for nothing
        nb.metadata.pop("widgets", None)
    nbformat.write(nb, dest)


def stage(src: Path) -> None:
    """Write the book's sources into ``src`` in the repository's own layout, so that
    README's relative links (``notebooks/…``, ``docs/…``) hold on the web too."""
    (src / "notebooks").mkdir(parents=True)
    (src / "docs").mkdir()
    shutil.copy2(ROOT / "README.md", src / "README.md")
    for doc in ("teaching.md", "architecture.md"):
        shutil.copy2(ROOT / "docs" / doc, src / "docs" / doc)
    for page in PAGES:
        shutil.copy2(BOOK / page, src / page)
    for chapter in chapters():
        stage_notebook(NOTEBOOKS / f"{chapter}.ipynb", src / "notebooks" / f"{chapter}.ipynb")


def build(out: Path) -> Path:
    """Build the book into ``out/html`` (returned). Everything is built in
    ``out/.building`` and moved into place only if Sphinx finished without a warning."""
    try:
        from sphinx.cmd.build import build_main
    except ImportError:
        raise BookError("Sphinx is not installed: run `make book`, or "
                        "pip install -e '.[book]'") from None
    staging = out / ".building"
    shutil.rmtree(staging, ignore_errors=True)
    src, html = staging / "src", staging / "html"
    try:
        stage(src)
        log = io.StringIO()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            status = build_main(["-b", "html", "-c", str(BOOK), "-d", str(staging / "doctrees"),
                                 "-W", "--keep-going", "-q", "-E", str(src), str(html)])
        if status != 0:
            warnings = [line for line in log.getvalue().splitlines() if line.strip()]
            raise BookError("Sphinx stopped with these warnings:\n" + "\n".join(warnings))
        final, old = out / "html", out / ".old-html"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        html.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def pages(html: Path) -> list[Path]:
    """Every HTML page of a built book (relative paths), chapters and generated pages alike."""
    return sorted(p.relative_to(html) for p in html.rglob("*.html")
                  if not p.relative_to(html).parts[0].startswith("_"))


def describe(html: Path, seconds: float) -> str:
    """One line: where the book is, its build time, page count and size."""
    n = len(pages(html))
    size = sum(p.stat().st_size for p in html.rglob("*") if p.is_file()) / 2**20
    return f"built {html} in {seconds:.0f} s: {n} pages, {size:.0f} MiB"

