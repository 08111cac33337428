"""Package-level contracts: light import, no eager optional imports, backends, layout."""
from __future__ import annotations

import subprocess
import sys

import pytest

from archmodel.errors import ParameterError


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_is_light_and_fast():
    code = (
        "import time, sys; t = time.perf_counter(); import archmodel; dt = time.perf_counter() - t; "
        "heavy = [m for m in ('numba', 'onnx', 'onnxruntime', 'matplotlib', 'scipy', 'dask') if m in sys.modules]; "
        "print(dt); print(','.join(heavy))"
    )
    best = min(float(_run(code).stdout.split()[0]) for _ in range(3))
    out = _run(code).stdout.splitlines()
    assert out[1:] in ([], [""]), f"heavy modules imported by 'import archmodel': {out[1:]}"
    assert best < 0.3, f"import archmodel took {best:.3f} s"


def test_import_works_without_numba():
    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import archmodel\n"
        "from archmodel.backends import get_backend\n"
        "print(get_backend('numpy').name)\n"
        "try:\n    get_backend('numba')\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    )
    r = _run(code)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "numpy"
    assert lines[1].startswith("MissingDependencyError") and "archmodel[numba]" in lines[1]


def test_no_top_level_backends_or_cli_package_installed():
    # run from a neutral folder so the repository root is not on sys.path
    r = subprocess.run([sys.executable, "-c", "import importlib.util as u; print(u.find_spec('backends') is None, u.find_spec('cli') is None)"],
                       capture_output=True, text=True, cwd="/", timeout=60)
    assert r.stdout.split() == ["True", "True"]


def test_backend_resolution_order(monkeypatch):
    from archmodel import config
    from archmodel.backends import get_backend

    monkeypatch.setenv("ARCHMODEL_BACKEND", "numpy")
    assert get_backend().name == "numpy"
    with config.use_backend("numpy"):
        assert get_backend().name == "numpy"
    assert get_backend("numpy").name == "numpy"
    monkeypatch.setenv("ARCHMODEL_BACKEND", "cuda")
    with pytest.raises(ParameterError, match=r"Unknown backend 'cuda'.*\['numba', 'numpy'\]"):
        get_backend()
    with pytest.raises(ParameterError, match=r"Unknown backend 'gpu'"):
        with config.use_backend("gpu"):
            pass


def test_unknown_kernel_family():
    from archmodel.backends import get_backend

    with pytest.raises(AttributeError, match=r"no kernel family 'nosuch'"):
        get_backend("numpy").nosuch


def test_specs_are_packaged():
    from archmodel.specs import load_spec, spec_names

    assert "nb201" in spec_names("spaces")
    assert load_spec("spaces", "nb201")["format_version"] == 1
    with pytest.raises(ParameterError, match=r"Unknown spaces spec 'zzz'"):
        load_spec("spaces", "zzz")


def test_python_dash_m_works():
    r = subprocess.run([sys.executable, "-m", "archmodel", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "archmodel, version" in r.stdout
