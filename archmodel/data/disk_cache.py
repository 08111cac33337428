"""On-disk cache of parsed benchmark data sets.

Reading a benchmark file is slow where its format is (``nb201-analog``: a restricted unpickle
of 15,625 records and 15,625 parsed architectures, ~1.4 s), and every CLI command reads one.
:func:`archmodel.data.load_dataset` therefore keeps what it parsed as an archmodel ``.npz``
(``allow_pickle=False``, JSON header, format version) in the per-user cache folder and reads
that on the next run (a few tens of milliseconds).

Safety
------
* The key hashes the data set name and options, the source file's absolute path, size and
  modification time, the archmodel version and the source of the code that parses data files
  (this package and the space specs), so an edited data file or an upgraded (or edited)
  archmodel never reads a stale entry.
* Entries are written to a temporary file and renamed (:func:`archmodel.io.save_npz`): a
  concurrent reader sees a whole entry or none; two writers write the same bytes.
* An unreadable, truncated or foreign entry is ignored (logged) and the source is read again;
  a folder that cannot be written (read-only install, full disk) only costs the speed-up.

``ARCHMODEL_DATA_CACHE=0`` (or ``false``/``no``/``off``) turns the cache off;
``ARCHMODEL_DATA_CACHE_DIR`` moves it (default: ``<user cache>/archmodel/datasets``, next to the
kernel cache of :func:`archmodel.config.numba_cache_root`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from archmodel.errors import FormatError

log = logging.getLogger(__name__)

__all__ = ["cache_enabled", "cache_dir", "entry_path", "read_entry", "write_entry"]

ENV_DATA_CACHE = "ARCHMODEL_DATA_CACHE"
ENV_DATA_CACHE_DIR = "ARCHMODEL_DATA_CACHE_DIR"
FORMAT = "archmodel.dataset_cache"
FORMAT_VERSION = 1


def cache_enabled() -> bool:
    """Whether :func:`archmodel.data.load_dataset` uses the on-disk cache (default on)."""
    from archmodel.config import env_switch_on

    return env_switch_on(ENV_DATA_CACHE)


def cache_dir() -> Path:
    """``ARCHMODEL_DATA_CACHE_DIR``, else ``<per-user cache folder>/archmodel/datasets``."""
    from archmodel.config import user_cache_home

    explicit = os.environ.get(ENV_DATA_CACHE_DIR, "").strip()
    if explicit:
        return Path(explicit).expanduser().absolute()
    return (user_cache_home() / "archmodel" / "datasets").absolute()


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """SHA-256 of the archmodel version and of the code and specs that parse data files."""
    from archmodel import __version__

    h = hashlib.sha256(f"{FORMAT}:{FORMAT_VERSION}:{__version__}".encode())
    from importlib import resources

    root = Path(__file__).resolve().parent
    files = sorted(root.glob("*.py")) + sorted((root.parent / "spaces").glob("*.py"))
    # the space specs wherever the install put them (specs/ is mapped to archmodel.specs)
    specs = resources.files("archmodel.specs").joinpath("spaces")
    files += sorted((p for p in specs.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def entry_path(name: str, options: Mapping[str, Any], source: Path, stamp: tuple[int, int]) -> Path:
    """Where the entry of one data set read from ``source`` lives (it may not exist)."""
    key = json.dumps([name, sorted((str(k), str(v)) for k, v in options.items()), str(source),
                      list(stamp), _code_digest()])
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return cache_dir() / f"{safe}-{digest}.npz"


def write_entry(path: Path, ds: Any) -> None:
    """Write data set ``ds`` as a cache entry (silently skipped when it cannot be written)."""
    from archmodel.io import save_npz

    lengths = np.array([len(a.seq) for a in ds.archs], dtype=np.int64)
    arrays: dict[str, np.ndarray] = {
        "seq_flat": np.array([v for a in ds.archs for v in a.seq], dtype=np.int64),
        "seq_len": lengths, "ids": np.asarray(ds.ids)}
    for k, v in ds.metrics.items():
        arrays[f"metric:{k}"] = v
    for k, v in ds.low_fidelity.items():
        arrays[f"lowfi:{k}"] = v
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": ds.name, "space": ds.space,
              "info": ds.info, "default_target": ds.default_target,
              "metrics": list(ds.metrics), "low_fidelity": list(ds.low_fidelity)}
    try:
        json.dumps(header)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_npz(path, arrays, header)
    except (OSError, TypeError, ValueError) as exc:  # read-only folder, full disk, odd info
        log.info("data set cache: not written (%s): %s", path, exc)


def read_entry(path: Path) -> Any:
    """The :class:`~archmodel.data.Dataset` of a cache entry, or None (absent or unreadable)."""
    from archmodel.arch import Arch
    from archmodel.data.dataset import Dataset
    from archmodel.io import load_npz

    if not path.is_file():
        return None
    try:
        arrays, header = load_npz(path, expected_format=FORMAT, supported_versions=(FORMAT_VERSION,))
        flat, lengths = arrays["seq_flat"], arrays["seq_len"]
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        if bounds[-1] != flat.size:
            raise FormatError("sequence lengths do not add up")
        space = header["space"]
        values = flat.tolist()
        archs = [Arch(space, tuple(values[bounds[i]:bounds[i + 1]])) for i in range(lengths.size)]
        return Dataset(header["name"], space, archs,
                       {k: arrays[f"metric:{k}"] for k in header["metrics"]},
                       low_fidelity={k: arrays[f"lowfi:{k}"] for k in header["low_fidelity"]},
                       info=header["info"], ids=arrays["ids"], default_target=header["default_target"])
    except (FormatError, KeyError, TypeError, ValueError, OSError) as exc:
        log.warning("data set cache: ignoring unreadable entry %s: %s", path, exc)
        return None
