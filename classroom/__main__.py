"""``python -m classroom build|check [--out DIR] [--chapter NAME ...]``.

``build`` (``make student``) writes ``DIR/teacher`` and ``DIR/student``. ``check`` builds
them too, then autogrades the teacher's answers and the unanswered hand-out of every
chapter and fails unless the first earns every auto-graded point and the second none.
"""
from __future__ import annotations

import argparse
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
    parser.add_argument("--out", type=Path, default=Path("dist"),
                        help="where teacher/ and student/ go (default: dist)")
    parser.add_argument("--chapter", action="append", choices=chapters(), metavar="NAME",
                        help="only this chapter (repeatable; default: all)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        teacher, student = build(args.out, args.chapter)
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
