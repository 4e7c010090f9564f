"""Training on several machines with MXNet's distributed kvstore (a parameter server).

- :mod:`.kvstore`: the kvstore names ``train`` accepts, creating one inside a job, a
  worker's rank, and sums across workers;
- :mod:`.training`: what the training loop does differently in a job
  (``DistributedTraining``: shards, gradient sums, shared figures; ``BatchShard``);
- :mod:`.launcher`: ``gluon-densenet launch``, a job of scheduler, servers and workers as
  processes on this machine (127.0.0.1), watched so that one failure stops them all.

For real clusters MXNet's own ``tools/launch.py`` starts the same processes over ssh or mpi
(README, "Training on several machines").
"""
from . import kvstore
from .kvstore import *  # noqa: F403  (the face of the store: kvstore.__all__, listed once)
from .training import BatchShard, DistributedTraining

__all__ = ["BatchShard", "DistributedTraining", *kvstore.__all__]
