"""The classroom edition of the chapters, built and graded with nbgrader.

``build`` turns the chapters (the teacher's version, with model answers) into an nbgrader
course with one assignment per chapter, and the student hand-out nbgrader generates from
it. ``autograde_both`` grades two submissions of every chapter, the teacher's own answers
and the unanswered hand-out, and ``problems`` says what is wrong with the result.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CONFIG = Path(__file__).with_name("nbgrader_config.py")
STUDENT_WORK = ("submitted", "autograded", "feedback")
"""Folders of an nbgrader course that hold students' work, which a rebuild must not touch."""
KEY, UNANSWERED = "teacher-key", "unanswered"
"""The two submissions ``autograde_both`` grades."""
LEAKS = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "Model answer")
"""Text that must never reach a student."""


class ClassroomError(RuntimeError):
    """An nbgrader step failed; the message says which and why."""


def chapters() -> list[str]:
    """The chapters' names (``01_dense_blocks``, ...), each one nbgrader assignment."""
    return sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))


def results_used(chapter: str) -> list[Path]:
    """The committed full-run results a chapter reads (``results/*.json``), which the
    hand-out must carry so that a full run does not recompute an hour of experiments."""
    text = (NOTEBOOKS / f"{chapter}.py").read_text()
    names = sorted(set(re.findall(r'"(\d\d_\w+\.json)"', text)))
    return [p for p in (NOTEBOOKS / "results" / n for n in names) if p.exists()]


def _api(course: Path):
    # nbgrader migrates its gradebook by running the `alembic` script of this environment
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    try:
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
    except ImportError:
        raise ClassroomError("nbgrader is not installed: run `make student`, or "
                             "pip install -e '.[classroom]'") from None
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(CONFIG.name, path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def _run(result: dict, what: str) -> None:
    if not result["success"]:
        detail = (result.get("error") or result.get("log") or "").strip().splitlines()
        raise ClassroomError(f"{what} failed: {detail[-1] if detail else 'no message'}")


def student_work(teacher: Path) -> list[str]:
    """The folders of an existing course that hold students' work (non-empty)."""
    return [d for d in STUDENT_WORK
            if (Path(teacher) / d).is_dir() and any((Path(teacher) / d).iterdir())]


def build(out: Path, names: list[str] | None = None) -> tuple[Path, Path]:
    """Write ``out/teacher`` (an nbgrader course: ``source/`` with the model answers,
    ``release/``, ``gradebook.db``) and ``out/student`` (the hand-out: answers, hidden
    tests and outputs removed). Both are built beside ``out`` and moved into place only
    when every chapter succeeded, so a failed build leaves the old ones intact. A course
    that already holds students' work is never replaced."""
    names = names or chapters()
    out = Path(out).resolve()
    work = student_work(out / "teacher")
    if work:
        raise ClassroomError(f"{out / 'teacher'} holds students' work ({', '.join(work)}); "
                             "move it away or build elsewhere with --out")
    staging = out / ".building"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        teacher, student = staging / "teacher", staging / "student"
        for name in names:
            source = teacher / "source" / name
            source.mkdir(parents=True)
            shutil.copy2(NOTEBOOKS / f"{name}.ipynb", source)
            for result in results_used(name):
                (source / "results").mkdir(exist_ok=True)
                shutil.copy2(result, source / "results")
        shutil.copy2(CONFIG, teacher / "nbgrader_config.py")
        api = _api(teacher)
        for name in names:
            _run(api.generate_assignment(name, force=True),
                 f"nbgrader generate_assignment {name}")
            shutil.copytree(teacher / "release" / name, student / name)
        for final, built in ((out / "teacher", teacher), (out / "student", student)):
            shutil.rmtree(final, ignore_errors=True)
            built.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / "teacher", out / "student"


def _cells(folder: Path):
    """``(notebook file name, cell index, cell)`` for every notebook in ``folder/*/``."""
    for path in sorted(Path(folder).glob("*/*.ipynb")):
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            yield path.name, i, cell


def leaks(student: Path) -> list[str]:
    """Solution or hidden-test text, or stored outputs, in the hand-out's notebooks."""
    found = []
    for name, i, cell in _cells(student):
        found += [f"{name} cell {i}: {text!r}" for text in LEAKS if text in cell.source]
        if cell.get("outputs"):
            found.append(f"{name} cell {i}: stored output")
    return found


@dataclass(frozen=True)
class Grade:
    """One graded cell of one submission."""
    chapter: str
    student: str
    cell: str
    """nbgrader's ``grade_id``, e.g. ``ex-1-1-test``."""
    kind: str
    """``test`` (auto-graded code) or ``written`` (a manually graded answer)."""
    score: float | None
    """nbgrader's automatic score (``None`` for a written answer awaiting a teacher)."""
    max_score: float


def autograde_both(teacher: Path, names: list[str] | None = None) -> list[Grade]:
    """Submit every chapter twice, the teacher's source as ``teacher-key`` and the
    unanswered hand-out as ``unanswered``, autograde both (nbgrader restores the hidden
    tests from its gradebook) and return every graded cell."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    names = names or chapters()
    teacher = Path(teacher).resolve()
    for name in names:
        for student, origin in ((KEY, teacher / "source" / name),
                                (UNANSWERED, teacher / "release" / name)):
            submitted = teacher / "submitted" / student / name
            shutil.rmtree(submitted, ignore_errors=True)
            shutil.copytree(origin, submitted)
    api = _api(teacher)
    # nbgrader 0.9.6's autograde warns "not in session" (SAWarning) under SQLAlchemy 2.0 and
    # 2.1 alike; the scores it records are unaffected (the check tests them both ways).
    with warnings.catch_warnings(action="ignore", category=SAWarning):
        for name in names:
            for student in (KEY, UNANSWERED):
                _run(api.autograde(name, student, force=True, create=True),
                     f"nbgrader autograde {name} for {student}")
    grades = []
    with Gradebook(f"sqlite:///{teacher / 'gradebook.db'}",
                   api.coursedir.course_id) as gradebook:
        for name in names:
            for student in (KEY, UNANSWERED):
                submission = gradebook.find_submission(name, student)
                for notebook in submission.notebooks:
                    for g in notebook.grades:
                        kind = "test" if g.cell.cell_type == "code" else "written"
                        grades.append(Grade(name, student, g.name, kind,
                                            g.auto_score, g.max_score))
    return grades


def failed_cells(teacher: Path, student: str, in_exercises: bool = True) -> list[str]:
    """Cells of ``student``'s autograded notebooks that raised an error; with
    ``in_exercises=False`` only those that are neither an answer nor a test cell, i.e. a
    chapter's own code that broke."""
    found = []
    for name, i, cell in _cells(Path(teacher) / "autograded" / student):
        meta = cell.metadata.get("nbgrader", {})
        failed = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if failed and (in_exercises or not (meta.get("solution") or meta.get("grade"))):
            found.append(f"{name} cell {i}: {cell.source.splitlines()[0][:60]!r}")
    return found


def unrestored_tests(teacher: Path, student: str) -> list[str]:
    """Test cells of ``student``'s autograded notebooks that lack their hidden tests: every
    test cell has some (tests/test_classroom.py), and autograde must have put them back."""
    found = []
    for name, _, cell in _cells(Path(teacher) / "autograded" / student):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and \
                "### BEGIN HIDDEN TESTS" not in cell.source:
            found.append(f"{name} {meta['grade_id']}")
    return found


def problems(grades: list[Grade], teacher: Path) -> list[str]:
    """Everything that makes the grading check fail, one line each (empty: it passed)."""
    found = [f"{student}: hidden tests not restored in {cell}"
             for student in (KEY, UNANSWERED) for cell in unrestored_tests(teacher, student)]
    for g in grades:
        if g.kind != "test":
            continue
        if g.student == KEY and g.score != g.max_score:
            found.append(f"{g.chapter} {g.cell}: the model answer scores {g.score} of "
                         f"{g.max_score}")
        if g.student == UNANSWERED and g.score != 0:
            found.append(f"{g.chapter} {g.cell}: the unanswered hand-out scores {g.score}")
    if not any(g.kind == "test" for g in grades):
        found.append("no auto-graded tests found")
    found += [f"{KEY}: error in {e}" for e in failed_cells(teacher, KEY)]
    found += [f"{UNANSWERED}: error outside the exercises in {e}"
              for e in failed_cells(teacher, UNANSWERED, in_exercises=False)]
    return found
