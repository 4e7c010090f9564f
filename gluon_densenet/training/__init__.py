"""Training: the loop, one step, learning-rate schedules, checkpoints, metrics, speed settings
and the memory-efficient (recomputing) step.

- :mod:`.loop`: ``train``, ``evaluate``, ``predict``;
- :mod:`.step`: ``train_step``, ``compute_gradients`` (the one training step everyone uses);
- :mod:`.history`: ``History``, ``EpochRecord``;
- :mod:`.schedules`: ``make_lr_scheduler``;
- :mod:`.checkpoint`: crash-safe ``save_checkpoint`` / ``load_checkpoint``;
- :mod:`.run_lock`: one run per directory (``run_directory_lock``, ``RunDirectoryInUse``);
- :mod:`.metrics`: ``accuracy``, ``confusion_matrix``;
- :mod:`.performance`: ``fast_hybridize``, ``optimized_inference``;
- :mod:`.memory_efficient`: training nets built with ``memory_efficient=True`` (the ordinary
  loop; ``forward_backward`` is a shortcut for it).
"""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .history import EpochRecord, History
from .loop import TrainingDivergedError, evaluate, predict, train
from .memory_efficient import forward_backward, is_memory_efficient
from .metrics import accuracy, confusion_matrix
from .performance import fast_hybridize, optimized_inference
from .run_lock import RunDirectoryInUse, run_directory_lock
from .schedules import LR_SCHEDULES, make_lr_scheduler
from .step import compute_gradients, train_step

__all__ = ["CheckpointError", "EpochRecord", "History", "LR_SCHEDULES", "RunDirectoryInUse",
           "TrainingDivergedError", "accuracy", "compute_gradients", "confusion_matrix",
           "evaluate", "fast_hybridize", "forward_backward", "is_memory_efficient",
           "load_checkpoint", "make_lr_scheduler", "optimized_inference", "predict",
           "run_directory_lock", "save_checkpoint", "train", "train_step"]
