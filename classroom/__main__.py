"""``python -m classroom build|check [--out DIR] [--chapter NAME ...]``.

``build`` (``make student``) writes ``DIR/teacher`` (default ``dist``) and ``DIR/student``.
``check`` builds them too (default ``build/classroom``), then autogrades the teacher's
answers and the unanswered hand-out of every chapter, in smoke mode unless
``GLUON_DENSENET_SMOKE`` is set, and fails unless the first earns every auto-graded
point and the second none.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

from .course import (
    KEY,
    UNANSWERED,
    ClassroomError,
    autograde_both,
    build,
    chapters,
    leaks,
    problems,
)


def _table(grades) -> str:
    rows = defaultdict(lambda: defaultdict(float))
    for g in grades:
        r = rows[g.chapter]
        if g.kind == "test":
            r[f"{g.student} points"] += g.score or 0
            if g.student == KEY:
                r["tests"] += 1
                r["test points"] += g.max_score
        elif g.student == KEY:
            r["written"] += 1
            r["written points"] += g.max_score
    head = (f"{'chapter':28s} {'tests':>5s} {'points':>6s} {'key':>5s} {'unanswered':>10s} "
            f"{'written answers (points)':>25s}")
    lines = [head]
    for chapter, r in rows.items():
        lines.append(f"{chapter:28s} {r['tests']:5.0f} {r['test points']:6.0f} "
                     f"{r[f'{KEY} points']:5.0f} {r[f'{UNANSWERED} points']:10.0f} "
                     f"{r['written']:17.0f} ({r['written points']:.0f})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classroom", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["build", "check"])
    parser.add_argument("--out", type=Path,
                        help="where teacher/ and student/ go (default: dist for build, "
                             "build/classroom for check)")
    parser.add_argument("--chapter", action="append", choices=chapters(), metavar="NAME",
                        help="only this chapter (repeatable; default: all)")
    args = parser.parse_args(argv)
    out = args.out or Path("dist" if args.command == "build" else "build/classroom")
    if args.command == "check":
        # grade in smoke mode unless told otherwise: seconds per chapter, not minutes
        os.environ.setdefault("GLUON_DENSENET_SMOKE", "1")
    start = time.perf_counter()
    try:
        teacher, student = build(out, args.chapter)
        found = leaks(student)
        print(f"built {teacher} (nbgrader course, with answers) and {student} (hand-out) "
              f"in {time.perf_counter() - start:.0f} s")
        if args.command == "check":
            grades = autograde_both(teacher, args.chapter)
            print(_table(grades))
            found += problems(grades, teacher)
            print(f"grading check took {time.perf_counter() - start:.0f} s in all")
    except ClassroomError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in found:
        print(f"FAIL {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
