"""The one place where the Numba backend builds its ``njit`` decorator."""
from __future__ import annotations

import numba

from archmodel.config import numba_cache_enabled

_CACHE = numba_cache_enabled()


def njit(*args, **kwargs):
    """``numba.njit`` with archmodel's defaults (``cache`` opt-in, no fastmath).

    fastmath stays off so the float64 kernels agree with the NumPy reference to 1e-9.
    """
    kwargs.setdefault("cache", _CACHE)
    kwargs.setdefault("nogil", True)
    return numba.njit(*args, **kwargs)
