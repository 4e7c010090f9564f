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
# # 7. Exercise: why does DenseNet have fewer parameters than ResNet?
#
# *The question:* DenseNet-121 has 121 weighted layers, ResNet-18 only 18, yet
# DenseNet-121 has about two thirds of ResNet-18's parameters and under a third of
# ResNet-50's. Where is the difference?
#
# We count the learnable parameters of each part of each network straight from the
# models (`gluon_densenet.analysis.parameters.stage_parameters`, which infers every weight
# shape from the hybridized graph): the stem, each stage (a dense block, or a ResNet
# stage of residual blocks), the transition layers between dense blocks, the final
# BatchNorm and the classifier. BatchNorm's running mean and variance are not learned
# and not counted. The classifiers have 1000 outputs, as on ImageNet, so the totals
# can be checked against the published ones.
#
# One correction first. Gluon's model-zoo `resnet50_v1` gives the 1×1 convolutions of
# its bottleneck blocks a bias; the authors' released ResNet-50 (the Caffe model
# definitions of He et al., 2016, `bias_term: false`) and torchvision's `resnet50`
# (its `conv1x1` is built with `bias=False`) have none. A bias directly before a
# BatchNorm is redundant (BatchNorm subtracts the batch mean and adds its own shift
# β), so the parts below leave convolution biases out (`conv_biases=False`) and
# describe the published architecture. What that changes:

# %% [markdown]
# **Learning objectives.** After this chapter you can
#
# * count the parameters of a convolution and of each stage of a network;
# * explain why DenseNet-121 has fewer parameters than ResNet-18 and ResNet-50;
# * say what the bottleneck, compression θ and the growth rate *k* cost in parameters.
#
# **Prerequisites.** Chapter 2; ResNet (*Dive into Deep Learning*, §8.6).
#
# **Run time on a 2-core CPU.** A few seconds in either mode (`make pages` prints each
# chapter's seconds): nothing is trained here; section 4 reads chapter 5's committed
# results.
#
# **References.**
#
# * Huang, Liu, van der Maaten and Weinberger (2017), *Densely Connected Convolutional
#   Networks*, CVPR, [arXiv:1608.06993](https://arxiv.org/abs/1608.06993).
# * He, Zhang, Ren and Sun (2016), *Deep Residual Learning for Image Recognition*, CVPR,
#   [arXiv:1512.03385](https://arxiv.org/abs/1512.03385).
# * Pleiss, Chen, Huang, Li, van der Maaten and Weinberger (2017), *Memory-Efficient
#   Implementation of DenseNets*, [arXiv:1707.06990](https://arxiv.org/abs/1707.06990).
# * Zhang, Lipton, Li and Smola, *Dive into Deep Learning*, §8.7 "Densely Connected
#   Networks (DenseNet)", <https://d2l.ai/chapter_convolutional-modern/densenet.html>.

# %%
from collections import Counter

import matplotlib.pyplot as plt
import pandas as pd

from gluon_densenet import densenet63_classic, get_model
from gluon_densenet.analysis.parameters import (
    STAGE_PATTERN,
    classifier_in_units,
    learnable_shapes,
    stage_parameters,
)
from gluon_densenet.chapters import describe_run, load_result, results_path
from gluon_densenet.plots import accuracy_errorbars, stacked_bars

# %matplotlib inline
pd.set_option("display.width", 120)

MODELS = ["densenet121", "resnet18_v1", "resnet50_v1"]
nets = {m: get_model(m, classes=1000) for m in MODELS}
for m, net in nets.items():
    gluon = sum(stage_parameters(net).values())
    published = sum(stage_parameters(net, conv_biases=False).values())
    print(f"{m:12s} as Gluon builds it {gluon:>11,}; without convolution biases "
          f"{published:>11,} (difference {gluon - published:,})")

# %% [markdown]
# The parts, without convolution biases:

# %%
parts = {m: stage_parameters(net, conv_biases=False) for m, net in nets.items()}
order = ["stem", "stage 1", "transition 1", "stage 2", "transition 2", "stage 3",
         "transition 3", "stage 4", "final norm", "classifier"]
table = pd.DataFrame(parts).reindex(order).fillna(0).astype(int)
table.loc["total"] = table.sum()
print(table.to_string(formatters={m: "{:,}".format for m in MODELS}))

# %% [markdown]
# The totals are the published ones: 7,978,856 (DenseNet-121), 11,689,512 (ResNet-18)
# and 25,557,032 (ResNet-50), the counts torchvision's documentation lists for its
# ImageNet weights of the same architectures (the ResNet paper's Table 1 gives FLOPs,
# not parameter counts). As a chart:

# %%
stacked_bars(table.loc[order, MODELS] / 1e6, "parameters (millions)",
             "learnable parameters per part, 1000 classes", figsize=(8, 3.8))
plt.show()

# %% [markdown]
# ## 1. Channel widths: the layers stay narrow
#
# A convolution with a *k×k* kernel from *C_in* to *C_out* channels has
# *k²·C_in·C_out* weights. ResNet doubles its width once per stage: the first block
# of stages 2 to 4 doubles the channels (and halves the map, with a 1×1 projection on
# the shortcut), and every other convolution of the stage keeps that width. So three
# of the four 3×3 convolutions of ResNet-18's last stage go from 512 to 512 channels,
# and the first from 256 to 512. A dense layer, however deep in the net, only *adds*
# *k* = 32 channels: its 3×3 convolution always goes from 4*k* = 128 to 32 channels,
# while its 1×1 convolution reads the growing concatenation. The convolutions of each
# stage, read from the nets' weight shapes (count × kernel, input → output channels):

# %%
for m, net in nets.items():
    per_stage: dict[int, list[tuple[int, int, int]]] = {}
    for name, shape in learnable_shapes(net, (1, 3, 224, 224)):
        stage = STAGE_PATTERN.search(name)
        if stage and len(shape) == 4:                 # a convolution's (out, in, k, k)
            out_c, in_c, k, _ = shape
            per_stage.setdefault(int(stage.group(1)), []).append((k, in_c, out_c))
    if m.startswith("resnet"):
        widths = [max(out_c for _, _, out_c in convs) for convs in per_stage.values()]
        print(f"{m}: output width per stage {' → '.join(map(str, widths))}")
    else:
        print(f"{m}:")
    for stage, convs in per_stage.items():
        if m.startswith("resnet"):                    # every (kernel, in, out), counted
            kinds = Counter(f"{k}×{k} {i}→{o}" for k, i, o in convs)
        else:                                         # the 1×1 inputs grow layer by layer
            kinds = Counter(f"{k}×{k} {min(i for kk, i, _ in convs if kk == k)}…"
                            f"{max(i for kk, i, _ in convs if kk == k)}→{o}" if k == 1
                            else f"{k}×{k} {i}→{o}" for k, i, o in convs)
        print(f"  stage {stage}: " + ", ".join(f"{n}× {kind}" for kind, n in kinds.items()))

# %% [markdown]
# (For DenseNet-121, the range is the input width of the block's 1×1 convolutions,
# 32 more from one layer to the next.) The weights of single convolutions:

# %%
convs = {
    "ResNet-18 stage 4, 3×3 conv 512→512": 3 * 3 * 512 * 512,
    "ResNet-50 stage 4, 1×1 conv 512→2048": 1 * 1 * 512 * 2048,
    "DenseNet-121 layer, 3×3 conv 128→32": 3 * 3 * 128 * 32,
    "DenseNet-121 widest layer, 1×1 conv 992→128": 1 * 1 * (512 + 15 * 32) * 128,
}
for name, n in convs.items():
    print(f"{name:45s} {n:>10,}")
print(f"ResNet-18's 3×3 512→512 convolution has ×{3 * 3 * 512 * 512 / (3 * 3 * 128 * 32):.0f} "
      f"the weights of a dense layer's 3×3 128→32")
share = table.loc["stage 4", "resnet18_v1"] / table.loc["total", "resnet18_v1"]
print(f"ResNet-18 stage 4 holds {share:.0%} "
      f"of its parameters; DenseNet-121's largest part, stage 3, holds "
      f"{table.loc['stage 3', 'densenet121'] / table.loc['total', 'densenet121']:.0%}.")

# %% [markdown]
# So although DenseNet-121 has 58 dense layers (116 convolutions), each is cheap: the
# 3×3 convolution of a dense layer has 64× fewer weights than one of ResNet-18's
# last-stage convolutions. ResNet spends most of its parameters in its last stage,
# where the channels are widest; DenseNet's stages grow only linearly, by *k* per
# layer, and the **transitions** halve the width (compression θ = 0.5) before every
# new block.
#
# ## 2. The 1×1 bottleneck
#
# The input of a dense layer grows — up to 512 + 15·32 = 992 channels in the last block. Without
# the bottleneck, each layer's 3×3 convolution would read all of them:
# *9·C_in·k* weights instead of *C_in·4k + 9·4k·k*. The same block configuration
# without bottlenecks is `densenet63_classic`: the plain layers of the 2017 Gluon
# tutorial's "DenseNet-121" (chapter 2), with transitions that halve the channels as
# that tutorial's text says (its code does not; chapter 2 shows its widths):

# %%
classic = stage_parameters(densenet63_classic(classes=1000, in_channels=3),
                           conv_biases=False)
compare = pd.DataFrame({"with 1×1 bottleneck (DenseNet-121)": parts["densenet121"],
                        "without (densenet63_classic)": classic}).reindex(order).fillna(0)
compare.loc["total"] = compare.sum()
print(compare.astype(int).to_string(formatters={c: "{:,}".format for c in compare.columns}))
with_b, without_b = compare.loc["total"]
resnet18 = table.loc["total", "resnet18_v1"]
for stage in ("stage 1", "stage 3", "stage 4"):
    ratio = compare.loc[stage].iloc[1] / compare.loc[stage].iloc[0]
    print(f"{stage}: without the bottleneck ×{ratio:.2f}")
print(f"gap to ResNet-18 ({resnet18:,}): {resnet18 - with_b:,.0f} with the bottleneck, "
      f"{resnet18 - without_b:,.0f} without; the bottleneck accounts for "
      f"{(without_b - with_b) / (resnet18 - with_b):.0%} of DenseNet-121's saving")

# %% [markdown]
# Without the bottleneck the deep blocks cost more, while block 1 (narrow inputs, where
# the 1×1 convolution is pure overhead) is cheaper (the ratios above). Even without the
# bottleneck the DenseNet is a little smaller than ResNet-18, but most of DenseNet-121's
# saving against ResNet-18 comes from the bottleneck (the share printed above).
#
# ## 3. The classifier's input width
#
# Every net ends in global average pooling and one fully connected layer whose input
# is the last stage's channel count:

# %%
for m, net in nets.items():
    width = classifier_in_units(net)
    ten = width * 10 + 10
    print(f"{m:12s} classifier input {width:5d} → 1000 classes: "
          f"{table.loc['classifier', m]:>9,} parameters "
          f"({table.loc['classifier', m] / table.loc['total', m]:.1%} of the net); "
          f"with 10 classes: {ten:,}, the net "
          f"{table.loc['total', m] - table.loc['classifier', m] + ten:,}")

# %% [markdown]
# DenseNet-121's final concatenation has 1024 channels, between ResNet-18's 512 and
# ResNet-50's 2048. With 1000 ImageNet classes that is 1,025,000 parameters, an eighth
# of DenseNet-121; with Fashion-MNIST's 10 classes the classifier all but vanishes
# (10,250) and DenseNet-121 drops to 6,964,106 parameters (with 3 input channels;
# chapter 5's nets read 1).
#
# ## 4. Accuracy against parameters, from chapter 5
#
# Fewer parameters only matter if accuracy survives. Chapter 5 trained six DenseNets
# under identical conditions (the same recipe, the same number of epochs, the same
# seeds), so its runs can be put side by side; runs from different exercises cannot,
# since they trained for different epochs or budgets. The ResNets were not trained in
# this book. Validation accuracy (on images chapter 5 holds out of Fashion-MNIST's
# training set) against parameters (10 classes, 1 input channel), read from chapter 5's
# committed full run: the mean over seeds, with the standard deviation as error bars.
# Parameters are on the x axis only; the input size, which changes the computation
# but not the parameters, is the marker.

# %% tags=["nbval-ignore-output"]
family = load_result(results_path("05_family.json"))
if family is None:
    print("no full-run results yet: run notebook 05 with GLUON_DENSENET_SMOKE=0")
else:
    print(describe_run(family))
    runs = pd.DataFrame([r["row"] for r in family["runs"]])
    runs["resize"] = runs["resize"].astype(int)
    acc = (runs.groupby("label")
           .agg(params=("params", "first"), input_px=("resize", "first"),
                seeds=("seed", "nunique"), epochs=("epochs", "mean"),
                val_acc=("val_acc", "mean"), val_std=("val_acc", "std"))
           .sort_values(["params", "input_px"]))
    print(acc.to_string(formatters={"params": "{:,}".format, "epochs": "{:.1f}".format,
                                    "val_acc": "{:.4f}".format, "val_std": "{:.4f}".format}))
    fig, ax = plt.subplots(figsize=(8, 3.8))
    accuracy_errorbars(ax, acc, "params", [2e5, 5e5, 1e6, 2e6, 5e6], "parameters (log scale)",
                       std="val_std", px="input_px")
    ax.set_ylabel("validation accuracy (chapter 5)")
    ax.set_title(f"Chapter 5: {acc['epochs'].iloc[0]:.0f} epochs, mean ± std over "
                 f"{acc['seeds'].iloc[0]} seeds per net")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1),
              title="net (marker: input size)", title_fontsize=8)
    fig.tight_layout()
    plt.show()
    small, large = acc.iloc[0], acc.iloc[-1]
    print(f"The smallest net, {small.name} ({small['params']:,.0f} parameters), reaches "
          f"{small['val_acc']:.2%} ± {small['val_std']:.2%}; the largest, {large.name} "
          f"({large['params'] / 1e6:.1f} M, {large['params'] / small['params']:.0f}× as many), "
          f"{large['val_acc']:.2%} ± {large['val_std']:.2%}.")
    for params, same in acc.groupby("params"):
        if len(same) > 1:
            print(f"Same parameters ({params:,}), different input size: "
                  + ", ".join(f"{label} ({row['input_px']:.0f} px) {row['val_acc']:.2%}"
                              for label, row in same.iterrows()))

# %% [markdown]
# These figures hold for a short schedule on a small data set: they say how much
# accuracy the parameters buy after a few epochs, not at the end of a full schedule,
# where the ranking may differ.
#
# ## Try it yourself
#
# * Break down `densenet169`, `densenet201` or `resnet34_v1` (via
#   `gluon_densenet.get_model`): which stage grows?
# * Change the compression: `DenseNet((6, 12, 24, 16), compression=1.0, classes=1000,
#   in_channels=3)` — how much do the transitions save?
# * Double the growth rate to *k* = 64: parameters grow about 4×, not 2×. Why?

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your answer and, where code can check the answer, a cell
# of tests. In the teacher's version (the chapters in `notebooks/` and their web pages) the
# answer cells hold model answers. The classroom edition (`make student`) empties them,
# and further tests, hidden from students, run when nbgrader grades the work.
#
# ### Exercise 7.1: the weights of a convolution
#
# Write `conv_params(c_in, c_out, kernel, bias=False)`, the number of parameters of a
# 2-D convolution with a `kernel`×`kernel` window from `c_in` to `c_out` channels, with
# or without one bias per output channel. The cell recomputes the per-layer counts of
# section 1.

# %% nbgrader={"grade": false, "grade_id": "ex-7-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_params(c_in, c_out, kernel, bias=False):
    ### BEGIN SOLUTION
    return kernel * kernel * c_in * c_out + (c_out if bias else 0)
    ### END SOLUTION


for name, (c_in, c_out, kernel) in {"ResNet-18 stage 4, 3×3 conv": (512, 512, 3),
                                    "DenseNet-121 layer, 3×3 conv": (128, 32, 3),
                                    "DenseNet-121 widest 1×1 conv": (992, 128, 1)}.items():
    print(f"{name:30s} {conv_params(c_in, c_out, kernel):>9,}")

# %% nbgrader={"grade": true, "grade_id": "ex-7-1-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert conv_params(512, 512, 3) == 2_359_296
### BEGIN HIDDEN TESTS
from mxnet.gluon import nn

from gluon_densenet import count_parameters

for c_in, c_out, kernel, bias in [(3, 64, 7, False), (992, 128, 1, False), (5, 7, 3, True)]:
    conv = nn.Conv2D(c_out, kernel, use_bias=bias, in_channels=c_in)
    conv.initialize()
    assert conv_params(c_in, c_out, kernel, bias) == count_parameters(conv)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 7.2: what does compression save?
#
# Write `params_with_compression(theta)`, the number of parameters of DenseNet-121
# (1000 classes, RGB input) built with the `DenseNet` class and compression θ =
# `theta`, everything else as in the paper's DenseNet-121. The cell prints the count
# without compression, with the paper's θ = 0.5 and with θ = 0.25.

# %% nbgrader={"grade": false, "grade_id": "ex-7-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
from gluon_densenet import DenseNet, count_parameters


def params_with_compression(theta):
    ### BEGIN SOLUTION
    net = DenseNet((6, 12, 24, 16), compression=theta, classes=1000, in_channels=3)
    net.initialize()
    return count_parameters(net)
    ### END SOLUTION


for theta in (1.0, 0.5, 0.25):
    print(f"θ = {theta:4}: {params_with_compression(theta):>10,} parameters")

# %% nbgrader={"grade": true, "grade_id": "ex-7-2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert params_with_compression(0.5) == 7_978_856, "DenseNet-121's published count"
### BEGIN HIDDEN TESTS
for theta in (1.0, 0.25):
    reference = DenseNet((6, 12, 24, 16), growth_rate=32, init_features=64, bn_size=4,
                         compression=theta, classes=1000, in_channels=3)
    reference.initialize()
    assert params_with_compression(theta) == count_parameters(reference)
assert params_with_compression(1.0) > params_with_compression(0.5) > params_with_compression(0.25)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 7.3: doubling the growth rate
#
# Compute `k64_ratio`, the parameters of DenseNet-121 with growth rate $k = 64$ divided
# by those of the real one ($k = 32$). Change nothing else: the 64 initial features,
# the bottleneck width $4k$, θ = 0.5 and the 1000 classes stay. Then explain
# in the cell after the tests why doubling $k$ multiplies the parameters by nearly 4,
# and why not by exactly 4.

# %% nbgrader={"grade": false, "grade_id": "ex-7-3-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
def densenet121_params(k):
    net = DenseNet((6, 12, 24, 16), growth_rate=k, classes=1000, in_channels=3)
    net.initialize()
    return count_parameters(net)


k64_ratio = densenet121_params(64) / densenet121_params(32)
### END SOLUTION
print(f"k = 64 against k = 32: ×{k64_ratio:.2f} parameters")

# %% nbgrader={"grade": true, "grade_id": "ex-7-3-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert 3 < k64_ratio < 4
### BEGIN HIDDEN TESTS
wide = DenseNet((6, 12, 24, 16), growth_rate=64, classes=1000, in_channels=3)
wide.initialize()
assert abs(k64_ratio - count_parameters(wide) / 7_978_856) < 0.005
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-7-3-written", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer.* Most of DenseNet's weights sit in its dense layers, and both of a
# layer's convolutions scale with $k$ twice over. The 3×3 convolution reads $4k$
# channels and writes $k$: $9 \cdot 4k \cdot k = 36k^2$ weights, four times as many at
# $2k$. The 1×1 convolution reads $c_\text{in} = c_0 + \ell k$ channels and writes
# $4k$; the $\ell k$ part also grows fourfold. Not everything does, though: the stem
# (3 → 64 channels, 7×7) does not depend on $k$ at all, the 64 initial features
# enter block 1's $c_0$ unchanged, and the classifier, whose input width grows with
# $k$, has a fixed 1000 outputs, so it only doubles. Those parts pull the ratio below
# 4: the cell above measured ×3.66.
