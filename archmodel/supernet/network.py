"""The NAS-Bench-201 weight-sharing supernet: the NB201 skeleton with :class:`SharedCell` cells.

:func:`build_supernet` returns a :class:`Supernet`, an :class:`archmodel.conv.Network` whose
cells hold every candidate operation's parameters; :meth:`Supernet.set_arch` selects the
architecture (the same cell in every cell position, as in NAS-Bench-201) and, optionally,
the block of every edge. Forward, backward, ``save``/``Network.load`` are the conv engine's.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from archmodel.conv.layers import BatchNorm2d
from archmodel.conv.nb201 import (
    NB201_EDGES,
    arch_string,
    check_skeleton_args,
    nb201_skeleton,
    ops_from_arch_string,
)
from archmodel.conv.network import BUILDERS, Network
from archmodel.errors import ParameterError, check_range
from archmodel.supernet.cell import SharedCell

__all__ = ["Supernet", "build_supernet"]

KIND = "nb201-supernet"


class Supernet(Network):
    """A :class:`~archmodel.conv.Network` of :class:`SharedCell` cells (build it with
    :func:`build_supernet`).

    Attributes
    ----------
    cells : list of SharedCell
        In forward order.
    n_blocks : int
        Parameter blocks per cell.
    arch_string : str
        The architecture selected now.
    """

    def __init__(self, body, *, config: dict[str, Any], backend: str | None, dtype: Any) -> None:
        super().__init__(body, kind=KIND, config=config, backend=backend, dtype=dtype)
        self.cells = [m for m in self.modules() if isinstance(m, SharedCell)]
        self.n_blocks = int(config["n_blocks"])
        self.set_arch(("nor_conv_3x3",) * len(NB201_EDGES))

    def set_arch(self, arch: str | Sequence[str], blocks: Sequence[int] | Sequence[Sequence[int]] | None = None) -> None:
        """Select an architecture for the next passes.

        Parameters
        ----------
        arch : str or sequence of 6 str
            NB201 arch string or 6 op names (edge order of :data:`NB201_EDGES`).
        blocks : None, 6 ints, or one sequence of 6 ints per cell
            Edge -> parameter block; None: each cell's :meth:`SharedCell.default_blocks`.
        """
        ops = ops_from_arch_string(arch) if isinstance(arch, str) else tuple(arch)
        if blocks is not None:
            blocks = [tuple(b) for b in blocks] if np.ndim(blocks) == 2 else [tuple(blocks)] * len(self.cells)
            if len(blocks) != len(self.cells):
                raise ParameterError(
                    f"Supernet.set_arch: blocks needs 6 indices or one row of 6 per cell "
                    f"({len(self.cells)} cells); got {len(blocks)} rows.")
        for i, cell in enumerate(self.cells):
            cell.set_arch(ops, None if blocks is None else blocks[i])
        # the edge views copy their owners' names: keep them (hooks and errors name layers)
        for cell in self.cells:
            for (src, dst), layer in cell.edges.items():
                layer.set_names(f"{cell.name}.edge_{src}_{dst}")
        self.arch_string = arch_string(ops)

    def active_parameter_names(self) -> list[str]:
        """Parameters the selected architecture uses: the skeleton's and its edges' blocks'."""
        cell_params = {n for c in self.cells for b in c.blocks for n, _ in b.named_parameters()}
        out = [n for n in self.parameters() if n not in cell_params]
        for c in self.cells:
            out += c.active_parameter_names()
        return out

    def batchnorms(self) -> list[BatchNorm2d]:
        """Every batch norm the selected architecture runs (skeleton and edges), once each."""
        seen: dict[int, BatchNorm2d] = {}

        def skeleton(layer):
            if isinstance(layer, SharedCell):
                return
            if isinstance(layer, BatchNorm2d):
                seen[id(layer.buffers)] = layer
            for _, child in layer.children():
                skeleton(child)

        skeleton(self.body)
        for c in self.cells:
            for layer in c.edges.values():
                for m in layer.modules():
                    if isinstance(m, BatchNorm2d):
                        seen.setdefault(id(m.buffers), m)
        return list(seen.values())


def build_supernet(*, C: int = 8, N: int = 5, n_blocks: int = 6, num_classes: int = 10,
                   in_channels: int = 3, input_size: int = 8, dtype: Any = np.float32,
                   rng: np.random.Generator | int | None = None, init: str = "torch",
                   backend: str | None = None, bn_momentum: float = 0.1,
                   bn_eps: float = 1e-5) -> Supernet:
    """The NB201 supernet: the skeleton of :func:`archmodel.conv.build_nb201_network` with
    :class:`SharedCell` cells of ``n_blocks`` parameter blocks.

    Parameters
    ----------
    C, N, num_classes, in_channels, input_size, dtype, init, backend, bn_momentum, bn_eps
        As for :func:`archmodel.conv.build_nb201_network` (defaults: the micro-benchmark's
        C=8, N=5, 3x8x8 digits).
    n_blocks : int
        Parameter blocks per cell: 6 (default) gives every edge its own operation parameters
        (the vanilla supernet); fewer share them between edges (CLOSENet's GLOW blocks).
    rng : Generator, int or None
        Initialisation.

    Returns
    -------
    Supernet
    """
    owner = "build_supernet"
    dt = check_skeleton_args(owner, C=C, N=N, num_classes=num_classes, in_channels=in_channels,
                             input_size=input_size, init=init, dtype=dtype, backend=backend)
    check_range(owner, "n_blocks", n_blocks, 1, integer=True)
    gen = np.random.default_rng(rng)
    kw = dict(rng=gen, init=init, dtype=dt, bn_momentum=bn_momentum, bn_eps=bn_eps)
    body = nb201_skeleton(lambda c: SharedCell(c, n_blocks, **kw), C=C, N=N,
                          num_classes=num_classes, in_channels=in_channels, **kw)
    config = {"C": C, "N": N, "n_blocks": n_blocks, "num_classes": num_classes,
              "in_channels": in_channels, "input_size": input_size, "dtype": dt.name,
              "init": init, "bn_momentum": bn_momentum, "bn_eps": bn_eps}
    return Supernet(body, config=config, backend=backend, dtype=dt)


def _from_config(config: dict[str, Any]) -> Network:
    return build_supernet(rng=0, **dict(config))


BUILDERS[KIND] = _from_config
