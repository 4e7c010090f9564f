"""The ``gluon-densenet`` command: ``train``, ``launch``, ``summary`` and ``info``.

gluon-densenet train                       # the default run: a few minutes on 2 CPU cores
gluon-densenet train --model densenet121 --resize 32 --epochs 10
gluon-densenet launch --workers 2 --servers 1 -- train --kvstore dist_sync --smoke
gluon-densenet summary --model densenet121 --size 224
gluon-densenet info
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import math
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import NoReturn

import mxnet as mx
import numpy as np

from .. import __version__
from ..atomic_files import atomic_write, read_json, unwritable_reason, write_json
from ..data import (
    CLASS_NAMES,
    DATA_ENV_VAR,
    FILES,
    SUBSET_DIR,
    SUBSET_FILES,
    CorruptDataError,
    DatasetNotFoundError,
    default_data_dir,
    find_file,
    load_data,
)
from ..distributed import (
    KVSTORE_TYPES,
    Workers,
    create_kvstore,
    is_distributed,
    leave_without_barrier,
    workers_of,
)
from ..models import count_parameters, count_weighted_layers, format_summary, summary
from ..models.registry import MODELS, REFERENCE_MODELS, get_model
from ..pretrained import PRETRAINED_DEPTHS, PretrainedWeightsUnavailable
from ..runtime import devices
from ..runtime.devices import describe_devices, try_all_gpus
from ..training.loop import SEED_MAX
from ..training.run_lock import RunDirectoryInUse, run_directory_lock

DEFAULT_MODEL = "densenet21_d2l"
SMOKE_STEPS = 20
IMAGE_SIZE = 28                 # Fashion-MNIST's images; --resize only scales up
EXIT_USAGE = 2                  # bad input, as argparse's own errors
EXIT_INTERRUPTED = 130          # 128 + SIGINT, as a shell reports Ctrl-C


class CLIError(Exception):
    """A problem the user can fix (a bad argument, missing data, a damaged checkpoint).

    :func:`main` prints its message as one line, ``error: <message>``, on stderr and exits
    with status 2; the message names the problem and the fix.
    """


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one ``error:`` line (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Print ``error: <message>`` and a pointer to ``--help``, then exit with status 2.

        Args:
            message: argparse's description of the problem.

        Raises:
            SystemExit: always, with status 2.
        """
        _fail(f"{message} (see '{self.prog} --help')")


def _fail(message: str, status: int = EXIT_USAGE) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit.

    Args:
        message: what is wrong and how to fix it; line breaks are joined into one line.
        status: the exit status (2 for bad input, 130 for an interrupt).

    Raises:
        SystemExit: always, with ``status``.
    """
    line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    print(f"error: {line}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a warning (a skipped GPU, say) as one ``warning:`` line, without source lines."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _contexts(spec: str | None) -> list[mx.Context]:
    """The devices of ``--devices``.

    Args:
        spec: ``None`` (every GPU, else the CPU), ``"cpu"``, ``"gpu"``, or a comma-separated
            list such as ``"cpu:0,cpu:1"`` or ``"gpu:0,gpu:1"``.

    Returns:
        The contexts.

    Raises:
        CLIError: bad syntax, a device listed twice, or a GPU that is missing or that this
            MXNet build cannot run on.
    """
    if spec is None:
        return try_all_gpus()
    ctxs: list[mx.Context] = []
    for part in spec.split(","):
        kind, colon, index = part.strip().partition(":")
        if kind not in ("cpu", "gpu") or (colon and not index.isdigit()):
            raise CLIError(f"--devices {spec!r}: cannot read {part.strip()!r}; "
                           "pass cpu, gpu, or a list such as cpu:0,cpu:1 or gpu:0,gpu:1")
        ctx = getattr(mx, kind)(int(index or 0))
        if ctx in ctxs:
            raise CLIError(f"--devices {spec!r} lists {ctx} twice; list each device once")
        ctxs.append(ctx)
    problem = devices.gpu_problem([c.device_id for c in ctxs if c.device_type == "gpu"])
    if problem:
        raise CLIError(f"--devices {spec}: {problem}; pass --devices cpu"
                       + (" or other GPUs" if devices.num_gpus() else ""))
    return ctxs


def _model(name: str, **kw):
    """``get_model(name, **kw)`` with its ``ValueError`` (and closest name) as a :class:`CLIError`.

    Args:
        name: the ``--model`` value.
        **kw: passed to :func:`get_model`.

    Returns:
        The network.

    Raises:
        CLIError: an unknown name, or a model-zoo ResNet asked for other than 3 channels.
    """
    try:
        return get_model(name, **kw)
    except ValueError as err:
        fix = "; pass --in-channels 3" if name in REFERENCE_MODELS else ""
        raise CLIError(f"{err}{fix}") from None


def _at_least(value: int | None, minimum: int, flag: str, example: str) -> None:
    """Raise :class:`CLIError` when an integer option is below its minimum.

    Args:
        value: the option's value (``None``: not given, nothing to check).
        minimum: the smallest value that works.
        flag: the option, e.g. ``"--batch-size"``.
        example: a sound value to suggest, e.g. ``"--batch-size 128"``.

    Raises:
        CLIError: ``value < minimum``.
    """
    if value is not None and value < minimum:
        raise CLIError(f"{flag} must be at least {minimum}, got {value}; pass e.g. {example}")


def _check_optimizer(name: str) -> None:
    """Raise :class:`CLIError` unless MXNet knows the optimizer ``name``.

    Args:
        name: the ``--optimizer`` value.

    Raises:
        CLIError: an unknown name, with the closest known one.
    """
    known = sorted(mx.optimizer.Optimizer.opt_registry)
    if name.lower() in known:
        return
    close = difflib.get_close_matches(name.lower(), known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise CLIError(f"--optimizer {name!r} is not an MXNet optimizer; {hint}"
                   f"pass one of: {', '.join(known)}")


def _check_train_args(args: argparse.Namespace) -> None:
    """Check the numbers and names of ``train``'s options (nothing is read or written).

    Args:
        args: the parsed ``train`` options (after ``--smoke`` has set its values).

    Raises:
        CLIError: the first option that cannot work, with the fix.
    """
    _at_least(args.epochs, 1, "--epochs", "--epochs 3")
    _at_least(args.batch_size, 1, "--batch-size", "--batch-size 128")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise CLIError(f"--lr must be a finite number > 0, got {args.lr}; pass e.g. --lr 0.1")
    if not (math.isfinite(args.warmup_epochs) and args.warmup_epochs >= 0):
        raise CLIError(f"--warmup-epochs must be a finite number >= 0, got "
                       f"{args.warmup_epochs}; pass e.g. --warmup-epochs 1")
    if args.scale_lr and not is_distributed(args.kvstore):
        raise CLIError("--scale-lr multiplies --lr by the number of workers of a distributed "
                       "run; pass --kvstore dist_sync under gluon-densenet launch, or drop it")
    _check_optimizer(args.optimizer)
    if not 0 <= args.seed <= SEED_MAX:
        raise CLIError(f"--seed must be between 0 and {SEED_MAX}, got {args.seed}; "
                       "pass e.g. --seed 0")
    files = SUBSET_FILES if args.shipped else FILES
    which = "the shipped subset" if args.shipped else "Fashion-MNIST"
    other = " (drop --shipped to use the full data set)" if args.shipped else ""
    for flag, value, split in (("--subset", args.subset, "train"),
                               ("--test-subset", args.test_subset, "test")):
        _at_least(value, 1, flag, f"{flag} 1000")
        count = files[split].images.count
        if value is not None and value > count:
            kind = "training" if split == "train" else "test"
            raise CLIError(f"{flag} {value} is more than the {count:,} {kind} images of {which}; "
                           f"pass {flag} {count} or less, or leave it out for all of them{other}")
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
    """Check that the data directory exists and the run directory can be written.

    Args:
        args: the parsed ``train`` options.
        out: the run directory.

    Raises:
        CLIError: ``--data-dir`` is missing or not a directory (it is not used with
            ``--shipped``), or ``out`` (or its ``checkpoints``) cannot be written.
    """
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
    """Check that a run to resume in ``out`` has these settings and a readable checkpoint.

    Args:
        args: the parsed ``train`` options.
        out: the run directory.
        config: this run's settings (as saved in ``config.json``).

    Raises:
        CLIError: ``out`` holds a run with other settings, or its ``config.json`` or
            checkpoint metadata is damaged.
    """
    from ..training.checkpoint import CheckpointError, checkpoint_epoch

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
        raise CLIError(_checkpoint_message(err)) from None


def _checkpoint_message(err: Exception) -> str:
    """The command line's wording of a :class:`CheckpointError`.

    Args:
        err: the error (a ``CheckpointError``).

    Returns:
        One line naming the checkpoint directory, the problem and the fix.
    """
    directory = getattr(err, "directory", None)
    problem = getattr(err, "problem", str(err))
    return (f"cannot resume from the checkpoint in {directory}: {problem}; delete that "
            "directory or pass --no-resume to start over")


def _not_found_message(err: DatasetNotFoundError, args: argparse.Namespace) -> str:
    """One line for a missing data set: where it was looked for, what is missing, the fixes.

    Args:
        err: the data layer's (multi-line) error.
        args: the parsed ``train`` options.

    Returns:
        The condensed message.
    """
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
    """The settings a resumed run must share with the saved one.

    Args:
        args: the parsed ``train`` options.
        workers: the number of workers of a distributed run.

    Returns:
        The dict saved as ``config.json``.
    """
    keys = ("model", "resize", "batch_size", "lr", "optimizer", "schedule", "subset",
            "shipped", "seed", "smoke", "memory_efficient")
    config = {k: getattr(args, k) for k in keys}
    # Only when set, so that runs saved before these options still resume.
    optional = {"pretrained": args.pretrained, "warmup_epochs": args.warmup_epochs,
                "kvstore": args.kvstore, "scale_lr": args.scale_lr}
    config.update({k: v for k, v in optional.items() if v})
    if is_distributed(args.kvstore):     # another count changes the global batch and shards
        config["workers"] = workers
    return config


def _join_job(args: argparse.Namespace) -> tuple[str | mx.kv.KVStore | None, Workers]:
    """Create the ``--kvstore`` (joining the distributed job for ``dist_*``).

    Returns:
        The kvstore (``None`` without ``--kvstore``) and this process's :class:`Workers`.

    Raises:
        CLIError: a ``dist_*`` store outside a job started by a launcher.
    """
    if args.kvstore is None:
        return None, workers_of(None)
    try:
        kv = create_kvstore(args.kvstore)
    except ValueError as err:
        raise CLIError(f"--kvstore {args.kvstore}: {err}") from None
    args.joined_kvstore = kv               # main() lets a failing worker leave at once
    return kv, workers_of(kv)


def cmd_train(args: argparse.Namespace) -> int:
    """``gluon-densenet train``: check every option, load the data, train, save the results.

    Nothing is read or created before all options are checked. Every subcommand takes the
    parsed options, returns the exit status, and raises :class:`CLIError` (printed by
    :func:`main`) for a bad option, missing or damaged data, a run directory that cannot be
    written or resumed or that another run is using, or a diverged run.
    """
    _smoke_settings(args)
    _check_train_args(args)
    net = _model(args.model, classes=len(CLASS_NAMES), in_channels=1,
                 memory_efficient=args.memory_efficient)
    minimum = net.min_input_size()
    if args.resize < minimum:
        raise CLIError(f"--resize {args.resize} is too small for {args.model}: it needs at least "
                       f"{minimum}×{minimum} px; pass --resize {max(minimum, 32)}")
    ctxs = _contexts(args.devices)
    out = Path(args.out or f"runs/{args.model}_{args.resize}px{'_smoke' if args.smoke else ''}")
    _check_paths(args, out)
    kv, workers = _join_job(args)
    try:                                    # rank 0 writes the run directory: it holds the lock
        with run_directory_lock(out) if workers.is_chief else contextlib.nullcontext():
            return _train_into(out, args, net, ctxs, kv, workers)
    except RunDirectoryInUse as err:
        raise CLIError(f"the run directory {err.directory} is in use by {err.holder}; wait "
                       "for that run to end, or pass another --out") from None


def _train_into(out: Path, args: argparse.Namespace, net: mx.gluon.HybridBlock,
                ctxs: list[mx.Context], kv: str | mx.kv.KVStore | None, workers: Workers) -> int:
    """The part of ``train`` that reads and writes the run directory ``out`` (locked)."""
    from ..plots import plot_history, use_agg
    from ..training import TrainingDivergedError, evaluate, train
    from ..training.checkpoint import CheckpointError

    config = _run_config(args, workers.count)
    _check_resume(args, out, config)
    if args.pretrained:                  # every option is checked: now fetch the weights
        try:
            net = _model(args.model, classes=len(CLASS_NAMES), in_channels=1,
                         memory_efficient=args.memory_efficient, pretrained=True)
        except PretrainedWeightsUnavailable as err:
            raise CLIError(f"--pretrained: {err}") from None

    try:
        train_iter, test_iter = load_data(args.batch_size, resize=args.resize,
                                          subset=args.shipped, data_dir=args.data_dir,
                                          seed=args.seed, limit=args.subset,
                                          test_limit=args.test_subset)
    except DatasetNotFoundError as err:
        raise CLIError(_not_found_message(err, args)) from None
    except (CorruptDataError, ValueError) as err:
        raise CLIError(str(err)) from None

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
        history = train(net, train_iter, test_iter, args.epochs, lr=lr,
                        optimizer=args.optimizer, lr_schedule=args.schedule,
                        warmup_epochs=args.warmup_epochs, ctx=ctxs, kvstore=kv,
                        checkpoint_dir=out / "checkpoints", resume=args.resume,
                        progress=not args.quiet, seed=args.seed,
                        max_steps_per_epoch=SMOKE_STEPS if args.smoke else None)
    except CheckpointError as err:
        raise CLIError(_checkpoint_message(err)) from None
    except TrainingDivergedError as err:
        raise CLIError(f"{err} On the command line: e.g. --lr {args.lr / 10:g} with --no-resume "
                       "or a new --out") from None
    elapsed = time.time() - start
    if not workers.is_chief:
        return 0
    history.save(out / "history.json")
    atomic_write(out / "model.params", net.save_parameters)
    use_agg()
    fig = plot_history(history)
    atomic_write(out / "history.png",
                 lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))
    import matplotlib.pyplot as plt

    plt.close(fig)
    acc = history.last.test_acc if history.last else evaluate(net, test_iter, ctxs)
    print(f"test accuracy: {acc:.4f} on {test_iter.num_examples:,} images after "
          f"{len(history)} epoch(s); {elapsed:.0f} s")
    print(f"saved {out / 'model.params'}, {out / 'history.json'}, {out / 'history.png'}")
    return 0


def _smoke_settings(args: argparse.Namespace) -> None:
    """``--smoke``: the shipped subset and one epoch (of :data:`SMOKE_STEPS` steps)."""
    if args.smoke:
        args.shipped = True
        args.epochs = min(args.epochs, 1)


def _worker_line(args: argparse.Namespace, workers: Workers, lr: float,
                 shard: int | None) -> str:
    """What a worker of a distributed run says before training.

    Args:
        args: the parsed ``train`` options.
        workers: this process's rank and the number of workers.
        lr: the learning rate used (after ``--scale-lr``).
        shard: for a worker other than rank 0, how many training images it reads.

    Returns:
        Rank 0: the global batch and the learning rate; the others: their shard.
    """
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


def cmd_launch(args: argparse.Namespace) -> int:
    """``gluon-densenet launch``: a distributed job of ``train`` on this machine.

    The workers' options are checked here first, so a mistake is one error before any
    process starts.
    """
    from ..distributed.launcher import LaunchError, launch, worker_command

    command = args.command_args[1:] if args.command_args[:1] == ["--"] else args.command_args
    if not command or command[0] != "train":
        raise CLIError("launch runs 'train' on every worker; pass it after '--', e.g. "
                       "gluon-densenet launch --workers 2 --servers 1 -- train "
                       "--kvstore dist_sync --smoke")
    worker_args = build_parser().parse_args(command)
    if not is_distributed(worker_args.kvstore):
        raise CLIError("the workers need a distributed kvstore to work together; add "
                       "--kvstore dist_sync (or dist_device_sync, dist_async) after 'train'")
    _smoke_settings(worker_args)
    _check_train_args(worker_args)
    try:
        result = launch(worker_command(command), args.workers, args.servers, port=args.port,
                        timeout=args.timeout)
    except LaunchError as err:
        raise CLIError(str(err)) from None
    if result.returncode:
        _fail(result.message, result.returncode)
    if result.message:
        print(f"warning: {result.message}", file=sys.stderr, flush=True)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """``gluon-densenet summary``: output shapes and parameter counts, layer by layer."""
    _at_least(args.classes, 1, "--classes", "--classes 10")
    _at_least(args.in_channels, 1, "--in-channels", "--in-channels 3")
    _at_least(args.depth, 0, "--depth", "--depth 2 (0 lists every layer)")
    _at_least(args.size, 1, "--size", "--size 224")
    net = _model(args.model, classes=args.classes, in_channels=args.in_channels)
    shape = (1, args.in_channels, args.size, args.size)
    minimum = net.min_input_size() if hasattr(net, "min_input_size") else 1
    if args.size < minimum:
        raise CLIError(f"--size {args.size} is too small for {args.model}: it needs at least "
                       f"{minimum}×{minimum} px; pass --size {max(minimum, 32)} or more")
    net.initialize()
    rows = summary(net, shape, max_depth=args.depth or None)
    print(format_summary(rows, shape))
    minimum_note = (f", minimum input {net.min_input_size()} px"
                    if hasattr(net, "min_input_size") else "")
    print(f"{args.model}: {count_weighted_layers(net)} weighted layers (conv + dense), "
          f"{count_parameters(net):,} learnable parameters{minimum_note}")
    return 0


def _data_status(data_dir: str | None) -> list[str]:
    where = default_data_dir(data_dir)
    lines = [f"data directory: {where}  (argument > ${DATA_ENV_VAR} > $MXNET_HOME/datasets)"]
    for spec in FILES.values():
        for f in (spec.images, spec.labels):
            path = find_file(where, f)
            lines.append(f"  {f.name}: {path if path else 'missing (downloaded on first use)'}")
    lines.append(f"shipped subset: {SUBSET_DIR}")
    return lines


def cmd_info(args: argparse.Namespace) -> int:
    """``gluon-densenet info``: versions, devices, where the data is, the models."""
    print(f"gluon-densenet {__version__}; Python {platform.python_version()}; "
          f"numpy {np.__version__}")
    print(describe_devices())
    print("\n".join(_data_status(args.data_dir)))
    print(f"models: {', '.join(MODELS)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``gluon-densenet`` argument parser (its errors are one ``error:`` line, status 2).

    Returns:
        The parser with the ``train``, ``launch``, ``summary`` and ``info`` commands.
    """
    parser = _Parser(prog="gluon-densenet",
                     description="DenseNet in MXNet Gluon on Fashion-MNIST.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train on Fashion-MNIST and print test accuracy")
    t.add_argument("--model", default=DEFAULT_MODEL, help=f"one of: {', '.join(MODELS)}")
    t.add_argument("--resize", type=int, default=32,
                   help="image side in px (>= 28, and at least the model's minimum: "
                        "29 for the ImageNet-stem nets)")
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
    t.add_argument("--data-dir", help="where the Fashion-MNIST files are (default: "
                                      f"${DATA_ENV_VAR} or ~/.mxnet/datasets/fashion-mnist)")
    t.add_argument("--devices", help="cpu, gpu, or a list such as gpu:0,gpu:1 (default: all GPUs, "
                                     "else the CPU)")
    t.add_argument("--out", help="run directory (default runs/MODEL_SIZEpx)")
    t.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start over instead of resuming from the run directory's checkpoint")
    t.add_argument("--memory-efficient", action="store_true",
                   help="recompute dense layers in backward: about 40%% lower peak memory at "
                        "224 px, at some speed (see README, Performance)")
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
    t.set_defaults(func=cmd_train)

    la = sub.add_parser("launch", help="run train as a distributed job on this machine: "
                                       "MXNet's scheduler, servers and workers on 127.0.0.1",
                        usage="%(prog)s [--workers N] [--servers N] [--port P] -- train ...")
    la.add_argument("--workers", type=int, default=2)
    la.add_argument("--servers", type=int, default=1)
    la.add_argument("--port", type=int, help="the scheduler's port (default: a free one)")
    la.add_argument("--timeout", type=float, metavar="S",
                    help="stop the whole job if it runs longer than S seconds (status 124), "
                         "after printing what each process was doing")
    la.add_argument("command_args", nargs=argparse.REMAINDER,
                    help="'--' then the train command every worker runs")
    la.set_defaults(func=cmd_launch)

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
    """Run the ``gluon-densenet`` command.

    A problem the user can fix (a bad option, missing or damaged data, a damaged
    checkpoint, a diverged run) ends with one line ``error: <problem>; <fix>`` on stderr
    and exit status 2, without a traceback; Ctrl-C ends with one line and status 130.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        0 on success.

    Raises:
        SystemExit: status 2 on bad input (argparse's errors included), 130 when
            interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except BaseException:
        leave_without_barrier(getattr(args, "joined_kvstore", None))
        raise


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command, turning the errors a user can fix into one line (see
    :func:`main`)."""
    from ..training import TrainingDivergedError
    from ..training.checkpoint import CheckpointError

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            return args.func(args)
    except CLIError as err:
        _fail(str(err))
    except CheckpointError as err:
        _fail(_checkpoint_message(err))
    except DatasetNotFoundError as err:
        _fail(_not_found_message(err, args) if args.command == "train" else str(err))
    except (CorruptDataError, TrainingDivergedError) as err:
        _fail(str(err))
    except KeyboardInterrupt:
        hint = ("; run the same command again to resume from the last saved epoch"
                if args.command == "train" else "")
        _fail(f"interrupted{hint}", EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
