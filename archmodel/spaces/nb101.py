"""NAS-Bench-101 cells: operations on nodes, up to 7 nodes and 9 edges.

Sequence (fixed length, 7-node form): the 21 entries of the strict upper triangle of the 7x7
adjacency matrix in row-major order (``m[i][j] = 1`` for an edge i -> j, i < j, NB101's own
convention), then the operation of nodes 1..5 as an index into
``[conv3x3-bn-relu, conv1x1-bn-relu, maxpool3x3]``. Node 0 is the input and node 6 the output.
A graph with fewer nodes is stored with isolated padding nodes just before the output;
pruning removes them. A sequence is valid iff, after pruning the nodes that are off every
input-to-output path, a path remains and at most 9 edges are left.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from archmodel.arch import Arch
from archmodel.graph import CellGraph, prune
from archmodel.spaces.base import SearchSpace, _parse_int_list

N = 7
TRIU = [(i, j) for i in range(N) for j in range(i + 1, N)]


class _DuplicateKey(Exception):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` object hook: a key given twice is an error (the contract refuses it)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class NB101Space(SearchSpace):
    """NAS-Bench-101."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.node_op_choices: list[str] = list(spec["node_op_choices"])
        self.max_edges: int = int(spec["max_edges"])
        self.formats = tuple(spec.get("formats", ["json", "naslib", "sequence"]))
        self._naslib_ops = list(spec["naslib"]["ops"])
        self.sequence_doc = (
            "21 upper-triangle adjacency bits of the 7x7 matrix (row-major, m[i][j]=1 for i->j), "
            "then ops of nodes 1..5: " + ", ".join(f"{i} {o}" for i, o in enumerate(self.node_op_choices))
        )

    def _decision_sizes(self) -> tuple[int, ...]:
        return (2,) * len(TRIU) + (len(self.spec["node_op_choices"]),) * (N - 2)

    def decision_name(self, i: int) -> str:
        if i < len(TRIU):
            s, d = TRIU[i]
            return f"edge {s}->{d}"
        return f"op of node {i - len(TRIU) + 1}"

    def _graph(self, seq: tuple[int, ...]) -> CellGraph:
        edges = tuple((s, d, "") for (s, d), b in zip(TRIU, seq[:len(TRIU)]) if b)
        labels = ("input",) + tuple(self.node_op_choices[o] for o in seq[len(TRIU):]) + ("output",)
        return CellGraph(N, (0,), N - 1, labels, edges)

    def _check(self, seq: tuple[int, ...]) -> str | None:
        p = prune(self._graph(seq))
        if p is None:
            return "no path from the input (node 0) to the output (node 6)"
        if len(p.edges) > self.max_edges:
            return f"{len(p.edges)} edges after pruning; NAS-Bench-101 allows at most {self.max_edges}"
        return None

    def _sample_seq(self, rng: np.random.Generator) -> tuple[int, ...]:
        while True:
            bits = rng.integers(0, 2, size=len(TRIU))
            ops = rng.integers(0, len(self.node_op_choices), size=N - 2)
            seq = tuple(int(v) for v in np.concatenate([bits, ops]))
            if self._check(seq) is None:
                return seq

    def cell_graphs(self, arch: Arch) -> list[CellGraph]:
        return [self._graph(arch.seq)]

    def matrix_ops(self, arch: Arch) -> tuple[np.ndarray, list[str]]:
        """NB101's own form of the *pruned* cell: (upper-triangular matrix i->j, op names)."""
        p = prune(self._graph(self.check_arch(arch).seq))
        assert p is not None  # valid archs always have a path
        m = np.zeros((p.n_nodes, p.n_nodes), dtype=np.int64)
        for s, d, _ in p.edges:
            m[s, d] = 1
        return m, list(p.node_labels)

    def from_matrix_ops(self, matrix: Any, ops: Any) -> Arch:
        """Build an Arch from NB101's (matrix, ops) with 2..7 nodes (padded to 7 internally)."""
        try:
            m = np.asarray(matrix)
        except Exception:  # pragma: no cover
            raise self._err(f"matrix must be a square 0/1 array; got {matrix!r}") from None
        if m.ndim != 2 or m.shape[0] != m.shape[1] or not 2 <= m.shape[0] <= N:
            raise self._err(f"matrix must be square with 2..7 nodes; got shape {m.shape}")
        if not np.isin(m, (0, 1)).all() or m.dtype.kind not in "biu":
            raise self._err("matrix entries must be 0 or 1")
        n = m.shape[0]
        if np.tril(m).any():
            raise self._err("matrix must be strictly upper triangular (edges i->j with i<j; no cycles)")
        if not isinstance(ops, (list, tuple)) or len(ops) != n:
            raise self._err(f"ops must list {n} operation names; got {ops!r}")
        if ops[0] != "input" or ops[-1] != "output":
            raise self._err(f"ops must start with 'input' and end with 'output'; got {list(ops)}")
        for o in ops[1:-1]:
            if o not in self.node_op_choices:
                raise self._err(f"unknown op {o!r}; allowed: {self.node_op_choices}")
        # pad: nodes 0..n-2 keep their index, the output moves to 6, padding nodes in between
        idx = list(range(n - 1)) + [N - 1]
        full = np.zeros((N, N), dtype=np.int64)
        for i in range(n):
            for j in range(n):
                if m[i, j]:
                    full[idx[i], idx[j]] = 1
        node_ops = [self.node_op_choices.index(o) for o in ops[1:-1]] + [0] * (N - n)
        seq = [int(full[s, d]) for s, d in TRIU] + node_ops
        return self.from_sequence(seq)

    def _parse(self, text: Any, fmt: str | None) -> Arch:
        if fmt is None:
            if isinstance(text, dict) or isinstance(text, str) and text.strip().startswith("{"):
                fmt = "json"
            elif isinstance(text, str) and text.strip().startswith("(") or isinstance(text, tuple):
                fmt = "naslib"
            else:
                fmt = "sequence"
        if fmt == "json":
            try:
                obj = json.loads(text, object_pairs_hook=_no_duplicate_keys) if isinstance(text, str) else text
            except json.JSONDecodeError as exc:
                raise self._err(f"cannot read JSON {text!r}: {exc.msg}") from None
            except _DuplicateKey as exc:
                raise self._err(f"JSON key {exc.args[0]!r} is given twice in {text!r}") from None
            if not isinstance(obj, dict) or "matrix" not in obj or "ops" not in obj:
                raise self._err('NB101 JSON must be {"matrix": [[...]], "ops": [...]}')
            return self.from_matrix_ops(obj["matrix"], obj["ops"])
        if fmt == "naslib":
            vals = _parse_int_list(text, self.name)
            if len(vals) != N * N + N:
                raise self._err(f"NASLib NB101 tuple must have {N * N + N} integers (7x7 matrix + 7 ops); got {len(vals)}")
            m = np.array(vals[:N * N]).reshape(N, N)
            codes = vals[N * N:]
            try:
                ops = [self._naslib_ops[c] for c in codes]
            except (IndexError, TypeError):
                raise self._err(f"NASLib op codes must be in [0, {len(self._naslib_ops) - 1}]; got {codes}") from None
            return self.from_matrix_ops(m, ops)
        return super()._parse(text, "sequence")

    def _format(self, arch: Arch, fmt: str) -> str:
        g = self._graph(arch.seq)
        m = np.zeros((N, N), dtype=np.int64)
        for s, d, _ in g.edges:
            m[s, d] = 1
        if fmt == "json":
            # the full 7-node form (exact round trip); matrix_ops() gives the pruned form
            return json.dumps({"matrix": m.tolist(), "ops": list(g.node_labels)}, separators=(",", ":"))
        if fmt == "naslib":
            codes = [self._naslib_ops.index(lab) for lab in g.node_labels]
            return "(" + ", ".join(map(str, list(m.reshape(-1)) + codes)) + ")"
        return super()._format(arch, fmt)
