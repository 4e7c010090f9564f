"""Memory-efficient dense blocks (Pleiss et al., 2017, "Memory-Efficient Implementation of
DenseNets"): what a :class:`~gluon_densenet.models.DenseBlock` built with
``memory_efficient=True`` runs under ``autograd.record()``.

A standard dense layer keeps, for backward, the concatenation of every earlier feature map
and its BN and ReLU outputs (each as wide as everything seen so far) and its bottleneck's
``bn_size·k``-channel intermediates: stored activations grow quadratically with the layers
of a block. Here a block keeps only its input and each layer's *k*-channel output. Each layer,

    concat(features) → BN → ReLU → 1×1 conv → BN → ReLU → 3×3 conv   (bottleneck layer)
    concat(features) → BN → ReLU → 3×3 conv                          (plain layer)

runs unrecorded in forward and is recorded again, just before its gradient is needed, in
backward (dropout, being random, is recorded once and never recomputed). The user's loop is
the ordinary one::

    with autograd.record():
        loss = loss_fn(net(X), y)
    loss.backward()
    trainer.step(batch_size)

How, in MXNet 1.9, without nested autograd (a ``backward()`` inside an
``autograd.Function``'s backward gave wrong gradients on stacked layers, and executors run
from one hang the engine):

* Under recording, the block's output is an ordinary recorded concatenation of *detached*
  copies of its features (leaves with their own gradient buffers). The user's
  ``backward()`` therefore stops at the block and fills those buffers.
* :mod:`gluon_densenet` wraps ``NDArray.backward`` (and ``autograd.backward``): when the
  user's backward returns, every block whose output it reached is *replayed*, last block
  first. Each layer, last first, is recorded again and back-propagated with a top-level
  ``backward()``; finally the block's input gets its gradient, which carries the backward on
  into the layers before the block (and so on to the next block to replay).
* BatchNorm running statistics: MXNet updates them in BatchNorm's *backward*; the unrecorded
  forward runs none, so they are updated once per step, as in the standard step.
* Freed buffers are handed back to the OS before each block's replay
  (:data:`TRIM_PER_BLOCK`), or heap fragmentation would eat much of the saving.

Outputs, every parameter's gradient and BatchNorm's running statistics equal the standard
step's, bit for bit on the tested nets, on CPU (oneDNN), also with several devices, a frozen
stem, dropout and a penalty on a layer's weight (``tests/test_memory_efficient.py``); the
GPU path is untested here. Not supported, each refused with :class:`ReplayError` rather
than computed wrongly: a backward reaching two recorded passes through one block on one
device (two views of one batch, say), ``backward(retain_graph=True)``, and a tensor the
block depends on that is also used elsewhere in the graph (a skip connection or second
head around the block). A recorded pass that no ``backward()`` reaches is dropped at the
block's next one; a block whose parameters are also used before it runs its ordinary
forward, with a warning. ``autograd.grad()`` bypasses the replay. A parent block
hybridized as a whole runs a DenseBlock inside its own cached graph, which stores everything:
:class:`~gluon_densenet.models.DenseNet` therefore runs its children one by one under
``record()``, and a net of your own should hybridize its children, not itself.
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

__all__ = ["TRIM_PER_BLOCK", "ReplayError", "clear_pending", "dense_block_forward",
           "replay_pending"]

#: Hand the heap pages freed so far back to the OS before replaying each block.
#: Recomputation frees and re-allocates many differently sized buffers; without this,
#: glibc's heap fragments and much of the saving never shows in the resident memory
#: (DenseNet-121, 224 px, batch 16, 2-core CPU, one process each: peak RSS 1,544 MiB
#: untrimmed, 1,352 and 1,402 MiB trimmed per block, at about the same time per step;
#: trimming every 4 layers cost 10-15% more time for no more saving). False turns it off.
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


def _concat(features: Sequence[nd.NDArray], blocked_ok: bool) -> nd.NDArray:
    """Channel-concatenate like :func:`gluon_densenet.models.blocks.concat_channels`: straight
    when every piece is a multiple of oneDNN's 16-channel block, else through 3-D views."""
    if len(features) == 1:
        return features[0]
    if blocked_ok:
        return nd.concat(*features, dim=1)
    n, _, h, w = features[0].shape
    z = nd.concat(*[f.reshape((0, 0, -1)) for f in features], dim=1)
    return z.reshape((n, -1, h, w))


def _blocked_ok(features: Sequence[nd.NDArray]) -> bool:
    from .blocks import ONEDNN_CHANNEL_BLOCK
    return all(f.shape[1] % ONEDNN_CHANNEL_BLOCK == 0 for f in features)


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
        blocked = _blocked_ok(features[:i + 1])

        def whole_layer(*feats, _layer=layer, _body=body, _blocked=blocked):
            h = _concat(feats, _blocked)
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
    blocked = _blocked_ok(features)
    with autograd.record(train_mode=tape.train_mode):
        out = _concat(features, blocked)
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
