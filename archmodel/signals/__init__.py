"""Low-fidelity signals of architectures: cheap numbers that carry information about accuracy.

So far: exact complexity of NAS-Bench-201 networks for the whole space
(:func:`nb201_complexity`, :func:`naslib_flops`).
"""
from __future__ import annotations

from archmodel.signals.complexity import naslib_flops, nb201_complexity

__all__ = ["nb201_complexity", "naslib_flops"]
