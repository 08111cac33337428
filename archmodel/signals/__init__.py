"""Low-fidelity signals of architectures: cheap numbers that carry information about accuracy.

Exact complexity of NAS-Bench-201 networks for the whole space (:func:`nb201_complexity`,
:func:`naslib_flops`), and the signal registry (:func:`signal_column`: one named column per
signal, computed or from the NASLib zero-cost file, missing values as NaN).
"""
from __future__ import annotations

from archmodel.signals.complexity import naslib_flops, nb201_complexity
from archmodel.signals.registry import signal_column, signal_columns

__all__ = ["nb201_complexity", "naslib_flops", "signal_column", "signal_columns"]
