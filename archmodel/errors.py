"""Exception types.

Every error caused by user input derives from :class:`ValueError` (so callers that catch
``ValueError`` keep working) *and* from :class:`ArchModelError`, which the CLI turns into a
one-line message without a traceback.
"""
from __future__ import annotations

from typing import Any, Iterable


class ArchModelError(Exception):
    """Base class of all errors raised deliberately by archmodel."""


class ParameterError(ArchModelError, ValueError):
    """A parameter has a value outside its allowed set or range."""


class InvalidArchitectureError(ArchModelError, ValueError):
    """An architecture (string, tuple, array) is malformed or not in the search space."""


class DataError(ArchModelError, ValueError):
    """A data file or data set is missing, malformed, or lacks a requested column."""


class FormatError(ArchModelError, ValueError):
    """A saved file (model, scores) has a wrong, unknown or future format, or is truncated."""


class NotFittedError(ArchModelError, AttributeError):
    """An estimator was used before ``fit``."""


class TrainingDivergedError(ArchModelError, FloatingPointError):
    """Training produced a non-finite loss."""


class MissingDependencyError(ArchModelError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def _fmt_allowed(allowed: Iterable[Any]) -> str:
    items = list(allowed)
    if len(items) > 12:
        return "{" + ", ".join(repr(a) for a in items[:12]) + f", ... ({len(items)} in all)" + "}"
    return "{" + ", ".join(repr(a) for a in items) + "}"


def check_choice(owner: str, name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise :class:`ParameterError`.

    The message follows scikit-learn: "The 'loss' parameter of GATESPredictor must be one of
    {'hinge', 'logistic'}. Got 'hinj' instead."
    """
    allowed = list(allowed)
    if value not in allowed:
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be one of {_fmt_allowed(allowed)}. "
            f"Got {value!r} instead."
        )
    return value


def check_range(owner: str, name: str, value: Any, low: float | None = None,
                high: float | None = None, *, integer: bool = False,
                low_inclusive: bool = True, high_inclusive: bool = True) -> Any:
    """Validate a numeric parameter against a range; raise :class:`ParameterError` if outside."""
    import numbers

    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, numbers.Integral) if integer else isinstance(value, numbers.Real)
    if isinstance(value, bool) or not ok_type:
        raise ParameterError(f"The {name!r} parameter of {owner} must be {kind}. Got {value!r} instead.")
    lo_ok = low is None or (value >= low if low_inclusive else value > low)
    hi_ok = high is None or (value <= high if high_inclusive else value < high)
    if not (lo_ok and hi_ok and value == value):
        lb = "-inf" if low is None else f"{low}"
        hb = "inf" if high is None else f"{high}"
        interval = ("[" if low_inclusive else "(") + f"{lb}, {hb}" + ("]" if high_inclusive else ")")
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be {kind} in the range {interval}. "
            f"Got {value!r} instead."
        )
    return value
