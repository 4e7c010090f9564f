"""``gluon-densenet train``: check every option, load Fashion-MNIST, train, save the run."""
from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import mxnet as mx

from .. import training
from ..atomic_files import atomic_write, read_json, unwritable_reason, write_json
from ..data import (
    CLASS_NAMES,
    DATA_ENV_VAR,
    FILES,
    SUBSET_FILES,
    CorruptDataError,
    DatasetNotFoundError,
    default_data_dir,
    find_file,
    load_data,
)
from ..distributed import KVSTORE_TYPES, Workers, create_kvstore, is_distributed, workers_of
from ..models import count_parameters, count_weighted_layers
from ..models.registry import MODELS, REFERENCE_MODELS
from ..pretrained import PRETRAINED_DEPTHS, PretrainedWeightsUnavailable, pretrained_densenet
from ..training import LR_SCHEDULES, TrainingDivergedError
from ..training.checkpoint import CheckpointError, checkpoint_epoch
from ..training.checks import SEED_MAX, check_number, check_optimizer
from ..training.run_lock import RunDirectoryInUse, run_directory_lock
from .common import CLIError, Parser, at_least, checkpoint_message, contexts, model

__all__ = ["add_parser", "check_options", "cmd_train", "not_found_message", "parse_options",
           "smoke_settings"]

DEFAULT_MODEL = "densenet21_d2l"
SMOKE_STEPS = 20
IMAGE_SIZE = 28                 # Fashion-MNIST's images; --resize only scales up
#: What a resumed run must share with the saved one (config.json).
CONFIG_KEYS = ("model", "resize", "batch_size", "lr", "optimizer", "schedule", "subset",
               "shipped", "seed", "smoke", "memory_efficient")
#: Saved in config.json only when set, so that runs saved before these options still resume.
OPTIONAL_CONFIG_KEYS = ("pretrained", "warmup_epochs", "kvstore", "scale_lr")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` command and its options to ``sub``; returns its parser."""
    t = sub.add_parser("train", help="train on Fashion-MNIST and print test accuracy")
    _add_options(t)
    t.set_defaults(func=cmd_train)
    return t


def parse_options(argv: list[str]) -> argparse.Namespace:
    """``train``'s options parsed from ``argv`` (the words after ``train``), as a worker of
    ``gluon-densenet launch`` will parse them."""
    parser = Parser(prog="gluon-densenet train")
    _add_options(parser)
    return parser.parse_args(argv)


def _add_options(t: argparse.ArgumentParser) -> None:
    t.add_argument("--model", default=DEFAULT_MODEL, help=f"one of: {', '.join(MODELS)}")
    t.add_argument("--resize", type=int, default=32,
                   help="image side in px (>= 28, and at least the model's minimum: "
                        "29 for the ImageNet-stem nets)")
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--optimizer", default="sgd", help="any MXNet optimizer name (sgd, nag, adam)")
    t.add_argument("--schedule", default="cosine", choices=LR_SCHEDULES)
    t.add_argument("--subset", type=int, metavar="N",
                   help="train on N class-balanced training images")
    t.add_argument("--test-subset", type=int, metavar="N",
                   help="evaluate on N class-balanced test images (default: all)")
    t.add_argument("--shipped", action="store_true",
                   help="use the 5,000/1,000-image subset shipped with the package (no download)")
    t.add_argument("--smoke", action="store_true",
                   help=f"a quick check: shipped subset, 1 epoch of at most {SMOKE_STEPS} steps")
    t.add_argument("--data-dir", help="where the Fashion-MNIST files are (default: "
                                      f"${DATA_ENV_VAR} or ~/.mxnet/datasets/fashion-mnist)")
    t.add_argument("--devices", help="cpu, gpu, or a list such as gpu:0,gpu:1 (default: all GPUs, "
                                     "else the CPU)")
    t.add_argument("--out", help="run directory (default runs/MODEL_SIZEpx)")
    t.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start over instead of resuming from the run directory's checkpoint")
    t.add_argument("--memory-efficient", action="store_true",
                   help="recompute dense layers in backward: lower peak memory at a cost in "
                        "time per step (measured in README, Performance)")
    t.add_argument("--pretrained", action="store_true",
                   help="start from MXNet's ImageNet weights (densenet121/161/169/201, fetched "
                        "once into $MXNET_HOME/models) with a new 10-class head and the stem "
                        "summed over colour for grey images")
    t.add_argument("--warmup-epochs", type=float, default=0.0,
                   help="epochs of linear learning-rate warmup from 0 (default 0)")
    t.add_argument("--kvstore", choices=KVSTORE_TYPES,
                   help="how gradients are summed: local or device (several devices), or "
                        "dist_sync, dist_device_sync, dist_async in a job started by "
                        "'gluon-densenet launch'; --batch-size is then per worker")
    t.add_argument("--scale-lr", action="store_true",
                   help="multiply --lr by the number of workers (the linear scaling rule for "
                        "the larger global batch; pair it with --warmup-epochs)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true", help="no progress bar")


def smoke_settings(args: argparse.Namespace) -> None:
    """``--smoke``: the shipped subset and one epoch (of :data:`SMOKE_STEPS` steps)."""
    if args.smoke:
        args.shipped = True
        args.epochs = min(args.epochs, 1)


def _check_numbers(args: argparse.Namespace) -> None:
    at_least(args.epochs, 1, "--epochs", "--epochs 3")
    at_least(args.batch_size, 1, "--batch-size", "--batch-size 128")
    try:
        check_number("--lr", args.lr, 0, "e.g. --lr 0.1", strict=True)
        check_number("--warmup-epochs", args.warmup_epochs, 0, "e.g. --warmup-epochs 1")
    except ValueError as err:
        raise CLIError(str(err)) from None
    if args.scale_lr and not is_distributed(args.kvstore):
        raise CLIError("--scale-lr multiplies --lr by the number of workers of a distributed "
                       "run; pass --kvstore dist_sync under gluon-densenet launch, or drop it")
    try:
        check_optimizer(args.optimizer)
    except ValueError as err:
        raise CLIError(f"--optimizer {args.optimizer!r}: {err}") from None
    if not 0 <= args.seed <= SEED_MAX:
        raise CLIError(f"--seed must be between 0 and {SEED_MAX}, got {args.seed}; "
                       "pass e.g. --seed 0")


def _check_subsets(args: argparse.Namespace) -> None:
    files = SUBSET_FILES if args.shipped else FILES
    which = "the shipped subset" if args.shipped else "Fashion-MNIST"
    other = " (drop --shipped to use the full data set)" if args.shipped else ""
    for flag, value, split in (("--subset", args.subset, "train"),
                               ("--test-subset", args.test_subset, "test")):
        at_least(value, 1, flag, f"{flag} 1000")
        count = files[split].images.count
        if value is not None and value > count:
            kind = "training" if split == "train" else "test"
            raise CLIError(f"{flag} {value} is more than the {count:,} {kind} images of {which}; "
                           f"pass {flag} {count} or less, or leave it out for all of them{other}")


def check_options(args: argparse.Namespace) -> None:
    """Check the numbers and names of ``train``'s options (nothing is read or written);
    ``args`` are parsed, with ``--smoke``'s values set.

    Raises:
        CLIError: the first option that cannot work, with the fix.
    """
    _check_numbers(args)
    _check_subsets(args)
    pretrained = [f"densenet{d}" for d in PRETRAINED_DEPTHS]
    if args.pretrained and args.model not in pretrained:
        raise CLIError(f"--pretrained: MXNet's model zoo has ImageNet weights for "
                       f"{', '.join(pretrained)} only, not {args.model}; pass --model densenet121")
    if args.resize < IMAGE_SIZE:
        raise CLIError(f"--resize {args.resize} is smaller than Fashion-MNIST's {IMAGE_SIZE}×"
                       f"{IMAGE_SIZE} images, which are only scaled up; pass --resize 32")
    if args.model in REFERENCE_MODELS:
        raise CLIError(f"--model {args.model} takes 3-channel images, Fashion-MNIST's have 1; "
                       f"pass one of: {', '.join(MODELS)}")


def _check_paths(args: argparse.Namespace, out: Path) -> None:
    """Raise :class:`CLIError` unless ``--data-dir`` is a directory (it is not used with
    ``--shipped``) and the run directory ``out`` and its ``checkpoints`` can be written."""
    if args.data_dir is not None and not args.shipped:
        data_dir = Path(args.data_dir).expanduser()
        if not data_dir.is_dir():
            what = "is not a directory" if data_dir.exists() else "does not exist"
            raise CLIError(f"--data-dir {args.data_dir} {what}; pass the directory that holds "
                           "the Fashion-MNIST files (or an empty one to download them into), "
                           "or use --shipped")
    for directory in (out, out / "checkpoints"):
        problem = unwritable_reason(directory)
        if problem is not None:
            raise CLIError(f"cannot write the run directory {out}: {problem}; "
                           "pass --out with a directory you can write")


def _check_resume(args: argparse.Namespace, out: Path, config: dict) -> None:
    """Raise :class:`CLIError` if a run to resume in ``out`` has other settings than
    ``config`` or a damaged ``config.json`` or checkpoint."""
    if not args.resume:
        return
    config_path = out / "config.json"
    if config_path.is_file():
        try:
            saved = read_json(config_path)
        except (OSError, ValueError) as err:
            raise CLIError(f"{config_path} cannot be read ({err}); delete {out} or pass "
                           "--no-resume to start this run over") from None
        if not isinstance(saved, dict):
            raise CLIError(f"{config_path} does not hold a JSON object; delete {out} or pass "
                           "--no-resume to start this run over")
        if saved != config:
            changed = sorted(k for k in config.keys() | saved.keys()
                             if saved.get(k) != config.get(k))
            raise CLIError(f"{out} holds a run with other settings ({', '.join(changed)}); "
                           "pass --out DIR for a new run or --no-resume to start this one over")
    try:
        checkpoint_epoch(out / "checkpoints")       # its metadata, read before any data is
    except CheckpointError as err:
        raise CLIError(checkpoint_message(err)) from None


def not_found_message(err: DatasetNotFoundError, args: argparse.Namespace) -> str:
    """One line for a missing data set: where it was looked for, what is missing, the fixes."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    first = lines[0].rstrip(".") if lines else "Fashion-MNIST is missing"
    if args.shipped:
        return " ".join(lines)
    where = default_data_dir(args.data_dir)
    missing = [spec.gz_name for split in FILES.values() for spec in (split.images, split.labels)
               if find_file(where, spec) is None]
    files = f"put {', '.join(missing)} into {where}, " if missing else ""
    return (f"{first}; {files}pass --data-dir (or set {DATA_ENV_VAR}) to a directory that "
            "has the files, or use --shipped to train offline on the shipped subset")


def _run_config(args: argparse.Namespace, workers: int = 1) -> dict:
    """The settings saved as ``config.json``, which a resumed run must share."""
    config = {k: getattr(args, k) for k in CONFIG_KEYS}
    config.update({k: getattr(args, k) for k in OPTIONAL_CONFIG_KEYS if getattr(args, k)})
    if is_distributed(args.kvstore):     # another count changes the global batch and shards
        config["workers"] = workers
    return config


def _join_job(args: argparse.Namespace) -> tuple[str | mx.kv.KVStore | None, Workers]:
    """The ``--kvstore`` (joining the distributed job for ``dist_*``) and this process's
    :class:`Workers`; a ``dist_*`` store outside a launched job is a :class:`CLIError`."""
    if args.kvstore is None:
        return None, workers_of(None)
    try:
        kv = create_kvstore(args.kvstore)
    except ValueError as err:
        raise CLIError(f"--kvstore {args.kvstore}: {err}") from None
    args.joined_kvstore = kv               # main() lets a failing worker leave at once
    return kv, workers_of(kv)


def cmd_train(args: argparse.Namespace) -> int:
    """``gluon-densenet train``. Nothing is read or created before every option is checked;
    a problem the user can fix is a :class:`CLIError` (printed by ``main``)."""
    smoke_settings(args)
    check_options(args)
    net = model(args.model, classes=len(CLASS_NAMES), in_channels=1,
                memory_efficient=args.memory_efficient)
    minimum = net.min_input_size()
    if args.resize < minimum:
        raise CLIError(f"--resize {args.resize} is too small for {args.model}: it needs at least "
                       f"{minimum}×{minimum} px; pass --resize {max(minimum, 32)}")
    ctxs = contexts(args.devices)
    out = Path(args.out or f"runs/{args.model}_{args.resize}px{'_smoke' if args.smoke else ''}")
    _check_paths(args, out)
    kv, workers = _join_job(args)
    try:                                    # rank 0 writes the run directory: it holds the lock
        with run_directory_lock(out) if workers.is_chief else contextlib.nullcontext():
            return _train_into(out, args, net, ctxs, kv, workers)
    except RunDirectoryInUse as err:
        raise CLIError(f"the run directory {err.directory} is in use by {err.holder}; wait "
                       "for that run to end, or pass another --out") from None


def _pretrained_net(args: argparse.Namespace) -> mx.gluon.HybridBlock:
    """``--pretrained``'s net (fetched only once every option is checked)."""
    try:
        return pretrained_densenet(int(args.model.removeprefix("densenet")),
                                   classes=len(CLASS_NAMES), in_channels=1,
                                   memory_efficient=args.memory_efficient)
    except PretrainedWeightsUnavailable as err:
        raise CLIError(f"--pretrained: {err}") from None


def _load(args: argparse.Namespace):
    """The training and test loaders of the options, data errors as :class:`CLIError`."""
    try:
        return load_data(args.batch_size, resize=args.resize, subset=args.shipped,
                         data_dir=args.data_dir, seed=args.seed, limit=args.subset,
                         test_limit=args.test_subset)
    except DatasetNotFoundError as err:
        raise CLIError(not_found_message(err, args)) from None
    except (CorruptDataError, ValueError) as err:
        raise CLIError(str(err)) from None


def _train_into(out: Path, args: argparse.Namespace, net: mx.gluon.HybridBlock,
                ctxs: list[mx.Context], kv: str | mx.kv.KVStore | None, workers: Workers) -> int:
    """The part of ``train`` that reads and writes the run directory ``out`` (locked)."""
    config = _run_config(args, workers.count)
    _check_resume(args, out, config)
    if args.pretrained:
        net = _pretrained_net(args)
    train_iter, test_iter = _load(args)
    lr = args.lr * workers.count if args.scale_lr else args.lr
    if workers.is_chief:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", config, indent=2)
        print(f"{args.model}: {count_weighted_layers(net)} weighted layers, "
              f"{count_parameters(net):,} parameters"
              f"{' from ImageNet weights (new 10-class head)' if args.pretrained else ''}; "
              f"{train_iter.num_examples:,} training and "
              f"{test_iter.num_examples:,} test images at {args.resize} px; "
              f"devices {', '.join(map(str, ctxs))}")
    if workers.count > 1:
        shard = train_iter.num_examples // workers.count if workers.rank else None
        print(_worker_line(args, workers, lr, shard), flush=True)
    start = time.time()
    try:
        history = training.train(net, train_iter, test_iter, args.epochs, lr=lr,
                        optimizer=args.optimizer, lr_schedule=args.schedule,
                        warmup_epochs=args.warmup_epochs, ctx=ctxs, kvstore=kv,
                        checkpoint_dir=out / "checkpoints", resume=args.resume,
                        progress=not args.quiet, seed=args.seed,
                        max_steps_per_epoch=SMOKE_STEPS if args.smoke else None)
    except CheckpointError as err:
        raise CLIError(checkpoint_message(err)) from None
    except TrainingDivergedError as err:
        raise CLIError(f"{err} On the command line: e.g. --lr {args.lr / 10:g} with --no-resume "
                       "or a new --out") from None
    if workers.is_chief:
        _save_run(out, net, history)
        acc = history.last.test_acc if history.last else training.evaluate(net, test_iter, ctxs)
        print(f"test accuracy: {acc:.4f} on {test_iter.num_examples:,} images after "
              f"{len(history)} epoch(s); {time.time() - start:.0f} s")
        print(f"saved {out / 'model.params'}, {out / 'history.json'}, {out / 'history.png'}")
    return 0


def _save_run(out: Path, net: mx.gluon.HybridBlock, history) -> None:
    """Write the history, the parameters and the plot of the history into ``out``."""
    from ..plots import plot_history, use_agg  # matplotlib only once there is a figure

    history.save(out / "history.json")
    atomic_write(out / "model.params", net.save_parameters)
    use_agg()
    fig = plot_history(history)
    atomic_write(out / "history.png",
                 lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))
    import matplotlib.pyplot as plt

    plt.close(fig)


def _worker_line(args: argparse.Namespace, workers: Workers, lr: float,
                 shard: int | None) -> str:
    """What a worker of a distributed run says before training: rank 0 the global batch and
    the learning rate (``lr``, after ``--scale-lr``); the others their ``shard`` of images."""
    who = f"worker {workers.rank} of {workers.count} ({args.kvstore})"
    if shard is not None:
        return f"{who}: trains on its shard of {shard:,} images"
    if args.kvstore == "dist_async":
        return (f"{who}: the servers update after each worker's batch of {args.batch_size}; "
                f"learning rate {lr:g}; rank 0 writes the run directory")
    scaled = (f"{args.lr:g} x {workers.count} workers (--scale-lr)" if args.scale_lr
              else f"{lr:g}")
    return (f"{who}: global batch {args.batch_size * workers.count} = {workers.count} x "
            f"{args.batch_size}; learning rate {scaled}; rank 0 writes the run directory")
