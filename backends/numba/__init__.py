"""The Numba backend: the reference kernels, jitted.

Importing this package imports Numba (so it fails cleanly when Numba is missing) but compiles
nothing: kernels are decorated without signatures and compile on first call. Compiled kernels
are cached on disk, in a per-user folder keyed by the archmodel, Numba and Python versions and
the CPU (``ARCHMODEL_NUMBA_CACHE=0`` turns the cache off, ``ARCHMODEL_NUMBA_CACHE_DIR`` moves
it): a command's second run loads them instead of compiling again. See
:mod:`archmodel.backends.numba._jit`.
"""
import numba  # noqa: F401  (presence check: get_backend turns ImportError into a clear message)
