"""The machine the code runs on, checked and set before MXNet is imported.

- :mod:`.environment`: Python, numpy and MXNet versions, checked at import with the fix;
- :mod:`.cpu_threads`: MXNet's operator threads (one per physical core by default);
- :mod:`.gpus`: which NVIDIA GPUs the ``mxnet-cu112`` wheel can run on (standard library only);
- :mod:`.devices`: ``try_gpu``, ``try_all_gpus``, ``gpu_status``, ``describe_devices``.

Nothing is imported here, so that :mod:`.environment` and :mod:`.cpu_threads` run before
MXNet is loaded.
"""
