"""Find the figures a text states and check each against the outputs it should come from.

A *figure* is a number written as a measurement: with a decimal point (0.8988), a
thousands separator (757,322), a percent sign, or a unit (s, min, MiB, ×, points, ...).
Bare integers ("3 seeds", "121 layers") are not figures, nor are numbers inside inline
code, links, citations (arXiv ids, §8.7, Table 2, Exercise 5.1), versions or dates.

A figure is *backed* when some number of its source (a notebook's outputs and code, a
results file) equals it at the precision it is written with: 89.88 % is backed by
0.8988 or 89.88, "6 min" by 350 s, "0.90" by 0.9043. Used by ``test_prose_figures.py``;
run ``python tests/prose_figures.py FILE.ipynb`` to list a chapter's unbacked figures.
"""
from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_UNITS = (r"%|ms\b|s/epoch|s\b|seconds?\b|min\b|minutes?\b|h\b|hours?\b|MiB\b|KiB\b|GiB\b|"
          r"MB\b|GB\b|kB\b|M\b|×|x\b|points?\b|pt\b|images/s|img/s|GFLOPs?\b|GFLOPS\b")
_NUMBER = re.compile(
    r"(?<![\w.§/#:=-])(?P<times>×\s?)?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"(?![\w.]*\d)(?:\s?(?P<unit>" + _UNITS + r"))?")
# Spans whose numbers are not figures: inline code, links' targets, citations, versions.
_SKIP = re.compile(
    r"`[^`]*`|\]\([^)]*\)|<https?://[^>]*>|https?://\S+|arXiv:?\s?\d+\.\d+|doi\.org/\S+|"
    r"compute capabilit(?:y|ies)\s?\d+(?:\.\d+)?(?:\s?(?:to|and|–|-)\s?\d+(?:\.\d+)?)?|"
    r"(?:§|Section|section|Table|table|Figure|figure|Fig\.|Exercise|exercise|Exercises|"
    r"chapter|Chapter|chapters|Chapters|Eq\.|equation)\s?\d+(?:\.\d+)*(?:\s?(?:and|to|–|-)\s?"
    r"\d+(?:\.\d+)*)?|\b\d{4}-\d{2}-\d{2}\b|\b(?:MXNet|mxnet|Python|numpy|d2l|torch|torchvision|"
    r"nbgrader|CUDA|cuDNN|sm_)[ =-]*\d+(?:\.\d+)*\S*|\bv\d+(?:\.\d+)+|\(\d{4}\)|\b(?:19|20)\d{2}\b")
_ANY_NUMBER = re.compile(r"\d{1,3}(?:[,_]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


_SECONDS = {"ms": 1e-3, "s": 1.0, "second": 1.0, "seconds": 1.0, "min": 60.0, "minute": 60.0,
            "minutes": 60.0, "h": 3600.0, "hour": 3600.0, "hours": 3600.0}
_TIMED = re.compile(r"(\d+(?:\.\d+)?)\s?(ms|s|seconds?|min|minutes?|h|hours?)(?![\w/])"
                    r"|\"\w*_s\": (\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Sources:
    """The numbers a text may quote: all of them, and those written as durations (in s)."""

    numbers: set[float]
    seconds: set[float]


@dataclass(frozen=True)
class Figure:
    """A figure found in prose: its text, value, decimals written and unit."""

    text: str
    value: float
    decimals: int
    unit: str
    context: str

    def backed_by(self, sources: Sources) -> bool:
        """Whether a number of ``sources`` rounds to this figure as written: a duration
        to a duration written in any unit (350 s backs "6 min"), any other number as it
        is, in per cent or as a fraction (0.8988 backs "89.88 %")."""
        tol = 0.5 * 10.0 ** -self.decimals + 1e-9
        if self.unit in _SECONDS:
            unit = _SECONDS[self.unit]
            return any(abs(t / unit - self.value) <= tol for t in sources.seconds)
        return any(abs(abs(n) * k - self.value) <= tol
                   for n in sources.numbers for k in (1.0, 100.0, 0.01))


def figures(text: str) -> list[Figure]:
    """The figures stated in ``text`` (markdown)."""
    found = []
    clean = _SKIP.sub(lambda m: " " * len(m.group()), text)
    for m in _NUMBER.finditer(clean):
        integer, frac, unit = m.group("int"), m.group("frac"), (m.group("unit") or "")
        if not (frac or "," in integer or unit or m.group("times")):
            continue
        value = float(integer.replace(",", "") + ("." + frac if frac else ""))
        start = max(0, m.start() - 40)
        context = " ".join(text[start:m.end() + 30].split())
        found.append(Figure(m.group().strip(), value, len(frac or ""), unit.strip(), context))
    return found


def numbers_in(text: str) -> Sources:
    """Every number written in ``text`` (outputs, code, JSON), signs dropped, and the
    durations among them (a number with a time unit, or a JSON key ending in ``_s``)."""
    out = set()
    for m in _ANY_NUMBER.finditer(text):
        try:
            value = float(m.group().replace(",", "").replace("_", ""))
        except ValueError:
            continue
        if math.isfinite(value):
            out.add(value)
    seconds = set()
    for m in _TIMED.finditer(text):
        if m.group(3) is not None:
            seconds.add(float(m.group(3)))
        else:
            seconds.add(float(m.group(1)) * _SECONDS[m.group(2)])
    return Sources(out, seconds)


def notebook_parts(path: Path) -> tuple[list[str], Sources]:
    """A notebook's markdown cells and the numbers of its outputs and code."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    markdown, sources = [], []
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            markdown.append(text)
            continue
        sources.append(text)
        for out in cell.get("outputs", []):
            sources.append("".join(out.get("text", "")))
            data = out.get("data", {})
            for kind in ("text/plain", "text/html", "text/markdown"):
                sources.append("".join(data.get(kind, "")))
    return markdown, numbers_in("\n".join(sources))


def unbacked(texts: Iterable[str], sources: Sources) -> list[Figure]:
    """The figures of ``texts`` that no number of ``sources`` backs."""
    return [f for t in texts for f in figures(t) if not f.backed_by(sources)]


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        md, nums = notebook_parts(Path(arg))
        for f in unbacked(md, nums):
            print(f"{arg}: {f.text!r} in: ...{f.context}...")
