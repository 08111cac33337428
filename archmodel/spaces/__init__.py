"""Search spaces, each defined by a JSON spec under ``specs/spaces/``.

>>> from archmodel.spaces import get_space, list_spaces
>>> list_spaces()
['darts', 'enas', 'nasbench-graph', 'nb101', 'nb201', 'tnb101-micro']
>>> get_space("nb201").size
15625

Adding a search space is mostly a new spec file: the ``topology`` field picks the generic
implementation (``fixed_edges``, ``two_input_cells``, ``nb101``, ``link_patterns``).

Names are resolved by :mod:`archmodel.space_registry`, which lies below :mod:`archmodel.arch`
(see its docstring for the layering); this package re-exports its functions.
"""
from __future__ import annotations

from archmodel.space_registry import list_spaces, space_by_name, space_from_spec
from archmodel.spaces.base import SearchSpace

__all__ = ["SearchSpace", "get_space", "list_spaces", "space_from_spec"]


def get_space(name: str | SearchSpace) -> SearchSpace:
    """The search space called ``name`` (cached); a :class:`SearchSpace` is returned as is.

    Raises
    ------
    ParameterError
        If ``name`` is not the name of a shipped space (the message lists the names).
    """
    if isinstance(name, SearchSpace):
        return name
    return space_by_name(name)
