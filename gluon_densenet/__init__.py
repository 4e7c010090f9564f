"""gluon-densenet: DenseNet in MXNet Gluon, built up chapter by chapter.

>>> from gluon_densenet import densenet121
>>> net = densenet121(classes=10, in_channels=1)
"""
from ._environment import check_environment

check_environment()

from .blocks import DenseBlock, bottleneck_layer, conv_block, transition_block  # noqa: E402
from .densenet import (DENSENET_SPECS, MODELS, DenseNet, DenseNetSpec, densenet,  # noqa: E402
                       densenet21_d2l, densenet63_classic, densenet121, densenet161,
                       densenet169, densenet201, densenet264, densenet_bc, get_model)
from .devices import (describe_devices, gpu_memory_info, num_gpus, try_all_gpus,  # noqa: E402
                      try_gpu)
from .summary import (count_parameters, count_weighted_layers, format_summary,  # noqa: E402
                      summary)

__version__ = "0.1.0"
