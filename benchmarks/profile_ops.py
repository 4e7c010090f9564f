"""Profile first: where does a DenseNet-121 training step spend its time on CPU?

This MXNet build has no built-in profiler (``mx.runtime.Features()``: PROFILER off), so
operator groups are timed directly:

1. build ``densenet121(classes=10)`` (3-channel input), hybridize it and take its symbol;
2. infer the shape of every node's inputs for the given batch and input size;
3. time every operator node *alone*, forward + backward (the ``mx.nd`` operator under
   ``autograd.record()`` with gradients attached to its non-auxiliary inputs), once per
   distinct (operator, attributes, input shapes) signature — many dense-layer nodes repeat —
   with warm-up and ``--repeats`` repeats (the minimum: the machine is shared and noisy),
   then multiply by how often the
   signature occurs; the softmax cross-entropy loss and the SGD-momentum update of every
   parameter are timed the same way;
4. sum per group (1×1 / 3×3 / 7×7 convolutions, BatchNorm, ReLU, Concat, pooling,
   classifier, ...) and compare the sum with the real training step of the whole
   hybridized net (plain ``hybridize()`` and ``hybridize(static_alloc=True,
   static_shape=True)``) and with loading one data-pipeline batch.

The gap between the real step and the sum is framework overhead (or, if negative,
overlap and fusion the isolated timings cannot see: oneDNN layouts kept between ops,
in-place buffers, operators running concurrently). The isolated timings carry their own
harness overhead (autograd recording, a Python call, a backward, a ``waitall`` per node);
it is estimated by timing a 1-element ``identity`` the same way and reported separately.

Run from the repository root:

    python -m benchmarks.profile_ops                       # 32 px, batch 64
    python -m benchmarks.profile_ops --size 224 --batch 16
    python -m benchmarks.profile_ops --tiny --out-dir /tmp/p   # seconds; used by the test

Writes ``profile.json`` and a generated ``profile.md`` to ``--out-dir``
(``benchmarks/results`` by default).
"""
from __future__ import annotations  # noqa: I001 (gluon_densenet before mxnet, below)

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter, defaultdict

import gluon_densenet  # noqa: F401  first: MXNet then uses one thread per core
import mxnet as mx
from mxnet import autograd, gluon, nd

from gluon_densenet.atomic_files import write_json
from benchmarks import common
from gluon_densenet.analysis.measure import timings
from gluon_densenet.runtime.cpu_threads import mxnet_threads

#: Display order of the groups (groups with no calls are still reported, with zeros).
GROUPS = ("conv1x1", "conv3x3", "conv7x7", "conv_other", "batchnorm", "relu", "concat",
          "pooling", "classifier", "reshape", "other", "loss", "optimizer")
GROUP_DOC = {
    "conv1x1": "1×1 convolutions (bottlenecks, transitions)",
    "conv3x3": "3×3 convolutions (growth-rate outputs)",
    "conv7x7": "7×7 stem convolution",
    "conv_other": "other convolutions",
    "batchnorm": "BatchNorm (training mode, batch statistics)",
    "relu": "ReLU activations",
    "concat": "Concat (dense connectivity copies)",
    "pooling": "max / average / global pooling",
    "classifier": "Flatten + FullyConnected",
    "reshape": "reshapes around Concat (channel counts not a multiple of 16)",
    "other": "any other operator",
    "loss": "softmax cross-entropy (log_softmax + pick + mean)",
    "optimizer": "SGD-momentum update of every parameter",
}


def op_group(op: str, attrs: dict[str, str]) -> str:
    if op == "Convolution":
        kernel = attrs.get("kernel", "")
        return {"(1, 1)": "conv1x1", "(3, 3)": "conv3x3", "(7, 7)": "conv7x7"}.get(
            kernel, "conv_other")
    if op == "BatchNorm":
        return "batchnorm"
    if op == "Activation" and attrs.get("act_type") == "relu":
        return "relu"
    if op == "Concat":
        return "concat"
    if op == "Pooling":
        return "pooling"
    if op in ("FullyConnected", "Flatten"):
        return "classifier"
    if op in ("Reshape", "reshape_like"):
        return "reshape"
    return "other"


# --- the graph -----------------------------------------------------------------------

def build_net(tiny: bool, hybridize_kw: dict | None = None, seed: int = 0):
    """The profiled net, initialised (Xavier) and hybridized.

    Args:
        tiny: ``densenet_tiny`` instead of DenseNet-121 (10 classes, 3-channel input).
        hybridize_kw: keyword arguments of ``hybridize()``.
        seed: MXNet's random seed, set before initialising.

    Returns:
        The net.
    """
    mx.random.seed(seed)
    net = common.make_densenet(tiny)
    net.initialize(mx.init.Xavier())
    net.hybridize(**(hybridize_kw or {}))
    return net


def graph_nodes(net, batch: int, size: int) -> list[dict]:
    """Every operator node of ``net``'s symbol with its attributes and input shapes.

    Returns dicts ``{name, op, attrs, inputs: [(shape, needs_grad)], group}`` in
    topological order. Auxiliary states (BatchNorm running statistics) and the ``data``
    variable get no gradient, as in the real step."""
    sym = net(mx.sym.var("data"))
    graph = json.loads(sym.tojson())
    internals = sym.get_internals()
    _, out_shapes, _ = internals.infer_shape(data=(batch, 3, size, size))
    shapes = dict(zip(internals.list_outputs(), out_shapes, strict=True))
    aux = set(sym.list_auxiliary_states())
    nodes = graph["nodes"]

    def entry(nid: int, idx: int):
        src = nodes[nid]
        if src["op"] == "null":
            name = src["name"]
            return shapes[name], name not in aux and name != "data"
        for key in ((f"{src['name']}_output",) if idx == 0 else ()) + (
                f"{src['name']}_output{idx}",):
            if key in shapes:
                return shapes[key], True
        raise KeyError(f"no inferred shape for output {idx} of {src['name']}")

    ops = []
    for node in nodes:
        if node["op"] == "null":
            continue
        attrs = {k: v for k, v in node.get("attrs", {}).items() if not k.startswith("__")}
        inputs = [entry(nid, idx) for nid, idx, *_ in node["inputs"]]
        ops.append({"name": node["name"], "op": node["op"], "attrs": attrs,
                    "inputs": [(tuple(s), g) for s, g in inputs],
                    "group": op_group(node["op"], attrs)})
    return ops


def signature(node: dict) -> tuple:
    return (node["op"], tuple(sorted(node["attrs"].items())), tuple(node["inputs"]))


# --- timing --------------------------------------------------------------------------
# Operators are timed by hand, one isolated call each: this MXNet build has its profiler off.

def _time(fn, warmup: int, repeats: int) -> float:
    """The fastest run of ``fn()`` to completion (the least disturbed by other processes on
    a shared machine).

    Args:
        fn: what to time; ``nd.waitall()`` is timed with it.
        warmup: untimed runs first.
        repeats: timed runs.

    Returns:
        Seconds.
    """
    return min(timings(fn, warmup, repeats, sync=nd.waitall))


def time_op(op: str, attrs: dict, inputs: list, warmup: int, repeats: int) -> float:
    """Seconds for one forward + backward of operator ``op`` alone.

    Args:
        op: the ``mx.nd`` operator's name.
        attrs: its attributes (keyword arguments).
        inputs: ``(shape, needs_grad)`` of each input; those needing no gradient are ones.
        warmup: untimed runs.
        repeats: timed runs (the minimum is returned).

    Returns:
        Seconds.
    """
    func = getattr(nd, op)
    args = []
    for shape, needs_grad in inputs:
        a = nd.random.uniform(-1, 1, shape=shape) if needs_grad else nd.ones(shape)
        if needs_grad:
            a.attach_grad()
        args.append(a)
    head = {}

    def run():
        with autograd.record():
            out = func(*args, **attrs)
        if isinstance(out, (list, tuple)):
            out = out[0]
        if "g" not in head:
            head["g"] = nd.ones(out.shape)
        out.backward(head["g"])

    return _time(run, warmup, repeats)


def time_loss(batch: int, classes: int, warmup: int, repeats: int) -> float:
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    pred = nd.random.uniform(shape=(batch, classes))
    pred.attach_grad()
    y = nd.array([i % classes for i in range(batch)])

    def run():
        with autograd.record():
            loss = loss_fn(pred, y)
        loss.backward()

    return _time(run, warmup, repeats)


def time_sgd(shape: tuple, warmup: int, repeats: int) -> float:
    w, g, m = nd.ones(shape), nd.ones(shape) * 1e-3, nd.zeros(shape)

    def run():
        nd.sgd_mom_update(w, g, m, lr=0.01, momentum=0.9, wd=0.0, rescale_grad=1.0 / 64,
                          out=w)

    return _time(run, warmup, repeats)


def time_full_step(tiny: bool, batch: int, size: int, hybridize_kw: dict, warmup: int,
                   repeats: int) -> dict:
    """The real training step of the whole net (forward, loss, backward, SGD-momentum).

    Args:
        tiny: profile ``densenet_tiny`` instead of DenseNet-121.
        batch: batch size.
        size: input side in px.
        hybridize_kw: keyword arguments of ``hybridize()``.
        warmup: untimed steps (at least 2 are run).
        repeats: timed steps.

    Returns:
        ``{"min_ms", "median_ms"}`` over the timed steps.
    """
    X, y = common.synthetic_batch(batch, size)
    step = common.sgd_step(build_net(tiny, hybridize_kw))
    times = timings(lambda: step(X, y), max(warmup, 2), repeats, sync=nd.waitall)
    return {"min_ms": 1e3 * min(times), "median_ms": 1e3 * statistics.median(times)}


def time_data_batch(batch: int, size: int, repeats: int) -> dict:
    """Time to produce one training batch from the data pipeline (Fashion-MNIST subset,
    resized on the fly).

    Args:
        batch: batch size.
        size: side the images are resized to.
        repeats: timed batches (after one warm-up batch).

    Returns:
        ``{"ms": median milliseconds, "shape", "source"}``, or ``{"ms": None, "error"}``
        if the data is unavailable.
    """
    try:
        from gluon_densenet.data import load_data
        train_iter, _ = load_data(batch, resize=size, subset=True, download=False)
    except Exception as exc:  # noqa: BLE001 - report, don't fail the profile
        return {"ms": None, "error": f"{type(exc).__name__}: {exc}"}
    times, batches = common.time_loading(lambda: train_iter, warmup=1, repeats=repeats)
    return {"ms": 1e3 * statistics.median(times), "shape": list(batches[-1][0].shape),
            "source": "gluon_densenet.data.load_data(subset=True)"}


# --- the profile ---------------------------------------------------------------------

def profile(tiny: bool, batch: int, size: int, repeats: int, warmup: int,
            log=print) -> dict:
    net = build_net(tiny)
    nodes = graph_nodes(net, batch, size)
    from gluon_densenet import count_weighted_layers
    weighted = count_weighted_layers(net)

    by_sig: dict[tuple, list[dict]] = defaultdict(list)
    for node in nodes:
        by_sig[signature(node)].append(node)
    log(f"{len(nodes)} operator nodes, {len(by_sig)} distinct signatures; timing "
        f"forward+backward of each ({warmup} warm-up, {repeats} repeats) ...")

    groups = {g: {"calls": 0, "signatures": 0, "seconds": 0.0} for g in GROUPS}
    ops_count = Counter(n["op"] for n in nodes)
    sig_rows = []
    t_start = time.perf_counter()
    for members in by_sig.values():
        first = members[0]
        t = time_op(first["op"], first["attrs"], first["inputs"], warmup, repeats)
        g = groups[first["group"]]
        g["calls"] += len(members)
        g["signatures"] += 1
        g["seconds"] += t * len(members)
        sig_rows.append({"op": first["op"], "group": first["group"], "count": len(members),
                         "ms_each": 1e3 * t, "ms_total": 1e3 * t * len(members),
                         "input_shapes": [list(s) for s, _ in first["inputs"]],
                         "attrs": first["attrs"], "example": first["name"]})
    log(f"  operators timed in {time.perf_counter() - t_start:.1f} s")

    # Loss and optimizer: the rest of a training step, timed the same way.
    groups["loss"].update(calls=1, signatures=1,
                          seconds=time_loss(batch, 10, warmup, repeats))
    shapes = Counter(tuple(p.shape) for p in net.collect_params().values()
                     if p.grad_req != "null")
    for shape, count in shapes.items():
        t = time_sgd(shape, warmup, repeats)
        groups["optimizer"]["calls"] += count
        groups["optimizer"]["signatures"] += 1
        groups["optimizer"]["seconds"] += t * count

    # Harness overhead per isolated timing: a 1-element identity, forward + backward.
    per_call = time_op("identity", {}, [((1,), True)], warmup + 2, max(repeats, 5))
    n_calls = sum(g["calls"] for g in groups.values())

    total = sum(g["seconds"] for g in groups.values())
    for g in groups.values():
        g["ms_per_step"] = 1e3 * g.pop("seconds")
        g["share"] = g["ms_per_step"] / (1e3 * total) if total else 0.0

    log("timing the whole training step (plain and static hybridize) ...")
    step_plain = time_full_step(tiny, batch, size, {}, warmup, repeats)
    step_static = time_full_step(tiny, batch, size,
                                 {"static_alloc": True, "static_shape": True}, warmup, repeats)
    data = time_data_batch(batch, size, repeats)

    sum_ms = 1e3 * total
    steps = {"plain_ms": step_plain["min_ms"], "static_ms": step_static["min_ms"],
             "plain_median_ms": step_plain["median_ms"],
             "static_median_ms": step_static["median_ms"]}
    sig_rows.sort(key=lambda r: -r["ms_total"])
    return {
        "config": {"model": common.model_name(tiny),
                   "classes": 10, "in_channels": 3, "batch": batch, "size": size,
                   "repeats": repeats, "warmup": warmup, "tiny": tiny},
        "env": {"mxnet": mx.__version__, "python": platform.python_version(),
                "machine": platform.machine(), "cpus": os.cpu_count(),
                "mxnet_threads": mxnet_threads(),
                "profiler_builtin": mx.runtime.Features().is_enabled("PROFILER"),
                "date": _dt.datetime.now().isoformat(timespec="seconds")},
        "graph": {"operator_nodes": len(nodes), "signatures": len(by_sig),
                  "ops": dict(ops_count), "weighted_layers": weighted},
        "groups": groups,
        "sum_ms": sum_ms,
        "harness_overhead": {"ms_per_call": 1e3 * per_call, "calls": n_calls,
                             "ms_per_step": 1e3 * per_call * n_calls},
        "step": steps,
        "gap": {name: {"ms": v - sum_ms, "fraction_of_step": (v - sum_ms) / v}
                for name, v in (("plain", steps["plain_ms"]), ("static", steps["static_ms"]))},
        "data_batch": data,
        "top_signatures": sig_rows[:15],
    }


# --- output --------------------------------------------------------------------------

def table_rows(result: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for name in GROUPS:
        g = result["groups"][name]
        if not g["calls"]:
            continue
        rows.append((name, str(g["calls"]), f"{g['ms_per_step']:.1f}", f"{100 * g['share']:.1f}%"))
    rows.append(("sum of parts", str(sum(g["calls"] for g in result["groups"].values())),
                 f"{result['sum_ms']:.1f}", "100.0%"))
    h = result["harness_overhead"]
    rows.append(("sum minus harness overhead", f"{h['ms_per_call']:.3f}ms×{h['calls']}",
                 f"{result['sum_ms'] - h['ms_per_step']:.1f}",
                 f"{100 * (1 - h['ms_per_step'] / result['sum_ms']):.1f}%"))
    for name, key in (("step (hybridize)", "plain"), ("step (static alloc/shape)", "static")):
        ms = result["step"][f"{key}_ms"]
        rows.append((name, "", f"{ms:.1f}", f"{100 * result['sum_ms'] / ms:.0f}% = sum/step"))
    data = result["data_batch"]
    if data.get("ms") is not None:
        rows.append(("data batch (load_data)", "", f"{data['ms']:.1f}",
                     f"{100 * data['ms'] / result['step']['static_ms']:.0f}% of static step"))
    return rows


TABLE_HEADER = ("group", "calls", "ms/step", "share")


def format_table(result: dict) -> str:
    """The group table for the terminal.

    Args:
        result: one run, as :func:`profile` returns it.

    Returns:
        The table's text.
    """
    return common.text_table([TABLE_HEADER] + table_rows(result), right=(1, 2, 3), rule=True)


def run_key(result: dict) -> str:
    c = result["config"]
    return f"{'tiny_' if c['tiny'] else ''}{c['size']}px_b{c['batch']}"


def to_markdown(runs: dict) -> str:
    parts = ["# Operator-group profiles of a training step (CPU)", "",
             "Generated by `benchmarks/profile_ops.py` from `profile.json`; do not edit by hand.",
             ""]
    for result in runs.values():
        parts.append(_run_markdown(result))
    return "\n".join(parts)


def _run_markdown(result: dict) -> str:
    c, e = result["config"], result["env"]
    out = [f"## {c['model']}, training step, {c['size']} px, batch {c['batch']}",
           "",
           f"MXNet {e['mxnet']} (built-in profiler: {'on' if e['profiler_builtin'] else 'off'}),"
           f" Python {e['python']}, {e['cpus']} CPUs, {e['date']}. "
           f"Each operator node timed alone, forward + backward, minimum of {c['repeats']} "
           f"after {c['warmup']} warm-up, × its occurrences; share = of the sum of parts. "
           "Steps: minimum over repeats of the whole hybridized net's forward + loss + "
           "backward + SGD-momentum update.",
           "",
           "The isolated timings include a per-call harness overhead (autograd record, "
           "Python dispatch, backward, waitall), estimated from a 1-element identity; "
           "they also start every operator from plain NCHW arrays, so oneDNN layout "
           "reorders that the whole graph avoids are counted in the parts.",
           "",
           *common.markdown_table(TABLE_HEADER, table_rows(result), right=(1, 2, 3))]
    out += ["", "Groups: " + "; ".join(f"`{g}` {GROUP_DOC[g]}" for g in GROUPS
                                        if result["groups"][g]["calls"]) + ".",
            "", "Most expensive operator signatures (ms per step = each × count):", ""]
    out += common.markdown_table(
        ("op", "group", "count", "ms each", "ms/step", "input shapes"),
        [(r["op"], r["group"], str(r["count"]), f"{r['ms_each']:.2f}", f"{r['ms_total']:.1f}",
          " ".join("×".join(map(str, s)) for s in r["input_shapes"]))
         for r in result["top_signatures"][:10]],
        right=(2, 3, 4))
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=None, help="input side in px (default 32)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default 64)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up runs per signature")
    common.add_common_options(p, "tiny DenseNet, 32 px, batch 4, 1 repeat (seconds; for tests)")
    p.add_argument("--name", default="profile", help="output file stem (profile.json/.md)")
    p.add_argument("--fresh", action="store_true",
                   help="overwrite the JSON instead of merging into its other runs "
                        "(runs are keyed by size and batch)")
    args = p.parse_args(argv)
    size = args.size or 32
    batch = args.batch or (4 if args.tiny else 64)
    repeats = args.repeats or (1 if args.tiny else 5)
    if size < 1 or batch < 1 or repeats < 1 or args.warmup < 0:
        p.error("--size, --batch and --repeats must be positive, --warmup >= 0")

    result = profile(args.tiny, batch, size, repeats, args.warmup)
    print(format_table(result))
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.name}.json"
    runs = {}
    if path.exists() and not args.fresh:
        try:
            runs = json.loads(path.read_text()).get("runs", {})
        except (ValueError, AttributeError):
            runs = {}
    runs[run_key(result)] = result
    runs = dict(sorted(runs.items(), key=lambda kv: (kv[1]["config"]["tiny"],
                                                     kv[1]["config"]["size"])))
    write_json(path, {"runs": runs}, indent=2)
    (out / f"{args.name}.md").write_text(to_markdown(runs))
    print(f"wrote {out / (args.name + '.json')} and {out / (args.name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
