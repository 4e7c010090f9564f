"""Memory-efficient dense blocks (Pleiss et al., 2017), opt-in with ``memory_efficient=True``.

Under ``autograd.record()`` a memory-efficient :class:`~gluon_densenet.models.DenseBlock`
keeps only its input and each layer's *k*-channel output; each layer (concat → BN → ReLU →
conv …) runs unrecorded in forward and is recorded again during ``backward()``, so the
training loop is the ordinary one::

    with autograd.record():
        loss = loss_fn(net(X), y)
    loss.backward()          # replays every block this backward reached, last first
    trainer.step(batch_size)

How, in MXNet 1.9, without nested autograd (which gave wrong gradients here):

* the block's recorded output is a concatenation of detached copies of its features, so the
  user's ``backward()`` stops at the block and fills their gradient buffers;
* once a memory-efficient block has run recorded, ``NDArray.backward`` and
  ``autograd.backward`` are wrapped (:func:`_install`) to replay, after the user's backward,
  each block it reached: its layers are recorded again and back-propagated, then the block's
  input carries the gradient on to the layers before it. A net without such blocks never
  changes MXNet's functions.

Outputs, gradients and BatchNorm running statistics equal the standard step's bit for bit
(``tests/test_memory_efficient.py``; README's "Performance" section has the time and memory
measured). Refused with :class:`ReplayError` rather than computed wrongly: two
recorded passes through one block before one backward, ``backward(retain_graph=True)``, and a
tensor the block depends on used elsewhere in the graph. ``autograd.grad()`` bypasses the
replay. A parent hybridized as a whole would cache the block's storing graph, so
:class:`~gluon_densenet.models.DenseNet` runs its children one by one under ``record()``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import warnings
from collections.abc import Callable, Sequence

from mxnet import autograd, nd
from mxnet.base import MXNetError
from mxnet.gluon import nn

from .concat import concat_features

__all__ = ["TRIM_PER_BLOCK", "ReplayError", "clear_pending", "dense_block_forward",
           "is_memory_efficient", "replay_pending"]

#: Hand freed heap pages back to the OS before replaying each block: without it glibc's heap
#: fragments and much of the saving never shows in resident memory.
TRIM_PER_BLOCK = True


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim            # glibc only; absent on macOS/musl
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _load_malloc_trim()


def _leaf(x: nd.NDArray) -> nd.NDArray:
    """A detached, copy-free view of ``x`` with its own (zeroed, accumulating) gradient."""
    v = x.detach()
    v.attach_grad(grad_req="add")
    return v


class ReplayError(RuntimeError):
    """A memory-efficient dense block cannot be recorded or replayed as asked."""


def _in_graph(x: nd.NDArray) -> bool:
    """Whether ``x`` was made by recorded operations (so a backward can flow into it)."""
    try:
        autograd.get_symbol(x)
        return True
    except MXNetError:                     # raw data, or a frozen stem's output
        return False


class _BlockTape:
    """One recorded run of a memory-efficient block, replayed by :meth:`replay`."""

    def __init__(self, block: nn.Block, x: nd.NDArray, train_mode: bool):
        self.block, self.ctx, self.train_mode = block, x.context, train_mode
        self.x = x                          # the block input, as the caller's graph made it
        self.x_in_graph = _in_graph(x)
        self.x_leaf = _leaf(x)
        # ("recomputed", fn, inputs, leaf) or ("recorded", out, leaf), in forward order
        self.layers: list[tuple] = []
        # The block's parameters whose gradient a backward overwrites (grad_req "write").
        self.written = [p for p in block.collect_params().values() if p.grad_req == "write"]
        self.superseded = False

    def supersede(self) -> None:
        """A later recorded pass of the same block on the same device has begun: keep only
        what tells whether a backward still reaches this one (then it is refused)."""
        self.superseded = True
        self.layers.clear()
        self.written = []

    def recomputed(self, fn: Callable, inputs: Sequence[nd.NDArray]) -> nd.NDArray:
        """Run ``fn(*inputs)`` unrecorded; record it again in :meth:`replay`."""
        with autograd.pause(train_mode=self.train_mode):
            out = fn(*inputs)
        leaf = _leaf(out)
        self.layers.append(("recomputed", fn, list(inputs), leaf))
        return leaf

    def recorded(self, fn: Callable, x: nd.NDArray) -> nd.NDArray:
        """Run ``fn(x)`` recorded once (dropout: its mask must not be drawn again)."""
        with autograd.record(train_mode=self.train_mode):
            out = fn(x)
        leaf = _leaf(out)
        self.layers.append(("recorded", out, leaf))
        return leaf

    def reached(self) -> bool:
        """Whether a backward has filled the gradient of the block's output."""
        return self.x_leaf._fresh_grad

    def forget_written(self) -> list[nd.NDArray]:
        """Before the user's backward: mark the block's parameters' gradients as not yet
        written, so that :meth:`replay` can tell what that backward wrote into them.
        Returns the arrays that were fresh, for :func:`_backward_and_replay` to restore if
        this block is not reached."""
        fresh = []
        for p in self.written:
            d = p.data(self.ctx)
            if d._fresh_grad:
                fresh.append(d)
            d._fresh_grad = False
        return fresh

    def replay(self) -> None:
        """Backpropagate through the block's layers (recomputing them) and into its input.

        The layers' backward passes add into the parameters' gradients: onto what the
        user's backward wrote there itself (a penalty on a weight, say), else onto zero,
        which gives what a single backward with ``grad_req="write"`` gives.
        """
        self.x_leaf._fresh_grad = False
        if _MALLOC_TRIM is not None and TRIM_PER_BLOCK:
            _MALLOC_TRIM(0)
        data = [p.data(self.ctx) for p in self.written]
        grads = [p.grad(self.ctx) for p in self.written]
        for d, g in zip(data, grads, strict=True):
            if not d._fresh_grad:
                g[:] = 0
        if data:
            autograd.mark_variables(data, grads, "add")
        done = False
        try:
            for entry in reversed(self.layers):
                if entry[0] == "recorded":
                    _, out, leaf = entry
                    _ORIGINAL_BACKWARD(out, leaf.grad, train_mode=self.train_mode)
                else:
                    _, fn, inputs, leaf = entry
                    with autograd.record(train_mode=self.train_mode):
                        out = fn(*inputs)
                    _ORIGINAL_BACKWARD(out, leaf.grad, train_mode=self.train_mode)
                    del out
            done = True
        finally:
            self.layers.clear()
            if data:
                autograd.mark_variables(data, grads, "write")
                for d in data:                  # a failed replay leaves them stale
                    d._fresh_grad = done
        if self.x_in_graph:                 # on into whatever made the block's input
            _ORIGINAL_BACKWARD(self.x, self.x_leaf.grad, train_mode=self.train_mode)


def _used_before(tape: _BlockTape) -> bool:
    """Whether one of the block's parameters is also in the graph that made its input: that
    graph is back-propagated last and would overwrite the gradient the replay adds up."""
    upstream = set(autograd.get_symbol(tape.x).list_inputs())
    return any(autograd.get_symbol(p.data(tape.ctx)).name in upstream for p in tape.written)


#: Blocks recorded and not yet replayed, oldest first.
_PENDING: list[_BlockTape] = []


def clear_pending() -> None:
    """Drop every recorded block that no ``backward()`` has reached (after an exception
    between a recorded forward pass and its backward, say)."""
    _PENDING.clear()


def dense_block_forward(block: nn.HybridBlock, x: nd.NDArray) -> nd.NDArray:
    """``block(x)`` under ``autograd.record()``, keeping only the layers' outputs.

    Args:
        block: a :class:`~gluon_densenet.models.DenseBlock`.
        x: its input, ``(N, C, H, W)``.

    Returns:
        ``(N, C + L·k, H, W)``: the concatenated features, recorded from detached copies so
        that the caller's ``backward()`` stops here; the block is replayed after it.
    """
    _install()
    for t in [t for t in _PENDING if t.block is block and t.ctx == x.context]:
        if t.superseded:                     # two passes ago: no backward reached it
            _PENDING.remove(t)
        else:                                # most likely a pass never back-propagated
            t.supersede()
    tape = _BlockTape(block, x, autograd.is_training())
    if tape.x_in_graph and tape.written and _used_before(tape):
        warnings.warn("a parameter of this memory-efficient DenseBlock is also used before the "
                      "block; the block runs its ordinary (storing) forward in this pass",
                      RuntimeWarning, stacklevel=3)
        return nn.HybridBlock.forward(block, x)
    layers = list(block.net)
    if not any(isinstance(c, nn.Dropout) for layer in layers for c in layer):
        # The block's own (hybridized) graph runs fastest in one piece; its output is the
        # concatenation of the features, which are cut out of it again.
        with autograd.pause(train_mode=tape.train_mode):
            whole = nn.HybridBlock.forward(block, tape.x_leaf)
        start = x.shape[1]
        features = [tape.x_leaf]
        for _ in layers:
            f = nd.slice_axis(whole, axis=1, begin=start, end=start + block.growth_rate)
            start += block.growth_rate
            features.append(_leaf(f))
        del whole
    else:
        features = [tape.x_leaf]
    for i, layer in enumerate(layers):
        children = list(layer)
        body = [c for c in children if not isinstance(c, nn.Dropout)]
        dropout = [c for c in children if isinstance(c, nn.Dropout)]

        def whole_layer(*feats, _layer=layer, _body=body):
            h = concat_features(feats)
            if len(_body) == len(_layer):   # no dropout: the layer as one (cached) graph
                return _layer(h)
            for child in _body:
                h = child(h)
            return h

        if len(features) > i + 1:            # computed with the whole block above
            tape.layers.append(("recomputed", whole_layer, features[:i + 1], features[i + 1]))
            continue
        f = tape.recomputed(whole_layer, list(features))
        if dropout:
            f = tape.recorded(dropout[0], f)
        features.append(f)
    with autograd.record(train_mode=tape.train_mode):
        out = concat_features(features)
    _PENDING.append(tape)
    return out


def replay_pending() -> int:
    """Replay every recorded block a backward has reached, last recorded first, until none
    is left; blocks no backward reached stay pending.

    Returns:
        How many blocks were replayed.

    Raises:
        ReplayError: a backward reached a superseded pass, or a graph the replay needed
            was already freed (a tensor the block depends on used elsewhere too); every
            pending block is dropped.
    """
    replayed = 0
    while True:
        tape = next((t for t in reversed(_PENDING) if t.reached()), None)
        if tape is None:
            return replayed
        _PENDING.remove(tape)
        if tape.superseded:
            _PENDING.clear()
            raise ReplayError(
                "a backward() reached a recorded pass through a memory-efficient DenseBlock on "
                f"{tape.ctx} after a later pass of the same block had begun, which is not "
                "supported (its gradients are incomplete): call backward() after each pass "
                "before the next, or build the net without memory_efficient")
        try:
            tape.replay()
        except MXNetError as err:
            _PENDING.clear()
            lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
            cause = next((ln for ln in lines if ln.startswith("MXNetError")),
                         lines[-1] if lines else "MXNetError")
            raise ReplayError(
                "replaying a memory-efficient dense block failed, so its gradients are "
                "incomplete: a tensor the block depends on is also used elsewhere in the graph "
                "(a skip connection or second head around the block, or two memory-efficient "
                f"blocks on one input), which is not supported ({cause[:120]})"
            ) from err
        except BaseException:
            _PENDING.clear()
            raise
        replayed += 1


_ORIGINAL_BACKWARD = nd.NDArray.backward
_ORIGINAL_AUTOGRAD_BACKWARD = autograd.backward


def _backward_and_replay(run: Callable[[], None], retain_graph: bool) -> None:
    """``run()`` (the user's backward) with every pending block it reaches replayed after."""
    if retain_graph:
        raise ReplayError("backward(retain_graph=True) is not supported while memory-efficient "
                          "dense blocks are recorded: build the net without memory_efficient, "
                          "or sum the losses and call backward() once")
    fresh = {id(tape): tape.forget_written() for tape in _PENDING}
    try:
        run()
        replay_pending()
    finally:                                 # blocks this backward did not reach keep theirs
        for tape in _PENDING:
            for d in fresh.get(id(tape), []):
                d._fresh_grad = True


@functools.wraps(_ORIGINAL_BACKWARD)
def _backward(self: nd.NDArray, out_grad: nd.NDArray | None = None,
              retain_graph: bool = False, train_mode: bool = True) -> None:
    if not _PENDING:
        return _ORIGINAL_BACKWARD(self, out_grad, retain_graph, train_mode)
    _backward_and_replay(lambda: _ORIGINAL_BACKWARD(self, out_grad, retain_graph, train_mode),
                         retain_graph)


@functools.wraps(_ORIGINAL_AUTOGRAD_BACKWARD)
def _autograd_backward(heads, head_grads=None, retain_graph: bool = False,
                       train_mode: bool = True) -> None:
    if not _PENDING:
        return _ORIGINAL_AUTOGRAD_BACKWARD(heads, head_grads, retain_graph, train_mode)
    _backward_and_replay(
        lambda: _ORIGINAL_AUTOGRAD_BACKWARD(heads, head_grads, retain_graph, train_mode),
        retain_graph)


def _install() -> None:
    """Make ``NDArray.backward`` and ``autograd.backward`` replay pending blocks."""
    if nd.NDArray.backward is not _backward:
        nd.NDArray.backward = _backward
        autograd.backward = _autograd_backward


def is_memory_efficient(net: nn.Block) -> bool:
    """Whether ``net`` is, or contains, a block built with ``memory_efficient=True``."""
    found = []
    net.apply(lambda b: found.append(bool(getattr(b, "memory_efficient", False))))
    return any(found)
