"""The benchmark scripts, run as modules from the repository root.

    python -m benchmarks.run            # speed and memory vs the model zoo and torchvision
    python -m benchmarks.tuning         # hybridization modes and MXNet environment settings
    python -m benchmarks.profile_ops    # where a training step spends its time

Nothing is imported here: a torch worker of :mod:`benchmarks.run` must not load MXNet.
"""
