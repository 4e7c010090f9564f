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
# # 4. Exercise: memory at 224×224
#
# *The question:* DenseNet-121 has fewer parameters than ResNet-18 (chapter 7), yet
# it has been criticised for needing *more* memory to train (the exercise in *Dive into
# Deep Learning* §8.7; Pleiss et al., 2017). Is that so, at what input size and batch,
# where does the memory go, and how can it be reduced?
#
# Two views:
#
# 1. **An analytic count.** Hybridize the net, call it on a symbolic input
#    (`net(mx.sym.var("data"))`), take every operator output of the forward graph
#    (`get_internals()`), infer their shapes for a given batch (`infer_shape`) and add
#    up their float32 bytes. That is what a framework keeping every intermediate for
#    the backward pass would hold. `gluon_densenet.analysis.memory.activation_rows` does
#    it and labels each output with its place (stem, dense block / stage N,
#    transition N, head) and its operator type.
# 2. **A measurement.** Two training steps (forward, backward and one SGD-with-momentum
#    update each) in a **fresh Python process per configuration**
#    (`gluon_densenet.analysis.memory.measure_peak`), so allocator pools and high-water
#    marks of one run cannot leak into the next. On a GPU it reads
#    `mx.context.gpu_memory_info`; on a CPU the peak resident memory of the process
#    (`VmHWM`). The *baseline* (after importing MXNet, building the net and allocating
#    its weights) is read in the same process before the steps and subtracted. The
#    memory is measured once per configuration, over those two steps. The process then
#    takes more steps for their time only: the time per step is the median of
#    `TIMED_STEPS` steps after the first (set in the first code cell; the first step
#    also allocates every buffer and is not among them), shown with the fastest and the
#    slowest.
#
# The ResNets are the Gluon model zoo's `resnet18_v1` and `resnet50_v1` with 10
# classes and random weights; DenseNet-121 is `gluon_densenet.densenet121`, all with
# 3 input channels. Two more DenseNets join: `densenet21_d2l`, the small net of *Dive
# into Deep Learning*, whose memory a discussion forum compared with ResNet's (below),
# and `densenet63_classic`, DenseNet-121's blocks without the bottleneck, for the
# forum's claim that the bottleneck lowers memory.

# %% [markdown]
# **Learning objectives.** After this chapter you can
#
# * count a network's activation memory analytically from its graph;
# * measure a training step's peak memory in a fresh process;
# * say when DenseNet needs more memory than ResNet, and where the memory goes;
# * reduce it with the memory-efficient step, and say what that costs.
#
# **Prerequisites.** Chapters 2 and 3.
#
# **Run time on a 2-core CPU.** `make pages` prints each chapter's seconds. A full run
# reuses the committed measurements (`notebooks/results/04_memory.json`) while the
# chapter's settings are unchanged, and then takes seconds; redoing them takes minutes:
# the label printed above the table in "Measured peaks" (`describe_run`) says when they
# were made, on what, and how long they took.
#
# **References.**
#
# * Huang, Liu, van der Maaten and Weinberger (2017), *Densely Connected Convolutional
#   Networks*, CVPR, [arXiv:1608.06993](https://arxiv.org/abs/1608.06993).
# * Pleiss, Chen, Huang, Li, van der Maaten and Weinberger (2017), *Memory-Efficient
#   Implementation of DenseNets*, [arXiv:1707.06990](https://arxiv.org/abs/1707.06990).
# * Chen, Xu, Zhang and Guestrin (2016), *Training Deep Nets with Sublinear Memory
#   Cost*, [arXiv:1604.06174](https://arxiv.org/abs/1604.06174).
# * He, Zhang, Ren and Sun (2016), *Deep Residual Learning for Image Recognition*, CVPR,
#   [arXiv:1512.03385](https://arxiv.org/abs/1512.03385).
# * Zhang, Lipton, Li and Smola, *Dive into Deep Learning*, §8.7 "Densely Connected
#   Networks (DenseNet)", <https://d2l.ai/chapter_convolutional-modern/densenet.html>.
# * Apache MXNet, *Optimizing Memory Consumption in Deep Learning* (architecture note:
#   in-place operations and memory sharing),
#   <https://mxnet.apache.org/api/architecture/note_memory>.

# %% tags=["nbval-ignore-output"]
import gluon_densenet  # noqa: F401, I001  first: MXNet then uses one thread per core
import matplotlib.pyplot as plt
import mxnet as mx
import numpy as np
import pandas as pd
from mxnet import gluon

from gluon_densenet import densenet121, get_model
from gluon_densenet.analysis.memory import (
    MIB,
    activation_rows,
    bytes_by,
    measure_peak,
    parameter_bytes,
    planned_bytes,
)
from gluon_densenet.runtime.devices import try_gpu
from gluon_densenet.chapters import choose, describe_run, run_or_load, smoke_mode
from gluon_densenet.plots import stacked_bars

# %matplotlib inline
pd.set_option("display.width", 140)

MODELS = ["densenet121", "densenet63_classic", "resnet18_v1", "resnet50_v1", "densenet21_d2l"]
CONFIGS = choose([(32, 4), (96, 2)],
                 [(32, 8), (32, 32), (32, 128), (96, 8), (96, 32), (96, 128),
                  (224, 8), (224, 32)])
MEMORY_EFFICIENT = choose([(32, 4)], [(96, 128), (224, 8), (224, 32)])   # DenseNet-121 only
TIMED_STEPS = choose(3, 5)          # timed steps per configuration, after the first
print(f"{'smoke run (CI)' if smoke_mode() else 'full run'}: (size, batch) configurations "
      f"{CONFIGS}; memory-efficient step at {MEMORY_EFFICIENT}; {TIMED_STEPS} timed steps "
      f"each")

# %% [markdown]
# ## Where the activations go (analytic, per image at 224 px)
#
# Mebibytes of forward outputs for **one** 224×224 image, by part of the network:

# %%
nets = {m: get_model(m, classes=10) for m in MODELS}
rows = {m: activation_rows(net, (1, 3, 224, 224)) for m, net in nets.items()}
by_group = pd.DataFrame({m: pd.Series(bytes_by(r, "group")) / MIB for m, r in rows.items()})
by_group = by_group.reindex(list(bytes_by(rows["densenet121"], "group")))  # network order
print(pd.concat([by_group, by_group.sum().to_frame("total").T]).round(2).fillna("").to_string())

# %% [markdown]
# As stacked bars (each colour one part of the network, in network order):

# %%
stacked_bars(by_group, "MiB per 224 px image",
             "forward activations by part of the network (analytic, float32)")
plt.show()

# %% [markdown]
# DenseNet-121's share per dense block, computed from the table:

# %%
dn = by_group["densenet121"].dropna()
share = dn / dn.sum()
for part in [p for p in dn.index if p.startswith("stage")]:
    print(f"{part}: {dn[part]:6.1f} MiB = {share[part]:.0%} of DenseNet-121's activations")
largest = share.idxmax()
print(f"largest part: {largest} ({share[largest]:.0%}); the four dense blocks together: "
      f"{share[[p for p in dn.index if p.startswith('stage')]].sum():.0%}")

# %% [markdown]
# And by operator type (same single image):

# %%
by_op = pd.DataFrame({m: pd.Series(bytes_by(r, "op")) / MIB for m, r in rows.items()}).fillna(0)
by_op = by_op[by_op.max(axis=1) >= 0.01]          # drop Flatten, the classifier, ...
print(by_op.round(2).sort_values("densenet121", ascending=False).to_string())

# %% [markdown]
# For DenseNet-121 the table shows:
#
# * **Concat** is a large block of its own. Layer *i* of a dense block with *c₀* input
#   channels and growth rate *k* outputs a new tensor of *c₀ + i·k* channels (the
#   whole concatenation so far is copied again), so the bytes of a block grow
#   quadratically with its number of layers. ResNet's `elemwise_add` output stays at
#   the width of the stage.
# * **BatchNorm and ReLU** are larger still: each bottleneck layer starts with BN → ReLU on
#   that *wide* concatenated input, again *c₀ + i·k* channels, before the 1×1
#   convolution narrows it to 4*k* = 128.
# * By part, the first dense block (56×56 maps, 6 layers) is the largest single part,
#   though far from a majority (the shares above): block 3 has four times as many
#   layers on maps with a sixteenth of the pixels, since spatial size enters squared.
#
# The quadratic growth inside a block, for block 1 (6 layers at 56×56) and block 3
# (24 layers at 14×14):

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.6))
for stage in ("stage 1", "stage 3"):
    concat = [r.bytes / MIB for r in rows["densenet121"] if r.op == "Concat" and r.group == stage]
    cumulative = pd.Series(concat).cumsum()
    ax.plot(range(1, len(concat) + 1), cumulative, marker="o", label=f"{stage}: cumulative")
    ax.plot(range(1, len(concat) + 1), concat, linestyle="--", label=f"{stage}: per layer")
    print(f"{stage}: {len(concat)} concat outputs, {concat[0]:.3f} → {concat[-1]:.3f} MiB each, "
          f"{sum(concat):.2f} MiB in total")
ax.set_xlabel("layer in the dense block")
ax.set_ylabel("MiB per 224 px image")
ax.set_title("DenseNet-121: concatenated outputs")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Parameters cost memory too: weight, gradient and momentum, three float32 copies each
# (MiB, independent of the batch):

# %%
for m, net in nets.items():
    p = parameter_bytes(net, (1, 3, 224, 224))
    print(f"{m:19s} parameters {p / MIB:6.1f} MiB, × 3 for SGD with momentum = "
          f"{3 * p / MIB:6.1f} MiB")

# %% [markdown]
# ## Does the bottleneck lower memory?
#
# A post in the forum thread cited below said it does. The bottleneck's 1×1 convolution
# narrows each layer's wide input to 4*k* channels before the 3×3 convolution, which
# saves **parameters** (chapter 2) and, as the paper puts it, improves computational
# efficiency (its Section 3, "Bottleneck layers"). But the wide tensors (the
# concatenation and its BN and ReLU outputs) are there with or without it, and the
# bottleneck adds three more outputs per layer (the 1×1 convolution's 4*k* channels,
# then its BN and ReLU).
# DenseNet-121 against the same blocks without the bottleneck, per 224 px image:

# %%
pair = by_op[["densenet121", "densenet63_classic"]].copy()
pair["difference"] = pair["densenet121"] - pair["densenet63_classic"]
print(pair.round(2).sort_values("difference", ascending=False).to_string())
t121, t63 = by_group["densenet121"].sum(), by_group["densenet63_classic"].sum()
print(f"total: DenseNet-121 (bottleneck) {t121:.0f} MiB, densenet63_classic (none) "
      f"{t63:.0f} MiB per image: the bottleneck {'adds' if t121 > t63 else 'saves'} "
      f"{abs(t121 - t63):.0f} MiB ({t121 / t63 - 1:+.0%})")

# %% [markdown]
# So in the analytic count the answer is no: the bottleneck net stores more per image.
# The measured peaks below say whether that shows in a training step.
#
# ## Measured peaks
#
# Each configuration runs in its own process (memory once, times over `TIMED_STEPS`
# steps). On this machine that is a CPU, so the numbers are resident memory of MXNet's
# CPU (oneDNN) backend, not GPU memory. Next to the measured increase (`train_mib`,
# peak − baseline) stands this page's count of what the step adds (`analytic_mib`): the
# forward activations above for the same batch and size, the input batch, and one copy
# of the parameters for SGD's momentum. The weights are in the baseline, and so are
# their gradients, which Gluon allocates with the weights (checked in the next
# section). The same cell also measures DenseNet-121's **memory-efficient** step
# (`densenet121(memory_efficient=True)`) at three configurations; those rows are left
# out of this table and compared in the section "Reducing the memory" below.


# %% tags=["nbval-ignore-output"]
def measure_all() -> dict:
    device = try_gpu().device_type          # "gpu" only for a GPU this MXNet build can run
    measured = []
    jobs = [(size, batch, m, False) for size, batch in CONFIGS for m in MODELS]
    jobs += [(size, batch, "densenet121", True) for size, batch in MEMORY_EFFICIENT]
    for size, batch, m, me in jobs:
        peak = measure_peak(m, size, batch, memory_efficient=me, repeats=TIMED_STEPS)
        measured.append(peak.as_dict())
        print(f"{m}{' (memory-efficient)' if me else ''} {size} px, batch {batch}: "
              f"{peak.train_mib:.0f} MiB, step {peak.step_s:.2f} s", flush=True)
    return {"device": device, "rows": measured}


memory = run_or_load("04_memory.json", {"models": MODELS, "configs": CONFIGS,
                                        "memory_efficient": MEMORY_EFFICIENT,
                                        "timed_steps": TIMED_STEPS}, measure_all)
print(describe_run(memory))

table = pd.DataFrame(memory["rows"])
counted = {(m, size): sum(r.bytes for r in activation_rows(nets[m], (1, 3, size, size))) / MIB
           for m, size in set(zip(table["model"], table["size"]))}    # MiB per image
table["activations_mib"] = [counted[m, s] * b for m, s, b in
                            zip(table["model"], table["size"], table["batch_size"])]
table["analytic_mib"] = (table["activations_mib"]
                         + table["batch_size"] * 3 * table["size"] ** 2 * 4 / MIB    # input
                         + [parameter_bytes(nets[m], (1, 3, 32, 32)) / MIB for m in table["model"]])
table["step_min_s"] = table["step_times_s"].map(min)
table["step_max_s"] = table["step_times_s"].map(max)
COLUMNS = ["model", "size", "batch_size", "baseline_mib", "peak_mib", "train_mib",
           "analytic_mib", "step_s", "step_min_s", "step_max_s"]
standard = table[~table["memory_efficient"]].copy()
standard["measured / analytic"] = standard["train_mib"] / standard["analytic_mib"]
print(f"step_s: median of {memory['config']['timed_steps']} steps after the first; "
      f"step_min_s and step_max_s: the fastest and the slowest")
print(standard[COLUMNS + ["measured / analytic"]].round(2).to_string(index=False))
print(f"measured / analytic ranges from {standard['measured / analytic'].min():.2f} to "
      f"{standard['measured / analytic'].max():.2f}")

# %% [markdown]
# The training-step memory (peak − baseline) against the batch, one panel per size:

# %% tags=["nbval-ignore-output"]
sizes = sorted(standard["size"].unique())
fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.5))
for ax, size in zip(np.atleast_1d(axes), sizes):
    for m in MODELS:
        t = standard[(standard["size"] == size) & (standard["model"] == m)]
        ax.plot(t["batch_size"], t["train_mib"], marker="o", label=m)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_title(f"{size} px")
    ax.set_xlabel("batch size")
    ax.grid(True, alpha=0.3)
np.atleast_1d(axes)[0].set_ylabel("peak − baseline (MiB)")
np.atleast_1d(axes)[0].legend(fontsize=8)
fig.suptitle(f"memory of a training step ({memory['device']})")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## What the measurement holds, and why it differs from the count
#
# The two columns count different things, and the last column of the table
# (measured / analytic) moves with the batch and the model because of it.
#
# * **The analytic count** keeps every forward output, each in its own buffer, and
#   adds the input and the momentum. It has no backward pass and no workspace.
# * **The measurement** is what the process's resident memory rose by, at its highest,
#   during the first two steps, above the MXNet runtime, the weights and their
#   gradients (all in the baseline). `VmHWM` is a high-water mark, so a buffer freed
#   during the step counts if it was resident at the peak. The increase holds the
#   forward outputs that MXNet keeps for the backward pass, the backward pass's own
#   buffers (the gradient of each output, freed once used), the momentum (created by
#   the first update) and the input, and then whatever else the step allocates:
#   operator workspaces, oneDNN's buffers, memory its code touches for the first time.
#   This page does not break that last part down; below it appears as the part that
#   does not grow with the batch.
#
# MXNet does not keep every forward output in a buffer of its own: its memory planner
# lets an operator write over an input that nothing later reads, the backward pass
# included (in place), and reuses a buffer once its last reader has run (MXNet's
# architecture note, in the references). `planned_bytes` reads the planner's total for
# the training graph, forward and backward together, from the symbolic executor; the
# same planning pass (`MXPlanMemory`, in MXNet's `src/executor/graph_executor.cc` and
# `src/imperative/imperative_utils.h`) also plans hybridized Gluon blocks. Three checks
# follow. First, the gradients exist before the first step:

# %%
probe = get_model("densenet21_d2l", classes=10)
probe.initialize()
probe(mx.nd.zeros((1, 3, 32, 32)))       # as measure_peak does before reading the baseline
grads = [p.grad() for p in probe.collect_params().values() if p.grad_req != "null"]
print(f"densenet21_d2l before any backward pass: {len(grads)} gradient buffers holding "
      f"{sum(g.size for g in grads) * 4 / MIB:.2f} MiB, the size of its parameters "
      f"({parameter_bytes(probe, (1, 3, 32, 32)) / MIB:.2f} MiB)")

# %% [markdown]
# Second and third, per network: the planner's total per counted byte of forward
# activations (at 224 px, for a batch whose plan is large enough for MXNet's whole-MiB
# report), and a straight line through the measured points, step memory = fixed +
# slope × counted activations, over every measured size and batch. The slope is what
# MXNet really held per counted byte; the fixed part is what the step added whatever
# the batch, to be set against the momentum, the only fixed item of the count.

# %% tags=["nbval-ignore-output"]
explained = []
for m in MODELS:
    t = standard[standard["model"] == m]
    slope, fixed = np.polyfit(t["activations_mib"], t["train_mib"], 1)
    per_image = sum(r.bytes for r in rows[m]) / MIB          # counted, one 224 px image
    batch = int(np.ceil(256 / per_image))                     # a plan of at least 256 MiB
    planner = planned_bytes(nets[m], (batch, 3, 224, 224)) / MIB / (batch * per_image)
    miss = (t["train_mib"] - fixed - slope * t["activations_mib"]).abs().max()
    explained.append({"model": m, "planner / counted": planner, "measured slope": slope,
                      "slope / planner": slope / planner, "fixed (MiB)": fixed,
                      "momentum (MiB)": parameter_bytes(nets[m], (1, 3, 32, 32)) / MIB,
                      "largest miss (MiB)": miss})
explained = pd.DataFrame(explained).set_index("model")
print(explained.round(2).to_string())
for m, row in explained.iterrows():
    t = standard[standard["model"] == m].sort_values("analytic_mib")
    lo, hi = t.iloc[0], t.iloc[-1]
    match = ("about what the planner allots" if abs(row["slope / planner"] - 1) < 0.1
             else f"×{row['slope / planner']:.2f} what the planner allots")
    print(f"{m}: measured / analytic {lo['measured / analytic']:.2f} at {lo['size']} px, batch "
          f"{lo['batch_size']} (the smallest count) and {hi['measured / analytic']:.2f} at "
          f"{hi['size']} px, batch {hi['batch_size']} (the largest); fixed part {row['fixed (MiB)']:.0f} "
          f"MiB against {row['momentum (MiB)']:.1f} MiB of momentum; per image it held "
          f"{row['measured slope']:.2f} MiB per counted MiB, {match}")

# %% [markdown]
# So the ratio moves with the batch because the two sides have different fixed parts
# and different costs per image. At small batches the fixed parts dominate: the step's
# fixed part, from the fit, is larger than the momentum, the count's only fixed item,
# and the ratio is above 1 (the smallest count of each net, printed above). At large
# batches the ratio approaches the slope, which is below 1 where MXNet shares buffers
# that the count keeps apart. It moves with the model for two reasons: how much the
# planner can share depends on a net's mix of operators (the first column), and for
# some nets the step held more per image than the planner allots (slope / planner
# above 1), which this page does not explain. One straight line through every size and
# batch is only an approximation (the largest miss, in MiB, is printed with it).
#
# ## DenseNet against ResNet-18: where the direction flips
#
# For every configuration, the ratio of each DenseNet's measured step memory to
# ResNet-18's (above 1: the DenseNet needs more):

# %% tags=["nbval-ignore-output"]
wide = standard.pivot_table(index=["size", "batch_size"], columns="model", values="train_mib")
DENSENETS = ["densenet21_d2l", "densenet121", "densenet63_classic"]
ratios = pd.DataFrame({m: wide[m] / wide["resnet18_v1"] for m in DENSENETS})
print(ratios.round(2).to_string())
for m in ratios:
    less = [f"{s} px/batch {b}" for (s, b), r in ratios[m].items() if r < 1]
    print(f"{m} needs less than ResNet-18 at: {', '.join(less) if less else 'no configuration'}")


def measured_crossing(m: str, size: int) -> float | None:
    """The batch at which ``m``'s measured step memory passes ResNet-18's: the first
    sign change of their difference, interpolated linearly in the batch (the memory
    of a step grows about linearly with it)."""
    diff = (wide.loc[size, m] - wide.loc[size, "resnet18_v1"]).sort_index()
    points = list(diff.items())
    for (b1, d1), (b2, d2) in zip(points, points[1:]):
        if d1 < 0 <= d2 or d1 > 0 >= d2:
            return b1 + (b2 - b1) * -d1 / (d2 - d1)
    return None


# %% [markdown]
# The same ratios against the batch, one panel per input size; a cross marks where a
# ratio passes 1, between two measured batches (interpolated):

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.5), sharey=True)
for ax, size in zip(np.atleast_1d(axes), sizes):
    for m, colour in zip(DENSENETS, ("tab:green", "tab:blue", "tab:orange")):
        r = ratios.loc[size, m]
        ax.plot(r.index, r.values, marker="o", color=colour, label=m)
        cross = measured_crossing(m, size)
        if cross is not None:
            ax.plot([cross], [1], marker="X", markersize=11, color=colour,
                    markeredgecolor="black")
            ax.annotate(f"≈{cross:.0f}", (cross, 1), xytext=(4, -14),
                        textcoords="offset points", fontsize=8, color=colour)
            print(f"{size} px: {m} passes ResNet-18 at a batch of about {cross:.0f}")
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_xscale("log", base=2)
    batches = sorted(ratios.loc[size].index)
    ax.set_xticks(batches, labels=[str(b) for b in batches])
    ax.minorticks_off()
    ax.set_title(f"{size} px")
    ax.set_xlabel("batch size")
    ax.grid(True, alpha=0.3)
np.atleast_1d(axes)[0].set_ylabel("step memory / ResNet-18's")
np.atleast_1d(axes)[0].legend(fontsize=8)
fig.suptitle("DenseNets against ResNet-18: measured step memory (× marks a crossing)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Why the direction can flip: a step's memory is roughly a fixed part and a part that
# grows with batch × pixels (the activations). In the analytic count the fixed part is
# the momentum, larger for ResNet-18 than for the DenseNets (the parameter sizes
# printed above), while the DenseNets store more per image. The count predicts the
# batch at which the two lines cross; next to it, the crossing measured above:

# %% tags=["nbval-ignore-output"]
def per_image_and_fixed(m: str, size: int) -> tuple[float, float]:
    act = sum(r.bytes for r in activation_rows(nets[m], (1, 3, size, size))) + 3 * size * size * 4
    return act / MIB, parameter_bytes(nets[m], (1, 3, size, size)) / MIB


for m in ("densenet21_d2l", "densenet121"):
    for size in sizes:
        a_d, f_d = per_image_and_fixed(m, size)
        a_r, f_r = per_image_and_fixed("resnet18_v1", size)
        crossing = (f_r - f_d) / (a_d - a_r) if a_d > a_r else None
        if crossing is None:
            verdict = "never: it also stores less per image"
        elif crossing < 1:
            verdict = "at every batch size"
        else:
            verdict = f"above a batch of about {crossing:.0f}"
        batches = ratios.loc[size, m]
        cross = measured_crossing(m, size)
        if cross is not None:
            seen = f"passes it at a batch of about {cross:.0f}"
        else:
            side = "more" if (batches > 1).all() else "less" if (batches < 1).all() else "mixed"
            lo, hi = batches.index.min(), batches.index.max()
            seen = (f"needs {side} at every measured batch "
                    + (f"({lo} to {hi})" if lo < hi else f"(batch {lo})"))
        print(f"{size:3d} px: {m} needs more than ResNet-18 {verdict} by the count "
              f"({a_d:.2f} vs {a_r:.2f} MiB per image, {f_d:.0f} vs {f_r:.0f} MiB fixed); "
              f"measured, it {seen}")

# %% [markdown]
# ## The forum's claim
#
# In the discussion thread of *Dive into Deep Learning*'s DenseNet section
# (discuss.gluon.ai/t/topic/1664), a reader who posted PyTorch code, that is, who ran
# the book's PyTorch edition, whose DenseNet section trains on Fashion-MNIST resized to
# 96 px, reported **3161 MiB for DenseNet against 2725 MiB for ResNet** on a GPU. Those
# are whole-GPU totals read from `nvidia-smi`: they include the CUDA context and
# whatever PyTorch's caching allocator had reserved, the batch size was not stated,
# and which nets were compared was not stated either; presumably the book's own (its
# small DenseNet is what `densenet21_d2l` builds; its ResNet-18 has convolution biases
# and differs in detail from the model zoo's `resnet18_v1`). The numbers here are the
# increase in a CPU process's resident memory during an MXNet training step, so the
# absolute MiB cannot be compared, only directions and ratios. At 96 px:

# %% tags=["nbval-ignore-output"]
print(f"forum (GPU totals, PyTorch, the book's nets, 96 px, batch unknown): DenseNet / ResNet "
      f"×{3161 / 2725:.2f}")
at96 = ratios.loc[96]
for batch, row in at96.iterrows():
    print(f"measured here, 96 px, batch {batch:3d}: densenet21_d2l / resnet18_v1 "
          f"×{row['densenet21_d2l']:.2f}, densenet121 / resnet18_v1 ×{row['densenet121']:.2f}")

# %% [markdown]
# ## Reducing the memory: the memory-efficient step
#
# The exercise asks how to reduce memory. The concatenations and the BN/ReLU outputs
# on the wide inputs, the rows that grow quadratically, need not be stored: Pleiss et
# al. (2017, *Memory-Efficient Implementation of DenseNets*) recompute them during
# backward. The package's `densenet121(memory_efficient=True)` keeps only each dense
# block's input and its layers' *k*-channel outputs, and in backward recomputes each
# layer up to its last convolution, whose output it kept
# (`gluon_densenet.models.memory_efficient` explains how). The training loop stays the ordinary
# Gluon one: under `autograd.record()` each dense block hands back its output as a
# recorded concatenation of stored features, and when `loss.backward()` has reached it,
# the package replays the block's layers, last first, and carries the gradient on into
# the layers before it.
#
# First, it must compute the same gradients: two DenseNet-121s with the same weights,
# one training step each on the same batch (4 random 64 px images), both written as
# the ordinary loop:

# %% tags=["nbval-ignore-output"]
from mxnet import autograd

mx.random.seed(0)
standard_net = densenet121(classes=10, prefix="check_")
efficient_net = densenet121(classes=10, prefix="check_", memory_efficient=True)
for n in (standard_net, efficient_net):
    n.initialize(mx.init.Xavier())
    n(mx.nd.zeros((1, 3, 64, 64)))
for a, b in zip(standard_net.collect_params().values(), efficient_net.collect_params().values()):
    b.set_data(a.data())
X = mx.nd.random.uniform(shape=(4, 3, 64, 64))
y = mx.nd.array([0, 3, 5, 9])
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
for net in (standard_net, efficient_net):      # the same three lines for both nets
    with autograd.record():
        loss = loss_fn(net(X), y)
    loss.backward()
worst = max(float(np.abs(b.grad().asnumpy() - a.grad().asnumpy()).max()
                  / max(np.abs(a.grad().asnumpy()).max(), 1e-12))
            for a, b in zip(standard_net.collect_params().values(),
                            efficient_net.collect_params().values()) if a.grad_req != "null")
print(f"{sum(1 for p in standard_net.collect_params().values() if p.grad_req != 'null')} "
      f"gradients compared; largest difference relative to the gradient's size: {worst:.1e}")

# %% [markdown]
# The gradients agree to the printed difference (zero means bit-identical). Then what
# it saves and what it costs in time, from the measurement cell above (the standard
# and the memory-efficient step at the same size and batch, each in its own fresh
# process; memory measured once, the step time as the median of the timed steps with
# the fastest and the slowest in brackets):

# %% tags=["nbval-ignore-output"]
me = table[table["memory_efficient"]].set_index(["size", "batch_size"])
std121 = standard[standard["model"] == "densenet121"].set_index(["size", "batch_size"])


def step_time(row: pd.Series) -> str:
    """The median step time with its range, e.g. ``0.74 s (0.73–0.76)``."""
    return f"{row['step_s']:.2f} s ({row['step_min_s']:.2f}–{row['step_max_s']:.2f})"


for (size, batch), row in me.iterrows():
    s = std121.loc[(size, batch)]
    print(f"DenseNet-121, {size} px, batch {batch}: {s['train_mib']:.0f} → {row['train_mib']:.0f} "
          f"MiB ({row['train_mib'] / s['train_mib'] - 1:+.0%}), step {step_time(s)} → "
          f"{step_time(row)}: ×{row['step_s'] / s['step_s']:.2f} of the medians, "
          f"×{row['step_min_s'] / s['step_max_s']:.2f} to ×{row['step_max_s'] / s['step_min_s']:.2f}"
          f" from the extremes")

# %% [markdown]
# The times are from one process per configuration on this CPU: the medians of its
# timed steps, with their spread; the first step, which also allocates every buffer,
# is recorded in the results as `first_step_s`. The package's benchmarks time many steps side by side against the default fast path,
# and search for the largest batch that fits a fixed memory budget either way
# (README, "Performance").
#
# ## Conclusion
#
# What was measured: the increase of a CPU process's peak resident memory during two
# training steps (forward, backward, SGD with momentum), once per network, input size
# and batch, each in a fresh process, with MXNet 1.9's oneDNN backend, and the median
# time of the steps that followed; next to it the analytic count of forward
# activations. Generated from the figures above:

# %% tags=["nbval-ignore-output"]
per_image = by_group.sum()
print(f"* Analytic, per 224 px image: DenseNet-121 stores {per_image['densenet121']:.0f} MiB of "
      f"forward activations, ResNet-18 {per_image['resnet18_v1']:.0f}, ResNet-50 "
      f"{per_image['resnet50_v1']:.0f}, densenet21_d2l {per_image['densenet21_d2l']:.0f}.")
for m in ratios:
    above = ratios[m][ratios[m] > 1]
    below = ratios[m][ratios[m] < 1]
    print(f"* Measured, {m} against ResNet-18: more memory in {len(above)} of "
          f"{len(ratios)} configurations (up to ×{ratios[m].max():.2f}), less in {len(below)}"
          + (f" (down to ×{below.min():.2f}, at "
             f"{', '.join(f'{s} px/batch {b}' for s, b in below.index)})" if len(below) else "")
          + ".")
vs_classic = wide["densenet121"] / wide["densenet63_classic"]
print(f"* Bottleneck: analytic +{t121 - t63:.0f} MiB per 224 px image for DenseNet-121 over "
      f"densenet63_classic; measured, DenseNet-121 needs ×{vs_classic.min():.2f} to "
      f"×{vs_classic.max():.2f} the step memory of densenet63_classic.")
savings = [row["train_mib"] / std121.loc[idx, "train_mib"] - 1 for idx, row in me.iterrows()]
slowdowns = [row["step_s"] / std121.loc[idx, "step_s"] for idx, row in me.iterrows()]
print(f"* Memory-efficient step (DenseNet-121, {len(me)} configurations, memory measured once "
      f"each): step memory {min(savings):+.0%} to {max(savings):+.0%}, step time "
      f"×{min(slowdowns):.2f} to ×{max(slowdowns):.2f} (ratios of median step times); "
      f"gradients equal (checked above).")
print(f"* Measured against the count: a step held {explained['measured slope'].min():.2f} to "
      f"{explained['measured slope'].max():.2f} MiB per counted MiB of activations "
      f"(MXNet's planner allots {explained['planner / counted'].min():.2f} to "
      f"{explained['planner / counted'].max():.2f}), plus a fixed "
      f"{explained['fixed (MiB)'].min():.0f} to {explained['fixed (MiB)'].max():.0f} MiB.")

# %% [markdown]
# So whether a DenseNet needs more memory per step than ResNet-18 depends on the net,
# the input size and the batch: in the count, the fixed cost (the momentum, one copy
# of the parameters) favours the DenseNets and the activations per image favour
# ResNet-18; the crossings above, measured and predicted, say where one outweighs the
# other.
#
# Where this stops: one memory measurement per configuration, and step times from the
# steps of one process, on a CPU. A GPU's allocator and cuDNN workspaces differ, so the
# absolute MiB do not transfer, and the forum's GPU totals cannot be checked here; only
# directions and ratios can be compared.
#
# ## Try it yourself
#
# * Add `densenet169` or `resnet34_v1` to `MODELS`, or `(160, 16)` to `CONFIGS`.
# * Train chapter 3's net with `gluon-densenet train --memory-efficient` and compare
#   the time per epoch.

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your answer and, where code can check the answer, a cell
# of tests. In the teacher's version (the chapters in `notebooks/` and their web pages) the
# answer cells hold model answers. The classroom edition (`make student`) empties them,
# and further tests, hidden from students, run when nbgrader grades the work.
#
# ### Exercise 4.1: the concatenations of one dense block
#
# A framework that keeps every intermediate for the backward pass stores each layer's
# concatenation: after layer $\ell$ of a block, $c_0 + \ell k$ channels at the block's
# resolution. Write `concat_bytes(c0, num_layers, k, size, batch=1)`, the float32 bytes
# of all the concatenations of one block on `size`×`size` maps, and use it for the four
# dense blocks of DenseNet-121 at 224 px (56, 28, 14 and 7 px). The channels add up to
# $L c_0 + k L (L + 1)/2$: the stored bytes grow with the square of the block's length.

# %% nbgrader={"grade": false, "grade_id": "ex-4-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def concat_bytes(c0, num_layers, k, size, batch=1):
    ### BEGIN SOLUTION
    channels = sum(c0 + layer * k for layer in range(1, num_layers + 1))
    return channels * size * size * 4 * batch
    ### END SOLUTION


c0 = 64
for block, (layers, side) in enumerate(zip((6, 12, 24, 16), (56, 28, 14, 7)), start=1):
    print(f"block {block}: {layers:2d} layers, {c0:4d} channels in, {side:2d} px: "
          f"{concat_bytes(c0, layers, 32, side) / MIB:5.1f} MiB per image")
    c0 = (c0 + layers * 32) // 2

# %% nbgrader={"grade": true, "grade_id": "ex-4-1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert concat_bytes(64, 6, 32, 56) == (6 * 64 + 32 * 21) * 56 * 56 * 4
### BEGIN HIDDEN TESTS
# against the analytic count of the graph itself: the Concat outputs of a real block
from gluon_densenet import DenseBlock

for c_first, n_layers, k_growth, side, batch in [(64, 6, 32, 56, 1), (24, 5, 12, 9, 2),
                                                 (128, 12, 32, 28, 3)]:
    block_rows = activation_rows(DenseBlock(n_layers, k_growth, bn_size=4, in_channels=c_first),
                                 (batch, c_first, side, side))
    graph = sum(r.bytes for r in block_rows if r.op == "Concat")
    assert abs(concat_bytes(c_first, n_layers, k_growth, side, batch) - graph) <= 0.01 * graph
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 4.2: how large a batch fits in 4 GiB?
#
# Training needs the activations of every image in the batch plus, once, the weights,
# their gradients and SGD's momentum (three copies of the parameters). With
# `activation_rows` and `parameter_bytes`, compute for DenseNet-169 at 224 px
# (`densenet169(classes=1000, in_channels=3)`) the analytic activation bytes per image,
# `per_image_169`, and the largest batch whose training memory fits in 4 GiB by this
# count, `max_batch_169`. The cell after the tests sets the same count against what
# MXNet really held in this chapter's measurements.

# %% nbgrader={"grade": false, "grade_id": "ex-4-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
from gluon_densenet import densenet169

BUDGET = 4 * 1024 * MIB
### BEGIN SOLUTION
net169 = densenet169(classes=1000, in_channels=3)
per_image_169 = sum(r.bytes for r in activation_rows(net169, (1, 3, 224, 224)))
fixed_169 = 3 * parameter_bytes(net169, (1, 3, 224, 224))
max_batch_169 = int((BUDGET - fixed_169) // per_image_169)
### END SOLUTION
print(f"DenseNet-169 at 224 px: {per_image_169 / MIB:.0f} MiB of activations per image; "
      f"at most {max_batch_169} images per batch in 4 GiB by the analytic count")

# %% nbgrader={"grade": true, "grade_id": "ex-4-2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert 100 * MIB < per_image_169 < 400 * MIB
### BEGIN HIDDEN TESTS
reference = densenet169(classes=1000, in_channels=3)
activations = sum(r.bytes for r in activation_rows(reference, (1, 3, 224, 224)))
assert abs(per_image_169 - activations) <= 0.01 * activations
weights = parameter_bytes(reference, (1, 3, 224, 224))
assert max_batch_169 == int((BUDGET - 3 * weights) // activations)
### END HIDDEN TESTS

# %% [markdown]
# How does this count relate to what MXNet holds? DenseNet-169 was not measured above,
# but DenseNet-121, built from the same layers, was. The same count for DenseNet-121
# at its largest measured configuration, against the measured peak of the whole
# process (runtime, weights and gradients included, which is what has to fit in a
# budget), and the planner's share per counted byte for both nets:

# %% tags=["nbval-ignore-output"]
size, batch = max(std121.index)                  # 224 px, batch 32 in a full run
net121 = nets["densenet121"]
count_121 = (batch * sum(r.bytes for r in activation_rows(net121, (1, 3, size, size)))
             + 3 * parameter_bytes(net121, (1, 3, size, size))) / MIB
peak_121 = std121.loc[(size, batch), "peak_mib"]
ref169 = densenet169(classes=1000, in_channels=3)
act169 = sum(r.bytes for r in activation_rows(ref169, (1, 3, 224, 224)))
share169 = planned_bytes(ref169, (2, 3, 224, 224)) / (2 * act169)
direction = "over" if count_121 > peak_121 else "under"
print(f"DenseNet-121, {size} px, batch {batch}: the count gives {count_121:.0f} MiB, the "
      f"measured peak of the process was {peak_121:.0f} MiB (×{count_121 / peak_121:.2f})")
print(f"MXNet's planner allots {explained.loc['densenet121', 'planner / counted']:.2f} of the "
      f"counted activations for DenseNet-121 and {share169:.2f} for DenseNet-169")
print(f"so on this machine the count {direction}estimates what MXNet holds, and the batch it "
      f"allows is an {'under' if direction == 'over' else 'over'}estimate of the largest "
      f"batch that fits")

# %% [markdown]
# ### Exercise 4.3: how else could the memory be reduced?
#
# This chapter measured one way, the memory-efficient step. Name two more ways to
# train DenseNet-121 at 224 px in less memory, say what each one costs, and say which
# figures on this page (or which measurement you would add) support your answer.

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-4-3-answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer.* Three ways, none of them measured on this page:
#
# * **Smaller batches, with gradient accumulation.** The activations scale with the
#   batch (exercise 4.2's count is per image, and the measured peaks above grow with
#   the batch), while the parameters do not. Gluon can sum the gradients of several
#   small batches (`grad_req="add"`) before one update, so the effective batch stays
#   the same. Cost: more, smaller steps, which use the hardware less well, and
#   BatchNorm statistics from fewer images. To check it, measure `measure_peak` at half
#   the batch.
# * **Lower precision.** An activation stored in float16 takes 2 bytes instead of 4,
#   half its row of the analytic count (`activation_rows(..., dtype_bytes=2)` gives the
#   all-float16 bound). Mixed precision keeps some operators, BatchNorm among them, in
#   float32, so the saving is smaller. Cost: loss scaling and some numerical risk.
# * **Recomputation in general** (gradient checkpointing; Chen et al., 2016, *Training
#   Deep Nets with Sublinear Memory Cost*, arXiv 1604.06174): keep only some layers'
#   outputs and recompute the rest in backward. The memory-efficient step is its
#   DenseNet-specific form. Its cost is recomputation time: the step-time ratios
#   printed in the conclusion above, and the side-by-side timings of `make bench`
#   (README, "Performance").
