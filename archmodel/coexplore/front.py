"""Front files (``archmodel.pim-front``, JSON) and the exhaustive true front of a joint space.

A front file holds the non-dominated feasible points a search found (or, for the true front,
the whole space's), each as ``{"cell", "hardware", "genome", <metrics>}``, with the space's
name and hash, the objectives, the reference point, the hypervolume, the number of simulator
calls and the hypervolume trace. Written atomically (write then rename).
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Mapping

import numpy as np

from archmodel.coexplore.evaluate import METRICS, evaluate_all
from archmodel.coexplore.pareto import gains, hypervolume, non_dominated
from archmodel.coexplore.space import JointSpace, load_space
from archmodel.errors import FormatError
from archmodel.utils import hardware_summary

__all__ = ["FRONT_FORMAT", "front_points", "front_document", "write_front", "read_front", "true_front",
           "front_gains"]

FRONT_FORMAT = "archmodel.pim-front"


def front_points(space: JointSpace, genomes: np.ndarray, values: Mapping[str, np.ndarray]) -> tuple[np.ndarray, list[dict]]:
    """Indices and JSON records of the non-dominated feasible points among ``genomes``,
    sorted by the first objective, best first."""
    feas = np.asarray(values["feasible"], dtype=bool)
    idx = np.flatnonzero(feas)
    if idx.size == 0:
        return idx, []
    G = gains({k: np.asarray(values[k])[idx] for k in space.objectives}, space.objectives, space.reference)
    fin = np.isfinite(G).all(axis=1)
    idx, G = idx[fin], G[fin]
    nd = non_dominated(G)
    idx, G = idx[nd], G[nd]
    order = np.argsort(-G[:, 0], kind="stable")
    idx = idx[order]
    pts = []
    for i in idx:
        rec = space.describe(genomes[i])
        rec.update({k: float(values[k][i]) for k in METRICS})
        pts.append(rec)
    return idx, pts


def front_gains(space: JointSpace, doc: Mapping[str, Any]) -> np.ndarray:
    """Gains [n, m] of a front document's points under ``space``'s objectives and reference."""
    pts = doc["front"]
    if not pts:
        return np.zeros((0, len(space.objectives)))
    return gains({k: np.array([p[k] for p in pts], dtype=np.float64) for k in space.objectives},
                 space.objectives, space.reference)


def front_document(space: JointSpace, genomes: np.ndarray, values: Mapping[str, np.ndarray], **info: Any) -> dict[str, Any]:
    """The JSON document of a front (``info``: algorithm, seed, budget, calls, trace, ...)."""
    idx, pts = front_points(space, genomes, values)
    doc = {"format": FRONT_FORMAT, "format_version": 1, "space": space.name, "space_sha256": space.sha256,
           "objectives": list(space.objectives), "reference": {k: space.reference[k] for k in space.objectives},
           "constraints": space.constraints}
    doc.update(info)
    doc["hypervolume"] = hypervolume(front_gains(space, {"front": pts})) if pts else 0.0
    doc["front"] = pts
    return doc


def write_front(path: Any, doc: Mapping[str, Any]) -> None:
    """Write a front document atomically."""
    from archmodel.io import atomic_write

    with atomic_write(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else o.tolist())
        fh.write("\n")


def read_front(path: Any) -> dict[str, Any]:
    """Read and check a front file.

    Raises
    ------
    FormatError
        Not JSON, or not an ``archmodel.pim-front`` version 1 document with a ``front`` list.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: not a JSON front file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FRONT_FORMAT:
        raise FormatError(f"{path}: field 'format' must be {FRONT_FORMAT!r}; got {doc.get('format') if isinstance(doc, dict) else type(doc).__name__!r}")
    if doc.get("format_version") != 1:
        raise FormatError(f"{path}: field 'format_version' must be 1; got {doc.get('format_version')!r}")
    if not isinstance(doc.get("front"), list):
        raise FormatError(f"{path}: field 'front' must be a list of points")
    return doc


def true_front(space: Any, *, engine: str = "local", scheduler: Any = None, data_path: Any = None,
               backend: str | None = None, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Evaluate every point of ``space`` and return the front document of the whole space
    (``algorithm: 'exhaustive'``, ``calls`` = points, ``seconds``, ``points_per_second``)."""
    sp = load_space(space)
    t0 = time.perf_counter()
    r = evaluate_all(sp, engine=engine, scheduler=scheduler, data_path=data_path, backend=backend,
                     progress=progress)
    v = r["values"]
    H = sp.n_hardware
    cells = np.repeat(sp.cells, H, axis=0)
    hw = np.tile(sp.hardware_genes(), (sp.n_cells, 1))
    genomes = np.concatenate([cells, hw], axis=1)
    flat = {k: np.asarray(a).reshape(-1) for k, a in v.items()}
    seconds = time.perf_counter() - t0
    return front_document(sp, genomes, flat, algorithm="exhaustive", calls=int(r["points"]),
                          points=int(r["points"]), feasible_points=int(flat["feasible"].sum()),
                          seconds=seconds, simulate_seconds=r["seconds"],
                          points_per_second=r["points"] / seconds, engine=engine,
                          machine=hardware_summary())
