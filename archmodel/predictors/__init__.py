"""Architecture performance predictors (scikit-learn style estimators on architectures).

=================  ==========================================================
GATESPredictor     GATES graph encoder + MLP head (Ning et al., ECCV 2020)
MLPPredictor       MLP on the one-hot sequential encoding (baseline)
LSTMPredictor      LSTM over the decision sequence (baseline)
GCNPredictor       GCN over the adjacency matrix (baseline)
=================  ==========================================================

``load_predictor(path)`` reads any saved predictor back.
"""
from __future__ import annotations

import importlib
from typing import Any

from archmodel.errors import FormatError, ParameterError
from archmodel.predictors.base import Predictor, load_predictor

#: class name -> "module:attr"; also the encoder names used by the CLI
REGISTRY: dict[str, str] = {
    "GATESPredictor": "archmodel.predictors.gates:GATESPredictor",
    "MLPPredictor": "archmodel.predictors.baselines:MLPPredictor",
    "LSTMPredictor": "archmodel.predictors.baselines:LSTMPredictor",
    "GCNPredictor": "archmodel.predictors.baselines:GCNPredictor",
}
ENCODERS: dict[str, str] = {"gates": "GATESPredictor", "mlp": "MLPPredictor",
                            "lstm": "LSTMPredictor", "gcn": "GCNPredictor"}

__all__ = ["Predictor", "load_predictor", "predictor_class", "make_predictor", "ENCODERS"]


def predictor_class(name: str) -> type:
    """The predictor class registered as ``name``."""
    if name not in REGISTRY:
        raise FormatError(f"unknown predictor class {name!r}; known: {sorted(REGISTRY)}")
    module, attr = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attr)


def make_predictor(encoder: str, **params: Any) -> Predictor:
    """A predictor by encoder name (``'gates'``, ``'mlp'``, ``'lstm'``, ``'gcn'``)."""
    if encoder not in ENCODERS:
        raise ParameterError(f"The 'encoder' parameter must be one of {set(ENCODERS)}. Got {encoder!r} instead.")
    return predictor_class(ENCODERS[encoder])(**params)


def __getattr__(name: str) -> Any:
    if name in REGISTRY:
        return predictor_class(name)
    raise AttributeError(name)
