"""The predictor registry: class names and CLI encoder names -> classes, imported on first use.

It sits below :mod:`archmodel.predictors.base` (which looks classes up here to load a saved
file) and imports no predictor module at import time.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from archmodel.errors import FormatError, ParameterError

if TYPE_CHECKING:
    from archmodel.predictors.base import Predictor

#: class name -> "module:attr"; also the encoder names used by the CLI
REGISTRY: dict[str, str] = {
    "GATESPredictor": "archmodel.predictors.gates:GATESPredictor",
    "TAGATESPredictor": "archmodel.predictors.tagates:TAGATESPredictor",
    "DELEPredictor": "archmodel.predictors.ensemble:DELEPredictor",
    "MLPPredictor": "archmodel.predictors.baselines:MLPPredictor",
    "LSTMPredictor": "archmodel.predictors.baselines:LSTMPredictor",
    "GCNPredictor": "archmodel.predictors.baselines:GCNPredictor",
}
ENCODERS: dict[str, str] = {"gates": "GATESPredictor", "tagates": "TAGATESPredictor", "dele": "DELEPredictor",
                            "mlp": "MLPPredictor",
                            "lstm": "LSTMPredictor", "gcn": "GCNPredictor"}


def predictor_class(name: str) -> type:
    """The predictor class registered as ``name``."""
    if name not in REGISTRY:
        raise FormatError(f"unknown predictor class {name!r}; known: {sorted(REGISTRY)}")
    module, attr = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attr)


def make_predictor(encoder: str, **params: Any) -> Predictor:
    """A predictor by encoder name (``'gates'``, ``'tagates'``, ``'mlp'``, ``'lstm'``, ``'gcn'``)."""
    if encoder not in ENCODERS:
        raise ParameterError(f"The 'encoder' parameter must be one of {set(ENCODERS)}. Got {encoder!r} instead.")
    return predictor_class(ENCODERS[encoder])(**params)
