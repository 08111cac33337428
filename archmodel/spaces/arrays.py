"""Batched arrays for graph encoders (GATES, GCN) built from architectures of one space.

:func:`graph_arrays` turns a list of architectures of one space into a :class:`GraphBatch`:

* operation-on-edge spaces (NB201, DARTS, ENAS): ``edges`` int64 of shape (B, C, E, 3), rows
  ``(src, dst, op)`` with ``op`` an index into ``vocabulary``; index 0 is ``none``, which
  contributes nothing and also pads cells with fewer edges. Two-input cell spaces add the op
  ``concat`` for the edges from concatenated nodes into the output node.
* operation-on-node spaces (NB101, NAS-Bench-Graph): ``adj`` float32 of shape (B, C, N, N) with
  ``adj[b, c, i, j] = 1`` for an edge j -> i, and ``node_ops`` int64 of shape (B, C, N)
  indexing ``vocabulary``.

Node 0.. ``n_inputs - 1`` are the input nodes and node ``N - 1`` is the output in every cell.

This is a representation of the search spaces (like strings or adjacency matrices), so it lives
with them: it asks the space (:meth:`SearchSpace.cell_graphs` and the hooks
``_encoder_extra_ops``, ``_edge_rows_per_cell``, ``_edge_rows_vectorised``) and imports no
topology module. :mod:`archmodel.encoding` re-exports these names for the encoders.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from archmodel.errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from archmodel.arch import Arch
    from archmodel.spaces.base import SearchSpace

__all__ = ["GraphBatch", "graph_arrays", "vocabulary"]


@dataclass
class GraphBatch:
    """Arrays for a batch of cells (see module docstring for shapes)."""

    kind: str
    vocabulary: list[str]
    n_nodes: int
    n_inputs: int
    n_cells: int
    edges: np.ndarray | None = None
    adj: np.ndarray | None = None
    node_ops: np.ndarray | None = None
    space: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def n_ops(self) -> int:
        return len(self.vocabulary)

    @property
    def output_index(self) -> int:
        return self.n_nodes - 1

    def __len__(self) -> int:
        arr = self.edges if self.kind == "edge" else self.node_ops
        return 0 if arr is None else int(arr.shape[0])

    def take(self, idx: np.ndarray) -> "GraphBatch":
        """Sub-batch of rows ``idx``."""
        return GraphBatch(self.kind, self.vocabulary, self.n_nodes, self.n_inputs, self.n_cells,
                          None if self.edges is None else self.edges[idx],
                          None if self.adj is None else self.adj[idx],
                          None if self.node_ops is None else self.node_ops[idx], self.space)


def vocabulary(space: "SearchSpace") -> list[str]:
    """The op vocabulary the encoders embed, for ``space``: its ops, then the extra edge labels
    of its cells (``concat`` for two-input cell spaces)."""
    return list(space.ops) + list(space._encoder_extra_ops)


def graph_arrays(space: "SearchSpace", archs: Sequence["Arch"], *, adj_dtype=np.float32) -> GraphBatch:
    """Encode ``archs`` (all of ``space``) as a :class:`GraphBatch`."""
    if len(archs) == 0:
        raise ParameterError("cannot encode an empty list of architectures")
    vocab = vocabulary(space)
    index = {o: i for i, o in enumerate(vocab)}
    first = space.cell_graphs(space.check_arch(archs[0]))
    C, N, n_in = len(first), first[0].n_nodes, len(first[0].inputs)
    B = len(archs)
    fast = space._edge_rows_vectorised(archs)  # fixed-edge spaces: (B, 1, E, 3) in one go
    if fast is not None:
        return GraphBatch("edge", vocab, N, n_in, C, edges=fast, space=space.name)
    if space.kind == "edge":
        max_e = space._edge_rows_per_cell()
        edges = np.zeros((B, C, max_e, 3), dtype=np.int64)
        edges[..., 1] = N - 1  # padding rows: none-op edges 0 -> output
        for b, a in enumerate(archs):
            for c, g in enumerate(space.cell_graphs(space.check_arch(a))):
                for e, (s, d, lab) in enumerate(g.edges):
                    edges[b, c, e] = (s, d, index[lab])
        return GraphBatch("edge", vocab, N, n_in, C, edges=edges, space=space.name)
    adj = np.zeros((B, C, N, N), dtype=adj_dtype)
    node_ops = np.zeros((B, C, N), dtype=np.int64)
    for b, a in enumerate(archs):
        for c, g in enumerate(space.cell_graphs(space.check_arch(a))):
            for s, d, _ in g.edges:
                adj[b, c, d, s] = 1
            node_ops[b, c] = [index[l] for l in g.node_labels]
    return GraphBatch("node", vocab, N, n_in, C, adj=adj, node_ops=node_ops, space=space.name)

