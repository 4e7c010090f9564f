"""Per-iteration learning-rate schedules on MXNet's own schedulers."""
from __future__ import annotations

import mxnet as mx

__all__ = ["LR_SCHEDULES", "make_lr_scheduler"]

LR_SCHEDULES = ("cosine", "step", "constant")

def make_lr_scheduler(
    schedule: str,
    base_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    warmup_begin_lr: float = 0.0,
) -> mx.lr_scheduler.LRScheduler:
    """A per-iteration MXNet learning-rate scheduler.

    - ``"cosine"``: cosine decay from ``base_lr`` to 0 over ``total_steps``.
    - ``"step"``: multiply by 0.1 after 50% and after 75% of ``total_steps``.
    - ``"constant"``: ``base_lr`` throughout.

    All may start with a linear warmup of ``warmup_steps`` updates from
    ``warmup_begin_lr``.
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}")
    total_steps = max(int(total_steps), 1)
    warmup_steps = min(max(int(warmup_steps), 0), total_steps - 1)
    common = dict(base_lr=base_lr, warmup_steps=warmup_steps, warmup_begin_lr=warmup_begin_lr)
    if schedule == "cosine":
        return mx.lr_scheduler.CosineScheduler(max_update=total_steps, final_lr=0.0, **common)
    if schedule == "step":
        steps = sorted({int(total_steps * f) for f in (0.5, 0.75)} - {0})
        if steps:
            return mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=0.1, **common)
    # MXNet's own classes only: dist_async pickles the scheduler to the servers, which can
    # unpickle nothing else (they run inside `import mxnet`). A factor of 1 never decays.
    return mx.lr_scheduler.FactorScheduler(step=total_steps + 1, factor=1.0, **common)
