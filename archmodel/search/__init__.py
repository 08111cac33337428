"""Search: find good architectures with as few oracle queries as possible.

>>> from archmodel.data import load_dataset
>>> from archmodel.search import TableOracle, run_search
>>> oracle = TableOracle(load_dataset("nb201-analog"), "baseline_accuracy")   # doctest: +SKIP
>>> res = run_search(oracle, budget=150, algorithm="predictor", predictor="gates", seed=0)  # doctest: +SKIP
>>> res.best_value, res.queries                                                # doctest: +SKIP

An *oracle* is anything that maps one architecture to a float, higher is better: a benchmark
table (:class:`TableOracle`), a Python function (:class:`FunctionOracle`) or a shell command
that trains a network (:class:`CommandOracle`). Every query goes through a
:class:`QueryLog`: it counts queries, answers a repeated architecture from memory, records an
oracle that fails or times out and skips that candidate, and, with ``log_path=``, writes every
query to a JSON Lines file so that a killed search, run again with the same arguments,
resumes without re-querying (the loop replays its own decisions from the seed).

Algorithms (:data:`ALGORITHMS`): ``random``, ``evolution`` (regularised / aging evolution),
``local`` (local search), ``predictor`` (fit a predictor, score candidates, query the top
predictions, refit; any :func:`archmodel.predictors.make_predictor` encoder or a factory),
``bananas`` (path-encoding MLP ensemble with Thompson sampling or UCB).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archmodel.errors import check_choice
from archmodel.search.algorithms import ALGORITHMS, PathMLPEnsemble
from archmodel.search.oracle import (
    BudgetExhausted,
    CommandOracle,
    FunctionOracle,
    Oracle,
    OracleError,
    Query,
    QueryLog,
    TableOracle,
)

__all__ = ["run_search", "SearchResult", "ALGORITHMS", "Oracle", "TableOracle", "FunctionOracle",
           "CommandOracle", "OracleError", "QueryLog", "Query", "PathMLPEnsemble"]


@dataclass
class SearchResult:
    """What a search found.

    Attributes
    ----------
    best_arch : Arch or None
    best_value : float or None
    queries : int
        Queries made (distinct architectures asked for, failed ones included).
    oracle_calls : int
        Of those, the ones that really called the oracle (not replayed from a log).
    failed : int
    trajectory : list of float or None
        Best value after each query.
    history : list of (arch string, value or None)
    seconds : float
    """

    best_arch: Any
    best_value: float | None
    queries: int
    oracle_calls: int
    failed: int
    trajectory: list
    history: list = field(repr=False)
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)

    def best_after(self, n: int) -> float | None:
        """Best value found within the first ``n`` queries."""
        if not self.trajectory:
            return None
        return self.trajectory[min(n, len(self.trajectory)) - 1]

    def to_json(self, space: Any) -> dict[str, Any]:
        """``{"best_found", "best_arch", "queries", "oracle_calls", "failed", "trajectory", ...}``."""
        return {"best_found": self.best_value,
                "best_arch": None if self.best_arch is None else space.format(self.best_arch),
                "queries": self.queries, "oracle_calls": self.oracle_calls, "failed": self.failed,
                "trajectory": self.trajectory, "seconds": self.seconds, "settings": self.settings}


def run_search(oracle: Oracle, budget: int, *, algorithm: str = "predictor", seed: int | None = 0,
               log_path: Any = None, progress: Any = None, **options: Any) -> SearchResult:
    """Run one search of ``budget`` queries against ``oracle``.

    Parameters
    ----------
    oracle : Oracle
    budget : int >= 1
    algorithm : {'random', 'evolution', 'local', 'predictor', 'bananas'}
    seed : int or None
        Seeds every random choice of the loop (and of the predictors it fits).
    log_path : str or Path, optional
        JSON Lines query log; an existing log with the same settings is resumed.
    **options
        Passed to the algorithm (e.g. ``predictor='gates'``, ``batch=10``, ``population=20``).
        They must be JSON-able to be recorded in the log.
    progress : callable, optional
        ``progress(query)`` after each query.

    Returns
    -------
    SearchResult
    """
    from archmodel.spaces import get_space

    check_choice("run_search", "algorithm", algorithm, tuple(ALGORITHMS))
    space = get_space(oracle.space)
    settings = {"algorithm": algorithm, "budget": budget, "seed": seed,
                **{k: v for k, v in options.items() if not callable(v)}}
    log = QueryLog(oracle, budget, path=log_path, settings=settings, progress=progress)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    try:
        ALGORITHMS[algorithm](log, space, rng, **options)
    except BudgetExhausted:
        pass
    best = log.best()
    return SearchResult(
        best_arch=None if best is None else best.arch,
        best_value=None if best is None else best.value,
        queries=log.n_queries, oracle_calls=log.oracle_calls,
        failed=sum(1 for q in log if not q.ok), trajectory=log.trajectory(),
        history=[(space.format(q.arch), q.value) for q in log],
        seconds=time.perf_counter() - t0, settings=settings)
