"""Counting and summarising a Gluon network: learnable parameters, weighted layers, a
layer-by-layer table of output shapes, and the hybridization state that table must keep."""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import mxnet as mx
from mxnet.gluon import nn

WEIGHTED_LAYERS = (nn.Conv2D, nn.Dense)


def count_parameters(net: mx.gluon.Block) -> int:
    """Learnable parameters (BatchNorm's running mean/variance excluded, as in the paper).

    Every shape must be known: initialise the net and, if it defers shapes
    (``in_channels=0``), run one forward pass first."""
    total = 0
    for name, p in net.collect_params().items():
        if p.grad_req == "null":
            continue
        if p.shape is None or any(d == 0 for d in p.shape):
            raise ValueError(f"parameter {name} has unknown shape {p.shape}: run one forward "
                             "pass (or build the net with in_channels set) before counting")
        total += math.prod(p.shape)
    return total


def count_weighted_layers(net: mx.gluon.Block) -> int:
    """Layers with weights in the paper's sense: convolutions and fully connected layers
    (BatchNorm, activations and pooling are not counted)."""
    count = 0

    def visit(block: mx.gluon.Block) -> None:
        nonlocal count
        if isinstance(block, WEIGHTED_LAYERS):
            count += 1

    net.apply(visit)
    return count


def _children(block: mx.gluon.Block) -> list[tuple[str, mx.gluon.Block]]:
    # MXNet 1.9's Block has no public accessor for its named direct children.
    return list(block._children.items())


def hybridization(block: mx.gluon.Block) -> dict[str, Any] | None:
    """The arguments ``block`` was last hybridized with (``static_alloc``, ``static_shape``,
    ``backend`` ...), for ``block.hybridize(True, **them)``; ``None`` if it runs
    imperatively.

    MXNet 1.9 offers no public getter for this state, hence ``_active``, ``_flags`` and
    ``_backend``.
    """
    if not getattr(block, "_active", False):
        return None
    state = dict(getattr(block, "_flags", []))
    if getattr(block, "_backend", None):
        state.update(backend=block._backend, **getattr(block, "_backend_opts", {}))
    return state


def rebuild_graphs(block: mx.gluon.Block) -> None:
    """Make every hybridized block in ``block`` trace its graph again on its next call,
    hybridized as before: needed after a change the graph reads only when traced (a
    BatchNorm's ``use_global_stats``).

    Gluon's public way: ``hybridize(active, clear=True, ...)`` drops the cached graphs of a
    block and its children; it also resets their flags, hence the block's own state again.
    """
    state = hybridization(block)
    if state is not None:
        block.hybridize(True, clear=True, **state)     # its children take the same state
        return
    for _, child in _children(block):
        rebuild_graphs(child)


@contextmanager
def imperative(net: mx.gluon.Block) -> Iterator[None]:
    """Run ``net`` imperatively inside the ``with``; afterwards its hybridization is exactly
    what it was, flags such as ``static_alloc`` included (``hybridize()`` sets every child
    to the parent's state, so restoring the parent's restores the children's)."""
    state = hybridization(net)
    if state is None:
        yield
        return
    net.hybridize(False)
    try:
        yield
    finally:
        net.hybridize(True, **state)


@dataclass
class LayerRow:
    """One line of :func:`summary`: where a block sits, what it is, what it outputs."""
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int


def _blocks_at(block: mx.gluon.Block, path: str, depth: int,
               max_depth: int | None) -> list[tuple[str, mx.gluon.Block]]:
    children = _children(block)
    if not children or (max_depth is not None and depth == max_depth):
        return [(path, block)]
    found = []
    for key, child in children:
        found += _blocks_at(child, f"{path}.{key}" if path else key, depth + 1, max_depth)
    return found


def summary(net: mx.gluon.Block, input_shape: tuple[int, ...], max_depth: int | None = None,
            ctx: mx.Context | None = None) -> list[LayerRow]:
    """Run a zero batch of ``input_shape`` through ``net`` and list, in execution order,
    each block down to ``max_depth`` levels (leaves when ``None``) with its output shape
    and learnable parameters. The net must be initialised; its hybridization, flags
    included, is left exactly as it was. Hand-written because Gluon's ``Block.summary``
    only prints its table, and the chapters compute with the rows."""
    ctx = ctx or mx.cpu()
    rows: list[LayerRow] = []

    def hook(blk, _inputs, output, name):
        params = sum(p.data().size for p in blk.collect_params().values()
                     if p.grad_req != "null")
        rows.append(LayerRow(name, type(blk).__name__, tuple(output.shape), params))

    with imperative(net):            # hooks on children only fire imperatively
        handles = [block.register_forward_hook(partial(hook, name=name))
                   for name, block in _blocks_at(net, "", 0, max_depth)]
        try:
            net(mx.nd.zeros(input_shape, ctx=ctx))
        finally:
            for h in handles:
                h.detach()
    return rows


def format_summary(rows: list[LayerRow], input_shape: tuple[int, ...] | None = None) -> str:
    """A fixed-width table of :func:`summary` rows with a parameter total."""
    width = max([len(r.name) for r in rows] + [5])
    kind_w = max([len(r.kind) for r in rows] + [4])
    lines = [f"{'layer':<{width}}  {'type':<{kind_w}}  {'output shape':<20}  {'params':>11}",
             "-" * (width + kind_w + 37)]
    if input_shape is not None:
        lines.append(f"{'input':<{width}}  {'':<{kind_w}}  {str(tuple(input_shape)):<20}  {'':>11}")
    for r in rows:
        lines.append(f"{r.name:<{width}}  {r.kind:<{kind_w}}  {str(r.output_shape):<20}  "
                     f"{r.params:>11,}")
    lines.append("-" * (width + kind_w + 37))
    total = sum(r.params for r in rows)
    lines.append(f"{'total':<{width}}  {'':<{kind_w}}  {'':<20}  {total:>11,}")
    return "\n".join(lines)
