"""Memory-efficient training of DenseNets (Pleiss et al., 2017) for MXNet 1.9 Gluon.

A standard dense layer keeps, for backward, the concatenation of all earlier features and
its BN and ReLU outputs — each as wide as everything seen so far, so activation memory grows
quadratically with the layers of a block. :func:`forward_backward` is a training step that
keeps, per dense layer, only its narrow output (``k`` channels) and recomputes the whole
layer

    concat(features) → BN → ReLU → 1×1 conv → BN → ReLU → 3×3 conv   (bottleneck layer)
    concat(features) → BN → ReLU → 3×3 conv                          (plain layer)

during backward (dropout, being random, is recorded once and never recomputed). Recomputing
the bottleneck half as well, not only the concat → BN → ReLU → 1×1 conv that Pleiss et al.
and torchvision recompute, also drops its ``bn_size·k``-channel intermediates: stored
activations become linear in depth with a small constant. It replaces the
``autograd.record(); loss.backward()`` part of a step::

    net = densenet121(classes=10, memory_efficient=True)
    ...
    loss = forward_backward(net, X, y, loss_fn)   # forward and backward, returns the loss
    trainer.step(X.shape[0])

How: the network is run as a chain of *segments*, each recorded (or, for the dense layers,
run unrecorded and recorded again in backward) as its own small autograd graph whose inputs
are detached leaves. Backward visits the segments last to first, each with an ordinary
top-level ``backward()``, feeding it the gradient its outputs accumulated from later
segments. There is no nested autograd (a backward inside an ``autograd.Function``'s
backward gave wrong gradients on stacked dense layers in MXNet 1.9) and no custom operator
(a custom operator running oneDNN executors raced with the threaded engine here and gave
nondeterministic gradients). Outputs, gradients of every parameter and BatchNorm running
statistics equal the standard step's. Freed buffers are handed back to the OS as the step goes
(:data:`TRIM_EVERY`), or heap fragmentation would eat most of the saving. Only dense
blocks built with ``memory_efficient=True`` are recomputed; the net's ordinary ``net(X)``
is unchanged (inference needs nothing stored).

BatchNorm running statistics: MXNet's BatchNorm updates them in its *backward*, not its
forward. The unrecorded forward of a layer therefore leaves them alone, and the one
recorded recomputation + backward updates them exactly once, as in the standard step.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Sequence

from mxnet import autograd, nd
from mxnet.gluon import nn

from ..models.blocks import ONEDNN_CHANNEL_BLOCK, DenseBlock

__all__ = ["forward_backward", "forward_segments", "is_memory_efficient"]


#: Every this many recomputed layers, hand the heap pages freed so far back to the OS.
#: Recomputation frees and re-allocates many differently sized buffers; without this,
#: glibc's heap fragments and much of the saving never shows in the resident memory.
#: Measured at 224 px, batch 16 (DenseNet-121, 2-core CPU): peak RSS 2.5 GB standard,
#: 1.6–1.8 GB recomputing without trimming, 1.5 GB trimming every 4 layers. Trimming does
#: not wait for the engine (waiting cost +50% time for little more saving). 0 turns it off.
TRIM_EVERY = 4


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim            # glibc only; absent on macOS/musl
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _load_malloc_trim()


def is_memory_efficient(net: nn.Block) -> bool:
    """Whether ``net`` contains a :class:`DenseBlock` built with ``memory_efficient=True``."""
    found = []
    net.apply(lambda b: found.append(isinstance(b, DenseBlock) and b.memory_efficient))
    return any(found)


def _leaf(x: nd.NDArray, grad_req: str = "add") -> nd.NDArray:
    """A detached copy-free view of ``x`` with its own gradient buffer."""
    v = x.detach()
    v.attach_grad(grad_req=grad_req)
    return v


class _Tape:
    """The segments of one forward pass, replayed last to first by :meth:`backward`."""

    def __init__(self, trim_every: int | None = None):
        self._entries: list[tuple] = []
        self._trim_every = TRIM_EVERY if trim_every is None else trim_every
        self._recomputed = 0

    def _maybe_trim(self) -> None:
        self._recomputed += 1
        if _MALLOC_TRIM is not None and self._trim_every and \
                self._recomputed % self._trim_every == 0:
            _MALLOC_TRIM(0)

    def recorded(self, fn: Callable, inputs: Sequence[nd.NDArray], needs_grad: bool = True,
                 leaf_req: str = "add", differentiable: bool = True) -> nd.NDArray:
        """Run ``fn(*inputs)`` recorded; return its output as a fresh leaf.
        ``differentiable=False``: nothing in the segment takes a gradient (frozen layers on
        the input batch), so backward skips it."""
        with autograd.record():
            out = fn(*inputs)
        if not needs_grad:             # the last segment: its output is the loss
            self._entries.append(("recorded", out, None))
            return out
        leaf = _leaf(out, leaf_req)
        self._entries.append(("recorded", out, leaf) if differentiable else ("skipped",))
        return leaf

    def recomputed(self, fn: Callable, inputs: Sequence[nd.NDArray]) -> nd.NDArray:
        """Run ``fn(*inputs)`` unrecorded (training mode); record it again in backward."""
        with autograd.pause(train_mode=True):
            out = fn(*inputs)
        leaf = _leaf(out, "add")
        self._entries.append(("recomputed", fn, inputs, leaf))
        self._maybe_trim()
        return leaf

    def backward(self) -> None:
        for entry in reversed(self._entries):
            if entry[0] == "skipped":
                continue
            if entry[0] == "recorded":
                _, out, leaf = entry
                if leaf is None:
                    out.backward()
                else:
                    out.backward(leaf.grad)
            else:
                _, fn, inputs, leaf = entry
                with autograd.record():
                    out = fn(*inputs)
                out.backward(leaf.grad)
                del out
                self._maybe_trim()
        self._entries.clear()


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
    return all(f.shape[1] % ONEDNN_CHANNEL_BLOCK == 0 for f in features)


def _dense_block(tape: _Tape, block: DenseBlock, x: nd.NDArray) -> nd.NDArray:
    features = [x]
    for layer in block.net:
        children = list(layer)
        # Dropout draws a random mask: it is recorded once, never recomputed.
        body = [c for c in children if not isinstance(c, nn.Dropout)]
        dropout = [c for c in children if isinstance(c, nn.Dropout)]
        blocked = _blocked_ok(features)

        def whole_layer(*feats, _layer=layer, _body=body, _blocked=blocked):
            h = _concat(feats, _blocked)
            if len(_body) == len(_layer):  # no dropout: the layer as one (cached) graph
                return _layer(h)
            for child in _body:
                h = child(h)
            return h

        f = tape.recomputed(whole_layer, list(features))
        if dropout:
            f = tape.recorded(dropout[0], [f])
        features.append(f)
    blocked = _blocked_ok(features)
    return tape.recorded(lambda *feats: _concat(feats, blocked), features)


def forward_segments(net: nn.Block, X: nd.NDArray, tail: Callable | None = None,
                     tape: _Tape | None = None):
    """Run ``net`` (a :class:`~gluon_densenet.models.densenet.DenseNet`) segment by segment on
    ``X``, recording on ``tape``; ``tail(out)`` (e.g. the loss) is part of the last
    segment. Returns the last segment's output (recorded, not a leaf)."""
    tape = tape if tape is not None else _Tape()
    x = X
    pending: list[nn.Block] = []     # consecutive ordinary layers, run as one segment

    def flush(x, last=False):
        layers = list(pending)
        pending.clear()
        if not layers and not last:
            return x

        def run(x, _layers=layers):
            for layer in _layers:
                x = layer(x)
            if last:
                x = net.output(x)
                if tail is not None:
                    x = tail(x)
            return x
        trainable = x.grad is not None or any(
            p.grad_req != "null" for layer in layers for p in layer.collect_params().values())
        return tape.recorded(run, [x], needs_grad=not last, differentiable=trainable or last)

    for child in net.features:
        if isinstance(child, DenseBlock) and child.memory_efficient:
            x = flush(x)
            x = _dense_block(tape, child, x)
        else:
            pending.append(child)
    return flush(x, last=True), tape


def forward_backward(net: nn.Block, X: nd.NDArray, y: nd.NDArray, loss_fn: Callable,
                     return_output: bool = False):
    """Memory-efficient forward and backward of ``loss_fn(net(X), y)``.

    Leaves every parameter's gradient as ``with autograd.record(): loss = loss_fn(net(X),
    y)`` followed by ``loss.backward()`` would (and BatchNorm running statistics updated
    once); returns the per-sample loss, or ``(loss, net(X))`` with ``return_output``.
    Call ``trainer.step(batch_size)`` afterwards. Dense blocks without
    ``memory_efficient=True`` run as ordinary recorded segments.
    """
    if hasattr(net, "check_input_shape"):
        net.check_input_shape(X.shape)
    outputs = []

    def tail(out):
        outputs.append(out)
        return loss_fn(out, y)

    loss, tape = forward_segments(net, X, tail=tail)
    tape.backward()
    if return_output:
        return loss.detach(), outputs[0].detach()
    return loss.detach()
