"""Training-speed variants of gluon_densenet's DenseNet-121, side by side: hybridization
modes and MXNet/oneDNN environment settings. Each variant runs in a fresh process; variants
alternate within each round; medians over rounds. Results go to
``benchmarks/results/tuning.json``.

Run from the repository root:

    python -m benchmarks.tuning --size 32 --batch 64 --repeats 3
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from benchmarks.common import RESULTS
from benchmarks.run import run_config
from gluon_densenet.atomic_files import write_json

VARIANTS = {
    "hybridize() [before]": dict(contender="gluon_plain", env={}),
    "static_alloc+static_shape": dict(contender="gluon", env={}),
    "static + MXNET_SUBGRAPH_BACKEND=NONE": dict(contender="gluon",
                                                  env={"MXNET_SUBGRAPH_BACKEND": "NONE"}),
    "static + OMP_NUM_THREADS=1": dict(contender="gluon", env={"OMP_NUM_THREADS": "1"}),
    "static + MXNET_CPU_WORKER_NTHREADS=2": dict(contender="gluon",
                                                  env={"MXNET_CPU_WORKER_NTHREADS": "2"}),
    "static + MXNET_EXEC_BULK_EXEC_TRAIN=0": dict(contender="gluon",
                                                   env={"MXNET_EXEC_BULK_EXEC_TRAIN": "0"}),
    "static + MXNET_MKLDNN_ENABLED=0": dict(contender="gluon", env={"MXNET_MKLDNN_ENABLED": "0"}),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "tuning.json")
    args = ap.parse_args(argv)
    runs = {name: [] for name in VARIANTS}
    for rnd in range(args.repeats):
        for name, v in VARIANTS.items():
            cfg = dict(contender=v["contender"], task="train", size=args.size, batch=args.batch,
                       iters=args.iters, warmup=args.warmup, tiny=False, env=v["env"])
            r = run_config(cfg, 900)
            runs[name].append(r)
            print(f"[{rnd + 1}] {name}: {r}", flush=True)
    base = None
    table = {}
    for name, rs in runs.items():
        ok = [r["img_per_s"] for r in rs if "img_per_s" in r]
        med = statistics.median(ok) if ok else None
        base = base if base is not None else med
        table[name] = {"img_per_s": med, "vs_before": med / base if med and base else None,
                       "runs": rs}
    print(f"\nDenseNet-121 training, {args.size} px, batch {args.batch} (median of {args.repeats})")
    for name, t in table.items():
        if t["img_per_s"]:
            print(f"  {name:40s} {t['img_per_s']:8.1f} img/s  ×{t['vs_before']:.2f}")
        else:
            print(f"  {name:40s} error: {t['runs'][-1]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {"size": args.size, "batch": args.batch, "repeats": args.repeats,
                          "variants": table}, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
