"""Search spaces, each defined by a JSON spec under ``specs/spaces/``.

>>> from archmodel.spaces import get_space, list_spaces
>>> list_spaces()
['darts', 'enas', 'nasbench-graph', 'nb101', 'nb201', 'tnb101-micro']
>>> get_space("nb201").size
15625

Adding a search space is mostly a new spec file: the ``topology`` field picks the generic
implementation (``fixed_edges``, ``two_input_cells``, ``nb101``, ``link_patterns``).
"""
from __future__ import annotations

from typing import Any

from archmodel.errors import ParameterError
from archmodel.spaces.base import SearchSpace

__all__ = ["SearchSpace", "get_space", "list_spaces", "space_from_spec"]

_cache: dict[str, SearchSpace] = {}


def _topologies() -> dict[str, type[SearchSpace]]:
    from archmodel.spaces.fixed_edges import FixedEdgeSpace
    from archmodel.spaces.link_patterns import LinkPatternSpace
    from archmodel.spaces.nb101 import NB101Space
    from archmodel.spaces.two_input_cells import TwoInputCellSpace

    return {"fixed_edges": FixedEdgeSpace, "two_input_cells": TwoInputCellSpace,
            "nb101": NB101Space, "link_patterns": LinkPatternSpace}


def list_spaces() -> list[str]:
    """Names of the shipped search spaces."""
    from archmodel.specs import spec_names

    return spec_names("spaces")


def space_from_spec(spec: dict[str, Any]) -> SearchSpace:
    """Build a search space from a spec dict (e.g. a user's own JSON file)."""
    topo = _topologies()
    for field in ("name", "topology", "kind", "ops"):
        if field not in spec:
            raise ParameterError(f"search-space spec lacks the required field {field!r}")
    if spec["topology"] not in topo:
        raise ParameterError(
            f"search-space spec field 'topology' must be one of {sorted(topo)}; got {spec['topology']!r}"
        )
    if spec["kind"] not in ("edge", "node"):
        raise ParameterError(f"search-space spec field 'kind' must be 'edge' or 'node'; got {spec['kind']!r}")
    return topo[spec["topology"]](spec)


def get_space(name: str | SearchSpace) -> SearchSpace:
    """The search space called ``name`` (cached)."""
    if isinstance(name, SearchSpace):
        return name
    if name in _cache:
        return _cache[name]
    names = list_spaces()
    if name not in names:
        raise ParameterError(f"Unknown search space {name!r}: allowed values are {names}.")
    from archmodel.specs import load_spec

    space = space_from_spec(load_spec("spaces", name))
    _cache[name] = space
    return space
