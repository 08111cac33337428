"""Image data: scikit-learn's digits (split, resize, normalisation) and the CIFAR-10 python
batch reader (restricted unpickler), on batch files this test writes in that exact format."""
from __future__ import annotations

import os
import pickle
import struct
import sys

import numpy as np
import pytest

from archmodel.datasets.images import (
    CIFAR10_CLASSES,
    load_cifar10,
    load_digits,
    read_cifar10_batch,
    resize_images,
    stratified_split,
)
from archmodel.errors import DataError, MissingDependencyError, ParameterError


def require_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        msg = "scikit-learn (extra 'data') is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)


# --------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------
def test_digits_fixed_stratified_split():
    require_sklearn()
    from sklearn.datasets import load_digits as sk_digits

    d = load_digits()
    assert d.X_train.shape == (1079, 1, 8, 8) and d.X_val.shape == (359, 1, 8, 8)
    assert d.X_test.shape == (359, 1, 8, 8)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.num_classes == 10 and d.in_channels == 1 and d.input_size == 8
    raw = sk_digits()
    counts = np.bincount(raw.target)
    for part, frac in ((d.y_val, 0.2), (d.y_test, 0.2)):
        np.testing.assert_array_equal(np.bincount(part, minlength=10), np.round(frac * counts))
    # the three parts are a partition of the 1,797 images (un-normalised pixels / 16)
    plain = load_digits(normalize=False)
    allx = np.concatenate([plain.X_train, plain.X_val, plain.X_test]).reshape(1797, 64)
    ally = np.concatenate([plain.y_train, plain.y_val, plain.y_test])
    order = np.lexsort(np.c_[allx, ally].T[::-1])
    ref = np.c_[raw.data / 16.0, raw.target]
    ref_order = np.lexsort(ref.T[::-1])
    np.testing.assert_allclose(np.c_[allx, ally][order], ref[ref_order], atol=1e-7)
    # fixed: same split every time; another seed gives another split
    again = load_digits()
    np.testing.assert_array_equal(again.X_test, d.X_test)
    other = load_digits(split_seed=1)
    assert not np.array_equal(other.X_test, d.X_test)


def test_digits_normalisation_resize_channels():
    require_sklearn()
    d = load_digits(size=16, interpolation="nearest", channels=3)
    assert d.X_train.shape == (1079, 3, 16, 16)
    np.testing.assert_allclose(d.X_train.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(d.X_train.std(axis=(0, 2, 3)), 1, atol=1e-4)
    np.testing.assert_array_equal(d.X_train[:, 0], d.X_train[:, 2])
    plain8 = load_digits(normalize=False)
    plain16 = load_digits(size=16, normalize=False)
    np.testing.assert_array_equal(plain16.X_train, np.repeat(np.repeat(plain8.X_train, 2, 2), 2, 3))
    bil = load_digits(size=32, interpolation="bilinear", normalize=False)
    assert bil.X_train.shape == (1079, 1, 32, 32)
    assert bil.X_train.min() >= 0 and bil.X_train.max() <= 1
    assert d.mean.shape == (3,) and plain8.mean is None


def test_digits_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)     # import now fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'archmodel\[data\]'"):
        load_digits()


def test_digits_bad_arguments():
    with pytest.raises(ParameterError, match="'channels' parameter of load_digits must be one of"):
        load_digits(channels=2)
    with pytest.raises(ParameterError, match="'interpolation' parameter"):
        load_digits(interpolation="cubic")


def test_resize_images():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(resize_images(x, 8, "nearest")[0, 0, ::2, ::2], x[0, 0])
    np.testing.assert_array_equal(resize_images(x, 2, "nearest")[0, 0], x[0, 0, ::2, ::2])
    const = np.full((2, 3, 5, 5), 7.0)
    np.testing.assert_allclose(resize_images(const, 11, "bilinear"), 7.0)
    up = resize_images(x, 8, "bilinear")[0, 0]
    # half-pixel centres: output (1, 1) sits at source (0.25, 0.25); x = 4 * row + col is
    # linear, so bilinear interpolation reproduces it exactly
    assert up[1, 1] == pytest.approx(4 * 0.25 + 0.25)
    assert up[0, 0] == 0 and up[-1, -1] == 15
    ramp = np.tile(np.arange(4.0), (1, 1, 4, 1))
    np.testing.assert_allclose(np.diff(resize_images(ramp, 8, "bilinear")[0, 0, 0, 1:-1]), 0.5)


def test_stratified_split_partition(rng):
    labels = rng.integers(0, 4, 103)
    a, b, c = stratified_split(labels, (0.2, 0.3), rng=0)
    assert sorted(np.concatenate([a, b, c]).tolist()) == list(range(103))
    for cls in range(4):
        n = int((labels == cls).sum())
        assert int((labels[a] == cls).sum()) == round(0.2 * n)
        assert int((labels[b] == cls).sum()) == round(0.3 * n)
    with pytest.raises(ParameterError, match="sum to less than 1"):
        stratified_split(labels, (0.6, 0.5))


# --------------------------------------------------------------------------------------------
# CIFAR-10 python batches
# --------------------------------------------------------------------------------------------
def py2_pickle(obj) -> bytes:
    """Serialise like Python 2's cPickle.dump(obj, f, 2) did for the CIFAR-10 batches: ``str``
    (here: bytes) as BINSTRING, and numpy arrays through ``numpy.core.multiarray._reconstruct``
    with a numpy 1.x dtype state."""
    out = bytearray(b"\x80\x02")

    def string(b: bytes) -> None:
        if len(b) < 256:
            out.extend(b"U" + bytes([len(b)]) + b)
        else:
            out.extend(b"T" + struct.pack("<i", len(b)) + b)

    def emit(o) -> None:
        if o is None:
            out.extend(b"N")
        elif isinstance(o, bool):
            out.extend(b"\x88" if o else b"\x89")
        elif isinstance(o, int):
            out.extend(b"J" + struct.pack("<i", o))
        elif isinstance(o, bytes):
            string(o)
        elif isinstance(o, list):
            out.extend(b"](")
            for e in o:
                emit(e)
            out.extend(b"e")
        elif isinstance(o, tuple):
            out.extend(b"(")
            for e in o:
                emit(e)
            out.extend(b"t")
        elif isinstance(o, dict):
            out.extend(b"}(")
            for k, v in o.items():
                emit(k)
                emit(v)
            out.extend(b"u")
        elif isinstance(o, np.ndarray):
            assert o.dtype == np.uint8
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\n")
            out.extend(b"cnumpy\nndarray\n")
            emit((0,))
            string(b"b")
            out.extend(b"\x87R")                                     # TUPLE3, REDUCE
            out.extend(b"(J" + struct.pack("<i", 1))                 # state: (1, shape, dtype, F, raw)
            emit(tuple(o.shape))
            out.extend(b"cnumpy\ndtype\n")
            string(b"u1")
            emit(0)
            emit(1)
            out.extend(b"\x87R")
            emit((3, b"|", None, None, None, -1, -1, 0))
            out.extend(b"b")                                         # BUILD the dtype
            emit(False)
            string(np.ascontiguousarray(o).tobytes())
            out.extend(b"tb")                                        # TUPLE, BUILD the array
        else:  # pragma: no cover
            raise TypeError(type(o))

    emit(obj)
    out.extend(b".")
    return bytes(out)


def cifar_batch(rng, n, label="training batch 1 of 5"):
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    return {b"batch_label": label.encode(), b"labels": labels, b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


@pytest.mark.parametrize("writer", ["python2", "protocol2", "protocol5"])
def test_read_cifar10_batch_formats(tmp_path, rng, writer):
    d = cifar_batch(rng, 12)
    path = tmp_path / "data_batch_1"
    if writer == "python2":
        path.write_bytes(py2_pickle(d))
    else:
        with open(path, "wb") as fh:
            pickle.dump(d, fh, protocol=2 if writer == "protocol2" else 5)
    X, y = read_cifar10_batch(path)
    assert X.shape == (12, 3, 32, 32) and X.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(y, d[b"labels"])
    # channel planes: the first 1024 values are red, row-major
    np.testing.assert_array_equal(X[:, 0].reshape(12, -1), d[b"data"][:, :1024])
    np.testing.assert_array_equal(X[3, 2, 1, 5], d[b"data"][3, 2048 + 32 + 5])


def write_cifar_folder(folder, rng, n_per_batch=20):
    folder.mkdir()
    batches = {}
    for i in range(1, 6):
        batches[i] = cifar_batch(rng, n_per_batch, f"training batch {i} of 5")
        (folder / f"data_batch_{i}").write_bytes(py2_pickle(batches[i]))
    test = cifar_batch(rng, 10, "testing batch 1 of 1")
    (folder / "test_batch").write_bytes(py2_pickle(test))
    return batches, test


def test_load_cifar10_folder(tmp_path, rng):
    batches, test = write_cifar_folder(tmp_path / "cifar-10-batches-py", rng)
    ds = load_cifar10(tmp_path, val_size=30, normalize=False)
    assert ds.X_train.shape == (70, 3, 32, 32) and ds.X_val.shape[0] == 30 and ds.X_test.shape[0] == 10
    assert ds.classes == CIFAR10_CLASSES
    all_train = np.concatenate([batches[i][b"data"] for i in range(1, 6)]).reshape(-1, 3, 32, 32)
    merged = np.concatenate([ds.X_train, ds.X_val]).astype(np.uint8)
    assert sorted(map(bytes, merged.reshape(100, -1))) == sorted(map(bytes, all_train.reshape(100, -1)))
    np.testing.assert_array_equal(ds.X_test, test[b"data"].reshape(-1, 3, 32, 32).astype(np.float32))
    norm = load_cifar10(tmp_path / "cifar-10-batches-py", val_size=0, train_batches=(1, 2))
    assert norm.X_train.shape[0] == 40 and norm.X_val.shape[0] == 0
    np.testing.assert_allclose(norm.X_train.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    with pytest.raises(ParameterError, match="'train_batches' parameter"):
        load_cifar10(tmp_path, train_batches=(0,))


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (str(self.target),))


def test_restricted_unpickler_refuses_other_globals(tmp_path, rng):
    target = tmp_path / "pwned"
    d = cifar_batch(rng, 2)
    d[b"extra"] = _Evil(target)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(d, protocol=2))
    with pytest.raises(DataError, match=r"refusing to unpickle the global (posix|os|nt)\.mkdir"):
        read_cifar10_batch(path)
    assert not target.exists()
    obj = {b"data": np.array([object()] * 2, dtype=object), b"labels": [0, 1]}
    path.write_bytes(pickle.dumps(obj, protocol=2))
    with pytest.raises(DataError, match=r"numpy.dtype\('O'|refusing to unpickle"):
        read_cifar10_batch(path)


def test_malformed_cifar_batches(tmp_path, rng):
    path = tmp_path / "b"
    with pytest.raises(DataError, match="no such file"):
        read_cifar10_batch(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2))
    with pytest.raises(DataError, match=r"needs the keys b'data' and b'labels'"):
        read_cifar10_batch(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DataError, match=r"must be uint8 of shape \(n, 3072\)"):
        read_cifar10_batch(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, protocol=2))
    with pytest.raises(DataError, match="labels must lie in 0..9"):
        read_cifar10_batch(path)
    path.write_bytes(py2_pickle(cifar_batch(rng, 3))[:200])
    with pytest.raises(DataError, match="not a readable pickle"):
        read_cifar10_batch(path)
    with pytest.raises(DataError, match="CIFAR-10 folder not found"):
        load_cifar10(tmp_path / "nowhere")
