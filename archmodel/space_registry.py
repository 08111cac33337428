"""Search spaces by name: read the JSON spec, build the topology it names, cache the result.

This is the one place that maps a space's name to its :class:`~archmodel.spaces.base.SearchSpace`
object. It sits below :mod:`archmodel.arch` (whose :attr:`Arch.search_space` asks it) and knows
the topology implementations only by the module path in :data:`TOPOLOGIES`, loaded when a spec
first names them, so the import graph stays one-way::

    graph, errors, specs  <-  space_registry  <-  arch  <-  spaces.base  <-  spaces.<topology>

The public entry points are re-exported by :mod:`archmodel.spaces` (``get_space``,
``list_spaces``, ``space_from_spec``); use them from there.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from archmodel.errors import ParameterError
from archmodel.specs import load_spec, spec_names

if TYPE_CHECKING:  # pragma: no cover
    from archmodel.spaces.base import SearchSpace

__all__ = ["TOPOLOGIES", "list_spaces", "space_by_name", "space_from_spec", "topology_class"]

#: A spec's ``topology`` field -> ``"module:class"`` of the generic implementation.
TOPOLOGIES: dict[str, str] = {
    "fixed_edges": "archmodel.spaces.fixed_edges:FixedEdgeSpace",
    "two_input_cells": "archmodel.spaces.two_input_cells:TwoInputCellSpace",
    "nb101": "archmodel.spaces.nb101:NB101Space",
    "link_patterns": "archmodel.spaces.link_patterns:LinkPatternSpace",
}

_cache: dict[str, "SearchSpace"] = {}


def topology_class(topology: str) -> type["SearchSpace"]:
    """The class implementing ``topology`` (a key of :data:`TOPOLOGIES`).

    Raises
    ------
    ParameterError
        If ``topology`` is not one of :data:`TOPOLOGIES`.
    """
    if topology not in TOPOLOGIES:
        raise ParameterError(
            f"search-space spec field 'topology' must be one of {sorted(TOPOLOGIES)}; got {topology!r}"
        )
    module, _, cls = TOPOLOGIES[topology].partition(":")
    return getattr(importlib.import_module(module), cls)


def list_spaces() -> list[str]:
    """Names of the shipped search spaces."""
    return spec_names("spaces")


def space_from_spec(spec: dict[str, Any]) -> "SearchSpace":
    """Build a search space from a spec dict (e.g. a user's own JSON file).

    Raises
    ------
    ParameterError
        If a required field (``name``, ``topology``, ``kind``, ``ops``) is missing, or
        ``topology`` or ``kind`` has a value outside the allowed ones.
    """
    for field in ("name", "topology", "kind", "ops"):
        if field not in spec:
            raise ParameterError(f"search-space spec lacks the required field {field!r}")
    if spec["topology"] not in TOPOLOGIES:
        raise ParameterError(
            f"search-space spec field 'topology' must be one of {sorted(TOPOLOGIES)}; "
            f"got {spec['topology']!r}"
        )
    if spec["kind"] not in ("edge", "node"):
        raise ParameterError(f"search-space spec field 'kind' must be 'edge' or 'node'; got {spec['kind']!r}")
    return topology_class(spec["topology"])(spec)


def space_by_name(name: str) -> "SearchSpace":
    """The shipped search space called ``name`` (built once, then cached).

    Raises
    ------
    ParameterError
        If no shipped spec has that name (the message lists the names).
    """
    if name in _cache:
        return _cache[name]
    names = list_spaces()
    if name not in names:
        raise ParameterError(f"Unknown search space {name!r}: allowed values are {names}.")
    space = space_from_spec(load_spec("spaces", name))
    _cache[name] = space
    return space
