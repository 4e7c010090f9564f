"""What every test process starts with, before MXNet is loaded."""
import os

# Imported first, so that MXNet uses one thread per core (gluon_densenet.runtime.cpu_threads).
from gluon_densenet.runtime.cpu_threads import SHARED_MACHINE_SPINCOUNT, SPIN_VARIABLES

# The suite must hold on a machine whose cores other jobs use: with libgomp's long spin,
# waiting OpenMP threads there take the CPU from the one they wait for, and training steps
# ran several times slower than their share (benchmarks/contention.py). Notebook kernels and
# the tests' subprocesses inherit the setting; it changes no result, only how threads wait.
if not any(name in os.environ for name in SPIN_VARIABLES):
    os.environ["GOMP_SPINCOUNT"] = SHARED_MACHINE_SPINCOUNT
