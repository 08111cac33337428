"""Neural-network building blocks with hand-written backward passes (NumPy/Numba kernels).

Parameters are flat ``dict[str, ndarray]`` (``.npz``-friendly); layers are configuration
objects with ``init_params``/``forward``/``backward``; optimisers update the dict in place.
See :mod:`archmodel.nn.layers` for the protocol, :mod:`archmodel.nn.optim` for Adam/SGD and
:mod:`archmodel.nn.train` for :func:`fit_scores`.
"""
from __future__ import annotations

from archmodel.nn.layers import (MLP, Dropout, Embedding, Layer, Linear, ReLU, Sigmoid, Tanh,
                                 dropout_mask, resolve_backend)
from archmodel.nn.optim import SGD, Adam, Optimizer
from archmodel.nn.params import (Params, add_into, as_rng, cast_params, check_dtype, count_params,
                                 zeros_like)
from archmodel.nn.parallel import single_threaded_blas
from archmodel.nn.train import fit_scores

__all__ = [
    "Layer", "Linear", "ReLU", "Sigmoid", "Tanh", "Dropout", "Embedding", "MLP",
    "dropout_mask", "resolve_backend",
    "Optimizer", "Adam", "SGD",
    "Params", "add_into", "as_rng", "cast_params", "check_dtype", "count_params", "zeros_like",
    "single_threaded_blas", "fit_scores",
]
