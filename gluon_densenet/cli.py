"""The ``gluon-densenet`` command: ``train``, ``summary`` and ``info``.

    gluon-densenet train                       # the default run: a few minutes on 2 CPU cores
    gluon-densenet train --model densenet121 --resize 32 --epochs 10
    gluon-densenet summary --model densenet121 --size 224
    gluon-densenet info
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np

from . import __version__
from .data import (CLASS_NAMES, DATA_ENV_VAR, FILES, SUBSET_DIR, CorruptDataError,
                   DatasetNotFoundError, default_data_dir, find_file, load_data)
from .devices import describe_devices, try_all_gpus
from .models import count_parameters, count_weighted_layers, format_summary, summary
from .models.registry import MODELS, get_model

DEFAULT_MODEL = "densenet21_d2l"
SMOKE_STEPS = 20


def _contexts(spec: str | None) -> list[mx.Context]:
    """``None`` → every GPU or the CPU; ``"cpu"``; ``"gpu"``; ``"cpu:0,cpu:1"``; ``"gpu:0,gpu:1"``."""
    if spec is None:
        return try_all_gpus()
    ctxs = []
    for part in spec.split(","):
        kind, _, index = part.strip().partition(":")
        if kind not in ("cpu", "gpu") or (index and not index.isdigit()):
            raise SystemExit(f"error: bad device {part!r}; use cpu, gpu, cpu:0,cpu:1 or gpu:0,gpu:1")
        ctxs.append(getattr(mx, kind)(int(index or 0)))
    return ctxs


def _model(name: str, **kw):
    try:
        return get_model(name, **kw)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None


def _run_config(args: argparse.Namespace) -> dict:
    keys = ("model", "resize", "batch_size", "lr", "optimizer", "schedule", "subset",
            "shipped", "seed", "smoke", "memory_efficient")
    return {k: getattr(args, k) for k in keys}


def cmd_train(args: argparse.Namespace) -> int:
    from .plots import plot_history, use_agg
    from .training import TrainingDivergedError, evaluate, train

    if args.smoke:
        args.shipped = True
        args.epochs = min(args.epochs, 1)
    out = Path(args.out or f"runs/{args.model}_{args.resize}px{'_smoke' if args.smoke else ''}")
    config = _run_config(args)
    config_path = out / "config.json"
    if config_path.exists() and args.resume:
        saved = json.loads(config_path.read_text())
        if saved != config:
            changed = sorted(k for k in config if saved.get(k) != config[k])
            raise SystemExit(f"error: {out} holds a run with other settings ({', '.join(changed)}); "
                             "pass --out DIR for a new run or --no-resume to start this one over")
    ctxs = _contexts(args.devices)
    net = _model(args.model, classes=len(CLASS_NAMES), in_channels=1,
                 memory_efficient=args.memory_efficient)
    try:
        net.check_input_shape((1, 1, args.resize, args.resize))
        train_iter, test_iter = load_data(args.batch_size, resize=args.resize,
                                          subset=args.shipped, data_dir=args.data_dir,
                                          seed=args.seed, limit=args.subset,
                                          test_limit=args.test_subset)
    except (DatasetNotFoundError, CorruptDataError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None

    out.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    print(f"{args.model}: {count_weighted_layers(net)} weighted layers, "
          f"{count_parameters(net):,} parameters; {train_iter.num_examples:,} training and "
          f"{test_iter.num_examples:,} test images at {args.resize} px; "
          f"devices {', '.join(map(str, ctxs))}")
    start = time.time()
    try:
        history = train(net, train_iter, test_iter, args.epochs, lr=args.lr,
                        optimizer=args.optimizer, lr_schedule=args.schedule, ctx=ctxs,
                        checkpoint_dir=out / "checkpoints", resume=args.resume,
                        progress=not args.quiet, seed=args.seed,
                        max_steps_per_epoch=SMOKE_STEPS if args.smoke else None)
    except TrainingDivergedError as err:
        raise SystemExit(f"error: {err}") from None
    elapsed = time.time() - start
    history.save(out / "history.json")
    net.save_parameters(str(out / "model.params"))
    use_agg()
    plot_history(history, out / "history.png")
    acc = history.last.test_acc if history.last else evaluate(net, test_iter, ctxs)
    print(f"test accuracy: {acc:.4f} on {test_iter.num_examples:,} images after "
          f"{len(history)} epoch(s); {elapsed:.0f} s")
    print(f"saved {out / 'model.params'}, {out / 'history.json'}, {out / 'history.png'}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    net = _model(args.model, classes=args.classes, in_channels=args.in_channels)
    net.initialize()
    shape = (1, args.in_channels, args.size, args.size)
    try:
        net.check_input_shape(shape)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    rows = summary(net, shape, max_depth=args.depth)
    print(format_summary(rows, shape))
    print(f"{args.model}: {count_weighted_layers(net)} weighted layers (conv + dense), "
          f"{count_parameters(net):,} learnable parameters, "
          f"minimum input {net.min_input_size()} px")
    return 0


def _data_status(data_dir: str | None) -> list[str]:
    where = default_data_dir(data_dir)
    lines = [f"data directory: {where}  (argument > ${DATA_ENV_VAR} > $MXNET_HOME/datasets)"]
    for split, spec in FILES.items():
        for f in (spec.images, spec.labels):
            path = find_file(where, f)
            lines.append(f"  {f.name}: {path if path else 'missing (downloaded on first use)'}")
    lines.append(f"shipped subset: {SUBSET_DIR}")
    return lines


def cmd_info(args: argparse.Namespace) -> int:
    print(f"gluon-densenet {__version__}; Python {platform.python_version()}; "
          f"numpy {np.__version__}")
    print(describe_devices())
    print("\n".join(_data_status(args.data_dir)))
    print(f"models: {', '.join(MODELS)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gluon-densenet",
                                     description="DenseNet in MXNet Gluon on Fashion-MNIST.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train on Fashion-MNIST and print test accuracy")
    t.add_argument("--model", default=DEFAULT_MODEL, help=f"one of: {', '.join(MODELS)}")
    t.add_argument("--resize", type=int, default=32, help="image side in px (>= 29 for these nets)")
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--optimizer", default="sgd", help="any MXNet optimizer name (sgd, nag, adam)")
    t.add_argument("--schedule", default="cosine", choices=["cosine", "step", "constant"])
    t.add_argument("--subset", type=int, metavar="N",
                   help="train on N class-balanced training images")
    t.add_argument("--test-subset", type=int, metavar="N",
                   help="evaluate on N class-balanced test images (default: all)")
    t.add_argument("--shipped", action="store_true",
                   help="use the 5,000/1,000-image subset shipped with the package (no download)")
    t.add_argument("--smoke", action="store_true",
                   help=f"a quick check: shipped subset, 1 epoch of at most {SMOKE_STEPS} steps")
    t.add_argument("--data-dir", help=f"where the Fashion-MNIST files are (default: ${DATA_ENV_VAR} "
                                      "or ~/.mxnet/datasets/fashion-mnist)")
    t.add_argument("--devices", help="cpu, gpu, or a list such as gpu:0,gpu:1 (default: all GPUs, "
                                     "else the CPU)")
    t.add_argument("--out", help="run directory (default runs/MODEL_SIZEpx)")
    t.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start over instead of resuming from the run directory's checkpoint")
    t.add_argument("--memory-efficient", action="store_true",
                   help="recompute dense layers in backward: about 40%% lower peak memory at "
                        "224 px, at some speed (see README, Performance)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("summary", help="layer-by-layer output shapes and parameter counts")
    s.add_argument("--model", default="densenet121", help=f"one of: {', '.join(MODELS)}")
    s.add_argument("--size", type=int, default=224)
    s.add_argument("--classes", type=int, default=1000)
    s.add_argument("--in-channels", type=int, default=3)
    s.add_argument("--depth", type=int, default=2,
                   help="how deep to list blocks (2: stages; 0 for every layer)")
    s.set_defaults(func=cmd_summary)

    i = sub.add_parser("info", help="versions, devices and where the data is")
    i.add_argument("--data-dir")
    i.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "depth", None) == 0:
        args.depth = None
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
