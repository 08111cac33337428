"""The immutable architecture type.

An :class:`Arch` is a search-space name plus its *sequential representation*: the tuple of
decisions in the space's fixed, documented order (see each space's ``sequence_doc``). All other
representations (strings, adjacency matrices, graphs, arrays for encoders) are derived through
the space, and every constructor validates, so an ``Arch`` that exists is a valid member of its
space. ``Arch`` is hashable and compares by value.

This module sits below the search spaces: it imports only :mod:`archmodel.space_registry`,
which finds a space's implementation from its spec when :attr:`Arch.search_space` first asks.

Examples
--------
>>> from archmodel.spaces import get_space
>>> nb201 = get_space("nb201")
>>> a = nb201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
>>> a.seq
(3, 3, 4, 1, 3, 1)
>>> nb201.format(a, "naslib")
'(2, 2, 0, 4, 2, 0)'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from archmodel.space_registry import space_by_name

if TYPE_CHECKING:  # pragma: no cover
    from archmodel.spaces.base import SearchSpace


@dataclass(frozen=True, order=True)
class Arch:
    """An architecture of a search space, stored as its decision sequence.

    Do not construct directly with unchecked data; use ``space.from_sequence(seq)`` or
    ``space.parse(text)``, which validate.

    Attributes
    ----------
    space : str
        Search-space name (``'nb201'``, ``'nb101'``, ``'darts'``, ``'enas'``, ``'nasbench-graph'``).
    seq : tuple of int
        The decisions, in the space's documented order.
    """

    space: str
    seq: tuple[int, ...]

    @property
    def search_space(self) -> "SearchSpace":
        """The space this architecture belongs to (from :mod:`archmodel.space_registry`)."""
        return space_by_name(self.space)

    def __str__(self) -> str:
        return self.search_space.format(self)

    def to_string(self, fmt: str | None = None) -> str:
        """The architecture in one of its space's string formats (default: the space's default)."""
        return self.search_space.format(self, fmt)

    def key(self, kind: str = "structural") -> str:
        """Canonical key: ``'structural'`` (any space) or ``'unique'`` (NB201's de-isomorphism)."""
        return self.search_space.canonical_key(self, kind)
