"""DARTS-style cells: each intermediate node takes two inputs, each through one operation.

Used by DARTS / NAS-Bench-301 and ENAS (NDS). A cell has ``inputs`` input nodes (the outputs
of the two previous cells, nodes 0 and 1), ``intermediate`` nodes (2, 3, ...), and an output
node that concatenates some intermediate nodes: all of them (DARTS) or the *loose ends*, those
no other intermediate node reads (ENAS).

Sequence: for each cell (in ``cells`` order), for each intermediate node k = 0, 1, ...:
``[in_a, op_a, in_b, op_b]`` where ``in`` indexes the node (0..1 inputs, 2.. intermediates,
only nodes before node k allowed) and ``op`` indexes the operations *without* ``none``
(``ops[op + 1]``; this equals NASLib's compact op codes). The pair of inputs is unordered, so the
sequence stores it canonically: ``(in_a, op_a) <= (in_b, op_b)``; with ``distinct_inputs``
(DARTS) ``in_a < in_b``.
"""
from __future__ import annotations

import ast
from typing import Any

import numpy as np

from archmodel.arch import Arch
from archmodel.graph import CellGraph
from archmodel.spaces.base import SearchSpace
from archmodel.spaces.genotype_syntax import GenotypeSyntaxError, parse_genotype_call

CONCAT = "concat"


class TwoInputCellSpace(SearchSpace):
    """DARTS / ENAS cell pairs."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.n_inputs: int = int(spec["inputs"])
        self.n_inter: int = int(spec["intermediate"])
        self.distinct: bool = bool(spec.get("distinct_inputs", True))
        self.concat_rule: str = spec.get("concat", "all")
        super().__init__(spec)
        self.n_ops = len(self.ops) - 1  # without none
        self.n_nodes = self.n_inputs + self.n_inter + 1
        self.formats = tuple(spec.get("formats", ["genotype", "naslib", "sequence"]))
        self.sequence_doc = (
            f"per cell ({', '.join(self.cell_names)}), per intermediate node k=0..{self.n_inter - 1}: "
            "[in_a, op_a, in_b, op_b]; in = source node (0..1 cell inputs, 2.. intermediates, < k+2); "
            "op = index into ops without 'none' (" + ", ".join(f"{i} {o}" for i, o in enumerate(self.ops[1:]))
            + "); pairs stored sorted" + (" with distinct inputs" if self.distinct else "")
        )

    _encoder_extra_ops = (CONCAT,)

    @property
    def per_cell(self) -> int:
        return 4 * self.n_inter

    def _edge_rows_per_cell(self) -> int:
        """Two input edges per intermediate node plus at most one concat edge from each."""
        return 2 * self.n_inter + self.n_inter

    def _decision_sizes(self) -> tuple[int, ...]:
        max_in = self.n_inputs + self.n_inter - 1
        one = []
        for _k in range(self.n_inter):
            one += [max_in, len(self.ops) - 1, max_in, len(self.ops) - 1]
        return tuple(one * len(self.cell_names))

    def decision_name(self, i: int) -> str:
        c, r = divmod(i, self.per_cell)
        k, f = divmod(r, 4)
        what = ["input a", "op a", "input b", "op b"][f]
        return f"{self.cell_names[c]} node {k + self.n_inputs} {what}"

    def _nodes(self, seq: tuple[int, ...], c: int) -> list[tuple[int, int, int, int]]:
        base = c * self.per_cell
        return [tuple(seq[base + 4 * k: base + 4 * k + 4]) for k in range(self.n_inter)]  # type: ignore[misc]

    def _normalise(self, seq: tuple[int, ...]) -> tuple[int, ...]:
        out = list(seq)
        for c in range(len(self.cell_names)):
            for k in range(self.n_inter):
                i = c * self.per_cell + 4 * k
                a, b = (out[i], out[i + 1]), (out[i + 2], out[i + 3])
                if b < a:
                    out[i:i + 4] = [b[0], b[1], a[0], a[1]]
        return tuple(out)

    def _check(self, seq: tuple[int, ...]) -> str | None:
        for c, cell in enumerate(self.cell_names):
            for k, (ia, oa, ib, ob) in enumerate(self._nodes(seq, c)):
                node = k + self.n_inputs
                for src in (ia, ib):
                    if src >= node:
                        return (f"{cell} node {node} reads node {src}; inputs of node {node} must be "
                                f"in [0, {node - 1}] (no cycles, no edges into inputs)")
                if self.distinct and ia == ib:
                    return f"{cell} node {node} reads node {ia} twice; this space needs two distinct inputs"
        return None

    @property
    def size(self) -> int:
        total = 1
        K = self.n_ops
        for k in range(self.n_inter):
            m = self.n_inputs + k
            if self.distinct:
                per = (m * (m - 1) // 2) * K * K
            else:
                per = (m * (m - 1) // 2) * K * K + m * (K * (K + 1) // 2)
            total *= per
        return total ** len(self.cell_names)

    def _sample_seq(self, rng: np.random.Generator) -> tuple[int, ...]:
        seq: list[int] = []
        for _c in self.cell_names:
            for k in range(self.n_inter):
                m = self.n_inputs + k
                if self.distinct:
                    ia, ib = (int(v) for v in rng.choice(m, size=2, replace=False))
                else:
                    ia, ib = (int(v) for v in rng.integers(0, m, size=2))
                oa, ob = (int(v) for v in rng.integers(0, self.n_ops, size=2))
                seq += [ia, oa, ib, ob]
        return self._normalise(tuple(seq))

    def concat_nodes(self, seq: tuple[int, ...], c: int) -> list[int]:
        """Intermediate nodes concatenated into cell ``c``'s output."""
        inter = list(range(self.n_inputs, self.n_inputs + self.n_inter))
        if self.concat_rule == "all":
            return inter
        used = {src for (ia, _, ib, _) in self._nodes(seq, c) for src in (ia, ib)}
        return [v for v in inter if v not in used]

    def cell_graphs(self, arch: Arch) -> list[CellGraph]:
        out = []
        for c in range(len(self.cell_names)):
            edges = []
            for k, (ia, oa, ib, ob) in enumerate(self._nodes(arch.seq, c)):
                node = k + self.n_inputs
                edges.append((ia, node, self.ops[oa + 1]))
                edges.append((ib, node, self.ops[ob + 1]))
            for v in self.concat_nodes(arch.seq, c):
                edges.append((v, self.n_nodes - 1, CONCAT))
            out.append(CellGraph(self.n_nodes, tuple(range(self.n_inputs)), self.n_nodes - 1,
                                 ("",) * self.n_nodes, tuple(edges)))
        return out

    # ------------------------------------------------------------------ strings
    def _parse(self, text: Any, fmt: str | None) -> Arch:
        if fmt is None:
            if isinstance(text, str) and text.strip().startswith("Genotype"):
                fmt = "genotype"
            elif isinstance(text, str) and text.strip().startswith("[[") or isinstance(text, (list, tuple)) and text and isinstance(text[0], (list, tuple)):
                fmt = "naslib"
            else:
                fmt = "sequence"
        if fmt == "genotype":
            return self._parse_genotype(text)
        if fmt == "naslib":
            return self._parse_naslib(text)
        return super()._parse(text, "sequence")

    def _parse_naslib(self, text: Any) -> Arch:
        try:
            obj = ast.literal_eval(text) if isinstance(text, str) else text
        except (ValueError, SyntaxError):
            raise self._err(f"cannot read NASLib compact form {text!r}: expected [[(input, op), ...], [...]]") from None
        if not isinstance(obj, (list, tuple)) or len(obj) != len(self.cell_names):
            raise self._err(f"NASLib compact form must list {len(self.cell_names)} cells; got {text!r}")
        seq: list[int] = []
        for c, cell in enumerate(obj):
            if not isinstance(cell, (list, tuple)) or len(cell) != 2 * self.n_inter:
                raise self._err(f"cell {c} must hold {2 * self.n_inter} (input, op) pairs; got {cell!r}")
            for pair in cell:
                if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                    raise self._err(f"expected an (input, op) pair; got {pair!r}")
                seq += [pair[0], pair[1]]
        return self.from_sequence(seq)

    def _parse_genotype(self, text: Any) -> Arch:
        if not isinstance(text, str):
            raise self._err(f"genotype must be a string; got {type(text).__name__}")
        allowed = tuple(self.cell_names) + tuple(f"{c}_concat" for c in self.cell_names)
        try:
            fields = parse_genotype_call(text, allowed)  # its tokenizer skips the contract's whitespace
        except GenotypeSyntaxError as exc:
            raise self._err(f"cannot read genotype {text!r}: {exc}") from None
        seq: list[int] = []
        for cell in self.cell_names:
            if cell not in fields:
                raise self._err(f"genotype lacks field {cell!r}; fields present: {sorted(fields)}")
            pairs = fields[cell]
            if not isinstance(pairs, (list, tuple)) or len(pairs) != 2 * self.n_inter:
                raise self._err(f"genotype field {cell!r} must hold {2 * self.n_inter} (op, input) pairs")
            for pair in pairs:
                if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                    raise self._err(f"expected an (op, input) pair in {cell!r}; got {pair!r}")
                op, src = pair
                if not isinstance(op, str) or op not in self.ops[1:]:
                    raise self._err(f"unknown op {op!r} in {cell!r}; allowed: {self.ops[1:]}")
                if isinstance(src, bool) or not isinstance(src, int):
                    raise self._err(f"input of {pair!r} in {cell!r} must be an integer")
                seq += [src, self.ops.index(op) - 1]
        arch = self.from_sequence(seq)
        for c, cell in enumerate(self.cell_names):
            given = fields.get(f"{cell}_concat")
            if given is not None:
                want = self.concat_nodes(arch.seq, c)
                if not isinstance(given, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in given) \
                        or sorted(given) != sorted(int(v) for v in want):
                    raise self._err(f"{cell}_concat is {given!r} but this space concatenates {want}")
        return arch

    def _format(self, arch: Arch, fmt: str) -> str:
        if fmt == "genotype":
            parts = []
            for c, cell in enumerate(self.cell_names):
                pairs = []
                for ia, oa, ib, ob in self._nodes(arch.seq, c):
                    pairs += [(self.ops[oa + 1], ia), (self.ops[ob + 1], ib)]
                parts.append(f"{cell}=[" + ", ".join(f"('{o}', {i})" for o, i in pairs) + "]")
                parts.append(f"{cell}_concat={self.concat_nodes(arch.seq, c)}")
            return "Genotype(" + ", ".join(parts) + ")"
        if fmt == "naslib":
            cells = []
            for c in range(len(self.cell_names)):
                pairs = []
                for ia, oa, ib, ob in self._nodes(arch.seq, c):
                    pairs += [f"({ia}, {oa})", f"({ib}, {ob})"]
                cells.append("[" + ", ".join(pairs) + "]")
            return "[" + ", ".join(cells) + "]"
        return super()._format(arch, fmt)
