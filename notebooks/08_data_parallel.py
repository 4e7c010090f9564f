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
# # 8. Data parallelism: one training step on several devices and machines
#
# *The question:* chapter 3 trained a DenseNet in one process on one device. How is one
# training step spread over several devices, or over several processes that may sit on
# different machines, and is the result still the step of one device on the whole batch?
#
# The answer has two levels. Inside one process, `train(..., ctx=devices)` splits each
# batch over the devices and sums their gradients before one update. Across processes,
# MXNet's key-value store becomes a *parameter server*, and the package's launcher runs
# such a job on this machine. Inside one process we measure when the parallel step
# equals the single-device step and when it does not; across processes we run a
# two-worker job beside one process on the same batches and compare the two.
#
# **Two modes.** With `GLUON_DENSENET_SMOKE=1` (how CI runs this notebook) the chapter
# uses the small subset of Fashion-MNIST shipped with the package and trains for 20
# steps; without it, it trains on the full dataset for one epoch, once in one process and
# once with two workers. **The page you are reading is a full run**; the first output below
# says when and on what machine it ran.

# %% [markdown]
# **Learning objectives.** After this chapter you can
#
# * explain data parallelism: each device computes the gradient of its slice of the
#   batch, the gradients are summed, and one step is normalised by the whole batch;
# * say when a step on several devices equals the step on one, and why BatchNorm breaks
#   the equality;
# * describe MXNet's parameter server (scheduler, servers, workers; `dist_sync` and
#   `dist_async`) and what a worker sends at each step;
# * run a two-worker job on one machine with `gluon-densenet launch`, on loopback only,
#   and compare it fairly with one process.
#
# **Prerequisites.** Chapter 3 (`load_data`, `train` and the command line); minibatch
# SGD (*Dive into Deep Learning*, "Minibatch Stochastic Gradient Descent").
#
# **Run time on a 2-core CPU.** Nearly all of it is the two trainings of the last
# section, one epoch of chapter 3's network each (20 steps on the shipped subset in
# smoke mode); the page prints the seconds each took. The rest takes seconds.
#
# **References.**
#
# * Huang, Liu, van der Maaten and Weinberger (2017), *Densely Connected Convolutional
#   Networks*, CVPR, [arXiv:1608.06993](https://arxiv.org/abs/1608.06993).
# * Ioffe and Szegedy (2015), *Batch Normalization: Accelerating Deep Network Training
#   by Reducing Internal Covariate Shift*, ICML,
#   [arXiv:1502.03167](https://arxiv.org/abs/1502.03167).
# * Li, Andersen, Park, Smola, Ahmed, Josifovski, Long, Shekita and Su (2014), *Scaling
#   Distributed Machine Learning with the Parameter Server*, OSDI,
#   <https://www.usenix.org/conference/osdi14/technical-sessions/presentation/li_mu>.
# * Apache MXNet documentation, *Distributed Training in MXNet*,
#   <https://mxnet.apache.org/api/faq/distributed_training>.
# * Goyal, Dollár, Girshick, Noordhuis, Wesolowski, Kyrola, Tulloch, Jia and He (2017),
#   *Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour*,
#   [arXiv:1706.02677](https://arxiv.org/abs/1706.02677).
# * Zhang, Dana, Shi, Zhang, Wang, Tyagi and Agrawal (2018), *Context Encoding for
#   Semantic Segmentation*, CVPR, [arXiv:1803.08904](https://arxiv.org/abs/1803.08904)
#   (BatchNorm synchronised across devices).
# * Pleiss, Chen, Huang, Li, van der Maaten and Weinberger (2017), *Memory-Efficient
#   Implementation of DenseNets*, [arXiv:1707.06990](https://arxiv.org/abs/1707.06990).
# * Zhang, Lipton, Li and Smola, *Dive into Deep Learning*: "Training on Multiple GPUs",
#   <https://d2l.ai/chapter_computational-performance/multiple-gpus.html>; "Parameter
#   Servers", <https://d2l.ai/chapter_computational-performance/parameterserver.html>;
#   §8.7 "Densely Connected Networks (DenseNet)",
#   <https://d2l.ai/chapter_convolutional-modern/densenet.html>.

# %% tags=["nbval-ignore-output"]
import gluon_densenet  # noqa: F401, I001  first: MXNet then uses one thread per core
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn

from gluon_densenet import count_parameters, get_model
from gluon_densenet.chapters import choose, describe_run, run_metadata, smoke_mode
from gluon_densenet.data import load_data
from gluon_densenet.training import History, train

SEED = 0
MODEL = "densenet21_d2l"          # chapter 3's network
RESIZE = 32
BATCH_SIZE = choose(128, 256)     # the global batch: all devices or workers together
LR = 0.1

# Files this chapter writes go to runs/ beside the notebook (ignored by git).
RUN_DIR = Path("runs") / "08_data_parallel"
RUN_DIR.mkdir(parents=True, exist_ok=True)

train_iter, test_iter = load_data(BATCH_SIZE, resize=RESIZE, subset=smoke_mode(), seed=SEED)
print(describe_run({"meta": run_metadata()}))
print(f"model {MODEL}, {RESIZE} px, global batch {BATCH_SIZE}, lr {LR}; "
      f"{train_iter.num_examples:,} training and {test_iter.num_examples:,} test images")

# %% [markdown]
# ## One step on several devices
#
# Data parallelism keeps a full copy of the parameters on every device. For each batch,
# every device takes a slice of the examples, computes the loss of its slice and the
# gradient of that loss, and the gradients of all devices are **summed**. One update is
# then applied to every copy, divided by the size of the **whole** batch, so that it is
# the update for the mean loss over the batch. `train(..., ctx=devices)` does this: it
# splits the batch with `gluon.utils.split_and_load`, and `gluon.Trainer` sums the
# gradients over the devices (its key-value store, *kvstore*) inside
# `trainer.step(batch_size)`.
#
# No GPU is needed to try this: MXNet accepts `mx.cpu(0)` and `mx.cpu(1)` as two
# devices, two copies of the parameters in memory on the same processor, and the same
# code path as two GPUs (README, "GPUs").
# Here is one batch split over them; a batch that does not divide evenly gives slices of
# unequal size (`even_split=False`):

# %% tags=["nbval-ignore-output"]
DEVICES = [mx.cpu(0), mx.cpu(1)]
X, y = next(iter(train_iter))
for batch in (X, X[:7]):
    slices = gluon.utils.split_and_load(batch, DEVICES, even_split=False)
    print(f"a batch of {batch.shape[0]} images -> "
          + ", ".join(f"{s.shape[0]} on {s.context}" for s in slices))

# %% [markdown]
# Summing gradients is exact arithmetic on paper: the gradient of a sum of per-example
# losses is the sum of their gradients, however the examples are grouped. So a step on
# two devices should equal the step on one, up to the order of floating-point additions.
#
# Let us check it on two nets: a small convolutional net without BatchNorm, and chapter
# 3's DenseNet. Each starts from the same parameters (same seed) and takes one step of
# SGD on the same batch, on one device and on two. We compare the parameters after the
# step, and put the difference beside the size of the step itself: the largest change
# the one-device step made to any weight. Both runs are imperative (`hybridize=False`),
# the simplest code path, and the learning rate is constant.

# %% tags=["nbval-ignore-output"]
def small_cnn():
    """A small net without BatchNorm for 32 px images; every shape is given, so it is
    initialised at once."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1, in_channels=1, activation="relu"),
            nn.MaxPool2D(4),
            nn.Flatten(),
            nn.Dense(32, in_units=8 * 8 * 8, activation="relu"),
            nn.Dense(10, in_units=32))
    return net


def densenet():
    return get_model(MODEL, classes=10, in_channels=1)


def initialised(make, ctxs):
    """A net from ``make()``, initialised from ``SEED`` on ``ctxs`` (the same values on
    every device, and whatever the number of devices)."""
    mx.random.seed(SEED)
    net = make()
    net.initialize(mx.init.Xavier(), ctx=ctxs)
    with autograd.pause():
        net(X[:1].as_in_context(ctxs[0]))      # settles deferred shapes; no training
    return net


def values(net, trainable):
    """The net's trainable parameters, or its running statistics, as NumPy arrays (the
    copy on the first device)."""
    return [p.data(p.list_ctx()[0]).asnumpy() for p in net.collect_params().values()
            if (p.grad_req != "null") == trainable]


def one_step(make, ctxs):
    net = initialised(make, ctxs)
    before = values(net, True)
    train(net, [(X, y)], epochs=1, lr=LR, ctx=ctxs, lr_schedule="constant",
          hybridize=False, progress=False, seed=SEED)
    return before, net


def largest(a, b):
    return max(float(np.abs(u - v).max()) for u, v in zip(a, b))


step_gaps = {}
for name, make in (("small CNN, no BatchNorm", small_cnn), (f"{MODEL}, BatchNorm", densenet)):
    before, one = one_step(make, DEVICES[:1])
    _, two = one_step(make, DEVICES)
    step = largest(before, values(one, True))
    gap = largest(values(one, True), values(two, True))
    step_gaps[name] = gap / step
    print(f"{name}: {count_parameters(one):,} parameters")
    print(f"  largest change one step made to a weight:       {step:.3g}")
    print(f"  largest difference, one device vs two:          {gap:.3g} "
          f"({gap / step:.1e} of the step)")
    if values(one, False):
        print(f"  largest difference of BatchNorm's running statistics: "
              f"{largest(values(one, False), values(two, False)):.3g}")
print()
for name, fraction in step_gaps.items():
    verdict = "the same step, up to rounding" if fraction < 1e-4 else "a different step"
    print(f"{name}: two devices take {verdict} ({fraction:.1e} of the step apart)")

# %% [markdown]
# The last two lines give the verdicts (a gap below a ten-thousandth of the step counts
# as rounding). For the net without BatchNorm the two runs agree to within
# floating-point rounding. For the DenseNet the gap is a sizeable part of the step
# itself: the two-device step is a *different* step, and BatchNorm's running statistics
# differ after it too. Exercise 8.3 asks why. The library's `train` docstring states the same limit:
# several devices equal one "for nets without BatchNorm, whose batch statistics are per
# device". At the end of each epoch `train` averages the running statistics over the
# devices (`gluon_densenet.training.loop`), so that every copy of the net, and the saved
# one, is the same.
#
# ## Beyond one machine: the parameter server
#
# Across machines MXNet uses the same kvstore as a *parameter server* (Li et al., 2014;
# MXNet's guide *Distributed Training in MXNet* describes its processes and modes): a
# **scheduler** that introduces the processes to each other, **servers** that hold the
# sums, and **workers** that train. With `kvstore="dist_sync"` each worker reads its own
# shard of the training data; at every step it pushes its gradients, the servers add up
# those of all workers, and every worker pulls the sum and takes the same step.
# `dist_async` lets the servers apply each worker's push as it comes, without waiting
# for the others.
#
# Three consequences, which `train` handles and the README spells out:
#
# * **The global batch** is the workers' batches together. Two workers with 128 images
#   each take the step of one process on 256 images (up to BatchNorm, as above): `lr` is
#   the rate for those 256. Goyal et al. (2017) keep the rate per image when adding
#   workers by multiplying it by their number, with a gradual warmup over the first
#   epochs (five in their ImageNet runs; `--scale-lr --warmup-epochs 1` on the command
#   line).
# * **BatchNorm** normalises each worker's batch alone, as it does each device's; at the
#   end of each epoch the running statistics are averaged over the workers, so that the
#   saved net is the same on every worker.
# * **Files**: worker 0 alone writes checkpoints and results.
#
# (README, "Training on several machines", gives the details; `tests/test_distributed.py`
# checks them.)
#
# **The shards.** Every worker draws the same permutation of the training set for an
# epoch and takes its own part of it (`ArrayLoader.shard(rank, count)`), so that batch
# *i* of all the workers together is batch *i* of one loader with the global batch.
# Here are the first batches of two workers with half the batch each, beside the first
# batch of one process with the whole batch (exercise 8.1 builds the shards by hand):

# %% tags=["nbval-ignore-output"]
half_batch, _ = load_data(BATCH_SIZE // 2, resize=RESIZE, subset=smoke_mode(), seed=SEED)
whole = train_iter.order(0)[:BATCH_SIZE]
halves = [half_batch.shard(rank, 2).order(0)[:BATCH_SIZE // 2] for rank in (0, 1)]
print(f"worker 0's first batch: {len(halves[0])} images; worker 1's: {len(halves[1])}; "
      f"shared: {len(np.intersect1d(*halves))}")
print(f"together they are the one-process first batch of {len(whole)}: "
      f"{np.array_equal(np.sort(np.concatenate(halves)), np.sort(whole))}")

# %% [markdown]
# **What a step sends** is easy to count: each worker pushes one float32 gradient per
# parameter (4 bytes) and pulls as much back.

# %%
for name, kwargs in ((MODEL, dict(classes=10, in_channels=1)),
                     ("densenet121", dict(classes=10, in_channels=1)),
                     ("densenet121", {})):
    n = count_parameters(get_model(name, **kwargs))
    what = "ImageNet, 1,000 classes" if not kwargs else "Fashion-MNIST, 10 classes"
    print(f"{name} ({what}): {n:,} parameters -> {2 * 4 * n / 2**20:.1f} MiB "
          "pushed and pulled per worker per step")

# %% [markdown]
# On a cluster every worker sends those megabytes over the network at every step.
#
# ### Two workers on this machine
#
# `gluon-densenet launch` (in Python, `gluon_densenet.distributed.launcher.launch`)
# starts a whole job on one machine: the scheduler, one server and two workers as
# processes, told their roles by MXNet's `DMLC_*` environment variables. Every node
# listens on the loopback address only (`DMLC_NODE_HOST`), since the kvstore's ports
# take pushes from anyone who can reach them, without authentication (README,
# "Training on several machines"). The launcher streams the processes' output with a
# `[role rank]` prefix and stops every process as soon as one fails, since the others
# would wait for it. Here both workers fail at once, before they join the job, and the
# launcher reports the first failure it sees and stops the rest (the scheduler and the
# server are still waiting for the workers):

# %% tags=["nbval-ignore-output"]
from gluon_densenet.distributed.launcher import HOST, launch, worker_command

print(f"the job's nodes listen on {HOST}")
job = launch([sys.executable, "-c", "import sys; sys.exit(3)"], workers=2, servers=1)
print(f"status {job.returncode}: {job.message}")

# %% [markdown]
# Now real training, twice, with the same command line: one epoch of chapter 3's
# network (in smoke mode: the shipped subset and 20 steps), the same seed, the same
# cosine schedule, and the same global batch of `BATCH_SIZE` images per step. First one
# process, started as a plain `python -m gluon_densenet train`:

# %% tags=["nbval-ignore-output"]
common = ["--model", MODEL, "--resize", str(RESIZE), "--lr", str(LR), "--epochs", "1",
          "--seed", str(SEED), "--no-resume", "--quiet", *(["--smoke"] if smoke_mode() else [])]
ONE_DIR, TWO_DIR = RUN_DIR / "one_process", RUN_DIR / "two_workers"

start = time.perf_counter()
done = subprocess.run([sys.executable, "-m", "gluon_densenet", "train", *common,
                       "--batch-size", str(BATCH_SIZE), "--out", str(ONE_DIR)],
                      capture_output=True, text=True)
one_seconds = time.perf_counter() - start
print(done.stdout.strip())
print(f"one process ended with status {done.returncode} after {one_seconds:.0f} s")
assert done.returncode == 0, done.stderr

# %% [markdown]
# Then two workers, each with half the batch, in a `dist_sync` job:

# %% tags=["nbval-ignore-output"]
start = time.perf_counter()
job = launch(worker_command(["train", *common, "--kvstore", "dist_sync",
                             "--batch-size", str(BATCH_SIZE // 2), "--out", str(TWO_DIR)]),
             workers=2, servers=1)
two_seconds = time.perf_counter() - start
print(f"job ended with status {job.returncode} after {two_seconds:.0f} s "
      f"({', '.join(f'{k}: {v}' for k, v in job.statuses.items())})")
assert job.returncode == 0, job.message

# %% [markdown]
# Each run saved its history; worker 0 wrote the job's, whose throughput counts the
# images of both workers. Side by side, with the learning rate each epoch ended at and
# the operator threads each process had (`gluon_densenet.runtime.cpu_threads`: one per
# physical core for one process, and `launch` gives each of its workers
# `cores // workers`, unless you set the thread count yourself):

# %% tags=["nbval-ignore-output"]
from gluon_densenet.runtime.cpu_threads import physical_cores

one = History.load(ONE_DIR / "history.json").records[0]
two = History.load(TWO_DIR / "history.json").records[0]
for label, r, threads in (("1 process", one, physical_cores()),
                          ("2 workers", two, max(1, physical_cores() // 2))):
    print(f"{label}: test accuracy {r.test_acc:.4f}, lr at the end {r.lr:.3f}, "
          f"{r.steps} steps, {r.img_per_s:,.0f} images/s, {threads} thread(s) per process")
print(f"two workers trained at {two.img_per_s / one.img_per_s:.2f}x the one-process rate; "
      f"test accuracy {100 * (two.test_acc - one.test_acc):+.2f} points")

# %% [markdown]
# Both runs took the same steps on the same batches (the shards above) with the same
# schedule, so what separates them is what this chapter has measured, not a different
# recipe:
#
# * **Accuracy.** The workers normalised each half-batch with its own BatchNorm
#   statistics, where the one process normalised the whole batch: every step differs,
#   as in the two-device comparison, and so the two trajectories part. One run of each
#   says nothing about which is better; the printed gap is one draw.
# * **Speed.** Both runs used the same two cores, split differently (the printed
#   threads): two one-thread processes and one two-thread process use two cores
#   differently, and the two workers also pay for copying every gradient to the server
#   and back (the megabytes per step computed above). This page does not separate the
#   two effects.
#
# So the ratio above holds for one epoch of each, measured once, on this machine and with
# these threads; it says nothing of several machines. `python -m benchmarks.distributed`
# measures one process and 1 and 2 workers side by side, many steps each, in alternating
# rounds (README, "Training on several machines"). On a cluster the same `train` command
# runs through MXNet's `tools/launch.py`, one worker per machine.

# %% [markdown]
# ## Summary
#
# * `train(..., ctx=devices)` splits each batch over the devices, sums their gradients
#   and takes one step normalised by the whole batch.
# * Without BatchNorm, a step on two devices equals the step on one up to rounding; with
#   BatchNorm it is a different step, because each device normalises its own slice.
# * `train(..., kvstore="dist_sync")` trains on several machines with MXNet's parameter
#   server: every worker reads its shard, and batch *i* of all the workers is batch *i*
#   of one loader with the global batch; `lr` is the rate for that global batch.
# * `gluon-densenet launch --workers 2 --servers 1 -- train --kvstore dist_sync` runs such
#   a job on one machine, on loopback only, stopping it all if a process fails.
#
# ## Try it yourself
#
# * Repeat the two-device comparison on a smaller batch (`X, y = X[:32], y[:32]` before
#   its cell): does the DenseNet's gap grow as the slices shrink?
# * Launch three workers (`workers=3`, a third of the batch each): what does `launch` give
#   each of them in threads, and what happens to the images per second?
# * Run the job with `--kvstore dist_async`: do the two workers still record the same
#   history?
# * From a terminal, start `gluon-densenet launch --workers 2 --servers 1 -- train
#   --kvstore dist_sync`, then kill one worker's process with `kill -9`: what does the
#   launcher print, and what is left running?

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your answer and, where code can check the answer, a cell
# of tests. In the teacher's version (the chapters in `notebooks/` and their web pages) the
# answer cells hold model answers. The classroom edition (`make student`) empties them,
# and further tests, hidden from students, run when nbgrader grades the work.
#
# ### Exercise 8.1: deal an epoch out to the workers
#
# Write `deal(order, count, batch_size)`. It takes one epoch's order of example indices
# (a NumPy array, as `ArrayLoader.order()` gives it) and returns a list of `count` index
# arrays, one per worker, dealt out as `ArrayLoader.shard(rank, count)` does for
# training:
#
# * the order is cut into global batches of `count * batch_size` examples, and worker
#   `r` takes the `r`-th run of `batch_size` examples of each;
# * the examples after the last whole global batch are cut into `count` equal parts, in
#   order, one per worker, and the `len(order) % count` examples left over are dropped
#   (they change from epoch to epoch).
#
# So every worker gets `len(order) // count` examples, and the shards are disjoint. The
# cell checks your shards of this chapter's training set against the library's.

# %% nbgrader={"grade": false, "grade_id": "ex-8-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["nbval-ignore-output"]
def deal(order, count, batch_size):
    ### BEGIN SOLUTION
    order = np.asarray(order)
    n = len(order)
    full = n // (count * batch_size) * count * batch_size
    tail = (n - full) // count
    return [np.concatenate([order[:full].reshape(-1, count, batch_size)[:, r, :].ravel(),
                            order[full + r * tail:full + (r + 1) * tail]])
            for r in range(count)]
    ### END SOLUTION


shards = deal(train_iter.order(0), 2, BATCH_SIZE // 2)
print(f"{train_iter.num_examples:,} examples dealt to 2 workers: "
      f"{', '.join(str(len(s)) for s in shards)}; shared: {len(np.intersect1d(*shards))}")
print("the same as ArrayLoader.shard:",
      all(np.array_equal(s, half_batch.shard(r, 2).order(0)) for r, s in enumerate(shards)))

# %% nbgrader={"grade": true, "grade_id": "ex-8-1-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
small = deal(np.arange(10), 2, 2)
assert [s.tolist() for s in small] == [[0, 1, 4, 5, 8], [2, 3, 6, 7, 9]], small
### BEGIN HIDDEN TESTS
from gluon_densenet.data import ArrayLoader

rng = np.random.default_rng(8)
for n, count, batch in [(10, 3, 2), (37, 2, 4), (100, 4, 8), (257, 3, 16), (50, 5, 20)]:
    loader = ArrayLoader(np.zeros((n, 28, 28), np.uint8), np.zeros(n), batch, shuffle=True,
                         seed=int(rng.integers(1000)))
    order = loader.order(3)
    got = deal(order, count, batch)
    assert len(got) == count
    for r, part in enumerate(got):
        assert np.array_equal(part, loader.shard(r, count).order(3)), (n, count, batch, r)
    every = np.concatenate(got)
    assert len(every) == len(np.unique(every)) == n - n % count       # disjoint, all but n % count
    assert set(every) <= set(order.tolist())
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 8.2: the two-device step, by hand
#
# Write `step_on_devices(net, trainer, loss_fn, X, y, ctxs)`, the step `train` takes on
# several devices: split the batch over `ctxs` (slices of unequal size where it does not
# divide evenly), compute each slice's loss on its device under `autograd.record()`,
# run the backward pass, and take one `trainer.step` normalised by the whole batch
# (`gluon.Trainer` sums the gradients of the devices inside `step`). The cell compares
# your step on two devices with `train_step`, the library's one-device step, for the
# small CNN of this chapter.

# %% nbgrader={"grade": false, "grade_id": "ex-8-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["nbval-ignore-output"]
from gluon_densenet.training.step import train_step


def step_on_devices(net, trainer, loss_fn, X, y, ctxs):
    ### BEGIN SOLUTION
    Xs = gluon.utils.split_and_load(X, ctxs, even_split=False)
    ys = gluon.utils.split_and_load(y, ctxs, even_split=False)
    with autograd.record():
        losses = [loss_fn(net(Xi), yi) for Xi, yi in zip(Xs, ys)]
    for loss in losses:
        loss.backward()
    trainer.step(X.shape[0])
    ### END SOLUTION


def after_step(step, ctxs, batch):
    """The small CNN's trainable parameters after one SGD step on ``batch``."""
    net = initialised(small_cnn, ctxs)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    if step is train_step:
        train_step(net, trainer, loss_fn, *batch)
    else:
        step(net, trainer, loss_fn, *batch, ctxs)
    return values(net, True)


start_values = values(initialised(small_cnn, DEVICES[:1]), True)
reference = after_step(train_step, DEVICES[:1], (X, y))
mine = after_step(step_on_devices, DEVICES, (X, y))
print(f"largest difference from the one-device step: {largest(reference, mine):.3g} "
      f"(the step's largest change: {largest(start_values, reference):.3g})")

# %% nbgrader={"grade": true, "grade_id": "ex-8-2-test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert largest(reference, mine) < 1e-5
### BEGIN HIDDEN TESTS
assert largest(start_values, mine) > 1e-3, "the step must change the parameters"
# an odd batch, split unevenly, and one device: still the one-device step
for batch, ctxs in (((X[:33], y[:33]), DEVICES), ((X[:16], y[:16]), DEVICES[:1])):
    assert largest(after_step(train_step, DEVICES[:1], batch),
                   after_step(step_on_devices, ctxs, batch)) < 1e-5, (batch[0].shape, ctxs)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 8.3: BatchNorm on several devices
#
# The first section found that the DenseNet's step on two devices differs from its step
# on one, by a sizeable part of the step, while the small CNN's steps agree. Explain
# why, and say what the difference changes in training: during the epoch, at its end,
# and for the saved net. What could make the two-device step equal the one-device step
# again, and at what cost?

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-8-3-answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer.* In training mode BatchNorm normalises each activation with the mean and
# variance of the batch it sees (Ioffe and Szegedy, 2015), and on several devices each
# device sees only its slice. The loss of a two-device step is therefore not the
# one-device loss split in two: each half is normalised by its own statistics, so the
# examples of a slice depend on each other, and not on those of the other slice. The
# argument that summed gradients equal the whole batch's gradient needs a loss that is a
# sum of per-example terms; BatchNorm couples the examples of a batch, and the coupling
# is cut at the slice boundary. The small CNN has no such coupling, so its steps agree
# to within rounding (the printed fractions of the step). What it changes: during the
# epoch every step uses noisier statistics from smaller slices, a slightly different
# step with a different trajectory; each device also updates its own running mean and
# variance from its slices, so the copies drift apart until `train` averages them at the
# end of the epoch, and the saved net is the same on every device (and on every worker
# of a job). The remedy is BatchNorm synchronised across devices, which computes the
# statistics of the whole batch before normalising (Zhang et al., 2018; MXNet has
# `mx.gluon.contrib.nn.SyncBatchNorm`), at the price of an exchange between the devices
# in the forward and the backward pass of every BatchNorm layer. The alternative is to
# accept the per-device batch as BatchNorm's batch and keep it fixed, and large enough
# for stable statistics, as workers are added, as Goyal et al. (2017) do.
