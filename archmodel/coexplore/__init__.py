"""Co-exploration of network and PIM hardware (Gibbon, DATE 2022 / TCAD 2023).

A joint search space of network cells and memristor PIM hardware knobs (``specs/pim/space-*.json``,
:mod:`archmodel.coexplore.space`), a counted evaluator on top of :func:`archmodel.pim.simulate_batch`
(:mod:`archmodel.coexplore.evaluate`), exact Pareto tools (:mod:`archmodel.coexplore.pareto`) and the
searches: random, NSGA-II and Gibbon (:mod:`archmodel.coexplore.search`). See docs/coexplore.md.
"""
from __future__ import annotations

__all__ = ["JointSpace", "load_space", "list_spaces", "JointEvaluator", "evaluate_all", "hypervolume",
           "non_dominated", "gains", "run_search", "SEARCHES"]

_LAZY = {
    "JointSpace": "space", "load_space": "space", "list_spaces": "space",
    "JointEvaluator": "evaluate", "evaluate_all": "evaluate",
    "hypervolume": "pareto", "non_dominated": "pareto", "gains": "pareto",
    "run_search": "search", "SEARCHES": "search",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"archmodel.coexplore.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'archmodel.coexplore' has no attribute {name!r}")
