"""gluon-densenet: DenseNet in MXNet Gluon, built up chapter by chapter.

>>> from gluon_densenet import densenet121
>>> net = densenet121(classes=10, in_channels=1)

The package is laid out by architecture (docs/architecture.md has each part and what it
may import):

- what a user installs: :mod:`.models` (the layers, the DenseNet family, memory-efficient
  blocks, counting), :mod:`.pretrained` (weights in from MXNet's model zoo and torchvision,
  fine-tuning), :mod:`.data` (Fashion-MNIST), :mod:`.training` (``train`` and its parts),
  :mod:`.distributed` (several processes on MXNet's kvstore), :mod:`.runtime` (devices,
  threads, GPU verdicts), :mod:`.plots` and the ``gluon-densenet`` command (:mod:`.cli`);
- :mod:`.analysis`: what answers the chapters' questions (memory, parameters per stage,
  time budgets, statistics over seeds);
- :mod:`.chapters`: smoke mode and the chapters' result files.
"""
import importlib

from .runtime.cpu_threads import set_default_threads
from .runtime.environment import check_environment

check_environment()
set_default_threads()     # before MXNet is imported: one operator thread per physical core

__version__ = "0.1.0"

#: The public API, name → subpackage. Resolved on first use (PEP 562) so that a light module
#: such as ``gluon_densenet.analysis.measure`` can be imported without loading MXNet.
_EXPORTS = {
    **dict.fromkeys(["DENSENET_SPECS", "MODELS", "DenseBlock", "DenseNet", "DenseNetSpec",
                     "bottleneck_layer", "conv_block", "count_parameters",
                     "count_weighted_layers", "densenet21_d2l", "densenet63_classic",
                     "densenet264", "densenet_bc", "densenet_tiny", "format_summary",
                     "get_model", "summary", "transition_block"], "models"),
    **dict.fromkeys(["describe_devices", "gpu_memory_info", "gpu_status", "num_gpus",
                     "try_all_gpus", "try_gpu"], "runtime.devices"),
    **dict.fromkeys(["History", "evaluate", "predict", "train"], "training"),
    **dict.fromkeys(["CLASS_NAMES", "load_data"], "data"),
    # the pretrained-aware factories: densenet121(pretrained=True) as well as random weights
    **dict.fromkeys(["densenet", "densenet121", "densenet161", "densenet169", "densenet201",
                     "freeze_features", "from_model_zoo", "from_torchvision",
                     "replace_classifier", "set_features_lr_mult", "unfreeze_features"],
                    "pretrained"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gluon_densenet' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
