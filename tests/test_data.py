"""Tests for gluon_densenet.data: IDX I/O, downloads, Fashion-MNIST loading, batching.

Everything here is offline: downloads go to a throw-away HTTP server on
127.0.0.1, and synthetic datasets are written into tmp_path.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from gluon_densenet.data import (
    CLASS_NAMES,
    FILES,
    SUBSET_DIR,
    SUBSET_FILES,
    ArrayLoader,
    CorruptDataError,
    DatasetNotFoundError,
    DownloadError,
    FileSpec,
    SplitSpec,
    default_data_dir,
    download_file,
    find_file,
    get_fashion_mnist_labels,
    load_data,
    load_fashion_mnist,
    payload_sha1,
    read_idx,
    resolve_mirrors,
    stratified_limit,
    write_idx,
)

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    """No test sees the developer's data/mirror settings."""
    for var in ("GLUON_DENSENET_DATA", "GLUON_DENSENET_MIRRORS"):
        monkeypatch.delenv(var, raising=False)


def _images(n: int, rows: int = 28, cols: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, rows, cols), dtype=np.uint8)


def _labels(n: int) -> np.ndarray:
    return (np.arange(n) % 10).astype(np.uint8)


def _sha1(payload: bytes) -> str:
    return hashlib.sha1(payload).hexdigest()


def make_dataset(
    directory: Path, n_train: int = 40, n_test: int = 20, compress: bool = True
) -> dict:
    """Write a tiny Fashion-MNIST-shaped dataset; return its expected-file table."""
    directory.mkdir(parents=True, exist_ok=True)
    table = {}
    for split, n in (("train", n_train), ("test", n_test)):
        specs = {}
        for kind, arr in (("images", _images(n, seed=n)), ("labels", _labels(n))):
            name = getattr(FILES[split], kind).name
            path = write_idx(directory / (name + (".gz" if compress else "")), arr)
            specs[kind] = FileSpec(name, payload_sha1(path), n)
        table[split] = SplitSpec(**specs)
    return table


def _assert_no_temp_files(directory: Path) -> None:
    leftovers = [
        p.name for p in directory.iterdir() if p.name.startswith(".") or p.suffix == ".part"
    ]
    assert leftovers == []


def _closed_port() -> int:
    """A localhost port with nothing listening (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler(http.server.BaseHTTPRequestHandler):
    # path -> list of (status, body, content_length or None); popped until one is left
    routes: dict = {}
    hits: list = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        responses = self.routes.get(self.path)
        if not responses:
            status, body, length = 404, b"not here", None
        else:
            status, body, length = responses.pop(0) if len(responses) > 1 else responses[0]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server():
    """A local HTTP server: set ``srv.routes[path] = [(status, body, length), ...]``."""
    handler = type("Handler", (_Handler,), {"routes": {}, "hits": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.routes = handler.routes
    httpd.hits = handler.hits
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# --------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_round_trip(tmp_path, suffix):
    imgs, labs = _images(7, 5, 3), _labels(7)
    pi = write_idx(tmp_path / f"imgs{suffix}", imgs)
    pl = write_idx(tmp_path / f"labs{suffix}", labs)
    assert (pi.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back_i, back_l = read_idx(pi), read_idx(pl)
    assert back_i.dtype == np.uint8 and back_i.shape == (7, 5, 3)
    assert back_l.dtype == np.uint8 and back_l.shape == (7,)
    np.testing.assert_array_equal(back_i, imgs)
    np.testing.assert_array_equal(back_l, labs)
    back_i[0, 0, 0] = 1  # arrays are writable copies


def test_idx_gz_and_raw_share_payload_sha1_and_gz_is_deterministic(tmp_path):
    imgs = _images(4)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    a = write_idx(tmp_path / "one" / "x.gz", imgs)
    b = write_idx(tmp_path / "two" / "x.gz", imgs)
    raw = write_idx(tmp_path / "raw", imgs)
    assert a.read_bytes() == b.read_bytes()  # mtime=0: same input, same bytes
    assert payload_sha1(a) == payload_sha1(raw) == _sha1(raw.read_bytes())
    assert payload_sha1(raw.read_bytes()) == payload_sha1(raw)  # bytes or a file


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_truncated_file_is_corrupt(tmp_path, suffix):
    good = write_idx(tmp_path / "good", _images(3))
    path = tmp_path / f"short{suffix}"
    payload = good.read_bytes()[:-10]
    path.write_bytes(gzip.compress(payload) if suffix else payload)
    with pytest.raises(CorruptDataError) as info:
        read_idx(path)
    msg = str(info.value)
    assert str(path) in msg and "truncated" in msg and "delete" in msg
    assert isinstance(info.value, ValueError)


def test_trailing_bytes_and_short_header_are_corrupt(tmp_path):
    good = write_idx(tmp_path / "good", _labels(5))
    (tmp_path / "long").write_bytes(good.read_bytes() + b"xx")
    (tmp_path / "tiny").write_bytes(b"\x00\x00")
    with pytest.raises(CorruptDataError, match="unexpected bytes"):
        read_idx(tmp_path / "long")
    with pytest.raises(CorruptDataError, match="too short"):
        read_idx(tmp_path / "tiny")


def test_bad_magic_is_corrupt(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x04" + b"\x00" * 20))
    with pytest.raises(CorruptDataError, match=r"bad magic number 2052.*2051.*2049") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("damage", ["cut", "flip"])
def test_broken_gzip_is_corrupt(tmp_path, damage):
    data = bytearray(write_idx(tmp_path / "ok.gz", _images(20)).read_bytes())
    if damage == "cut":
        data = data[: len(data) // 2]
    else:
        for i in range(20, 60):
            data[i] ^= 0xFF
    path = tmp_path / "broken.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "download it again" in str(info.value)


def test_write_idx_rejects_bad_arrays(tmp_path):
    with pytest.raises(ValueError):
        write_idx(tmp_path / "x", np.zeros((2, 2)))
    with pytest.raises(ValueError):
        write_idx(tmp_path / "x", np.full((2,), 300))


# --------------------------------------------------------------------------- paths & mirrors


def test_default_data_dir_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MXNET_HOME", raising=False)
    assert default_data_dir() == tmp_path / "home" / ".mxnet" / "datasets" / "fashion-mnist"
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxhome"))
    assert default_data_dir() == tmp_path / "mxhome" / "datasets" / "fashion-mnist"
    assert default_data_dir() == Path(mx.base.data_dir()) / "datasets" / "fashion-mnist"
    monkeypatch.setenv("GLUON_DENSENET_DATA", str(tmp_path / "env"))
    assert default_data_dir() == tmp_path / "env"
    assert default_data_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.chdir(tmp_path)
    rel = default_data_dir("relative")
    assert rel.is_absolute() and rel == tmp_path / "relative"


def test_resolve_mirrors(monkeypatch):
    default = resolve_mirrors()
    assert len(default) == 3
    assert any("fashion-mnist.s3-website" in m for m in default)
    assert any(
        "raw.githubusercontent.com/zalandoresearch/fashion-mnist" in m
        and m.rstrip("/").endswith("data/fashion")
        for m in default
    )
    assert any(
        "apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/dataset/fashion-mnist" in m
        for m in default
    )
    monkeypatch.setenv("GLUON_DENSENET_MIRRORS", " http://a/ , http://b ,")
    assert resolve_mirrors() == ["http://a/", "http://b"]
    assert resolve_mirrors(["http://c"]) == ["http://c"]
    assert resolve_mirrors("http://d,http://e") == ["http://d", "http://e"]


def test_find_file_prefers_gz_and_accepts_uncompressed(tmp_path):
    spec = FILES["test"].labels
    assert find_file(tmp_path, spec) is None
    write_idx(tmp_path / spec.name, _labels(3))
    assert find_file(tmp_path, spec) == tmp_path / spec.name
    write_idx(tmp_path / spec.gz_name, _labels(3))
    assert find_file(tmp_path, spec.gz_name) == tmp_path / spec.gz_name


def test_class_names():
    assert len(CLASS_NAMES) == 10
    assert CLASS_NAMES[0] == "T-shirt/top" and CLASS_NAMES[9] == "Ankle boot"
    assert get_fashion_mnist_labels([0, 5, 9]) == ["T-shirt/top", "Sandal", "Ankle boot"]


# --------------------------------------------------------------------------- loading local files


@pytest.mark.parametrize("compress", [True, False])
def test_load_synthetic_dataset(tmp_path, compress):
    table = make_dataset(tmp_path / "d", compress=compress)
    x, y = load_fashion_mnist("train", tmp_path / "d", download=False, files=table)
    assert x.shape == (40, 28, 28) and x.dtype == np.uint8
    assert y.shape == (40,) and y.dtype == np.int32
    xt, yt = load_fashion_mnist("test", tmp_path / "d", download=False, files=table)
    assert xt.shape == (20, 28, 28) and yt.shape == (20,)


def test_data_dir_from_env(tmp_path, monkeypatch):
    table = make_dataset(tmp_path / "envdir")
    monkeypatch.setenv("GLUON_DENSENET_DATA", str(tmp_path / "envdir"))
    x, _ = load_fashion_mnist("test", download=False, files=table)
    assert x.shape[0] == 20


def test_checksum_mismatch_says_delete_and_redownload(tmp_path):
    table = make_dataset(tmp_path)
    bad = dict(table)
    bad["train"] = SplitSpec(
        images=FileSpec(table["train"].images.name, "0" * 40, 40), labels=table["train"].labels
    )
    with pytest.raises(CorruptDataError) as info:
        load_fashion_mnist("train", tmp_path, download=False, files=bad)
    msg = str(info.value)
    assert "checksum mismatch" in msg and "delete" in msg and "download it again" in msg
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in msg


def test_count_mismatch_is_corrupt(tmp_path):
    table = make_dataset(tmp_path)
    spec = table["test"]
    bad = {
        "test": SplitSpec(
            images=FileSpec(spec.images.name, spec.images.sha1, 999), labels=spec.labels
        )
    }
    with pytest.raises(CorruptDataError, match="expected 999"):
        load_fashion_mnist("test", tmp_path, download=False, files=bad)


def test_unknown_split_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"'validation'.*'train', 'test'"):
        load_fashion_mnist("validation", tmp_path, download=False)
    with pytest.raises(ValueError, match=r"'tarin'; did you mean 'train'\? valid splits"):
        load_fashion_mnist("tarin", tmp_path, download=False)


def test_shipped_subset_missing_file_says_reinstall(tmp_path, monkeypatch):
    import gluon_densenet.data.fashion_mnist as fm

    monkeypatch.setattr(fm, "SUBSET_DIR", tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"subset .* incomplete.*Reinstall") as info:
        load_fashion_mnist("test", subset=True)
    assert "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in str(info.value)


def test_download_with_no_mirrors_says_so(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no mirrors configured") as info:
        load_fashion_mnist("test", tmp_path, mirrors="", progress=False)
    assert "none configured" in str(info.value)


def test_missing_files_without_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_fashion_mnist("train", tmp_path / "nowhere", download=False)
    err = info.value
    assert isinstance(err, FileNotFoundError)
    msg = str(err)
    target = (tmp_path / "nowhere").absolute()
    assert f"{target / 'train-images-idx3-ubyte.gz'}" in msg
    assert f"{target / 'train-labels-idx1-ubyte.gz'}" in msg
    assert f"into {target}" in msg
    assert "GLUON_DENSENET_DATA" in msg and "--data-dir" in msg
    assert "subset=True" in msg and "--shipped" in msg
    assert "github.com/zalandoresearch/fashion-mnist" in msg


def test_only_missing_file_is_named(tmp_path):
    table = make_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        load_fashion_mnist("test", tmp_path, download=False, files=table)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)
    assert "t10k-images-idx3-ubyte.gz" not in str(info.value)


def test_missing_files_with_unreachable_mirrors(tmp_path, monkeypatch):
    port = _closed_port()
    monkeypatch.setenv(
        "GLUON_DENSENET_MIRRORS", f"http://127.0.0.1:{port}/a/,http://127.0.0.1:{port}/b/"
    )
    target = tmp_path / "offline"
    with pytest.raises(DatasetNotFoundError) as info:
        load_fashion_mnist("test", target, download=True, progress=False)
    msg = str(info.value)
    assert "could not be downloaded" in msg
    assert (
        str(target / "t10k-images-idx3-ubyte.gz") in msg
        and str(target / "t10k-labels-idx1-ubyte.gz") in msg
    )
    assert f"http://127.0.0.1:{port}/a/t10k-images-idx3-ubyte.gz" in msg  # what each mirror said
    assert "subset=True" in msg and "GLUON_DENSENET_DATA" in msg
    assert list(target.iterdir()) == []  # nothing half-written


# --------------------------------------------------------------------------- downloads


def test_download_falls_back_across_mirrors(tmp_path, server):
    good = gzip.compress(write_idx(tmp_path / "src", _labels(30)).read_bytes())
    expected = payload_sha1(tmp_path / "src")
    server.routes["/corrupt/f.gz"] = [(200, b"garbage bytes", None)]
    server.routes["/good/f.gz"] = [(200, good, None)]

    def verify(p: Path) -> None:
        if payload_sha1(p) != expected:
            raise ValueError("checksum mismatch")

    dest = tmp_path / "dest"
    mirrors = [server.base + "/missing/", server.base + "/corrupt", server.base + "/good/"]
    out = download_file("f.gz", mirrors, dest, verify=verify, retries=1, progress=False)
    assert out == dest / "f.gz" and out.read_bytes() == good
    # MXNet's download retries every error (the 404 too); data failing verification is not retried
    assert server.hits == ["/missing/f.gz"] * 2 + ["/corrupt/f.gz", "/good/f.gz"]
    _assert_no_temp_files(dest)
    assert sorted(p.name for p in dest.iterdir()) == ["f.gz"]


def test_download_retries_transient_errors(tmp_path, server):
    server.routes["/m/f"] = [(503, b"busy", None), (200, b"payload", None)]
    out = download_file("f", [server.base + "/m/"], tmp_path, retries=2, progress=False)
    assert out.read_bytes() == b"payload"
    assert server.hits == ["/m/f", "/m/f"]


def test_download_all_mirrors_bad_leaves_nothing(tmp_path, server):
    server.routes["/corrupt/f.gz"] = [(200, b"garbage", None)]
    server.routes["/short/f.gz"] = [(200, b"abc", 1000)]  # connection closes early

    def verify(p: Path) -> None:
        raise ValueError("sha1 mismatch")

    mirrors = [
        server.base + "/missing",
        server.base + "/corrupt",
        server.base + "/short",
        f"http://127.0.0.1:{_closed_port()}",
        "file:///no/file/urls",
    ]
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError) as info:
        download_file("f.gz", mirrors, dest, verify=verify, retries=1, progress=False)
    err = info.value
    assert isinstance(err, OSError)
    msg = str(err)
    assert msg.startswith("could not download f.gz from any of 5 mirror(s):\n")
    lines = msg.splitlines()[1:]
    assert [url for url, _ in err.attempts] == [m.rstrip("/") + "/f.gz" for m in mirrors]
    # one line per mirror, in order
    assert lines == [f"  {url}: {reason}" for url, reason in err.attempts]
    missing, corrupt, short, closed, file_url = (reason for _, reason in err.attempts)
    assert "did not answer 200 OK" in missing and missing.endswith("(2 attempts)")
    assert corrupt == "downloaded file failed verification: sha1 mismatch"  # not retried
    assert "IncompleteRead" in short and short.endswith("(2 attempts)")
    assert "cannot connect" in closed and closed.endswith("(2 attempts)")
    assert "InvalidSchema" in file_url  # MXNet's download speaks http(s) only
    assert server.hits.count("/short/f.gz") == 2
    assert list(dest.iterdir()) == []  # nothing left, not even MXNet's partial files


def test_download_argument_errors(tmp_path):
    with pytest.raises(DownloadError, match="no mirrors"):
        download_file("f", [], tmp_path)
    with pytest.raises(ValueError, match="retries"):
        download_file("f", ["http://127.0.0.1:9"], tmp_path, retries=-1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("progress", [True, False])
def test_download_progress_lines(tmp_path, server, capsys, progress):
    server.routes["/m/f"] = [(200, b"payload", None)]
    download_file("f", [server.base + "/m"], tmp_path, progress=progress)
    out = capsys.readouterr().out
    assert (f"from {server.base}/m/f" in out) == progress


def test_download_interrupted_leaves_nothing(tmp_path, server):
    server.routes["/m/f"] = [(200, b"x" * 1000, None)]

    def verify(p: Path) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download_file("f", [server.base + "/m"], tmp_path, verify=verify, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_download_keeps_existing_file_when_replacement_fails(tmp_path, server):
    (tmp_path / "f").write_bytes(b"old")
    with pytest.raises(DownloadError):
        download_file("f", [server.base + "/none"], tmp_path, progress=False)
    assert (tmp_path / "f").read_bytes() == b"old"


def test_load_downloads_missing_files(tmp_path, server, monkeypatch):
    src = tmp_path / "src"
    table = make_dataset(src)
    for p in src.iterdir():
        server.routes["/fm/" + p.name] = [(200, p.read_bytes(), None)]
    monkeypatch.setenv("GLUON_DENSENET_MIRRORS", f"{server.base}/missing/,{server.base}/fm/")
    dest = tmp_path / "cache"
    x, y = load_fashion_mnist("test", dest, download=True, files=table, progress=False)
    assert x.shape == (20, 28, 28) and y.shape == (20,)
    assert sorted(p.name for p in dest.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    hits = len(server.hits)
    load_fashion_mnist("test", dest, download=True, files=table, progress=False)
    assert len(server.hits) == hits  # second call is served from disk


def test_load_rejects_wrong_download(tmp_path, server):
    src = tmp_path / "src"
    table = make_dataset(src)
    other = make_dataset(tmp_path / "other", n_test=10)  # same names, different content
    for p in (tmp_path / "other").iterdir():
        server.routes["/fm/" + p.name] = [(200, p.read_bytes(), None)]
    assert other["test"].images.sha1 != table["test"].images.sha1
    dest = tmp_path / "cache"
    with pytest.raises(DatasetNotFoundError, match="failed verification"):
        load_fashion_mnist("test", dest, files=table, mirrors=[server.base + "/fm"], progress=False)
    assert list(dest.iterdir()) == []


# --------------------------------------------------------------------------- shipped subset


def test_subset_files_and_licence_are_shipped():
    names = sorted(p.name for p in SUBSET_DIR.iterdir())
    assert names == sorted(
        [
            "LICENSE",
            "README.md",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
        ]
    )
    licence = (SUBSET_DIR / "LICENSE").read_text()
    assert "Copyright (c) 2017 Zalando SE" in licence and "MIT" in licence
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in licence


@pytest.mark.parametrize("split,per_class", [("train", 500), ("test", 100)])
def test_subset_loads_balanced(split, per_class, tmp_path):
    x, y = load_fashion_mnist(split, data_dir=tmp_path / "ignored", subset=True)
    assert x.shape == (10 * per_class, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10 * per_class,) and y.dtype == np.int32
    assert np.bincount(y, minlength=10).tolist() == [per_class] * 10
    assert 0 < x.mean() < 255


def test_limit_is_stratified():
    labels = np.array([0, 0, 0, 0, 1, 2, 2, 1, 0, 2])
    keep = stratified_limit(labels, 5)
    assert keep.tolist() == sorted(keep.tolist())
    assert np.bincount(labels[keep], minlength=3).tolist() == [2, 2, 1]
    assert stratified_limit(labels, 100).tolist() == list(range(10))
    x, y = load_fashion_mnist("test", subset=True, limit=55)
    assert x.shape == (55, 28, 28)
    assert sorted(np.bincount(y, minlength=10).tolist()) == [5] * 5 + [6] * 5
    with pytest.raises(ValueError, match="limit"):
        stratified_limit(labels, -1)


def _per_class_permutation_sample(labels, per_class, rng):
    """What scripts/make_fashion_mnist_subset.py drew before it used stratified_limit."""
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(10)]
    return np.sort(np.concatenate(chosen))


def test_limit_with_rng_is_a_per_class_permutation_sample():
    labels = np.random.default_rng(5).integers(0, 10, size=700)
    assert np.bincount(labels).min() >= 40
    ref_rng, rng = np.random.default_rng(11), np.random.default_rng(11)
    for per_class in (40, 7):  # the same stream serves several draws, as in the script
        expected = _per_class_permutation_sample(labels, per_class, ref_rng)
        keep = stratified_limit(labels, 10 * per_class, rng)
        np.testing.assert_array_equal(keep, expected)
    assert rng.integers(1 << 30) == ref_rng.integers(1 << 30)  # streams consumed alike
    uneven = stratified_limit(labels, 333, np.random.default_rng(0))
    assert keep.tolist() != stratified_limit(labels, 70).tolist()  # the rng matters
    assert uneven.shape == (333,) and np.all(np.diff(uneven) > 0)
    assert sorted(np.bincount(labels[uneven], minlength=10).tolist()) == [33] * 7 + [34] * 3


# --------------------------------------------------------------------------- loader


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8), np.arange(10) % 10


@pytest.mark.parametrize("resize,batch", [(None, 4), (32, 4), (224, 2)])
def test_loader_shapes_and_values(tiny, resize, batch):
    images, labels = tiny
    loader = ArrayLoader(images[:batch], labels[:batch], batch_size=batch, resize=resize)
    ((X, y),) = list(loader)
    s = resize or 28
    assert isinstance(X, mx.nd.NDArray) and isinstance(y, mx.nd.NDArray)
    assert X.shape == (batch, 1, s, s) and y.shape == (batch,)
    assert X.dtype == np.float32 and y.dtype == np.float32
    assert X.context == mx.cpu() and y.context == mx.cpu()
    xs = X.asnumpy()
    assert xs.min() >= 0.0 and xs.max() <= 1.0
    if resize is None:
        np.testing.assert_allclose(xs[:, 0], images[:batch] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y.asnumpy(), labels[:batch])


def test_loader_resize_of_constant_image_is_constant():
    images = np.full((3, 28, 28), 51, np.uint8)
    ((X, _),) = list(ArrayLoader(images, np.zeros(3), batch_size=3, resize=40))
    np.testing.assert_allclose(X.asnumpy(), 0.2, atol=1e-6)


def test_loader_shuffle_is_seeded_and_varies(tiny):
    images, labels = tiny
    labels = np.arange(10)

    def epoch(loader):
        return np.concatenate([y.asnumpy() for _, y in loader]).astype(int).tolist()

    a = ArrayLoader(images, labels, 3, shuffle=True, seed=7)
    b = ArrayLoader(images, labels, 3, shuffle=True, seed=7)
    c = ArrayLoader(images, labels, 3, shuffle=True, seed=8)
    a1, a2 = epoch(a), epoch(a)
    assert a1 == epoch(b) and a2 == epoch(b)  # reproducible, epoch by epoch
    assert a1 != a2  # new order each epoch
    assert a1 != epoch(c)  # seed matters
    assert sorted(a1) == list(range(10))  # each example exactly once
    a.set_epoch(0)
    assert epoch(a) == a1
    assert epoch(ArrayLoader(images, labels, 3)) == list(range(10))  # no shuffle: in order


def test_loader_last_batch(tiny):
    images, labels = tiny
    keep = ArrayLoader(images, labels, 4, last_batch="keep")
    drop = ArrayLoader(images, labels, 4, last_batch="discard")
    assert len(keep) == 3 and [X.shape[0] for X, _ in keep] == [4, 4, 2]
    assert len(drop) == 2 and [X.shape[0] for X, _ in drop] == [4, 4]
    assert keep.num_examples == drop.num_examples == 10
    assert len(ArrayLoader(images, labels, 10)) == 1


def test_loader_argument_errors(tiny):
    images, labels = tiny
    with pytest.raises(ValueError, match="minimum is 28"):
        ArrayLoader(images, labels, 2, resize=27)
    with pytest.raises(ValueError, match="batch_size"):
        ArrayLoader(images, labels, 0)
    with pytest.raises(ValueError, match="last_batch 'rollover'; use 'keep' or 'discard'"):
        ArrayLoader(images, labels, 2, last_batch="rollover")
    with pytest.raises(ValueError, match="did you mean 'discard'"):
        ArrayLoader(images, labels, 2, last_batch="discrad")
    with pytest.raises(ValueError, match="batch_size"):
        ArrayLoader(images, labels, True)  # a bool is not a batch size
    assert ArrayLoader(images, labels, np.int64(2), resize=np.int32(32)).image_size == 32
    with pytest.raises(ValueError, match="rank < count"):
        ArrayLoader(images, labels, 2).shard(True, 2)
    with pytest.raises(ValueError, match="labels"):
        ArrayLoader(images, labels[:3], 2)
    with pytest.raises(ValueError, match="minimum is 28"):
        load_data(8, resize=16, subset=True)


def test_load_data_subset():
    train, test = load_data(100, resize=32, subset=True, seed=3, limit=300, test_limit=200)
    assert train.num_examples == 300 and test.num_examples == 200
    assert train.shuffle and not test.shuffle
    assert len(train) == 3 and len(test) == 2
    X, y = next(iter(train))
    assert X.shape == (100, 1, 32, 32) and y.shape == (100,)
    full_train, full_test = load_data(256, subset=True)
    assert full_train.num_examples == 5000 and full_test.num_examples == 1000
    assert len(full_train) == 20


# ---------------------------------------------------------------------- full dataset (optional)


def _full_data_dir() -> Path | None:
    env = os.environ.get("GLUON_DENSENET_DATA")
    if env:
        return Path(env)
    shared = REPO.parent / "shared" / "data" / "fashion-mnist"
    return shared if shared.is_dir() else None


_FULL_DIR = _full_data_dir()
needs_full_data = pytest.mark.skipif(
    _FULL_DIR is None,
    reason="full Fashion-MNIST not available: "
    "set GLUON_DENSENET_DATA or provide ../shared/data/fashion-mnist",
)


@needs_full_data
def test_full_dataset_loads_and_verifies():
    for split, n in (("train", 60000), ("test", 10000)):
        x, y = load_fashion_mnist(split, _FULL_DIR, download=False)
        assert x.shape == (n, 28, 28) and y.shape == (n,)
        assert np.bincount(y, minlength=10).tolist() == [n // 10] * 10


@needs_full_data
def test_subset_script_remakes_the_shipped_subset(tmp_path):
    script = REPO / "scripts" / "make_fashion_mnist_subset.py"
    out = tmp_path / "subset"
    args = ["--source", str(_FULL_DIR), "--out", str(out), "--check"]
    # Run outside the checkout: the script must import the installed package, no sys.path edits.
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" ok\n") == 4
    for split in SUBSET_FILES.values():
        for spec in (split.images, split.labels):
            assert (out / spec.gz_name).read_bytes() == (SUBSET_DIR / spec.gz_name).read_bytes()


def test_class_names_from_ndarray_labels():
    assert get_fashion_mnist_labels(mx.nd.array([0, 9])) == ["T-shirt/top", "Ankle boot"]
    assert get_fashion_mnist_labels([1]) == ["Trouser"]


def test_validation_split_is_class_balanced_disjoint_and_fixed_by_its_seed():
    from gluon_densenet.data import validation_split
    labels = np.repeat(np.arange(10), 50)
    train, held = validation_split(labels, 100, seed=0)
    assert len(held) == 100 and len(train) == 400
    assert np.bincount(labels[held]).tolist() == [10] * 10
    assert not set(train) & set(held) and sorted([*train, *held]) == list(range(500))
    assert np.array_equal(validation_split(labels, 100, seed=0)[1], held)
    assert not np.array_equal(validation_split(labels, 100, seed=1)[1], held)
    assert not np.array_equal(held, np.sort(held)[:0]) and held.max() > 100   # not the first ones
    for bad in (0, 500, 2.5):
        with pytest.raises(ValueError, match="validation split"):
            validation_split(labels, bad)


def test_load_splits_share_one_validation_set_across_training_seeds():
    from gluon_densenet.data import load_splits
    a = load_splits(50, validation=100, subset=True, seed=0, limit=500, test_limit=200)
    b = load_splits(50, validation=100, subset=True, seed=1, limit=500, test_limit=200)
    assert (a.train.num_examples, a.validation.num_examples, a.test.num_examples) == (400, 100, 200)
    assert np.array_equal(a.validation.images, b.validation.images)
    assert not np.array_equal(a.train.order(0), b.train.order(0))
    assert not a.validation.shuffle and not a.test.shuffle


def test_data_splits_describe_their_sizes():
    from gluon_densenet.data import load_splits
    line = load_splits(50, validation=100, subset=True, limit=500, test_limit=200).describe()
    assert line.startswith("of 500 training images, 100 held out") and "[10, 10," in line
    assert "400 trained on; 200 test images" in line


def test_crop_flip_shifts_within_the_padding_and_mirrors_about_half():
    import numpy as np

    from gluon_densenet.data import CropFlip
    rng = np.random.default_rng(0)
    images = rng.integers(1, 255, size=(400, 8, 8)).astype(np.uint8)    # no zeros inside
    out = CropFlip(pad=2, flip=True)(images, np.random.default_rng(1))
    assert out.shape == images.shape and out.dtype == np.uint8
    mirrored = 0
    for a, b in zip(images, out, strict=True):
        found = [(dy, dx, m) for m in (False, True) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.array_equal(_shift(a[:, ::-1] if m else a, dy, dx), b)]
        assert found, "each output is its image shifted by at most 2 px, perhaps mirrored"
        mirrored += found[0][2]
    assert 150 < mirrored < 250
    assert np.array_equal(CropFlip(pad=0, flip=False)(images, rng), images)
    with pytest.raises(ValueError, match="pad must be an integer >= 0"):
        CropFlip(pad=-1)


def _shift(image, dy, dx):
    """``image`` moved by (dy, dx) px, the border filled with 0."""
    import numpy as np
    h, w = image.shape
    out = np.zeros_like(image)
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_only_the_training_split_is_augmented_and_reproducibly():
    import numpy as np

    from gluon_densenet.data import CropFlip, load_splits
    splits = load_splits(64, validation=500, subset=True, download=False, augment=CropFlip())
    assert splits.train.augment is not None
    assert splits.validation.augment is None and splits.test.augment is None
    plain = load_splits(64, validation=500, subset=True, download=False)
    first = next(iter(splits.train))[0].asnumpy()
    assert not np.array_equal(first, next(iter(plain.train))[0].asnumpy())
    splits.train.set_epoch(0)
    assert np.array_equal(next(iter(splits.train))[0].asnumpy(), first)
    assert np.array_equal(next(iter(splits.validation))[0].asnumpy(),
                          next(iter(plain.validation))[0].asnumpy())
