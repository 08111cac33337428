"""Batched arrays for graph encoders (GATES, GCN) built from architectures.

:func:`graph_arrays` turns a list of architectures of one space into a :class:`GraphBatch`:

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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from archmodel.errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from archmodel.arch import Arch
    from archmodel.spaces.base import SearchSpace


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
    """The op vocabulary the encoders embed, for ``space``."""
    from archmodel.spaces.two_input_cells import CONCAT, TwoInputCellSpace

    vocab = list(space.ops)
    if isinstance(space, TwoInputCellSpace):
        vocab.append(CONCAT)
    return vocab


def graph_arrays(space: "SearchSpace", archs: Sequence["Arch"], *, adj_dtype=np.float32) -> GraphBatch:
    """Encode ``archs`` (all of ``space``) as a :class:`GraphBatch`."""
    if len(archs) == 0:
        raise ParameterError("cannot encode an empty list of architectures")
    vocab = vocabulary(space)
    index = {o: i for i, o in enumerate(vocab)}
    first = space.cell_graphs(space.check_arch(archs[0]))
    C, N, n_in = len(first), first[0].n_nodes, len(first[0].inputs)
    B = len(archs)
    from archmodel.spaces.fixed_edges import FixedEdgeSpace

    if isinstance(space, FixedEdgeSpace):  # vectorised fast path: fixed (src, dst), op = decision
        seqs = space.sequences(archs)
        E = len(space.edges)
        edges = np.empty((B, 1, E, 3), dtype=np.int64)
        edges[:, 0, :, 0] = [s for s, _ in space.edges]
        edges[:, 0, :, 1] = [d for _, d in space.edges]
        edges[:, 0, :, 2] = seqs
        return GraphBatch("edge", vocab, N, n_in, C, edges=edges, space=space.name)
    if space.kind == "edge":
        max_e = _max_edges(space)
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


def _max_edges(space: "SearchSpace") -> int:
    """Edge rows per cell of a two-input cell space (fixed-edge spaces take the fast path)."""
    from archmodel.spaces.two_input_cells import TwoInputCellSpace

    if isinstance(space, TwoInputCellSpace):
        return 2 * space.n_inter + space.n_inter
    raise ParameterError(f"no edge layout for space {space.name!r}")  # pragma: no cover
