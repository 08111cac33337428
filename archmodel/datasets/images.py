"""Image classification data for training networks locally; nothing is downloaded.

* :func:`load_digits`: the 1,797 8x8 grey images of handwritten digits that ship inside
  scikit-learn (``sklearn.datasets.load_digits``; install with ``pip install
  'archmodel[data]'``), split into fixed stratified train/validation/test parts, optionally
  upsampled and normalised.
* :func:`load_cifar10`: the CIFAR-10 "python version" batch files (``data_batch_1`` ..
  ``data_batch_5``, ``test_batch``) for users who have them locally, read with a restricted
  unpickler (:func:`read_cifar10_batch`).

Images are channels-first ``(N, C, H, W)`` float arrays, labels int64 ``(N,)``.

The fixed digits split (defaults ``val_fraction=0.2, test_fraction=0.2, split_seed=0``):
per class, ``round(0.2 * n_class)`` images go to test and as many to validation, the rest to
train, chosen by a permutation from ``numpy.random.default_rng(split_seed)`` drawn class by
class in label order: 1,079 train, 359 validation, 359 test images.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from archmodel.errors import DataError, MissingDependencyError, ParameterError, check_choice, check_range

__all__ = [
    "ImageDataset",
    "load_digits",
    "load_cifar10",
    "read_cifar10_batch",
    "resize_images",
    "stratified_split",
    "CIFAR10_CLASSES",
]

CIFAR10_CLASSES: tuple[str, ...] = ("airplane", "automobile", "bird", "cat", "deer", "dog",
                                    "frog", "horse", "ship", "truck")


@dataclass
class ImageDataset:
    """Train/validation/test images of one data set.

    Attributes
    ----------
    name : str
    X_train, X_val, X_test : ndarray, shape (n, C, H, W), float
    y_train, y_val, y_test : ndarray of int64, shape (n,)
    classes : tuple of str
    mean, std : ndarray, shape (C,), or None
        The per-channel statistics (of the training split) that were subtracted / divided,
        or None when not normalised.
    info : dict
        How the data was made (split seed, sizes, resize, ...).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def input_size(self) -> int:
        return int(self.X_train.shape[2])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of ``'train'``, ``'val'`` or ``'test'``."""
        check_choice("ImageDataset.split", "name", name, ("train", "val", "test"))
        return getattr(self, f"X_{name}"), getattr(self, f"y_{name}")

    def __repr__(self) -> str:
        return (f"ImageDataset({self.name!r}, train={self.X_train.shape}, val={self.X_val.shape}, "
                f"test={self.X_test.shape}, classes={len(self.classes)})")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def stratified_split(labels: np.ndarray, fractions: Sequence[float], *,
                     rng: np.random.Generator | int | None = 0) -> list[np.ndarray]:
    """Split indices class by class.

    For each class (in increasing label order) the class's indices are permuted with ``rng``
    and the first ``round(f * n_class)`` go to part 1, the next to part 2, ..., for each
    fraction ``f`` in ``fractions``; the remainder forms the last part.

    Returns
    -------
    list of ndarray
        ``len(fractions) + 1`` sorted index arrays.
    """
    labels = np.asarray(labels)
    fr = [float(f) for f in fractions]
    if any(f < 0 for f in fr) or sum(fr) >= 1:
        raise ParameterError(f"split fractions must be >= 0 and sum to less than 1; got {fr}")
    gen = np.random.default_rng(rng)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fr) + 1)]
    for c in np.unique(labels):
        idx = gen.permutation(np.flatnonzero(labels == c))
        start = 0
        for p, f in enumerate(fr):
            k = int(round(f * idx.size))
            parts[p].append(idx[start:start + k])
            start += k
        parts[-1].append(idx[start:])
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts]


def resize_images(x: np.ndarray, size: int, method: str = "nearest") -> np.ndarray:
    """Resize ``(N, C, H, W)`` images to ``(N, C, size, size)``.

    Parameters
    ----------
    method : {'nearest', 'bilinear'}
        ``'nearest'``: source index ``floor(i * H / size)`` (PyTorch's ``nearest``; an
        integer upscale repeats pixels). ``'bilinear'``: half-pixel centres
        (``align_corners=False``), edge values clamped.
    """
    check_choice("resize_images", "method", method, ("nearest", "bilinear"))
    check_range("resize_images", "size", size, 1, integer=True)
    x = np.asarray(x)
    if x.ndim != 4:
        raise ParameterError(f"resize_images expects (N, C, H, W) images; got shape {x.shape}")
    h, w = x.shape[2], x.shape[3]
    if method == "nearest":
        ri = np.minimum((np.arange(size) * h) // size, h - 1)
        ci = np.minimum((np.arange(size) * w) // size, w - 1)
        return x[:, :, ri][:, :, :, ci]

    def axis(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = (np.arange(size) + 0.5) * (n_in / size) - 0.5
        src = np.clip(src, 0.0, n_in - 1)
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (src - i0)

    r0, r1, fr = axis(h)
    c0, c1, fc = axis(w)
    xf = x.astype(np.float64)
    top = xf[:, :, r0] * (1 - fr)[:, None] + xf[:, :, r1] * fr[:, None]
    out = top[:, :, :, c0] * (1 - fc) + top[:, :, :, c1] * fc
    return out.astype(x.dtype if x.dtype.kind == "f" else np.float64)


def _normalise(parts: list[np.ndarray], dtype: Any) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    train = parts[0]
    mean = train.mean(axis=(0, 2, 3), dtype=np.float64)
    std = train.std(axis=(0, 2, 3), dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    out = [((p - mean[None, :, None, None]) / std[None, :, None, None]).astype(dtype) for p in parts]
    return out, mean.astype(dtype), std.astype(dtype)


# --------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------
def load_digits(*, size: int = 8, interpolation: str = "nearest", channels: int = 1,
                normalize: bool = True, val_fraction: float = 0.2, test_fraction: float = 0.2,
                split_seed: int = 0, dtype: Any = np.float32) -> ImageDataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes) as an image data set.

    Pixel values 0..16 are scaled to [0, 1], resized, optionally repeated to 3 channels and
    normalised with the training split's per-channel mean and standard deviation.

    Parameters
    ----------
    size : int
        Output height and width (8 = original; e.g. 16 or 32 to upsample).
    interpolation : {'nearest', 'bilinear'}
        See :func:`resize_images`.
    channels : {1, 3}
        Grey (1) or the grey value repeated in 3 channels (for RGB networks).
    normalize : bool
    val_fraction, test_fraction : float
        Per-class fractions of the fixed stratified split (see the module docstring).
    split_seed : int
        Seed of the split (0 = the documented split).
    dtype : dtype

    Returns
    -------
    ImageDataset
        Default: 1,079 / 359 / 359 images of shape (1, 8, 8).

    Raises
    ------
    MissingDependencyError
        scikit-learn is not installed (extra ``data``).
    """
    check_range("load_digits", "size", size, 1, integer=True)
    check_choice("load_digits", "interpolation", interpolation, ("nearest", "bilinear"))
    check_choice("load_digits", "channels", channels, (1, 3))
    check_range("load_digits", "val_fraction", val_fraction, 0.0, 1.0, high_inclusive=False)
    check_range("load_digits", "test_fraction", test_fraction, 0.0, 1.0, high_inclusive=False)
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError:
        raise MissingDependencyError(
            "load_digits needs scikit-learn, which is not installed: pip install 'archmodel[data]' "
            "(or pip install scikit-learn)") from None
    bunch = _sk_load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)[:, None] / 16.0      # (1797, 1, 8, 8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    if size != images.shape[-1]:
        images = resize_images(images, size, interpolation)
    if channels == 3:
        images = np.repeat(images, 3, axis=1)
    test_idx, val_idx, train_idx = stratified_split(labels, (test_fraction, val_fraction),
                                                    rng=split_seed)
    parts = [images[train_idx], images[val_idx], images[test_idx]]
    mean = std = None
    if normalize:
        parts, mean, std = _normalise(parts, dtype)
    else:
        parts = [p.astype(dtype) for p in parts]
    return ImageDataset(
        name="digits", X_train=parts[0], y_train=labels[train_idx], X_val=parts[1],
        y_val=labels[val_idx], X_test=parts[2], y_test=labels[test_idx],
        classes=tuple(str(i) for i in range(10)), mean=mean, std=std,
        info={"source": "sklearn.datasets.load_digits", "size": size,
              "interpolation": interpolation, "channels": channels, "split_seed": split_seed,
              "val_fraction": val_fraction, "test_fraction": test_fraction,
              "n_train": int(train_idx.size), "n_val": int(val_idx.size),
              "n_test": int(test_idx.size)})


# --------------------------------------------------------------------------------------------
# CIFAR-10 python batches
# --------------------------------------------------------------------------------------------
def _numpy_attr(*candidates: tuple[str, str]) -> Any:
    import importlib

    for module, name in candidates:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"none of {candidates} found")  # pragma: no cover


def _as_text(v: Any) -> Any:
    return v.decode("ascii") if isinstance(v, bytes) else v


def _safe_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    # Python 2 pickles (loaded with encoding="bytes") give the type code as bytes
    from archmodel.data.unpickle import _safe_dtype as numeric_dtype

    return numeric_dtype(_as_text(spec), align, copy)


def _safe_reconstruct(subtype: Any, shape: Any, code: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise DataError(f"refusing to reconstruct an array of type {subtype!r}: only numpy.ndarray is admitted")
    if not isinstance(shape, tuple) or not all(isinstance(s, int) for s in shape):
        raise DataError(f"malformed pickled array shape {shape!r}")
    fn = _numpy_attr(("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"))
    return fn(np.ndarray, shape, code)


def _safe_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    from archmodel.data.unpickle import _NUMERIC_KINDS

    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS:
        raise DataError(f"refusing to unpickle an array of dtype {dtype!r}: only numeric dtypes are admitted")
    if not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)):
        raise DataError(f"malformed pickled array buffer of type {type(buf).__name__}")
    order = _as_text(order)
    if order not in ("C", "F"):
        raise DataError(f"malformed pickled array order {order!r}")
    arr = np.frombuffer(buf, dtype=dtype)
    return arr.reshape(shape, order=order).copy(order=order)


def _latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # How Python 3 writes ``bytes`` in pickle protocols 0-2: ``_codecs.encode(str, 'latin1')``.
    if not isinstance(text, str) or encoding != "latin1":
        raise DataError("refusing to unpickle _codecs.encode other than (str, 'latin1') for bytes")
    return text.encode("latin1")


def _safe_bytes(*args: Any) -> bytes:
    if args and not isinstance(args[0], (bytes, bytearray)):
        raise DataError("refusing to unpickle bytes(...) of a non-bytes argument")
    return bytes(*args[:1])


#: What a CIFAR-10 python batch may reference: numpy array reconstruction (numpy 1 and 2
#: module names; protocol 5's ``_frombuffer``), numeric dtypes, and the two ways Python 3
#: pickles ``bytes`` at protocols <= 2. dict, list, str, bytes and int need no global.
CIFAR_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _safe_dtype,
    ("numpy.core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _safe_frombuffer,
    ("_codecs", "encode"): _latin1_encode,
    ("builtins", "bytes"): _safe_bytes,
    ("__builtin__", "bytes"): _safe_bytes,
}


def _unpickle(path: Path) -> Any:
    """Read one batch file through archmodel's restricted unpickler (Python 2 strings as bytes)."""
    from archmodel.data.unpickle import restricted_load

    return restricted_load(path, CIFAR_GLOBALS, encoding="bytes")


def _get(d: dict, key: str) -> Any:
    if key.encode() in d:
        return d[key.encode()]
    return d.get(key)


def read_cifar10_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 "python version" batch file.

    The file is a pickled dict with ``b'data'`` (uint8, shape (n, 3072): 1024 red, then
    green, then blue values of a 32x32 image, row-major) and ``b'labels'`` (n ints in 0..9);
    other keys are ignored. It is read with a restricted unpickler (:data:`CIFAR_GLOBALS`).

    Returns
    -------
    X : ndarray of uint8, shape (n, 3, 32, 32)
    y : ndarray of int64, shape (n,)

    Raises
    ------
    DataError
        Missing or unreadable file, a refused global, or wrong contents.
    """
    path = Path(path)
    obj = _unpickle(path)
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    data = _get(obj, "data")
    labels = _get(obj, "labels")
    if data is None or labels is None:
        raise DataError(f"{path}: a CIFAR-10 batch needs the keys b'data' and b'labels'; "
                        f"found {sorted(map(repr, obj))}")
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: b'data' must be uint8 of shape (n, 3072); got {data.dtype} {data.shape}")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: b'labels' must be a list of integers") from None
    if y.shape != (data.shape[0],):
        raise DataError(f"{path}: {data.shape[0]} images but labels of shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{path}: labels must lie in 0..9; got [{y.min()}, {y.max()}]")
    return data.reshape(-1, 3, 32, 32), y


def _cifar_root(root: Path) -> Path:
    if (root / "data_batch_1").exists() or (root / "test_batch").exists():
        return root
    sub = root / "cifar-10-batches-py"
    return sub if sub.is_dir() else root


def load_cifar10(root: str | os.PathLike, *, val_size: int = 5000, normalize: bool = True,
                 split_seed: int = 0, train_batches: Sequence[int] = (1, 2, 3, 4, 5),
                 dtype: Any = np.float32) -> ImageDataset:
    """CIFAR-10 from its local "python version" batch files (never downloaded).

    Parameters
    ----------
    root : path
        Folder with ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` (or the folder
        holding ``cifar-10-batches-py/``).
    val_size : int
        Images taken from the training batches for validation (stratified, ``split_seed``;
        per class ``round(val_size / n_train * n_class)``); 0 for none.
    normalize : bool
        Scale to [0, 1] and standardise per channel with the training split's statistics.
    split_seed : int
    train_batches : sequence of int
        Which ``data_batch_<i>`` files to read.
    dtype : dtype

    Returns
    -------
    ImageDataset
        Images (3, 32, 32); class names from :data:`CIFAR10_CLASSES`.

    Raises
    ------
    DataError
        Missing or malformed files (see :func:`read_cifar10_batch`).
    """
    root = _cifar_root(Path(root))
    if not root.is_dir():
        raise DataError(f"CIFAR-10 folder not found: {root}")
    batches = list(train_batches)
    if not batches or any(b not in (1, 2, 3, 4, 5) for b in batches):
        raise ParameterError(f"The 'train_batches' parameter of load_cifar10 must be a non-empty "
                             f"subset of [1, 2, 3, 4, 5]. Got {batches!r} instead.")
    xs, ys = [], []
    for b in batches:
        x, y = read_cifar10_batch(root / f"data_batch_{b}")
        xs.append(x)
        ys.append(y)
    X_all = np.concatenate(xs)
    y_all = np.concatenate(ys)
    X_test, y_test = read_cifar10_batch(root / "test_batch")
    check_range("load_cifar10", "val_size", val_size, 0, X_all.shape[0] - 1, integer=True)
    if val_size:
        val_idx, train_idx = stratified_split(y_all, (val_size / X_all.shape[0],), rng=split_seed)
    else:
        train_idx, val_idx = np.arange(X_all.shape[0]), np.zeros(0, np.int64)
    parts = [X_all[train_idx], X_all[val_idx], X_test]
    mean = std = None
    if normalize:
        parts, mean, std = _normalise([p.astype(np.float32) / np.float32(255.0) for p in parts], dtype)
    else:
        parts = [p.astype(dtype) for p in parts]
    return ImageDataset(
        name="cifar10", X_train=parts[0], y_train=y_all[train_idx], X_val=parts[1],
        y_val=y_all[val_idx], X_test=parts[2], y_test=y_test, classes=CIFAR10_CLASSES,
        mean=mean, std=std,
        info={"root": str(root), "train_batches": batches, "val_size": val_size,
              "split_seed": split_seed, "n_train": int(train_idx.size),
              "n_val": int(val_idx.size), "n_test": int(y_test.size)})
