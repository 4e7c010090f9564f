"""Training on several machines with MXNet's distributed kvstore (a parameter server).

- :mod:`.kvstore`: the kvstore names ``train`` accepts, creating one inside a job, a
  worker's rank, and sums across workers;
- :mod:`.launcher`: ``gluon-densenet launch``, a job of scheduler, servers and workers as
  processes on this machine (127.0.0.1), watched so that one failure stops them all.

For real clusters MXNet's own ``tools/launch.py`` starts the same processes over ssh or mpi
(README, "Training on several machines").
"""
from .kvstore import (
    DIST_ENV,
    KVSTORE_TYPES,
    Collective,
    Workers,
    check_kvstore,
    create_kvstore,
    is_distributed,
    leave_without_barrier,
    workers_of,
)

__all__ = ["DIST_ENV", "KVSTORE_TYPES", "Collective", "Workers", "check_kvstore",
           "create_kvstore", "is_distributed", "leave_without_barrier", "workers_of"]
