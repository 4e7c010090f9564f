"""What the benchmark scripts share: where results go, the net and training step under test,
the timing of data loading, and tables.

Importing this module does not load MXNet (a torch worker of :mod:`benchmarks.run` imports
it); the functions that need MXNet import it when called.
"""
from __future__ import annotations

import argparse
import functools
import itertools
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path

from gluon_densenet.analysis.measure import timings

#: The repository root: the scripts run from here (``python -m benchmarks.run``).
ROOT = Path(__file__).resolve().parent.parent
#: Where the scripts write their JSON and markdown unless told otherwise.
RESULTS = ROOT / "benchmarks" / "results"
#: The classes every benchmarked net predicts.
CLASSES = 10


def add_common_options(parser: argparse.ArgumentParser, tiny_help: str) -> None:
    """Add the options the benchmark scripts share: ``--tiny`` and ``--out-dir``.

    Args:
        parser: the script's parser.
        tiny_help: what ``--tiny`` does in this script.
    """
    parser.add_argument("--tiny", action="store_true", help=tiny_help)
    parser.add_argument("--out-dir", type=Path, default=RESULTS,
                        help="where to write the results (default: benchmarks/results)")


def model_name(tiny: bool) -> str:
    """The name (for :func:`gluon_densenet.get_model`) of the net under test.

    Args:
        tiny: the seconds-long smoke configuration instead of the real one.

    Returns:
        ``"densenet_tiny"`` or ``"densenet121"``.
    """
    return "densenet_tiny" if tiny else "densenet121"


def make_densenet(tiny: bool, **kwargs):
    """The uninitialised net under test, with :data:`CLASSES` outputs.

    Args:
        tiny: build :func:`~gluon_densenet.models.densenet_tiny` instead of DenseNet-121.
        **kwargs: passed to the factory (``in_channels``, ``memory_efficient``, ...).

    Returns:
        The :class:`~gluon_densenet.models.DenseNet`.
    """
    from gluon_densenet import get_model
    return get_model(model_name(tiny), classes=CLASSES, **kwargs)


def synthetic_batch(batch: int, size: int, channels: int = 3):
    """A random input batch with labels cycling through the classes.

    Args:
        batch: examples in the batch.
        size: side of the square images in px.
        channels: image channels.

    Returns:
        ``(X, y)``: ``X`` uniform in [0, 1], shape ``(batch, channels, size, size)``;
        ``y`` shape ``(batch,)``.
    """
    from mxnet import nd
    return (nd.random.uniform(shape=(batch, channels, size, size)),
            nd.array([i % CLASSES for i in range(batch)]))


def sgd_step(net, momentum: float = 0.9) -> Callable:
    """The benchmarks' training step for ``net``: softmax cross-entropy and SGD (learning
    rate 0.01) through :func:`gluon_densenet.training.step.train_step`.

    Args:
        net: an initialised Gluon block (memory-efficient nets recompute in ``backward()``).
        momentum: SGD momentum (0 for plain SGD).

    Returns:
        ``step(X, y)``: one optimiser step on the batch, returning the per-sample loss.
    """
    from mxnet import gluon

    from gluon_densenet.training.step import train_step
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": 0.01, "momentum": momentum})
    return functools.partial(train_step, net, trainer, gluon.loss.SoftmaxCrossEntropyLoss())


def time_loading(make_iter: Callable[[], Iterable], warmup: int,
                 repeats: int) -> tuple[list[float], list[tuple]]:
    """Time producing data batches one at a time, each until it is computed.

    Args:
        make_iter: returns an iterable of ``(X, y)`` batches (e.g. a data loader, or a
            generator function); called again whenever the previous one is exhausted.
        warmup: batches loaded untimed first.
        repeats: batches timed.

    Returns:
        ``(seconds, batches)``: the seconds of each timed batch (until
        ``X.wait_to_read()`` returns), and every ``(X, y)`` loaded, warm-up ones first.
    """
    stream = itertools.chain.from_iterable(iter(make_iter, None))
    batches = []

    def load():
        X, y = next(stream)
        X.wait_to_read()
        batches.append((X, y))

    return timings(load, warmup=warmup, repeats=repeats), batches


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]],
                   right: Collection[int] = ()) -> list[str]:
    """A markdown table.

    Args:
        header: the column titles.
        rows: the cells of each row, as strings.
        right: indices of the right-aligned columns.

    Returns:
        Its lines: header, alignment row, one line per row.
    """
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    align = "".join("---:|" if i in right else "---|" for i in range(len(header)))
    return [line(header), "|" + align] + [line(r) for r in rows]


def text_table(rows: Sequence[Sequence[str]], right: Collection[int] = (),
               rule: bool = False) -> str:
    """A plain-text table with padded columns, for the terminal.

    Args:
        rows: the header's cells, then each row's.
        right: indices of the right-aligned columns (the others are left-aligned).
        rule: put a line of dashes under the header.

    Returns:
        The table, lines joined by newlines.
    """
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    if rule:
        lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def worker_result(proc) -> dict:
    """What a benchmark worker process reported: its last ``RESULT {json}`` line, else
    ``{"error": <the last line of its stderr>}``.

    Args:
        proc: the finished ``subprocess.CompletedProcess`` (text output captured).
    """
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}


def replace_block(path: Path, start: str, end: str, block: str) -> bool:
    """Put ``block`` (which begins with ``start`` and ends with ``end``) in place of the text
    from ``start`` to ``end`` in the file ``path``; False when the file has no such markers."""
    text = path.read_text() if path.exists() else ""
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    path.write_text(head + block + rest.split(end, 1)[1])
    return True
