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
# # Exercise 7. Why does DenseNet have fewer parameters than ResNet?
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

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from gluon_densenet import densenet63_classic, get_model
from gluon_densenet.analysis.parameters import classifier_in_units, stage_parameters
from gluon_densenet.notebook import load_result, results_path

# %matplotlib inline
pd.set_option("display.width", 120)

MODELS = ["densenet121", "resnet18_v1", "resnet50_v1"]
nets = {m: get_model(m, classes=1000) for m in MODELS}
parts = {m: stage_parameters(net) for m, net in nets.items()}
order = ["stem", "stage 1", "transition 1", "stage 2", "transition 2", "stage 3",
         "transition 3", "stage 4", "final norm", "classifier"]
table = pd.DataFrame(parts).reindex(order).fillna(0).astype(int)
table.loc["total"] = table.sum()
print(table.to_string(formatters={m: "{:,}".format for m in MODELS}))

# %% [markdown]
# The totals are the published ones: 7,978,856 (DenseNet-121), 11,689,512
# (ResNet-18) and 25,575,912 (ResNet-50). As a chart:

# %%
fig, ax = plt.subplots(figsize=(8, 3.8))
x = np.arange(len(MODELS))
bottom = np.zeros(len(MODELS))
colours = plt.get_cmap("tab20")(np.linspace(0, 1, len(order)))
for part, colour in zip(order, colours):
    values = table.loc[part, MODELS].to_numpy() / 1e6
    if values.any():
        ax.bar(x, values, bottom=bottom, label=part, color=colour, width=0.6)
        bottom += values
ax.set_xticks(x, MODELS)
ax.set_ylabel("parameters (millions)")
ax.set_title("learnable parameters per part, 1000 classes")
ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8)
ax.grid(True, axis="y", alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 1. Channel widths: the layers stay narrow
#
# A convolution with a *k×k* kernel from *C_in* to *C_out* channels has
# *k²·C_in·C_out* weights. ResNet doubles the width of every layer at every stage, so
# its last stage is all 3×3 convolutions from 512 to 512 channels (ResNet-18). A dense
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
classic = stage_parameters(densenet63_classic(classes=1000, in_channels=3))
compare = pd.DataFrame({"with 1×1 bottleneck (DenseNet-121)": parts["densenet121"],
                        "without (densenet63_classic)": classic}).reindex(order).fillna(0)
compare.loc["total"] = compare.sum()
print(compare.astype(int).to_string(formatters={c: "{:,}".format for c in compare.columns}))

# %% [markdown]
# Without the bottleneck the deep blocks 3 and 4 cost about 1.5–1.6× more, while
# block 1 (narrow inputs, where the 1×1 convolution is pure overhead) is cheaper. The
# bottleneck is part of the saving, but even without it the DenseNet has fewer
# parameters than ResNet-18: the narrow growth is the main reason.
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
# ## 4. Accuracy per parameter, from the runs of Exercises 5 and 6
#
# Test accuracy on Fashion-MNIST per million parameters, read from the committed
# results (the ResNets were not trained in these exercises, so only DenseNets
# appear; the accuracy is what each net reached within its time budget):

# %% tags=["nbval-ignore-output"]
rows = []
family = load_result(results_path("05_family.json"))
if family is not None:
    rows += [{**r["row"], "source": f"Exercise 5, {family['budget_s']:.0f} s"}
             for r in family["runs"]]
best = load_result(results_path("05_best_small_net.json"))
if best is not None:
    rows.append({**best["row"], "source": f"Exercise 5, {best['row']['budget_s']:.0f} s"})
pooling = load_result(results_path("06_pooling.json"))
if pooling is not None:
    for pool in ("avg", "max"):
        accs = [r["row"] for r in pooling["runs"] if r["row"]["pool"] == pool]
        rows.append({**accs[0], "label": f"d2l-21 {pool} pool (mean of {len(accs)})",
                     "test_acc": float(np.mean([a["test_acc"] for a in accs])),
                     "source": f"Exercise 6, {pooling['epochs']} epochs"})
if not rows:
    print("no full-run results yet: run notebooks 05 and 06 with GLUON_DENSENET_SMOKE=0")
else:
    acc = pd.DataFrame(rows)[["label", "source", "params", "test_acc"]]
    acc["acc per M params"] = acc["test_acc"] / (acc["params"] / 1e6)
    print(acc.to_string(index=False, float_format="%.4f"))

# %% [markdown]
# Accuracy per parameter is not a fair score on its own — it rewards the smallest net
# whatever its accuracy — but it makes the point of this exercise concrete: on
# Fashion-MNIST a few hundred thousand well-used parameters do most of the work.
#
# ## Try it yourself
#
# * Break down `densenet169`, `densenet201` or `resnet34_v1` (via
#   `gluon_densenet.get_model`): which stage grows?
# * Change the compression: `DenseNet((6, 12, 24, 16), compression=1.0, classes=1000,
#   in_channels=3)` — how much do the transitions save?
# * Double the growth rate to *k* = 64: parameters grow about 4×, not 2×. Why?
