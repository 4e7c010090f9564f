"""Training throughput with 1 and 2 ``dist_sync`` workers on loopback, and what a step sends.

    python -m benchmarks.distributed            # densenet21_d2l at 32 px, 40 steps, 3 rounds
    python -m benchmarks.distributed --tiny     # seconds: densenet_tiny, 6 steps, 1 round

Each configuration is a fresh job from :func:`gluon_densenet.distributed.launcher.launch`
(scheduler, one server, the workers) plus a plain one-process run without a kvstore. A
worker trains on its shard of the shipped Fashion-MNIST subset with the per-worker batch,
so two workers take steps of twice the examples; throughput counts the examples of all
workers over the second epoch (the first builds the graphs). The configurations take
turns, round after round, and the median of the rounds is reported with its range. Each
step pushes every gradient and pulls the sum back: ``2 x 4 bytes x trainable parameters``
per worker, printed for the net under test and for DenseNet-121. On one machine the
workers share its cores (the launcher gives each ``cores // workers`` OpenMP threads, and
the plain run gets all of them), so the figures compare ways of using the same cores,
parameter server included; they say nothing of several machines.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import add_common_options
from gluon_densenet.atomic_files import write_json

BATCH = 128


def _bytes_per_step(model: str, **kwargs) -> int:
    """Bytes one worker sends and receives per step: every float32 gradient out, its sum back."""
    from gluon_densenet import get_model
    from gluon_densenet.models import count_parameters

    return 2 * 4 * count_parameters(get_model(model, **kwargs))


def worker(model: str, steps: int, kvstore: str | None, out: Path) -> None:
    """One worker (or the plain process): two epochs of ``steps`` steps; writes its figures."""
    from gluon_densenet import get_model
    from gluon_densenet.data import load_data
    from gluon_densenet.distributed import create_kvstore, workers_of
    from gluon_densenet.training import train

    kv = create_kvstore(kvstore) if kvstore else None
    train_iter, _ = load_data(BATCH, resize=32, subset=True)
    net = get_model(model, classes=10, in_channels=1)
    history = train(net, train_iter, None, 2, kvstore=kv, max_steps_per_epoch=steps,
                    progress=False, seed=0)
    if workers_of(kv).is_chief:
        write_json(out, {"img_per_s": history.last.img_per_s,
                         "s_per_step": history.last.time_s / history.last.steps})


def run(model: str, steps: int, workers: int | None) -> dict:
    """A fresh job of ``workers`` dist_sync workers (``None``: one process, no kvstore)."""
    from gluon_densenet.distributed.launcher import launch

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        command = [sys.executable, "-m", "benchmarks.distributed", "--worker", model,
                   str(steps), "dist_sync" if workers else "-", str(out)]
        start = time.perf_counter()
        if workers:
            with open(Path(tmp) / "log.txt", "w") as log:
                result = launch(command, workers, 1, out=log, timeout=1800)
            if result.returncode:
                raise SystemExit(f"error: {workers} workers: {result.message}")
        else:                     # the threads a single launched worker gets too
            import subprocess

            from gluon_densenet.runtime.cpu_threads import without_package_default
            env = {**without_package_default(os.environ),
                   "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
            subprocess.run(command, check=True, env=env)
        figures = json.loads(out.read_text())
    figures["job_s"] = time.perf_counter() - start
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser, "densenet_tiny, 6 steps, 1 round")
    parser.add_argument("--rounds", type=int, help="runs of each configuration (default 3)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        model, steps, kvstore, out = args.worker
        worker(model, int(steps), None if kvstore == "-" else kvstore, Path(out))
        return 0
    model, steps = ("densenet_tiny", 6) if args.tiny else ("densenet21_d2l", 40)
    rounds = args.rounds or (1 if args.tiny else 3)
    load = os.getloadavg()[0]          # 1-minute load before the first run: was the machine quiet?
    configs = {"no kvstore": None, "dist_sync, 1 worker": 1, "dist_sync, 2 workers": 2}
    measured: dict[str, list[dict]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, workers in configs.items():
            measured[name].append(run(model, steps, workers))
    rows = {}
    for name, runs in measured.items():
        rates = sorted(r["img_per_s"] for r in runs)
        median = statistics.median(rates)
        rows[name] = {"img_per_s": median, "img_per_s_range": [rates[0], rates[-1]],
                      "s_per_step": statistics.median(r["s_per_step"] for r in runs),
                      "rounds": runs}
    base = rows["no kvstore"]["img_per_s"]
    data = {"model": model, "steps_per_epoch": steps, "batch_per_worker": BATCH, "tiny": args.tiny,
            "rounds": rounds, "cores": os.cpu_count(), "load_average_at_start": load,
            "bytes_per_step": {
                f"{model} (10 classes, 1 channel)": _bytes_per_step(model, classes=10,
                                                                    in_channels=1),
                "densenet121 (10 classes, 1 channel)": _bytes_per_step(
                    "densenet121", classes=10, in_channels=1),
                "densenet121 (ImageNet: 1000 classes, 3 channels)": _bytes_per_step(
                    "densenet121")},
            "runs": rows}
    print(f"{model}, 32 px, batch {BATCH} per worker, {steps} steps (second epoch timed), "
          f"median of {rounds} round(s):")
    for name, r in rows.items():
        low, high = r["img_per_s_range"]
        print(f"  {name:22s} {r['img_per_s']:6.0f} img/s ({low:.0f}-{high:.0f})  "
              f"{r['s_per_step'] * 1000:6.1f} ms/step  x{r['img_per_s'] / base:.2f} of no kvstore")
    for name, b in data["bytes_per_step"].items():
        print(f"  {name}: {b / 2**20:.1f} MiB per step per worker ({b // 8:,} parameters x 4 "
              "bytes, pushed and pulled)")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.out_dir / "distributed.json", data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
