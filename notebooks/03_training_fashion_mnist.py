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
# # 3. Training on Fashion-MNIST
#
# Chapters 1 and 2 built DenseNets; this one trains one. The data is Fashion-MNIST
# (Xiao, Rasul and Vollgraf, 2017): 28×28 grayscale photos of clothing in 10 classes,
# 60,000 for training and 10,000 for testing. We look at the data, pick a device, train
# with a progress bar and live loss and accuracy curves, evaluate with a confusion
# matrix and a gallery of mistakes, and finally save the trained parameters and load
# them into a fresh network.
#
# **Two modes.** With `GLUON_DENSENET_SMOKE=1` (how CI runs this notebook) the chapter
# uses the 5,000/1,000-image subset shipped with the package and only a few training
# steps, so it finishes in seconds; its accuracy is accordingly poor. Without it, the
# same cells train on the full dataset for 10 epochs. The full data is read from the
# directory in `GLUON_DENSENET_DATA`, or downloaded (and checksum-verified) on first
# use. **The page you are reading is a full run**; the first output below says when and
# on what machine it ran (`make pages` re-runs it).
#
# **On a GPU** nothing changes: run the same notebook on a machine with an NVIDIA GPU
# and the CUDA build of MXNet (`mxnet-cu112`), and the device helpers below pick up every
# GPU that build can run; the training loop splits each batch across them. That wheel has
# code for compute capability 5.0 to 8.9 only (Maxwell to Ada). A Hopper or Blackwell GPU
# is skipped with a one-line warning, and the chapter runs on the CPU (README, "GPUs").

# %% tags=["nbval-ignore-output"]
import time
from pathlib import Path

import matplotlib.pyplot as plt
import mxnet as mx
import numpy as np

from gluon_densenet import (
    count_parameters,
    count_weighted_layers,
    describe_devices,
    format_summary,
    get_model,
    summary,
    try_all_gpus,
)
from gluon_densenet.data import CLASS_NAMES, get_fashion_mnist_labels, load_data
from gluon_densenet.notebook import choose, describe_run, run_metadata, smoke_mode
from gluon_densenet.plots import live_plot, plot_confusion_matrix, show_images
from gluon_densenet.training import History, confusion_matrix, evaluate, predict, train

# %matplotlib inline

SEED = 0
mx.random.seed(SEED)
np.random.seed(SEED)

# Files this chapter writes go to notebooks/runs/ (ignored by git).
NOTEBOOK_DIR = Path.cwd() if Path.cwd().name == "notebooks" else Path.cwd() / "notebooks"
RUN_DIR = NOTEBOOK_DIR / "runs" / "03_training_fashion_mnist"
RUN_DIR.mkdir(parents=True, exist_ok=True)

print(describe_run({"meta": run_metadata()}))

# %% [markdown]
# ## Settings
#
# Every setting that differs between the modes goes through `choose(smoke, full)`.
# The model is `densenet21_d2l`, the small DenseNet of *Dive into Deep Learning*: four
# dense blocks of four plain BN-ReLU-3×3 layers, growth rate $k = 32$, compression
# θ = 0.5. It is small enough to train on the full data in minutes rather than hours on
# a CPU (the training time is printed below).
#
# To train the real DenseNet-121 of chapter 2 instead, set `MODEL = "densenet121"`. It
# takes the same 32-pixel inputs, but with its 121 layers and millions of parameters it
# is several times slower per epoch (chapter 5 measures how much), so it is best run
# on a GPU.

# %% tags=["nbval-ignore-output"]
MODEL = "densenet21_d2l"          # or "densenet121"
RESIZE = 32                       # pixels; the ImageNet stem needs at least 29
BATCH_SIZE = choose(128, 256)
EPOCHS = choose(3, 10)
MAX_STEPS = choose(20, None)      # batches per epoch (None: the whole training set)
LR = 0.1

print(f"model {MODEL}, {RESIZE} px, batch {BATCH_SIZE}, {EPOCHS} epochs, "
      f"{'all' if MAX_STEPS is None else MAX_STEPS} batches per epoch, lr {LR}")

# %% [markdown]
# ## The data
#
# `load_data` returns two loaders of `(X, y)` batches: `X` holds float32 images of shape
# (batch, 1, 32, 32) scaled to [0, 1] and bilinearly resized from 28 pixels, as in the
# classic DenseNet chapter; `y` holds the class indices. The training loader reshuffles
# every epoch, reproducibly (seeded); the test loader keeps the file's order.

# %% tags=["nbval-ignore-output"]
train_iter, test_iter = load_data(BATCH_SIZE, resize=RESIZE, subset=smoke_mode(), seed=SEED)
X, y = next(iter(test_iter))
print(f"training examples: {train_iter.num_examples:,}, test examples: {test_iter.num_examples:,}")
print(f"training batches: {len(train_iter)}; one test batch: X {X.shape} {X.dtype.__name__}, "
      f"y {y.shape}; pixel range [{X.min().asscalar():.1f}, {X.max().asscalar():.1f}]")

# %% [markdown]
# Here are the first training images at their native 28 pixels, each titled with its
# class name (`get_fashion_mnist_labels` turns class indices into names).
#
# The package draws them with its own `show_images`. In d2l 1.0.3 the MXNet code of
# the Fashion-MNIST section defines `show_images` as a stub that raises
# `NotImplementedError` (a later, generic definition in the same module replaces it);
# rather than depend on that, `gluon_densenet.plots.show_images` takes NumPy arrays or
# NDArrays of shape (N, H, W) or (N, 1, H, W) and works the same everywhere.

# %%
n_show = 16
show_images(train_iter.images[:n_show], titles=get_fashion_mnist_labels(train_iter.labels[:n_show]),
            ncols=8, scale=1.4)
plt.show()

# %% [markdown]
# Small, low-contrast images; some classes (shirt, T-shirt/top, pullover, coat) look
# alike at this size, and the confusion matrix below measures how often the network
# mixes them up. The same test
# images after resizing to 32 pixels, as the network sees them:

# %%
show_images(X[:8], titles=get_fashion_mnist_labels(y[:8].asnumpy()), ncols=8, scale=1.4)
plt.show()

# %% [markdown]
# ## The device
#
# `try_all_gpus()` returns every GPU this MXNet build can run, or `[mx.cpu()]` when there
# is none (also with a CUDA build of MXNet on a machine without a driver).
# `describe_devices()` says what it found, naming each GPU with its compute capability and
# whether this build can run it. The output below depends on the machine that ran the
# notebook.

# %% tags=["nbval-ignore-output"]
devices = try_all_gpus()
print(describe_devices())
print("training on:", devices)

# %% [markdown]
# ## The model
#
# `get_model` builds any of the package's networks by name. Fashion-MNIST has 10
# classes and one (grayscale) input channel:

# %%
net = get_model(MODEL, classes=10, in_channels=1)
net.initialize(mx.init.Xavier(), ctx=devices)
print(f"{MODEL}: {count_weighted_layers(net)} weighted layers, "
      f"{count_parameters(net):,} parameters, smallest input {net.min_input_size()} px")
print(format_summary(summary(net, (1, 1, RESIZE, RESIZE), max_depth=2, ctx=devices[0]),
                     (1, 1, RESIZE, RESIZE)))

# %% [markdown]
# The 32-pixel image shrinks to 8×8 in the stem and to 1×1 before the global average
# pooling, and the classifier outputs 10 class scores.
#
# ## Training
#
# `train` runs minibatch SGD with momentum 0.9 and weight decay $10^{-4}$ on the softmax
# cross-entropy loss, with the learning rate following a cosine curve from `LR` down to
# zero. It hybridizes the network (compiling it to a static graph for speed), shows a
# progress bar per epoch with the running loss, accuracy and throughput, and evaluates
# on the test set after each epoch. `on_epoch_end=live_plot()` redraws the loss and
# accuracy curves after each epoch.
#
# The outputs of this cell (progress, numbers, curves) differ from run to run, so CI
# does not compare them.

# %% tags=["nbval-ignore-output"]
start = time.perf_counter()
history = train(net, train_iter, test_iter, epochs=EPOCHS, lr=LR, ctx=devices,
                max_steps_per_epoch=MAX_STEPS, on_epoch_end=live_plot(), seed=SEED)
train_seconds = time.perf_counter() - start
history.save(RUN_DIR / "history.json")

# %% [markdown]
# Each point is one epoch: the training loss falls and the training accuracy rises;
# the test accuracy rises overall, not necessarily every epoch. The history holds the
# numbers behind the curves, one record per epoch:

# %% tags=["nbval-ignore-output"]
for r in history:
    print(f"epoch {r.epoch:2d}: loss {r.train_loss:.3f}, train acc {r.train_acc:.3f}, "
          f"test acc {r.test_acc:.3f}, {r.img_per_s:,.0f} images/s, {r.time_s:.1f} s")
print(f"total training time: {train_seconds:.0f} s; {history.summary()}")

# %% [markdown]
# On this page these are the full run's numbers: every epoch sees all 60,000 training
# images, and the test accuracy is measured on all 10,000 test images after each epoch.
# (In CI's smoke mode the same cells run a few dozen steps on the subset.)
#
# ## Evaluation
#
# `evaluate` gives the accuracy on the whole test set; `predict` returns the true and
# predicted class of every test image, from which we build the confusion matrix.

# %% tags=["nbval-ignore-output"]
test_acc = evaluate(net, test_iter, ctx=devices)
labels, preds = predict(net, test_iter, ctx=devices)
correct = int((labels == preds).sum())
print(f"test accuracy: {test_acc:.4f} ({correct:,} of {len(labels):,} correct)")

# %% [markdown]
# The confusion matrix counts, for each true class (row), how often each class was
# predicted (column); normalised by row, the diagonal is each class's recall.

# %%
plot_confusion_matrix(labels, preds, CLASS_NAMES, normalize=True)
plt.show()

# %% [markdown]
# The pairs of classes confused most often, read off the matrix:

# %% tags=["nbval-ignore-output"]
cm = confusion_matrix(labels, preds, len(CLASS_NAMES))
off_diagonal = cm - np.diag(np.diag(cm))
for flat in np.argsort(off_diagonal, axis=None)[::-1][:3]:
    true_c, pred_c = np.unravel_index(flat, cm.shape)
    print(f"{CLASS_NAMES[true_c]} predicted as {CLASS_NAMES[pred_c]}: "
          f"{off_diagonal[true_c, pred_c]} times")

# %% [markdown]
# ## What the network gets wrong
#
# Test images the network misclassified, each titled "true → predicted":

# %% tags=["nbval-ignore-output"]
wrong = np.flatnonzero(labels != preds)[:16]
if len(wrong):
    show_images(test_iter.images[wrong],
                titles=[f"{CLASS_NAMES[labels[i]]} →\n{CLASS_NAMES[preds[i]]}" for i in wrong],
                ncols=8, scale=1.6)
    plt.show()
else:
    print("no misclassified test images")

# %% [markdown]
# The most frequent confusions printed above are the classes the data section singled
# out as alike: the tops (shirt, T-shirt/top) and pullovers against coats.
#
# ## Saving and reloading the parameters
#
# `save_parameters` writes every parameter (including BatchNorm's running statistics) to
# one file. To reuse the model, build a fresh network of the same architecture and load
# the file into it; its parameters are then identical to the trained ones, and so is its
# accuracy.

# %%
params_file = RUN_DIR / f"{MODEL}.params"
net.save_parameters(str(params_file))

fresh = get_model(MODEL, classes=10, in_channels=1)
fresh.load_parameters(str(params_file), ctx=devices)
fresh.hybridize()

trained_params = net.collect_params()
fresh_params = fresh.collect_params()
identical = all(np.array_equal(a.data(devices[0]).asnumpy(), b.data(devices[0]).asnumpy())
                for a, b in zip(trained_params.values(), fresh_params.values()))
print(f"saved {params_file.relative_to(NOTEBOOK_DIR)}; "
      f"{len(fresh_params.keys())} parameter arrays loaded, all identical: {identical}")

# %% [markdown]
# The reloaded network classifies the test set exactly as the trained one did:

# %% tags=["nbval-ignore-output"]
reloaded_acc = evaluate(fresh, test_iter, ctx=devices)
print(f"trained net: {test_acc:.4f}, reloaded net: {reloaded_acc:.4f}")
assert reloaded_acc == test_acc

# %% [markdown]
# The history saved during training can be reloaded too, for example to plot the curves
# again later without retraining:

# %% tags=["nbval-ignore-output"]
reloaded_history = History.load(RUN_DIR / "history.json")
print(f"history reloaded: {len(reloaded_history)} epochs (ran {EPOCHS})")

# %% [markdown]
# ## Summary
#
# * `load_data(batch_size, resize=32)` gives shuffled, seeded Fashion-MNIST batches;
#   `subset=True` uses the shipped subset for quick runs.
# * `try_all_gpus()` picks the devices: every GPU this MXNet build can run, else the CPU
#   (this page ran on a CPU; the GPU path is not tested here, README, "GPUs").
# * `train(..., on_epoch_end=live_plot())` trains with progress bars and live curves;
#   `evaluate`, `predict` and `plot_confusion_matrix` show how well and where it fails.
# * `save_parameters` / `load_parameters` move the trained weights into a fresh network.
