# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. The 121-layer DenseNet
#
# Chapter 1 built dense blocks and transition layers. This chapter adds the two
# refinements that Huang et al. (2017, *Densely Connected Convolutional Networks*) use
# for their ImageNet models, the **bottleneck** layer (DenseNet-B) and **compression**
# θ (DenseNet-C), and stacks everything into DenseNet-121. We count its layers and
# parameters, follow the feature maps through it at 32 and 224 pixels, and see why a
# global pooling layer at the end lets one network accept inputs of any size.
#
# Nothing here trains, so smoke mode and full mode run the same code.

# %%
import re

import mxnet as mx
import numpy as np
import pandas as pd

from gluon_densenet import (
    DENSENET_SPECS,
    bottleneck_layer,
    conv_block,
    count_parameters,
    count_weighted_layers,
    densenet,
    densenet63_classic,
    densenet121,
    format_summary,
    summary,
)
from gluon_densenet.notebook import smoke_mode

mx.random.seed(0)
np.random.seed(0)
print("mode:", "smoke (small and fast)" if smoke_mode() else "full")

# %% [markdown]
# ## The bottleneck layer (DenseNet-B)
#
# Deep inside a dense block a layer's input is very wide: in DenseNet-121 the 24th layer
# of the third block reads $256 + 23 \cdot 32 = 992$ channels. A 3×3 convolution over all
# of them is expensive. The paper therefore puts a 1×1 convolution in front that first
# narrows the input to $4k$ channels (the **bottleneck**), so the 3×3 convolution always
# sees the same width:
#
# BN → ReLU → 1×1 conv ($4k$) → BN → ReLU → 3×3 conv ($k$).
#
# `gluon_densenet.bottleneck_layer` is exactly that sequence (the chapter 1 `conv_block`
# with a 1×1 stage in front; `bn_size` is the factor 4):

# %%
print(bottleneck_layer(growth_rate=32, bn_size=4))

# %% [markdown]
# Both kinds of layer add $k$ channels. What they cost depends on how wide their input is.
# Here is the number of learnable parameters of one layer with $k = 32$ for a few input
# widths:

# %%
k = 32
rows = []
for c_in in (64, 256, 512, 256 + 23 * k):   # the last: layer 24 of block 3 in DenseNet-121
    plain = conv_block(k, in_channels=c_in)
    bottle = bottleneck_layer(k, bn_size=4, in_channels=c_in)
    plain.initialize()
    bottle.initialize()
    rows.append({"input channels": c_in,
                 "BN-ReLU-3×3 conv": count_parameters(plain),
                 "bottleneck (1×1 to 4k, then 3×3)": count_parameters(bottle)})
pd.DataFrame(rows).set_index("input channels")

# %% [markdown]
# For a narrow input the bottleneck costs more than a single 3×3 convolution, because
# its 3×3 stage over $4k$ channels is a fixed cost. But each extra input channel costs
# the plain layer $9k$ weights (plus two BatchNorm parameters) and the bottleneck only
# $4k$ (plus two), so deep in a dense block, where inputs are wide, the bottleneck is far
# cheaper. The growth per input channel, read off the table:

# %%
first, last = rows[0], rows[-1]
span = last["input channels"] - first["input channels"]
for column in ("BN-ReLU-3×3 conv", "bottleneck (1×1 to 4k, then 3×3)"):
    print(f"{column}: {(last[column] - first[column]) / span:g} parameters per input channel")
#
# ## Compression θ (DenseNet-C)
#
# A transition layer's 1×1 convolution can also shrink the channel count. With
# compression θ a transition turns $c$ channels into $\lfloor \theta c \rfloor$; the
# paper uses θ = 0.5. Networks with both bottleneck and compression are called
# **DenseNet-BC**, and all the ImageNet models in the paper are of that kind. Here is
# how the channel count of DenseNet-121 evolves, computed from its spec (64 channels out
# of the stem, $k = 32$, blocks of 6, 12, 24 and 16 layers):

# %%
spec = DENSENET_SPECS[121]
theta = 0.5
channels = spec.init_features
print(f"stem: {channels} channels")
for i, layers in enumerate(spec.block_config, start=1):
    grown = channels + layers * spec.growth_rate
    print(f"dense block {i}: {channels} + {layers}·{spec.growth_rate} = {grown}")
    channels = grown
    if i < len(spec.block_config):
        channels = int(theta * channels)
        print(f"transition {i}:  ⌊{theta}·{grown}⌋ = {channels}")
print("features into the classifier:", channels)

# %% [markdown]
# Each transition halves the channels, each block adds $L \cdot k$, and the classifier
# sees 1024 features.
#
# ## The DenseNet family, from the spec table
#
# `DENSENET_SPECS` holds the paper's Table 1: initial features, growth rate and the
# number of layers in each of the four dense blocks. The table below is built from it;
# the *weighted layers* (convolutions and fully connected layers, which is what the depth
# in a name counts) and the parameters are counted on the built models (1000 classes,
# RGB input), not computed from a formula. For reference the last column also gives the
# count the name implies: one stem convolution, two convolutions per bottleneck layer,
# one per transition, and the classifier.

# %%
table = []
for depth, spec in DENSENET_SPECS.items():
    net = densenet(depth, classes=1000, in_channels=3)
    net.initialize()
    n_blocks = len(spec.block_config)
    table.append({
        "name": f"DenseNet-{depth}",
        "k": spec.growth_rate,
        "init features": spec.init_features,
        "layers per block": "-".join(map(str, spec.block_config)),
        "weighted layers (counted)": count_weighted_layers(net),
        "1 + 2·Σblocks + transitions + 1": 1 + 2 * sum(spec.block_config) + (n_blocks - 1) + 1,
        "parameters": f"{count_parameters(net):,}",
    })
family = pd.DataFrame(table).set_index("name")
family

# %% [markdown]
# The counted depths match the names, with one exception: the paper's DenseNet-264 has
# 265 weighted layers by the same counting rule. Its blocks (6, 12, 64, 48) give
# $1 + 2 \cdot 130 + 3 + 1$; the name is kept because it is the paper's. The check in code:

# %%
for name, row in family.iterrows():
    depth = int(name.split("-")[1])
    counted = row["weighted layers (counted)"]
    print(f"{name}: counted {counted}", "(matches)" if counted == depth else f"(name says {depth})")

# %% [markdown]
# ## Building DenseNet-121
#
# `densenet121()` assembles the ImageNet version: a stem (7×7 convolution with stride 2,
# then 3×3 max pooling with stride 2), four dense blocks of bottleneck layers with three
# transition layers (θ = 0.5) between them, then BN, ReLU, global average pooling and a
# fully connected classifier. The usual reference parameter count for DenseNet-121 with
# 1000 classes is 7,978,856 (the figure torchvision and Keras report as well), and the
# name promises 121 weighted layers. Both are checked in code:

# %%
net = densenet121(classes=1000, in_channels=3)
net.initialize()
n_layers = count_weighted_layers(net)
n_params = count_parameters(net)
print(f"weighted layers: {n_layers}")
print(f"parameters:      {n_params:,}")
assert n_layers == 121 and n_params == 7_978_856

# %% [markdown]
# ## The classic tutorial's "DenseNet-121" has 63 layers
#
# An older Gluon tutorial chapter built a network with DenseNet-121's block
# configuration (6, 12, 24, 16), 64 initial features and $k = 32$, and called it
# DenseNet-121. Its layers, however, were the plain BN-ReLU-3×3 composite layers of
# chapter 1, without the bottleneck. That halves the convolutions per layer, so the
# depth is not 121. `densenet63_classic` rebuilds that network; counting its layers:

# %%
classic = densenet63_classic(classes=1000, in_channels=3)
classic.initialize()
print(f"classic tutorial net: {count_weighted_layers(classic)} weighted layers, "
      f"{count_parameters(classic):,} parameters")
print(f"DenseNet-121:         {n_layers} weighted layers, {n_params:,} parameters")

# %% [markdown]
# One stem convolution, one convolution per layer of the 6 + 12 + 24 + 16 = 58 layers,
# three transitions and the classifier:

# %%
blocks = DENSENET_SPECS[121].block_config
by_formula = 1 + sum(blocks) + (len(blocks) - 1) + 1
print(f"1 + {sum(blocks)} + {len(blocks) - 1} + 1 = {by_formula}")
assert by_formula == count_weighted_layers(classic)

# %% [markdown]
# So the classic net is a 63-layer DenseNet, not DenseNet-121. And without the
# bottleneck, its 3×3 convolutions read the full, growing width, so despite being half
# as deep it has *more* parameters than the real DenseNet-121: the bottleneck table
# above in action.
#
# ## Shapes through the network
#
# `summary` runs a zero batch through the net and records each block's output shape and
# parameters; `max_depth=2` stops at the stem's layers, the dense blocks (`DenseBlock`)
# and the transitions (`HybridSequential`). First at 32×32 pixels, the size Fashion-MNIST
# is resized to in chapter 3:

# %%
print(format_summary(summary(net, (1, 3, 32, 32), max_depth=2), (1, 3, 32, 32)))

# %% [markdown]
# The stem divides the side by 4 (32 → 8) and each transition halves it, so the last dense
# block works on 1×1 maps. The same network at the ImageNet size of 224 pixels:

# %%
print(format_summary(summary(net, (1, 3, 224, 224), max_depth=2), (1, 3, 224, 224)))

# %% [markdown]
# At 224 pixels the four dense blocks work on 56×56, 28×28, 14×14 and 7×7 maps. Those
# are the output sizes in the paper's Table 1, which `spatial_sizes` (the side length
# seen by each dense block) confirms:

# %%
paper_table1_sizes = [56, 28, 14, 7]
print("dense block sizes at 224 px:", net.spatial_sizes(224),
      "| paper:", paper_table1_sizes, "| equal:", net.spatial_sizes(224) == paper_table1_sizes)
print("dense block sizes at 32 px: ", net.spatial_sizes(32))

# %% [markdown]
# The channel counts and the parameters are identical at both sizes: only the
# spatial size changes, and the global average pooling (`GlobalAvgPool2D`) reduces
# whatever is left to 1×1.
#
# ## Global pooling: one network, any input size
#
# Global average pooling averages each channel over the whole feature map, whatever its
# size, so the classifier always receives 1024 numbers. A fixed pooling window cannot do
# that. MXNet's own model zoo ends its DenseNet with `AvgPool2D(pool_size=7)`, a 7×7
# window that fits the 7×7 maps of a 224-pixel input exactly, and nothing smaller.
# Building it (without pretrained weights, so no download) and feeding both sizes:

# %%
def short_error(err):
    """The informative line of an MXNet error (the 'Check failed: ...' message)."""
    lines = [line for line in str(err).splitlines() if line.strip()]
    checks = [line for line in lines if "Check failed" in line]
    line = checks[-1] if checks else lines[-1]
    return re.sub(r"^.*Check failed: ", "", line)


zoo = mx.gluon.model_zoo.vision.densenet121()   # pretrained=False: random weights
zoo.initialize()
for size in (32, 224):
    try:
        out = zoo(mx.nd.zeros((1, 3, size, size)))
        out.wait_to_read()
        print(f"model zoo, {size} px: output {out.shape}")
    except mx.base.MXNetError as err:
        print(f"model zoo, {size} px: {type(err).__name__}: {short_error(err)}")

# %% [markdown]
# At 32 pixels the model zoo's last feature map is 1×1 and its 7×7 pooling window does
# not fit, so MXNet refuses; at 224 pixels it works. Our DenseNet-121, with global
# pooling, gives 1000 class scores at either size, and at sizes in between:

# %%
for size in (32, 100, 224):
    print(f"gluon_densenet, {size} px: output {net(mx.nd.zeros((1, 3, size, size))).shape}")

# %% [markdown]
# There is still a lower limit: the stem and the three transitions each need a feature
# map of at least 2×2 to pool. `min_input_size()` computes the smallest input side, and
# a smaller input is rejected before MXNet's pooling fails, with a message that says what
# to do:

# %%
print("smallest input side:", net.min_input_size(), "px")
try:
    net(mx.nd.zeros((1, 3, 28, 28)))
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# Unresized 28×28 Fashion-MNIST images are just too small for the ImageNet stem; that is
# one reason chapter 3 resizes them to 32 pixels.
#
# ## Summary
#
# * The bottleneck layer (1×1 conv to $4k$, then 3×3 conv to $k$) keeps deep layers cheap;
#   compression θ = 0.5 halves the channels at each transition. Together: DenseNet-BC.
# * DenseNet-121 has 121 weighted layers and 7,978,856 parameters (both checked above);
#   the same block configuration without bottlenecks is a 63-layer network.
# * Global average pooling lets the same network take 32-pixel and 224-pixel inputs; a
#   fixed 7×7 pool does not.
