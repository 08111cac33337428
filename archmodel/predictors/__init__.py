"""Architecture performance predictors (scikit-learn style estimators on architectures).

=================  ==========================================================
GATESPredictor     GATES graph encoder + MLP head (Ning et al., ECCV 2020)
TAGATESPredictor   TA-GATES, the training-analogous GATES (Ning et al., NeurIPS 2022)
DELEPredictor      dynamic ensemble of low-fidelity experts (Zhao, Ning et al., AAAI 2023)
MLPPredictor       MLP on the one-hot sequential encoding (baseline)
LSTMPredictor      LSTM over the decision sequence (baseline)
GCNPredictor       GCN over the adjacency matrix (baseline)
=================  ==========================================================

``load_predictor(path)`` reads any saved predictor back.
"""
from __future__ import annotations

from typing import Any

from archmodel.predictors.base import Predictor, load_predictor
from archmodel.predictors.registry import ENCODERS, REGISTRY, make_predictor, predictor_class

__all__ = ["Predictor", "load_predictor", "predictor_class", "make_predictor", "ENCODERS"]


def __getattr__(name: str) -> Any:
    if name in REGISTRY:
        return predictor_class(name)
    raise AttributeError(name)
