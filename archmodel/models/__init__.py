"""Array-level predictor models (integer-encoded cells in, scores out) with hand-written
backward passes.

gates     GATES encoder + MLP head (:class:`~archmodel.models.gates.GATESModel`)
tagates   TA-GATES encoder + MLP head (:class:`~archmodel.models.tagates.TAGATESModel`)
"""
from __future__ import annotations

__all__ = ["GATESModel", "TAGATESModel"]


def __getattr__(name: str):
    if name == "GATESModel":
        from archmodel.models.gates import GATESModel

        return GATESModel
    if name == "TAGATESModel":
        from archmodel.models.tagates import TAGATESModel

        return TAGATESModel
    raise AttributeError(f"module 'archmodel.models' has no attribute {name!r}")
