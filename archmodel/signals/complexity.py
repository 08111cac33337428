"""Exact complexity of NAS-Bench-201 networks for every cell at once: parameters, MACs and the
FLOPs convention of NASLib's zero-cost file.

A NAS-Bench-201 network is a fixed skeleton (stem, two residual reduction blocks, last batch
norm, classifier) plus, in each of its ``3 N`` cells, six edges whose cost depends only on the
op and the stage: at stage ``s`` (channels ``c = C 2^s``, resolution ``h = input_size / 2^s``)
a ``nor_conv_kxk`` edge (ReLU-Conv-BN, no bias) holds ``k^2 c^2 + 2 c`` parameters and performs
``k^2 c^2 h^2`` multiply-accumulates; ``none``, ``skip_connect`` and ``avg_pool_3x3`` hold
none and multiply nothing. The skeleton's figures come from building the all-``none`` network
once (:func:`archmodel.conv.build_nb201_network`, :func:`archmodel.zeroshot.flops`), so the
totals equal those of the built networks (tested), and the parameters equal NASLib's ``params``
column.

NASLib's ``flops`` column counts, beyond the multiply-accumulates, 3 operations per output
element of every ReLU-Conv-BN edge (the ReLU and the two batch-norm operations) and 9 per
output element of every 3x3 average-pool edge; :func:`naslib_flops` uses that convention and
differs from the file by one constant over all of its cells (the skeleton's own extra
operations; tested on the 724 cells of ``zc/nb201``).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from archmodel.errors import ParameterError

__all__ = ["nb201_complexity", "naslib_flops"]

@lru_cache(maxsize=16)
def _skeleton(C: int, N: int, input_size: int, in_channels: int, num_classes: int) -> tuple[int, float]:
    from archmodel.conv import build_nb201_network
    from archmodel.zeroshot import flops

    net = build_nb201_network(["none"] * 6, C=C, N=N, input_size=input_size, in_channels=in_channels,
                              num_classes=num_classes, rng=0)
    return net.num_parameters(), flops(net) * 1e6


def _op_matrix(cells: Any) -> np.ndarray:
    """Cells as an int array [n, 6] of op indices in :data:`archmodel.conv.nb201.EXTENDED_OPS`
    (whose first five are ``NB201_OPS``)."""
    from archmodel.arch import Arch
    from archmodel.conv.nb201 import EXTENDED_OPS, NB201_OPS, check_ops
    from archmodel.spaces import get_space

    if isinstance(cells, np.ndarray) and cells.dtype.kind in "iu":
        ops = np.asarray(cells, np.int64)
    elif len(cells) and all(isinstance(c, (list, tuple)) and c and all(isinstance(o, str) for o in c)
                            for c in cells):  # op names, disguise ops allowed
        return np.array([[EXTENDED_OPS.index(o) for o in check_ops(c, EXTENDED_OPS)] for c in cells],
                        dtype=np.int64)
    else:
        space = get_space("nb201")
        names = list(space.ops)
        idx = {n: NB201_OPS.index(n) for n in names}
        ops = np.array([[idx[names[v]] for v in (c.seq if isinstance(c, Arch) else space.parse(c).seq)]
                        for c in cells], dtype=np.int64).reshape(-1, 6)
    if ops.ndim != 2 or ops.shape[1] != 6 or (ops.size and (ops.min() < 0 or ops.max() >= len(NB201_OPS))):
        raise ParameterError(f"cells must be NB201 architectures or an int array [n, 6] of op indices in "
                             f"[0, {len(NB201_OPS) - 1}] ({list(NB201_OPS)}); got shape {ops.shape}")
    return ops


def nb201_complexity(cells: Sequence[Any] | np.ndarray, *, C: int = 16, N: int = 5, input_size: int = 32,
                     in_channels: int = 3, num_classes: int = 10) -> dict[str, np.ndarray]:
    """Parameters and multiply-accumulates of the NB201 network of each cell.

    Parameters
    ----------
    cells : sequence of Arch / NB201 strings / 6 op names, or int ndarray [n, 6]
        The cells (op indices in :data:`archmodel.conv.nb201.NB201_OPS` order for an array). Op
        names may come from :data:`archmodel.conv.nb201.EXTENDED_OPS` (5x5 and Conv-BN ops,
        ``k^2 c^2 + 2 c`` parameters and ``k^2 c^2 h^2`` MACs per edge like the ReLU-Conv-BN ops).
    C, N, input_size, in_channels, num_classes : int
        The network (NAS-Bench-201's CIFAR-10 network by default).

    Returns
    -------
    dict
        ``params`` int64 [n] (affine batch-norm weights included), ``macs`` float64 [n]
        (convolutions and the classifier, one image).
    """
    from archmodel.conv.nb201 import EXTENDED_OPS, op_kernel_size

    ops = _op_matrix(cells)
    base_params, base_macs = _skeleton(C, N, input_size, in_channels, num_classes)
    stages = [(C * 2 ** s, (input_size // 2 ** s) ** 2) for s in range(3)]
    params = np.full(len(ops), base_params, dtype=np.int64)
    macs = np.full(len(ops), base_macs, dtype=np.float64)
    for i, name in enumerate(EXTENDED_OPS):
        k = op_kernel_size(name)
        if k is None:
            continue
        count = (ops == i).sum(axis=1)  # edges with this op, per cell
        params += count * N * sum(k * k * c * c + 2 * c for c, _ in stages)
        macs += count * N * sum(k * k * c * c * hw for c, hw in stages)
    return {"params": params, "macs": macs}


def naslib_flops(cells: Sequence[Any] | np.ndarray, *, C: int = 16, N: int = 5, input_size: int = 32,
                 in_channels: int = 3, num_classes: int = 10) -> np.ndarray:
    """FLOPs in NASLib's convention, in millions: multiply-accumulates + 3 per output element of
    each ReLU-Conv-BN edge + 9 per output element of each ``avg_pool_3x3`` edge (see the module
    docstring: equal to NASLib's ``flops`` up to one constant)."""
    from archmodel.conv.nb201 import NB201_OPS

    ops = _op_matrix(cells)
    if ops.size and ops.max() >= len(NB201_OPS):
        raise ParameterError(f"naslib_flops counts NAS-Bench-201 ops only ({list(NB201_OPS)})")
    out = nb201_complexity(ops, C=C, N=N, input_size=input_size, in_channels=in_channels,
                           num_classes=num_classes)["macs"].copy()
    elements = N * sum(C * 2 ** s * (input_size // 2 ** s) ** 2 for s in range(3))  # one edge, all cells
    convs = sum((ops == NB201_OPS.index(n)).sum(axis=1) for n in ("nor_conv_1x1", "nor_conv_3x3"))
    pools = (ops == NB201_OPS.index("avg_pool_3x3")).sum(axis=1)
    return (out + 3 * elements * convs + 9 * elements * pools) / 1e6
