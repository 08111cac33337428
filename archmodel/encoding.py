"""Batched arrays for graph encoders (GATES, GCN) built from architectures.

The arrays are a representation of the search spaces, so they are built in
:mod:`archmodel.spaces.arrays` (which imports no encoder); this module keeps the names the
encoders, exporters and users import (:class:`GraphBatch`, :func:`graph_arrays`,
:func:`vocabulary`). :func:`graph_arrays` turns a list of architectures of one space into a
:class:`GraphBatch`:

* operation-on-edge spaces (NB201, DARTS, ENAS): ``edges`` int64 of shape (B, C, E, 3), rows
  ``(src, dst, op)`` with ``op`` an index into ``vocabulary``; index 0 is ``none``, which
  contributes nothing and also pads cells with fewer edges. Two-input cell spaces add the op
  ``concat`` for the edges from concatenated nodes into the output node.
* operation-on-node spaces (NB101, NAS-Bench-Graph): ``adj`` float32 of shape (B, C, N, N) with
  ``adj[b, c, i, j] = 1`` for an edge j -> i, and ``node_ops`` int64 of shape (B, C, N)
  indexing ``vocabulary``.

Node 0.. ``n_inputs - 1`` are the input nodes and node ``N - 1`` is the output in every cell.
"""
from __future__ import annotations

from archmodel.spaces.arrays import GraphBatch, graph_arrays, vocabulary

__all__ = ["GraphBatch", "graph_arrays", "vocabulary"]
