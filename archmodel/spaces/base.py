"""The generic search-space implementation shared by every topology.

A space is defined by a JSON spec (``specs/spaces/<name>.json``) and a *topology* class that
knows how decisions map to cell graphs. Everything else (sampling, mutation, neighbours,
canonical keys, one-hot, path encoding) is generic and lives here; the batched encoder arrays
are built in :mod:`archmodel.spaces.arrays` through the ``_encoder_extra_ops``,
``_edge_rows_per_cell`` and ``_edge_rows_vectorised`` hooks below.
"""
from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from typing import Any, Iterator, Sequence

import numpy as np

from archmodel.arch import Arch
from archmodel.errors import InvalidArchitectureError, ParameterError, check_choice
from archmodel.graph import CellGraph, prune, structural_key
from archmodel.spaces.arrays import GraphBatch, graph_arrays

#: The whitespace that architecture strings may carry around their tokens (the ONNX contract's
#: ``build.whitespace``): space, tab, CR and LF; other characters that ``str.strip`` would drop
#: (form feed, vertical tab, no-break space, ...) are refused.
CONTRACT_WHITESPACE = " \t\r\n"


class SearchSpace(ABC):
    """A search space read from a JSON spec.

    Parameters
    ----------
    spec : dict
        The parsed JSON spec (see ``specs/spaces/README.md`` for its fields).

    Attributes
    ----------
    name : str
    kind : {'edge', 'node'}
        Where operations live: on edges (NB201, DARTS, ENAS) or on nodes (NB101, NAS-Bench-Graph).
    ops : list of str
        The operation vocabulary used by sequences and adjacency matrices.
    cell_names : list of str
        One per cell type (``['cell']``, or ``['normal', 'reduce']``).
    decision_sizes : tuple of int
        Number of choices of each decision of the sequential representation.
    """

    #: string formats accepted by :meth:`parse` / produced by :meth:`format`; first = default
    formats: tuple[str, ...] = ("sequence",)
    sequence_doc: str = ""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.kind: str = spec["kind"]
        self.ops: list[str] = list(spec["ops"])
        self.cell_names: list[str] = list(spec.get("cells", ["cell"]))
        self.description: str = spec.get("description", "")
        self.none_op: str | None = spec.get("none_op")
        self.decision_sizes: tuple[int, ...] = self._decision_sizes()

    # ------------------------------------------------------------------ topology hooks
    @abstractmethod
    def _decision_sizes(self) -> tuple[int, ...]:
        """Choices per decision."""

    @abstractmethod
    def _check(self, seq: tuple[int, ...]) -> str | None:
        """Return ``None`` if ``seq`` (right length, in-range ints) is valid, else the reason."""

    @abstractmethod
    def cell_graphs(self, arch: Arch) -> list[CellGraph]:
        """One labelled DAG per cell (unpruned; ``none`` edges still present)."""

    @abstractmethod
    def _sample_seq(self, rng: np.random.Generator) -> tuple[int, ...]:
        """Draw one valid sequence."""

    def _normalise(self, seq: tuple[int, ...]) -> tuple[int, ...]:
        """Put a sequence into the space's canonical decision order (identity by default)."""
        return seq

    # hooks of the encoder arrays (archmodel.spaces.arrays.graph_arrays)
    #: edge labels the graph encoders embed after :attr:`ops` (two-input cells: ``concat``)
    _encoder_extra_ops: tuple[str, ...] = ()

    def _edge_rows_per_cell(self) -> int:
        """Rows per cell of the ``edges`` array of an operation-on-edge space."""
        raise ParameterError(f"no edge layout for space {self.name!r}")

    def _edge_rows_vectorised(self, archs: Sequence[Arch]) -> np.ndarray | None:
        """The ``edges`` array (B, C, E, 3) of ``archs`` built in one go, or None (the default)
        to build it from :meth:`cell_graphs`."""
        return None

    @property
    def size(self) -> int | None:
        """Number of valid sequences (None if unknown)."""
        return None

    @property
    def enumerable(self) -> bool:
        return False

    def _enumerate_seqs(self) -> Iterator[tuple[int, ...]]:
        raise ParameterError(
            f"Search space {self.name!r} cannot be enumerated (size {self.size}); use sample()."
        )

    # ------------------------------------------------------------------ construction
    def _err(self, what: str) -> InvalidArchitectureError:
        return InvalidArchitectureError(f"[{self.name}] {what}")

    def from_sequence(self, seq: Sequence[int]) -> Arch:
        """Validate a decision sequence and return the :class:`Arch`.

        Raises
        ------
        InvalidArchitectureError
            Wrong length, non-integer or out-of-range decisions, or a sequence that breaks the
            space's rules (the message gives the reason).
        """
        try:
            items = list(seq)
        except TypeError:
            raise self._err(f"sequence must be a list of {len(self.decision_sizes)} integers; got {seq!r}") from None
        if len(items) != len(self.decision_sizes):
            raise self._err(
                f"sequence must have {len(self.decision_sizes)} decisions; got {len(items)}: {items!r}"
            )
        out = []
        for i, (v, k) in enumerate(zip(items, self.decision_sizes)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise self._err(f"decision {i} must be an integer in [0, {k - 1}]; got {v!r}")
            if not 0 <= int(v) < k:
                raise self._err(f"decision {i} ({self.decision_name(i)}) must be in [0, {k - 1}]; got {int(v)}")
            out.append(int(v))
        t = self._normalise(tuple(out))
        reason = self._check(t)
        if reason is not None:
            raise self._err(reason)
        return Arch(self.name, t)

    def decision_name(self, i: int) -> str:
        """Human-readable name of decision ``i``."""
        return f"decision {i}"

    def is_valid(self, seq: Sequence[int]) -> tuple[bool, str | None]:
        """Whether ``seq`` is a valid sequence, with the reason when it is not."""
        try:
            self.from_sequence(seq)
        except InvalidArchitectureError as exc:
            return False, str(exc)
        return True, None

    def check_arch(self, arch: Arch) -> Arch:
        """Raise unless ``arch`` belongs to this space."""
        if not isinstance(arch, Arch):
            raise InvalidArchitectureError(f"expected an Arch of space {self.name!r}; got {type(arch).__name__}")
        if arch.space != self.name:
            raise InvalidArchitectureError(
                f"architecture is from search space {arch.space!r}, not {self.name!r}"
            )
        return arch

    # ------------------------------------------------------------------ strings
    def parse(self, text: Any, fmt: str | None = None) -> Arch:
        """Parse one architecture from any of :attr:`formats` (auto-detected when ``fmt`` is None)."""
        if isinstance(text, Arch):
            return self.check_arch(text)
        if fmt is not None:
            check_choice(f"{self.name}.parse", "fmt", fmt, self.formats)
        return self._parse(text, fmt)

    def _parse(self, text: Any, fmt: str | None) -> Arch:
        if fmt in (None, "sequence"):
            return self.from_sequence(_parse_int_list(text, self.name))
        raise ParameterError(f"format {fmt!r} is not implemented for {self.name}")  # pragma: no cover

    def format(self, arch: Arch, fmt: str | None = None) -> str:
        """Write ``arch`` in format ``fmt`` (default: the space's default format)."""
        self.check_arch(arch)
        fmt = fmt or self.formats[0]
        check_choice(f"{self.name}.format", "fmt", fmt, self.formats)
        return self._format(arch, fmt)

    def _format(self, arch: Arch, fmt: str) -> str:
        return "[" + ", ".join(map(str, arch.seq)) + "]"

    # ------------------------------------------------------------------ keys
    def canonical_key(self, arch: Arch, kind: str = "structural") -> str:
        """Canonical key of ``arch``.

        ``'structural'``: prune ``none`` edges and nodes off every input-to-output path; two
        cells share a key iff the remaining labelled DAGs are isomorphic with inputs and output
        fixed. Multi-cell spaces join the cell keys with ``' | '``.
        """
        check_choice(f"{self.name}.canonical_key", "kind", kind, self.key_kinds)
        self.check_arch(arch)
        if kind == "structural":
            drop = (self.none_op,) if self.none_op else ()
            return " | ".join(structural_key(g, drop) for g in self.cell_graphs(arch))
        return self._other_key(arch, kind)

    @property
    def key_kinds(self) -> tuple[str, ...]:
        return ("structural",)

    def _other_key(self, arch: Arch, kind: str) -> str:  # pragma: no cover - guarded above
        raise ParameterError(kind)

    def pruned_graphs(self, arch: Arch) -> list[CellGraph | None]:
        drop = (self.none_op,) if self.none_op else ()
        return [prune(g, drop) for g in self.cell_graphs(arch)]

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, rng: np.random.Generator | int | None = None, *, unique: bool = False) -> list[Arch]:
        """Draw ``n`` architectures uniformly over valid sequences.

        Parameters
        ----------
        n : int
        rng : Generator, int or None
        unique : bool
            Draw without repeating a sequence.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ParameterError(f"The 'n' parameter of sample must be a non-negative integer. Got {n!r} instead.")
        rng = np.random.default_rng(rng)
        out: list[Arch] = []
        seen: set[tuple[int, ...]] = set()
        if unique and self.size is not None and n > self.size:
            raise ParameterError(f"cannot draw {n} unique architectures from {self.name} (size {self.size})")
        while len(out) < n:
            s = self._sample_seq(rng)
            if unique:
                if s in seen:
                    continue
                seen.add(s)
            out.append(Arch(self.name, s))
        return out

    def neighbours(self, arch: Arch) -> list[Arch]:
        """All valid architectures that differ from ``arch`` in exactly one decision."""
        self.check_arch(arch)
        out: dict[tuple[int, ...], None] = {}
        for i, k in enumerate(self.decision_sizes):
            for v in range(k):
                if v == arch.seq[i]:
                    continue
                s = list(arch.seq)
                s[i] = v
                t = self._normalise(tuple(s))
                if t != arch.seq and self._check(t) is None:
                    out[t] = None
        return [Arch(self.name, t) for t in out]

    def mutate(self, arch: Arch, rng: np.random.Generator | int | None = None) -> Arch:
        """A uniformly drawn neighbour of ``arch`` (one decision changed)."""
        rng = np.random.default_rng(rng)
        nb = self.neighbours(arch)
        if not nb:  # pragma: no cover - every shipped space has neighbours
            raise InvalidArchitectureError(f"{arch} has no valid neighbour in {self.name}")
        return nb[int(rng.integers(len(nb)))]

    def enumerate(self) -> Iterator[Arch]:
        """Every valid architecture, in sequence order (finite, enumerable spaces only)."""
        for s in self._enumerate_seqs():
            yield Arch(self.name, s)

    def representatives(self, kind: str = "unique") -> tuple[list[Arch], dict[tuple[int, ...], int]]:
        """One architecture per :meth:`canonical_key` class, and every architecture's class.

        Returns
        -------
        reps : list of Arch
            The first member of each class in :meth:`enumerate` order (NB201, ``'unique'``:
            6,466 classes of 15,625 cells).
        index : dict
            ``arch.seq -> position of its class in reps``, for every architecture.
        """
        reps: list[Arch] = []
        of_key: dict[str, int] = {}
        index: dict[tuple[int, ...], int] = {}
        for a in self.enumerate():
            k = self.canonical_key(a, kind)
            if k not in of_key:
                of_key[k] = len(reps)
                reps.append(a)
            index[a.seq] = of_key[k]
        return reps, index

    # ------------------------------------------------------------------ encodings
    def onehot(self, archs: Sequence[Arch], dtype: Any = np.float32) -> np.ndarray:
        """Concatenated one-hot of every decision.

        Returns
        -------
        ndarray, shape (B, sum(decision_sizes))
        """
        offsets = np.concatenate([[0], np.cumsum(self.decision_sizes)[:-1]]).astype(np.int64)
        seqs = self.sequences(archs)
        out = np.zeros((len(seqs), int(sum(self.decision_sizes))), dtype=dtype)
        if len(seqs):
            out[np.arange(len(seqs))[:, None], offsets[None, :] + seqs] = 1
        return out

    def sequences(self, archs: Sequence[Arch]) -> np.ndarray:
        """Decision sequences as an int64 array of shape (B, n_decisions)."""
        for a in archs:
            self.check_arch(a)
        return np.array([a.seq for a in archs], dtype=np.int64).reshape(len(archs), len(self.decision_sizes))

    def path_labels(self) -> list[str]:
        """Labels that may appear on input-to-output paths (for :meth:`path_encoding`)."""
        return [o for o in self.ops if o != self.none_op]

    def max_path_length(self) -> int:
        return int(self.spec.get("max_path_length", 0))

    def path_encoding(self, archs: Sequence[Arch]) -> np.ndarray:
        """BANANAS path encoding: a binary indicator over input-to-output label paths.

        A path is the sequence of operation labels met from an input node to the output
        (edge labels in operation-on-edge spaces, intermediate node labels in
        operation-on-node spaces), prefixed by the index of the input node and the cell. A
        feature exists for every label sequence of length 0..``max_path_length`` of every
        input of every cell (length 0 only in node spaces: the direct input-output edge).

        Returns
        -------
        ndarray of float32, shape (B, n_features)
        """
        labels = self.path_labels()
        lab_index = {l: i for i, l in enumerate(labels)}
        K = len(labels)
        L = self.max_path_length()
        min_len = 0 if self.kind == "node" else 1
        per_len = [K ** l for l in range(min_len, L + 1)]
        len_off = np.concatenate([[0], np.cumsum(per_len)[:-1]])
        per_input = int(sum(per_len))
        graphs0 = self.cell_graphs(archs[0]) if archs else []
        n_inputs = [len(g.inputs) for g in graphs0] if graphs0 else [1] * len(self.cell_names)
        cell_off = np.concatenate([[0], np.cumsum([n * per_input for n in n_inputs])[:-1]])
        width = int(sum(n * per_input for n in n_inputs))
        out = np.zeros((len(archs), width), dtype=np.float32)
        for b, arch in enumerate(archs):
            for c, g in enumerate(self.pruned_graphs(arch)):
                if g is None:
                    continue
                for ii, src in enumerate(g.inputs):
                    for path in _label_paths(g, src, self.kind):
                        if len(path) > L or len(path) < min_len:
                            continue
                        idx = 0
                        for lab in path:
                            idx = idx * K + lab_index[lab]
                        out[b, int(cell_off[c]) + ii * per_input + int(len_off[len(path) - min_len]) + idx] = 1
        return out

    def adjacency(self, arch: Arch) -> np.ndarray:
        """Adjacency representation, int64 array of shape (C, N, N).

        Operation-on-edge spaces: ``A[c, i, j]`` is the index in :attr:`ops` of the operation on
        the edge from node j to node i, 0 (the ``none`` op) where there is no edge.
        Operation-on-node spaces: ``A[c, i, j] = 1`` for an edge j -> i (node operations come
        from :meth:`node_ops`).
        """
        graphs = self.cell_graphs(self.check_arch(arch))
        n = graphs[0].n_nodes
        A = np.zeros((len(graphs), n, n), dtype=np.int64)
        for c, g in enumerate(graphs):
            for s, d, lab in g.edges:
                if self.kind == "edge":
                    if lab == self.none_op:
                        continue
                    if A[c, d, s] != 0:
                        raise InvalidArchitectureError(
                            f"[{self.name}] {arch} has two edges {s}->{d}; the adjacency "
                            "representation holds one operation per node pair (use cell_graphs)"
                        )
                    A[c, d, s] = self.ops.index(lab)
                else:
                    A[c, d, s] = 1
        return A

    def to_arrays(self, archs: Sequence[Arch]) -> GraphBatch:
        """The batched arrays the graph encoders consume (see :mod:`archmodel.spaces.arrays`)."""
        return graph_arrays(self, archs)

    def info(self) -> dict[str, Any]:
        """A JSON-able summary of the space."""
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "cells": self.cell_names,
            "ops": self.ops,
            "n_decisions": len(self.decision_sizes),
            "decision_sizes": list(self.decision_sizes),
            "sequence": self.sequence_doc,
            "formats": list(self.formats),
            "key_kinds": list(self.key_kinds),
            "size": self.size,
            "enumerable": self.enumerable,
            "source": self.spec.get("source", ""),
        }

    def __repr__(self) -> str:
        return f"<SearchSpace {self.name!r} ({self.kind}-op, {len(self.decision_sizes)} decisions)>"


def _label_paths(g: CellGraph, src: int, kind: str) -> Iterator[tuple[str, ...]]:
    """Label sequences of every path from ``src`` to ``g.output``."""
    succ: list[list[tuple[int, str]]] = [[] for _ in range(g.n_nodes)]
    for s, d, lab in g.edges:
        succ[s].append((d, lab))
    stack: list[tuple[int, tuple[str, ...]]] = [(src, ())]
    while stack:
        v, path = stack.pop()
        if v == g.output:
            yield path
            continue
        for w, lab in succ[v]:
            if kind == "edge":
                if lab == "concat":
                    stack.append((w, path))
                else:
                    stack.append((w, path + (lab,)))
            else:
                stack.append((w, path if w == g.output else path + (g.node_labels[w],)))


def _parse_int_list(text: Any, space: str) -> list[int]:
    """Parse '[1, 2, 3]' / '(1,2,3)' / '1,2,3' or a list of ints."""
    if isinstance(text, (list, tuple, np.ndarray)):
        return list(text)
    if not isinstance(text, str):
        raise InvalidArchitectureError(f"[{space}] expected a string or a list of integers; got {type(text).__name__}")
    t = text.strip()
    if t[:1] in "([" and t[-1:] in ")]":
        t = t[1:-1]
    parts = [p.strip() for p in t.split(",")] if t.strip() else []
    out = []
    for p in parts:
        try:
            out.append(int(p))
        except ValueError:
            raise InvalidArchitectureError(
                f"[{space}] cannot read {text!r}: {p!r} is not an integer"
            ) from None
    return out


def product_seqs(sizes: Sequence[int]) -> Iterator[tuple[int, ...]]:
    """All sequences of a fixed-size mixed-radix product, in lexicographic order."""
    return itertools.product(*(range(k) for k in sizes))
