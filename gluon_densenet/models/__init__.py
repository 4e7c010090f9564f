"""What a DenseNet is made of: blocks, the configurable family, models by name, and counting.
Random weights only; pretrained weights come from :mod:`gluon_densenet.pretrained`.

- :mod:`.blocks`: ``conv_block``, ``bottleneck_layer``, ``DenseBlock``, ``transition_block``;
- :mod:`.densenet`: the ``DenseNet`` class, the paper's spec table and the factories;
- :mod:`.registry`: ``get_model(name)`` over the family and the model zoo's ResNets;
- :mod:`.summary`: parameters, weighted layers, a layer-by-layer table, hybridization state;
- :mod:`.params`: parameters by structural name, and whether they are initialised.
"""
from .blocks import DenseBlock, bottleneck_layer, conv_block, transition_block
from .concat import concat_channels
from .densenet import (
    DENSENET_SPECS,
    DenseNet,
    DenseNetSpec,
    densenet,
    densenet21_d2l,
    densenet63_classic,
    densenet121,
    densenet161,
    densenet169,
    densenet201,
    densenet264,
    densenet_bc,
    densenet_tiny,
)
from .memory_efficient import ReplayError, is_memory_efficient
from .registry import MODELS, REFERENCE_MODELS, get_model, model_names
from .summary import count_parameters, count_weighted_layers, format_summary, summary

__all__ = ["DENSENET_SPECS", "MODELS", "REFERENCE_MODELS", "DenseBlock", "DenseNet",
           "DenseNetSpec", "ReplayError", "bottleneck_layer", "concat_channels", "conv_block",
           "count_parameters", "count_weighted_layers", "densenet", "densenet21_d2l",
           "densenet63_classic", "densenet121", "densenet161", "densenet169", "densenet201",
           "densenet264", "densenet_bc", "densenet_tiny", "format_summary", "get_model",
           "is_memory_efficient", "model_names", "summary", "transition_block"]
