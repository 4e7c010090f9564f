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
# # 9. Feature reuse, measured: what a trained DenseNet reads
#
# *The question:* the DenseNet paper rests on three claims. Its layers **reuse** the
# features of earlier layers (its Figure 5); the dense connections give every layer a
# **short path to the loss**, a kind of implicit deep supervision (its §1 and §5); and a
# DenseNet reaches an accuracy with **fewer parameters and fewer FLOPs** than a ResNet
# (its Figure 3). Chapter 1 said that features "can be reused"; this chapter measures
# whether they are, on a net trained in this book, and says where each claim holds and
# where it stops.
#
# **Two modes.** With `GLUON_DENSENET_SMOKE=1` (how CI runs this notebook) the chapter
# trains on 640 images of the subset shipped with the package for one epoch, so its maps
# and accuracies mean nothing; without it, it trains chapter 3's network on the full
# training set. **The page you are reading is a full run**; the label printed above each
# result says when and on what machine it ran.

# %% [markdown]
# **Learning objectives.** After this chapter you can
#
# * read a dense layer's weights by the source of its input channels, and draw the
#   paper's feature-reuse heat maps for any trained DenseNet;
# * test the paper's four observations on such maps in code, and tell what training
#   changed from what the architecture gives at initialisation;
# * measure the gradient that reaches each layer in one backward pass, and compare a
#   DenseNet with a plain stack and a ResNet of the same depth;
# * count a network's multiply-adds at any input size, and set accuracy against
#   parameters and against computation;
# * run a paired comparison of a regulariser (dropout) and say what it can and cannot show.
#
# **Prerequisites.** Chapters 1 (the dense block's concatenation order), 3 (training) and
# 5 (the validation split and the family of small nets); convolution arithmetic (*Dive
# into Deep Learning*, §7.3); dropout (§5.6).
#
# **Run time on a 2-core CPU.** Under a minute in smoke mode. In a full run nearly all of
# it is two trainings of chapter 3's network, with and without dropout; the results are
# committed (`notebooks/results/09_feature_reuse.json`) and reused while the settings are
# unchanged, and the label above them gives the minutes they took.
#
# **References.**
#
# * Huang, Liu, van der Maaten and Weinberger (2017), *Densely Connected Convolutional
#   Networks*, CVPR, [arXiv:1608.06993](https://arxiv.org/abs/1608.06993): Figure 5 and
#   §5 ("Feature Reuse"), Figure 3 (parameters and FLOPs), §4.2 (dropout 0.2 without
#   augmentation).
# * Lee, Xie, Gallagher, Zhang and Tu (2015), *Deeply-Supervised Nets*, AISTATS,
#   [arXiv:1409.5185](https://arxiv.org/abs/1409.5185) (the supervision DenseNet's
#   authors compare the short paths with).
# * He, Zhang, Ren and Sun (2016), *Deep Residual Learning for Image Recognition*, CVPR,
#   [arXiv:1512.03385](https://arxiv.org/abs/1512.03385), and *Identity Mappings in Deep
#   Residual Networks*, ECCV, [arXiv:1603.05027](https://arxiv.org/abs/1603.05027).
# * torchvision's model documentation, the weights tables of `densenet121/169/201` and
#   `resnet18/50` (GFLOPS and ImageNet accuracy),
#   <https://pytorch.org/vision/stable/models.html>.
# * Yang, Pennington, Rao, Sohl-Dickstein and Schoenholz (2019), *A Mean Field Theory of
#   Batch Normalization*, ICLR, [arXiv:1902.08129](https://arxiv.org/abs/1902.08129).
# * Srivastava, Hinton, Krizhevsky, Sutskever and Salakhutdinov (2014), *Dropout: A
#   Simple Way to Prevent Neural Networks from Overfitting*, JMLR 15.
# * Pleiss, Chen, Huang, Li, van der Maaten and Weinberger (2017), *Memory-Efficient
#   Implementation of DenseNets*, [arXiv:1707.06990](https://arxiv.org/abs/1707.06990).
# * Zhang, Lipton, Li and Smola, *Dive into Deep Learning*, §8.7 "Densely Connected
#   Networks (DenseNet)", <https://d2l.ai/chapter_convolutional-modern/densenet.html>.

# %% tags=["nbval-ignore-output"]
import gluon_densenet  # noqa: F401, I001  first: MXNet then uses one thread per core
import inspect
from dataclasses import replace

import matplotlib.pyplot as plt
import mxnet as mx
import numpy as np
import pandas as pd
from mxnet.gluon.model_zoo import vision

from gluon_densenet import evaluate, get_model
from gluon_densenet.analysis.budget import NetSpec, budgeted_run
from gluon_densenet.analysis.feature_reuse import (
    USED,
    ReuseMap,
    mean_abs_by_source,
    paper_observations,
    reuse_maps,
    source_slices,
)
from gluon_densenet.analysis.flops import TORCHVISION_GFLOPS, count_flops, layer_flops
from gluon_densenet.analysis.gradient_flow import layer_gradients, plain_counterpart
from gluon_densenet.analysis.parameters import stage_parameters
from gluon_densenet.chapters import (
    choose,
    describe_run,
    load_result,
    results_path,
    run_or_load,
    smoke_mode,
)
from gluon_densenet.data import load_splits
from gluon_densenet.models import DenseBlock
from gluon_densenet.plots import accuracy_errorbars, epoch_axis, reuse_heatmaps

# %matplotlib inline
pd.set_option("display.width", 120)

SMOKE = smoke_mode()
SEED = 0
EPOCHS = choose(1, 10)                   # chapter 3's schedule
STOP_S = choose(120.0, 3600.0)           # a safety stop only; no run should reach it
VALIDATION = choose(128, 6000)
DATA = dict(batch_size=choose(64, 128), subset=SMOKE, limit=choose(640, None),
            test_limit=choose(320, None), validation=VALIDATION)
NET = NetSpec("d2l-21", (4, 4, 4, 4), growth_rate=32, init_features=64, resize=32)
DROPOUT = 0.2                            # the paper's rate for data without augmentation
print(f"{'smoke run (CI)' if SMOKE else 'full run'}: {NET.label}, seed {SEED}, "
      f"{EPOCHS} epoch(s), data {DATA}")
print(f"side of the feature maps in dense blocks 1-4 at {NET.resize} px: "
      f"{NET.build().spatial_sizes(NET.resize)}")
recipe = {name: p.default for name, p in inspect.signature(budgeted_run).parameters.items()
          if name in ("lr", "wd")}
print(f"recipe (budgeted_run's): SGD with momentum, cosine schedule, {recipe}")
SPLITS = load_splits(DATA["batch_size"], VALIDATION, resize=NET.resize, subset=SMOKE,
                     limit=DATA["limit"], test_limit=DATA["test_limit"], download=False,
                     seed=SEED)
print(SPLITS.describe())

# %% [markdown]
# ## 1. The net and its training
#
# The net is chapter 3's: *Dive into Deep Learning*'s DenseNet of 4 dense blocks of 4
# plain layers (BN → ReLU → 3×3 convolution), growth rate *k* = 32, 64 initial features,
# transitions that halve the channels, on 32 px Fashion-MNIST. It is trained twice with the
# same seed, data order and schedule (SGD with momentum, cosine learning rate, chapter 3's
# 10 epochs): once as it is, and once with the paper's dropout of 0.2 after every dense
# layer (section 7). As in chapters 5 and 6, 6,000 training images (600 per class) are held
# out as a validation split; the choice between the two is made on it, and the test set is
# used once, for the chosen net. The maps below read the net trained without dropout, and
# an untrained net of the same shape initialised with the same seed.


# %% tags=["nbval-ignore-output"]
def grid_to_json(grid: np.ndarray) -> list:
    return [[None if np.isnan(v) else float(v) for v in row] for row in grid]


def untrained_net(seed: int):
    """``NET`` initialised as ``budgeted_run`` initialises it for ``seed``."""
    mx.random.seed(seed)
    net = NET.build()
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, NET.resize, NET.resize)))
    return net


def experiment() -> dict:
    runs, maps, train_acc = {}, {}, {}
    for label, dropout in (("no dropout", 0.0), (f"dropout {DROPOUT}", DROPOUT)):
        run = budgeted_run(replace(NET, label=label, dropout=dropout), STOP_S, seed=SEED,
                           epochs=EPOCHS, keep_net=True, **DATA)
        runs[label] = run
        # training accuracy as the validation accuracy is measured: inference mode (no
        # dropout, BatchNorm's running statistics), after the last epoch
        train_acc[label] = evaluate(run.net, SPLITS.train)
        if dropout == 0:
            maps["trained"] = reuse_maps(run.net, input_size=NET.resize)
        print(f"{label}: validation accuracy {run.test_acc:.4f} after {run.epochs:.0f} "
              f"epoch(s), {run.epoch_s:.0f} s/epoch", flush=True)
    maps["untrained"] = reuse_maps(untrained_net(SEED), input_size=NET.resize)
    chosen = max(runs, key=lambda label: runs[label].test_acc)   # on validation
    test_acc = runs[chosen].evaluate_test()
    return {"runs": {label: r.to_dict() for label, r in runs.items()},
            "train_acc_inference": train_acc,
            "chosen": chosen, "chosen_test_acc": test_acc,
            "consumers": [m.consumer for m in maps["trained"]],
            "maps": {kind: [grid_to_json(m.weights) for m in ms] for kind, ms in maps.items()}}


result = run_or_load("09_feature_reuse.json",
                     {"net": NET.label, "epochs": EPOCHS, "seed": SEED, "dropout": DROPOUT,
                      "data": DATA, "maps": "centre tap on 1 px maps",
                      "train_acc": "inference mode"}, experiment)
print(describe_run(result))
MAPS = {kind: [ReuseMap(b + 1, consumer, np.array(grid, dtype=float))
               for b, (grid, consumer) in enumerate(zip(grids, result["consumers"]))]
        for kind, grids in result["maps"].items()}
history = {label: pd.DataFrame(run["history"]["records"]).set_index("epoch")
           for label, run in result["runs"].items()}
print(history["no dropout"][["train_loss", "train_acc", "test_acc", "time_s"]]
      .rename(columns={"test_acc": "val_acc"}).round(4).to_string())

# %% [markdown]
# (`val_acc` is the accuracy on the held-out validation split after each epoch.)
#
# ## 2. Reading a weight matrix by the source of its inputs
#
# Chapter 1 built the dense block's input by concatenation, in order: the block's input
# first, then layer 1's *k* channels, then layer 2's, and so on. So the first convolution
# of layer ℓ, with weights of shape (out, in, 3, 3), has its input channels in groups, one
# per source: channels 0 to *c₀*−1 come from the block's input (source 0), and the next
# *k* from layer 1. Here are the groups of the last layer of block 2, whose input is the
# first transition's output, and the mean absolute weight of each group
# (`mean_abs_by_source`):

# %% tags=["nbval-ignore-output"]
k, layers = NET.growth_rate, NET.block_config[1]
end_of_block1 = NET.init_features + NET.block_config[0] * k
c0 = int(end_of_block1 * NET.compression)
print(f"block 1 ends at {NET.init_features} + {NET.block_config[0]}·{k} = {end_of_block1} "
      f"channels; the first transition keeps θ = {NET.compression} of them: c₀ = {c0}")
for s, channels in enumerate(source_slices(c0, k, layers - 1)):
    print(f"source {s} ({'block input' if s == 0 else f'layer {s}'}): input channels "
          f"{channels.start}–{channels.stop - 1}")
block2 = MAPS["trained"][1]
print("mean |weight| of layer 4 of block 2 by source:",
      np.round(block2.weights[:layers, layers - 1], 4))
print("the same, divided by the largest:", np.round(block2.normalized()[:layers, layers - 1], 2))

# %% [markdown]
# The paper draws one such column per target layer and stacks them into a triangle per
# dense block; its caption defines each entry as the mean absolute weight, normalised by
# the number of input feature maps, as here. This chapter also divides each target's
# column by its largest entry (so every target's most-read source is 1), which puts all
# targets on one colour scale and makes the observations below comparisons within a
# column. The block's reader closes the triangle: the transition after it, or, after the
# last block, the classifier, whose weights also read the block's channels in that
# order (the final BatchNorm, ReLU and global pooling keep the channels in place).
#
# ## 3. Figure 5's method, applied to chapter 3's net
#
# Each square is one (source, target) pair; white squares are pairs that do not exist
# (a layer reads only earlier sources). The right-most column of each map, past the white
# line, is the block's reader: T for a transition, C for the classifier. The bottom row is
# the same net before training, initialised with the same seed.

# %% tags=["nbval-ignore-output"]
reuse_heatmaps({kind: [m.normalized() for m in maps] for kind, maps in MAPS.items()},
               result["consumers"],
               f"{NET.label}: mean |weight| by source, per target (trained {EPOCHS} epochs "
               "on Fashion-MNIST, and untrained)")
plt.show()

# %% [markdown]
# Before training, every source of a target is read alike: Xavier initialisation draws
# all of a convolution's weights from one distribution, so the untrained maps are flat,
# up to sampling noise. The trained maps are nearly as flat inside the blocks, and the
# classifier's column (C) moved the most. The untrained net is the trained one's
# starting point: `budgeted_run` seeds MXNet's generator, loads the data and initialises
# the net, and the same steps here draw the same weights as the untrained net of the
# maps, with and without dropout (checked in the next cell). So the ratio of a trained
# map to the untrained one says what training did to the weights that read each source:
# above 1, it made them larger on average.

# %% tags=["nbval-ignore-output"]
untrained = untrained_net(SEED)
for name, spec in (("without dropout", NET), ("with dropout", replace(NET, dropout=DROPOUT))):
    mx.random.seed(SEED)                # budgeted_run: seed, load the data, build, initialise
    load_splits(DATA["batch_size"], VALIDATION, resize=NET.resize, subset=SMOKE,
                limit=DATA["limit"], test_limit=DATA["test_limit"], download=False, seed=SEED)
    net = spec.build()
    net.initialize(mx.init.Xavier())
    same = all(np.array_equal(a.data().asnumpy(), b.data().asnumpy()) for a, b in
               zip(net.collect_params().values(), untrained.collect_params().values()))
    print(f"budgeted_run's steps, {name}, draw the untrained net's weights, every parameter "
          f"equal: {same}")
change = []
for trained, untrained in zip(MAPS["trained"], MAPS["untrained"]):
    ratio = trained.weights / untrained.weights
    for s_ in range(trained.layers + 1):
        change.append({"block": trained.block,
                       "source": "input" if s_ == 0 else f"layer {s_}",
                       "layers reading it": np.nanmean(ratio[s_, :-1]) if s_ < trained.layers
                       else np.nan,
                       "its reader": ratio[s_, -1]})
change = pd.DataFrame(change).pivot(index="source", columns="block")
print("mean |weight| after training / before, by source (rows) and block (columns):")
print(change.round(3).to_string())
print(f"range inside the blocks' layers: {np.nanmin(change['layers reading it'].to_numpy()):.3f}"
      f" to {np.nanmax(change['layers reading it'].to_numpy()):.3f}; in the readers "
      f"(transitions, classifier): {np.nanmin(change['its reader'].to_numpy()):.3f} to "
      f"{np.nanmax(change['its reader'].to_numpy()):.3f}")

# %% [markdown]
# In blocks 1 to 3, training changed a layer's weights on all its sources by nearly the
# same factor (each block's column under "layers reading it"), so the normalised maps,
# which compare sources, stayed close to flat. In block 4 (read at the centre tap, see
# below) the weights on the block's input grew more than those on its layers' outputs,
# and the classifier's weights (the column of block 4 under "its reader") changed the
# most, most of all on the block's input. Two things limit what these maps can show.
# First, the schedule: 10 epochs here, 300 in the paper. Second, the input is 32 px,
# and the printed feature-map sides shrink to 1 px in block 4: there a 3×3 convolution
# meets data only with the centre of its kernel, the other eight taps see only padding
# and get no gradient, only weight decay; the maps here read block 4 at the centre tap
# alone (`reuse_maps(net, input_size=32)`), since the other taps say nothing of what the
# layer reads. The paper's net also differs: a DenseNet of 40
# layers (3 blocks of 12, *k* = 12) without compression (θ = 1), trained on CIFAR-10 with
# augmentation, on maps of 32, 16 and 8 px. Its transitions kept every channel; this net's
# halve them, which may change how much a block's layers still read of the transition's
# output (observation 3).
#
# ## 4. The paper's four observations, tested
#
# Huang et al. read four observations off their Figure 5 (§5). Each becomes a test on the
# normalised maps (`paper_observations`; the docstring gives the exact rule), and each
# test reads one statistic, printed with its verdict. A source counts as *used* by a
# target when its weight is at least half that of the target's most-read source (`USED`).
# An untrained net's maps differ from seed to seed by sampling noise alone, so the same
# statistics are computed for five untrained nets (seeds 0 to 4): a trained value inside
# their range is one that training need not have produced.

# %% tags=["nbval-ignore-output"]
print(f"threshold for 'used': {USED}")
trained_verdicts = paper_observations(MAPS["trained"])
noise = [[v.value for v in paper_observations(reuse_maps(untrained_net(seed),
                                                         input_size=NET.resize))]
         for seed in range(5)]
low, high = np.min(noise, axis=0), np.max(noise, axis=0)
outside = []
for verdict, lo, hi in zip(trained_verdicts, low, high):
    beyond = not lo <= verdict.value <= hi
    outside.append(beyond)
    print(f"{verdict.claim}\n  trained: {'holds' if verdict.holds else 'does not hold'} - "
          f"{verdict.evidence}\n  statistic {verdict.value:+.3f}; untrained, 5 seeds: "
          f"{lo:+.3f} to {hi:+.3f}; outside that range: {beyond}")
READING = {(True, False): "holds, as it did before training",
           (True, True): "holds, and training moved its statistic out of the untrained range",
           (False, True): "does not hold, and training moved its statistic out of the "
                          "untrained range: this net differs from the paper's here",
           (False, False): "does not hold, but its statistic is within the untrained range: "
                           "not decided by this net"}
for verdict, beyond in zip(trained_verdicts, outside):
    print(f"observation {verdict.claim.split('.')[0]}: {READING[verdict.holds, beyond]}")

# %% [markdown]
# How to read the verdicts. Observations 1 and 2 (weights spread over the whole block)
# hold for untrained nets too, since their maps are flat: for them the question is
# whether training *keeps* the spread. Observations 3 and 4 are about an order among the
# sources, which an untrained net has only by chance: a verdict on them says something
# about this net's training only where its statistic left the untrained range. The last
# four lines give that reading for each observation, and name where this net, so
# measured, differs from the paper's CIFAR-10 net.
#
# Where this stops: one net, one seed, 10 epochs, maps still close to their starting
# point, and weights only. In a pre-activation layer BatchNorm scales every input channel
# before the convolution sees it, so a large weight on a channel that BatchNorm has shrunk
# is read less than its size suggests; the paper's maps and these leave that out
# (exercise 9.3). Whether the paper's observations 3 and 4 appear with a longer schedule
# or longer blocks is a question for "Try it yourself" below.
#
# ## 5. Short paths to the loss
#
# The second claim: in a DenseNet every layer's output reaches the block's reader
# directly, the transition or, in the last block, the classifier, so the loss supervises
# each layer through at most as many transition layers as follow its block (three here;
# "two or three" in the paper's §5), not only through all the layers above it. The paper
# compares this with *deeply-supervised nets*, which attach a classifier to every layer.
# A test: one backward pass of the mean cross-entropy on one batch of real images, and the
# gradient that reaches each weighted layer, from the stem (depth 1) to the classifier.
# Three nets, all untrained and initialised alike (Xavier), each with 21 weighted layers:
# the DenseNet; a **plain** stack with the same stem, transitions, widths at the block
# boundaries and classifier, in which every layer reads only the layer before it and so
# writes the block's full output width (`plain_counterpart`: wider layers, more
# parameters); and the model zoo's **ResNet-18**, whose identity shortcuts give another
# kind of short path (its 21 include the 3 projection shortcuts, so its longest path has
# 18; it is fed the same grey images repeated over its 3 input channels). The gradient's
# size is its root mean square per weight (the L2 norm divided by the square root of the
# number of weights); three seeds, the same batch.

# %% tags=["nbval-ignore-output"]
X, y = next(iter(SPLITS.train))


def builders():
    dense = NET.build()
    return {"DenseNet (d2l-21)": (dense, X),
            "plain stack, same depth": (plain_counterpart(dense), X),
            "ResNet-18 (model zoo)": (vision.get_model("resnet18_v1", classes=10),
                                      X.repeat(3, axis=1))}


gradients = []
for seed in (0, 1, 2):
    for name, (net, inputs) in builders().items():
        mx.random.seed(seed)
        net.initialize(mx.init.Xavier())
        for g in layer_gradients(net, inputs, y):
            gradients.append({"net": name, "seed": seed, "depth": g.depth, "name": g.name,
                              "rms": g.grad_rms})
gradients = pd.DataFrame(gradients)
profile = gradients.groupby(["net", "depth"])["rms"].agg(["mean", "min", "max"])

fig, ax = plt.subplots(figsize=(8, 3.8))
for name, rows in profile.groupby(level="net", sort=False):
    depth = rows.index.get_level_values("depth")
    ax.plot(depth, rows["mean"], marker="o", markersize=4, label=name)
    ax.fill_between(depth, rows["min"], rows["max"], alpha=0.2)
ax.set_yscale("log")
ax.set_xticks(range(1, int(gradients["depth"].max()) + 1, 2))
ax.set_xlabel("depth of the weighted layer (1 = stem convolution, last = classifier)")
ax.set_ylabel("gradient RMS per weight")
ax.set_title(f"One backward pass at initialisation, batch of {X.shape[0]}, "
             "mean and range over 3 seeds")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

last_depth = gradients.groupby("net")["depth"].transform("max")
convs = gradients[(gradients["depth"] > 1) & (gradients["depth"] < last_depth)]  # not stem, fc
by_seed = convs.sort_values("depth").groupby(["net", "seed"])["rms"]
convs = convs.assign(stage=convs["name"].str.extract(r"stage(\d)", expand=False))
in_stage = convs.dropna(subset=["stage"]).groupby(["net", "seed", "stage"])["rms"]
summary = pd.DataFrame({
    "largest / smallest": (by_seed.max() / by_seed.min()).groupby("net").mean(),
    "within a stage": (in_stage.max() / in_stage.min()).groupby("net").mean(),
    "share of steps growing towards the input": by_seed.apply(
        lambda r: float((np.diff(r.to_numpy()) < 0).mean())).groupby("net").mean()})
print("gradient RMS of the convolutions between the stem and the classifier, mean over "
      "3 seeds:")
print(summary.round(2).to_string())
growing = summary.index[summary["share of steps growing towards the input"] > 0.5].tolist()
print(f"nets whose gradient grows towards the input in most steps: {growing or 'none'}")
flattest = summary["largest / smallest"].idxmin()
print(f"The most even profile (smallest ratio of the largest to the smallest): {flattest}")


# %% [markdown]
# The table gives three figures per net for the convolutions between the stem and the
# classifier: how far apart their largest and smallest gradients are; the same within a
# stage (a dense block, or a ResNet stage), where the feature maps keep their size, so
# that the jumps at the transitions, where the maps shrink, do not count; and the share
# of the steps from one layer to the one below it (towards the input) in which the
# gradient grows. The stem itself is left out: it reads raw pixels, not a BatchNorm's
# output, and its gradient is of another size in every net (the plot's first point). The
# last line names the net whose layers receive the most even gradients, chosen by the
# first figure.
#
# The plot and the last column show the direction: at initialisation the gradient does
# not vanish on its way from the loss to the input; in the nets the line above names, it
# mostly **grows**. That agrees with Yang et al. (2019, in the references), who show that
# in a deep plain stack with BatchNorm the gradient explodes with depth at initialisation.
# The plain stack differs from the DenseNet in its connections and, through them, in its
# layers' widths; ResNet-18's identity shortcuts are the other kind of short path. A
# gradient's size per weight also depends on a layer's fan-in and on the size of its
# maps, which is why the second column compares layers within a stage.
#
# Where this stops: one batch, at initialisation, 21 layers, BatchNorm in every net; and
# the size of a gradient at the start of training says nothing of how useful it is.
# Whether the picture holds for a trained net, or at the depth of DenseNet-121, is left
# to "Try it yourself" below.
#
# ## 6. Computation beside parameters
#
# Parameters count what a net stores; **multiply-adds** count what it computes, and they
# depend on the input size, since every convolution is applied at every position of its
# input. `count_flops` walks the net's graph and adds up, per image, the multiply-adds of
# every convolution (output size × input channels per group × kernel area) and fully
# connected layer; BatchNorm, activations and pooling are not counted, as in
# torchvision's figures. First, the count against torchvision's published
# ones at 224 px (the model zoo's `resnet50_v1` puts the stride of its bottleneck blocks on
# the 1×1 convolution, as the original Caffe model does; torchvision's ResNet-50 puts it on
# the 3×3, as the zoo's `resnet50_v2` does, so the v2 net's convolutions are counted for
# that row):

# %%
RGB224 = (1, 3, 224, 224)
counted = {name: get_model(name) for name in ("densenet121", "densenet169", "densenet201")}
counted |= {"resnet18": get_model("resnet18_v1"), "resnet34": get_model("resnet34_v1"),
            **{f"resnet{d}": vision.get_model(f"resnet{d}_v2") for d in (50, 101, 152)}}
flops_table = pd.DataFrame(
    {"counted GMACs": {m: count_flops(net, RGB224) / 1e9 for m, net in counted.items()},
     "torchvision GFLOPS": TORCHVISION_GFLOPS,
     "parameters (M)": {m: sum(stage_parameters(net, conv_biases=False).values()) / 1e6
                        for m, net in counted.items()}})
flops_table["counted / published"] = (flops_table["counted GMACs"]
                                      / flops_table["torchvision GFLOPS"])
print(flops_table.round(3).to_string())
print(f"model zoo resnet50_v1 (stride on the 1×1): "
      f"{count_flops(get_model('resnet50_v1'), RGB224) / 1e9:.3f} GMACs")
print(f"largest deviation from the published figures: "
      f"{(flops_table['counted / published'] - 1).abs().max():.2%}")

# %% [markdown]
# The counts agree with the published figures (the largest deviation is printed last).
# Where DenseNet-121 spends them, block by block (`layer_flops` gives every layer; the
# names carry the stage), with the side of the feature maps each block works on:

# %%
per_layer = pd.DataFrame([vars(f) for f in layer_flops(counted["densenet121"], RGB224)])
per_layer["part"] = per_layer["name"].str.extract(r"_(stage\d)_", expand=False).fillna("other")
share = per_layer.groupby("part")["macs"].sum() / per_layer["macs"].sum()
print((share * 100).round(1).astype(str).add(" %").to_string())
d121 = counted["densenet121"]
widths = [(block.net[0][2].weight.shape[1], block.net[-1][2].weight.shape[1])
          for block in d121.features if isinstance(block, DenseBlock)]
print("layers per block:", d121.block_config,
      "; side of the maps in each block at 224 px:", d121.spatial_sizes(224))
print("input channels of the 1×1 convolutions, first to last layer of each block:", widths)

# %% [markdown]
# Block 3 has four times as many layers as block 1, and its 1×1 convolutions read more
# channels (the printed widths), yet block 1 costs more: its maps have four times the
# side of block 3's, sixteen times the area, and a convolution's multiply-adds grow with
# the area of the map it runs on. ("other" is the stem, the transitions and the
# classifier.)
#
# The paper's Figure 3 sets ImageNet accuracy against parameters and against FLOPs, for
# DenseNets and ResNets. That accuracy is not measured in this book (it needs ImageNet);
# torchvision publishes it for these architectures (top-1, single 224 px crop), and with
# the counts above it gives the two panels of that figure:

# %%
TORCHVISION_TOP1 = {"densenet121": 74.434, "densenet169": 75.600, "densenet201": 76.896,
                    "resnet18": 69.758, "resnet34": 73.314, "resnet50": 76.130,
                    "resnet101": 77.374, "resnet152": 78.312}   # published, not measured here
flops_table["ImageNet top-1 (%)"] = pd.Series(TORCHVISION_TOP1)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
for ax, column in zip(axes, ["parameters (M)", "counted GMACs"]):
    for family_name, marker, colour in (("densenet", "o", "tab:blue"),
                                        ("resnet", "s", "tab:red")):
        rows = flops_table[flops_table.index.str.startswith(family_name)]
        rows = rows.sort_values(column)
        ax.plot(rows[column], rows["ImageNet top-1 (%)"], marker=marker, color=colour,
                label="DenseNet" if family_name == "densenet" else "ResNet")
        for m, row in rows.iterrows():
            ax.annotate(m.replace("densenet", "D-").replace("resnet", "R-"),
                        (row[column], row["ImageNet top-1 (%)"]), fontsize=7,
                        xytext=(4, -9), textcoords="offset points")
    ax.set_xlabel(column)
    ax.grid(True, alpha=0.3)
axes[0].set_ylabel("ImageNet top-1 (%), torchvision's")
axes[0].legend(fontsize=8)
fig.suptitle("Published accuracy against counted parameters and multiply-adds (224 px)",
             fontsize=10)
fig.tight_layout()
plt.show()
resnets = flops_table[flops_table.index.str.startswith("resnet")]
holds = []
for m, row in flops_table[flops_table.index.str.startswith("densenet")].iterrows():
    rivals = resnets[resnets["ImageNet top-1 (%)"] >= row["ImageNet top-1 (%)"]]
    holds.append(bool((rivals["parameters (M)"] > row["parameters (M)"]).all()
                      and (rivals["counted GMACs"] > row["counted GMACs"]).all()))
    rival = rivals.sort_values("counted GMACs").iloc[0]
    params = row["parameters (M)"] / rival["parameters (M)"]
    macs = row["counted GMACs"] / rival["counted GMACs"]
    print(f"{m} (top-1 {row['ImageNet top-1 (%)']:.2f} %): the cheapest ResNet at least as "
          f"accurate is {rival.name} ({rival['ImageNet top-1 (%)']:.2f} %); the DenseNet has "
          f"{params:.0%} of its parameters and {macs:.0%} of its multiply-adds")
print(f"every DenseNet needs fewer parameters and fewer multiply-adds than every ResNet "
      f"here that is at least as accurate: {all(holds)}")

# %% [markdown]
# The last line tests the claim on the published ImageNet figures: each DenseNet against
# every ResNet here that is at least as accurate, and the shares printed above say by how
# much against the cheapest of them. Two limits: the accuracies are torchvision's, from
# training recipes of its own for each family (the paper trained both families with one
# recipe); and multiply-adds are not time (chapter 4 measures the training step's time
# and memory of DenseNet-121 beside ResNet-18 and ResNet-50).
#
# ### The nets trained in this book
#
# Chapter 5 trained six DenseNets on Fashion-MNIST under one recipe (2 epochs, 3 seeds,
# validation accuracy), and chapter 7 set their accuracy against parameters. Here is the
# same accuracy against multiply-adds as well, counted at each net's input size, with
# the standard deviation over the seeds as error bars:

# %% tags=["nbval-ignore-output"]
family = load_result(results_path("05_family.json"))
if family is None:
    print("no full-run results yet: run notebook 05 with GLUON_DENSENET_SMOKE=0")
else:
    print(describe_run(family))
    rows = []
    for run in family["runs"]:
        spec = NetSpec(**{**run["spec"], "block_config": tuple(run["spec"]["block_config"])})
        side = spec.resize or 28
        rows.append({"label": spec.label, "seed": run["row"]["seed"],
                     "params": run["row"]["params"], "px": side,
                     "MMACs": count_flops(spec.build(), (1, 1, side, side)) / 1e6,
                     "val_acc": run["row"]["val_acc"]})
    runs = pd.DataFrame(rows)
    acc = runs.groupby("label").agg(params=("params", "first"), px=("px", "first"),
                                    MMACs=("MMACs", "first"),
                                    val_acc=("val_acc", "mean"), std=("val_acc", "std"))
    acc = acc.sort_values("MMACs")
    print(acc.to_string(formatters={"params": "{:,}".format, "MMACs": "{:.1f}".format,
                                    "val_acc": "{:.4f}".format, "std": "{:.4f}".format}))
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), sharey=True)
    accuracy_errorbars(axes[0], acc, "params", [2e5, 5e5, 1e6, 2e6, 5e6],
                       "parameters (log scale)")
    accuracy_errorbars(axes[1], acc, "MMACs", [5, 10, 20, 50],
                       "million multiply-adds per image (log scale)")
    axes[0].set_ylabel("validation accuracy (chapter 5)")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(f"Chapter 5's nets after {family['config']['epochs']} epochs: mean ± std over "
                 f"{len(family['config']['seeds'])} seeds", fontsize=10)
    fig.tight_layout()
    plt.show()
    best = acc["val_acc"].idxmax()
    cheapest = acc.index[0]
    print(f"Most accurate: {best} ({acc.loc[best, 'MMACs']:.1f} MMACs, "
          f"{acc.loc[best, 'params']:,} parameters); cheapest in computation: {cheapest} "
          f"({acc.loc[cheapest, 'MMACs']:.1f} MMACs). Same parameters, different cost: "
          + "; ".join(f"{', '.join(same.index)} ({params:,} parameters, "
                      f"{' vs '.join(f'{v:.1f}' for v in same['MMACs'])} MMACs)"
                      for params, same in acc.groupby("params") if len(same) > 1))
    apart = [label for label, row in acc.iterrows()
             if all(abs(row["val_acc"] - other["val_acc"]) > row["std"] + other["std"]
                    for o, other in acc.iterrows() if o != label)]
    print(f"nets whose mean ± std interval overlaps no other net's: {apart}")

# %% [markdown]
# The input size shows what parameters hide: the 48 px net has the parameters of d2l-21
# and more than twice its multiply-adds, and the printed line says which net was most
# accurate and at what cost. The nets whose interval overlaps no other's are named last;
# the others are not told apart by these seeds. These are two-epoch figures from one
# recipe on a small data set: they compare the nets at that budget, not at convergence.
#
# ## 7. Dropout
#
# For the data sets it trained without augmentation, the paper adds dropout with rate 0.2
# after each convolution but the first (§4.2). Fashion-MNIST is trained here without
# augmentation too. `DenseNet(dropout=0.2)` puts it after every dense layer; unlike the
# paper, not after the transitions' convolutions (as in torchvision's DenseNet). The two
# runs of section 1 are paired: the same seed, initial weights (checked in section 3),
# data order and schedule; only dropout differs.

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(6, 3.4))
for label, h in history.items():
    ax.plot(h.index, h["test_acc"], marker="o", label=label)
ax.set_xlabel("epoch")
ax.set_ylabel("validation accuracy")
epoch_axis(ax)
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)
ax.set_title(f"{NET.label}, seed {SEED}: with and without dropout {DROPOUT}", fontsize=10)
fig.tight_layout()
plt.show()
last = pd.DataFrame({label: {"train_acc": result["train_acc_inference"][label],
                             "val_acc": h["test_acc"].iloc[-1]}
                     for label, h in history.items()}).T
last["gap"] = last["train_acc"] - last["val_acc"]
print(f"after the last epoch, both in inference mode (no dropout, BatchNorm's running "
      f"statistics), on the {SPLITS.train.num_examples:,} training and the "
      f"{SPLITS.validation.num_examples:,} validation images:")
print(last.round(4).to_string())
diff = last.loc[f"dropout {DROPOUT}", "val_acc"] - last.loc["no dropout", "val_acc"]
print(f"dropout − none, validation accuracy after {EPOCHS} epochs: {diff * 100:+.2f} points "
      f"(one pair of runs); chosen on validation: {result['chosen']}; its test accuracy, "
      f"measured once: {result['chosen_test_acc']:.4f}")
print(f"smaller gap between training and validation accuracy with dropout: "
      f"{last.loc[f'dropout {DROPOUT}', 'gap'] < last.loc['no dropout', 'gap']}")

# %% [markdown]
# What the pair shows: the difference in validation accuracy after the last epoch, the
# gap between training and validation accuracy, and which of the two was chosen on the
# validation split and then tested once (all printed above). Both accuracies of the gap
# are measured the same way, in inference mode after training; the running accuracy
# printed during training would not do, since the dropout net is measured there with
# dropout switched on. Dropout is a regulariser: it is meant to narrow the gap, and to
# raise validation accuracy only where a net overfits. One pair of runs cannot say
# whether a difference of the printed size is more than the spread between seeds, nor
# how the comparison turns out with a longer schedule, with augmentation, or for a deeper
# net; chapter 5's method (several seeds, a paired test) would.
#
# ## What this chapter measured
#
# * **Feature reuse** (sections 3 and 4): the maps of chapter 3's net after 10 epochs on
#   Fashion-MNIST, against the same net untrained; the paper's four observations tested
#   on both, with the verdicts printed. The maps inside the blocks stayed close to their
#   flat start, and the printed lines name the observations this net does not share with
#   the paper's CIFAR-10 net. One net, one seed, 32 px input, a short schedule.
# * **Short paths** (section 5): the gradient at every depth in one backward pass at
#   initialisation for a DenseNet, a plain stack and ResNet-18, three seeds; the most even
#   profile is named by code.
# * **Computation** (section 6): multiply-adds counted for any net and input size and
#   checked against torchvision's published figures; accuracy against parameters and
#   multiply-adds, for ImageNet from published accuracy, and for chapter 5's nets from
#   its measurements.
# * **Dropout** (section 7): one paired run of 10 epochs each, chosen on validation and
#   tested once.
#
# ## Try it yourself
#
# * Draw the maps for a net with longer blocks and larger maps, `NetSpec("3 blocks of 8",
#   (8, 8, 8), resize=64)`, or for chapter 3's net trained for 40 epochs: do observations
#   3 and 4 hold then?
# * Use the maps to prune: remove the least-read source of each transition and retrain.
# * Count the multiply-adds of DenseNet-121 at 32 px, and explain the ratio to 224 px.
# * Run section 5 on the trained net of section 1 (`budgeted_run(..., keep_net=True)`
#   returns it), and on `plain_counterpart(get_model("densenet121", classes=10,
#   in_channels=1))` at 64 px: is the DenseNet's profile still the most even?

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your answer and, where code can check the answer, a cell
# of tests. In the teacher's version (the chapters in `notebooks/` and their web pages) the
# answer cells hold model answers. The classroom edition (`make student`) empties them,
# and further tests, hidden from students, run when nbgrader grades the work.
#
# ### Exercise 9.1: one column of the map
#
# Write `reuse_column(weight, c0, k)`: for the weight of a block's reader, a convolution's
# (out, *c₀* + *n*·*k*, kh, kw) or a fully connected layer's (out, *c₀* + *n*·*k*), the
# mean absolute weight of each of its *n* + 1 sources (block input first), divided by
# the largest of them. Do not use `mean_abs_by_source`. The cell prints the column for
# made-up weights whose sources have absolute values 1, 2, 0.5 and 4.

# %% nbgrader={"grade": false, "grade_id": "ex-9-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def reuse_column(weight, c0, k):
    ### BEGIN SOLUTION
    weight = np.abs(np.asarray(weight))
    n = (weight.shape[1] - c0) // k
    means = [weight[:, :c0].mean()] + [weight[:, c0 + s * k:c0 + (s + 1) * k].mean()
                                       for s in range(n)]
    return np.array(means) / max(means)
    ### END SOLUTION


demo = np.zeros((2, 64 + 3 * 32, 3, 3))
demo[:, :64], demo[:, 64:96], demo[:, 96:128], demo[:, 128:] = -1.0, 2.0, 0.5, 4.0
print(reuse_column(demo, 64, 32))

# %% nbgrader={"grade": true, "grade_id": "ex-9-1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
np.testing.assert_allclose(reuse_column(demo, 64, 32), [0.25, 0.5, 0.125, 1.0])
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(3)
for c0_, k_, n_ in [(16, 8, 0), (24, 12, 5), (64, 32, 3)]:
    w = rng.normal(size=(7, c0_ + n_ * k_, 3, 3))
    expected = mean_abs_by_source(w, c0_, k_)
    np.testing.assert_allclose(reuse_column(w, c0_, k_), expected / expected.max(), rtol=1e-6)
    np.testing.assert_allclose(reuse_column(w[:, :, 0, 0], c0_, k_),
                               (e := mean_abs_by_source(w[:, :, 0, 0], c0_, k_)) / e.max(),
                               rtol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 9.2: the multiply-adds of a bottleneck layer
#
# Write `bottleneck_macs(c_in, k, side, bn_size=4)`: the multiply-adds per image of one
# DenseNet-B layer (1×1 convolution from *c_in* to `bn_size`·*k* channels, then 3×3
# convolution to *k*, both at *side* × *side* with padding that keeps the size), without
# BatchNorm and ReLU. The cell prints it for the widest layer of DenseNet-121's block 3
# (992 input channels at 14 px) and for its first layer (256 input channels).

# %% nbgrader={"grade": false, "grade_id": "ex-9-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bottleneck_macs(c_in, k, side, bn_size=4):
    ### BEGIN SOLUTION
    width = bn_size * k
    return side * side * (c_in * width + 9 * width * k)
    ### END SOLUTION


for c_in in (256, 992):
    print(f"{c_in} input channels at 14 px: {bottleneck_macs(c_in, 32, 14):,} multiply-adds")

# %% nbgrader={"grade": true, "grade_id": "ex-9-2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert bottleneck_macs(256, 32, 14) == 14 * 14 * (256 * 128 + 9 * 128 * 32)
### BEGIN HIDDEN TESTS
from gluon_densenet.models.blocks import bottleneck_layer

for c_in_, k_, side_, bn_ in [(64, 32, 56, 4), (992, 32, 14, 4), (20, 12, 9, 2)]:
    layer = bottleneck_layer(k_, bn_size=bn_, in_channels=c_in_)
    assert bottleneck_macs(c_in_, k_, side_, bn_) == count_flops(layer, (1, c_in_, side_, side_))
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 9.3: what the maps leave out
#
# The maps of section 3 weigh each source by the absolute weights of the convolution that
# reads it. In a pre-activation layer, though, each input channel first passes through
# BatchNorm (scale γ, shift β, running statistics) and a ReLU. Explain in the cell below
# how this can make a map misjudge how much a layer uses a source, and describe a map
# that would take it into account: what you would compute from the net's parameters,
# and what you would compare it with to know whether it changes the paper's
# observations.

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-9-3-answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer.* The convolution does not see the source itself but BatchNorm's output
# after a ReLU. In inference BatchNorm maps channel *c* to γ_c (x − μ_c)/σ_c + β_c, so
# the input the weight W[:, c] multiplies has a scale set by γ_c and an offset set by β_c,
# and the ReLU then zeroes its negative part. A channel whose γ_c is near zero, or whose
# β_c is so negative that the ReLU silences it, contributes little however large its
# weights; and the split between γ and W is not fixed, since the ReLU is positively
# homogeneous: (a·γ_c, a·β_c, W[:, c]/a) computes the same function for any a > 0, so
# training can move size between them. |W| alone can therefore over- or understate how
# much a layer uses a source. A map that accounts for it multiplies each channel's mean
# |W| by |γ_c|, a product that stays unchanged under that rescaling (β_c/γ_c then says
# how much of the channel the ReLU passes); or, better, it measures use directly: the mean
# absolute contribution of each source's channels to the layer's output on real images
# (the convolution applied to that source's slice of its BN-ReLU input alone). Comparing
# that map with section 3's, and running `paper_observations` on both, says whether the
# paper's observations depend on leaving BatchNorm out.
