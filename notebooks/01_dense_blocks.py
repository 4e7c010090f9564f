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
# # 1. Dense blocks
#
# DenseNet (Huang, Liu, van der Maaten and Weinberger, 2017, *Densely Connected
# Convolutional Networks*, CVPR) is built from one idea: inside a **dense block**, every
# layer receives the feature maps of *all* the layers before it, and passes its own
# feature maps on to all the layers after it. This chapter builds that block by hand in
# MXNet Gluon, checks its channel arithmetic, adds the **transition layer** that sits
# between blocks, and finally compares the hand-built pieces with the ones in
# `gluon_densenet`, so that later chapters can import them knowing exactly what they do.
#
# Every chapter runs in two modes. With `GLUON_DENSENET_SMOKE=1` (used in CI) it runs
# small and fast; without it, it does the real work. This chapter only builds blocks,
# so both modes do the same thing here.

# %% [markdown]
# **Learning objectives.** After this chapter you can
#
# * build a dense block and a transition layer by hand in MXNet Gluon;
# * predict a dense block's output width, $c_0 + L \cdot k$, and check it;
# * say how concatenation differs from ResNet's addition;
# * show that a block's parameters grow quadratically with its number of layers;
# * use `gluon_densenet`'s blocks, knowing they compute what you built.
#
# **Prerequisites.** Convolutions, batch normalisation and ReLU; Gluon's `HybridBlock`;
# ResNet's residual block (*Dive into Deep Learning*, chapters 7 and 8).
#
# **Run time on a 2-core CPU.** A few seconds in either mode (`make pages` prints each
# chapter's seconds): the chapter only builds small blocks, so smoke mode and a full run
# do the same work.
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
import matplotlib.pyplot as plt
import mxnet as mx
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from mxnet.gluon import nn

# %matplotlib inline

mx.random.seed(0)
np.random.seed(0)
print("MXNet", mx.__version__)

# %% [markdown]
# ## Adding versus concatenating
#
# A residual block (He et al., 2016) computes $\mathbf{y} = \mathbf{x} + f(\mathbf{x})$:
# the layer's output is *added* to its input, so the two must have the same number of
# channels and, after the sum, the network can no longer tell which part of the signal
# came from where.
#
# A dense block instead *concatenates* along the channel axis,
# $\mathbf{y} = [\mathbf{x}, f(\mathbf{x})]$. Nothing is overwritten: the input is passed
# on unchanged and each layer only has to contribute a few new channels. The paper calls
# that number the **growth rate** $k$. Layer $\ell$ of a block whose input has $c_0$
# channels therefore sees $c_0 + (\ell-1)\,k$ channels, and after $L$ layers the block
# outputs
#
# $$c_0 + L \cdot k$$
#
# channels.
#
# A common description says that a dense block merges its layers' outputs by
# element-wise addition, as ResNet does but with more connections. It does not, and the
# smallest example shows the difference in shapes and in values: a "feature map"
# $\mathbf{x}$ of 2 channels of one pixel each, and a layer output $f(\mathbf{x})$ of 2
# channels.

# %%
x = mx.nd.array([1, 2]).reshape((1, 2, 1, 1))        # (batch, channels, height, width)
fx = mx.nd.array([10, 20]).reshape((1, 2, 1, 1))
added, joined = x + fx, mx.nd.concat(x, fx, dim=1)
print("x + f(x): shape", added.shape, "values", added.asnumpy().ravel())
print("[x, f(x)]: shape", joined.shape, "values", joined.asnumpy().ravel())

h = mx.nd.array([7, 8, 9]).reshape((1, 3, 1, 1))     # 3 new channels instead of 2
print("[x, h]:    shape", mx.nd.concat(x, h, dim=1).shape)
try:
    (x + h).wait_to_read()
except mx.base.MXNetError as err:
    print("x + h:", [line for line in str(err).splitlines() if "Check failed" in line][-1])

# %% [markdown]
# The sum has the input's 2 channels, holding 11 and 22: the 1 and the 2 of $\mathbf{x}$
# can no longer be read from it. The concatenation has 4 channels holding 1, 2, 10 and
# 20: $\mathbf{x}$ is passed on unchanged and $f(\mathbf{x})$ sits beside it. Only
# concatenation accepts a different number of new channels (3 give 5 channels);
# addition refuses shapes that differ.
#
# Because every later layer can read every earlier feature map directly, the
# features can be reused rather than relearned, and gradients reach early layers over
# short paths. The paper reports that DenseNets reach the ImageNet accuracy of ResNets
# with far fewer parameters (Huang et al., 2017, Figure 3: DenseNet-201, about 20 M
# parameters, against ResNet-101, more than 40 M) and attributes that compactness to
# feature reuse; the short paths it offers as one explanation of the accuracy ("implicit
# deep supervision", its Section 5). This book does not train on ImageNet; chapter 7
# counts where the parameters go.
#
# *Dive into Deep Learning* (Zhang et al., §8.7, "From ResNet to DenseNet") tells the
# same story as an expansion. Like a Taylor series, which writes a function as a
# constant plus ever higher-order terms, ResNet splits a function into two terms,
# $f(\mathbf{x}) = \mathbf{x} + g(\mathbf{x})$: the identity and a learned rest.
# DenseNet keeps going and keeps every term apart instead of summing them:
#
# $$\mathbf{x} \to \left[\mathbf{x},\; f_1(\mathbf{x}),\;
#   f_2([\mathbf{x}, f_1(\mathbf{x})]),\;
#   f_3([\mathbf{x}, f_1(\mathbf{x}), f_2([\mathbf{x}, f_1(\mathbf{x})])]),\; \ldots\right]$$
#
# Why does ResNet not need concatenation? Our reading: a residual block sets out to
# make the identity easy to learn (He et al., 2016, §3.1), and the sum already carries
# $\mathbf{x}$ forward to the next layer. What the sum gives up is the separation, which
# the DenseNet paper puts as summation possibly impeding the information flow (its
# Section 3):
# after $\mathbf{x} + g(\mathbf{x})$ a later layer sees one mixture and cannot pick out
# $\mathbf{x}$ or $g(\mathbf{x})$ again, and every layer has to be as wide as the
# stream it adds to. Concatenation keeps each term readable on its own channels, at
# the price of an ever-wider input, which chapter 2 (bottleneck, compression) and
# chapter 4 (memory) deal with.
#
# The figure below draws both connections. Its channel counts are computed from $c_0$
# and $k$, not typed in.

# %%
def draw_box(ax, x, y, text, color, w=1.7, h=0.55):
    """A rounded box centred on (x, y)."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05",
                                facecolor=color, edgecolor="black", linewidth=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def draw_arrow(ax, start, end, rad=0.0, color="black"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12,
                                 connectionstyle=f"arc3,rad={rad}", color=color, linewidth=1.2))


c0, k = 64, 32   # input channels and growth rate used in the drawing
fig, (ax_res, ax_dense) = plt.subplots(1, 2, figsize=(11, 5.2))

# Left: a residual connection adds f(x) to x, so the width stays c0.
draw_box(ax_res, 0, 4, f"x\n{c0} ch", "#dde8f5")
draw_box(ax_res, 0, 2.6, f"f(x): conv layers\n{c0} ch", "#f7e3c6", w=2.2)
draw_box(ax_res, 0, 1.2, "+  (sum)", "#e8e8e8", w=1.2)
draw_box(ax_res, 0, 0, f"y = x + f(x)\n{c0} ch", "#d8efd8", w=2.0)
draw_arrow(ax_res, (0, 3.7), (0, 2.9))
draw_arrow(ax_res, (0, 2.3), (0, 1.5))
draw_arrow(ax_res, (0, 0.9), (0, 0.3))
draw_arrow(ax_res, (0.9, 4.0), (0.65, 1.25), rad=-0.5, color="#1f77b4")
ax_res.text(1.55, 2.6, "identity", color="#1f77b4", fontsize=9)
ax_res.set_title("ResNet: add (channels must match)")

# Right: a dense block of two layers concatenates, so the width grows by k per layer.
c1, c2 = c0 + k, c0 + 2 * k
draw_box(ax_dense, 0, 4, f"x\n{c0} ch", "#dde8f5")
draw_box(ax_dense, -1.3, 2.9, f"layer 1\n+{k} ch", "#f7e3c6", w=1.5)
draw_box(ax_dense, 0.9, 2.3, f"[x, h1]\n{c0}+{k} = {c1} ch", "#e8e8e8", w=2.0)
draw_box(ax_dense, -1.3, 1.3, f"layer 2\n+{k} ch", "#f7e3c6", w=1.5)
draw_box(ax_dense, 0.9, 0.0, f"[x, h1, h2]\n{c1}+{k} = {c2} ch", "#d8efd8", w=2.2)
draw_arrow(ax_dense, (-0.4, 3.8), (-1.1, 3.2))
draw_arrow(ax_dense, (0.3, 3.7), (0.8, 2.6), color="#1f77b4")
draw_arrow(ax_dense, (-0.55, 2.85), (-0.05, 2.45))
draw_arrow(ax_dense, (-0.1, 2.1), (-0.9, 1.6))
draw_arrow(ax_dense, (1.1, 2.0), (1.1, 0.3), color="#1f77b4")
draw_arrow(ax_dense, (-1.0, 1.0), (0.0, 0.2))
ax_dense.text(1.35, 1.1, "copied,\nnot summed", color="#1f77b4", fontsize=9)
ax_dense.set_title(f"DenseNet: concatenate (growth rate k = {k})")

for ax in (ax_res, ax_dense):
    ax.set_xlim(-2.4, 2.6)
    ax.set_ylim(-0.6, 4.6)
    ax.set_aspect("equal")
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# On the left the block's output has as many channels as its input, whatever $f$ does.
# On the right every layer adds $k$ channels and keeps everything it was given, so the
# output has $c_0 + 2k$ channels.
#
# ## The composite layer, by hand
#
# Each layer of the original DenseNet is the composite function $H_\ell$ of the paper:
# batch normalisation, ReLU, then a 3×3 convolution producing $k$ channels (padding 1
# keeps the height and width, which concatenation requires). Normalising *before* the
# convolution ("pre-activation") matters here: each layer sees the raw, unnormalised
# outputs of all earlier layers, and its own BatchNorm rescales them for its own use.

# %%
def my_conv_block(channels):
    """BN -> ReLU -> 3x3 conv with `channels` outputs (the growth rate k)."""
    blk = nn.HybridSequential()
    blk.add(nn.BatchNorm(),
            nn.Activation("relu"),
            nn.Conv2D(channels, kernel_size=3, padding=1, use_bias=False))
    return blk


class MyDenseBlock(nn.HybridBlock):
    """`num_layers` composite layers; each one's input is the concatenation
    of the block input and every earlier layer's output."""

    def __init__(self, num_layers, growth_rate, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.net = nn.HybridSequential()
            for _ in range(num_layers):
                self.net.add(my_conv_block(growth_rate))

    def hybrid_forward(self, F, x):
        for layer in self.net:
            y = layer(x)
            x = F.concat(x, y, dim=1)   # channel axis of NCHW
        return x

# %% [markdown]
# `hybrid_forward` is the whole idea in two lines: run a layer, glue its output onto
# everything seen so far. (`F` is `mx.nd` when the block runs imperatively and `mx.sym`
# once it is hybridized, so the same code serves both.)
#
# ## The channel arithmetic
#
# Take a batch of 4 images with 3 channels of 8×8 pixels and a block of $L = 2$ layers
# with growth rate $k = 10$. The prediction is $3 + 2 \cdot 10$ output channels, and the
# spatial size must not change.

# %%
X = mx.nd.random.uniform(shape=(4, 3, 8, 8))
num_layers, growth_rate = 2, 10

blk = MyDenseBlock(num_layers, growth_rate)
blk.initialize()
Y = blk(X)

expected = X.shape[1] + num_layers * growth_rate
print("input: ", X.shape)
print("output:", Y.shape)
print(f"in + layers·k = {X.shape[1]} + {num_layers}·{growth_rate} = {expected}")
assert Y.shape == (4, expected, 8, 8)

# %% [markdown]
# The output has the predicted channel count and the same 8×8 resolution. The first 3
# channels of the output are the input itself, untouched:

# %%
print("first 3 channels equal the input:", bool((Y[:, :3] == X).min().asscalar()))

# %% [markdown]
# ## Transition layers
#
# Concatenation makes the channel count grow with every layer, and a dense block cannot
# downsample, because every layer's output must match the others in height and width.
# Both jobs go to the **transition layer** between two dense blocks: BatchNorm, ReLU, a
# 1×1 convolution that sets the number of channels, then 2×2 average pooling with stride
# 2, which halves height and width. Every DenseNet has transition layers. How many
# channels the 1×1 convolution keeps is the **compression** factor θ: it turns $c$
# channels into $\lfloor \theta c \rfloor$. The paper calls a DenseNet with θ < 1
# *DenseNet-C* (its experiments halve the channels); with θ = 1 a transition keeps them
# all. Chapter 2 compares the two. Here the transition maps the 23 channels from above
# down to 10.

# %%
def my_transition_block(channels):
    """BN -> ReLU -> 1x1 conv to `channels` -> 2x2 average pool, stride 2."""
    blk = nn.HybridSequential()
    blk.add(nn.BatchNorm(),
            nn.Activation("relu"),
            nn.Conv2D(channels, kernel_size=1, use_bias=False),
            nn.AvgPool2D(pool_size=2, strides=2))
    return blk


trans = my_transition_block(10)
trans.initialize()
Z = trans(Y)
print("dense block output:", Y.shape)
print("transition output: ", Z.shape)

# %% [markdown]
# The transition turned `(4, 23, 8, 8)` into `(4, 10, 4, 4)`: fewer channels, half the
# height and width. A DenseNet is a stack of *dense block → transition* pairs, with a
# last dense block feeding the classifier.
#
# ## The same pieces in `gluon_densenet`
#
# The package provides the same three building blocks: `conv_block`, `DenseBlock` and
# `transition_block` (in `gluon_densenet/models/blocks.py`). Two differences are worth
# knowing:
#
# * They accept `in_channels`, so every parameter shape is known right after
#   `initialize()` and parameters can be counted before any forward pass.
# * `DenseBlock` guards against a failure this project met in MXNet 1.9's oneDNN
#   (MKL-DNN) backend on CPUs, the error `could not construct a sub-memory` in the
#   *backward* pass of `concat` when a piece starts at a channel offset that is not a
#   multiple of 16 (README, *Troubleshooting*; offsets 3 and 13 here). In that case the
#   block concatenates `(N, C, H·W)` views instead; the checks below show that it
#   computes the same outputs.
#
# First, the shapes agree:

# %%
from gluon_densenet import DenseBlock, conv_block, count_parameters, transition_block

lib_blk = DenseBlock(num_layers, growth_rate, in_channels=X.shape[1])
lib_blk.initialize()
lib_trans = transition_block(10, in_channels=lib_blk.out_channels(X.shape[1]))
lib_trans.initialize()

print("library dense block:", lib_blk(X).shape,
      "| out_channels(3) =", lib_blk.out_channels(X.shape[1]))
print("library transition: ", lib_trans(lib_blk(X)).shape)
print("one library conv_block:", conv_block(growth_rate))

# %% [markdown]
# Now the values. Both blocks were initialised at random, independently, so their outputs
# differ. Copying the hand-built block's parameters into the library block, one by one in
# the same order (BatchNorm γ, β, running mean and variance, then the convolution weight,
# for each layer), must make them compute the same function.

# %%
mine = list(blk.collect_params().values())
theirs = list(lib_blk.collect_params().values())
assert len(mine) == len(theirs)
for p_mine, p_lib in zip(mine, theirs):
    assert p_mine.shape == p_lib.shape, (p_mine.name, p_mine.shape, p_lib.shape)
    p_lib.set_data(p_mine.data())
print(f"copied {len(mine)} parameter arrays; learnable parameters: "
      f"hand-built {count_parameters(blk)}, library {count_parameters(lib_blk)}")

same = np.allclose(blk(X).asnumpy(), lib_blk(X).asnumpy(), atol=1e-6)
print("outputs equal after copying:", same)

# %% [markdown]
# Same parameter shapes, same count, and outputs equal to within 10⁻⁶ on this random
# batch: the library's `DenseBlock` computes the block written above. The same check
# works for the transition layer, whose parameters are one BatchNorm and one 1×1
# convolution:

# %%
for p_mine, p_lib in zip(trans.collect_params().values(), lib_trans.collect_params().values()):
    p_lib.set_data(p_mine.data())
print("transition outputs equal:",
      np.allclose(trans(Y).asnumpy(), lib_trans(Y).asnumpy(), atol=1e-6))

# %% [markdown]
# The library also hybridizes (compiles the block into a static graph) without changing
# the result, and a backward pass through the library block with these awkward channel
# offsets runs and yields a gradient of the input's shape.

# %%
lib_blk.hybridize()
print("hybridized output still equal:",
      np.allclose(blk(X).asnumpy(), lib_blk(X).asnumpy(), atol=1e-6))

X.attach_grad()
with mx.autograd.record():
    loss = lib_blk(X).sum()
loss.backward()
print("input gradient:", X.grad.shape)

# %% [markdown]
# ## How a block's parameters grow with its length
#
# Layer $\ell$ of a block reads $c_0 + (\ell - 1)k$ channels. Its BatchNorm has two
# parameters per input channel (γ and β) and its 3×3 convolution $9k$ weights per input
# channel, so the layer costs $(9k + 2)\,(c_0 + (\ell - 1)k)$ parameters: a cost that
# grows *linearly* with $\ell$. A block of $L$ layers sums $L$ such terms,
#
# $$P(L) = (9k + 2)\left(c_0 L + k\,\frac{L(L-1)}{2}\right),$$
#
# a *quadratic* in $L$. A common description says that a dense block's parameters grow
# exponentially with its depth. They do not: a quadratic has constant second
# differences, while an exponential grows by the same factor at every step. The library's
# `DenseBlock`, counted for $L = 1, \ldots, 24$ with $c_0 = 64$ and $k = 32$ (the input
# width and growth rate of DenseNet-121's first block, chapter 2), shows which:

# %%
c0, k = 64, 32
lengths = np.arange(1, 25)
params = np.array([count_parameters(DenseBlock(int(L), k, in_channels=c0)) for L in lengths])
formula = (9 * k + 2) * (c0 * lengths + k * lengths * (lengths - 1) // 2)
for L in (1, 2, 3, 6, 12, 24):
    print(f"L = {L:2d}: {params[L - 1]:>9,} parameters")
print("equal to the formula for every L:", bool((params == formula).all()))
print("first differences (what layer L + 1 adds):", np.diff(params)[:4], "...")
print("second differences:", sorted(set(np.diff(params, n=2).tolist())),
      f"= (9k + 2)·k = {(9 * k + 2) * k:,}")
a, b, c = np.polyfit(lengths, params, 2)
print(f"least-squares quadratic: {a:,.0f}·L² + {b:,.0f}·L + {round(c)}")
ratios = params[1:] / params[:-1]
print("growth factor P(L+1)/P(L):",
      ", ".join(f"×{ratios[L - 1]:.2f} at L = {L}" for L in (1, 2, 6, 12, 23)))
print("doubling L:", ", ".join(f"P({2 * L})/P({L}) = {params[2 * L - 1] / params[L - 1]:.2f}"
                               for L in (6, 12)))

fig, (ax_lin, ax_log) = plt.subplots(1, 2, figsize=(10, 3.4))
for ax in (ax_lin, ax_log):
    ax.plot(lengths, params, "o", color="tab:blue", label="counted (DenseBlock)")
    ax.plot(lengths, np.polyval([a, b, c], lengths), color="tab:orange",
            label=f"{a:,.0f}·L² + {b:,.0f}·L")
    ax.set_xlabel("layers in the block, L")
    ax.grid(True, alpha=0.3)
ax_log.plot(lengths, params[0] * ratios[0] ** (lengths - 1), "--", color="tab:red",
            label=f"exponential, ×{ratios[0]:.1f} per layer")
ax_log.set_yscale("log")
ax_log.set_ylim(params[0] / 2, params[-1] * 20)
ax_lin.set_ylabel("learnable parameters")
ax_lin.set_title(f"a dense block, c0 = {c0}, k = {k}")
ax_log.set_title("the same, log scale")
ax_lin.legend(fontsize=8)
ax_log.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The counts match the formula for every $L$, the second differences are all the same
# number, $(9k + 2)k$, and a quadratic fits them exactly. The growth factor from one
# layer to the next is not constant but falls towards 1: an exponential through the first
# two counts (the dashed line, a straight line on the log scale) leaves the counts far
# behind. Doubling $L$ multiplies the parameters by a factor that approaches 4 as the
# $L^2$ term comes to dominate. The channels, $c_0 + Lk$, grow only linearly; it is
# every layer reading all of them that makes the total quadratic. Chapter 2's bottleneck
# layers lower the cost per input channel, not the quadratic shape.
#
# ## Summary
#
# * A dense block concatenates each layer's $k$ new channels onto everything before it:
#   $c_0$ channels in, $c_0 + L\cdot k$ out, at the same resolution.
# * Concatenation stacks channels and keeps every value; addition, ResNet's operation,
#   needs equal shapes and mixes them.
# * A transition layer (BN, ReLU, 1×1 conv, 2×2 average pool) sets the channel count
#   and halves height and width between blocks; with compression θ < 1 (DenseNet-C) it
#   reduces the channels.
# * A block's parameters grow quadratically with its number of layers: layer $\ell$
#   reads $c_0 + (\ell - 1)k$ channels.
# * `gluon_densenet.conv_block`, `DenseBlock` and `transition_block` are these pieces;
#   with the same parameters they compute the same outputs.
#
# Chapter 2 stacks them into DenseNet-121, adding the paper's bottleneck layers and
# compression.

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your answer and, where code can check the answer, a cell
# of tests. In the teacher's version (the chapters in `notebooks/` and their web pages) the
# answer cells hold model answers. The classroom edition (`make student`) empties them,
# and further tests, hidden from students, run when nbgrader grades the work.
#
# ### Exercise 1.1: how many weights does a dense block have?
#
# Layer $\ell$ of a block (counting from 1) sees $c_0 + (\ell - 1)k$ channels, so its
# 3×3 convolution holds $9\,(c_0 + (\ell - 1)k)\,k$ weights. Write
# `layer_in_channels(c0, num_layers, k)`, the list of the input widths of the block's
# layers, and `block_conv_weights(c0, num_layers, k)`, the number of 3×3 convolution
# weights in the whole block. The loop below prints the count for $c_0 = 64$, $k = 32$
# and three block lengths, and by what factor it grew each time $L$ doubled: a little
# under 4, as for the quadratic of the section *How a block's parameters grow with its
# length* (the convolutions alone hold $9k/(9k + 2)$ of that section's parameters, so
# the factors are the same).

# %% nbgrader={"grade": false, "grade_id": "ex-1-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def layer_in_channels(c0, num_layers, k):
    ### BEGIN SOLUTION
    return [c0 + i * k for i in range(num_layers)]
    ### END SOLUTION


def block_conv_weights(c0, num_layers, k):
    ### BEGIN SOLUTION
    return sum(9 * c * k for c in layer_in_channels(c0, num_layers, k))
    ### END SOLUTION


previous = None
for L in (6, 12, 24):
    weights = block_conv_weights(64, L, 32)
    doubled = f"  (×{weights / previous:.2f} for twice the layers)" if previous else ""
    print(f"c0 = 64, k = 32, L = {L:2d}: {weights:>9,} weights{doubled}")
    previous = weights

# %% nbgrader={"grade": true, "grade_id": "ex-1-1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert layer_in_channels(3, 2, 10) == [3, 13]
assert block_conv_weights(3, 2, 10) == 9 * 3 * 10 + 9 * 13 * 10
### BEGIN HIDDEN TESTS
for c_first, n_layers, k_growth in [(64, 6, 32), (16, 3, 12), (5, 1, 7)]:
    reference = DenseBlock(n_layers, k_growth, in_channels=c_first)
    reference.initialize()
    kernels = [p.shape for p in reference.collect_params().values() if len(p.shape) == 4]
    assert layer_in_channels(c_first, n_layers, k_growth) == [shape[1] for shape in kernels]
    assert block_conv_weights(c_first, n_layers, k_growth) == \
        sum(int(np.prod(shape)) for shape in kernels)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 1.2: adding instead of concatenating
#
# Write `MyResidualBlock(channels)`, a `HybridBlock` that computes
# $\mathbf{y} = \mathbf{x} + f(\mathbf{x})$ with $f$ = `my_conv_block(channels)`. The
# cell then runs it and a one-layer `MyDenseBlock` with $k = 16$ on the same 16-channel
# batch, and prints their output shapes and parameter counts.

# %% nbgrader={"grade": false, "grade_id": "ex-1-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
class MyResidualBlock(nn.HybridBlock):
    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        ### BEGIN SOLUTION
        with self.name_scope():
            self.body = my_conv_block(channels)
        ### END SOLUTION

    def hybrid_forward(self, F, x):
        ### BEGIN SOLUTION
        return x + self.body(x)
        ### END SOLUTION


X16 = mx.nd.random.uniform(shape=(2, 16, 8, 8))
res = MyResidualBlock(16)
res.initialize()
dense = MyDenseBlock(1, 16)
dense.initialize()
for name, block in (("residual", res), ("dense", dense)):
    print(f"{name:8s} output {block(X16).shape}, {count_parameters(block):,} learnable parameters")

# %% nbgrader={"grade": true, "grade_id": "ex-1-2-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert res(X16).shape == X16.shape, "a residual block keeps its input's shape"
assert not np.allclose(res(X16).asnumpy(), X16.asnumpy()), "f(x) must contribute"
### BEGIN HIDDEN TESTS
# With every convolution weight set to zero the branch adds nothing, so y = x exactly
# (outside autograd.record BatchNorm uses its running statistics).
probe = MyResidualBlock(16)
probe.initialize()
probe(X16)
for p in probe.collect_params().values():
    if len(p.shape) == 4:
        p.set_data(mx.nd.zeros(p.shape))
assert np.allclose(probe(X16).asnumpy(), X16.asnumpy())
assert count_parameters(res) == count_parameters(dense)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 1.3: why does ResNet not need concatenation?
#
# ResNet trains networks of over a hundred layers with addition alone. Using what
# exercise 1.2 printed, explain in a few sentences why it does not need concatenation,
# and what DenseNet gains by concatenating instead.

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-1-3-answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer.* What makes a very deep ResNet trainable is the identity path. The
# input reaches the output unchanged, and since
# $\partial\mathbf{y}/\partial\mathbf{x} = I + \partial f/\partial\mathbf{x}$, the
# gradient always has a term that reaches the input unchanged, whatever $f$ does (He et
# al., 2016, *Identity Mappings in Deep Residual Networks*,
# [arXiv:1603.05027](https://arxiv.org/abs/1603.05027)). Addition provides that path
# and keeps the width fixed (the residual block above returns its 16 channels), so no
# concatenation is needed for depth. The price is that $f(\mathbf{x})$ is mixed into
# the same channels: a later layer cannot read an earlier layer's features apart from
# the sum, and every branch must end at the full width of the sum (ResNet-50's
# bottleneck narrows inside the branch, but its last 1×1 convolution widens back). The
# dense layer has exactly as many parameters (printed above), but returns 32 channels:
# the 16 it received, untouched, plus 16 new ones. Because earlier features stay
# readable, each dense layer only has to add $k$ new channels, which is why DenseNet's
# layers can be so narrow; chapter 7 counts what that saves.
