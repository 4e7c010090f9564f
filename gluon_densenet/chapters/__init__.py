"""What the chapters need to run in two modes: smoke mode (:mod:`.smoke`, for CI) and the
committed, labelled full-run result files (:mod:`.results`)."""
from .results import (
    describe_run,
    load_result,
    output_path,
    results_path,
    run_metadata,
    run_or_load,
    write_json,
)
from .smoke import choose, smoke_mode

__all__ = ["choose", "describe_run", "load_result", "output_path", "results_path",
           "run_metadata", "run_or_load", "smoke_mode", "write_json"]
