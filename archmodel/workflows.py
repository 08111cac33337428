"""End-to-end workflows the CLI exposes: train-and-evaluate, evaluate a saved predictor.

Each function is plain Python over the public API, so scripts get exactly what the shell gets.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np

from archmodel.errors import ParameterError

logger = logging.getLogger(__name__)


def resolve_dataset(data: str, *, space: str | None = None, arch_column: str | None = None,
                    target: str | None = None) -> Any:
    """A registered data set name (``nb201-analog``, ...) or a CSV/JSONL path."""
    import os

    from archmodel.data import load_dataset, load_table

    if os.path.exists(data) or data.endswith((".csv", ".jsonl", ".json", ".tsv")):
        if space is None or arch_column is None:
            raise ParameterError(f"--data {data!r} is a file: give --space and --arch-column too")
        return load_table(data, space=space, arch_column=arch_column, target=target)
    return load_dataset(data)


def train_and_evaluate(dataset: Any, target: str, *, train_size: float | int = 0.01,
                       encoder: str = "gates", seed: int | None = 0, dedup: str | None = None,
                       progress: Callable[[int, float], None] | None = None,
                       **predictor_params: Any) -> tuple[Any, dict[str, Any]]:
    """Split ``dataset``, train a predictor on the train part, evaluate on every other cell.

    Returns
    -------
    predictor, report
        ``report`` is :func:`archmodel.metrics.ranking_report` of the held-out cells plus
        ``train_seconds``, ``n_train``, ``n_test``, ``encoder``, ``target``, ``seed`` (and, for an
        ensemble, ``gate_weights``: each expert's mean weight over the test cells).
    """
    from archmodel.data import train_test_split
    from archmodel.metrics import ranking_report
    from archmodel.predictors import make_predictor

    dataset.target(target)  # fail early, with the list of metrics, on an unknown target
    rng = np.random.default_rng(seed)
    train, test = train_test_split(dataset, train_size=train_size, rng=rng, dedup=dedup)
    predictor = make_predictor(encoder, rng=seed, **predictor_params)
    t0 = time.perf_counter()
    predictor.fit(train.archs, train.target(target), progress=progress)
    train_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    pred = predictor.predict(test.archs)
    score_seconds = time.perf_counter() - t1
    report = ranking_report(test.target(target), pred)
    if hasattr(predictor, "gate_weights"):   # an ensemble: each expert's mean weight on the test set
        w = predictor.gate_weights(test.archs).mean(axis=0)
        report["gate_weights"] = {name: float(v) for name, v in zip(predictor.low_fidelity, w)}
    report.update({"train_seconds": train_seconds, "score_seconds": score_seconds,
                   "n_train": len(train), "n_test": len(test), "encoder": encoder,
                   "target": target, "seed": seed, "data": getattr(dataset, "name", "")})
    return predictor, report


def evaluate_predictor(predictor: Any, dataset: Any, target: str) -> dict[str, Any]:
    """Ranking report of a fitted predictor on every architecture of ``dataset``."""
    from archmodel.metrics import ranking_report

    t0 = time.perf_counter()
    pred = predictor.predict(dataset.archs)
    report = ranking_report(dataset.target(target), pred)
    report.update({"score_seconds": time.perf_counter() - t0, "n_test": len(dataset),
                   "target": target, "data": getattr(dataset, "name", "")})
    return report
