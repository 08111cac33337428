"""The Numba backend: the reference kernels, jitted.

Importing this package imports Numba (so it fails cleanly when Numba is missing) but compiles
nothing: kernels are decorated without signatures and compile on first call. Set
``ARCHMODEL_NUMBA_CACHE=1`` to cache compiled kernels on disk.
"""
import numba  # noqa: F401  (presence check: get_backend turns ImportError into a clear message)
