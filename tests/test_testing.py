"""archmodel.testing.check_grad: it accepts correct gradients and fails on every way a
gradient check can go wrong, including finite differences or gradients that are not finite
(which an earlier version silently left out of the comparison)."""
from __future__ import annotations

import numpy as np
import pytest

from archmodel.errors import ParameterError
from archmodel.testing import GradientCheckError, check_grad


def quadratic(x, w):
    """0.5 ||x w||^2 and its gradients (the module docstring's example)."""
    y = x @ w
    return 0.5 * float((y ** 2).sum()), (y @ w.T, x.T @ y)


def test_correct_gradient_passes_on_every_probe():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    res = check_grad(quadratic, x, w, max_probes=None)
    assert res.n_probed == (12, 6) and res.n_dropped == (0, 0)
    assert max(res.max_rel_error) < 1e-7


def test_wrong_gradient_fails():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))

    def off(x, w):
        v, (gx, gw) = quadratic(x, w)
        gw = gw.copy()
        gw[1, 0] *= 1.001
        return v, (gx, gw)

    with pytest.raises(GradientCheckError, match="gradient of argument 1 disagrees .* flat index 2"):
        check_grad(off, x, w, max_probes=None)


def test_nan_finite_difference_fails_by_default():
    """sum(log x) near x = 0: x - eps < 0 gives NaN for the first element only."""
    x = np.array([5e-7, 1.0, 2.0, 3.0])

    def f(x):
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.log(x).sum()), (1.0 / x,)

    with pytest.raises(GradientCheckError, match=r"not finite at 1 of 4 probed elements \(first: flat index 0\)"):
        check_grad(f, x)


def test_nan_finite_differences_dropped_on_request_are_counted():
    """sum(x^2), defined only for x[0] >= 0 (NaN beyond): at x[0] = 0 the central difference
    of that element is NaN; the other three are compared."""
    x = np.array([0.0, 1.0, 2.0, 3.0])

    def f(x, bias=np.zeros(4)):
        with np.errstate(invalid="ignore"):
            return float((x ** 2).sum() + 0.0 * np.sqrt(x[0])), (2 * x + bias,)

    with pytest.raises(GradientCheckError, match="not finite at 1 of 4 probed elements"):
        check_grad(f, x)
    res = check_grad(f, x, nonfinite="drop")
    assert res.n_dropped == (1,) and res.n_probed == (3,)
    # ... and a wrong gradient on the kept elements still fails
    with pytest.raises(GradientCheckError, match="disagrees with finite differences at flat index 2"):
        check_grad(lambda x: f(x, np.array([0, 0, 1e-3, 0])), x, nonfinite="drop")


def test_every_finite_difference_nan_fails_even_when_dropping():
    x = np.full(3, 1e-7)

    def f(x):
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.log(x).sum()), (1.0 / x,)

    with pytest.raises(GradientCheckError, match="not finite at every one of 3 probed elements"):
        check_grad(f, x, nonfinite="drop")


def test_non_finite_analytic_gradient_fails():
    """A NaN gradient compared with anything gives a NaN error, which no '>' catches."""
    x = np.arange(1.0, 5.0)

    def f(x):
        g = 2 * x
        g[2] = np.nan
        return float((x ** 2).sum()), (g,)

    with pytest.raises(GradientCheckError, match=r"analytic gradient of argument 0 is not finite at 1 of 4 elements \(first: flat index 2"):
        check_grad(f, x)
    # also where the bad element is not among the probed ones
    with pytest.raises(GradientCheckError, match="analytic gradient of argument 0 is not finite"):
        check_grad(f, x, max_probes=1, rng=0)


def test_non_finite_value_and_bad_parameter():
    x = np.ones(2)
    with pytest.raises(GradientCheckError, match="function value is not finite"):
        check_grad(lambda x: (float("inf"), (x,)), x)
    with pytest.raises(ParameterError, match=r"'nonfinite' parameter of check_grad must be one of \{'raise', 'drop'\}. Got 'skip'"):
        check_grad(lambda x: (float((x ** 2).sum()), (2 * x,)), x, nonfinite="skip")
