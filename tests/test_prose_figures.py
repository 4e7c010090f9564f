"""No hand-typed figure can drift: every figure the chapters' prose, README's chapter
table and docs/teaching.md state is printed by the committed page it is about.

A figure (:mod:`prose_figures`: a number with a decimal point, a thousands separator,
a percent sign or a unit) in a chapter's markdown must equal, at the precision it is
written with, a number of that chapter's committed outputs or code, or its recorded
page time (``notebooks/page_times.json``, written by ``make pages``). A row of
README's chapter table answers to the chapter it links; a row of teaching.md's
exercise table to the chapter of its exercise number; teaching.md's other paragraphs
to the chapters together. On failure the message names the file, the figure, its
context and the page it should come from.
"""
import json
import re
from pathlib import Path

import pytest
from prose_figures import Sources, figures, notebook_parts, numbers_in, unbacked

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAGE_TIMES = ROOT / "notebooks" / "page_times.json"


def _page_time(stem: str) -> Sources:
    times = json.loads(PAGE_TIMES.read_text()) if PAGE_TIMES.exists() else {}
    return numbers_in(json.dumps(times.get(stem, {})))


def _sources(nb: Path) -> Sources:
    _, own = notebook_parts(nb)
    page = _page_time(nb.stem)
    return Sources(own.numbers | page.numbers, own.seconds | page.seconds)


def _report(where: str, page: str, missing) -> str:
    return "\n".join(f"{where}: figure {f.text!r} ('...{f.context}...') is printed by no output "
                     f"of {page}; print it there or correct it" for f in missing)


def _chapter(number: str) -> Path:
    found = [nb for nb in NOTEBOOKS if nb.stem.startswith(f"{int(number):02d}_")]
    assert len(found) == 1, f"no chapter {number} among {[nb.stem for nb in NOTEBOOKS]}"
    return found[0]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_chapter_prose_states_only_figures_its_page_prints(nb):
    markdown, _ = notebook_parts(nb)
    missing = unbacked(markdown, _sources(nb))
    assert not missing, _report(f"notebooks/{nb.name}", "the same page", missing)


def test_readme_chapter_table_states_only_figures_of_its_chapters():
    rows = [line for line in (ROOT / "README.md").read_text().splitlines()
            if re.match(r"\| \[`\d\d_\w+`\]\(notebooks/", line)]
    assert len(rows) == len(NOTEBOOKS), "README's chapter table should list every chapter"
    for row in rows:
        nb = ROOT / re.search(r"\((notebooks/\w+\.ipynb)\)", row).group(1)
        description = row.split("|")[2]
        missing = unbacked([description], _sources(nb))
        assert not missing, _report("README.md (chapter table)", nb.name, missing)


def test_teaching_guide_states_only_figures_of_the_pages():
    text = (ROOT / "docs" / "teaching.md").read_text()
    everything = [_sources(nb) for nb in NOTEBOOKS]
    every = Sources(set().union(*(s.numbers for s in everything)),
                    set().union(*(s.seconds for s in everything)))
    rows, prose = [], []
    for line in text.splitlines():
        m = re.match(r"\| (\d+)\.(\d+) ", line)
        (rows if m else prose).append((m, line))
    assert len(rows) >= 17
    for m, line in rows:
        nb = _chapter(m.group(1))
        missing = unbacked([line[m.end():]], _sources(nb))
        assert not missing, _report(f"docs/teaching.md (exercise {m.group(1)}.{m.group(2)})",
                                    nb.name, missing)
    missing = unbacked([line for _, line in prose], every)
    assert not missing, _report("docs/teaching.md", "any chapter", missing)


def test_the_check_can_fail():
    ch3 = _sources(_chapter("3"))
    assert [f.text for f in figures("Shirt 76.8 %, about 7 minutes, 757,322 weights, "
                                    "see `lr=0.1`, arXiv:1608.06993, §8.7 and Table 2")] == \
        ["76.8 %", "7 minutes", "757,322"]
    assert unbacked(["the hardest class reaches 12.34 % after 9,999 s"], ch3)
    assert not unbacked(["0.5 points"], Sources({0.005}, set()))     # a fraction, in points
    assert unbacked(["6 min"], Sources({360.0}, set()))              # a duration needs a time
    assert not unbacked(["6 min"], Sources(set(), {350.0}))

