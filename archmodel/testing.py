"""Testing helpers shipped with archmodel, most importantly the gradient checker.

Users writing their own layers or encoders get the same tool the test suite uses::

    from archmodel.testing import check_grad

    def f(x, w):
        y = x @ w
        loss = 0.5 * float((y ** 2).sum())
        return loss, (y @ w.T, x.T @ y)        # value, (dL/dx, dL/dw)

    check_grad(f, x, w)                        # raises GradientCheckError on mismatch
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from archmodel.errors import ArchModelError, ParameterError


class GradientCheckError(ArchModelError, AssertionError):
    """The analytic gradient disagrees with central finite differences."""


@dataclass(frozen=True)
class GradCheckResult:
    """Outcome of :func:`check_grad`: worst error per argument."""

    max_abs_error: tuple[float, ...]
    max_rel_error: tuple[float, ...]
    n_probed: tuple[int, ...]
    #: per argument, probed elements left out because their finite difference was not finite
    #: (only with ``nonfinite='drop'``; ``n_probed`` counts the compared ones)
    n_dropped: tuple[int, ...] = ()


def numerical_grad(f: Callable[..., float], arrays: Sequence[np.ndarray], index: int, *,
                   eps: float = 1e-6, probes: np.ndarray | None = None) -> np.ndarray:
    """Central finite-difference gradient of scalar ``f(*arrays)`` w.r.t. ``arrays[index]``.

    Parameters
    ----------
    f : callable
        Returns a float (or a 0-d array) for the given arrays.
    arrays : sequence of ndarray
        Arguments; ``arrays[index]`` must be a float64 array. It is perturbed in place and
        restored.
    index : int
        Which argument to differentiate.
    eps : float
        Step size.
    probes : ndarray of int, optional
        Flat indices to probe; the others are left as NaN. Default: every element.

    Returns
    -------
    ndarray, same shape as ``arrays[index]``
    """
    x = arrays[index]
    if x.dtype != np.float64:
        raise TypeError(f"numerical_grad needs float64 arrays (argument {index} is {x.dtype}).")
    flat = x.reshape(-1)
    out = np.full(flat.shape, np.nan)
    idx = np.arange(flat.size) if probes is None else np.asarray(probes)
    for k in idx:
        old = flat[k]
        flat[k] = old + eps
        fp = float(f(*arrays))
        flat[k] = old - eps
        fm = float(f(*arrays))
        flat[k] = old
        out[k] = (fp - fm) / (2.0 * eps)
    return out.reshape(x.shape)


def check_grad(fn: Callable[..., tuple[float, Sequence[np.ndarray | None]]], *arrays: np.ndarray,
               wrt: Sequence[int] | None = None, eps: float = 1e-6, rtol: float = 1e-5,
               atol: float = 1e-8, max_probes: int | None = 200,
               rng: np.random.Generator | int | None = 0, nonfinite: str = "raise") -> GradCheckResult:
    """Compare an analytic gradient with central finite differences.

    Parameters
    ----------
    fn : callable
        ``fn(*arrays) -> (value, grads)`` where ``value`` is a scalar and ``grads[i]`` is
        d value / d arrays[i] (same shape), or ``None`` for arguments that are not checked.
    *arrays : ndarray
        float64 arguments (integer arguments such as indices are allowed and never perturbed).
    wrt : sequence of int, optional
        Arguments to check; default: every float argument with a non-None gradient.
    eps, rtol, atol : float
        Step size and tolerance: an element passes if
        ``|analytic - numeric| <= atol + rtol * scale``, where ``scale`` is the largest
        gradient magnitude of that argument (so elements whose gradient is ~0 do not fail
        on round-off).
    max_probes : int or None
        Probe at most this many elements per argument (drawn with ``rng``); None = all.
    rng : Generator, int or None
        Chooses the probed elements.
    nonfinite : {'raise', 'drop'}
        What to do with a probed element whose central difference is NaN or infinite (the
        function is not finite at ``x +- eps``, e.g. a log at 0): ``'raise'`` (the default)
        fails, since that element cannot be checked; ``'drop'`` leaves it out, counts it in
        ``GradCheckResult.n_dropped`` and fails only if every probed element of an argument
        was dropped. A non-finite *analytic* gradient (any element) always fails.

    Returns
    -------
    GradCheckResult

    Raises
    ------
    GradientCheckError
        If any probed element disagrees, if an analytic gradient is not finite, if a finite
        difference is not finite (``nonfinite='raise'``) or if every one is
        (``nonfinite='drop'``).
    """
    if nonfinite not in ("raise", "drop"):
        raise ParameterError(f"The 'nonfinite' parameter of check_grad must be one of {{'raise', 'drop'}}. "
                         f"Got {nonfinite!r} instead.")
    rng = np.random.default_rng(rng)
    arrays = tuple(arrays)
    value, grads = fn(*arrays)
    if not np.isfinite(value):
        raise GradientCheckError(f"function value is not finite: {value!r}")
    if wrt is None:
        wrt = [i for i, (a, g) in enumerate(zip(arrays, grads))
               if g is not None and np.asarray(a).dtype.kind == "f"]

    def scalar(*args: np.ndarray) -> float:
        return float(fn(*args)[0])

    abs_errs, rel_errs, counts, dropped = [], [], [], []
    for i in wrt:
        a = arrays[i]
        g = np.asarray(grads[i], dtype=np.float64)
        if g.shape != a.shape:
            raise GradientCheckError(f"gradient {i} has shape {g.shape}, argument has {a.shape}")
        n = a.size
        probes = (np.arange(n) if (max_probes is None or n <= max_probes)
                  else np.sort(rng.choice(n, max_probes, replace=False)))
        num = numerical_grad(scalar, arrays, i, eps=eps, probes=probes).reshape(-1)[probes]
        bad_ana = ~np.isfinite(g.reshape(-1))
        if bad_ana.any():
            first = int(np.flatnonzero(bad_ana)[0])
            raise GradientCheckError(
                f"analytic gradient of argument {i} is not finite at {int(bad_ana.sum())} of {n} "
                f"elements (first: flat index {first}, value {g.reshape(-1)[first]!r})")
        ana = g.reshape(-1)[probes]
        bad_num = ~np.isfinite(num)
        n_bad = int(bad_num.sum())
        if n_bad and (nonfinite == "raise" or n_bad == len(probes)):
            what = ("every one" if n_bad == len(probes) else f"{n_bad}") + f" of {len(probes)}"
            hint = "" if nonfinite == "drop" else " (nonfinite='drop' leaves such elements out)"
            raise GradientCheckError(
                f"finite differences of argument {i} are not finite at {what} probed elements "
                f"(first: flat index {int(probes[bad_num][0])}): the function is not finite within "
                f"eps={eps:g} of the point, so those elements cannot be checked{hint}")
        keep = ~bad_num
        idx, num, ana = probes[keep], num[keep], ana[keep]
        diff = np.abs(ana - num)
        scale = max(np.abs(g).max(initial=0.0), np.abs(num).max(initial=0.0))
        tol = atol + rtol * scale
        worst = float(diff.max(initial=0.0))
        abs_errs.append(worst)
        rel_errs.append(worst / scale if scale > 0 else 0.0)
        counts.append(int(len(idx)))
        dropped.append(n_bad)
        if worst > tol:
            k = int(np.argmax(diff))
            raise GradientCheckError(
                f"gradient of argument {i} disagrees with finite differences at flat index "
                f"{int(idx[k])}: analytic {ana[k]:.10g}, numeric "
                f"{num[k]:.10g} (max abs error {worst:.3g} > tolerance {tol:.3g})"
            )
    return GradCheckResult(tuple(abs_errs), tuple(rel_errs), tuple(counts), tuple(dropped))
