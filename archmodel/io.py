"""Safe file writing and the ``.npz`` + JSON-header persistence format.

Every file archmodel writes goes to a temporary file in the destination folder first and is
renamed into place only when complete, so a failed write never leaves a half-written output.

The ``.npz`` format: arrays saved with ``numpy.savez`` plus one extra entry ``__header__``, a
0-d unicode array holding a JSON document with at least ``format`` (a string naming the kind
of file) and ``format_version`` (an integer). Files are always read with
``allow_pickle=False``.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any, Iterator, Mapping

import numpy as np

from archmodel.errors import FormatError

HEADER_KEY = "__header__"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only on success.

    Parameters
    ----------
    path : path-like
        Destination.
    mode : {'w', 'wb'}
        Text or binary.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {folder}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_json_object(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """Read a JSON file that must hold one object (a user's spec file).

    Raises
    ------
    FileNotFoundError
        No such file (the message names ``what``).
    ParameterError
        Not valid JSON, or not an object.
    """
    from archmodel.errors import ParameterError

    text = os.fspath(path)
    if not os.path.exists(text):
        raise FileNotFoundError(f"no such {what} file: {text}")
    try:
        with open(text, encoding="utf-8") as fh:
            obj = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ParameterError(f"{what} {text} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ParameterError(f"{what} {text} must hold a JSON object, not {type(obj).__name__}.")
    return obj


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], header: Mapping[str, Any]) -> None:
    """Save ``arrays`` and a JSON ``header`` atomically to ``path`` (an ``.npz`` file).

    ``header`` must contain ``format`` and ``format_version``.
    """
    if "format" not in header or "format_version" not in header:
        raise ValueError("header needs 'format' and 'format_version'")
    if HEADER_KEY in arrays:
        raise ValueError(f"array name {HEADER_KEY!r} is reserved")
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in payload.items():
        if v.dtype == object:
            raise ValueError(f"array {k!r} has dtype object, which cannot be saved without pickle")
    payload[HEADER_KEY] = np.array(json.dumps(dict(header), sort_keys=True))
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **payload)


def load_npz(path: str | os.PathLike, *, expected_format: str,
             supported_versions: tuple[int, ...]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load an archmodel ``.npz`` file, checking its header.

    Raises
    ------
    FormatError
        If the file is not an archmodel file of ``expected_format``, is truncated or corrupt,
        or has a format version not in ``supported_versions`` (a newer one means "upgrade
        archmodel").
    FileNotFoundError
        If it does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if HEADER_KEY not in z.files:
                raise FormatError(f"{path}: not an archmodel file (no {HEADER_KEY} entry)")
            header = json.loads(str(z[HEADER_KEY]))
            arrays = {k: z[k] for k in z.files if k != HEADER_KEY}
    except FormatError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path}: cannot read archmodel file (truncated or corrupt?): {exc}") from None
    fmt = header.get("format")
    if fmt != expected_format:
        raise FormatError(f"{path}: file format is {fmt!r}, expected {expected_format!r}")
    version = header.get("format_version")
    if not isinstance(version, int) or version not in supported_versions:
        newest = max(supported_versions)
        hint = " (written by a newer archmodel: upgrade)" if isinstance(version, int) and version > newest else ""
        raise FormatError(
            f"{path}: {expected_format} format_version {version!r} is not supported; "
            f"supported: {list(supported_versions)}{hint}"
        )
    return arrays, header
