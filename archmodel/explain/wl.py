"""Weisfeiler-Lehman subtree features of architectures (as in NAS-BOWL, Ru et al., ICLR 2021).

A cell becomes an *operation-labelled* DAG: every operation is a node (operation-on-edge cells
such as NB201 turn each labelled edge ``u -op-> v`` into ``u -> [op] -> v``; ``none`` edges and
nodes that reach neither the input nor the output are pruned first), the inputs are labelled
``in0, in1, ...``, the output ``out`` and plain intermediate nodes ``node``. WL iteration ``t``
relabels each node with its operation and the sorted iteration-``t-1`` labels of its
predecessors (information flows along the edges), ``op(pred1,pred2)``: the label is the node's
depth-``t`` unfolding, which determines its earlier labels, so this is WL's subtree labelling
with readable labels instead of hashes. The feature vector counts every label of iterations
``0..h``. The labels are kept as strings, so each feature *is* a readable motif: at ``h = 1``,
``nor_conv_3x3(in0)`` is "a 3x3 convolution reading the cell input".
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from archmodel.arch import Arch
from archmodel.errors import check_range
from archmodel.graph import CellGraph

__all__ = ["wl_labels", "wl_counts", "WLFeatures"]

EMPTY = "<empty-cell>"


def _op_graph(g: CellGraph | None, prefix: str) -> tuple[list[str], list[list[int]]]:
    """Node labels and predecessor lists of the operation-labelled DAG of one pruned cell."""
    if g is None:
        return [prefix + EMPTY], [[]]
    labels = []
    for v in range(g.n_nodes):
        if v in g.inputs:
            labels.append(f"in{g.inputs.index(v)}")
        elif v == g.output:
            labels.append("out")
        else:
            labels.append(g.node_labels[v] or "node")
    preds: list[list[int]] = [[] for _ in range(g.n_nodes)]
    for s, d, lab in g.edges:
        if lab and lab != "concat":
            labels.append(lab)
            preds.append([s])
            preds[d].append(len(labels) - 1)
        else:
            preds[d].append(s)
    return [prefix + x for x in labels], preds


def wl_labels(graphs: Sequence[CellGraph | None], h: int) -> list[list[str]]:
    """WL labels of every node, per iteration ``0..h``, over all cells of one architecture.

    Returns
    -------
    list of list of str
        ``out[t]`` holds the labels of iteration ``t`` of every node (cells concatenated; a
        multi-cell architecture prefixes each label with ``c<i>:``).
    """
    out: list[list[str]] = [[] for _ in range(h + 1)]
    for ci, g in enumerate(graphs):
        prefix = f"c{ci}:" if len(graphs) > 1 else ""
        labels, preds = _op_graph(g, prefix)
        cur = labels
        out[0].extend(cur)
        for t in range(1, h + 1):
            # the depth-t unfolding: base label + the depth-(t-1) labels of the predecessors
            cur = [f"{labels[v]}({','.join(sorted(cur[u] for u in preds[v]))})" if preds[v] else labels[v]
                   for v in range(len(cur))]
            out[t].extend(cur)
    return out


_CACHE: dict[tuple[str, tuple[int, ...], int], Counter] = {}
_CACHE_MAX = 500_000


def wl_counts(space: Any, arch: Arch, h: int) -> Counter:
    """Counts of all WL labels of iterations ``0..h`` of one architecture (memoised; do not
    modify the returned Counter)."""
    key = (space.name, arch.seq, h)
    c = _CACHE.get(key)
    if c is None:
        c = Counter()
        for it in wl_labels(space.pruned_graphs(arch), h):
            c.update(it)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = c
    return c


class WLFeatures:
    """WL feature vectors over a vocabulary learned from training architectures.

    Parameters
    ----------
    space : SearchSpace
    h : int >= 0
        WL iterations.

    Attributes
    ----------
    vocabulary_ : dict[str, int]
        Feature label -> column, from :meth:`fit`.
    """

    def __init__(self, space: Any, h: int = 2) -> None:
        self.space = space
        self.h = check_range("WLFeatures", "h", h, 0, integer=True)

    def _counts(self, archs: Sequence[Arch]) -> list[Counter]:
        return [wl_counts(self.space, a, self.h) for a in archs]

    def fit(self, archs: Sequence[Arch]) -> "WLFeatures":
        vocab: dict[str, int] = {}
        for c in self._counts(archs):
            for k in c:
                vocab.setdefault(k, len(vocab))
        self.vocabulary_ = vocab
        self.labels_ = list(vocab)
        return self

    def transform(self, archs: Sequence[Arch]) -> tuple[sp.csr_matrix, np.ndarray]:
        """Counts on the fitted vocabulary and the norm of each *full* count vector.

        Returns
        -------
        X : csr_matrix, float64 [n, F]
            Counts of the features in :attr:`vocabulary_` (others are dropped: they cannot
            meet a training architecture in a dot product).
        norms : ndarray, float64 [n]
            Euclidean norm of all counts, unseen features included (the kernel's normaliser).
        """
        rows, cols, vals = [], [], []
        norms = np.empty(len(archs))
        for i, c in enumerate(self._counts(archs)):
            norms[i] = np.sqrt(sum(v * v for v in c.values()))
            for k, v in c.items():
                j = self.vocabulary_.get(k)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
                    vals.append(float(v))
        X = sp.csr_matrix((vals, (rows, cols)), shape=(len(archs), len(self.vocabulary_)))
        return X, norms
