"""Fashion-MNIST in ten minutes on two CPU cores: the best recipe found, trained once.

``make speedrun`` (``python -m benchmarks.speedrun``) trains :data:`RECIPE` on 54,000 of the
60,000 training images for as many epochs as fit the time budget (10 minutes of wall-clock
training by default; the epochs are planned from how long the warm-up epochs took, see
:func:`train_within`), checks it on the 6,000 held out for validation, then measures the
test set **once**. It writes
``benchmarks/results/speedrun.json`` (accuracies, wall time, epochs, machine, load).

``--search`` is how :data:`RECIPE` was chosen, in :data:`ROUNDS`. Each round trains its base
(the first round's is :data:`BASE`, every later round's is the previous round's winner) and
variants that each change one ingredient of it, all with the same split and budget; the
round's winner is the best *validation* accuracy. A variant that changes only the seed is a
repeat: it measures the noise and is never chosen. Only the last winner is measured on the
test set, once. Each paired difference is what that ingredient bought on this run (one seed:
differences of a few tenths of a point are within the noise, as the repeat shows). It writes
``benchmarks/results/speedrun_search.json`` and ``speedrun.json`` for the winner;
``--reuse`` keeps the trials already in ``speedrun_search.json`` with the same recipe and
budget instead of training them again.

Run from the repository root; the data is Fashion-MNIST's full set
(``GLUON_DENSENET_DATA``, as ``make`` sets it beside the project's machines).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import common
from gluon_densenet.atomic_files import write_json

#: Minutes of wall-clock training (training and the validation pass).
BUDGET_MIN = 10.0
#: Of the time left after the warm-up, the share the remaining epochs are planned to fill;
#: the rest is for the validation pass and for slower epochs.
SAFETY = 0.95
#: The epochs a run is set up for until its warm-up has been timed (more than ever fit).
EPOCHS_UNPLANNED = 1000


@dataclass(frozen=True)
class Recipe:
    """One speed-run configuration: the net, its input, the optimiser and the ingredients."""

    model: str = "densenet21_d2l"
    growth_rate: int = 32
    size: int = 32
    batch: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    wd: float = 5e-4
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    crop_pad: int = 2
    flip: bool = True
    seed: int = 0

    def describe(self) -> str:
        parts = ([f"random crop (pad {self.crop_pad} px)"] if self.crop_pad else []) + \
            (["horizontal flip"] if self.flip else [])
        aug = " + ".join(parts) if parts else "no augmentation"
        return (f"{self.model} (k={self.growth_rate}) at {self.size} px, batch {self.batch}, "
                f"SGD lr {self.lr} momentum {self.momentum} wd {self.wd}, "
                f"{self.warmup_epochs:g}-epoch warm-up + cosine, "
                f"label smoothing {self.label_smoothing:g}, {aug}"
                + (f", seed {self.seed}" if self.seed else ""))


#: Where the search starts: every ingredient on.
BASE = Recipe()

#: The search, round by round: each round's variants, as the fields they change in the round's
#: base (round 1: BASE; then the previous round's validation winner). Round 1 asked which of
#: the usual ingredients pay within ten minutes; round 2 tunes its winner's optimiser, batch
#: size and warm-up, and repeats it with another seed to show the noise; round 3 the width.
ROUNDS: tuple[dict[str, dict[str, Any]], ...] = (
    {"48 px input": {"size": 48},
     "no augmentation": {"crop_pad": 0, "flip": False},
     "no label smoothing": {"label_smoothing": 0.0}},
    {"flips only": {"flip": True},
     "lr 0.05": {"lr": 0.05},
     "lr 0.2": {"lr": 0.2},
     "wd 1e-4": {"wd": 1e-4},
     "batch 64 (lr 0.05)": {"batch": 64, "lr": 0.05},
     "3-epoch warm-up": {"warmup_epochs": 3.0},
     "seed 1 (repeat)": {"seed": 1}},
    {"growth rate 16": {"growth_rate": 16},
     "growth rate 48": {"growth_rate": 48}},
)

#: What ``make speedrun`` trains: the last validation winner of ``--search``
#: (``benchmarks/results/speedrun_search.json``).
RECIPE = dataclasses.replace(BASE, crop_pad=0, flip=False, warmup_epochs=3.0)


def is_repeat(changes: dict[str, Any]) -> bool:
    """A variant that changes only the seed: a measure of the noise, never a candidate."""
    return set(changes) == {"seed"}


def _splits(recipe: Recipe, smoke: bool):
    from gluon_densenet.data import CropFlip, load_splits

    augment = CropFlip(recipe.crop_pad, recipe.flip) if (recipe.crop_pad or recipe.flip) else None
    return load_splits(recipe.batch, validation=500 if smoke else 6000,
                       resize=None if recipe.size == 28 else recipe.size,
                       subset=smoke, download=False, seed=recipe.seed, augment=augment)


def _net(recipe: Recipe):
    from gluon_densenet import get_model
    return get_model(recipe.model, classes=10, in_channels=1, growth_rate=recipe.growth_rate)


class _WarmedUp(Exception):
    """Raised at the end of the warm-up epochs, to plan the rest."""


def train_within(net, recipe: Recipe, train_data, budget_s: float, loss=None,
                 progress: bool = True, max_epochs: int | None = None):
    """Train ``net`` on ``train_data`` as ``recipe`` says for as many epochs as fit in
    ``budget_s`` seconds (warm-up + cosine), and at most ``max_epochs``.

    The warm-up's rate rises linearly to the peak over its own epochs, whatever the total,
    so those epochs run first, with a checkpoint (in a temporary directory); their time
    plans the remaining epochs (:data:`SAFETY` of what is left); then ``train`` resumes
    from the checkpoint with the cosine spanning that total. With a whole number of warm-up
    epochs (every recipe here), the schedule is the one a run planned with that total from
    the start; the budget still stops a slower epoch midway.

    Returns:
        ``(history, epochs)``: the :class:`~gluon_densenet.training.History` of the whole
        run and the number of epochs planned.
    """
    import tempfile

    from gluon_densenet.training import train

    start = time.perf_counter()
    warm = max(1, math.ceil(recipe.warmup_epochs))
    seen: list[Any] = []

    def stop_after_warm_up(history) -> None:
        if len(history) == warm:
            seen.append(history)
            raise _WarmedUp

    options = dict(lr=recipe.lr, momentum=recipe.momentum, wd=recipe.wd,
                   lr_schedule="cosine", warmup_epochs=recipe.warmup_epochs, loss=loss,
                   seed=recipe.seed, progress=progress)
    if progress:
        print(f"{warm} warm-up epoch(s) first, then the total is planned from their time "
              f"(until then the bar counts to {EPOCHS_UNPLANNED})", flush=True)
    with tempfile.TemporaryDirectory(prefix="speedrun-") as directory:
        try:
            history = train(net, train_data, None, EPOCHS_UNPLANNED, checkpoint_dir=directory,
                            on_epoch_end=stop_after_warm_up, time_budget_s=budget_s, **options)
            return history, warm                 # the budget ran out in the warm-up
        except _WarmedUp:
            pass
        epoch_s = sum(r.time_s for r in seen[0]) / warm
        left = budget_s - (time.perf_counter() - start)
        epochs = warm + max(0, int(left * SAFETY / epoch_s))
        if max_epochs is not None:
            epochs = max(warm, min(epochs, max_epochs))
        if epochs == warm:
            return seen[0], epochs
        history = train(net, train_data, None, epochs, checkpoint_dir=directory, resume=True,
                        time_budget_s=left, **options)
    return history, epochs


def run(recipe: Recipe, budget_s: float, smoke: bool = False, test: bool = True,
        progress: bool = True) -> tuple[dict[str, Any], Any, Any]:
    """Train ``recipe`` within ``budget_s`` seconds (:func:`train_within`); validation
    accuracy, and test accuracy when ``test``.

    Returns:
        ``(result, net, splits)``: the figures, the trained net, and its data
        (:class:`~gluon_densenet.data.DataSplits`).
    """
    from gluon_densenet.training import LabelSmoothingLoss, evaluate

    splits = _splits(recipe, smoke)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    net = _net(recipe)
    loss = (LabelSmoothingLoss(10, recipe.label_smoothing) if recipe.label_smoothing else None)
    history, epochs = train_within(net, recipe, splits.train, budget_s, loss, progress)
    valid_acc = evaluate(net, splits.validation)
    wall_s = time.perf_counter() - start
    result = {"recipe": dataclasses.asdict(recipe), "describe": recipe.describe(),
              "seed": recipe.seed, "date": date, "epochs_planned": epochs,
              "epochs_done": len(history.records), "budget_exhausted": history.budget_exhausted,
              "planned_by": "warm-up time", "budget_s": budget_s,
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
          f"{r['wall_s']:.0f} s (planned {r['epochs_planned']}); "
          f"load {r['load_before']} → {r['load_after']}", flush=True)


README_START = "<!-- speedrun:start (generated by benchmarks/speedrun.py --search; do not edit) -->"
README_END = "<!-- speedrun:end -->"


def readme_block(data: dict[str, Any], final: dict[str, Any]) -> str:
    """README's speed-run block, from ``speedrun_search.json``'s contents (``data``) and the
    winner's ``speedrun.json`` (``final``): the trials round by round, the choice, its test
    accuracy, and what each ingredient bought against its round's base."""
    meta, trials = data["meta"], data["trials"]
    chosen = trials[data["chosen"]]
    rows = []
    for number, rnd in enumerate(data["rounds"], 1):
        for name in [rnd["base"], *rnd["variants"]]:
            t = trials[name]
            rows.append([str(number), name if name != rnd["base"] else f"{name} (base)",
                         f"{t['valid_acc']:.4f}",
                         f"{t['epochs_done']}" + (" (the last cut short by the budget)"
                                                   if t["budget_exhausted"] else ""),
                         f"{t['wall_s']:.0f}", f"{t['load_before']:.1f} → {t['load_after']:.1f}",
                         t["date"]])
    lines = [README_START, "",
             f"Searched on a {meta['cores']}-core CPU ({meta['cpu']}), MXNet {meta['mxnet']}; "
             f"budget {data['budget_s'] / 60:g} min of wall-clock training per run, 54,000 "
             "training and 6,000 validation images; seed 0 unless the run says otherwise. A "
             "round's base is the previous round's winner, trained once and listed again. The "
             "date is when a run started; runs kept from a search that did not record it "
             "carry that search's end.", ""]
    lines += common.markdown_table(["round", "run", "validation acc.", "epochs",
                                    "wall s (training and validation)", "load", "date"], rows)
    start = Recipe(**trials[data["rounds"][0]["base"]]["recipe"])
    lines += ["", f"- The starting recipe (\"recipe\"): {start.describe()}.",
              f"- Chosen on validation accuracy: **{data['chosen']}** "
              f"({Recipe(**chosen['recipe']).describe()}); "
              f"its test accuracy, measured once: **{final['test_acc']:.4f}** "
              "(the target was 0.9400)."]
    for name, ing in data["ingredients"].items():
        what = "the same recipe, another seed" if ing["repeat"] else "one ingredient changed"
        lines.append(f"- {name} (round {ing['round']}, {what}): validation "
                     f"{ing['valid_acc']:.4f} against {ing['base']}'s {ing['base_valid_acc']:.4f}, "
                     f"{100 * (ing['valid_acc'] - ing['base_valid_acc']):+.2f} points.")
    return "\n".join(lines + ["", README_END])


def update_readme(data: dict[str, Any], final: dict[str, Any], readme: Path) -> bool:
    """Replace README's speed-run block; False if the file has none."""
    return common.replace_block(readme, README_START, README_END, readme_block(data, final))


def _known_trials(path: Path, budget_s: float) -> list[dict[str, Any]]:
    """The trials of an earlier ``speedrun_search.json`` at ``path`` with budget ``budget_s``
    (none if there is no file), each stamped with its date and its recipe in full."""
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    if data["budget_s"] != budget_s or data["meta"]["smoke"]:
        return []
    return [{"date": data["meta"]["date"], **t,
             "recipe": dataclasses.asdict(Recipe(**t["recipe"]))}
            for t in data["trials"].values()]


def search(budget_s: float, smoke: bool, out_dir: Path, reuse: bool = False) -> dict[str, Any]:
    """Train :data:`ROUNDS` (each round's base, then its variants), choose each round's
    winner on validation, and test the last winner once.

    With ``reuse``, a trial whose recipe is already in ``out_dir/speedrun_search.json`` with
    this budget is taken from there instead of being trained again. If the winner is such a
    trial, its test accuracy is the one ``speedrun.json`` holds for it (measured once, when
    it was chosen), or, failing that, it is trained again and tested.
    """
    from gluon_densenet.training import evaluate

    known = _known_trials(out_dir / "speedrun_search.json", budget_s) if reuse else []
    trials: dict[str, dict[str, Any]] = {}
    nets: dict[str, tuple[Any, Any]] = {}

    def trial(name: str, recipe: Recipe) -> None:
        if name in trials:
            return
        for t in known:
            if t["recipe"] == dataclasses.asdict(recipe):
                trials[name] = t
                _print(f"{name} (kept from the earlier search)", t)
                return
        result, net, splits = run(recipe, budget_s, smoke, test=False, progress=False)
        trials[name], nets[name] = result, (net, splits.test)
        _print(name, result)

    rounds, ingredients = [], {}
    base_name, base = "recipe", BASE
    for number, variants in enumerate(ROUNDS, 1):
        trial(base_name, base)
        rnd = {"base": base_name, "variants": []}
        for name, changes in variants.items():
            recipe = dataclasses.replace(base, **changes)
            if recipe == base:                   # a change the base already has
                continue
            trial(name, recipe)
            rnd["variants"].append(name)
            ingredients[name] = {"round": number, "base": base_name, "changes": changes,
                                 "repeat": is_repeat(changes),
                                 "valid_acc": trials[name]["valid_acc"],
                                 "base_valid_acc": trials[base_name]["valid_acc"]}
        rounds.append(rnd)
        candidates = [base_name] + [n for n in rnd["variants"]
                                    if not ingredients[n]["repeat"]]
        base_name = max(candidates, key=lambda n: trials[n]["valid_acc"])
        base = Recipe(**trials[base_name]["recipe"])
        nets = {n: v for n, v in nets.items() if n == base_name}   # only it can still win
    best = dict(trials[base_name])
    earlier = out_dir / "speedrun.json"
    if base_name not in nets and earlier.exists():     # kept from an earlier search
        final = json.loads(earlier.read_text())
        if (final.get("chosen_by") == "--search" and final["budget_s"] == budget_s
                and dataclasses.asdict(Recipe(**final["recipe"])) == best["recipe"]):
            best.update(test_acc=final["test_acc"], test_images=final["test_images"])
    if "test_acc" not in best:
        if base_name not in nets:
            result, net, splits = run(base, budget_s, smoke, test=False, progress=False)
            _print(f"{base_name} (trained again for its test accuracy)", result)
            nets[base_name] = (net, splits.test)
        net, test = nets[base_name]
        best["test_acc"] = evaluate(net, test)
        best["test_images"] = test.num_examples
    data = {"meta": _metadata(smoke), "budget_s": budget_s, "rounds": rounds,
            "trials": trials, "chosen": base_name, "chosen_on": "validation accuracy",
            "ingredients": ingredients}
    write_json(out_dir / "speedrun_search.json", data, indent=2)
    final = {"meta": data["meta"], "chosen_by": "--search", **best}
    write_json(out_dir / "speedrun.json", final, indent=2)
    print(f"chosen on validation: {base_name}; its test accuracy, measured once: "
          f"{best['test_acc']:.4f}")
    if not smoke and out_dir.resolve() == common.RESULTS.resolve():
        if update_readme(data, final, common.ROOT / "README.md"):
            print(f"updated the speed-run section of {common.ROOT / 'README.md'}")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=BUDGET_MIN,
                    help=f"wall-clock training budget (default {BUDGET_MIN:g})")
    ap.add_argument("--seed", type=int, default=RECIPE.seed,
                    help="seed of the training run (the search's seeds are in ROUNDS)")
    ap.add_argument("--search", action="store_true",
                    help="train the rounds of ROUNDS and choose on validation")
    ap.add_argument("--reuse", action="store_true",
                    help="with --search: keep the trials already in speedrun_search.json "
                         "(same recipe and budget) instead of training them again")
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
            search(budget_s, args.tiny, args.out_dir, args.reuse)
            return 0
        result, _, _ = run(dataclasses.replace(RECIPE, seed=args.seed), budget_s, args.tiny)
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
