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

# %%
import matplotlib.pyplot as plt
import pandas as pd

from gluon_densenet import densenet63_classic, get_model
from gluon_densenet.analysis.parameters import classifier_in_units, stage_parameters
from gluon_densenet.notebook import describe_run, load_result, results_path
from gluon_densenet.plots import stacked_bars

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
# *k²·C_in·C_out* weights. ResNet doubles the width of every layer at every stage, so
# three of the four 3×3 convolutions of ResNet-18's last stage go from 512 to 512
# channels (the first goes from 256 to 512, next to a 1×1 projection). A dense
# layer, however deep in the net, only *adds* *k* = 32 channels: its 3×3 convolution
# always goes from 4*k* = 128 to 32 channels. Per layer:

# %%
convs = {
    "ResNet-18 stage 4, 3×3 conv 512→512": 3 * 3 * 512 * 512,
    "ResNet-50 stage 4, 1×1 conv 512→2048": 1 * 1 * 512 * 2048,
    "DenseNet-121 layer, 3×3 conv 128→32": 3 * 3 * 128 * 32,
    "DenseNet-121 widest layer, 1×1 conv 992→128": 1 * 1 * (512 + 15 * 32) * 128,
}
for name, n in convs.items():
    print(f"{name:45s} {n:>10,}")
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
# without bottlenecks (`densenet63_classic`, the classic tutorial's net):

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
    print(f"{m:12s} classifier input {width:5d} → 1000 classes: "
          f"{table.loc['classifier', m]:>9,} parameters "
          f"({table.loc['classifier', m] / table.loc['total', m]:.1%} of the net); "
          f"with 10 classes: {width * 10 + 10:,}")

# %% [markdown]
# DenseNet-121's final concatenation has 1024 channels, between ResNet-18's 512 and
# ResNet-50's 2048. With 1000 ImageNet classes that is 1.0 M parameters, an eighth of
# DenseNet-121; with Fashion-MNIST's 10 classes the classifier all but vanishes
# (10,250) and DenseNet-121 drops to about 7.0 M parameters.
#
# ## 4. Accuracy against parameters, from chapter 5
#
# Fewer parameters only matter if accuracy survives. Chapter 5 trained six DenseNets
# under identical conditions (the same recipe, the same number of epochs, the same
# seeds), so its runs can be put side by side; runs from different exercises cannot,
# since they trained for different epochs or budgets. The ResNets were not trained in
# this book. Mean test accuracy on Fashion-MNIST against parameters (10 classes, 1 input
# channel), read from chapter 5's committed full run:

# %% tags=["nbval-ignore-output"]
family = load_result(results_path("05_family.json"))
if family is None:
    print("no full-run results yet: run notebook 05 with GLUON_DENSENET_SMOKE=0")
else:
    print(describe_run(family))
    runs = pd.DataFrame([r["row"] for r in family["runs"]])
    acc = (runs.groupby("label")
           .agg(params=("params", "first"), seeds=("seed", "nunique"),
                epochs=("epochs", "mean"), test_acc=("test_acc", "mean"))
           .sort_values("params"))
    print(acc.to_string(float_format="%.4f"))
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.scatter(acc["params"], acc["test_acc"])
    for label, row in acc.iterrows():
        ax.annotate(label, (row["params"], row["test_acc"]), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("mean test accuracy")
    ax.set_title(f"Chapter 5: {acc['epochs'].iloc[0]:.0f} epochs, "
                 f"{acc['seeds'].iloc[0]} seeds per net")
    ax.grid(True, alpha=0.3)
    plt.show()
    small, large = acc.iloc[0], acc.iloc[-1]
    print(f"The smallest net, {small.name} ({small['params']:,.0f} parameters), reaches "
          f"{small['test_acc']:.2%}; the largest, {large.name} ({large['params'] / 1e6:.1f} M, "
          f"{large['params'] / small['params']:.0f}× as many), {large['test_acc']:.2%}.")

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
