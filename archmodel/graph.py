"""Labelled DAGs of cells, pruning, and an exact canonical form under node relabelling.

Every search space converts its cells to :class:`CellGraph`: nodes ``0..n-1``, a tuple of fixed
input nodes, one fixed output node, a label per node (operation-on-node spaces) and a label per
edge (operation-on-edge spaces; ``""`` where edges are plain). Two cells are *structurally*
identical iff their pruned graphs are isomorphic by a bijection that fixes every input node and
the output node and may permute the intermediate nodes.

The canonical form is exact, not a hash heuristic: nodes are first split into classes by
Weisfeiler-Lehman style refinement over in- and out-neighbourhoods (an isomorphism invariant),
then every ordering of the intermediate nodes that is consistent with the classes is tried and
the lexicographically smallest encoding is kept. Cells have at most a handful of intermediate
nodes, so this is cheap.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable

NO_PATH_KEY = "<no-path>"


@dataclass(frozen=True)
class CellGraph:
    """A labelled DAG.

    Attributes
    ----------
    n_nodes : int
    inputs : tuple of int
        Fixed, distinguishable input nodes (in order).
    output : int
        The fixed output node.
    node_labels : tuple of str, length n_nodes
    edges : tuple of (src, dst, label)
        Multiset of labelled edges (a pair may carry several edges).
    """

    n_nodes: int
    inputs: tuple[int, ...]
    output: int
    node_labels: tuple[str, ...]
    edges: tuple[tuple[int, int, str], ...]

    def successors(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(self.n_nodes)]
        for s, d, _ in self.edges:
            out[s].append(d)
        return out

    def predecessors(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(self.n_nodes)]
        for s, d, _ in self.edges:
            out[d].append(s)
        return out

    def has_cycle(self) -> bool:
        """Whether the graph has a directed cycle (Kahn's algorithm)."""
        indeg = [0] * self.n_nodes
        for _, d, _ in self.edges:
            indeg[d] += 1
        succ = self.successors()
        stack = [v for v in range(self.n_nodes) if indeg[v] == 0]
        seen = 0
        while stack:
            v = stack.pop()
            seen += 1
            for w in succ[v]:
                indeg[w] -= 1
                if indeg[w] == 0:
                    stack.append(w)
        return seen != self.n_nodes


def _reach(start: Iterable[int], nbrs: list[list[int]]) -> set[int]:
    seen = set(start)
    stack = list(seen)
    while stack:
        v = stack.pop()
        for w in nbrs[v]:
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return seen


def prune(g: CellGraph, drop_edge_labels: Iterable[str] = ("none",)) -> CellGraph | None:
    """Remove edges labelled in ``drop_edge_labels`` and nodes off every input-to-output path.

    Returns ``None`` when no input-to-output path remains. Input nodes and the output node are
    always kept (an input with no path to the output keeps its slot but loses its edges), and
    the remaining nodes are renumbered in their original order.
    """
    drop = set(drop_edge_labels)
    edges = [e for e in g.edges if e[2] not in drop]
    tmp = CellGraph(g.n_nodes, g.inputs, g.output, g.node_labels, tuple(edges))
    fwd = _reach(g.inputs, tmp.successors())
    bwd = _reach([g.output], tmp.predecessors())
    if g.output not in fwd:
        return None
    alive = (fwd & bwd) | set(g.inputs) | {g.output}
    order = [v for v in range(g.n_nodes) if v in alive]
    new = {v: i for i, v in enumerate(order)}
    kept = tuple(sorted((new[s], new[d], lab) for s, d, lab in edges
                        if s in fwd and s in bwd and d in fwd and d in bwd))
    return CellGraph(len(order), tuple(new[v] for v in g.inputs), new[g.output],
                     tuple(g.node_labels[v] for v in order), kept)


def _refine(g: CellGraph, fixed: dict[int, int]) -> list[int]:
    """Colour refinement over in- and out-neighbourhoods.

    Returns a rank per node. Ranks are deterministic (built by sorting tuples of strings and
    integers, never from salted hashes) and invariant under relabelling of free nodes, so
    they can be used to order nodes canonically.
    """
    n = g.n_nodes
    ins: list[list[tuple[str, int]]] = [[] for _ in range(n)]
    outs: list[list[tuple[str, int]]] = [[] for _ in range(n)]
    for s, d, lab in g.edges:
        outs[s].append((lab, d))
        ins[d].append((lab, s))
    sigs: list[tuple] = [((0, fixed[v], "") if v in fixed else (1, 0, g.node_labels[v])) for v in range(n)]
    ranks = _ranks(sigs)
    for _ in range(n + 1):
        sigs = [(ranks[v],
                 tuple(sorted((lab, ranks[u]) for lab, u in ins[v])),
                 tuple(sorted((lab, ranks[u]) for lab, u in outs[v])))
                for v in range(n)]
        new = _ranks(sigs)
        if len(set(new)) == len(set(ranks)):
            return new
        ranks = new
    return ranks


def _ranks(sigs: list[tuple]) -> list[int]:
    order = {s: i for i, s in enumerate(sorted(set(sigs)))}
    return [order[s] for s in sigs]


def canonical_encoding(g: CellGraph) -> tuple:
    """Exact canonical encoding of ``g`` under permutations of its intermediate nodes.

    Inputs keep their order and come first, the output is placed last. Intermediate nodes are
    grouped by their refinement rank (an invariant); every ordering within the groups is
    tried and the smallest encoding kept. Returns ``(n_nodes, node_labels, sorted edges)``,
    equal for two graphs iff they are isomorphic by such a permutation.
    """
    fixed = {v: i for i, v in enumerate(g.inputs)}
    fixed[g.output] = len(g.inputs)
    ranks = _refine(g, fixed)
    classes: dict[int, list[int]] = {}
    for v in range(g.n_nodes):
        if v not in fixed:
            classes.setdefault(ranks[v], []).append(v)
    ordered = [classes[r] for r in sorted(classes)]
    n_in = len(g.inputs)
    best: tuple | None = None
    for perms in itertools.product(*(itertools.permutations(c) for c in ordered)):
        pos = {v: i for i, v in enumerate(g.inputs)}
        k = n_in
        for block in perms:
            for v in block:
                pos[v] = k
                k += 1
        pos[g.output] = k
        labels = [""] * g.n_nodes
        for v, p in pos.items():
            labels[p] = g.node_labels[v]
        enc = (g.n_nodes, tuple(labels), tuple(sorted((pos[s], pos[d], lab) for s, d, lab in g.edges)))
        if best is None or enc < best:
            best = enc
    if best is None:  # pragma: no cover - product() always yields at least one item
        raise RuntimeError("no ordering generated")
    return best


def encoding_to_key(enc: tuple) -> str:
    """A compact printable form of :func:`canonical_encoding`'s result."""
    n, labels, edges = enc
    lab = ",".join(labels) if any(labels) else ""
    es = ",".join(f"{s}>{d}" + (f":{l}" if l else "") for s, d, l in edges)
    return f"n{n}" + (f"[{lab}]" if lab else "") + "{" + es + "}"


def structural_key(g: CellGraph, drop_edge_labels: Iterable[str] = ("none",)) -> str:
    """Prune ``g`` and return its canonical key (:data:`NO_PATH_KEY` if no path remains)."""
    p = prune(g, drop_edge_labels)
    if p is None:
        return NO_PATH_KEY
    return encoding_to_key(canonical_encoding(p))
