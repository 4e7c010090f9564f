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
# θ (DenseNet-C), and stacks everything into DenseNet-121, first from the library's
# spec table and then entirely by hand. We count its layers and parameters, follow the
# channels and feature maps through it at 32 and 224 pixels, build the paper's CIFAR
# variant, and see why a global pooling layer at the end lets one network accept
# inputs of any size. On the way we read a classic tutorial's code for a "121-layer"
# DenseNet against its own text, and correct some common descriptions of DenseNet with
# measurements. Finally we load weights trained elsewhere, from MXNet's model zoo and from
# torchvision, into our net and fine-tune it.
#
# Only that last section trains, briefly; smoke mode gives it fewer images and never
# downloads, and the rest of the chapter runs the same code in both modes.

# %% [markdown]
# **Learning objectives.** After this chapter you can
#
# * explain the bottleneck layer (DenseNet-B) and compression θ (DenseNet-C), and say
#   from what input width a bottleneck is the cheaper layer;
# * read a published DenseNet's code against its text, and correct common
#   descriptions of DenseNet with measurements;
# * build DenseNet-121 from the spec table and by hand, and count its 121 layers and its
#   parameters;
# * follow channels and feature-map sizes through the net at 32 and 224 px;
# * build the paper's CIFAR DenseNet-BC from its depth;
# * load MXNet model-zoo and torchvision weights into the net and fine-tune it.
#
# **Prerequisites.** Chapter 1.
#
# **Run time on a 2-core CPU.** About a minute for a full run, most of it in the closing
# fine-tuning on 6,000 images, whose table prints its seconds; well under a minute in
# smoke mode (`make pages` prints each chapter's seconds).
#
# **References.**
#
# * Huang, Liu, van der Maaten and Weinberger (2017), *Densely Connected Convolutional
#   Networks*, CVPR, [arXiv:1608.06993](https://arxiv.org/abs/1608.06993).
# * Pleiss, Chen, Huang, Li, van der Maaten and Weinberger (2017), *Memory-Efficient
#   Implementation of DenseNets*, [arXiv:1707.06990](https://arxiv.org/abs/1707.06990).
# * Zhang, Lipton, Li and Smola, *Dive into Deep Learning*, §8.7 "Densely Connected
#   Networks (DenseNet)", <https://d2l.ai/chapter_convolutional-modern/densenet.html>.
# * *动手学深度学习* (the Chinese MXNet/Gluon edition of *Dive into Deep Learning*, 2017),
#   chapter "DenseNet：稠密连接的卷积神经网络", file
#   `chapter_convolutional-neural-networks/densenet-gluon.md` at commit `f504f506` of
#   <https://github.com/d2l-ai/d2l-zh>; quoted in the section on the classic tutorial.

# %%
import gluon_densenet  # noqa: F401, I001  first: MXNet then uses one thread per core
import re

import matplotlib.pyplot as plt
import mxnet as mx
import numpy as np
import pandas as pd
from mxnet.gluon import nn

from gluon_densenet import (
    DENSENET_SPECS,
    DenseBlock,
    DenseNet,
    bottleneck_layer,
    conv_block,
    count_parameters,
    count_weighted_layers,
    densenet,
    densenet63_classic,
    densenet121,
    densenet_bc,
    format_summary,
    summary,
)

# %matplotlib inline

mx.random.seed(0)
np.random.seed(0)

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

# %% [markdown]
# Both costs are straight lines in the input width, so they cross once. The plot counts
# one layer of each kind for input widths from 32 to 1024 channels in steps of 32, marks
# where the fitted lines cross, and shows along the bottom the input widths of
# DenseNet-121's 58 dense layers, read from the built network:

# %%
c_ins = np.arange(32, 1025, 32)
plain_counts = [count_parameters(conv_block(k, in_channels=int(c))) for c in c_ins]
bottle_counts = [count_parameters(bottleneck_layer(k, bn_size=4, in_channels=int(c)))
                 for c in c_ins]
(p_slope, p_icpt), (b_slope, b_icpt) = (np.polyfit(c_ins, plain_counts, 1),
                                        np.polyfit(c_ins, bottle_counts, 1))
crossing = (b_icpt - p_icpt) / (p_slope - b_slope)
c_x = round(crossing)
at_crossing = (count_parameters(conv_block(k, in_channels=c_x)),
               count_parameters(bottleneck_layer(k, bn_size=4, in_channels=c_x)))
layer_inputs = [layer[0].gamma.shape[0] for block in densenet121().features
                if isinstance(block, DenseBlock) for layer in block.net]
print(f"plain layer: {p_slope:.0f}·c + {round(p_icpt)}; bottleneck: {b_slope:.0f}·c + "
      f"{round(b_icpt):,} parameters for c input channels")
print(f"equal at c = {crossing:g} = (8 + 36k)/5 = {(8 + 36 * k) / 5:g}: counted "
      f"{at_crossing[0]:,} and {at_crossing[1]:,}")
print(f"DenseNet-121's dense layers read {min(layer_inputs)} to {max(layer_inputs)} channels; "
      f"{sum(c > crossing for c in layer_inputs)} of its {len(layer_inputs)} read more "
      f"than {c_x}")

fig, ax = plt.subplots(figsize=(8, 3.4))
ax.plot(c_ins, plain_counts, "o-", markersize=3, label="BN-ReLU-3×3 conv")
ax.plot(c_ins, bottle_counts, "s-", markersize=3, label="bottleneck (1×1 to 4k, then 3×3)")
ax.plot([crossing], [at_crossing[0]], "o", color="black", markersize=8, fillstyle="none")
ax.annotate(f"equal at {c_x} channels", (crossing, at_crossing[0]),
            xytext=(crossing + 60, at_crossing[0] + 90_000), arrowprops={"arrowstyle": "->"})
ax.plot(layer_inputs, np.zeros(len(layer_inputs)), "|", color="tab:gray", markersize=14,
        label="inputs of DenseNet-121's dense layers")
ax.set_xlabel("input channels of the layer")
ax.set_ylabel("learnable parameters")
ax.set_title(f"one dense layer, k = {k}")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The crossing follows from the counts per input channel: the plain layer costs
# $(9k + 2)c$, the bottleneck $(4k + 2)c$ plus a fixed $8k + 36k^2$ (its second
# BatchNorm and its 3×3 convolution over $4k$ channels), so they are equal at
# $c = (8 + 36k)/5$, printed above for $k = 32$. Below the crossing the plain layer is
# the cheaper one, above it the bottleneck, and the gap widens with every further input
# channel. Only the first layers of DenseNet-121 (the grey marks left of the crossing)
# read fewer channels; most of its layers read more, many of them far more.

# %% [markdown]
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
# A common description says that "DenseNet-C" is a DenseNet with transition layers.
# Every DenseNet has transition layers: they are where it downsamples. The C is for
# compression, θ < 1; with θ = 1 "the number of feature-maps across transition layers
# remains unchanged" (Huang et al., 2017, Section 3, "Compression"). The paper's four
# variants, built on DenseNet-121's blocks with `DenseNet(bn_size=..., compression=...)`,
# show the difference in their transitions' 1×1 convolutions:

# %%
variants = {"DenseNet (θ = 1)": (None, 1.0), "DenseNet-B (θ = 1)": (4, 1.0),
            "DenseNet-C (θ = 0.5)": (None, 0.5), "DenseNet-BC (θ = 0.5)": (4, 0.5)}
variant_rows = []
for name, (bn_size, compression) in variants.items():
    variant = DenseNet(spec.block_config, growth_rate=spec.growth_rate,
                       init_features=spec.init_features, bn_size=bn_size,
                       compression=compression, classes=1000, in_channels=3)
    convs = [child[2].weight.shape for child in variant.features
             if isinstance(child, nn.HybridSequential)]                # the transitions
    variant_rows.append({"variant": name, "transitions": len(convs),
                         "channels in → out": ", ".join(f"{c_in} → {c_out}"
                                                        for c_out, c_in, _, _ in convs),
                         "classifier inputs": f"{variant.num_features:,}",
                         "parameters": f"{count_parameters(variant):,}"})
print(pd.DataFrame(variant_rows).set_index("variant").to_string())

# %% [markdown]
# All four have three transitions. With θ = 1 they keep every channel and the classifier
# reads 1,920 features; only the C variants halve. DenseNet-121 is the last row,
# DenseNet-BC: bottleneck *and* compression.
#
# ## The DenseNet family, from the spec table
#
# `DENSENET_SPECS` holds the paper's Table 1 (DenseNet-121, 169, 201 and 264) plus
# DenseNet-161 (*k* = 48, 96 initial features), which comes from the authors' released
# ImageNet models and torchvision: initial features, growth rate and the
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
# ## DenseNet-BC for CIFAR
#
# The paper's ImageNet nets start with the 7×7 stem that shrinks a 224 px photo to
# 56 px. For the 32 px images of CIFAR it uses a different layout (its Section 3,
# "Implementation Details"): a single 3×3 convolution with 2*k* output channels as the
# stem, **three** dense blocks working on 32×32, 16×16 and 8×8 maps, and the same
# bottleneck layers and θ = 0.5 transitions. With *n* bottleneck layers per block
# (two convolutions each), the depth is
#
# $$L = 1 + 3 \cdot 2n + 2 + 1 = 6n + 4,$$
#
# so *n* = (*L* − 4)/6. `densenet_bc(depth, growth_rate)` builds it. The paper's
# Table 2 lists three such nets with their parameter counts; ours are counted on the
# built nets, with 10 classes and RGB input:

# %%
paper_table2 = {(100, 12): 0.8e6, (250, 24): 15.3e6, (190, 40): 25.6e6}
rows = []
for (depth, k_cifar), published in paper_table2.items():
    bc = densenet_bc(depth, growth_rate=k_cifar, classes=10, in_channels=3)
    bc.initialize()
    rows.append({"net": f"DenseNet-BC (L={depth}, k={k_cifar})", "n per block": (depth - 4) // 6,
                 "weighted layers": count_weighted_layers(bc),
                 "parameters": count_parameters(bc), "paper (Table 2)": f"{published / 1e6:.1f}M"})
cifar = pd.DataFrame(rows).set_index("net")
cifar["depth = L"] = [row["weighted layers"] == depth for row, (depth, _) in
                      zip(rows, paper_table2)]
cifar["rounds to paper"] = [f"{row['parameters'] / 1e6:.1f}M" == row["paper (Table 2)"]
                            for row in rows]
print(cifar.to_string(formatters={"parameters": "{:,}".format}))
print("feature map sides at 32 px:", bc.spatial_sizes(32))

# %% [markdown]
# Every counted depth equals *L*, and every count rounds to the paper's figure. The
# feature maps stay at 32, 16 and 8 pixels: no stride and no pooling in the stem.
#
# ## Building DenseNet-121
#
# `densenet121()` assembles the ImageNet version: a stem (7×7 convolution with stride 2,
# then 3×3 max pooling with stride 2), four dense blocks of bottleneck layers with three
# transition layers (θ = 0.5) between them, then BN, ReLU, global average pooling and a
# fully connected classifier. The usual reference parameter count for DenseNet-121 with
# 1000 classes is 7,978,856 (the count torchvision's documentation lists for its
# DenseNet-121 ImageNet weights), and the
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
# ## DenseNet-121 by hand
#
# `densenet121()` is a convenience. Everything in it has been built by hand in chapter 1
# or above, so we can assemble the whole network ourselves: chapter 1's dense block with
# the bottleneck layer instead of the plain composite layer, chapter 1's transition
# layer with θ = 0.5, the stem, and the head. Nothing below comes from `gluon_densenet`.

# %%
def my_bottleneck_layer(k, bn_size=4):
    """BN -> ReLU -> 1x1 conv (bn_size*k) -> BN -> ReLU -> 3x3 conv (k)."""
    blk = nn.HybridSequential()
    blk.add(nn.BatchNorm(), nn.Activation("relu"),
            nn.Conv2D(bn_size * k, kernel_size=1, use_bias=False),
            nn.BatchNorm(), nn.Activation("relu"),
            nn.Conv2D(k, kernel_size=3, padding=1, use_bias=False))
    return blk


class MyDenseBlockB(nn.HybridBlock):
    """Chapter 1's dense block, made of bottleneck layers."""

    def __init__(self, num_layers, k, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.net = nn.HybridSequential()
            for _ in range(num_layers):
                self.net.add(my_bottleneck_layer(k))

    def hybrid_forward(self, F, x):
        for layer in self.net:
            x = F.concat(x, layer(x), dim=1)
        return x


def my_transition_block(channels):
    """Chapter 1's transition: BN -> ReLU -> 1x1 conv -> 2x2 average pool, stride 2."""
    blk = nn.HybridSequential()
    blk.add(nn.BatchNorm(), nn.Activation("relu"),
            nn.Conv2D(channels, kernel_size=1, use_bias=False),
            nn.AvgPool2D(pool_size=2, strides=2))
    return blk


def my_densenet121(classes=1000, k=32, blocks=(6, 12, 24, 16), theta=0.5):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(2 * k, kernel_size=7, strides=2, padding=3, use_bias=False),   # stem
            nn.BatchNorm(), nn.Activation("relu"),
            nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    channels = 2 * k
    for i, num_layers in enumerate(blocks):
        net.add(MyDenseBlockB(num_layers, k))
        channels += num_layers * k
        if i < len(blocks) - 1:
            channels = int(theta * channels)
            net.add(my_transition_block(channels))
    net.add(nn.BatchNorm(), nn.Activation("relu"), nn.GlobalAvgPool2D(),   # head
            nn.Dense(classes))
    return net


mine = my_densenet121()
mine.initialize(mx.init.Xavier())
x = mx.nd.random.uniform(shape=(2, 3, 224, 224))
mine(x)                                  # the first call fixes every parameter's shape
print(f"by hand: {count_weighted_layers(mine)} weighted layers, "
      f"{count_parameters(mine):,} parameters")

# %% [markdown]
# The same counts as the library's. For the outputs, both nets get the same weights:
# their parameters come in the same order (stem, then every BatchNorm and convolution of
# every layer, block by block, then the head), so we copy them one by one, checking each
# shape, and feed both the same two random 224 px images.

# %% tags=["nbval-ignore-output"]
theirs = list(net.collect_params().values())
ours = list(mine.collect_params().values())
assert len(ours) == len(theirs)
for p_mine, p_lib in zip(ours, theirs):
    assert p_mine.shape == p_lib.shape, (p_mine.name, p_mine.shape, p_lib.shape)
    p_lib.set_data(p_mine.data())
diff = np.abs(mine(x).asnumpy() - net(x).asnumpy()).max()
print(f"{len(ours)} parameter arrays copied; largest output difference: {diff:.1e}")
assert diff < 1e-4

# %% [markdown]
# With the same weights, the two nets agree on these two random images (in inference
# mode) to the printed difference: `densenet121()` is chapter 1's pieces plus the
# bottleneck, stacked as above.
#
# ## Channel width through the network
#
# Inside a dense block the width grows by *k* with every layer; each transition halves
# it. Plotted layer by layer, straight from the built network (the input width of every
# dense layer is read from its first BatchNorm), DenseNet-121's width is a sawtooth:

# %%
widths, spans, channels = [64], [], 64          # 64 channels out of the stem
for child in net.features:
    if isinstance(child, DenseBlock):
        start = len(widths) - 1
        for layer in child.net:
            channels = layer[0].gamma.shape[0] + child.growth_rate
            widths.append(channels)
        spans.append((start, len(widths) - 1))
    elif isinstance(child, nn.HybridSequential):              # a transition layer
        channels = child[2].weight.shape[0]
        widths.append(channels)
fig, ax = plt.subplots(figsize=(9, 3.2))
ax.step(range(len(widths)), widths, where="post", color="tab:blue")
for i, (a, b) in enumerate(spans, start=1):
    ax.axvspan(a, b, color="tab:orange", alpha=0.12)
    ax.text((a + b) / 2, max(widths) * 1.02, f"block {i}", ha="center", fontsize=8)
ax.set_xlabel("layer (stem, then every dense layer and transition)")
ax.set_ylabel("channels")
ax.set_ylim(0, max(widths) * 1.12)
ax.set_title("DenseNet-121: channels after each layer")
ax.grid(True, alpha=0.3)
plt.show()
print("peaks at the end of each block:", [widths[b] for _, b in spans])

# %% [markdown]
# ## The classic tutorial's "DenseNet-121" has 63 layers
#
# The 2017 MXNet/Gluon Chinese edition of *Dive into Deep Learning* (动手学深度学习,
# zh.gluon.ai) had a chapter "DenseNet：稠密连接的卷积神经网络" (the file
# `chapter_convolutional-neural-networks/densenet-gluon.md` of the GitHub repository
# `d2l-ai/d2l-zh`, added on 6 October 2017; quoted below as of commit `f504f506`,
# 17 November 2017; in May 2018 the chapter was rewritten as `densenet.md`). It built a
# network with DenseNet-121's block configuration (6, 12, 24, 16), 64 initial features
# and $k = 32$, and its text introduced it with
#
# > 过渡层每次都将通道数减半。下面定义一个121层的DenseNet。
#
# ("The transition layer halves the number of channels every time. Below we define a
# 121-layer DenseNet."). Its layers, however, are the plain BN-ReLU-3×3 composite layers
# of chapter 1, without the bottleneck, and its code does not do what that sentence
# says.
#
# The page ended with a link to its discussion thread on the Gluon forum,
# discuss.gluon.ai/t/topic/1664, which the rewritten 2018 chapter kept. That thread is a
# separate source: the posts that chapters 4 and 6 quote from it carry PyTorch code
# from the book's PyTorch edition, and their memory test at 96 px uses that edition's
# input size, where this tutorial trains at 32 px (`resize=32` in its training cell).
# They are not about the code below.
#
# Here is the tutorial's model code, its three code cells that define the network (the
# cells that try out its blocks and the one that trains the net are left out), quoted
# verbatim for critique. It runs unchanged under MXNet 1.9, which still has
# `nn.Sequential` and `nn.Block` with a `forward` method (they just cannot be
# hybridized). The quotation runs in a module of its own, so that its `conv_block` and
# `DenseBlock` do not replace the library's functions of the same names.

# %%
import types

TUTORIAL_2017 = '''
from mxnet import nd
from mxnet.gluon import nn

def conv_block(channels):
    out = nn.Sequential()
    out.add(
        nn.BatchNorm(),
        nn.Activation('relu'),
        nn.Conv2D(channels, kernel_size=3, padding=1)
    )
    return out

class DenseBlock(nn.Block):
    def __init__(self, layers, growth_rate, **kwargs):
        super(DenseBlock, self).__init__(**kwargs)
        self.net = nn.Sequential()
        for i in range(layers):
            self.net.add(conv_block(growth_rate))

    def forward(self, x):
        for layer in self.net:
            out = layer(x)
            x = nd.concat(x, out, dim=1)
        return x

def transition_block(channels):
    out = nn.Sequential()
    out.add(
        nn.BatchNorm(),
        nn.Activation('relu'),
        nn.Conv2D(channels, kernel_size=1),
        nn.AvgPool2D(pool_size=2, strides=2)
    )
    return out

init_channels = 64
growth_rate = 32
block_layers = [6, 12, 24, 16]
num_classes = 10

def dense_net():
    net = nn.Sequential()
    # add name_scope on the outermost Sequential
    with net.name_scope():
        # first block
        net.add(
            nn.Conv2D(init_channels, kernel_size=7,
                      strides=2, padding=3),
            nn.BatchNorm(),
            nn.Activation('relu'),
            nn.MaxPool2D(pool_size=3, strides=2, padding=1)
        )
        # dense blocks
        channels = init_channels
        for i, layers in enumerate(block_layers):
            net.add(DenseBlock(layers, growth_rate))
            channels += layers * growth_rate
            if i != len(block_layers)-1:
                net.add(transition_block(channels//2))
        # last block
        net.add(
            nn.BatchNorm(),
            nn.Activation('relu'),
            nn.AvgPool2D(pool_size=1),
            nn.Flatten(),
            nn.Dense(num_classes)
        )
    return net
'''
# Source: Dive into Deep Learning (动手学深度学习), MXNet/Gluon Chinese edition, 2017,
# chapter_convolutional-neural-networks/densenet-gluon.md, github.com/d2l-ai/d2l-zh,
# commit f504f506d5efda5879f1c46a36d25eedf22a299a. Its code cells, joined unchanged.
tutorial_2017 = types.ModuleType("tutorial_2017")
exec(TUTORIAL_2017, tutorial_2017.__dict__)

# %% [markdown]
# Built as quoted, with the tutorial's `dense_net()`, and run on one image of the size
# it trained on (Fashion-MNIST, 1 channel, resized to 32 px), one layer of the
# network at a time, so that each dense block's and each transition's input and output
# channels are read off real tensors. Next to it, `densenet63_classic`, the network the
# tutorial's text describes (plain layers, transitions that halve), with the same input
# and 10 classes:

# %%
def stage_widths(layers, x):
    """(name, channels in, channels out) of every dense block and transition of a net
    whose top-level `layers` are run one at a time on `x`; also the last output."""
    stages, counts = [], {}
    for layer in layers:
        out = layer(x)
        kind = type(layer).__name__
        if kind == "DenseBlock" or kind.endswith("Sequential"):        # a transition
            name = "dense block" if kind == "DenseBlock" else "transition"
            counts[name] = counts.get(name, 0) + 1
            stages.append((f"{name} {counts[name]}", x.shape[1], out.shape[1]))
        x = out
    return stages, out


def describe(c_in, c_out):
    change = f"+{c_out - c_in:,}" if c_out > c_in else f"×{c_out / c_in:.2f}"
    return f"{c_in:,} → {c_out:,} ({change})"


tutorial = tutorial_2017.dense_net()
tutorial.initialize(mx.init.Xavier())
classic10 = densenet63_classic(classes=10, in_channels=1)
classic10.initialize(mx.init.Xavier())
image = mx.nd.zeros((1, 1, 32, 32))
code_stages, code_map = stage_widths(list(tutorial)[:-2], image)   # up to its pooling
text_stages, text_map = stage_widths(list(classic10.features)[:-1], image)
tutorial(image)                      # the whole net once, so that its Dense has a shape
classic_widths = pd.DataFrame(
    {"tutorial's code": [describe(a, b) for _, a, b in code_stages],
     "densenet63_classic": [describe(a, b) for _, a, b in text_stages]},
    index=[name for name, _, _ in code_stages])
classic_widths.loc["classifier inputs"] = [f"{tutorial[-1].weight.shape[1]:,}",
                                   f"{classic10.output.weight.shape[1]:,}"]
classic_widths.loc["weighted layers"] = [count_weighted_layers(tutorial), count_weighted_layers(classic10)]
classic_widths.loc["parameters"] = [f"{count_parameters(tutorial):,}", f"{count_parameters(classic10):,}"]
print(classic_widths.to_string())
print("last feature map, before the classifier:", code_map.shape, "and", text_map.shape)

# %% [markdown]
# Both networks have 63 weighted layers, and the table answers two questions.
#
# **Where do the channels grow?** A common description says that DenseNet's transition
# layers make the channel count grow. In both columns every increase is a dense block's,
# $+L \cdot k$ from concatenating the outputs of $L$ layers of $k$ channels each, and
# every transition *reduces* the channels: the transitions are where the growth is
# controlled. The tutorial's own text, as quoted, has this right: it introduces the
# transition because concatenation makes the channels surge,
#
# > 因为使用拼接的缘故，每经过一次拼接输出通道数可能会激增。
#
# ("because of the concatenation, the output channels may surge with every
# concatenation"). Its first version, of 6 October 2017 (commit `83819a96`), read
# 过渡块, "transition block", where this one reads the second 拼接, "concatenation": the
# slip of the common description.
#
# **What do the tutorial's text and code disagree on?** The text says every transition
# halves the channels; in the code only the first one does. `dense_net()` keeps a
# running count `channels`, adds each block's $L \cdot k$ to it and passes `channels//2`
# to the next transition, but never sets `channels` to that halved value. From the
# second block on, the count is too high: transition 2 keeps 320 of 512 channels,
# transition 3 keeps 704 of 1,088, and the classifier reads 1,216 features where the
# halving the text describes gives 1,024 (the right-hand column). The net the code builds
# is therefore wider, and has more parameters, than the one its text describes.
#
# For the depth, here is `densenet63_classic` for ImageNet (RGB, 1000 classes) next to
# DenseNet-121:

# %%
classic = densenet63_classic(classes=1000, in_channels=3)
classic.initialize()
print(f"densenet63_classic: {count_weighted_layers(classic)} weighted layers, "
      f"{count_parameters(classic):,} parameters")
print(f"DenseNet-121:       {n_layers} weighted layers, {n_params:,} parameters")

# %% [markdown]
# One stem convolution, one convolution per layer of the 6 + 12 + 24 + 16 = 58 layers,
# three transitions and the classifier:

# %%
blocks = DENSENET_SPECS[121].block_config
by_formula = 1 + sum(blocks) + (len(blocks) - 1) + 1
print(f"1 + {sum(blocks)} + {len(blocks) - 1} + 1 = {by_formula}")
assert by_formula == count_weighted_layers(classic) == count_weighted_layers(tutorial)

# %% [markdown]
# So the classic net is a 63-layer DenseNet, not DenseNet-121. And without the
# bottleneck, its 3×3 convolutions read the full, growing width, so despite being half
# as deep it has *more* parameters than the real DenseNet-121: the bottleneck table
# above in action.
#
# `densenet63_classic` is the network of the tutorial's text, not a copy of its code. It
# differs from the code in three ways:
#
# 1. **Channel bookkeeping.** Its transitions keep $\lfloor \theta c \rfloor$ of the
#    $c$ channels they receive, with θ = 0.5, as the text says; the code's slip is shown
#    above.
# 2. **Biases.** The tutorial's convolutions keep Gluon's default `use_bias=True`.
#    Every convolution here is followed by a BatchNorm, whose β shift makes a
#    convolution bias redundant, so the paper's nets (and ours) have none. The
#    difference is one parameter per output channel of every convolution.
# 3. **No global pooling.** The tutorial ends in `AvgPool2D(pool_size=1)`, a 1×1
#    window with stride 1, which returns its input unchanged, so the classifier reads the
#    flattened $C \times H \times W$ map, not $C$ averages. The tutorial trained at
#    32 px, where the last map is 1×1 (printed under the table above) and the flattened map
#    equals global pooling; at any other size the classifier's input, and so the net's
#    parameter count, changes with the input size (its exercise at 224 px asked readers
#    to edit this pooling).
#
# The last two, computed on the tutorial's net; the pooling at 96 px, where the last map
# is 3×3:

# %%
from gluon_densenet.analysis.parameters import CONV_BIAS

conv_biases = [p for name, p in tutorial.collect_params().items() if CONV_BIAS.search(name)]
n_biases = sum(p.shape[0] for p in conv_biases)
print(f"biases: {n_biases:,} of the tutorial net's {count_parameters(tutorial):,} parameters "
      f"(one per output channel of its {len(conv_biases)} convolutions); without them "
      f"{count_parameters(tutorial) - n_biases:,}, still "
      f"{count_parameters(tutorial) - n_biases - count_parameters(classic10):,} more than "
      "densenet63_classic: the wider transitions and blocks")

at96 = tutorial_2017.dense_net()
at96.initialize(mx.init.Xavier())
image96 = mx.nd.random.uniform(shape=(1, 1, 96, 96))
_, map96 = stage_widths(list(at96)[:-3], image96)  # the map that reaches the pooling
at96(image96)                                      # the first call fixes the Dense's shape
pool1 = tutorial[-3]                               # the tutorial's AvgPool2D(pool_size=1)
print(f"last map at 96 px: {map96.shape}; AvgPool2D(pool_size=1) changes nothing: "
      f"{bool((pool1(map96) == map96).min().asscalar())}")
print(f"at 96 px the classifier reads {at96[-1].weight.shape[1]:,} numbers per image "
      f"instead of {tutorial[-1].weight.shape[1]:,}, and the net has "
      f"{count_parameters(at96):,} parameters instead of {count_parameters(tutorial):,}")

# %% [markdown]
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
# ## Every layer at 224 px
#
# The same summary one level down lists every layer, as `torchsummary` does for
# PyTorch models: each BatchNorm, activation, convolution and pooling of DenseNet-121,
# with its output shape for one 224 px image and its learnable parameters. (The
# concatenations are operations inside `DenseBlock.hybrid_forward`, not layers, so they
# have no row; chapter 4 counts their memory.) Below the table: the totals, with the
# float32 size of the parameters and of all the listed outputs for one image.

# %%
layers = summary(net, (1, 3, 224, 224))
table = pd.DataFrame([{"layer": r.name, "type": r.kind, "output shape": r.output_shape,
                       "params": r.params} for r in layers])
with pd.option_context("display.max_rows", None):
    print(table.to_string(index=False, formatters={"params": "{:,}".format}))
outputs = sum(int(np.prod(r.output_shape)) for r in layers)
print(f"\n{len(layers)} layers; parameters {table['params'].sum():,} "
      f"({table['params'].sum() * 4 / 2**20:.1f} MiB); outputs of the listed layers "
      f"{outputs:,} floats ({outputs * 4 / 2**20:.1f} MiB per image)")

# %% [markdown]
# The same outputs as a picture: the float32 size of every row's output, in the order of
# the table, with the four dense blocks shaded (log scale), and below it each block's
# share of the total.

# %%
out_mib = np.array([np.prod(r.output_shape) * 4 / 2**20 for r in layers])
fig, ax = plt.subplots(figsize=(9, 3.2))
ax.plot(out_mib, color="tab:blue", linewidth=0.8)
block_positions = [i for i, child in enumerate(net.features) if isinstance(child, DenseBlock)]
for number, position in enumerate(block_positions, start=1):
    rows_in = [j for j, r in enumerate(layers) if r.name.startswith(f"features.{position}.")]
    ax.axvspan(rows_in[0], rows_in[-1], color="tab:orange", alpha=0.12)
    ax.text((rows_in[0] + rows_in[-1]) / 2, out_mib.max() * 1.3, f"block {number}",
            ha="center", fontsize=8)
    side = layers[rows_in[0]].output_shape[-1]
    print(f"block {number} ({side}×{side}): {len(rows_in)} rows, "
          f"{out_mib[rows_in].sum():.1f} MiB, {out_mib[rows_in].sum() / out_mib.sum():.1%} "
          "of the listed outputs")
top = int(out_mib.argmax())
print(f"largest single output: {layers[top].name} ({layers[top].kind}), "
      f"{layers[top].output_shape}, {out_mib[top]:.2f} MiB")
ax.set_yscale("log")
ax.set_ylim(out_mib.min() / 2, out_mib.max() * 3)
ax.set_xlabel("row of the table above (layer)")
ax.set_ylabel("output size, MiB per image")
ax.set_title("DenseNet-121 at 224 px: output size of every layer")
ax.grid(True, alpha=0.3)
plt.show()

# %% [markdown]
# Inside each block the line climbs, because each layer's BatchNorm and ReLU output its
# whole, growing input, and it dips at every 3×3 convolution, which outputs only
# $k = 32$ channels. From block to block the level drops, since each transition halves
# the height and width (a quarter of the pixels) and halves the channels: block 1, with
# the fewest layers, holds the largest share of the outputs, and block 4 the smallest.
# Chapter 4 measures what this means for training memory.

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
# There is still a lower limit. Each of the three transitions needs a feature map of at
# least 2×2 for its 2×2 pooling window; the stem's 3×3 max pooling is padded by one
# pixel on every side, so it accepts even a 1×1 map. A net with one dense block and no
# transition shows the stem alone: it takes a 1 px input.
# `min_input_size()` computes the smallest input side, and a smaller input is rejected
# before MXNet's pooling fails, with a message that says what to do:

# %%
densenet_stem_only = DenseNet((2,), classes=10)
densenet_stem_only.initialize()
print("smallest input side:", net.min_input_size(), "px; with the stem alone:",
      densenet_stem_only.min_input_size(), "px, output",
      densenet_stem_only(mx.nd.zeros((1, 3, 1, 1))).shape)
try:
    net(mx.nd.zeros((1, 3, 28, 28)))
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# Unresized 28×28 Fashion-MNIST images are just too small for the ImageNet stem followed
# by three transition layers (29 px at least); that is
# one reason chapter 3 resizes them to 32 pixels.
#
# ## Pretrained weights: MXNet's model zoo and torchvision
#
# Weights trained on ImageNet can be reused: MXNet's model zoo and torchvision both publish
# them for DenseNet-121 (see the
# [model zoo's documentation](https://mxnet.apache.org/versions/1.9.1/api/python/docs/api/gluon/model_zoo/index.html)
# and [torchvision's](https://pytorch.org/vision/stable/models/densenet.html)), and both
# nets are the architecture built above. The model-zoo net we just made, saved with
# `save_parameters`, holds the same parameter arrays as ours, in the same order and with
# the same shapes, but under other names, so loading its file into ours fails:

# %%
import os
import tempfile

with tempfile.TemporaryDirectory() as folder:
    zoo_file, our_file = os.path.join(folder, "zoo.params"), os.path.join(folder, "ours.params")
    zoo.save_parameters(zoo_file)
    net.save_parameters(our_file)
    zoo_saved, our_saved = mx.nd.load(zoo_file), mx.nd.load(our_file)
    same = [a.shape for a in zoo_saved.values()] == [a.shape for a in our_saved.values()]
    print(f"model zoo: {len(zoo_saved)} arrays, ours: {len(our_saved)}; "
          f"same shapes in the same order: {same}")
    for zoo_name, our_name in list(zip(zoo_saved, our_saved))[4:7]:
        print(f"  {zoo_name:30} {our_name}")
    try:
        net.load_parameters(zoo_file)
    except AssertionError as err:
        print("load_parameters:", str(err).split(", which")[0].replace(folder, "..."))

# %% [markdown]
# The zoo wraps each dense layer in a `HybridConcurrent` of an identity and the layer, which
# concatenates the layer's input with its output, hence its extra `.1` (MXNet's
# `gluon/model_zoo/vision/densenet.py`); ours concatenates in `DenseBlock` and keeps its
# layers in `net`. So the weights can be moved across by name. `from_model_zoo` does it for a
# model-zoo net or its `.params` file, and `from_torchvision` for a torchvision net, its
# `state_dict` or a `.pth` file. Both carry BatchNorm's running statistics over, and refuse
# a source that does not fit, naming every key. Asked to read the zoo's DenseNet-121 as a
# DenseNet-169:

# %%
from gluon_densenet import from_model_zoo, from_torchvision
from gluon_densenet.pretrained import WeightMismatchError

try:
    from_model_zoo(zoo, depth=169)
except WeightMismatchError as err:
    print("\n".join(str(err).splitlines()[:5]), "\n    ...")

# %% [markdown]
# **Which weights this page shows.** With network, the next two cells fetch MXNet's
# ImageNet weights through MXNet's model store (`densenet121(pretrained=True)` does the
# same) and torchvision's through torchvision. Offline, they print why they cannot, and
# then, as in smoke mode always, they convert *randomly initialised* nets of the same
# architecture: the conversion is checked in exactly the same way, but nothing below is then
# an ImageNet result. A fresh net's BatchNorm layers hold running means of 0 and variances
# of 1, and a converter that dropped or swapped the two would still look correct on it, so
# those are drawn at random as well.

# %% tags=["nbval-ignore-output"]
from gluon_densenet.chapters import smoke_mode
from gluon_densenet.pretrained import PretrainedWeightsUnavailable, model_zoo_file

rng = np.random.default_rng(0)


def draw(name, shape):
    """Random BatchNorm values: scales and variances in [0.5, 1.5], shifts and means in
    [-0.2, 0.2]."""
    low, high = (0.5, 1.5) if name.endswith(("gamma", "weight", "running_var")) else (-0.2, 0.2)
    return rng.uniform(low, high, shape).astype("float32")


zoo_source = "random (smoke mode: no download)" if smoke_mode() else None
if zoo_source is None:
    try:
        zoo.load_parameters(model_zoo_file(121))
        zoo_source = "MXNet's ImageNet weights"
    except PretrainedWeightsUnavailable as err:
        print(f"{type(err).__name__}: {err}\n")
        zoo_source = "random (offline)"
if zoo_source.startswith("random"):
    for name, p in zoo.collect_params(".*batchnorm.*").items():
        p.set_data(mx.nd.array(draw(name, p.shape)))
print("model-zoo DenseNet-121:", zoo_source)

# %% [markdown]
# torch and torchvision are optional (`make torch` installs them); without them this half
# is skipped. The cell also shows how torchvision's module names map onto our numbers:

# %% tags=["nbval-ignore-output"]
import contextlib
import importlib.util
import io

from gluon_densenet.pretrained.torchvision import torchvision_key_map

tv = None
if all(importlib.util.find_spec(m) for m in ("torch", "torchvision")):
    import torch
    import torchvision
    torch.manual_seed(0)
    tv, tv_source = torchvision.models.densenet121(), "random (smoke mode: no download)"
    if not smoke_mode():
        try:
            with contextlib.redirect_stdout(io.StringIO()):   # torch.hub names its cache
                tv = torchvision.models.densenet121(weights="IMAGENET1K_V1")
            tv_source = "torchvision's ImageNet weights"
        except OSError as err:                   # no network: urllib's URLError
            print(f"torchvision: {type(err).__name__}: {err}\n")
            tv_source = "random (offline)"
    if tv_source.startswith("random"):
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    t = getattr(m, attr)
                    t.data.copy_(torch.from_numpy(draw(attr, tuple(t.shape))))
    tv.eval()
    print("torchvision DenseNet-121:", tv_source)
    mapping = torchvision_key_map(tv.state_dict())
    for key in ("features.conv0.weight", "features.denseblock1.denselayer1.norm1.weight",
                "features.transition1.conv.weight", "features.norm5.running_var"):
        print(f"  {key:48} → {mapping[key]}")
else:
    print("torch and torchvision are not installed (make torch): torchvision's half is skipped")

# %% [markdown]
# Each source and its converted twin get the same two random 224-pixel images (224 px
# because the model zoo's fixed 7×7 pooling needs it):

# %% tags=["nbval-ignore-output"]
images = np.random.default_rng(1).standard_normal((2, 3, 224, 224)).astype("float32")
reference = {"model zoo": zoo(mx.nd.array(images)).asnumpy()}
converted = {"model zoo": from_model_zoo(zoo, depth=121)}
if tv is not None:
    with torch.no_grad():
        reference["torchvision"] = tv(torch.from_numpy(images)).numpy()
    converted["torchvision"] = from_torchvision(tv.state_dict(), depth=121)
for source, ours_net in converted.items():
    out = ours_net(mx.nd.array(images)).asnumpy()
    diff = np.abs(out - reference[source]).max()
    print(f"{source:12} → gluon_densenet: largest output difference {diff:.1e} "
          f"(outputs up to {np.abs(reference[source]).max():.1f})")
    assert diff < 1e-4

# %% [markdown]
# The converted nets compute what their sources compute. From MXNet's model zoo the
# difference is 0: the same operators run on the same weights in the same order.
# torchvision's outputs agree to within about 1e-5, the rounding of single-precision
# arithmetic carried out in another order by another library. (The library's tests check
# depths 121, 161, 169 and 201 this way, with a tolerance of 1e-4.)
#
# ### Fine-tuning on Fashion-MNIST
#
# To reuse the weights for Fashion-MNIST, `from_model_zoo(zoo, classes=10, in_channels=1)`
# keeps the features, gives the net a new, randomly initialised 10-class classifier, and
# sums the stem's RGB kernel over colour, so that a grey image gives what the RGB net
# gives for that image repeated in all three channels. The usual recipe then has two
# stages, each a Gluon parameter setting that the `Trainer` reads at every step:
#
# 1. `freeze_features(net)`: the features get `grad_req="null"` and their BatchNorm layers
#    use their running statistics, so the features are a fixed function and only the head
#    learns;
# 2. `unfreeze_features(net)` and `set_features_lr_mult(net, 0.1)`: everything learns, the
#    features at a tenth of the head's learning rate (`lr_mult`), so that they change more
#    slowly than the new head.
#
# Each stage below trains on a class-balanced subset of the training set at 32 px and is
# tested on a class-balanced subset of the test set; we also count which parameter arrays
# each stage changed.

# %% tags=["nbval-ignore-output"]
from gluon_densenet import freeze_features, set_features_lr_mult, train, unfreeze_features
from gluon_densenet.chapters import choose, describe_run, run_metadata
from gluon_densenet.data import load_data

FT_TRAIN, FT_TEST = choose(256, 6000), choose(256, 2000)     # images
FT_EPOCHS = choose(1, 2)                                      # per stage
FT_SETTINGS = dict(lr=0.1, optimizer="sgd", momentum=0.9, lr_schedule="cosine")
ft_train, ft_test = load_data(64, resize=32, subset=smoke_mode(), limit=FT_TRAIN,
                              test_limit=FT_TEST, seed=0)
mx.random.seed(0)
finetuned = from_model_zoo(zoo, depth=121, classes=10, in_channels=1)


def snapshot(block):
    return {k: p.data().asnumpy().copy() for k, p in block.collect_params().items()}


head = set(finetuned.output.collect_params())
stages = []
for stage in ("head alone, features frozen", "all, features at 0.1x"):
    if stage.startswith("head"):
        freeze_features(finetuned)
    else:
        unfreeze_features(finetuned)
        set_features_lr_mult(finetuned, 0.1)
    before = snapshot(finetuned)
    history = train(finetuned, ft_train, ft_test, epochs=FT_EPOCHS, progress=False,
                    **FT_SETTINGS)
    after = snapshot(finetuned)
    moved = [k for k in before if not np.array_equal(before[k], after[k])]
    stages.append({"stage": stage, "source weights": zoo_source,
                   "arrays changed": f"{len(moved)} of {len(before)}",
                   "head changed": head <= set(moved),
                   "test accuracy": round(history.last.test_acc, 3),
                   "seconds": round(sum(r.time_s for r in history.records), 1)})
print(describe_run({"meta": run_metadata()}))
print(f"{FT_TRAIN:,} training and {FT_TEST:,} test images at 32 px, batch 64, "
      f"{FT_EPOCHS} epoch(s) per stage, {FT_SETTINGS}")
pd.DataFrame(stages).set_index("stage")

# %% [markdown]
# The first stage changed 2 parameter arrays, the classifier's weight and bias, and
# nothing of the features, not even their BatchNorm running statistics; the second
# changed every array. What the accuracies mean depends on the table's second column.
# On this page the source weights are random: with the features frozen, the head alone
# stayed at chance (0.1 for ten balanced classes), finding nothing to use in these random
# features normalised with random running statistics; only the second stage, which trains
# the whole net, learned the task. With ImageNet weights the same cells
# measure how much of what the features learned on photographs carries over to
# Fashion-MNIST. Either way this is one short run with one seed, on subsets: it shows the
# mechanics, and compares no training recipes.
#
# ## Summary
#
# * The bottleneck layer (1×1 conv to $4k$, then 3×3 conv to $k$) keeps deep layers cheap:
#   above an input width of $(8 + 36k)/5$ channels it costs less than a plain layer.
# * Every DenseNet has transitions; DenseNet-C is the one whose transitions compress,
#   θ < 1 (θ = 0.5 halves the channels). With bottlenecks too: DenseNet-BC.
# * The channels grow in the dense blocks, by $L \cdot k$ each; the transitions reduce
#   them.
# * DenseNet-121 has 121 weighted layers and 7,978,856 parameters (both checked above),
#   and assembled by hand from chapter 1's pieces plus the bottleneck it computes the
#   library's function; the same block configuration without bottlenecks is a 63-layer
#   network. The 2017 tutorial's code for that network also never updates its channel
#   count after a transition, so only its first transition halves.
# * For 32 px CIFAR images the paper's DenseNet-BC uses a 3×3 stem and three blocks,
#   depth $L = 6n + 4$; the counts of its three Table 2 nets agree with the paper.
# * Global average pooling lets the same network take 32-pixel and 224-pixel inputs; a
#   fixed 7×7 pool does not.
# * MXNet's model-zoo DenseNet-121 and torchvision's hold the same parameters as ours under
#   other names: `from_model_zoo` and `from_torchvision` convert them, and the converted
#   nets give the same outputs (to the bit, and to about 1e-5). `freeze_features`,
#   `unfreeze_features` and `set_features_lr_mult` then fine-tune in Gluon's idiom. Offline,
#   as when this page was made, the sources are randomly initialised, and the cells say so.

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your answer and, where code can check the answer, a cell
# of tests. In the teacher's version (the chapters in `notebooks/` and their web pages) the
# answer cells hold model answers. The classroom edition (`make student`) empties them,
# and further tests, hidden from students, run when nbgrader grades the work.
#
# ### Exercise 2.1: counting layers from a block configuration
#
# The "121" counts the weighted layers: the stem's convolution, every convolution in
# the dense blocks, one 1×1 convolution per transition, and the classifier. Write
# `weighted_layers(block_config, bottleneck=True)`, which returns that count for any
# block configuration, with two convolutions per dense layer when it has a bottleneck
# and one when it does not. The cell applies it to every net of the library's spec
# table: Table 1's four, and DenseNet-161, which torchvision adds.

# %% nbgrader={"grade": false, "grade_id": "ex-2-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def weighted_layers(block_config, bottleneck=True):
    ### BEGIN SOLUTION
    convs_per_layer = 2 if bottleneck else 1
    return 1 + convs_per_layer * sum(block_config) + (len(block_config) - 1) + 1
    ### END SOLUTION


for depth, spec in DENSENET_SPECS.items():
    print(f"DenseNet-{depth}: blocks {spec.block_config} -> "
          f"{weighted_layers(spec.block_config)} weighted layers")

# %% nbgrader={"grade": true, "grade_id": "ex-2-1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert weighted_layers((6, 12, 24, 16)) == 121
assert weighted_layers((6, 12, 24, 16), bottleneck=False) == 63
### BEGIN HIDDEN TESTS
for config, bn_size in [((6, 12, 32, 32), 4), ((2, 3), 4), ((4, 4, 4, 4), None), ((5,), None)]:
    reference = DenseNet(config, growth_rate=8, init_features=16, bn_size=bn_size, classes=10)
    assert weighted_layers(config, bottleneck=bn_size is not None) == \
        count_weighted_layers(reference), config
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2.2: DenseNet-BC for CIFAR, from its depth
#
# The paper's CIFAR nets have three dense blocks of equal length, bottleneck layers,
# θ = 0.5, $2k$ initial features and a single 3×3 convolution as stem. Their depth is
# $L = 6n + 4$ for $n$ layers per block.
#
# 1. Write `bc_block_config(depth)`, which returns the block configuration `(n, n, n)`
#    and raises a `ValueError` for a depth that is not of the form $6n + 4$ with
#    $n \geq 1$.
# 2. Build `bc100`, DenseNet-BC with $L = 100$ and $k = 12$, with the `DenseNet` class
#    (`bn_size=4`, `stem="cifar"`, 10 classes, `in_channels=3`), and count its
#    parameters. The paper's Table 2 gives 0.8 M.

# %% nbgrader={"grade": false, "grade_id": "ex-2-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bc_block_config(depth):
    ### BEGIN SOLUTION
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"DenseNet-BC depth must be 6n + 4 with n >= 1, got {depth}")
    n = (depth - 4) // 6
    return (n, n, n)
    ### END SOLUTION


### BEGIN SOLUTION
bc100 = DenseNet(bc_block_config(100), growth_rate=12, init_features=24, bn_size=4,
                 compression=0.5, stem="cifar", classes=10, in_channels=3)
### END SOLUTION
bc100.initialize()
print(f"DenseNet-BC (L=100, k=12): {count_parameters(bc100):,} parameters, "
      f"{count_weighted_layers(bc100)} weighted layers")

# %% nbgrader={"grade": true, "grade_id": "ex-2-2-test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert bc_block_config(100) == (16, 16, 16)
assert abs(count_parameters(bc100) - 0.8e6) / 0.8e6 < 0.05, "Table 2: 0.8 M parameters"
### BEGIN HIDDEN TESTS
assert bc_block_config(250) == (41, 41, 41)
assert bc_block_config(190) == (31, 31, 31)
for bad in (101, 99, 4):
    try:
        bc_block_config(bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"depth {bad} must be refused")
reference = densenet_bc(100, 12, classes=10, in_channels=3)
reference.initialize()
assert count_parameters(bc100) == count_parameters(reference)
assert count_weighted_layers(bc100) == 100
### END HIDDEN TESTS
