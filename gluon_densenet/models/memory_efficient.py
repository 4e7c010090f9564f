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
  changes MXNet's functions;
* as Pleiss et al. do, a layer that ends in a convolution (DenseNet-B's and the plain
  layers, without dropout) is recomputed only up to that convolution: its output, which
  the forward kept, is not computed again, and MXNet's own backward operator of the
  convolution (:func:`conv_backward`) takes its gradient. Dropout layers are recomputed
  whole, their masks recorded once.

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
import weakref
from collections.abc import Callable, Sequence

from mxnet import autograd, nd
from mxnet._ctypes.ndarray import _imperative_invoke
from mxnet.base import _LIB, MXNetError, OpHandle, c_str, check_call
from mxnet.gluon import nn

from .concat import concat_channels, concat_features

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


def _leaf(x: nd.NDArray, grad_req: str = "add") -> nd.NDArray:
    """A detached, copy-free view of ``x`` with its own gradient (zeroed, accumulating by
    default)."""
    v = x.detach()
    v.attach_grad(grad_req=grad_req)
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


class _Tape:
    """One recorded run of a memory-efficient block, replayed by :meth:`replay`; subclasses
    say what the forward kept (:meth:`reached`) and how the layers are back-propagated
    (:meth:`_layers_backward`)."""

    def __init__(self, block: nn.Block, x: nd.NDArray, train_mode: bool):
        self.block, self.ctx, self.train_mode = block, x.context, train_mode
        self.x = x                          # the block input, as the caller's graph made it
        self.x_in_graph = _in_graph(x)
        # The block's parameters whose gradient a backward overwrites (grad_req "write").
        self.written = [p for p in block.collect_params().values() if p.grad_req == "write"]
        self.superseded = False

    def supersede(self) -> None:
        """A later recorded pass of the same block on the same device has begun: keep only
        what tells whether a backward still reaches this one (then it is refused)."""
        self.superseded = True
        self.written = []

    def reached(self) -> bool:
        """Whether a backward has filled the gradient of the block's output."""
        raise NotImplementedError

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

    def _layers_backward(self) -> nd.NDArray:
        """Back-propagate through the block's layers; returns the block input's gradient."""
        raise NotImplementedError

    def replay(self) -> None:
        """Backpropagate through the block's layers (recomputing them) and into its input.

        The layers' backward passes add into the parameters' gradients: onto what the
        user's backward wrote there itself (a penalty on a weight, say), else onto zero,
        which gives what a single backward with ``grad_req="write"`` gives.
        """
        if _MALLOC_TRIM is not None and TRIM_PER_BLOCK:
            nd.waitall()            # the blocks replayed so far have freed their buffers
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
            x_grad = self._layers_backward()
            done = True
        finally:
            if data:
                autograd.mark_variables(data, grads, "write")
                for d in data:                  # a failed replay leaves them stale
                    d._fresh_grad = done
        if self.x_in_graph:                 # on into whatever made the block's input
            _ORIGINAL_BACKWARD(self.x, x_grad, train_mode=self.train_mode)


class _BlockTape(_Tape):
    """Any dense block (dropout, convolutions with a bias): each layer is recomputed whole
    and its output's gradient carried by a leaf per feature."""

    def __init__(self, block: nn.Block, x: nd.NDArray, train_mode: bool):
        super().__init__(block, x, train_mode)
        self.x_leaf = _leaf(x)
        # ("recomputed", fn, inputs, leaf) or ("recorded", out, leaf), in forward order
        self.layers: list[tuple] = []

    def supersede(self) -> None:
        super().supersede()
        self.layers.clear()

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
        return self.x_leaf._fresh_grad

    def _layers_backward(self) -> nd.NDArray:
        self.x_leaf._fresh_grad = False
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
        finally:
            self.layers.clear()
        return self.x_leaf.grad


def _op_handle(name: str) -> int:
    handle = OpHandle()
    check_call(_LIB.NNGetOpHandle(c_str(name), ctypes.byref(handle)))
    return handle.value


@functools.cache
def _convolution_backward_op() -> int:
    return _op_handle("_backward_Convolution")


def conv_backward(conv: nn.Conv2D, out_grad: nd.NDArray,
                  data: nd.NDArray) -> tuple[nd.NDArray, nd.NDArray]:
    """The gradients of a bias-free ``conv`` with respect to its input ``data`` and its weight,
    for the gradient ``out_grad`` of its output, without running its forward pass.

    MXNet's own backward operator of ``Convolution`` computes them: the kernel autograd
    runs, so the results equal a recorded forward and ``backward()`` bit for bit. (The
    operator has no Python signature, hence the direct call.)

    Returns:
        ``(data_grad, weight_grad)``, shaped like ``data`` and ``conv.weight``.
    """
    weight = conv.weight.data(data.context)
    grads = [nd.empty(data.shape, ctx=data.context, dtype=data.dtype),
             nd.empty(weight.shape, ctx=data.context, dtype=weight.dtype)]
    kwargs = conv._kwargs
    _imperative_invoke(_convolution_backward_op(), [out_grad, data, weight], list(kwargs),
                       [str(v) for v in kwargs.values()], grads, False, True)
    return grads[0], grads[1]


#: block → (hybridized?, a graph made from it), for :func:`_derived_graph`
_DERIVED_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _derived_graph(block: nn.HybridBlock, make: Callable[[], nn.HybridBlock]) -> nn.HybridBlock:
    """The graph ``make()`` builds from ``block``'s children, built once and rebuilt when
    ``block`` is hybridized or un-hybridized; hybridized (plainly) when ``block`` is."""
    active = bool(block._active)
    cached = _DERIVED_GRAPHS.get(block)
    if cached is None or cached[0] != active:
        graph = make()
        if active:
            graph.hybridize()
        cached = (active, graph)
        _DERIVED_GRAPHS[block] = cached
    return cached[1]


def _conv_tail(layer: nn.HybridSequential) -> nn.Conv2D | None:
    """The bias-free convolution without a fused activation that ends ``layer`` when
    nothing (dropout) follows it."""
    last = layer[len(layer) - 1] if len(layer) > 1 else None
    if isinstance(last, nn.Conv2D) and last._kwargs.get("no_bias") and last.act is None:
        return last
    return None


def _split_layer(layer: nn.HybridSequential) -> tuple[nn.HybridSequential, nn.Conv2D]:
    """``layer`` as (everything before its last convolution, that convolution); the first
    part is one graph, hybridized when the layer is."""
    def make() -> nn.HybridSequential:
        head = nn.HybridSequential(prefix=layer.prefix + "head_")
        head.add(*[layer[j] for j in range(len(layer) - 1)])
        return head
    return _derived_graph(layer, make), layer[len(layer) - 1]


class _BlockFeatures(nn.HybridBlock):
    """A dense block's layers as one graph that returns each layer's output apart:
    ``(N, C, H, W) → L × (N, k, H, W)``; the same operations as the block's own graph."""

    def __init__(self, block: nn.HybridBlock):
        super().__init__(prefix=block.prefix + "features_")
        self.block_concat_ok = block._blocked_concat_ok
        self.layers = nn.HybridSequential(prefix="")
        self.layers.add(*block.net)

    def hybrid_forward(self, F, x):
        features = []
        for i, layer in enumerate(self.layers):
            features.append(layer(x))
            if i < len(self.layers) - 1:
                x = concat_channels(F, x, features[-1], self.block_concat_ok)
        return tuple(features) if len(features) > 1 else features[0]


def _features_graph(block: nn.HybridBlock) -> Callable[[nd.NDArray], list[nd.NDArray]]:
    """The cached :class:`_BlockFeatures` of ``block``, hybridized when the block is."""
    graph = _derived_graph(block, lambda: _BlockFeatures(block))
    return lambda x: list(graph(x)) if len(block.net) > 1 else [graph(x)]


class _ConvTailTape(_Tape):
    """A dense block whose layers end in a bias-free convolution (DenseNet-B's and the plain
    BN → ReLU → 3×3 conv layers, no dropout): Pleiss et al.'s case.

    The forward keeps the block input and each layer's output (``pieces``); the recorded
    concatenation of them hands each its gradient in the caller's backward. The replay
    recomputes each layer, last first, only up to its last convolution (concatenation, BN,
    ReLU, and a bottleneck's 1×1 conv, BN, ReLU), runs that convolution's backward operator
    directly on the layer output's gradient (:func:`conv_backward`: no forward pass), and
    back-propagates the rest, whose concatenation adds each earlier piece's share to its
    gradient, as the standard graph's does.
    """

    def __init__(self, block: nn.Block, x: nd.NDArray, train_mode: bool):
        super().__init__(block, x, train_mode)
        self.pieces: list[nd.NDArray] = []

    def supersede(self) -> None:
        super().supersede()
        del self.pieces[1:]                  # the input's leaf tells whether it was reached

    def reached(self) -> bool:
        return self.pieces[0]._fresh_grad

    def _layers_backward(self) -> nd.NDArray:
        pieces = self.pieces
        pieces[0]._fresh_grad = False
        for i in reversed(range(len(self.block.net))):
            head, conv = _split_layer(self.block.net[i])
            with autograd.record(train_mode=self.train_mode):
                h = head(concat_features(pieces[:i + 1]))
            h_grad, w_grad = conv_backward(conv, pieces.pop().grad, h)
            if conv.weight.grad_req != "null":
                w = conv.weight.grad(self.ctx)
                w += w_grad
            del w_grad
            _ORIGINAL_BACKWARD(h, h_grad, train_mode=self.train_mode)
            del h, h_grad
        return pieces.pop().grad


def _used_before(tape: _Tape) -> bool:
    """Whether one of the block's parameters is also in the graph that made its input: that
    graph is back-propagated last and would overwrite the gradient the replay adds up."""
    upstream = set(autograd.get_symbol(tape.x).list_inputs())
    return any(autograd.get_symbol(p.data(tape.ctx)).name in upstream for p in tape.written)


#: Blocks recorded and not yet replayed, oldest first.
_PENDING: list[_Tape] = []


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
    layers = list(block.net)
    train_mode = autograd.is_training()
    fast = all(_conv_tail(layer) is not None for layer in layers)
    tape = _ConvTailTape(block, x, train_mode) if fast else _BlockTape(block, x, train_mode)
    if tape.x_in_graph and tape.written and _used_before(tape):
        warnings.warn("a parameter of this memory-efficient DenseBlock is also used before the "
                      "block; the block runs its ordinary (storing) forward in this pass",
                      RuntimeWarning, stacklevel=3)
        return nn.HybridBlock.forward(block, x)
    if fast:
        # The block in one (hybridized) graph, unrecorded, giving the layers' outputs apart;
        # their concatenation is recorded, so that the caller's backward stops there.
        with autograd.pause(train_mode=train_mode):
            features = _features_graph(block)(x)
        tape.pieces = [_leaf(x)] + [_leaf(f) for f in features]
        del features
        with autograd.record(train_mode=train_mode):
            out = concat_features(tape.pieces)
        _PENDING.append(tape)
        return out
    features = [tape.x_leaf]
    for layer in layers:
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
