"""Numba's on-disk kernel cache: folder choice, switch, versioned key, failures, concurrency.

The cache settings are read when the Numba backend is imported, so everything that depends on
them runs in fresh subprocesses, each reporting what it did through
``ARCHMODEL_REPORT_COMPILE=<json file>`` (Numba's compile events and the dispatchers' cache
hit/miss counters).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archmodel import config

pytest.importorskip("numba")

# Small real kernels of the Numba backend, called with two signatures each; expected values by
# hand (sign) and from math (log-add-exp).
CHILD = """
import json, math, os, sys, time
from pathlib import Path
from archmodel.backends.numba import _jit, losses
barrier, n = Path(sys.argv[1]), int(sys.argv[3])
barrier.mkdir(exist_ok=True)
(barrier / str(os.getpid())).touch()
deadline = time.time() + 120
while len(list(barrier.iterdir())) < n and time.time() < deadline:  # compile at the same moment
    time.sleep(0.002)
order = sys.argv[2]
calls = {"f": lambda: (losses._sign(2.5), losses._logaddexp(0.5, 1.5)),
         "i": lambda: (losses._sign(-3), losses._logaddexp(1, 2))}
out = {}
for k in order:
    out[k] = calls[k]()
print(json.dumps({"values": out, "cache_dir": str(_jit.cache_dir()),
                  "paths": sorted({str(d.stats.cache_path) for d in (losses._sign, losses._logaddexp)})}))
"""

EXPECTED = {"f": [1.0, math.log(math.exp(0.5) + math.exp(1.5))],
            "i": [-1.0, math.log(math.exp(1) + math.exp(2))]}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARCHMODEL_NUMBA", "NUMBA_CACHE"))}
    env.update(extra)
    return env


def _start(env: dict[str, str], report: Path, order: str = "fi", barrier: Path | None = None,
           n: int = 1) -> subprocess.Popen:
    env = dict(env, ARCHMODEL_REPORT_COMPILE=str(report))
    barrier = barrier or report.with_suffix(".barrier")
    return subprocess.Popen([sys.executable, "-c", CHILD, str(barrier), order, str(n)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, report: Path) -> tuple[dict, dict, str]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    result = json.loads(out)
    for k, v in result["values"].items():
        assert v == pytest.approx(EXPECTED[k], rel=1e-12)
    return result, json.loads(report.read_text()), err


def _run(env: dict[str, str], report: Path, order: str = "fi") -> tuple[dict, dict, str]:
    return _finish(_start(env, report, order), report)


# --------------------------------------------------------------------------- folder selection


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("ARCHMODEL_NUMBA_CACHE", "ARCHMODEL_NUMBA_CACHE_DIR", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_default_folder_is_per_user_and_platform_specific(clean_env, tmp_path):
    clean_env.setenv("HOME", str(tmp_path))
    clean_env.setattr(sys, "platform", "linux")
    assert config.numba_cache_root() == tmp_path / ".cache" / "archmodel" / "numba"
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.numba_cache_root() == tmp_path / "xdg" / "archmodel" / "numba"
    clean_env.setenv("XDG_CACHE_HOME", "relative/path")  # the XDG spec says: ignore it
    assert config.numba_cache_root() == tmp_path / ".cache" / "archmodel" / "numba"
    clean_env.setattr(sys, "platform", "darwin")
    assert config.numba_cache_root() == tmp_path / "Library" / "Caches" / "archmodel" / "numba"
    clean_env.setattr(sys, "platform", "win32")
    clean_env.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    assert config.numba_cache_root() == tmp_path / "Local" / "archmodel" / "numba"


def test_env_overrides_the_folder(clean_env, tmp_path):
    clean_env.setenv("NUMBA_CACHE_DIR", str(tmp_path / "nb"))
    assert config.numba_cache_root() == tmp_path / "nb" / "archmodel"
    clean_env.setenv("ARCHMODEL_NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert config.numba_cache_root() == tmp_path / "mine"


@pytest.mark.parametrize("value, on", [(None, True), ("", True), ("1", True), ("yes", True), ("on", True),
                                       ("0", False), ("false", False), ("OFF", False), (" no ", False)])
def test_switch(clean_env, value, on):
    if value is not None:
        clean_env.setenv("ARCHMODEL_NUMBA_CACHE", value)
    assert config.numba_cache_enabled() is on


def test_cache_key_names_versions_python_and_cpu(monkeypatch):
    import numba

    from archmodel import _version
    from archmodel.backends.numba import _jit

    key = _jit.cache_key()
    assert f"am{_version.__version__}-" in key and f"-nb{numba.__version__}-" in key
    assert f"-cp{sys.version_info[0]}{sys.version_info[1]}" in key
    from llvmlite import binding

    assert binding.get_host_cpu_name() in key
    assert key == _jit.cache_key()  # deterministic
    monkeypatch.setattr(_version, "__version__", "99.0")
    assert _jit.cache_key() != key and "am99.0-" in _jit.cache_key()
    monkeypatch.setattr(numba, "__version__", "0.0.1")
    assert "-nb0.0.1-" in _jit.cache_key()
    if _jit.cache_dir() is not None:
        assert _jit.cache_dir().name == key


# --------------------------------------------------------------------------- subprocesses


def test_switch_off_compiles_without_touching_the_folder(tmp_path):
    folder = tmp_path / "cache"
    result, rep, err = _run(_env(tmp_path, ARCHMODEL_NUMBA_CACHE="0", ARCHMODEL_NUMBA_CACHE_DIR=str(folder)),
                            tmp_path / "r.json")
    assert result["cache_dir"] == "None" and result["paths"] == ["None"]
    assert rep["cache_misses"] >= 4 and rep["cache_hits"] == 0
    assert not folder.exists()
    assert "WARNING" not in err


def test_unwritable_folder_falls_back_with_one_warning(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")  # mkdir below a file fails, even for root
    result, rep, err = _run(_env(tmp_path, ARCHMODEL_NUMBA_CACHE_DIR=str(blocker / "cache")), tmp_path / "r.json")
    assert result["cache_dir"] == "None"
    assert rep["compile_seconds"] > 0
    assert err.count("Numba kernel cache disabled: cannot write to") == 1, err


def test_concurrent_compiles_then_load_without_compiling(tmp_path):
    """Four processes compile the same kernels (two signatures, in both orders) at the same moment
    into an empty folder; a fifth then loads all of them without compiling; damaged cache files
    make a sixth recompile, not fail."""
    for attempt in range(2):  # the shared checkout: a kernel file edited mid-test changes the folder
        folder = tmp_path / f"cache{attempt}"
        env = _env(tmp_path, ARCHMODEL_NUMBA_CACHE_DIR=str(folder))
        reports = [tmp_path / f"r{attempt}_{i}.json" for i in range(6)]
        barrier = tmp_path / f"barrier{attempt}"
        procs = [_start(env, reports[i], "fi" if i % 2 else "if", barrier, 4) for i in range(4)]
        first = [_finish(p, r) for p, r in zip(procs, reports)]
        dirs = {res["cache_dir"] for res, _, _ in first}
        assert all(rep["cache_misses"] >= 1 for _, rep, _ in first)
        result, rep, err = _run(env, reports[4])
        if len(dirs | {result["cache_dir"]}) > 1:
            continue
        assert Path(result["cache_dir"]).parent == folder
        assert all(p.startswith(str(folder)) for p in result["paths"])  # never next to the sources
        assert rep["compile_seconds"] == 0 and rep["outermost_compiles"] == 0
        assert rep["cache_misses"] == 0 and rep["cache_hits"] == 4  # 2 kernels x 2 signatures
        assert "WARNING" not in err
        files = list(folder.rglob("*.nb[ic]"))
        assert not list(folder.rglob("*.tmp.*"))  # no half-written file left behind
        for f in files:
            f.write_bytes(b"damaged")
        result, rep, err = _run(env, reports[5])
        assert rep["compile_seconds"] > 0 and rep["cache_hits"] == 0
        break
    else:
        pytest.fail("the kernel sources changed during both attempts")
