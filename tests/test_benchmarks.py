"""The benchmark script (``python -m benchmarks.run``) runs in its --tiny configuration and
writes valid JSON and markdown; the optimized inference path equals the plain one.
Correctness only, no timings."""
import json
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import nd

from gluon_densenet import DenseNet
from gluon_densenet.training.hybridize import fast_hybridize, optimized_inference
from tests.time_limits import limit

ROOT = Path(__file__).resolve().parents[1]


def _tiny_run(script: str, out_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m benchmarks.SCRIPT --tiny --out-dir OUT_DIR ARGS``, which must succeed."""
    proc = subprocess.run([sys.executable, "-m", f"benchmarks.{script}", "--tiny",
                           "--out-dir", str(out_dir), *args],
                          capture_output=True, text=True, timeout=limit(900), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_tiny_benchmark_writes_json_and_markdown(tmp_path):
    proc = _tiny_run("run", tmp_path, "--contenders", "gluon", "gluon_me", "pipeline")
    data = json.loads((tmp_path / "latest.json").read_text())
    assert data["tiny"] is True
    results = data["results"]
    for k in ("train/32/gluon", "train/32/gluon_me", "infer/32/gluon"):
        assert results[k]["img_per_s"] > 0, results[k]
        assert results[k]["peak_rss_mib"] > 0
    assert 0 < results["pipeline/32/pipeline"]["load_fraction"] < 1
    md = (tmp_path / "README.md").read_text()
    assert "| task |" in md and "gluon_me" in md
    assert "img/s" in proc.stdout


def _copy_params(src, dst):
    for name, p in src.collect_params().items():
        dst.collect_params()[name].set_data(p.data())


def _with_running_stats(net):
    for p in net.collect_params(".*running_mean").values():
        p.set_data(nd.random.uniform(-0.2, 0.2, shape=p.shape))
    for p in net.collect_params(".*running_var").values():
        p.set_data(nd.random.uniform(0.5, 1.5, shape=p.shape))
    return net


def test_optimized_inference_equals_plain():
    mx.random.seed(1)
    make = lambda: DenseNet((2, 3, 2), growth_rate=16, init_features=32,  # noqa: E731
                            classes=10, prefix="d_")
    plain = make()
    plain.initialize(mx.init.Xavier())
    _with_running_stats(plain)
    fast = make()
    fast.initialize()
    _copy_params(plain, fast)
    X = nd.random.uniform(shape=(2, 3, 32, 32))
    expected = plain(X).asnumpy()
    optimized_inference(fast, X)
    np.testing.assert_allclose(fast(X).asnumpy(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast(X).asnumpy(), expected, rtol=1e-4, atol=1e-5)


def test_fast_hybridize_equals_plain_small_k12():
    mx.random.seed(2)
    make = lambda: DenseNet((2, 2), growth_rate=12, init_features=24, stem="cifar",  # noqa: E731
                            classes=10, prefix="n_")
    plain, fast = make(), make()
    plain.initialize(mx.init.Xavier())
    fast.initialize()
    _with_running_stats(plain)
    _copy_params(plain, fast)
    X = nd.random.uniform(shape=(3, 3, 8, 8))
    fast_hybridize(fast)
    np.testing.assert_allclose(fast(X).asnumpy(), plain(X).asnumpy(), rtol=1e-4, atol=1e-5)
    plain2 = make()
    plain2.initialize()
    _copy_params(plain, plain2)
    optimized_inference(plain2, X)
    np.testing.assert_allclose(plain2(X).asnumpy(), plain(X).asnumpy(), rtol=1e-4, atol=1e-5)


def test_readme_performance_block_is_replaced(tmp_path):
    from benchmarks import run
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{run.README_START}\nold table\n{run.README_END}\noutro\n")
    result = {"task": "train", "size": 32, "batch": 4, "contender": "gluon",
              "img_per_s": 10.0, "peak_rss_mib": 300.0}
    data = {"date": "2026-01-01T00:00:00", "machine": "test", "mxnet": "1.9.1", "torch": None,
            "repeats": 1, "results": {"train/32/gluon": result}}
    assert run.update_readme(data, readme)
    text = readme.read_text()
    assert "old table" not in text and "| train | 32 | 4 | gluon | 10.0 | 300 |" in text
    assert text.startswith("intro\n") and text.endswith("outro\n")
    assert not run.update_readme(data, tmp_path / "missing.md")


def test_distributed_benchmark_runs_loopback_jobs_and_counts_the_bytes(tmp_path):
    _tiny_run("distributed", tmp_path)
    data = json.loads((tmp_path / "distributed.json").read_text())
    assert set(data["runs"]) == {"no kvstore", "dist_sync, 1 worker", "dist_sync, 2 workers"}
    assert all(run["img_per_s"] > 0 for run in data["runs"].values())
    from gluon_densenet import densenet121
    from gluon_densenet.models import count_parameters
    imagenet = data["bytes_per_step"]["densenet121 (ImageNet: 1000 classes, 3 channels)"]
    assert imagenet == 8 * count_parameters(densenet121()) == 8 * 7_978_856


def test_memory_budget_search_finds_the_boundary(monkeypatch):
    from benchmarks import memory_budget
    seen = []

    def fake_probe(contender, batch, size, budget_mib, tiny, cgroup, timeout=900):
        seen.append(batch)
        return {"batch": batch, "fits": batch <= 37, "how": "fake"}
    monkeypatch.setattr(memory_budget, "probe", fake_probe)
    best, probes = memory_budget.largest_batch("gluon", 224, 2048, False, None, start=4,
                                               log=lambda s: None)
    assert best == 37 and len(probes) == len(seen)
    assert seen[:5] == [4, 8, 16, 32, 64]           # doubling, then bisection
    none, _ = memory_budget.largest_batch("gluon", 224, 2048, False, None, start=4,
                                          limit=2, log=lambda s: None)
    assert none == 0                                # nothing tried above the limit


def test_tiny_memory_budget_run_writes_both_contenders(tmp_path):
    _tiny_run("memory_budget", tmp_path)
    data = json.loads((tmp_path / "memory_budget.json").read_text())
    for name in ("gluon", "gluon_me"):
        c = data["contenders"][name]
        assert c["largest_batch"] == 4, c           # the tiny net fits 600 MiB up to the cap
        assert all(p["fits"] for p in c["probes"])
    assert data["ratio"] == 1.0 and data["method"]


def test_headline_lines_are_ratios_of_the_measured_figures():
    from benchmarks import run

    def r(task, size, name, ips, rss):
        figures = {"img_per_s": ips, "peak_rss_mib": rss}
        return {f"{task}/{size}/{name}": {"task": task, "size": size, "contender": name,
                                          "runs": [figures], **figures}}
    results = {**r("train", 224, "gluon", 15.0, 2800), **r("train", 224, "gluon_me", 10.0, 1400),
               **r("train", 224, "torch", 10.0, 3000),
               **r("train", 224, "gluon_mxthreads", 10.0, 2800),
               **r("infer", 224, "gluon", 36.0, 400), **r("infer", 224, "torch", 24.0, 1200)}
    budget = {"size": 224, "budget_mib": 2048, "method": "cgroup v1 memory limit",
              "ratio": 3.0, "contenders": {"gluon": {"largest_batch": 12},
                                           "gluon_me": {"largest_batch": 36}}}
    text = "\n".join(run.extra_lines(results, budget))
    assert "Default training vs torchvision, img/s ratio: 224 px 1.50x (1 round)" in text
    assert "Inference vs torchvision, img/s ratio: 224 px 1.50x (1 round)" in text
    assert "2800 → 1400 MiB (0.50x (1 round)), time per step 1.50x (1 round)" in text
    assert "default 12, memory-efficient 36 (3.00x)" in text
    assert "vs MXNet's own default" in text and "224 px 1.50x" in text


def test_contention_benchmark_times_both_spins_on_free_and_busy_cores(tmp_path):
    proc = _tiny_run("contention", tmp_path)
    data = json.loads((tmp_path / "contention.json").read_text())
    assert set(data["results"]) == {f"{load}/densenet_tiny/32/{spin}" for load in
                                    ("quiet", "busy") for spin in ("libgomp", "short")}
    assert all(r["img_per_s"] > 0 for r in data["results"].values()), data["results"]
    ratios = data["ratios"]["densenet_tiny/32"]
    quiet = data["results"]["quiet/densenet_tiny/32/short"]["img_per_s"]
    busy = data["results"]["busy/densenet_tiny/32/short"]["img_per_s"]
    assert ratios["busy_vs_quiet_short"] == busy / quiet
    assert "<!-- contention:start" in proc.stdout


def test_readme_shows_the_committed_contention_results():
    """README's block is what benchmarks/contention.py makes of the committed JSON."""
    from benchmarks import contention
    data = json.loads((ROOT / "benchmarks" / "results" / "contention.json").read_text())
    assert not data["tiny"] and data["rounds"] >= 3
    assert contention.readme_block(data) in (ROOT / "README.md").read_text()


def test_ratios_are_taken_round_by_round_with_their_range():
    from benchmarks import run
    runs_a = [{"img_per_s": 10.0}, {"img_per_s": 12.0}, {"error": "timeout"}]
    runs_b = [{"img_per_s": 5.0}, {"img_per_s": 4.0}, {"img_per_s": 5.0}]
    results = {"a": {"runs": runs_a}, "b": {"runs": runs_b}}
    assert run.round_ratios(results, "a", "b") == [2.0, 3.0]   # the failed round left out
    assert run.ratio_text(results, "a", "b") == "2.50x (rounds 2.00–3.00x)"
    assert run.ratio_text(results, "a", "b", invert=True) == "0.42x (rounds 0.33–0.50x)"
    assert run.ratio_text(results, "a", "missing") is None


def test_headline_lines_compare_with_the_model_zoo_and_give_memory_efficient_targets():
    from benchmarks import run

    def entry(contender, task, size, rates, rss):
        runs = [{"img_per_s": r, "peak_rss_mib": m} for r, m in zip(rates, rss, strict=True)]
        return {"contender": contender, "task": task, "size": size, "runs": runs,
                "img_per_s": sorted(rates)[1], "peak_rss_mib": sorted(rss)[1]}

    results = {
        "train/224/gluon": entry("gluon", "train", 224, [10, 11, 12], [2000, 2000, 2000]),
        "train/224/gluon_me": entry("gluon_me", "train", 224, [8, 8, 8], [1000, 1000, 900]),
        "train/224/modelzoo": entry("modelzoo", "train", 224, [10, 10, 10], [2000, 2000, 2000]),
    }
    lines = run.extra_lines(results)
    zoo = next(line for line in lines if "model zoo" in line)
    assert "224 px 1.10x (rounds 1.00–1.20x)" in zoo
    me = next(line for line in lines if line.startswith("Memory-efficient"))
    assert "2000 → 1000 MiB (0.50x (rounds 0.45–0.50x))" in me
    assert "time per step 1.38x (rounds 1.25–1.50x)" in me


def test_the_model_zoo_densenet_gets_a_global_pool_for_small_inputs():
    from benchmarks.run import _zoo_global_pool
    net = mx.gluon.model_zoo.vision.densenet121(classes=10)
    _zoo_global_pool(net)
    net.initialize()
    assert net(nd.zeros((1, 3, 32, 32))).shape == (1, 10)
    ours = mx.gluon.model_zoo.vision.densenet121(classes=10)
    ours.initialize()
    X = nd.random.uniform(shape=(1, 3, 224, 224))
    ours(X)
    for name, p in ours.collect_params().items():      # at 224 px the same arithmetic
        net.collect_params()[name.replace(ours.prefix, net.prefix)].set_data(p.data())
    np.testing.assert_allclose(net(X).asnumpy(), ours(X).asnumpy(), rtol=1e-5, atol=1e-6)


def test_tiny_speedrun_writes_its_result_and_refuses_a_bad_budget(tmp_path):
    _tiny_run("speedrun", tmp_path)
    data = json.loads((tmp_path / "speedrun.json").read_text())
    assert data["meta"]["smoke"] is True and data["chosen_by"] == "RECIPE"
    assert 0 <= data["valid_acc"] <= 1 and 0 <= data["test_acc"] <= 1
    assert data["epochs_done"] >= 1 and data["wall_s"] > 0
    proc = subprocess.run([sys.executable, "-m", "benchmarks.speedrun", "--minutes", "0",
                           "--out-dir", str(tmp_path / "x")], capture_output=True, text=True,
                          timeout=limit(300), cwd=ROOT)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert not (tmp_path / "x").exists()


def test_a_speedrun_planned_after_its_warm_up_trains_as_if_planned_from_the_start():
    """train_within runs the warm-up, plans the epochs from its time, and resumes from its
    checkpoint: the weights equal a run given that many epochs from the start, bit for bit
    (the warm-up's rate does not depend on the total)."""
    import dataclasses

    from benchmarks import speedrun
    from gluon_densenet.training import train
    recipe = dataclasses.replace(speedrun.BASE, growth_rate=8, crop_pad=0, flip=False,
                                 label_smoothing=0.0)
    planned = speedrun._net(recipe)
    history, epochs = speedrun.train_within(planned, recipe,
                                            speedrun._splits(recipe, True).train, 3600.0,
                                            progress=False, max_epochs=3)
    assert epochs == 3 and len(history) == 3 and not history.budget_exhausted
    straight = speedrun._net(recipe)
    train(straight, speedrun._splits(recipe, True).train, None, 3, lr=recipe.lr,
          momentum=recipe.momentum, wd=recipe.wd, lr_schedule="cosine",
          warmup_epochs=recipe.warmup_epochs, seed=recipe.seed, progress=False)
    mine = list(planned.collect_params().values())
    theirs = list(straight.collect_params().values())
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs, strict=True):
        assert np.array_equal(a.data().asnumpy(), b.data().asnumpy()), a.name
    # and the check can fail: one epoch fewer is another net
    fewer = speedrun._net(recipe)
    train(fewer, speedrun._splits(recipe, True).train, None, 2, lr=recipe.lr,
          momentum=recipe.momentum, wd=recipe.wd, lr_schedule="cosine",
          warmup_epochs=recipe.warmup_epochs, seed=recipe.seed, progress=False)
    assert not all(np.array_equal(a.data().asnumpy(), c.data().asnumpy())
                   for a, c in zip(mine, fewer.collect_params().values(), strict=True))


def test_the_committed_speedrun_recipe_is_the_searchs_validation_winner():
    import dataclasses

    from benchmarks import speedrun
    search = json.loads((ROOT / "benchmarks/results/speedrun_search.json").read_text())
    trials, rounds = search["trials"], search["rounds"]
    assert search["meta"]["smoke"] is False and len(rounds) == len(speedrun.ROUNDS)
    base = speedrun.Recipe(**trials[rounds[0]["base"]]["recipe"])
    assert base == speedrun.BASE
    for rnd, variants in zip(rounds, speedrun.ROUNDS):
        # every round starts from the one before's validation winner, repeats excluded
        assert speedrun.Recipe(**trials[rnd["base"]]["recipe"]) == base
        for name in rnd["variants"]:
            assert trials[name]["recipe"] == dataclasses.asdict(
                dataclasses.replace(base, **variants[name]))
        candidates = [rnd["base"]] + [n for n in rnd["variants"]
                                      if not speedrun.is_repeat(variants[n])]
        best = max(candidates, key=lambda name: trials[name]["valid_acc"])
        base = speedrun.Recipe(**trials[best]["recipe"])
    assert search["chosen"] == best and base == speedrun.RECIPE
    final = json.loads((ROOT / "benchmarks/results/speedrun.json").read_text())
    assert final["recipe"] == trials[best]["recipe"] and "test_acc" in final
    assert final["wall_s"] <= final["budget_s"] + 60      # the training and validation pass


def test_readmes_speedrun_block_is_the_committed_search_rendered():
    from benchmarks import speedrun
    search = json.loads((ROOT / "benchmarks/results/speedrun_search.json").read_text())
    final = json.loads((ROOT / "benchmarks/results/speedrun.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert speedrun.readme_block(search, final) in readme


def test_readmes_performance_block_is_the_committed_benchmark_rendered():
    from benchmarks import run
    data = json.loads((ROOT / "benchmarks/results/latest.json").read_text())
    assert run.readme_block(data) in (ROOT / "README.md").read_text()


def test_readmes_speedrun_prose_states_the_codes_settings_and_the_committed_outcome():
    from benchmarks import speedrun
    text = " ".join((ROOT / "README.md").read_text().split())
    base = speedrun.BASE
    assert f"{speedrun.SAFETY:.0%} of the time left after the warm-up" in text
    assert f"within {speedrun.BUDGET_MIN:g} minutes of wall-clock training" in text
    assert f"shifts of up to {base.crop_pad} px" in text
    assert f"warmup_epochs={base.warmup_epochs:g}" in text and base.warmup_epochs == 1
    assert f"at {base.size} px against {speedrun.ROUNDS[0]['48 px input']['size']} px" in text
    final = json.loads((ROOT / "benchmarks/results/speedrun.json").read_text())
    assert "94 % test accuracy, was not reached" in text and final["test_acc"] < 0.94
    search = json.loads((ROOT / "benchmarks/results/speedrun_search.json").read_text())
    trials, ingredients = search["trials"], search["ingredients"]
    chosen = trials[search["chosen"]]["recipe"]
    assert chosen["crop_pad"] == 0 and not chosen["flip"] and \
        "so the recipe trains without it" in text
    assert trials["flips only"]["valid_acc"] < trials["no augmentation"]["valid_acc"]
    assert search["chosen"] == "3-epoch warm-up" and "the longer warm-up" in text
    round2 = [i for i in ingredients.values() if i["round"] == 2]
    spread = max(abs(i["valid_acc"] - i["base_valid_acc"]) for i in round2 if not i["repeat"])
    noise = [abs(i["valid_acc"] - i["base_valid_acc"]) for i in round2 if i["repeat"]]
    assert f"landed within {100 * spread:.2f} points of its base" in text
    assert len(noise) == 1 and f"moved {100 * noise[0]:.2f} points by itself" in text
    at_32 = [t["epochs_done"] for t in trials.values()
             if t["recipe"]["size"] == 32 and t["recipe"]["growth_rate"] == 32]
    assert f"only {min(at_32)} to {max(at_32)} times" in text
    narrow, wide = ingredients["growth rate 16"], ingredients["growth rate 48"]
    assert (f"*k* = 16 fitted {trials['growth rate 16']['epochs_done']} epochs and *k* = 48 "
            f"fitted {trials['growth rate 48']['epochs_done']}") in text
    assert (f"ended {100 * (narrow['base_valid_acc'] - narrow['valid_acc']):.2f} and "
            f"{100 * (wide['base_valid_acc'] - wide['valid_acc']):.2f} points below") in text
    assert f"the 48 px run got {trials['48 px input']['epochs_done']})" in text
    assert f"at least {speedrun._net(speedrun.RECIPE).min_input_size()} px" in text
    # round 1 was planned by the old step probe, and its 48 px run fell well short of the budget
    assert "Round 1 below was measured earlier, with the epochs planned from a 30-step probe" \
        in text and all("probe_step_s" in trials[n] for n in
                        [search["rounds"][0]["base"], *search["rounds"][0]["variants"]])
    assert "its 48 px run stopped well short of its budget" in text and \
        trials["48 px input"]["wall_s"] < 0.7 * search["budget_s"]
