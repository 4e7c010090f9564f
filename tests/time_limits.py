"""Wall-clock limits of the tests. They exist to end a hang, never to judge speed: each is
many times what its work takes on a quiet 2-core machine, and all of them are multiplied by
``GLUON_DENSENET_TEST_TIME_SCALE`` (default 1) for a slower or busier machine."""
import math
import os

SCALE_ENV = "GLUON_DENSENET_TEST_TIME_SCALE"


def _scale() -> float:
    text = os.environ.get(SCALE_ENV, "1")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{SCALE_ENV}={text!r} is not a number > 0; set it to e.g. 3 on a "
                         "machine three times slower, or unset it")
    return value


SCALE = _scale()


def limit(seconds: float) -> float:
    """``seconds`` times :data:`SCALE`: how long a test waits before calling its work hung."""
    return seconds * SCALE
