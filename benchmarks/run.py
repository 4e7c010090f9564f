"""Side-by-side speed and memory of DenseNet-121: gluon_densenet vs MXNet's model zoo vs
torchvision (when torch is importable).

Every configuration (contender × task × input size) runs in a *fresh* subprocess (this
module with ``--worker``), so its peak RSS (``VmHWM``) is its own. Configurations are run in
rounds, alternating between contenders, and each figure is the median over ``--repeats``
rounds; warm-up iterations are excluded from timings. The headline ratios under the table
are the medians of ratios taken round by round (both figures from the same round), with
their range over the rounds. All contenders use 10 classes and 3-channel input.

Run from the repository root:

    python -m benchmarks.run                  # full run: 32 px (batch 64), 224 px (batch 16)
    python -m benchmarks.run --tiny           # seconds: a tiny net, used by the tests
    python -m benchmarks.run --sizes 224 --repeats 3 --iters 5

Writes ``benchmarks/results/latest.json`` and ``benchmarks/results/README.md`` (a markdown
table generated from the JSON; ``--out-dir`` to change where).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import common, memory_budget
from gluon_densenet.analysis.measure import peak_rss_mib, timings
from gluon_densenet.atomic_files import write_json
from gluon_densenet.runtime.cpu_threads import (
    THREAD_VARIABLES,
    mxnet_threads,
    threads_from_environment,
    without_package_default,
)

#: The operator threads MXNet 1.9 picks by itself here (no thread variables set).
MXNET_DEFAULT_THREADS = threads_from_environment({})

DEFAULT_BATCH = {32: 64, 224: 16}
#: Contenders: (name, task) → description.
CONTENDERS = {
    "gluon": "gluon_densenet densenet121, fast_hybridize (static alloc/shape), the default",
    "gluon_mxthreads": "the same with MXNet's own thread default (half the processors on x86)",
    "gluon_plain": "gluon_densenet densenet121, plain hybridize()",
    "gluon_views": "the default, every dense-block concatenation through 3-D views (the "
                   "path growth rates like 12 take; DenseNet-121 concatenates straight)",
    "gluon_me": "gluon_densenet densenet121(memory_efficient=True), the ordinary step",
    "gluon_me_notrim": "the same without handing freed heap memory back to the OS before "
                       "each block's replay (memory_efficient.TRIM_PER_BLOCK = False)",
    "gluon_opt": "gluon_densenet densenet121, optimized_inference (oneDNN fusion)",
    "modelzoo": "mx.gluon.model_zoo.vision.densenet121, hybridize(static alloc/shape); below "
                "224 px its fixed 7×7 pool replaced by a global one",
    "torch": "torchvision densenet121",
    "torch_me": "torchvision densenet121(memory_efficient=True)",
}
TRAIN = ["gluon", "gluon_mxthreads", "gluon_plain", "gluon_views", "gluon_me", "gluon_me_notrim",
         "modelzoo", "torch", "torch_me"]
INFER = ["gluon", "gluon_opt", "gluon_views", "modelzoo", "torch"]


# --- worker ---------------------------------------------------------------------------

def _worker_mxnet(cfg: dict) -> tuple:
    """Build an MXNet contender's net and its step.

    Args:
        cfg: one configuration (``contender``, ``task``, ``size``, ``batch``, ``tiny``,
            optionally ``hybridize`` for ``gluon_me``: ``"plain"`` or ``"none"``).

    Returns:
        ``(step, sync)``: one training step or inference call, and ``mx.nd.waitall``.
    """
    import mxnet as mx
    from mxnet import nd

    from gluon_densenet.training.hybridize import fast_hybridize, optimized_inference

    name, task, size, batch = cfg["contender"], cfg["task"], cfg["size"], cfg["batch"]
    me = name.startswith("gluon_me")
    if name == "gluon_me_notrim":
        from gluon_densenet.models import memory_efficient
        memory_efficient.TRIM_PER_BLOCK = False
    if name == "modelzoo":
        net = mx.gluon.model_zoo.vision.densenet121(classes=10)
        if size != 224:
            _zoo_global_pool(net)
    else:
        net = common.make_densenet(cfg["tiny"], memory_efficient=me)
        if name == "gluon_views":
            _concat_through_views(net)
    net.initialize(mx.init.Xavier())
    X, y = common.synthetic_batch(batch, size)
    if name == "gluon_plain" or (me and cfg.get("hybridize", "plain") == "plain"):
        # The recomputing step calls the layers one by one: static_alloc would keep every
        # layer's buffers alive and defeat the purpose, so plain hybridize() for it.
        net.hybridize()
    elif me and cfg.get("hybridize") == "none":
        pass
    elif name == "gluon_opt":
        optimized_inference(net, X)
    else:
        fast_hybridize(net)
    if task == "infer":
        return (lambda: net(X)), nd.waitall
    step = common.sgd_step(net)  # memory_efficient=True nets recompute in backward()
    return (lambda: step(X, y)), nd.waitall


def _concat_through_views(net) -> None:
    """Make every dense block of ``net`` concatenate through 3-D views (``concat_channels``
    with ``blocked_ok=False``), as it must when a growth rate is not a multiple of 16."""
    from gluon_densenet.models import DenseBlock

    net.apply(lambda b: setattr(b, "_blocked_concat_ok", False)
              if isinstance(b, DenseBlock) else None)


def _zoo_global_pool(net) -> None:
    """Give the model zoo's DenseNet a global average pool in place of its fixed 7×7 one (which
    needs 224 px), as ours has: the same arithmetic at 224 px, and any input size."""
    from mxnet.gluon import nn

    for key, child in list(net.features._children.items()):
        if isinstance(child, nn.AvgPool2D):
            net.features._children[key] = nn.GlobalAvgPool2D()


def _worker_torch(cfg: dict) -> tuple:
    """Build a torchvision contender's net and its step (torch's own training step).

    Args:
        cfg: one configuration (``contender``, ``task``, ``size``, ``batch``, ``tiny``).

    Returns:
        ``(step, None)``: one training step or inference call; torch on CPU needs no sync.
    """
    import torch
    import torchvision

    name, task, size, batch = cfg["contender"], cfg["task"], cfg["size"], cfg["batch"]
    kw = dict(num_classes=10, memory_efficient=name == "torch_me")
    if cfg["tiny"]:  # the same shape as gluon_densenet.models.densenet_tiny
        net = torchvision.models.DenseNet(growth_rate=8, block_config=(2, 2),
                                          num_init_features=16, **kw)
    else:
        net = torchvision.models.densenet121(**kw)
    X = torch.rand(batch, 3, size, size)
    y = torch.arange(batch) % 10
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    if task == "infer":
        net.eval()
    else:
        net.train()

    def step():
        if task == "infer":
            with torch.inference_mode():
                net(X)
            return
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(X), y)
        loss.backward()
        opt.step()

    return step, None


def _worker_pipeline(cfg: dict) -> dict:
    """Fraction of a training step (32 px, Fashion-MNIST, 1 channel) spent loading.

    Args:
        cfg: the ``pipeline`` configuration (``batch``, ``size``, ``iters``, ``warmup``,
            ``tiny``).

    Returns:
        Mean seconds per batch of loading and of the training step, the loading fraction,
        the data source, and the process's peak RSS.
    """
    import mxnet as mx
    from mxnet import nd

    from gluon_densenet.data import load_data
    from gluon_densenet.training.hybridize import fast_hybridize

    batch, size, iters, warmup = cfg["batch"], cfg["size"], cfg["iters"], cfg["warmup"]
    source = "fashion-mnist subset via gluon_densenet.data.load_data"
    train_iter, _ = load_data(batch, resize=size, subset=True, download=False)
    make_iter = lambda: train_iter
    net = common.make_densenet(cfg["tiny"], in_channels=1)
    net.initialize(mx.init.Xavier())
    fast_hybridize(net)
    step = common.sgd_step(net, momentum=0.0)
    load_times, loaded = common.time_loading(make_iter, warmup, iters)
    batches = iter(loaded)  # each step on the next loaded batch, as in training
    step_times = timings(lambda: step(*next(batches)), warmup=warmup, repeats=iters,
                         sync=nd.waitall)
    load_t, step_t = statistics.mean(load_times), statistics.mean(step_times)
    return {"load_s_per_batch": load_t, "step_s_per_batch": step_t,
            "load_fraction": load_t / (load_t + step_t), "source": source,
            "batch": batch, "size": size, "peak_rss_mib": peak_rss_mib()}


def worker(cfg: dict) -> dict:
    """Run one configuration in this process.

    Args:
        cfg: the configuration, as built by :func:`build_configs`.

    Returns:
        Images per second, seconds per iteration and peak RSS in MiB (for ``pipeline``,
        what :func:`_worker_pipeline` returns).
    """
    if cfg["contender"] == "pipeline":
        return _worker_pipeline(cfg)
    make = _worker_torch if cfg["contender"].startswith("torch") else _worker_mxnet
    step, sync = make(cfg)
    elapsed = sum(timings(step, warmup=cfg["warmup"], repeats=cfg["iters"], sync=sync))
    return {"img_per_s": cfg["iters"] * cfg["batch"] / elapsed,
            "s_per_iter": elapsed / cfg["iters"], "peak_rss_mib": peak_rss_mib()}


# --- driver ---------------------------------------------------------------------------

def run_config(cfg: dict, timeout: float) -> dict:
    """Run one configuration in a fresh process (``python -m benchmarks.run --worker``).

    Args:
        cfg: the configuration; its optional ``env`` is added to the worker's environment.
        timeout: seconds before the worker is killed.

    Returns:
        The worker's result, or ``{"error": ...}`` (timeout, or the last line of stderr).
    """
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", json.dumps(cfg)]
    env = dict(os.environ)
    if any(name in cfg.get("env", {}) for name in THREAD_VARIABLES):
        env = without_package_default(env)      # the configuration's threads, not ours
    env.update(cfg.get("env", {}))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=common.ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    return common.worker_result(proc)


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None and \
        importlib.util.find_spec("torchvision") is not None


def build_configs(args) -> list[dict]:
    configs = []
    for size in args.sizes:
        batch = args.batch or DEFAULT_BATCH.get(size, 16)
        for task, names in (("train", TRAIN), ("infer", INFER)):
            for name in names:
                if name not in args.contenders:
                    continue
                if name.startswith("gluon_me") and size < 224 and not args.tiny:
                    continue            # memory-efficient training matters at large inputs
                cfg = dict(contender=name, task=task, size=size, batch=batch,
                           iters=args.iters, warmup=args.warmup, tiny=args.tiny)
                if name == "gluon_mxthreads":
                    cfg["env"] = {"MXNET_OMP_MAX_THREADS": str(MXNET_DEFAULT_THREADS)}
                configs.append(cfg)
    if "pipeline" in args.contenders:
        configs.append(dict(contender="pipeline", task="pipeline", size=32,
                            batch=args.pipeline_batch, iters=args.iters * 3,
                            warmup=args.warmup, tiny=args.tiny))
    return configs


def key(cfg: dict) -> str:
    return f"{cfg['task']}/{cfg['size']}/{cfg['contender']}"


def summarise(configs, runs) -> dict:
    results = {}
    for cfg in configs:
        rs = runs[key(cfg)]
        ok = [r for r in rs if "error" not in r]
        entry = {**cfg, "runs": rs}
        if ok:
            for field in sorted({f for r in ok for f in r if isinstance(r[f], (int, float))}):
                values = [r[field] for r in ok if field in r]
                entry[field] = statistics.median(values)
                entry.setdefault("ranges", {})[field] = [min(values), max(values)]
            if cfg["contender"] == "pipeline":
                entry["source"] = ok[0].get("source")
        else:
            entry["error"] = rs[-1]["error"] if rs else "not run"
        results[key(cfg)] = entry
    return results


def baseline_for(results, task, size) -> str | None:
    for name in ("torch", "modelzoo"):
        r = results.get(f"{task}/{size}/{name}")
        if r and "img_per_s" in r:
            return name
    return None


def table_rows(results) -> list[list[str]]:
    rows = []
    for r in results.values():
        if r["contender"] == "pipeline":
            continue
        base = baseline_for(results, r["task"], r["size"])
        if "error" in r:
            rows.append([r["task"], str(r["size"]), str(r["batch"]), r["contender"],
                         "error", "", "", r["error"][:60]])
            continue
        b = results.get(f"{r['task']}/{r['size']}/{base}") if base else None
        ratio = f"{r['img_per_s'] / b['img_per_s']:.2f}" if b else "–"
        mratio = f"{r['peak_rss_mib'] / b['peak_rss_mib']:.2f}" if b else "–"
        rows.append([r["task"], str(r["size"]), str(r["batch"]), r["contender"],
                     f"{r['img_per_s']:.1f}", f"{r['peak_rss_mib']:.0f}",
                     f"{ratio} / {mratio}", f"vs {base}" if base else ""])
    return rows


HEADER = ["task", "px", "batch", "contender", "img/s", "peak RSS MiB",
          "speed / memory ratio", "baseline"]


def round_ratios(results: dict, a: str, b: str, field: str = "img_per_s") -> list[float]:
    """``a``'s ``field`` over ``b``'s, round by round (both measured in the same round, one
    after the other); rounds where either failed are left out."""
    ra, rb = results.get(a), results.get(b)
    if not ra or not rb:
        return []
    return [x[field] / y[field]
            for x, y in zip(ra.get("runs", []), rb.get("runs", []), strict=False)
            if field in x and field in y and y[field]]


def ratio_text(results: dict, a: str, b: str, field: str = "img_per_s",
               invert: bool = False) -> str | None:
    """The median of :func:`round_ratios` with its per-round range, e.g. ``"1.21x (rounds
    1.15–1.30x)"``; ``invert`` gives ``b`` over ``a`` (time per step from img/s)."""
    ratios = round_ratios(results, a, b, field)
    if not ratios:
        return None
    if invert:
        ratios = [1 / r for r in ratios]
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}x (1 round)"
    return (f"{statistics.median(ratios):.2f}x (rounds {min(ratios):.2f}–"
            f"{max(ratios):.2f}x)")


def extra_lines(results: dict, budget: dict | None = None) -> list[str]:
    """The headline ratios under the table, each measured in this run: the median of the
    per-round ratios and their range."""
    lines = []
    sizes = sorted({r["size"] for r in results.values()})

    def per_size(task: str, a: str, b: str) -> list[str]:
        return [f"{size} px {t}" for size in sizes
                if (t := ratio_text(results, f"{task}/{size}/{a}", f"{task}/{size}/{b}"))]

    for base, label in (("modelzoo", "MXNet's model zoo (same threads)"),
                        ("torch", "torchvision")):
        for task, what in (("train", "Default training"), ("infer", "Inference")):
            if parts := per_size(task, "gluon", base):
                lines.append(f"{what} vs {label}, img/s ratio: {'; '.join(parts)}.")
    for task, what in (("train", "training"), ("infer", "inference")):
        if parts := per_size(task, "gluon", "gluon_views"):
            lines.append(f"Straight concatenation vs concatenation through 3-D views, "
                         f"{what} (img/s ratio): {'; '.join(parts)}.")
    if parts := per_size("train", "gluon", "gluon_mxthreads"):
        lines.append(f"Default training with one thread per core ({mxnet_threads()}) vs "
                     f"MXNet's own default ({MXNET_DEFAULT_THREADS}): {'; '.join(parts)} "
                     "(img/s ratio; `gluon_densenet.runtime.cpu_threads`).")
    for size in sizes:
        for name, what in (("gluon_me", "Memory-efficient training"),
                           ("gluon_me_notrim", "The same without the heap trim")):
            eff, std = f"train/{size}/{name}", f"train/{size}/gluon"
            mem = ratio_text(results, eff, std, "peak_rss_mib")
            time_ratio = ratio_text(results, eff, std, invert=True)
            if mem and time_ratio:
                lines.append(
                    f"{what} at {size} px vs the default fast path: peak RSS "
                    f"{results[std]['peak_rss_mib']:.0f} → {results[eff]['peak_rss_mib']:.0f} "
                    f"MiB ({mem}), time per step {time_ratio}.")
    if budget and budget.get("ratio"):
        c = budget["contenders"]
        lines.append(
            f"Largest training batch at {budget['size']} px within {budget['budget_mib']} MiB "
            f"({budget['method']}): default {c['gluon']['largest_batch']}, memory-efficient "
            f"{c['gluon_me']['largest_batch']} ({budget['ratio']:.2f}x).")
    p = results.get("pipeline/32/pipeline")
    if p and "load_fraction" in p:
        lines.append(f"Input pipeline at {int(p['size'])} px, batch {int(p['batch'])} "
                     f"({p['source']}): loading + resizing is "
                     f"{100 * p['load_fraction']:.1f}% of a training step "
                     f"({1000 * p['load_s_per_batch']:.1f} ms of "
                     f"{1000 * (p['load_s_per_batch'] + p['step_s_per_batch']):.1f} ms).")
    return lines


def _table_markdown(data: dict) -> list[str]:
    """The results table in markdown, a blank line, and :func:`extra_lines` as a list.

    Args:
        data: ``latest.json``'s contents.

    Returns:
        The lines.
    """
    return (common.markdown_table(HEADER, table_rows(data["results"])) + [""]
            + [f"- {line}" for line in extra_lines(data["results"], data.get("memory_budget"))])


def write_markdown(data: dict, path: Path) -> None:
    out = ["# Benchmark results", "",
           f"Generated by `benchmarks/run.py` from `latest.json` on {data['date']} "
           f"({data['machine']}). Median of {data['repeats']} rounds, each configuration in a "
           f"fresh process; {data['iters']} timed iterations after {data['warmup']} warm-up. "
           "Ratios: img/s and peak RSS relative to the baseline (torchvision, or the MXNet "
           "model zoo when torch is absent); speed > 1 is faster, memory < 1 is smaller.", ""]
    if data.get("notes"):
        out += [f"- {n}" for n in data["notes"]] + [""]
    out += _table_markdown(data)
    out += ["", "Contenders:", ""] + [f"- `{k}`: {v}" for k, v in CONTENDERS.items()]
    path.write_text("\n".join(out) + "\n")


README_START = "<!-- benchmark:start (generated by benchmarks/run.py; do not edit) -->"
README_END = "<!-- benchmark:end -->"


def readme_block(data: dict) -> str:
    """The project README's generated performance block, from ``latest.json``'s contents."""
    block = [README_START, "",
             f"Measured {data['date'][:10]} on {data['machine']} (MXNet {data['mxnet']}"
             + (f", torch {data['torch']}" if data.get("torch") else "")
             + f"); median of {data['repeats']} rounds, each configuration in a fresh process"
             + (f"; load average {data['load'][0]:.1f} before, {data['load'][1]:.1f} after"
                if data.get("load") else "") + ".", ""]
    block += [f"- Note: {n}" for n in data.get("notes", [])] + ([""] if data.get("notes") else [])
    block += _table_markdown(data) + ["", README_END]
    return "\n".join(block)


def update_readme(data: dict, readme: Path) -> bool:
    """Replace the project README's generated performance block; False if it has none."""
    return common.replace_block(readme, README_START, README_END, readme_block(data))


def print_table(data: dict) -> None:
    print(common.text_table([HEADER] + table_rows(data["results"])))
    for n in data.get("notes", []):
        print("note:", n)
    for line in extra_lines(data["results"], data.get("memory_budget")):
        print(line)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--render-only", action="store_true",
                    help="re-render results/README.md and the project README's performance "
                         "block from the existing latest.json, running nothing")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 224])
    ap.add_argument("--batch", type=int, default=0, help="batch for every size "
                    "(default: 64 at 32 px, 16 at 224 px)")
    ap.add_argument("--iters", type=int, default=5, help="timed iterations")
    ap.add_argument("--warmup", type=int, default=2, help="untimed warm-up iterations")
    ap.add_argument("--repeats", type=int, default=3, help="rounds (fresh process each)")
    ap.add_argument("--pipeline-batch", type=int, default=128)
    ap.add_argument("--contenders", nargs="+",
                    default=[c for c in sorted(set(TRAIN + INFER)) if c != "torch_me"]
                    + ["pipeline"],
                    help="default: all but torch_me (slow here); add it explicitly")
    common.add_common_options(ap, "tiny net, 32 px, batch 4, 1 iteration: a smoke test")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per configuration")
    ap.add_argument("--budget-mib", type=int, default=2048,
                    help="memory budget for the largest-batch search at 224 px "
                         "(benchmarks/memory_budget.py); 0 skips it")
    args = ap.parse_args(argv)

    if args.render_only:
        data = json.loads((args.out_dir / "latest.json").read_text())
        write_markdown(data, args.out_dir / "README.md")
        if update_readme(data, common.ROOT / "README.md"):
            print(f"updated {common.ROOT / 'README.md'}")
        print_table(data)
        return 0

    if args.worker:
        result = worker(json.loads(args.worker))
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    if args.tiny:
        args.sizes, args.batch, args.iters, args.warmup, args.repeats = [32], 4, 1, 1, 1
        args.pipeline_batch = 8
        if "--contenders" not in (argv if argv is not None else sys.argv):
            args.contenders = ["gluon", "gluon_me", "gluon_opt", "pipeline"]
    notes = []
    if not torch_available():
        dropped = [c for c in args.contenders if c.startswith("torch")]
        args.contenders = [c for c in args.contenders if not c.startswith("torch")]
        if dropped:
            notes.append("torch/torchvision not importable: torchvision contenders skipped, "
                         "ratios are vs the MXNet model zoo")
            print("note:", notes[-1])

    configs = build_configs(args)
    load_before = os.getloadavg()[0]
    runs: dict[str, list] = {key(c): [] for c in configs}
    for rnd in range(args.repeats):
        # Alternate: every round runs every configuration once, in an order rotated per round.
        order = configs[rnd % len(configs):] + configs[:rnd % len(configs)] if configs else []
        for cfg in order:
            t0 = time.perf_counter()
            r = run_config(cfg, args.timeout)
            runs[key(cfg)].append(r)
            print(f"[round {rnd + 1}/{args.repeats}] {key(cfg)}: "
                  + (r["error"] if "error" in r else
                     ", ".join(f"{k}={v:.3g}" for k, v in r.items() if isinstance(v, float)))
                  + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)

    budget = None
    if args.budget_mib > 0 and not args.tiny and 224 in args.sizes:
        try:
            budget = memory_budget.measure(224, args.budget_mib)
        except Exception as exc:             # keep the timings measured above
            notes.append(f"largest-batch search failed: {type(exc).__name__}: {exc}")
            print("note:", notes[-1])
    import mxnet
    data = {"date": _dt.datetime.now().isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
            "python": platform.python_version(), "mxnet": mxnet.__version__,
            "torch": _torch_version(), "repeats": args.repeats, "iters": args.iters,
            "warmup": args.warmup, "tiny": args.tiny, "notes": notes,
            "results": summarise(configs, runs), "memory_budget": budget,
            "load": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.out_dir / "latest.json", data, indent=2)
    write_markdown(data, args.out_dir / "README.md")
    if not args.tiny and args.out_dir.resolve() == common.RESULTS.resolve():
        if update_readme(data, common.ROOT / "README.md"):
            print(f"updated the performance section of {common.ROOT / 'README.md'}")
    print()
    print_table(data)
    print(f"\nwrote {args.out_dir / 'latest.json'} and {args.out_dir / 'README.md'}")
    return 0


def _torch_version():
    if not torch_available():
        return None
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip() or None


if __name__ == "__main__":
    sys.exit(main())
