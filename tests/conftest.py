"""Shared fixtures.

Real benchmark data is found at ``<repo>/../shared/data`` or at ``$ARCHMODEL_DATA_DIR``.
Where it is absent, tests that need it skip with a visible reason, except under ``CI=true``,
where absence is a failure.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    env = os.environ.get("ARCHMODEL_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


def require_data(*relative: str) -> Path:
    """Return the path of a shared data file, skipping (or failing under CI) if absent."""
    path = _data_dir().joinpath(*relative)
    if not path.exists():
        msg = (f"real benchmark data not found: {path} "
               "(set ARCHMODEL_DATA_DIR or place shared/data beside the repository)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder (skips, or fails under CI, if it is absent)."""
    return require_data()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def _backend_params() -> list:
    from archmodel.backends import available_backends

    params = []
    for name in ("numpy", "numba"):
        marks = []
        if name not in available_backends():
            if os.environ.get("CI", "").lower() == "true":
                marks = []  # CI installs numba: a missing backend must fail there, not skip
            else:
                marks = [pytest.mark.skip(reason=f"backend {name!r} not installed")]
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(params=_backend_params())
def backend(request):
    """Every kernel test runs on each backend (minitorch style)."""
    from archmodel.backends import get_backend

    return get_backend(request.param)
