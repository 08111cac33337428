"""NAS-Bench-Graph cells: 4 computing nodes, each with one operation and one input.

Sequence: ``[L, o1, o2, o3, o4]``, the digits of the benchmark's hash. ``L`` indexes the
spec's ``links`` (the input of each computing node, 0 = the graph input, k = computing node k)
and ``o_i`` indexes ``ops`` (the node operations). Computing nodes no other node reads feed the
output. The hash is ``L * b^4 + o1 * b^3 + ... + o4`` with base ``b = len(ops) + 1`` = 10: its
decimal digits are the sequence. Every light benchmark file, proteins included, is keyed by this
hash (the proteins cells just use only gcn, sage, arma, fc and skip). The package's code also
defines a 5-op, base-6 hash for proteins (``Arch.hash_arch(use_proteins=True)``), available here
as ``proteins=True``; the shipped files do not use it.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from archmodel.arch import Arch
from archmodel.graph import CellGraph
from archmodel.spaces.base import CONTRACT_WHITESPACE, SearchSpace, product_seqs


class LinkPatternSpace(SearchSpace):
    """Operation-on-node cells whose wiring is one of a fixed list of link patterns."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.links: list[list[int]] = [list(l) for l in spec["links"]]
        self.node_op_choices: list[str] = list(spec["node_op_choices"])
        self.n_comp = len(self.links[0])
        super().__init__(spec)
        self.formats = tuple(spec.get("formats", ["hash", "sequence"]))
        self.protein_ops: list[str] = list(spec.get("protein_ops", []))
        self.sequence_doc = (
            "[L, o1..o4]: L indexes links " + str(self.links) + "; o indexes "
            + ", ".join(f"{i} {o}" for i, o in enumerate(self.node_op_choices))
        )

    def _decision_sizes(self) -> tuple[int, ...]:
        return (len(self.spec["links"]),) + (len(self.spec["node_op_choices"]),) * len(self.spec["links"][0])

    def decision_name(self, i: int) -> str:
        return "link pattern" if i == 0 else f"op of computing node {i}"

    def _check(self, seq: tuple[int, ...]) -> str | None:
        skip = self.spec.get("skip_op")
        if skip is not None and all(self.node_op_choices[o] == skip for o in seq[1:]):
            return f"every computing node is {skip!r}; the benchmark excludes this cell"
        return None

    @property
    def size(self) -> int:
        n = len(self.links) * len(self.node_op_choices) ** self.n_comp
        return n - (len(self.links) if self.spec.get("skip_op") else 0)

    @property
    def enumerable(self) -> bool:
        return True

    def _enumerate_seqs(self) -> Iterator[tuple[int, ...]]:
        return (s for s in product_seqs(self.decision_sizes) if self._check(s) is None)

    def _sample_seq(self, rng: np.random.Generator) -> tuple[int, ...]:
        while True:
            s = tuple(int(v) for v in rng.integers(0, self.decision_sizes))
            if self._check(s) is None:
                return s

    def cell_graphs(self, arch: Arch) -> list[CellGraph]:
        link = self.links[arch.seq[0]]
        n = self.n_comp + 2
        edges = [(src, i + 1, "") for i, src in enumerate(link)]
        used = set(link)
        edges += [(v, n - 1, "") for v in range(1, self.n_comp + 1) if v not in used]
        labels = ("input",) + tuple(self.node_op_choices[o] for o in arch.seq[1:]) + ("output",)
        return [CellGraph(n, (0,), n - 1, labels, tuple(edges))]

    def to_hash(self, arch: Arch, *, proteins: bool = False) -> int:
        """The benchmark's integer hash (``proteins=True``: the package's alternative 5-op, base-6 hash)."""
        self.check_arch(arch)
        ops = self.protein_ops if proteins else self.node_op_choices
        b = len(ops) + 1
        h = arch.seq[0]
        for o in arch.seq[1:]:
            name = self.node_op_choices[o]
            if name not in ops:
                raise self._err(f"op {name!r} is not in the proteins op set {ops}")
            h = h * b + ops.index(name)
        return h

    def from_hash(self, h: Any, *, proteins: bool = False) -> Arch:
        """Decode a benchmark hash (``proteins=True``: the alternative 5-op, base-6 hash)."""
        if isinstance(h, str):
            t = h.strip(CONTRACT_WHITESPACE)
            if not (t.isascii() and t.isdigit()):
                raise self._err(f"hash must be a non-negative integer (ASCII digits 0-9); got {h!r}")
            h = int(t)
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 0:
            raise self._err(f"hash must be a non-negative integer; got {h!r}")
        ops = self.protein_ops if proteins else self.node_op_choices
        b = len(ops) + 1
        digits = []
        v = int(h)
        for _ in range(self.n_comp):
            v, r = divmod(v, b)
            digits.append(r)
        link = v
        if link >= len(self.links):
            raise self._err(f"hash {h} decodes to link pattern {link}; allowed [0, {len(self.links) - 1}]")
        if any(d >= len(ops) for d in digits):
            raise self._err(f"hash {h} has an op digit out of range [0, {len(ops) - 1}] (base {b})")
        seq = [link] + [self.node_op_choices.index(ops[d]) for d in reversed(digits)]
        return self.from_sequence(seq)

    def _parse(self, text: Any, fmt: str | None) -> Arch:
        if fmt is None:
            fmt = "hash" if isinstance(text, (int, np.integer)) or isinstance(text, str) and text.strip().isdigit() else "sequence"
        if fmt == "hash":
            return self.from_hash(text)
        return super()._parse(text, "sequence")

    def _format(self, arch: Arch, fmt: str) -> str:
        if fmt == "hash":
            return str(self.to_hash(arch))
        return super()._format(arch, fmt)
