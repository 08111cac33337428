"""The on-disk data set cache: same data as the source, keyed by the source file, safe to lose."""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from archmodel.data import clear_cache, disk_cache, load_dataset
from conftest import require_data


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    """A private cache folder and a private copy of the nb201-analog pickle (its own key)."""
    src = require_data("analog-nasbench", "data.anb")
    copy = tmp_path / "src" / "data.anb"
    copy.parent.mkdir()
    shutil.copy2(src, copy)
    folder = tmp_path / "cache"
    monkeypatch.setenv("ARCHMODEL_DATA_CACHE_DIR", str(folder))
    monkeypatch.delenv("ARCHMODEL_DATA_CACHE", raising=False)
    clear_cache()
    yield copy, folder
    clear_cache()


def _same(a, b) -> None:
    assert a.name == b.name and a.space == b.space and a.default_target == b.default_target
    assert a.archs == b.archs
    assert list(a.metrics) == list(b.metrics) and list(a.low_fidelity) == list(b.low_fidelity)
    for k in a.metrics:
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k])
        assert not b.metrics[k].flags.writeable
    np.testing.assert_array_equal(a.ids, b.ids)
    assert a.info == b.info


def test_second_load_reads_the_entry_and_equals_the_source(cache_env):
    copy, folder = cache_env
    first = load_dataset("nb201-analog", path=copy)
    entries = list(folder.glob("nb201-analog-*.npz"))
    assert len(entries) == 1
    clear_cache()  # forget the in-process copy: the next load must come from the entry
    second = load_dataset("nb201-analog", path=copy)
    assert second is not first
    _same(first, second)
    uncached = load_dataset("nb201-analog", path=copy, cache=False)
    _same(uncached, second)
    assert disk_cache.read_entry(entries[0]) is not None


def test_a_fresh_process_loads_from_the_entry(cache_env):
    copy, folder = cache_env
    load_dataset("nb201-analog", path=copy)
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout); "
            f"from archmodel.data import load_dataset; ds = load_dataset('nb201-analog', path={str(copy)!r}); "
            "print(len(ds), ds.target('baseline_accuracy').max())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         check=True).stdout
    assert "from the data set cache" in out and "15625 94.0664" in out


def test_a_changed_source_gets_a_new_entry(cache_env):
    copy, folder = cache_env
    load_dataset("nb201-analog", path=copy)
    st = copy.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    clear_cache()
    load_dataset("nb201-analog", path=copy)
    assert len(list(folder.glob("nb201-analog-*.npz"))) == 2


def test_a_corrupt_entry_is_ignored_and_the_source_read(cache_env, caplog):
    copy, folder = cache_env
    first = load_dataset("nb201-analog", path=copy)
    (entry,) = folder.glob("nb201-analog-*.npz")
    entry.write_bytes(entry.read_bytes()[:1000])  # truncated
    clear_cache()
    with caplog.at_level(logging.WARNING, logger="archmodel.data.disk_cache"):
        again = load_dataset("nb201-analog", path=copy)
    assert "ignoring unreadable entry" in caplog.text
    _same(first, again)
    assert disk_cache.read_entry(entry) is not None  # rewritten whole


def test_switched_off_and_unwritable_folders_cost_nothing_but_speed(cache_env, monkeypatch, tmp_path):
    copy, folder = cache_env
    monkeypatch.setenv("ARCHMODEL_DATA_CACHE", "off")
    load_dataset("nb201-analog", path=copy)
    assert not folder.exists()
    monkeypatch.delenv("ARCHMODEL_DATA_CACHE")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ARCHMODEL_DATA_CACHE_DIR", str(blocker / "cache"))
    clear_cache()
    assert len(load_dataset("nb201-analog", path=copy)) == 15625


def test_the_key_covers_options_source_and_code():
    from pathlib import Path

    base = disk_cache.entry_path("zc/nb201", {"dataset": "cifar10"}, Path("/a/f.json"), (1, 2))
    assert base == disk_cache.entry_path("zc/nb201", {"dataset": "cifar10"}, Path("/a/f.json"), (1, 2))
    for other in (disk_cache.entry_path("zc/nb201", {"dataset": "cifar100"}, Path("/a/f.json"), (1, 2)),
                  disk_cache.entry_path("zc/nb201", {"dataset": "cifar10"}, Path("/b/f.json"), (1, 2)),
                  disk_cache.entry_path("zc/nb201", {"dataset": "cifar10"}, Path("/a/f.json"), (1, 3))):
        assert other != base
    disk_cache._code_digest.cache_clear()
    digest = disk_cache._code_digest()
    assert len(digest) == 64 and digest == disk_cache._code_digest()


def test_the_code_digest_covers_the_installed_space_specs(tmp_path, monkeypatch):
    from importlib import resources

    specs = resources.files("archmodel.specs").joinpath("spaces")
    copy = tmp_path / "spaces"
    copy.mkdir()
    for p in specs.iterdir():
        if p.name.endswith(".json"):
            (copy / p.name).write_bytes(p.read_bytes())
    real = resources.files
    monkeypatch.setattr(resources, "files", lambda pkg: tmp_path if pkg == "archmodel.specs" else real(pkg))
    disk_cache._code_digest.cache_clear()
    same = disk_cache._code_digest()
    (copy / "nb201.json").write_bytes((copy / "nb201.json").read_bytes() + b"\n")
    disk_cache._code_digest.cache_clear()
    edited = disk_cache._code_digest()
    monkeypatch.undo()
    disk_cache._code_digest.cache_clear()
    assert same == disk_cache._code_digest() and edited != same
