"""A framework-free convolutional-network engine (NumPy reference + Numba kernels).

Modules
-------
layers    layers with hand-written backward passes (Conv2d, BatchNorm2d, ReLU, pooling, ...)
network   the :class:`Network` object: forward/backward over a batch, parameters, gradients,
          activations, save/load (``.npz`` + JSON header)
nb201     NAS-Bench-201 cells and networks (:func:`build_nb201_network`)
train     SGD with momentum, weight decay and a cosine schedule; the minibatch training loop

The kernels live in the ``conv`` family of the backends
(``archmodel.backends.get_backend(name).conv``).

Imports go one way: ``network`` imports ``layers``; ``nb201`` (a network builder) and ``train``
import ``network``. This file imports every builder module, so the table
:data:`archmodel.conv.network.BUILDERS` that :meth:`Network.load` reads is filled before any
module of the package is used.
"""
from __future__ import annotations

from archmodel.conv.layers import (
    AvgPool2d,
    BatchNorm2d,
    Context,
    ConvBN,
    Conv2d,
    GlobalAvgPool,
    Identity,
    Layer,
    Linear,
    MaxPool2d,
    ReLU,
    ReLUConvBN,
    Sequential,
    Zero,
)
from archmodel.conv.nb201 import (
    EXTENDED_OPS,
    NB201_EDGES,
    NB201_OPS,
    NB201Cell,
    ResNetBasicBlock,
    arch_string,
    build_nb201_network,
    ops_from_arch_string,
)
from archmodel.conv.network import Network
from archmodel.conv.train import (
    SGD,
    StderrProgress,
    TrainEvent,
    TrainResult,
    compose,
    cosine_lr,
    evaluate,
    random_crop,
    random_flip,
    train,
)

load_network = Network.load

__all__ = [
    "AvgPool2d", "BatchNorm2d", "Context", "Conv2d", "ConvBN", "GlobalAvgPool", "Identity", "Layer",
    "Linear", "MaxPool2d", "ReLU", "ReLUConvBN", "Sequential", "Zero",
    "EXTENDED_OPS", "NB201_EDGES", "NB201_OPS", "NB201Cell", "ResNetBasicBlock", "arch_string",
    "build_nb201_network", "ops_from_arch_string", "Network", "load_network",
    "SGD", "StderrProgress", "TrainEvent", "TrainResult", "compose", "cosine_lr", "evaluate",
    "random_crop", "random_flip", "train",
]
