"""Operation-on-edge cells with a fixed edge list (NAS-Bench-201, TransNAS-Bench-101 micro).

Sequence: one decision per edge, in the spec's ``edges`` order, each an index into ``ops``
(index 0 is the ``none`` op). For NB201 the edge order is the arch string's
``(0,1),(0,2),(1,2),(0,3),(1,3),(2,3)`` and ``ops`` is NB201's own
``[none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3]``.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Sequence

import numpy as np

from archmodel.arch import Arch
from archmodel.graph import CellGraph
from archmodel.spaces.base import CONTRACT_WHITESPACE, SearchSpace, _parse_int_list, product_seqs

_NODE_GROUP = re.compile(r"\|(.*)\|", re.DOTALL)


class FixedEdgeSpace(SearchSpace):
    """A cell of ``nodes`` nodes (node 0 input, last node output) and a fixed edge list."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.edges: list[tuple[int, int]] = [tuple(e) for e in spec["edges"]]  # type: ignore[misc]
        self.n_nodes: int = int(spec["nodes"])
        super().__init__(spec)
        self.formats = tuple(spec.get("formats", ["arch_str", "naslib", "sequence"]))
        naslib = spec.get("naslib")
        if naslib:
            self._naslib_edges = [tuple(e) for e in naslib["edge_order"]]
            self._naslib_ops = list(naslib["ops"])
            self._naslib_perm = [self.edges.index(e) for e in self._naslib_edges]  # naslib pos -> our edge
        self.sequence_doc = (
            "one op index per edge, edges (src,dst) in order "
            + ",".join(f"({s},{d})" for s, d in self.edges)
            + "; ops " + ", ".join(f"{i} {o}" for i, o in enumerate(self.ops))
        )

    def _decision_sizes(self) -> tuple[int, ...]:
        return tuple(len(self.ops) for _ in self.edges)

    def decision_name(self, i: int) -> str:
        s, d = self.edges[i]
        return f"op of edge {s}->{d}"

    def _check(self, seq: tuple[int, ...]) -> str | None:
        return None

    @property
    def size(self) -> int:
        return len(self.ops) ** len(self.edges)

    @property
    def enumerable(self) -> bool:
        return True

    def _enumerate_seqs(self) -> Iterator[tuple[int, ...]]:
        return product_seqs(self.decision_sizes)

    def _sample_seq(self, rng: np.random.Generator) -> tuple[int, ...]:
        return tuple(int(v) for v in rng.integers(0, len(self.ops), size=len(self.edges)))

    def sample(self, n: int, rng: Any = None, *, unique: bool = False) -> list[Arch]:
        if unique:
            return super().sample(n, rng, unique=True)
        rng = np.random.default_rng(rng)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            return super().sample(n, rng)
        draws = rng.integers(0, len(self.ops), size=(int(n), len(self.edges)))
        return [Arch(self.name, tuple(int(v) for v in row)) for row in draws]

    def cell_graphs(self, arch: Arch) -> list[CellGraph]:
        edges = tuple((s, d, self.ops[o]) for (s, d), o in zip(self.edges, arch.seq))
        return [CellGraph(self.n_nodes, (0,), self.n_nodes - 1, ("",) * self.n_nodes, edges)]

    def _edge_rows_vectorised(self, archs: Sequence[Arch]) -> np.ndarray:
        """``edges`` (B, 1, E, 3): the fixed (src, dst) of every edge, op = the decision."""
        seqs = self.sequences(archs)
        edges = np.empty((len(archs), 1, len(self.edges), 3), dtype=np.int64)
        edges[:, 0, :, 0] = [s for s, _ in self.edges]
        edges[:, 0, :, 1] = [d for _, d in self.edges]
        edges[:, 0, :, 2] = seqs
        return edges

    # ------------------------------------------------------------------ strings
    def _parse(self, text: Any, fmt: str | None) -> Arch:
        if fmt is None:
            if isinstance(text, str) and text.strip().startswith("|"):
                fmt = "arch_str"
            elif isinstance(text, str) and text.strip()[:1] not in tuple("([-0123456789"):
                example = "(" + ", ".join(["0"] * len(self.edges)) + ")"
                raise self._err(
                    f"cannot read {text!r}: expected an arch string '|op~0|+|op~0|op~1|+|...|' or op codes "
                    f"such as {example!r} (formats: {', '.join(self.formats)})")
            elif isinstance(text, (str, list, tuple, np.ndarray)):
                fmt = "naslib" if "naslib" in self.formats else "sequence"
            else:
                raise self._err(f"cannot read an architecture from {type(text).__name__} {text!r}")
        if fmt == "arch_str":
            return self._parse_arch_str(text)
        if fmt == "naslib":
            vals = _parse_int_list(text, self.name)
            if len(vals) != len(self.edges):
                raise self._err(
                    f"NASLib tuple must have {len(self.edges)} op codes; got {len(vals)}: {text!r}"
                )
            seq = [0] * len(self.edges)
            for pos, code in enumerate(vals):
                if isinstance(code, bool) or not isinstance(code, (int, np.integer)) or not 0 <= code < len(self._naslib_ops):
                    raise self._err(
                        f"NASLib op code at position {pos} must be in [0, {len(self._naslib_ops) - 1}] "
                        f"({', '.join(f'{i} {o}' for i, o in enumerate(self._naslib_ops))}); got {code!r}"
                    )
                seq[self._naslib_perm[pos]] = self.ops.index(self._naslib_ops[int(code)])
            return self.from_sequence(seq)
        return self.from_sequence(_parse_int_list(text, self.name))

    def _parse_arch_str(self, text: Any) -> Arch:
        if not isinstance(text, str):
            raise self._err(f"arch string must be a str; got {type(text).__name__}")
        groups = text.strip(CONTRACT_WHITESPACE).split("+")
        if len(groups) != self.n_nodes - 1:
            raise self._err(
                f"arch string must have {self.n_nodes - 1} '+'-separated node groups; got {len(groups)}: {text!r}"
            )
        ops_at: dict[tuple[int, int], int] = {}
        for i, grp in enumerate(groups, start=1):
            m = _NODE_GROUP.fullmatch(grp.strip(CONTRACT_WHITESPACE))
            if not m:
                raise self._err(f"node group {i} must look like '|op~0|op~1|'; got {grp!r}")
            items = m.group(1).split("|")
            if len(items) != i:
                raise self._err(f"node group {i} must list {i} incoming edges; got {len(items)} in {grp!r}")
            for item in items:
                op, sep, src = item.rpartition("~")
                if not sep or not (src.isascii() and src.isdigit()):
                    raise self._err(f"edge {item!r} in node group {i} must look like 'op~j'")
                j = int(src)
                if op not in self.ops:
                    raise self._err(f"unknown op {op!r} in {item!r}; allowed: {self.ops}")
                if j >= i:
                    raise self._err(f"edge {item!r} into node {i} must come from a node in [0, {i - 1}]")
                if (j, i) in ops_at:
                    raise self._err(f"edge {j}->{i} given twice in {text!r}")
                ops_at[(j, i)] = self.ops.index(op)
        missing = [e for e in self.edges if e not in ops_at]
        if missing:  # pragma: no cover - guarded by the per-group counts
            raise self._err(f"arch string lacks edges {missing}")
        return self.from_sequence([ops_at[e] for e in self.edges])

    def _format(self, arch: Arch, fmt: str) -> str:
        if fmt == "arch_str":
            op = {e: self.ops[o] for e, o in zip(self.edges, arch.seq)}
            groups = []
            for i in range(1, self.n_nodes):
                groups.append("|" + "|".join(f"{op[(j, i)]}~{j}" for j in range(i)) + "|")
            return "+".join(groups)
        if fmt == "naslib":
            codes = [self._naslib_ops.index(self.ops[arch.seq[self._naslib_perm[p]]]) for p in range(len(self.edges))]
            return "(" + ", ".join(map(str, codes)) + ")"
        return super()._format(arch, fmt)

    # ------------------------------------------------------------------ NB201 unique key
    @property
    def key_kinds(self) -> tuple[str, ...]:
        return ("structural", "unique") if self.spec.get("unique_key") == "nb201" else ("structural",)

    def _other_key(self, arch: Arch, kind: str) -> str:
        return nb201_unique_key(self, arch)


def nb201_unique_key(space: FixedEdgeSpace, arch: Arch) -> str:
    """NAS-Bench-201's own de-isomorphism key (the one behind "6,466 unique architectures").

    Node 0's expression is ``0``. Every later node's expression is the sorted, '+'-joined list
    of its incoming terms, where a term is ``#`` if the edge is ``none`` or its source
    expression is exactly ``#``, the source's expression if the edge is ``skip_connect``, and
    ``(`` + source + ``)@`` + op otherwise. The key is the output node's expression.
    """
    op = {e: space.ops[o] for e, o in zip(space.edges, arch.seq)}
    expr = ["0"]
    for i in range(1, space.n_nodes):
        terms = []
        for j in range(i):
            o, src = op[(j, i)], expr[j]
            if o == space.none_op or src == "#":
                terms.append("#")
            elif o == space.spec.get("skip_op", "skip_connect"):
                terms.append(src)
            else:
                terms.append(f"({src})@{o}")
        expr.append("+".join(sorted(terms)))
    return expr[-1]
