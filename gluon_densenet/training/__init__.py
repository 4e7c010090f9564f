"""Training: the loop, one step, learning-rate schedules, checkpoints, metrics and
hybridize presets.

- :mod:`.loop`: ``train`` (the loop only);
- :mod:`.evaluation`: ``evaluate``, ``predict``;
- :mod:`.checks`: the checks of ``train``'s arguments (shared with the CLI);
- :mod:`.progress`: the per-epoch progress bar (live in terminals, sparse in logs);
- :mod:`.step`: ``train_step``, ``compute_gradients`` (the one training step everyone uses);
- :mod:`.history`: ``History``, ``EpochRecord``;
- :mod:`.schedules`: ``make_lr_scheduler``;
- :mod:`.checkpoint`: crash-safe ``save_checkpoint`` / ``load_checkpoint``;
- :mod:`.run_lock`: one run per directory (``run_directory_lock``, ``RunDirectoryInUse``);
- :mod:`.metrics`: ``confusion_matrix``;
- :mod:`.losses`: ``LabelSmoothingLoss``;
- :mod:`.hybridize`: ``fast_hybridize``, ``optimized_inference`` (hybridize presets).

Nets built with ``memory_efficient=True`` train in this same loop
(:mod:`gluon_densenet.models.memory_efficient`).
"""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .evaluation import evaluate, predict
from .history import EpochRecord, History
from .hybridize import fast_hybridize, optimized_inference
from .loop import TrainingDivergedError, train
from .losses import LabelSmoothingLoss
from .metrics import confusion_matrix
from .run_lock import RunDirectoryInUse, run_directory_lock
from .schedules import LR_SCHEDULES, make_lr_scheduler
from .step import compute_gradients, train_step

__all__ = ["CheckpointError", "EpochRecord", "History", "LR_SCHEDULES", "LabelSmoothingLoss",
           "RunDirectoryInUse",
           "TrainingDivergedError", "compute_gradients", "confusion_matrix", "evaluate",
           "fast_hybridize", "load_checkpoint", "make_lr_scheduler", "optimized_inference",
           "predict", "run_directory_lock", "save_checkpoint", "train", "train_step"]
