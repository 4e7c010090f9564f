"""Fashion-MNIST in ten minutes on two CPU cores: the best recipe found, trained once.

``make speedrun`` (``python -m benchmarks.speedrun``) trains :data:`RECIPE` on 54,000 of the
60,000 training images for as many epochs as fit the time budget (10 minutes of wall-clock
training by default, planned from a timed probe of a few steps, which counts), checks it on
the 6,000 held out for validation, then measures the test set **once**. It writes
``benchmarks/results/speedrun.json`` (accuracies, wall time, epochs, machine, load).

``--search`` is how :data:`RECIPE` was chosen: it trains each variant of :data:`SEARCH`
with the same seed, split and budget, keeps the one with the best *validation* accuracy,
and only then measures that one net on the test set. Each other variant differs from the
recipe in one ingredient, so each paired difference is what that ingredient bought on this
run (one seed: differences of a few tenths of a point are within the noise). It writes
``benchmarks/results/speedrun_search.json`` and ``speedrun.json`` for the winner.

Run from the repository root; the data is Fashion-MNIST's full set
(``GLUON_DENSENET_DATA``, as ``make`` sets it beside the project's machines).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import common
from gluon_densenet.atomic_files import write_json

#: Minutes of wall-clock training (probe, training, validation).
BUDGET_MIN = 10.0
#: Training steps timed to plan the epochs, after PROBE_WARMUP untimed ones.
PROBE_STEPS = 30
PROBE_WARMUP = 5
#: Of the planned epoch time, what is kept free for slowdowns and the validation pass.
SAFETY = 0.92


@dataclass(frozen=True)
class Recipe:
    """One speed-run configuration: the net, its input, the optimiser and the ingredients."""

    model: str = "densenet21_d2l"
    size: int = 32
    batch: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    wd: float = 5e-4
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    crop_pad: int = 2
    flip: bool = True

    def describe(self) -> str:
        parts = ([f"random crop (pad {self.crop_pad} px)"] if self.crop_pad else []) + \
            (["horizontal flip"] if self.flip else [])
        aug = " + ".join(parts) if parts else "no augmentation"
        return (f"{self.model} at {self.size} px, batch {self.batch}, SGD lr {self.lr} "
                f"momentum {self.momentum} wd {self.wd}, {self.warmup_epochs:g}-epoch warm-up "
                f"+ cosine, label smoothing {self.label_smoothing:g}, {aug}")


#: Where the search starts: every ingredient on.
BASE = Recipe()

#: The search: the starting recipe ("recipe"), and variants that each change one ingredient.
SEARCH: dict[str, Recipe] = {
    "recipe": BASE,
    "48 px input": dataclasses.replace(BASE, size=48),
    "no augmentation": dataclasses.replace(BASE, crop_pad=0, flip=False),
    "no label smoothing": dataclasses.replace(BASE, label_smoothing=0.0),
}

#: What ``make speedrun`` trains: the validation winner of ``--search``
#: (``benchmarks/results/speedrun_search.json``).
RECIPE = SEARCH["no augmentation"]


def _splits(recipe: Recipe, seed: int, smoke: bool):
    from gluon_densenet.data import CropFlip, load_splits

    augment = CropFlip(recipe.crop_pad, recipe.flip) if (recipe.crop_pad or recipe.flip) else None
    return load_splits(recipe.batch, validation=500 if smoke else 6000,
                       resize=None if recipe.size == 28 else recipe.size,
                       subset=smoke, download=False, seed=seed, augment=augment)


def _net(recipe: Recipe):
    from gluon_densenet import get_model
    return get_model(recipe.model, classes=10, in_channels=1)


def _probe_step_s(recipe: Recipe, splits, seed: int) -> float:
    """Seconds per training step of ``recipe``, timed on a throwaway net (steps pipelined as
    in training: one sync after the warm-up, one after the timed steps)."""
    import mxnet as mx
    from mxnet import nd

    from gluon_densenet.training import fast_hybridize

    mx.random.seed(seed)
    net = _net(recipe)
    net.initialize(mx.init.Xavier())
    fast_hybridize(net)
    step = common.sgd_step(net)
    batches = iter(splits.train)
    for _ in range(PROBE_WARMUP):
        step(*next(batches))
    nd.waitall()
    start = time.perf_counter()
    for _ in range(PROBE_STEPS):
        step(*next(batches))
    nd.waitall()
    return (time.perf_counter() - start) / PROBE_STEPS


def run(recipe: Recipe, budget_s: float, seed: int = 0, smoke: bool = False,
        test: bool = True, progress: bool = True) -> tuple[dict[str, Any], Any, Any]:
    """Train ``recipe`` within ``budget_s`` seconds; validation accuracy, and test accuracy
    when ``test``.

    Returns:
        ``(result, net, splits)``: the figures, the trained net, and its data
        (:class:`~gluon_densenet.data.DataSplits`).
    """
    from gluon_densenet.training import LabelSmoothingLoss, evaluate, train

    splits = _splits(recipe, seed, smoke)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    step_s = _probe_step_s(recipe, splits, seed)
    epoch_s = step_s * len(splits.train)
    left = budget_s - (time.perf_counter() - start)
    epochs = max(1, int(left * SAFETY / epoch_s))
    net = _net(recipe)
    loss = (LabelSmoothingLoss(10, recipe.label_smoothing) if recipe.label_smoothing else None)
    history = train(net, splits.train, None, epochs, lr=recipe.lr, momentum=recipe.momentum,
                    wd=recipe.wd, lr_schedule="cosine", warmup_epochs=recipe.warmup_epochs,
                    loss=loss, seed=seed, time_budget_s=left, progress=progress)
    valid_acc = evaluate(net, splits.validation)
    wall_s = time.perf_counter() - start
    result = {"recipe": dataclasses.asdict(recipe), "describe": recipe.describe(),
              "seed": seed, "epochs_planned": epochs,
              "epochs_done": len(history.records), "budget_exhausted": history.budget_exhausted,
              "probe_step_s": round(step_s, 4), "budget_s": budget_s,
              "wall_s": round(wall_s, 1), "train_loss": history.last.train_loss,
              "valid_acc": valid_acc, "train_images": splits.train.num_examples,
              "valid_images": splits.validation.num_examples,
              "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}
    if test:
        result["test_acc"] = evaluate(net, splits.test)
        result["test_images"] = splits.test.num_examples
    return result, net, splits


def _metadata(smoke: bool) -> dict[str, Any]:
    from gluon_densenet.chapters.results import run_metadata
    meta = run_metadata()
    meta["smoke"] = smoke
    return meta


def _print(name: str, r: dict[str, Any]) -> None:
    test = f", test {r['test_acc']:.4f}" if "test_acc" in r else ""
    print(f"{name}: validation {r['valid_acc']:.4f}{test}; {r['epochs_done']} epochs in "
          f"{r['wall_s']:.0f} s (planned {r['epochs_planned']}, probe {r['probe_step_s']:.3f} "
          f"s/step); load {r['load_before']} → {r['load_after']}", flush=True)


README_START = "<!-- speedrun:start (generated by benchmarks/speedrun.py --search; do not edit) -->"
README_END = "<!-- speedrun:end -->"


def readme_block(data: dict[str, Any], final: dict[str, Any]) -> str:
    """README's speed-run block, from ``speedrun_search.json``'s contents (``data``) and the
    winner's ``speedrun.json`` (``final``): the trials as a table, the choice, its test
    accuracy, and what each ingredient bought."""
    meta, trials = data["meta"], data["trials"]
    chosen = trials[data["chosen"]]
    rows = [[name, f"{t['valid_acc']:.4f}",
             f"{t['epochs_done']}" + (" (the last cut short by the budget)"
                                       if t["budget_exhausted"] else ""),
             f"{t['wall_s']:.0f}", f"{t['load_before']:.1f} → {t['load_after']:.1f}"]
            for name, t in trials.items()]
    lines = [README_START, "",
             f"Measured {meta['date']} on a {meta['cores']}-core CPU ({meta['cpu']}), MXNet "
             f"{meta['mxnet']}; budget {data['budget_s'] / 60:g} min of wall-clock training per "
             f"run, seed {data['seed']}, 54,000 training and 6,000 validation images.", ""]
    lines += common.markdown_table(["run", "validation acc.", "epochs", "wall s (training and "
                                    "validation)", "load"], rows)
    start = Recipe(**trials["recipe"]["recipe"])
    lines += ["", f"- The starting recipe (\"recipe\"): {start.describe()}.",
              f"- Chosen on validation accuracy: **{data['chosen']}** "
              f"({Recipe(**chosen['recipe']).describe()}); "
              f"its test accuracy, measured once: **{final['test_acc']:.4f}** "
              "(the target was 0.9400)."]
    base = trials["recipe"]["valid_acc"]
    for name, ing in data["ingredients"].items():
        lines.append(f"- {name}: validation {ing['valid_acc']:.4f} against the starting "
                     f"recipe's {base:.4f}, {0.0 - 100 * ing['recipe_minus_variant']:+.2f} points "
                     "(one seed, one run each).")
    return "\n".join(lines + ["", README_END])


def update_readme(data: dict[str, Any], final: dict[str, Any], readme: Path) -> bool:
    """Replace README's speed-run block; False if the file has none."""
    return common.replace_block(readme, README_START, README_END, readme_block(data, final))


def search(budget_s: float, seed: int, smoke: bool, out_dir: Path) -> dict[str, Any]:
    """Train every variant of :data:`SEARCH`, choose on validation, test the winner once."""
    trials: dict[str, dict[str, Any]] = {}
    best_name, best_net, best_test = None, None, None
    for name, recipe in SEARCH.items():
        result, net, splits = run(recipe, budget_s, seed, smoke, test=False, progress=False)
        trials[name] = result
        _print(name, result)
        if best_name is None or result["valid_acc"] > trials[best_name]["valid_acc"]:
            best_name, best_net, best_test = name, net, splits.test
    from gluon_densenet.training import evaluate
    best = dict(trials[best_name])
    best["test_acc"] = evaluate(best_net, best_test)
    best["test_images"] = best_test.num_examples
    base = trials["recipe"]["valid_acc"]
    ingredients = {name: {"valid_acc": t["valid_acc"],
                          "recipe_minus_variant": base - t["valid_acc"]}
                   for name, t in trials.items() if name != "recipe"}
    data = {"meta": _metadata(smoke), "budget_s": budget_s, "seed": seed, "trials": trials,
            "chosen": best_name, "chosen_on": "validation accuracy", "ingredients": ingredients}
    write_json(out_dir / "speedrun_search.json", data, indent=2)
    final = {"meta": data["meta"], "chosen_by": "--search", **best}
    write_json(out_dir / "speedrun.json", final, indent=2)
    print(f"chosen on validation: {best_name}; its test accuracy, measured once: "
          f"{best['test_acc']:.4f}")
    if not smoke and out_dir.resolve() == common.RESULTS.resolve():
        if update_readme(data, final, common.ROOT / "README.md"):
            print(f"updated the speed-run section of {common.ROOT / 'README.md'}")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=BUDGET_MIN,
                    help=f"wall-clock training budget (default {BUDGET_MIN:g})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--search", action="store_true",
                    help="train every variant of SEARCH and choose on validation")
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite README's speed-run block from speedrun_search.json, run nothing")
    common.add_common_options(ap, "the shipped subset and a few seconds' budget: a smoke test")
    args = ap.parse_args(argv)
    if not args.minutes > 0:
        print("error: --minutes must be > 0", file=sys.stderr)
        return 2
    budget_s = 20.0 if args.tiny else args.minutes * 60
    if args.render_only:
        data = json.loads((args.out_dir / "speedrun_search.json").read_text())
        final = json.loads((args.out_dir / "speedrun.json").read_text())
        update_readme(data, final, common.ROOT / "README.md")
        print(readme_block(data, final))
        return 0
    try:
        if args.search:
            search(budget_s, args.seed, args.tiny, args.out_dir)
            return 0
        result, _, _ = run(RECIPE, budget_s, args.seed, args.tiny)
    except (OSError, ValueError) as exc:           # missing data, a bad option
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print("recipe", result)
    write_json(args.out_dir / "speedrun.json",
               {"meta": _metadata(args.tiny), "chosen_by": "RECIPE", **result}, indent=2)
    print(f"wrote {args.out_dir / 'speedrun.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
