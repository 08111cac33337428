"""Good and bad motifs from a WL-kernel GP (NAS-BOWL's explanation).

The posterior mean of :class:`~archmodel.explain.gp.WLGaussianProcess` is differentiable in
the WL feature counts. A motif (a WL feature: an operation with its ``h``-hop ancestry) is
*good* when the mean rises with its count, averaged over the architectures that contain it,
and *bad* when it falls; only motifs present in at least ``min_frequency`` of the
architectures are ranked, so that rare features with large gradients do not dominate;
labels that name no operation (``in0``, ``out``, ``node``) are not motifs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from archmodel.arch import Arch
from archmodel.errors import check_range
from archmodel.explain.wl import wl_counts

__all__ = ["Motif", "motif_importance", "motif_holdout_check"]


@dataclass(frozen=True)
class Motif:
    """One WL feature with its importance.

    Attributes
    ----------
    label : str
        The WL label, e.g. ``nor_conv_3x3(in0)`` (a 3x3 conv reading the input).
    depth : int
        WL iteration the label comes from (0 = the operation alone).
    frequency : float
        Fraction of the architectures that contain it.
    gradient : float
        Mean gradient of the posterior mean with respect to its count (target units).
    """

    label: str
    depth: int
    frequency: float
    gradient: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _depth(label: str) -> int:
    d = best = 0
    for ch in label:
        if ch == "(":
            d += 1
            best = max(best, d)
        elif ch == ")":
            d -= 1
    return best


def _is_structural(label: str) -> bool:
    """Depth-0 labels that name no operation (inputs, output, plain nodes, empty cells)."""
    base = label.split(":", 1)[-1]
    return "(" not in base and (base in ("out", "node", "<empty-cell>") or
                                (base.startswith("in") and base[2:].isdigit()))


def motif_importance(gp: Any, archs: Sequence[Arch], *, min_frequency: float = 0.05,
                     top: int = 5) -> tuple[list[Motif], list[Motif]]:
    """The ``top`` good and bad motifs of a fitted WL-GP, judged on ``archs``.

    Parameters
    ----------
    gp : WLGaussianProcess (fitted)
    archs : sequence of Arch
        Where the gradients are taken (usually the training architectures).
    min_frequency : float in (0, 1]
    top : int >= 1

    Returns
    -------
    good, bad : list of Motif
        Sorted by gradient, most positive first / most negative first.
    """
    check_range("motif_importance", "min_frequency", min_frequency, 0.0, 1.0, low_inclusive=False)
    check_range("motif_importance", "top", top, 1, integer=True)
    G = gp.mean_gradient(archs)                                     # [n, F]
    X, _ = gp.features_.transform(list(archs))
    present = X.toarray() > 0
    freq = present.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_g = np.where(present.any(axis=0), (G * present).sum(axis=0) / present.sum(axis=0), 0.0)
    labels = gp.features_.labels_
    structural = np.array([_is_structural(lab) for lab in labels], dtype=bool)
    ok = np.flatnonzero((freq >= min_frequency) & ~structural)
    order = ok[np.argsort(-mean_g[ok], kind="stable")]

    def motif(j: int) -> Motif:
        return Motif(labels[j], _depth(labels[j]), float(freq[j]), float(mean_g[j]))

    good = [motif(j) for j in order[:top] if mean_g[j] > 0]
    bad = [motif(j) for j in order[::-1][:top] if mean_g[j] < 0]
    return good, bad


def motif_holdout_check(space: Any, good: Sequence[Motif], bad: Sequence[Motif],
                        archs: Sequence[Arch], y: Any, h: int) -> dict[str, Any]:
    """Mean target of held-out architectures that contain a good motif vs a bad one.

    Returns
    -------
    dict
        ``good_mean``, ``bad_mean`` (over architectures containing at least one of the good /
        bad motifs), ``n_good``, ``n_bad``, ``per_motif`` (label -> mean target of the
        architectures containing it, and their count), ``all_mean``.
    """
    y = np.asarray(y, dtype=np.float64)
    counts = [wl_counts(space, a, h) for a in archs]
    per: dict[str, dict[str, float]] = {}

    def having(labels: Sequence[str]) -> np.ndarray:
        return np.array([any(lab in c for lab in labels) for c in counts], dtype=bool)

    for m in list(good) + list(bad):
        mask = having([m.label])
        per[m.label] = {"mean": float(y[mask].mean()) if mask.any() else float("nan"), "n": int(mask.sum())}
    g, b = having([m.label for m in good]), having([m.label for m in bad])
    return {"good_mean": float(y[g].mean()) if g.any() else float("nan"), "n_good": int(g.sum()),
            "bad_mean": float(y[b].mean()) if b.any() else float("nan"), "n_bad": int(b.sum()),
            "all_mean": float(y.mean()), "per_motif": per}
