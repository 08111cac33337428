"""Shared fixtures and helpers.

Real benchmark data is found at ``<repo>/../shared/data`` or at ``$ARCHMODEL_DATA_DIR``.
Optional dependencies (the extras ``numba``, ``onnx``, ``data``, ``dask``) are asked for with
:func:`require_module`. Where data or an extra is absent, the test skips with a visible
reason, except under CI (``CI=true`` or ``CI=1``, any case), which installs every extra the
README's test command names: there absence is a failure.

The second half holds the floating-point bounds the export tests assert (what float32
rounding can and cannot change), so that no test compares floats bit for bit across two
implementations, graphs or batch sizes.
"""
from __future__ import annotations

import contextlib
import importlib
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


# ============================================================================ environment
def under_ci() -> bool:
    """True if ``$CI`` is ``true`` or ``1`` (any case, surrounding blanks ignored)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _skip_or_fail(msg: str) -> None:
    if under_ci():
        pytest.fail(f"{msg} (required under CI=$CI)", pytrace=False)
    pytest.skip(msg, allow_module_level=True)


def require_module(name: str, extra: str) -> ModuleType:
    """Import and return the optional dependency ``name`` (e.g. ``"onnxruntime"``,
    ``"sklearn.datasets"``) of archmodel's extra ``extra``.

    If it is not installed the calling test (or module, at module level) skips with a reason
    naming the extra, or fails under CI. Only "not installed" skips: a module that is found
    but fails to import (a broken installation, a wrong numpy) raises its error. archmodel's
    own modules are never optional: ask for them with a plain import.
    """
    if name == "archmodel" or name.startswith(("archmodel.", "backends", "cli")):
        raise ValueError(f"require_module is for third-party extras, not archmodel's own {name!r}: "
                         "import it directly (a failing import is an error, never a skip)")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        parts = name.split(".")
        missing_is_ours = exc.name is not None and exc.name in {".".join(parts[:k]) for k in range(1, len(parts) + 1)}
        if not missing_is_ours:
            raise  # found, but one of its own imports is missing: a broken installation
        _skip_or_fail(f"{name} is not installed (pip install 'archmodel[{extra}]')")
        raise AssertionError("unreachable")  # pragma: no cover - skip/fail raise


def _data_dir() -> Path:
    env = os.environ.get("ARCHMODEL_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


def require_data(*relative: str) -> Path:
    """Return the path of a shared data file, skipping (or failing under CI) if absent."""
    path = _data_dir().joinpath(*relative)
    if not path.exists():
        _skip_or_fail(f"real benchmark data not found: {path} "
                      "(set ARCHMODEL_DATA_DIR or place shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder (skips, or fails under CI, if it is absent)."""
    return require_data()


@pytest.fixture
def numba_module() -> ModuleType:
    """Numba (extra 'numba'): skips without it, fails under CI."""
    return require_module("numba", "numba")


@contextlib.contextmanager
def two_worker_client():
    """A Dask client on a 2-worker, 1-thread-each process ``LocalCluster`` of this machine."""
    distributed = require_module("distributed", "dask")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    c = distributed.Client(cluster)
    try:
        c.wait_for_workers(2, timeout=60)
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def _backend_params() -> list:
    from archmodel.backends import available_backends

    params = []
    for name in ("numpy", "numba"):
        marks = []
        if name not in available_backends() and not under_ci():
            # CI installs numba: there a missing backend fails (get_backend raises), never skips
            marks = [pytest.mark.skip(reason=f"backend {name!r} not installed (pip install 'archmodel[{name}]')")]
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(params=_backend_params())
def backend(request):
    """Every kernel test runs on each backend (minitorch style)."""
    from archmodel.backends import get_backend

    return get_backend(request.param)


# ============================================================================ float32 bounds
#: unit roundoff of float32 (half its machine epsilon, 2**-24)
U32 = float(np.finfo(np.float32).eps) / 2

#: Two float32 implementations of one scoring function (NumPy/OpenBLAS, onnxruntime/MLAS,
#: another graph, another batch size, AVX2 or AVX-512, FMA or not) round differently, and
#: neither is "the" answer, so scores are compared within a budget, never bit for bit. A
#: float32 reduction of length n is within n * u of its exact value, relative to the sum of
#: its terms' magnitudes (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed.,
#: eq. 3.5); summed over a GATES score's few layers that worst case is far above what is seen,
#: since rounding errors do not all add up with one sign. The budget is 2**7 = 128 float32 unit
#: roundoffs of the score scale (max |score|, 7.6e-6 relative): >= 10x the largest difference
#: measured (11 u, a fresh paper-sized GATES on all NB201 cells, whose scores crowd into 1.3e-4
#: of the scale; 5 u trained; AMD EPYC AVX2, OpenBLAS 0.3.31, onnxruntime 1.32, 2026-12-02),
#: so a different kernel, blocking or vector width has room, and 100x below what a real
#: defect moves a score by (a wrong op, weight or edge: 1e-3 .. 1 of the scale).
SCORE_ULPS = 128


def score_error_bound(ref: np.ndarray, ulps: float = SCORE_ULPS) -> float:
    """Absolute bound on |float32 score - float32 reference score|: ``ulps`` float32 unit
    roundoffs of the score scale ``max |ref|``."""
    return ulps * U32 * float(np.abs(np.asarray(ref, np.float64)).max())


def pairs_within(ref: np.ndarray, gap: float) -> int:
    """Number of unordered pairs (i, j) with ``|ref[i] - ref[j]| <= gap`` (exact ties included).

    These are the only pairs whose order two score vectors within ``gap / 2`` of ``ref`` can
    disagree on (or one of them tie): if every ``|got - ref| <= e`` and
    ``ref[j] - ref[i] > 2 e``, then ``got[j] - got[i] > 0``.
    """
    r = np.sort(np.asarray(ref, np.float64))
    # a float64 rounding of r + gap could drop a pair exactly at the gap: widen by 1e-12
    hi = np.searchsorted(r, r + gap * (1 + 1e-12) + 1e-300, side="right")
    return int((hi - np.arange(len(r)) - 1).sum())


def tau_shift_bound(ref: np.ndarray, y: np.ndarray, max_abs_error: float) -> float:
    """Largest possible ``|kendall_tau(y, got) - kendall_tau(y, ref)|`` over every ``got``
    with ``|got - ref| <= max_abs_error`` element-wise (Kendall's tau-b).

    Only pairs of ``ref`` closer than ``2 e`` (``e = max_abs_error``) can change: ``m_n`` of
    them untied in ``ref`` (each may flip, moving ``S = C - D`` by up to 2, or become tied) and,
    if ``e > 0``, the ``m_t`` tied ones (each may untie, moving ``S`` by up to 1). So
    ``|S' - S| <= 2 m_n + m_t`` and the untied-score count ``B = n0 - ties(score)`` stays in
    ``[B - m_n, B + m_t]``. With ``A = n0 - ties(y)``, ``tau = S / sqrt(A B)`` and
    ``|tau| <= 1``::

        |tau' - tau| <= |S' - S| / sqrt(A B') + |tau| |sqrt(B / B') - 1|
                     <= (2 m_n + m_t) / sqrt(A (B - m_n)) + sqrt(B / (B - m_n)) - 1
    """
    ref = np.asarray(ref, np.float64)
    y = np.asarray(y, np.float64)
    if max_abs_error == 0:
        return 0.0

    def ties(v: np.ndarray) -> int:
        _, c = np.unique(v, return_counts=True)
        return int((c * (c - 1) // 2).sum())

    n = len(ref)
    n0 = n * (n - 1) // 2
    m_t = ties(ref)
    m_n = pairs_within(ref, 2.0 * max_abs_error) - m_t
    a, b = n0 - ties(y), n0 - m_t
    if m_n >= b or a == 0:
        return 2.0  # nothing can be said: every untied pair of ref may flip
    return float((2.0 * m_n + m_t) / np.sqrt(float(a) * (b - m_n)) + np.sqrt(b / (b - m_n)) - 1.0)


def assert_correctly_rounded(got32: np.ndarray, ref64: np.ndarray, *, rel_double: float = 2.0 ** -30) -> int:
    """Assert that float32 ``got32`` is ``ref64`` (a float64 reference) rounded to float32, up
    to the float64 rounding of the two double computations.

    A graph computing in double arithmetic and a NumPy/BLAS reference in double arithmetic
    agree to a few float64 roundoffs (2**-53) of the score scale; rounding both to float32 gives
    the same value unless ``ref64`` lies within that distance of a float32 rounding boundary,
    and then the two are adjacent float32 values. The allowed double discrepancy
    ``rel_double * max |ref64|`` (default 2**-30, i.e. 2**23 float64 roundoffs) is generous for
    double arithmetic and 64 times smaller than a float32 unit roundoff (2**-24).

    Returns the number of scores that differ from ``ref64.astype(float32)`` (all within one
    float32 step, each next to a rounding boundary).
    """
    got32 = np.asarray(got32)
    ref64 = np.asarray(ref64, np.float64)
    assert got32.dtype == np.float32 and got32.shape == ref64.shape
    delta = rel_double * float(np.abs(ref64).max())
    g = got32.astype(np.float64)
    # got32 is within half a float32 step (of got32's own binade) + delta of the exact value
    half_step = 0.5 * np.spacing(np.abs(got32)).astype(np.float64)
    over = np.abs(g - ref64) - (half_step + delta)
    assert over.max() <= 0, (f"{int((over > 0).sum())} scores are not the float64 reference rounded to "
                             f"float32 (worst {over.max():.3g} beyond half a float32 step + {delta:.3g})")
    ref32 = ref64.astype(np.float32)
    differ = got32 != ref32
    # every differing score is next to a float32 rounding boundary: the midpoint between
    # ref32 and got32 is within delta of the double reference
    mid = 0.5 * (g[differ] + ref32[differ].astype(np.float64))
    assert np.all(np.abs(mid - ref64[differ]) <= delta), "a differing score is not at a rounding boundary"
    return int(differ.sum())


# ============================================================================ NB201 cells as arrays
NB201_EDGES = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]


def nb201_edges(ops: np.ndarray) -> np.ndarray:
    """NB201 cells ([B, 6] operation indices, edge order of NB201_EDGES) -> int64 [B, 6, 3]."""
    ops = np.asarray(ops)
    e = np.zeros(ops.shape[:-1] + (6, 3), np.int64)
    for k, (s, d) in enumerate(NB201_EDGES):
        e[..., k, 0], e[..., k, 1], e[..., k, 2] = s, d, ops[..., k]
    return e


def check_network_grad(net, x, y, names, **kwargs):
    """Finite-difference check of a conv-engine network's loss gradient w.r.t. its input and
    the parameters ``names`` (:func:`archmodel.testing.check_grad`); returns its result."""
    from archmodel.testing import check_grad

    params = net.parameters()

    def fn(x, *ws):
        for name, w in zip(names, ws):
            params[name][...] = w
        loss, _ = net.loss_and_grad(x, y)
        grads = net.gradients()
        return loss, (net.input_gradient.copy(),) + tuple(grads[n].copy() for n in names)

    return check_grad(fn, x, *[params[n].copy() for n in names], **kwargs)


def check_encoder_grad(model, params, batch, names, r, backend, **kwargs):
    """Finite-difference check of ``model.encoder_backward`` (GATES or a baseline) w.r.t. the
    parameters ``names``, for the objective ``sum(r * encoder_forward(...)[0])``."""
    from archmodel.testing import check_grad

    def fn(*ws):
        p = dict(params)
        p.update(zip(names, ws))
        val, c = model.encoder_forward(p, batch, backend=backend)
        g = model.encoder_backward(c, r)
        return float((r * val).sum()), tuple(g[n] for n in names)

    return check_grad(fn, *[params[n].copy() for n in names], **kwargs)
