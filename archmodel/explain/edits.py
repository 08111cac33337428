"""Which single edit would improve a cell most: a predictor's sensitivity to each decision.

For a cell, every valid architecture that differs in exactly one decision (one edge's
operation on NB201; from the space spec's ``neighbours``) is scored by a fitted predictor; the
edits are ranked by predicted gain over the cell itself. This is the "architecture
transformation" use of a performance model: ranked suggestions with their predicted gain.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from archmodel.arch import Arch

__all__ = ["suggest_edits"]


def _value_name(space: Any, decision: int, value: int) -> str:
    ops = space.spec.get("ops") if hasattr(space, "spec") else None
    if ops and space.decision_sizes[decision] == len(ops):
        return str(ops[value])
    return str(value)


def suggest_edits(predictor: Any, arch: Arch | str, *, space: Any = None) -> list[dict[str, Any]]:
    """Every single-decision edit of ``arch`` ranked by ``predictor``'s predicted gain.

    Parameters
    ----------
    predictor : fitted estimator with ``predict(archs)`` (a Predictor, WLGaussianProcess, ...)
    arch : Arch or str
    space : str or SearchSpace, optional
        Needed when ``arch`` is a string.

    Returns
    -------
    list of dict
        Best first: ``arch`` (the edited cell, in the space's default format), ``decision``
        (index), ``where`` (its name, e.g. ``op of edge 0->1``), ``from``/``to`` (value names),
        ``predicted_gain`` (predicted score of the edit minus that of ``arch``).
    """
    from archmodel.spaces import get_space

    if isinstance(arch, str):
        if space is None:
            raise ValueError("suggest_edits: give space= with a string architecture")
        sp = get_space(space)
        arch = sp.parse(arch)
    else:
        sp = get_space(space if space is not None else arch.space)
    nbrs = sp.neighbours(arch)
    scores = np.asarray(predictor.predict([arch] + nbrs), dtype=np.float64)
    out = []
    for a, s in zip(nbrs, scores[1:]):
        i = next(k for k, (u, v) in enumerate(zip(arch.seq, a.seq)) if u != v)
        out.append({"arch": sp.format(a), "decision": i, "where": sp.decision_name(i),
                    "from": _value_name(sp, i, arch.seq[i]), "to": _value_name(sp, i, a.seq[i]),
                    "predicted_gain": float(s - scores[0])})
    out.sort(key=lambda d: -d["predicted_gain"])
    return out
