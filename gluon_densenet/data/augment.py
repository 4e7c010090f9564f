"""Training-time augmentation of whole batches of in-memory images.

:class:`CropFlip` is the random crop with zero padding and the horizontal flip of the
CIFAR recipe (He et al., 2016, §4.2), applied to a batch at once in NumPy: Gluon's
``transforms`` work one image at a time, and :class:`~.loader.ArrayLoader` gathers whole
batches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import is_int

__all__ = ["CropFlip"]


@dataclass(frozen=True)
class CropFlip:
    """Shift each image by up to ``pad`` px in each direction (the border filled with 0)
    and mirror it left-right with probability ½ when ``flip``.

    Args:
        pad: the largest shift in px (an integer >= 0); 0 for no crop.
        flip: mirror half the images, chosen at random.

    Raises:
        ValueError: ``pad`` is not an integer >= 0.
    """

    pad: int = 2
    flip: bool = True

    def __post_init__(self) -> None:
        if not is_int(self.pad) or self.pad < 0:
            raise ValueError(f"pad must be an integer >= 0 (px), got {self.pad!r}")

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(B, H, W) → (B, H, W)``, a new array; ``rng`` draws the shifts and flips."""
        b, h, w = images.shape
        p = int(self.pad)
        if p:
            padded = np.pad(images, ((0, 0), (p, p), (p, p)))
            rows = rng.integers(0, 2 * p + 1, size=b)[:, None] + np.arange(h)
            cols = rng.integers(0, 2 * p + 1, size=b)[:, None] + np.arange(w)
            out = padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]
        else:
            out = images.copy()
        if self.flip:
            mirrored = rng.random(b) < 0.5
            out[mirrored] = out[mirrored, :, ::-1]
        return out
