"""What a PIM command is given as its network, turned into a layer list.

:func:`load_network` accepts every form the simulator and the CLI take (a built-in name, layer
dicts, a JSON file, an archmodel network or its saved ``.npz``, an NB201 architecture). It sits
above both :mod:`archmodel.pim.network` (the layer types) and :mod:`archmodel.pim.conv_network`
(archmodel networks on crossbars), so that neither imports the other's caller.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any

from archmodel.errors import ParameterError
from archmodel.pim.conv_network import layers_from_arch, layers_from_network
from archmodel.pim.network import BUILTIN_NETWORKS, Layer, builtin_network, layers_from_dicts

__all__ = ["load_network"]


def load_network(network: Any) -> list[Layer]:
    """Accept a built-in name, a layer list, a path to a JSON file holding a layer list, an
    archmodel :class:`~archmodel.conv.network.Network`, a path to a saved one (``.npz``) or an
    NB201 architecture (``'|nor_conv_3x3~0|+|...|'`` or a NASLib tuple ``'(2, 2, 0, 4, 2, 0)'``:
    NAS-Bench-201's CIFAR network of that cell, :func:`archmodel.pim.conv_network.layers_from_arch`);
    networks are mapped by :func:`archmodel.pim.conv_network.layers_from_network`."""
    conv_net = sys.modules.get("archmodel.conv.network")  # not imported: cannot be a Network
    if conv_net is not None and isinstance(network, conv_net.Network):
        return layers_from_network(network)
    if isinstance(network, str):
        if network in BUILTIN_NETWORKS:
            return builtin_network(network)
        if network.endswith(".npz"):
            if not os.path.exists(network):
                raise FileNotFoundError(f"no such network file: {network}")
            from archmodel.conv.network import Network

            return layers_from_network(Network.load(network))
        if network.endswith(".json") or os.path.sep in network:
            if not os.path.exists(network):
                raise FileNotFoundError(f"no such network file: {network}")
            with open(network, encoding="utf-8") as fh:
                data = json.load(fh)
            if isinstance(data, dict):
                data = data.get("layers", data)
            return layers_from_dicts(data)
        if network.lstrip().startswith(("|", "(")):  # an NB201 architecture
            return layers_from_arch(network)
        return builtin_network(network)
    if isinstance(network, (list, tuple)):
        items = list(network)
        if items and all(isinstance(x, dict) for x in items):
            return layers_from_dicts(items)
        return items
    raise ParameterError(
        f"The 'network' parameter must be a built-in name {sorted(BUILTIN_NETWORKS)}, a layer list, "
        f"a JSON path, an archmodel Network, a saved Network (.npz) or an NB201 architecture string. "
        f"Got {type(network).__name__} instead.")
