"""What the chapters need to run in two modes: smoke mode (:mod:`.smoke`, for CI) and the
committed full-run result files (:mod:`.results`)."""
from .results import load_result, output_path, results_path, write_json
from .smoke import choose, smoke_mode

__all__ = ["choose", "load_result", "output_path", "results_path", "smoke_mode", "write_json"]
