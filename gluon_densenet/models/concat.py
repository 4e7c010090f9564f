"""Channel concatenation that MXNet 1.9's oneDNN backend can differentiate.

oneDNN stores CPU activations in channel blocks of 16; MXNet 1.9's ``Concat`` backward on
such tensors fails ("could not construct a sub-memory") when a piece starts at a channel
offset that is not a multiple of the block. Pieces viewed as 3-D ``(N, C, H·W)`` arrays are
never channel-blocked, so they concatenate safely at any width.
"""
from __future__ import annotations

from collections.abc import Sequence

from mxnet import nd

__all__ = ["ONEDNN_CHANNEL_BLOCK", "blocked_ok", "concat_channels", "concat_features"]

#: oneDNN's channel block on CPUs.
ONEDNN_CHANNEL_BLOCK = 16


def blocked_ok(*channels: int) -> bool:
    """Whether pieces of these channel counts can be concatenated straight (all multiples
    of :data:`ONEDNN_CHANNEL_BLOCK`)."""
    return all(c > 0 and c % ONEDNN_CHANNEL_BLOCK == 0 for c in channels)


def concat_channels(F, x, y, blocked_ok: bool = True):
    """Concatenate ``(N, C1, H, W)`` and ``(N, C2, H, W)`` into ``(N, C1 + C2, H, W)``.

    ``F`` is ``mx.nd`` or ``mx.sym``. With ``blocked_ok=False`` the two are concatenated as
    3-D views (DenseNet-BC's k = 12, for instance).
    """
    if blocked_ok:
        return F.concat(x, y, dim=1)
    z = F.concat(F.reshape(x, shape=(0, 0, -1)), F.reshape(y, shape=(0, 0, -1)), dim=1)
    return F.reshape_like(z, x, lhs_begin=2, lhs_end=3, rhs_begin=2, rhs_end=4)


def concat_features(features: Sequence[nd.NDArray]) -> nd.NDArray:
    """Concatenate NDArray feature maps ``(N, C_i, H, W)`` along channels in one operation,
    straight when :func:`blocked_ok` allows, else through 3-D views."""
    if len(features) == 1:
        return features[0]
    if blocked_ok(*(f.shape[1] for f in features)):
        return nd.concat(*features, dim=1)
    n, _, h, w = features[0].shape
    z = nd.concat(*[f.reshape((0, 0, -1)) for f in features], dim=1)
    return z.reshape((n, -1, h, w))
