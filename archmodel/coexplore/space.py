"""The joint network x PIM-hardware search space, read from a JSON spec (``specs/pim/space-*.json``).

A point of the space is a *genome*: an int64 vector whose first genes are the cell's decisions
(the network search space's decision sequence, NB201: six edges with five operations each) and
whose remaining genes index the value lists of the hardware *knobs* (override keys of
:func:`archmodel.pim.apply_overrides`: ``xbar_size``, ``cell_bits``, ``adc_bits``, ...).

With ``"cells": "unique"`` the network part is one cell per isomorphism class of the space
(``canonical_key(kind='unique')``; NB201: 6,466 classes), represented by the class member that
comes first in the space's enumeration order: every genome is mapped to that representative
(:meth:`JointSpace.canonical`), so the accuracy and the cost of a point are those of one
well-defined network. ``"cells": "all"`` keeps every cell; a list of cells (any format the cell
space parses) restricts the network part to those cells (a shortlist; mutations of a cell gene
then only move to listed cells).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np

from archmodel.errors import ParameterError

__all__ = ["OBJECTIVES", "OBJECTIVE_ALIASES", "Knob", "JointSpace", "load_space", "list_spaces",
           "resolve_objectives"]

#: objective name -> +1 (maximised) or -1 (minimised); all costs are compared in log10
OBJECTIVES: dict[str, int] = {"accuracy": 1, "edp_js": -1, "latency_s": -1, "energy_j": -1, "area_mm2": -1}
#: short names accepted on the command line
OBJECTIVE_ALIASES = {"edp": "edp_js", "latency": "latency_s", "energy": "energy_j", "area": "area_mm2",
                     "acc": "accuracy"}
_CELLS = ("unique", "all")
SPACE_FORMAT = "archmodel.pim-space"


def resolve_objectives(names: Sequence[str] | str) -> list[str]:
    """Canonical objective names (``'accuracy,edp'`` -> ``['accuracy', 'edp_js']``).

    Raises
    ------
    ParameterError
        An unknown or repeated name, or fewer than two objectives.
    """
    items = [s.strip() for s in names.split(",")] if isinstance(names, str) else [str(s).strip() for s in names]
    out: list[str] = []
    for s in items:
        name = OBJECTIVE_ALIASES.get(s, s)
        if name not in OBJECTIVES:
            raise ParameterError(f"objective {s!r} is not one of {sorted(OBJECTIVES)} "
                                 f"(aliases: {sorted(OBJECTIVE_ALIASES)})")
        if name in out:
            raise ParameterError(f"objective {name!r} is given twice")
        out.append(name)
    if len(out) < 2:
        raise ParameterError(f"a multi-objective search needs at least two objectives; got {out}")
    return out


@dataclass(frozen=True)
class Knob:
    """One hardware parameter of the joint space: an override key and its candidate values."""

    name: str
    values: tuple[Any, ...]


def list_spaces() -> list[str]:
    """Names of the shipped joint spaces (``specs/pim/space-*.json``)."""
    from archmodel.pim.spec import SPACE_PREFIX
    from archmodel.specs import spec_names

    return [n for n in spec_names("pim") if n.startswith(SPACE_PREFIX)]


def load_space(space: Any) -> "JointSpace":
    """A :class:`JointSpace` from a shipped name (``'space-nb201'``), a JSON path or a spec dict."""
    if isinstance(space, JointSpace):
        return space
    if isinstance(space, Mapping):
        return JointSpace(dict(space))
    text = os.fspath(space)
    if text in list_spaces():
        from archmodel.specs import load_spec

        return JointSpace(load_spec("pim", text))
    if not os.path.exists(text):
        raise ParameterError(f"joint space {text!r} is neither a shipped space ({list_spaces()}) nor a file")
    from archmodel.io import load_json_object

    spec = load_json_object(text, "joint space spec")
    return JointSpace(spec)


class JointSpace:
    """Network cells x hardware knobs (see the module docstring).

    Parameters
    ----------
    spec : dict
        ``{"format": "archmodel.pim-space", "format_version": 1, "name", "network": {"space",
        "cells", "C", "N", "input_size", "num_classes", "accuracy": {"data", "metric"}},
        "hardware": {"base", "knobs": [{"name", "values"}]}, "objectives", "constraints",
        "reference"}`` (``docs/coexplore.md`` documents every field).

    Attributes
    ----------
    name : str
    cell_space : SearchSpace
    knobs : list of Knob
    gene_sizes : tuple of int
        Choices per gene (cell decisions, then knobs).
    n_cell_genes : int
    objectives : list of str
    constraints : dict of str to {"max": float} or {"min": float}
    reference : dict of str to float
        Hypervolume reference point (accuracy in the data's units, costs in SI units).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        from archmodel.pim.spec import OVERRIDE_ALIASES, apply_overrides, load_hardware
        from archmodel.spaces import get_space

        def need(d: Mapping[str, Any], key: str, where: str) -> Any:
            if key not in d:
                raise ParameterError(f"joint space spec lacks the field {where}{key!r}")
            return d[key]

        if spec.get("format") != SPACE_FORMAT:
            raise ParameterError(f"joint space spec field 'format' must be {SPACE_FORMAT!r}; got {spec.get('format')!r}")
        if spec.get("format_version") != 1:
            raise ParameterError(f"joint space spec field 'format_version' must be 1; got {spec.get('format_version')!r}")
        self.spec = json.loads(json.dumps(spec))
        self.name = str(need(spec, "name", ""))
        net = need(spec, "network", "")
        self.network = dict(net)
        self.cell_space = get_space(need(net, "space", "network."))
        if not self.cell_space.enumerable:
            raise ParameterError(f"joint space network.space must be enumerable; {self.cell_space.name} is not")
        self.cells_mode = net.get("cells", "unique")
        if isinstance(self.cells_mode, list):
            if not self.cells_mode:
                raise ParameterError("joint space field network.cells must not be an empty list")
            self._listed = [self.cell_space.parse(c).seq for c in self.cells_mode]
            if len(set(self._listed)) != len(self._listed):
                raise ParameterError("joint space field network.cells lists a cell twice")
            self.cells_mode = "list"
        elif self.cells_mode not in _CELLS:
            raise ParameterError(f"joint space field network.cells must be one of {list(_CELLS)} or a list of "
                                 f"cells; got {self.cells_mode!r}")
        acc = need(net, "accuracy", "network.")
        self.accuracy_data = str(need(acc, "data", "network.accuracy."))
        self.accuracy_metric = str(need(acc, "metric", "network.accuracy."))
        self.net_kwargs = {k: int(net.get(k, d)) for k, d in
                           (("C", 16), ("N", 5), ("input_size", 32), ("num_classes", 10))}
        hw = need(spec, "hardware", "")
        self.base = load_hardware(need(hw, "base", "hardware."))
        knobs = need(hw, "knobs", "hardware.")
        if not isinstance(knobs, list) or not knobs:
            raise ParameterError("joint space field hardware.knobs must be a non-empty list")
        self.knobs: list[Knob] = []
        for i, k in enumerate(knobs):
            name = need(k, "name", f"hardware.knobs[{i}].")
            values = need(k, "values", f"hardware.knobs[{i}].")
            if not isinstance(values, list) or not values:
                raise ParameterError(f"joint space field hardware.knobs[{i}].values must be a non-empty list")
            if len(set(map(json.dumps, values))) != len(values):
                raise ParameterError(f"joint space field hardware.knobs[{i}].values repeats a value: {values}")
            if name not in OVERRIDE_ALIASES and "." not in name:
                raise ParameterError(f"joint space hardware knob {name!r} is neither an override alias "
                                     f"({sorted(OVERRIDE_ALIASES)}) nor a dotted spec path")
            for v in values:  # every value must give a valid spec on its own
                apply_overrides(self.base, {name: v})
            self.knobs.append(Knob(str(name), tuple(values)))
        if len({k.name for k in self.knobs}) != len(self.knobs):
            raise ParameterError("joint space hardware.knobs names a knob twice")
        self.objectives = resolve_objectives(spec.get("objectives", ["accuracy", "edp_js"]))
        self.constraints: dict[str, dict[str, float]] = {}
        for key, rule in dict(spec.get("constraints", {})).items():
            name = OBJECTIVE_ALIASES.get(key, key)
            if name not in OBJECTIVES or not isinstance(rule, Mapping) or not rule or set(rule) - {"max", "min"}:
                raise ParameterError(f"joint space constraint {key!r} must name one of {sorted(OBJECTIVES)} "
                                     f"and hold 'max' and/or 'min'; got {rule!r}")
            self.constraints[name] = {k: float(v) for k, v in rule.items()}
        ref = dict(need(spec, "reference", ""))
        self.reference = {OBJECTIVE_ALIASES.get(k, k): float(v) for k, v in ref.items()}
        for name in self.objectives:
            if name not in self.reference:
                raise ParameterError(f"joint space field reference lacks the objective {name!r}")
            if OBJECTIVES[name] < 0 and self.reference[name] <= 0:
                raise ParameterError(f"joint space reference {name!r} must be > 0 (costs are compared in log10)")
        self.n_cell_genes = len(self.cell_space.decision_sizes)
        self.gene_sizes = tuple(self.cell_space.decision_sizes) + tuple(len(k.values) for k in self.knobs)

    # ------------------------------------------------------------------ identity
    @cached_property
    def sha256(self) -> str:
        """Hash of the spec (canonical JSON): what a front file was computed for."""
        return hashlib.sha256(json.dumps(self.spec, sort_keys=True).encode()).hexdigest()

    def with_objectives(self, objectives: Sequence[str]) -> "JointSpace":
        """The same space with other objectives (each needs a reference value)."""
        spec = dict(self.spec)
        spec["objectives"] = resolve_objectives(objectives)
        return JointSpace(spec)

    def __repr__(self) -> str:
        return (f"JointSpace({self.name!r}: {self.n_cells} cells x {self.n_hardware} hardware "
                f"configurations, objectives {self.objectives})")

    # ------------------------------------------------------------------ cells
    @cached_property
    def _cells(self) -> tuple[np.ndarray, dict[tuple[int, ...], int]]:
        sp = self.cell_space
        reps: list[tuple[int, ...]] = []
        index: dict[tuple[int, ...], int] = {}
        if self.cells_mode == "list":
            index = {seq: i for i, seq in enumerate(self._listed)}
            return np.asarray(self._listed, dtype=np.int64), index
        if self.cells_mode == "all":
            for a in sp.enumerate():
                index[a.seq] = len(reps)
                reps.append(a.seq)
            return np.asarray(reps, dtype=np.int64), index
        archs, index = sp.representatives("unique")
        return np.asarray([a.seq for a in archs], dtype=np.int64), index

    @property
    def cells(self) -> np.ndarray:
        """int64 [n_cells, n_cell_genes]: the representative cells."""
        return self._cells[0]

    @property
    def n_cells(self) -> int:
        return int(self.cells.shape[0])

    @property
    def n_hardware(self) -> int:
        return int(np.prod([len(k.values) for k in self.knobs]))

    @property
    def size(self) -> int:
        """Number of distinct points (cells x hardware configurations)."""
        return self.n_cells * self.n_hardware

    def cell_index(self, genomes: np.ndarray) -> np.ndarray:
        """Index into :attr:`cells` of each genome's representative cell, int64 [n]."""
        g = self._check(genomes)
        index = self._cells[1]
        out = np.empty(g.shape[0], dtype=np.int64)
        for i, row in enumerate(g[:, :self.n_cell_genes]):
            j = index.get(tuple(int(v) for v in row))
            if j is None:
                raise ParameterError(f"genome {i}: cell {tuple(int(v) for v in row)} is not one of the "
                                     f"{self.n_cells} cells of the joint space {self.name}")
            out[i] = j
        return out

    def has_cell(self, genome: np.ndarray) -> bool:
        """Whether the cell genes of one genome name a cell of the space (always, except for a
        listed-cells space)."""
        return tuple(int(v) for v in np.asarray(genome)[:self.n_cell_genes]) in self._cells[1]

    def hardware_index(self, genomes: np.ndarray) -> np.ndarray:
        """Row-major index of each genome's hardware configuration, int64 [n]."""
        g = self._check(genomes)
        return np.ravel_multi_index(tuple(g[:, self.n_cell_genes:].T), [len(k.values) for k in self.knobs]
                                    ).astype(np.int64)

    def point_index(self, genomes: np.ndarray) -> np.ndarray:
        """A unique int64 id per point: ``cell_index * n_hardware + hardware_index``."""
        return self.cell_index(genomes) * self.n_hardware + self.hardware_index(genomes)

    def hardware_genes(self) -> np.ndarray:
        """int64 [n_hardware, n_knobs]: every hardware configuration, row-major."""
        sizes = [len(k.values) for k in self.knobs]
        return np.stack(np.unravel_index(np.arange(self.n_hardware), sizes), axis=1).astype(np.int64)

    # ------------------------------------------------------------------ genomes
    def _check(self, genomes: Any) -> np.ndarray:
        g = np.asarray(genomes)
        if g.ndim == 1:
            g = g[None, :]
        if g.ndim != 2 or g.shape[1] != len(self.gene_sizes) or g.dtype.kind not in "iu":
            raise ParameterError(f"genomes of {self.name} must be an int array of shape [n, {len(self.gene_sizes)}]; "
                                 f"got {g.dtype} {g.shape}")
        sizes = np.asarray(self.gene_sizes)
        bad = (g < 0) | (g >= sizes)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise ParameterError(f"gene {c} of genome {r} is {int(g[r, c])}; allowed 0..{sizes[c] - 1}")
        return g.astype(np.int64, copy=False)

    def canonical(self, genomes: Any) -> np.ndarray:
        """The genomes with their cell genes replaced by the representative's, int64 [n, G]."""
        g = self._check(genomes).copy()
        g[:, :self.n_cell_genes] = self.cells[self.cell_index(g)]
        return g

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points drawn uniformly from the space (representative cell x configuration)."""
        cells = self.cells[rng.integers(0, self.n_cells, size=n)]
        hw = np.stack([rng.integers(0, len(k.values), size=n) for k in self.knobs], axis=1)
        return np.concatenate([cells, hw], axis=1).astype(np.int64)

    def mutate(self, genome: np.ndarray, gene: int, rng: np.random.Generator, max_tries: int = 64) -> np.ndarray:
        """``genome`` with gene ``gene`` set to another value, canonicalised; a cell gene is
        redrawn until the representative changes (an edit that lands in the same class is no move)."""
        g = np.asarray(genome, dtype=np.int64).copy()
        size = self.gene_sizes[gene]
        if size < 2:
            return g
        before = self.cell_index(g)[0] if gene < self.n_cell_genes else None
        for _ in range(max_tries):
            h = g.copy()
            h[gene] = (g[gene] + 1 + rng.integers(0, size - 1)) % size
            if before is None:
                return h
            if not self.has_cell(h):
                continue  # a listed-cells space: only listed cells are points
            if self.cell_index(h)[0] != before:
                return self.canonical(h)[0]
        return g

    def gene_names(self) -> list[str]:
        """``['cell.edge0', ..., 'adc_bits', ...]``."""
        return [f"cell.{self.cell_space.decision_name(i)}" for i in range(self.n_cell_genes)] + [k.name for k in self.knobs]

    def overrides(self, genome: np.ndarray) -> dict[str, Any]:
        """The hardware overrides of one genome: ``{knob name: value}``."""
        g = self._check(genome)[0]
        return {k.name: k.values[int(v)] for k, v in zip(self.knobs, g[self.n_cell_genes:])}

    def cell_string(self, genome: np.ndarray) -> str:
        """The representative cell of one genome in the cell space's default format."""
        sp = self.cell_space
        return sp.format(sp.from_sequence(self.canonical(genome)[0, :self.n_cell_genes]))

    def describe(self, genome: np.ndarray) -> dict[str, Any]:
        """``{"cell": str, "hardware": {knob: value}, "genome": [...]}`` for one genome."""
        g = self.canonical(genome)[0]
        return {"cell": self.cell_string(g), "hardware": self.overrides(g), "genome": [int(v) for v in g]}

    def parse_point(self, point: Mapping[str, Any]) -> np.ndarray:
        """Inverse of :meth:`describe` (``cell`` + ``hardware``), int64 [G]."""
        sp = self.cell_space
        cell = sp.parse(point["cell"]).seq
        hw = []
        for k in self.knobs:
            if k.name not in point["hardware"]:
                raise ParameterError(f"point lacks the hardware knob {k.name!r}")
            v = point["hardware"][k.name]
            if v not in k.values:
                raise ParameterError(f"hardware knob {k.name!r} = {v!r} is not one of {list(k.values)}")
            hw.append(k.values.index(v))
        return self.canonical(np.asarray(list(cell) + hw, dtype=np.int64))[0]
