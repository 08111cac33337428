"""The one place where the Numba backend builds its ``njit`` decorator, and its disk cache.

Compiled kernels are cached on disk by default, in a per-user folder
(:func:`archmodel.config.numba_cache_root`) and never next to the sources, so a read-only or
shared install works. ``ARCHMODEL_NUMBA_CACHE=0`` turns the cache off and
``ARCHMODEL_NUMBA_CACHE_DIR`` moves it; both are read once, when this module is imported.

Safety of the cache:

* *Upgrades.* Kernels are cached under a subfolder named by the archmodel, Numba and Python
  versions, the CPU, and a hash of the backend sources (``backends/numba`` and
  ``backends/numpy``, whose PIM code is compiled too). Numba's own index checks only the
  source file of each function, not the files of the kernels it calls; the source hash makes
  an edit or upgrade of any kernel file start a fresh folder. Old folders are never read again
  and can be deleted at any time.
* *Concurrent processes* (Dask workers, pytest-xdist). Every file is written to a temporary
  name and renamed into place (Numba's writer). Unlike Numba's numbered data files, each data
  file here is named after a hash of its index key and is written before the index entry that
  points to it, and it carries that hash, checked on load; so two processes that compile
  different signatures at once never make an entry point to another signature's code; the
  index is updated under a file lock (``fcntl``/``msvcrt``), so no entry is lost either.
* *Failures.* An unwritable folder, a full disk or an unreadable cache file never fails a
  computation: the cache is skipped, with one logged warning.

The cache is attached per dispatcher (a locator of our own), so Numba's global settings and
other libraries' caches are left alone.

``ARCHMODEL_REPORT_COMPILE=1`` reports the time this process spent compiling (Numba's
``numba:compile`` events, outermost only) and loading kernels from the cache, as one line on
stderr at exit (``ARCHMODEL_REPORT_COMPILE=path.json`` writes a JSON document there instead).
It is a diagnostic switch for benchmarks, written when the interpreter exits.
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numba
from numba.core import caching as _caching
from numba.core import event as _event

from archmodel import _version
from archmodel.config import numba_cache_enabled, numba_cache_root

logger = logging.getLogger(__name__)

ENV_REPORT_COMPILE = "ARCHMODEL_REPORT_COMPILE"

#: every dispatcher built by :func:`njit` (for the compile report and the tests)
DISPATCHERS: list[Any] = []

_warned: set[str] = set()


def _warn_once(topic: str, message: str, *args: Any) -> None:
    if topic not in _warned:
        _warned.add(topic)
        logger.warning(message, *args)


# --------------------------------------------------------------------------- cache folder


def _cpu_tag() -> str:
    """CPU name as Numba targets it, plus a short hash of the host's CPU features."""
    from llvmlite import binding as llvm

    name = numba.config.CPU_NAME or llvm.get_host_cpu_name()
    features = numba.config.CPU_FEATURES
    if features is None:
        try:
            features = llvm.get_host_cpu_features().flatten()
        except RuntimeError:  # pragma: no cover - LLVM cannot tell on some hosts
            features = ""
    return f"{platform.machine() or 'cpu'}-{name}-{hashlib.sha256(features.encode()).hexdigest()[:8]}"


def _source_digest() -> str:
    """Hash of every kernel source file of the Numba and NumPy backends (names and bytes)."""
    backends = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for folder in ("numba", "numpy"):
        for path in sorted((backends / folder).glob("*.py")):
            digest.update(f"{folder}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cache_key() -> str:
    """Name of the versioned cache subfolder for this install, interpreter and CPU.

    Examples: ``am0.1.0-nb0.68.1-cp311-x86_64-znver3-1a2b3c4d-src0123456789ab``.
    """
    impl = sys.implementation.name[:2] if sys.implementation.name != "cpython" else "cp"
    py = f"{impl}{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"
    return f"am{_version.__version__}-nb{numba.__version__}-{py}-{_cpu_tag()}-src{_source_digest()}"


def _writable_folder(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as exc:
        _warn_once("folder", "Numba kernel cache disabled: cannot write to %s (%s). Kernels compile "
                   "in every process; set ARCHMODEL_NUMBA_CACHE_DIR to a writable folder or "
                   "ARCHMODEL_NUMBA_CACHE=0 to silence this.", path, exc)
        return False
    return True


# the Numba classes the cache extends (numba.core.caching, stable since Numba 0.4x)
try:
    _LocatorBase = getattr(_caching, "UserProvidedCacheLocator", None) or _caching._UserProvidedCacheLocator
    _ImplBase = _caching.CompileResultCacheImpl
    _IndexBase = _caching.IndexDataCacheFile
    _CacheBase = _caching.FunctionCache
    _CACHE_API = True
except AttributeError:  # pragma: no cover - a Numba whose caching module was reorganised
    _LocatorBase = _ImplBase = _IndexBase = _CacheBase = object
    _CACHE_API = False


def _resolve_cache_dir() -> Path | None:
    if not numba_cache_enabled():
        return None
    if not _CACHE_API:  # pragma: no cover
        _warn_once("folder", "Numba kernel cache disabled: Numba %s's caching module is not the "
                   "one archmodel extends.", numba.__version__)
        return None
    try:
        path = numba_cache_root() / cache_key()
    except Exception as exc:  # noqa: BLE001 - a cache problem must never break the backend
        _warn_once("folder", "Numba kernel cache disabled: cannot name its folder (%s).", exc)
        return None
    return path if _writable_folder(path) else None


#: the folder kernels are cached in, or None when the cache is off or unusable
CACHE_DIR: Path | None = _resolve_cache_dir()


def cache_dir() -> Path | None:
    """The folder this process caches compiled kernels in (None: no disk cache)."""
    return CACHE_DIR


# --------------------------------------------------------------------------- numba cache classes


class _ArchmodelLocator(_LocatorBase):
    """Numba's user-folder locator, pointed at :data:`CACHE_DIR` instead of NUMBA_CACHE_DIR."""

    def __init__(self, py_func: Callable, py_file: str) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(str(CACHE_DIR), self.get_suitable_cache_subpath(py_file))

    @classmethod
    def from_function(cls, py_func: Callable, py_file: str):
        if CACHE_DIR is None or not os.path.exists(py_file):
            return None
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()
        except OSError:
            return None
        return self


class _ArchmodelCacheImpl(_ImplBase):
    _locator_classes = [_ArchmodelLocator]


@contextlib.contextmanager
def _folder_lock(folder: str) -> Iterator[None]:
    """An exclusive advisory lock on ``folder/.lock`` (none where the file system has no locks)."""
    try:
        fh = open(os.path.join(folder, ".lock"), "a+b")
    except OSError:
        yield
        return
    with fh:
        try:
            if os.name == "nt":  # pragma: no cover - Windows
                import msvcrt

                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except OSError:  # e.g. a network file system without locks: Numba's atomic writes only
            pass
        yield  # the lock is released when the file is closed


def _key_hash(key: Any) -> str:
    # the key is (signature, codegen magic tuple, bytecode hashes): its repr is deterministic
    return hashlib.sha256(repr(key).encode()).hexdigest()[:24]


class _KeyedIndexDataFile(_IndexBase):
    """Numba's index + data files, with data files named by (and checked against) a key hash."""

    def save(self, key: Any, data: Any) -> None:
        tag = _key_hash(key)
        name = self._data_name_pattern.replace("{number:d}", tag)
        self._save_data(name, (tag, data))  # data first: an index entry never dangles
        # read-modify-write of the index under a lock, so concurrent savers lose no entry
        with _folder_lock(self._cache_path):
            overloads = self._load_index()
            if overloads.get(key) != name:
                overloads[key] = name
                self._save_index(overloads)

    def _load_index(self) -> dict:
        try:
            return super()._load_index()
        except Exception:  # noqa: BLE001 - a damaged index reads as empty and is rewritten
            return {}

    def load(self, key: Any) -> Any:
        name = self._load_index().get(key)
        if name is None:
            return None
        try:
            tag, data = self._load_data(name)
        except (OSError, ValueError, TypeError):
            return None
        return data if tag == _key_hash(key) else None


_cache_load_seconds = 0.0
_numba_init_seconds = 0.0


class _ArchmodelFunctionCache(_CacheBase):
    """Numba's function cache in archmodel's folder; I/O problems warn once and fall through."""

    _impl_class = _ArchmodelCacheImpl

    def __init__(self, py_func: Callable) -> None:
        super().__init__(py_func)
        old = self._cache_file
        self._cache_file = _KeyedIndexDataFile(
            cache_path=old._cache_path, filename_base=self._impl.filename_base,
            source_stamp=old._source_stamp)

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        global _cache_load_seconds, _numba_init_seconds
        t0 = time.perf_counter()
        # Numba initialises its target (all registered implementations) on first use, compile
        # or cache load alike: timed apart so the cache-load figure is the cache's own cost
        target_context.refresh()
        t1 = time.perf_counter()
        _numba_init_seconds += t1 - t0
        t0 = t1
        try:
            return super().load_overload(sig, target_context)
        except Exception as exc:  # noqa: BLE001 - a bad cache file means "compile", never a crash
            _warn_once("load", "Ignoring an unreadable Numba cache entry in %s (%s: %s); compiling.",
                       self.cache_path, type(exc).__name__, exc)
            return None
        finally:
            _cache_load_seconds += time.perf_counter() - t0

    def save_overload(self, sig: Any, data: Any) -> None:
        try:
            super().save_overload(sig, data)
        except Exception as exc:  # noqa: BLE001 - e.g. disk full, folder removed or read-only
            _warn_once("save", "Could not save a compiled kernel to the Numba cache %s (%s: %s).",
                       self.cache_path, type(exc).__name__, exc)


def _attach_cache(dispatcher: Any) -> None:
    try:
        cache = _ArchmodelFunctionCache(dispatcher.py_func)
    except Exception as exc:  # noqa: BLE001 - no cache for this kernel, never a failed import
        _warn_once("attach", "Numba kernel cache not used for %s (%s: %s).",
                   getattr(dispatcher, "__name__", dispatcher), type(exc).__name__, exc)
        return
    dispatcher._cache = cache  # what Dispatcher.enable_caching() does, with our cache class


# --------------------------------------------------------------------------- decorator


def njit(*args: Any, **kwargs: Any) -> Any:
    """``numba.njit`` with archmodel's defaults: disk cache (see above), ``nogil``, no fastmath.

    Used as ``@njit`` or ``@njit(option=...)``. ``cache=False`` opts one kernel out of the
    disk cache. fastmath stays off so the float64 kernels agree with the NumPy reference to
    1e-9.
    """
    use_cache = kwargs.pop("cache", True) and CACHE_DIR is not None
    kwargs.setdefault("nogil", True)

    def build(fn: Callable) -> Any:
        dispatcher = numba.njit(**kwargs)(fn)
        if use_cache:
            _attach_cache(dispatcher)
        DISPATCHERS.append(dispatcher)
        return dispatcher

    if len(args) == 1 and callable(args[0]):
        return build(args[0])
    if args:
        raise TypeError("archmodel's njit takes no signatures: kernels compile lazily on first call")
    return build


# --------------------------------------------------------------------------- compile report


class _CompileTimer(_event.Listener):
    """Sums the wall time of outermost ``numba:compile`` events (nested compiles counted once)."""

    def __init__(self) -> None:
        self.depth = 0
        self.seconds = 0.0
        self.outermost = 0
        self.compiles = 0
        self._t0 = 0.0

    def on_start(self, event: Any) -> None:
        self.compiles += 1
        if self.depth == 0:
            self._t0 = time.perf_counter()
        self.depth += 1

    def on_end(self, event: Any) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.outermost += 1
            self.seconds += time.perf_counter() - self._t0


def compile_report() -> dict[str, Any]:
    """Compile and cache figures of this process so far (needs ``ARCHMODEL_REPORT_COMPILE``)."""
    hits = sum(sum(d.stats.cache_hits.values()) for d in DISPATCHERS)
    misses = sum(sum(d.stats.cache_misses.values()) for d in DISPATCHERS)
    timer = _timer
    return {
        "compile_seconds": round(timer.seconds, 4) if timer else None,
        "compiles": timer.compiles if timer else None,
        "outermost_compiles": timer.outermost if timer else None,
        "cache_load_seconds": round(_cache_load_seconds, 4),
        "numba_init_seconds": round(_numba_init_seconds, 4),
        "cache_hits": hits,
        "cache_misses": misses,
        "cache_dir": str(CACHE_DIR) if CACHE_DIR is not None else None,
        "recompiled": sorted({f"{os.path.basename(d.py_func.__code__.co_filename)}:{d.__name__}"
                              for d in DISPATCHERS if sum(d.stats.cache_misses.values())}
                             if CACHE_DIR is not None else []),
    }


def _write_report(target: str) -> None:
    report = compile_report()
    if target.strip().lower() in {"1", "true", "yes", "on", "stderr"}:
        sys.stderr.write(
            f"archmodel: numba compile {report['compile_seconds']:.2f} s "
            f"({report['outermost_compiles']} kernels, {report['compiles']} functions), "
            f"cache load {report['cache_load_seconds']:.2f} s "
            f"(+ numba target init {report['numba_init_seconds']:.2f} s) "
            f"({report['cache_hits']} hits, {report['cache_misses']} misses), "
            f"cache folder {report['cache_dir']}\n")
    else:
        with open(target, "w") as fh:
            json.dump(report, fh, indent=1)


_timer: _CompileTimer | None = None
_report_target = os.environ.get(ENV_REPORT_COMPILE, "").strip()
if _report_target and _report_target.lower() not in {"0", "false", "no", "off"}:
    _timer = _CompileTimer()
    _event.register("numba:compile", _timer)
    atexit.register(_write_report, _report_target)
