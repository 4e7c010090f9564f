"""A block's parameters as the files name them, and whether they hold values yet."""
from __future__ import annotations

import mxnet as mx
from mxnet import gluon

__all__ = ["initialized_contexts", "is_initialized", "params_by_name"]


def params_by_name(block: gluon.Block) -> dict[str, gluon.Parameter]:
    """``block``'s parameters by structural name (``features.4.net.0.0.gamma``), the names
    ``save_parameters`` writes. Gluon offers this mapping only through a private method,
    used here alone."""
    return block._collect_params_with_prefix()


def initialized_contexts(param: gluon.Parameter) -> list[mx.Context] | None:
    """The devices ``param`` lives on, or ``None`` if it was never initialised
    (``list_ctx`` raises then, unless initialisation is merely deferred)."""
    try:
        return list(param.list_ctx())
    except RuntimeError:
        return None


def is_initialized(param: gluon.Parameter) -> bool:
    """Whether ``param.initialize`` has been called (its shape may still be deferred)."""
    return initialized_contexts(param) is not None
