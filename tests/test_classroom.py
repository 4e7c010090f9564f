"""The classroom edition: every chapter ends with numbered exercises marked the nbgrader
way, the hand-out carries no answer, and nbgrader's grading works in both directions
(the teacher's answers earn every auto-graded point, the unanswered hand-out none)."""
import os
import re
from pathlib import Path

import jupytext
import pytest

from classroom import course

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))
EXERCISE = re.compile(r"^### Exercise (\d+)\.(\d+)", re.MULTILINE)


def _nbgrader(cell):
    return cell.metadata.get("nbgrader", {})


def _exercises(nb):
    """``{(chapter, number): [cells]}``: each exercise heading and the cells up to the next."""
    found, current = {}, None
    for cell in nb.cells:
        m = EXERCISE.search(cell.source) if cell.cell_type == "markdown" else None
        if m:
            current = found.setdefault((int(m[1]), int(m[2])), [])
        if current is not None:
            current.append(cell)
    return found


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_chapter_ends_with_numbered_exercises(source):
    nb = jupytext.read(source)
    chapter = int(source.stem[:2])
    exercises = _exercises(nb)
    assert exercises, f"{source.name} has no '### Exercise {chapter}.1'"
    assert list(exercises) == [(chapter, i) for i in range(1, len(exercises) + 1)], \
        f"{source.name}: exercises must be numbered {chapter}.1, {chapter}.2, ... in order"
    headings = [i for i, c in enumerate(nb.cells)
                if c.cell_type == "markdown" and re.search(r"^## ", c.source, re.MULTILINE)]
    assert nb.cells[headings[-1]].source.lstrip().startswith("## Exercises"), \
        f"{source.name}: the exercises must be the chapter's last section"
    for number, cells in exercises.items():
        assert any(_nbgrader(c).get("solution") for c in cells), \
            f"exercise {number} of {source.name} has no answer cell"


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_nbgrader_markup(source):
    from nbgrader.nbgraderformat import MetadataValidator

    nb = jupytext.read(source)
    MetadataValidator().validate_nb(nb)          # nbgrader's own schema check
    ids = [_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c)]
    assert len(ids) == len(set(ids)), f"{source.name}: grade_ids repeat"
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "code" and meta.get("solution"):
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, \
                f"{meta['grade_id']}: an answer cell must mark its solution region"
        if cell.cell_type == "code" and meta.get("grade"):
            assert meta["points"] > 0 and "assert" in cell.source, meta["grade_id"]
            assert "### BEGIN HIDDEN TESTS" in cell.source, \
                f"{meta['grade_id']}: a test cell keeps some tests hidden until grading"
        if cell.cell_type == "markdown" and meta.get("solution"):
            assert cell.source.startswith("*Model answer.*"), meta["grade_id"]
            assert "PENDING" not in cell.source, meta["grade_id"]


def test_every_chapter_has_a_header():
    for source in SOURCES:
        text = source.read_text()
        for part in ("**Learning objectives.**", "**Prerequisites.**",
                     "**Run time on a 2-core CPU.**", "**References.**",
                     "arXiv:1608.06993", "arXiv:1707.06990", "d2l.ai"):
            assert part in text, f"{source.name}'s header lacks {part}"


def test_results_used_are_found():
    assert [p.name for p in course.results_used("06_max_vs_avg_pooling")] == ["06_pooling.json"]
    assert [p.name for p in course.results_used("07_parameters_vs_resnet")] == \
        ["05_family.json"]
    assert [p.name for p in course.results_used("09_feature_reuse")] == \
        ["05_family.json", "09_feature_reuse.json"]
    assert course.results_used("01_dense_blocks") == []


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("classroom")
    return course.build(out)


def test_build_writes_a_course_and_a_hand_out(built):
    teacher, student = built
    for name in course.chapters():
        assert (teacher / "source" / name / f"{name}.ipynb").exists()
        assert (student / name / f"{name}.ipynb").exists()
        for result in course.results_used(name):
            assert (student / name / "results" / result.name).exists()
    assert (teacher / "gradebook.db").exists() and (teacher / "nbgrader_config.py").exists()
    assert not (teacher.parent / ".building").exists()


def test_a_course_with_students_work_is_never_replaced(tmp_path, capsys):
    from classroom.__main__ import main

    work = tmp_path / "teacher" / "submitted" / "ada" / "01_dense_blocks"
    work.mkdir(parents=True)
    (work / "01_dense_blocks.ipynb").write_text("ada's answers")
    with pytest.raises(course.ClassroomError, match="holds students' work"):
        course.build(tmp_path, ["01_dense_blocks"])
    assert main(["build", "--out", str(tmp_path), "--chapter", "01_dense_blocks"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert (work / "01_dense_blocks.ipynb").read_text() == "ada's answers"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["teacher"]


def test_a_failed_build_leaves_the_old_one(tmp_path):
    old = tmp_path / "student" / "old.txt"
    old.parent.mkdir()
    old.write_text("last week's hand-out")
    with pytest.raises(FileNotFoundError):
        course.build(tmp_path, ["01_dense_blocks", "99_no_such_chapter"])
    assert old.read_text() == "last week's hand-out"
    assert not (tmp_path / ".building").exists() and not (tmp_path / "teacher").exists()


def test_hand_out_carries_no_answer(built):
    _, student = built
    assert course.leaks(student) == []
    # and the check can fail: the teacher's source leaks by definition
    assert course.leaks(built[0] / "source")


def test_autograde_both_directions(built, monkeypatch):
    """What CI checks: in smoke mode, nbgrader grades the model answers full marks and
    the unanswered hand-outs zero, and every chapter's own cells run in both."""
    monkeypatch.setenv("GLUON_DENSENET_SMOKE", os.environ.get("GLUON_DENSENET_SMOKE", "1"))
    teacher, _ = built
    grades = course.autograde_both(teacher)
    tests = [g for g in grades if g.kind == "test"]
    assert len({(g.chapter, g.cell) for g in tests}) >= len(SOURCES)
    assert course.problems(grades, teacher) == []
    # and the check can fail: an answer scoring less than full marks is reported
    broken = [course.Grade(g.chapter, g.student, g.cell, g.kind, 0.0, g.max_score)
              for g in tests if g.student == course.KEY]
    assert len(course.problems(broken, teacher)) == len(broken)
    # nbgrader put the hidden tests back before it ran them (the hand-out lacks them)
    assert course.unrestored_tests(teacher, course.UNANSWERED) == []


def _counts():
    """Exercises, chapters, auto-graded test cells and their points, written answers and
    their points, over every chapter."""
    exercises, chapters, tests, test_points, written, written_points = 0, set(), 0, 0, 0, 0
    for source in SOURCES:
        nb = jupytext.read(source)
        found = _exercises(nb)
        exercises += len(found)
        chapters |= {chapter for chapter, _ in found}
        for cell in nb.cells:
            meta = _nbgrader(cell)
            if not meta.get("grade"):
                continue
            if cell.cell_type == "code":
                tests, test_points = tests + 1, test_points + meta["points"]
            elif meta.get("solution"):
                written, written_points = written + 1, written_points + meta["points"]
    return exercises, len(chapters), tests, test_points, written, written_points


def test_readme_counts_the_exercises_and_graded_cells_there_are():
    """README's figures for the classroom edition are the chapters' own counts."""
    exercises, _, tests, _, written, _ = _counts()
    readme = (NOTEBOOKS.parent / "README.md").read_text()
    assert f"({exercises} in all)" in readme
    assert f"{tests} auto-graded test cells" in readme
    assert f"{written} written answers are graded by hand" in readme


def test_teaching_guide_counts_the_exercises_and_has_a_rubric_per_written_answer():
    """docs/teaching.md's counts are the chapters' own, and its rubric table has one row
    per written answer."""
    guide = (NOTEBOOKS.parent / "docs" / "teaching.md").read_text()
    stated = re.search(r"There are (\d+) exercises in (\d+) chapters\. (\d+) test cells are "
                       r"auto-graded \((\d+) points\), and (\d+) written answers are graded by "
                       r"hand \((\d+) points\)", " ".join(guide.split()))
    assert stated, "docs/teaching.md no longer states the exercise counts in the checked form"
    counted = _counts()
    assert tuple(map(int, stated.groups())) == counted, \
        f"docs/teaching.md states {stated.group()!r}; the chapters have {counted}"
    rubrics = guide.split("## Rubrics for the written answers")[1].split("\n## ")[0]
    rubric_rows = re.findall(r"^\| (\d+\.\d+) [^|]+\| [^|]+\| [^|]+\| [^|]+\|$", rubrics,
                             flags=re.M)
    assert len(rubric_rows) == counted[4], \
        f"{counted[4]} written answers, rubrics for {rubric_rows}"
