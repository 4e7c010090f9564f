#!/usr/bin/env python
"""Make the small stratified Fashion-MNIST subset shipped with gluon_densenet.

From the full, checksum-verified dataset it draws, with a fixed seed,
500 training images per class (5,000) and 100 test images per class (1,000),
keeps them in their original order, and writes the four IDX files
(gzip, mtime=0) to gluon_densenet/assets/fashion-mnist-subset/.
Rerunning it gives byte-identical files (same numpy and zlib). Run it with the
Python that has gluon_densenet installed (``make install`` puts it in .venv):

    .venv/bin/python scripts/make_fashion_mnist_subset.py --source /path/to/fashion-mnist
    .venv/bin/python scripts/make_fashion_mnist_subset.py --check   # compare with SUBSET_FILES

It prints the sha1 of each file's decompressed content; these are recorded in
gluon_densenet/data/fashion_mnist.py (SUBSET_FILES).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from gluon_densenet.data.fashion_mnist import (
    CLASS_NAMES,
    FILES,
    SUBSET_DIR,
    SUBSET_FILES,
    default_data_dir,
    load_fashion_mnist,
    stratified_limit,
)
from gluon_densenet.data.idx import payload_sha1, write_idx

SEED = 20170825  # Fashion-MNIST's release date
PER_CLASS = {"train": 500, "test": 100}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=None,
                        help="directory with the full dataset (default: $GLUON_DENSENET_DATA, "
                             "else $MXNET_HOME/datasets/fashion-mnist)")
    parser.add_argument("--out", default=str(SUBSET_DIR),
                        help="output directory (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless the written files match SUBSET_FILES")
    args = parser.parse_args(argv)

    source = default_data_dir(args.source)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)  # one stream, train drawn first, then test
    ok = True
    for split in ("train", "test"):
        images, labels = load_fashion_mnist(split, source, download=False)
        per_class = PER_CLASS[split]
        available = np.bincount(labels, minlength=len(CLASS_NAMES))
        if available.min() < per_class:
            raise SystemExit(f"{split}: class {available.argmin()} has only {available.min()} "
                             f"examples, need {per_class}")
        keep = stratified_limit(labels, per_class * len(CLASS_NAMES), rng)  # per_class of each
        for kind, arr in (("images", images[keep]), ("labels", labels[keep].astype(np.uint8))):
            spec = getattr(FILES[split], kind)
            path = write_idx(out / spec.gz_name, arr)
            digest = payload_sha1(path)
            expected = getattr(SUBSET_FILES[split], kind).sha1
            mark = "ok" if digest == expected else f"differs from SUBSET_FILES ({expected})"
            ok &= digest == expected
            print(f"{split:5s} {kind:6s} {arr.shape} {path.name} sha1={digest} {mark}")
        counts = np.bincount(labels[keep], minlength=len(CLASS_NAMES))
        print(f"{split:5s} per-class counts: {counts.tolist()}")
    if args.check and not ok:
        print("subset files differ from SUBSET_FILES in gluon_densenet/data/fashion_mnist.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
