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
# # 5. Exercise: shallower nets for Fashion-MNIST
#
# *The question:* DenseNet-121 was designed for 224 px ImageNet photos in 1000 classes.
# Fashion-MNIST has 28 px grey images in 10 classes. Do we need all 121 layers, or does
# a much smaller DenseNet do as well, and which knob of the architecture matters?
#
# **The design.** We start from *Dive into Deep Learning*'s small DenseNet (`d2l-21`:
# four dense blocks of four plain BN-ReLU-3×3 layers, growth rate *k* = 32, 64 stem
# channels, compression θ = 0.5; d2l trains it at 96 px, we use 32 px) and change
# **one factor at a time**:
# depth, growth rate, bottleneck layers, input size. DenseNet-121 joins as the
# reference, although it differs in several factors at once (depth, bottleneck) and
# so cannot say which of them matters.
#
# * Every net trains for **the same number of epochs** with the same recipe, so
#   accuracy differences come from the architecture, not from how many passes over
#   the data a net managed.
# * Every net trains with **several seeds**. The seed fixes the order of the training
#   data and the random stream the initial weights are drawn from, so run *s* of a
#   variant and run *s* of `d2l-21` differ only in the architecture: we compare them
#   **pair by pair** (per-seed differences).
# * Every choice is made on a **validation split**: 6,000 of the 60,000 training
#   images (600 per class, drawn once with a fixed seed, the same for every run) are
#   held out, the nets train on the other 54,000, and all accuracies in the race are
#   validation accuracies. The 10,000 test images are used **once**, at the very end,
#   for the one net the rules below choose, so that its test accuracy is not inflated
#   by having been picked as the best of several.
# * The time per epoch is measured in the same runs, one net after the other in one
#   process, and the machine's load average is printed with the results, so you can
#   judge whether other jobs were running.
#
# Time then enters in the second part: which net is the best use of **10 minutes** of
# this CPU, aiming at **92 % test accuracy on the full 10,000-image test set**?
#
# In smoke mode (`GLUON_DENSENET_SMOKE=1`, CI) the same code runs for a few seconds per
# net on the shipped subset. The page you are reading shows the full run.

# %% [markdown]
# **Learning objectives.** After this chapter you can
#
# * change one design knob at a time and measure its effect;
# * compare nets over several seeds with a paired test;
# * choose a net for a time budget by a rule applied in code, on validation data, and
#   look at the test set once, for the chosen net.
#
# **Prerequisites.** Chapter 3; a two-sample or paired *t* test.
#
# **Run time on a 2-core CPU.** Under a minute in smoke mode. In a full run, the label
# printed above each result says when it was measured, on what, and how many minutes it
# took; a page whose settings are unchanged reuses the committed results
# (`notebooks/results/`) instead of redoing them, and `make pages` records how long the
# page itself took in `notebooks/page_times.json`.
#
# **References.**
#
# * Huang, Liu, van der Maaten and Weinberger (2017), *Densely Connected Convolutional
#   Networks*, CVPR, [arXiv:1608.06993](https://arxiv.org/abs/1608.06993).
# * Xiao, Rasul and Vollgraf (2017), *Fashion-MNIST: a Novel Image Dataset for
#   Benchmarking Machine Learning Algorithms*,
#   [arXiv:1708.07747](https://arxiv.org/abs/1708.07747).
# * Pleiss, Chen, Huang, Li, van der Maaten and Weinberger (2017), *Memory-Efficient
#   Implementation of DenseNets*, [arXiv:1707.06990](https://arxiv.org/abs/1707.06990).
# * Zhang, Lipton, Li and Smola, *Dive into Deep Learning*, §8.7 "Densely Connected
#   Networks (DenseNet)", <https://d2l.ai/chapter_convolutional-modern/densenet.html>.

# %% tags=["nbval-ignore-output"]
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from gluon_densenet.analysis.budget import NetSpec, budgeted_run, seeded_runs
from gluon_densenet.analysis.stats import mean_std, paired
from gluon_densenet.chapters import choose, describe_run, run_or_load, smoke_mode
from gluon_densenet.data import load_splits
from gluon_densenet.plots import epoch_axis

# %matplotlib inline
pd.set_option("display.width", 140)

SMOKE = smoke_mode()
EPOCHS = choose(1, 2)                  # the same for every net and seed
SEEDS = choose([0, 1], [0, 1, 2])
STOP_S = choose(60.0, 3600.0)          # a safety stop only; no run should reach it
BEST_BUDGET_S = choose(8.0, 600.0)     # the second part
VALIDATION = choose(128, 6000)         # training images held out for every choice
DATA = dict(batch_size=choose(64, 128), subset=SMOKE, limit=choose(640, None),
            test_limit=choose(320, None), validation=VALIDATION)
print(f"{'smoke run (CI)' if SMOKE else 'full run'}: {EPOCHS} epoch(s) per run, seeds {SEEDS}; "
      f"second part {BEST_BUDGET_S:.0f} s; data {DATA}")
splits = load_splits(DATA["batch_size"], VALIDATION, subset=SMOKE, limit=DATA["limit"],
                     test_limit=DATA["test_limit"], download=False)
train_n, valid_n = splits.train.num_examples, splits.validation.num_examples
print(f"of {train_n + valid_n:,} training images, {valid_n:,} held out for validation "
      f"(per class: {np.bincount(splits.validation.labels.astype(int)).tolist()}), "
      f"{train_n:,} trained on; {splits.test.num_examples:,} test images, used once")

# %% [markdown]
# ## The family
#
# All nets use the ImageNet stem (7×7 convolution with stride 2, then 3×3 max pooling
# with stride 2), so a 32 px input is 8×8 when the first dense block sees it and 1×1
# in the last block. The "factor" column says what each net changes relative to
# `d2l-21`. The parameter counts are deterministic, so this cell is checked by the tests:

# %%
BASE = NetSpec("d2l-21", (4, 4, 4, 4), growth_rate=32, init_features=64, resize=32)
FAMILY = {
    "base": BASE,
    "depth": NetSpec("2 layers/block", (2, 2, 2, 2), resize=32),
    "growth rate": NetSpec("k=16", (4, 4, 4, 4), growth_rate=16, resize=32),
    "bottleneck": NetSpec("bottleneck", (4, 4, 4, 4), bn_size=4, resize=32),
    "input size": NetSpec("48 px", (4, 4, 4, 4), resize=48),
    "several (reference)": NetSpec("DenseNet-121", (6, 12, 24, 16), bn_size=4, resize=32),
}
specs = pd.DataFrame([{"factor": f, "label": s.label,
                       "blocks": "-".join(map(str, s.block_config)), "k": s.growth_rate,
                       "bottleneck": bool(s.bn_size), "input px": s.resize,
                       "params": s.parameters()} for f, s in FAMILY.items()])
print(specs.to_string(index=False))

# %% [markdown]
# ## The runs
#
# Every net trains with SGD (momentum 0.9, weight decay 10⁻⁴), batch size 128 and a
# cosine schedule from learning rate 0.1 to zero over its epochs, without data
# augmentation, and is evaluated on the validation split after every epoch. The loop
# goes seed by seed, so a slow spell of the machine falls on the nets of one seed
# rather than on every run of one net; it does not touch the nets alike, since they
# run one after the other (the load averages before and after are printed with the
# results).


# %% tags=["nbval-ignore-output"]
def race() -> dict:
    return {"runs": seeded_runs(list(FAMILY.values()), SEEDS, EPOCHS, STOP_S, **DATA)}


family = run_or_load("05_family.json", {"epochs": EPOCHS, "seeds": SEEDS, "data": DATA,
                                        "nets": [s.label for s in FAMILY.values()]}, race)
print(describe_run(family))

# %% [markdown]
# One row per net: validation accuracy after the last epoch (mean ± standard deviation
# over the seeds), seconds per epoch (training plus test evaluation, mean over seeds), and the
# paired comparison with `d2l-21`: the per-seed differences, their mean, and the
# paired *t* statistic.

# %% tags=["nbval-ignore-output"]
runs = pd.DataFrame([r["row"] for r in family["runs"]])
acc = runs.pivot(index="seed", columns="label", values="val_acc")
labels = [s.label for s in FAMILY.values()]
rows, tests = [], {}
for factor, spec in FAMILY.items():
    a = acc[spec.label].tolist()
    mine = runs[runs["label"] == spec.label]
    row = {"factor": factor, "label": spec.label, "params": int(mine["params"].iloc[0]),
           "epochs": mine["epochs"].mean(), "s/epoch": mine["epoch_s"].mean(),
           "acc mean": mean_std(a)[0], "acc std": mean_std(a)[1]}
    if spec is not BASE:
        d = tests[spec.label] = paired(a, acc[BASE.label].tolist())
        row.update({"Δ vs d2l-21 per seed": " ".join(f"{x:+.4f}" for x in d.diffs),
                    "Δ mean": d.diff, "paired t": d.t, "p": d.p})
    rows.append(row)
summary = pd.DataFrame(rows).set_index("label")
FORMATS = {"epochs": "{:.1f}", "s/epoch": "{:.1f}", "acc mean": "{:.4f}", "acc std": "{:.4f}",
           "Δ mean": "{:+.4f}", "paired t": "{:.2f}", "p": "{:.3f}"}
print(summary.to_string(formatters={c: lambda v, f=f: "" if pd.isna(v) else f.format(v)
                                    for c, f in FORMATS.items()}))

# %% [markdown]
# The same numbers as pictures: validation accuracy after every epoch for each net (thin lines
# are the seeds, the thick line their mean), and the final accuracy against the time
# an epoch costs on this machine.

# %% tags=["nbval-ignore-output"]
fig, (ax_curve, ax_cost) = plt.subplots(1, 2, figsize=(12, 4))
colours = dict(zip(labels, plt.get_cmap("tab10").colors))
for label in labels:
    curves = [[e["test_acc"] for e in r["history"]["records"]]
              for r in family["runs"] if r["row"]["label"] == label]
    epochs = range(1, len(curves[0]) + 1)
    for c in curves:
        ax_curve.plot(epochs, c, color=colours[label], alpha=0.3, linewidth=0.8)
    ax_curve.plot(epochs, np.mean(curves, axis=0), color=colours[label], marker="o", label=label)
epoch_axis(ax_curve)
ax_curve.set_ylabel("validation accuracy")
ax_curve.set_title("validation accuracy per epoch")
ax_curve.legend(fontsize=8)
for label, row in summary.iterrows():
    ax_cost.errorbar(row["s/epoch"], row["acc mean"], yerr=row["acc std"], fmt="o",
                     color=colours[label], capsize=3)
    ax_cost.annotate(label, (row["s/epoch"], row["acc mean"]), fontsize=8,
                     xytext=(4, 4), textcoords="offset points")
ax_cost.set_xscale("log")
ax_cost.set_xlabel("seconds per epoch (log scale)")
ax_cost.set_ylabel(f"validation accuracy after {EPOCHS} epoch(s)")
ax_cost.set_title(f"{len(SEEDS)} seeds, mean ± std")
ax_cost.grid(True, alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# What the numbers say, one factor at a time (this text is generated from the results
# above). A difference counts as **significant** when every seed's difference has the
# same sign and the paired two-sided *p* is below 0.05 (`Paired.significant`); with
# three seeds, a sign shared by all three alone would happen by chance one time in four.

# %% tags=["nbval-ignore-output"]
def verdict(d) -> str:
    direction = "better" if d.diff > 0 else "worse"
    if d.significant(0.05):
        return f"significantly {direction} (paired p = {d.p:.3f})"
    if d.consistent:
        return (f"{direction} in each of the {len(d.diffs)} seeds, but not significant "
                f"(paired p = {d.p:.2f})")
    ties = sum(x == 0 for x in d.diffs)
    if ties == len(d.diffs):
        return "the same accuracy as d2l-21 in every seed"
    if min(d.diffs) < 0 < max(d.diffs):
        return f"not distinguishable from d2l-21: the seeds disagree (paired p = {d.p:.2f})"
    return (f"not distinguishable from d2l-21: {ties} of {len(d.diffs)} seeds tie, the rest "
            f"are {direction} (paired p = {d.p:.2f})")


base = summary.loc[BASE.label]
for label, row in summary.drop(index=BASE.label).iterrows():
    print(f"{row['factor']:>19s}: {label} ({row['params']:,} parameters, {row['s/epoch']:.0f} "
          f"s/epoch = ×{row['s/epoch'] / base['s/epoch']:.2f} of d2l-21) reaches "
          f"{row['acc mean']:.2%} validation accuracy, {100 * row['Δ mean']:+.2f} points vs d2l-21: "
          f"{verdict(tests[label])}.")

# %% [markdown]
# How far this reaches: each net trained for the same short schedule, on one CPU, with
# the seeds printed above. A longer schedule may rank the nets differently: two points
# per net under a cosine schedule, whose learning rate falls to zero at the end, cannot
# say how much a net would still gain, so the race ranks the nets after two epochs and
# no further. Only the one-factor rows say which knob matters; the DenseNet-121 row
# compares two very different nets. The seconds per epoch hold for this CPU and MXNet's
# oneDNN backend only; on a GPU the costs, and so the ranking by time, may differ (not
# measured here: this machine has no GPU).
#
# ## The best net for 10 minutes
#
# With 10 minutes of this CPU, which net should we train? Accuracy after a fixed number
# of epochs is only half the answer: a net that costs six times as long per epoch gets
# a sixth of the epochs in the same minutes, and a slow starter may overtake a fast
# one. So the race only picks **finalists**, and every finalist then trains for the
# same 10 minutes. The rule, applied in code to the validation measurements above:
#
# 1. a net is eligible if at least three times as many epochs as the race ran fit into
#    600 s at its measured seconds per epoch;
# 2. the finalists are `d2l-21`, the reference every other net is measured against,
#    and the two other eligible nets with the highest mean validation accuracy;
# 3. each finalist trains with seed 0 for as many whole epochs as fit into the budget
#    (the cosine schedule fitted to them, so the learning rate reaches zero at the end;
#    the budget stays as a hard stop in case the machine runs slower this time);
# 4. the finalist with the highest validation accuracy at the end is the chosen net,
#    and only its test accuracy is measured.
#
# This is one round of *successive halving*: it cannot promise that a net left out in
# step 2 would not have won with the full budget (the first item of *Try it yourself*
# lets you check one).

# %% tags=["nbval-ignore-output"]
eligible = summary[BEST_BUDGET_S / summary["s/epoch"] >= 3 * EPOCHS]
others = eligible.drop(index=BASE.label, errors="ignore").nlargest(2, "acc mean")
FINALISTS = [BASE] + [s for s in FAMILY.values() if s.label in others.index]
FINAL_EPOCHS = {s.label: max(1, int(BEST_BUDGET_S // summary.loc[s.label, "s/epoch"]))
                for s in FINALISTS}
for label, row in summary.iterrows():
    role = ("finalist" if label in FINAL_EPOCHS else
            "eligible, not among the two best" if label in eligible.index else
            "too slow for the rule")
    print(f"{label:15s} {BEST_BUDGET_S / row['s/epoch']:5.1f} epochs fit in "
          f"{BEST_BUDGET_S:.0f} s; validation accuracy {row['acc mean']:.4f}: {role}")


def final_round() -> dict:
    finals = [budgeted_run(spec, BEST_BUDGET_S, seed=0, epochs=FINAL_EPOCHS[spec.label],
                           keep_net=True, **DATA) for spec in FINALISTS]
    chosen = max(finals, key=lambda r: r.row()["val_acc"])
    chosen.evaluate_test()                            # the one look at the test set
    return {"finals": [r.to_dict() for r in finals], "chosen": chosen.spec.label}


# %% [markdown]
# Each finalist now trains for the 10 minutes. The cell prints one line per finalist;
# the test set is touched once, inside `final_round`, for the chosen net.

# %% tags=["nbval-ignore-output"]
best = run_or_load("05_best_small_net.json",
                   {"finalists": FINAL_EPOCHS, "budget_s": BEST_BUDGET_S, "seed": 0,
                    "data": DATA}, final_round)
print(describe_run(best))
finals = pd.DataFrame([f["row"] for f in best["finals"]]).set_index("label")
assert finals["val_acc"].idxmax() == best["chosen"]          # the rule, checked again here
for label, row in finals.iterrows():
    print(f"{label:15s} {row['params']:>9,} parameters, {row['resize']} px: "
          f"{row['epochs']:.2f} epochs ({row['planned_epochs']} planned) in {row['wall_s']:.0f} s "
          f"of {row['budget_s']:.0f} s ({row['epoch_s']:.0f} s/epoch); validation accuracy "
          f"{row['val_acc']:.2%}")
row = finals.loc[best["chosen"]]
goal = "reaches" if row["test_acc"] >= 0.92 else "falls short of"
print(f"chosen: {best['chosen']}; test accuracy {row['test_acc']:.2%} on "
      f"{DATA['test_limit'] or 10_000:,} test images, measured once; it {goal} the 92 % goal.")
fig, ax = plt.subplots(figsize=(6, 3.5))
for f in best["finals"]:
    recs = f["history"]["records"]
    ax.plot(np.cumsum([e["time_s"] for e in recs]) / 60, [e["test_acc"] for e in recs],
            marker="o", label=f["row"]["label"])
ax.set_xlabel("minutes of training (evaluation included)")
ax.set_ylabel("validation accuracy")
ax.set_title(f"finalists, {BEST_BUDGET_S / 60:.0f}-minute budget, seed 0")
ax.grid(True, alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# One seed and one budget per finalist: the race above shows how far seeds move the
# accuracy of a net after two epochs, and finalists closer than that spread are not
# told apart by this round. The test accuracy is that of the chosen net alone; the
# other finalists' test accuracies were never measured, so the chosen net's figure is
# an honest estimate of what the rule delivers, not the best of three looks.
#
# ## Try it yourself
#
# * Give a net the rule left out the 10 minutes too (append it to `FINALISTS`, e.g.
#   `FAMILY["several (reference)"]` for DenseNet-121, and recompute `FINAL_EPOCHS`):
#   how many epochs does it get, and would it have changed the choice?
# * Change another single knob in `NetSpec`: three blocks instead of four
#   (`block_config=(4, 4, 4)`, so that no block works on 1×1 maps), `init_features=32`,
#   or `resize=40`.
# * Change the recipe inside `budgeted_run` (e.g. `wd=5e-4`, `lr=0.2`): with short
#   schedules, regularisation and learning rate can matter as much as the architecture.

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your answer and, where code can check the answer, a cell
# of tests. In the teacher's version (the chapters in `notebooks/` and their web pages) the
# answer cells hold model answers. The classroom edition (`make student`) empties them,
# and further tests, hidden from students, run when nbgrader grades the work.
#
# ### Exercise 5.1: a DenseNet under 100,000 parameters
#
# `d2l-21` has 757,322 parameters (the table above). Design `MY_NET`, a `NetSpec` with fewer than
# 100,000 parameters, and train it exactly as the race above trained the family: the
# same seeds, epochs and data, validation split included (`seeded_runs`). The cell
# prints its validation accuracy next to `d2l-21`'s, seed by seed.
#
# Then answer in the cell after the tests: how much accuracy did your net give up, for
# how many fewer parameters, and how sure can you be of the difference?

# %% nbgrader={"grade": false, "grade_id": "ex-5-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["nbval-ignore-output"]
### BEGIN SOLUTION
MY_NET = NetSpec("3 blocks of 3, k=16", (3, 3, 3), growth_rate=16, init_features=32, resize=32)
### END SOLUTION
# the race's epochs; in smoke mode 3 instead of 1, so that the tests check a trained net
MY_EPOCHS = choose(3, EPOCHS)
load_before = os.getloadavg()[0]
my_runs = seeded_runs([MY_NET], SEEDS, MY_EPOCHS, STOP_S, **DATA)
print(f"(the s/epoch above were measured with load average {load_before:.1f} before, "
      f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores)")
my_acc = [r["row"]["val_acc"] for r in my_runs]
base_acc = acc[BASE.label].tolist()
print(f"{MY_NET.label}: {MY_NET.parameters():,} parameters, validation accuracy "
      f"{mean_std(my_acc)[0]:.4f} ± {mean_std(my_acc)[1]:.4f} over seeds {SEEDS}")
print(f"{BASE.label}: {BASE.parameters():,} parameters, validation accuracy "
      f"{mean_std(base_acc)[0]:.4f} ± {mean_std(base_acc)[1]:.4f}")
if MY_EPOCHS == EPOCHS:
    versus = paired(my_acc, base_acc)
    print("per seed (mine − d2l-21):", " ".join(f"{d:+.4f}" for d in versus.diffs),
          f"| mean {versus.diff:+.4f}, paired p = {versus.p:.3f}")
else:
    print(f"smoke mode: {MY_EPOCHS} epochs against the race's {EPOCHS}, so no comparison")

# %% nbgrader={"grade": true, "grade_id": "ex-5-1-test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert MY_NET.parameters() < 100_000, f"{MY_NET.parameters():,} parameters"
assert len(my_acc) == len(SEEDS)
### BEGIN HIDDEN TESTS
floor = choose(0.25, 0.85)   # chance is 0.10
assert np.mean(my_acc) >= floor, f"mean validation accuracy {np.mean(my_acc):.3f} is below {floor}"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex-5-1-written", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# *Model answer.* It gave up nothing measurable after two epochs. With 81,986
# parameters, 9× fewer than `d2l-21`'s 757,322, the net of three blocks of three layers
# with $k = 16$ reached 0.8919 ± 0.0036 validation accuracy against 0.8856 ± 0.0048
# (printed above): ahead on two seeds and level on the third, by 0.64 points on
# average, with paired p = 0.223. Three seeds with one tie are no evidence of a
# difference either way, so the honest reading is "no worse", not "better". And only
# for this regime: two epochs of the chapter's recipe on Fashion-MNIST at 32 px,
# judged on the validation split. It says that the small net learns as fast early, not
# that it ends as high: with a full schedule the larger net may pull ahead, and only a
# longer race would tell. The race above shows the same caution from the other side:
# after two epochs, DenseNet-121 trailed `d2l-21` too.
