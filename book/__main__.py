"""``python -m book build|check [--out DIR]``.

``build`` (``make book``) renders README, the committed chapters and the teaching guide into
``DIR/html`` (default ``build/book``) without re-executing a notebook. ``check`` builds it,
then opens every page in headless Chromium (``book/browser.py``) and saves a 1280x800
screenshot of each under ``build/book-screenshots/``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .build import BookError, build, describe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m book", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["build", "check"])
    parser.add_argument("--out", type=Path, default=Path("build/book"),
                        help="where html/ goes (default: build/book)")
    parser.add_argument("--screenshots", type=Path, default=Path("build/book-screenshots"),
                        help="where check saves one PNG per page (default: build/book-screenshots)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        html = build(args.out)
    except BookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(describe(html, time.perf_counter() - start))
    if args.command == "check":
        from .browser import BrowserError, check_book
        try:
            results = check_book(html, args.screenshots)
        except BrowserError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        failed = {page: found for page, found in results.items() if found}
        for page, found in failed.items():
            for line in found:
                print(f"FAIL {page}: {line}", file=sys.stderr)
        print(f"{len(results) - len(failed)} of {len(results)} pages passed in Chromium; "
              f"screenshots in {args.screenshots}")
        if failed:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
