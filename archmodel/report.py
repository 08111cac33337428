"""Estimator reports: several performance estimators judged on one test set, one table.

An *estimator* gives each architecture a score whose ranking should follow the true metric:

* ``gates``, ``tagates``, ``mlp``, ``lstm``, ``gcn``: predictors trained on the training split
  (:func:`archmodel.predictors.make_predictor`); ``wlgp``: the WL-kernel GP;
* ``zeroshot:NAME``: a zero-cost proxy column, from the data set's own low-fidelity columns or,
  failing that, from the NASLib zero-cost file of the same space (``zc/<space>``), joined by
  architecture (NASLib's failure values, -1e8 and non-finite scores, are missing values);
* ``oneshot:FILE`` (or ``file:FILE``): scores from a CSV with columns ``arch,score`` (e.g. the
  one-shot scores of ``archmodel supernet evaluate``), architectures in any format of the space.

Every estimator is evaluated on the *same* test cells (those not used for training that every
estimator scores) with every :func:`archmodel.metrics.ranking_report` criterion: Kendall,
Spearman, Pearson, P@top/bottom-K, N@K, BR/WR@K (the criteria of the EEPE study of one-shot and
zero-shot estimators). :func:`write_html` writes one self-contained page with the table and the
plots (predicted vs true scatter, precision at the top K as K grows; matplotlib).
"""
from __future__ import annotations

import base64
import csv
import html
import io
import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from archmodel.errors import DataError, ParameterError

logger = logging.getLogger(__name__)

__all__ = ["EstimatorScores", "score_estimators", "report_table", "write_html", "TRAINED"]

TRAINED = ("gates", "tagates", "mlp", "lstm", "gcn", "wlgp")


@dataclass
class EstimatorScores:
    """One estimator's scores on the common test cells (``scores[i]`` for ``test_idx[i]``)."""

    name: str
    scores: np.ndarray
    report: dict[str, Any]


def _proxy_column(dataset: Any, name: str) -> np.ndarray:
    """A zero-cost column for every cell of ``dataset`` (NaN where missing): the data set's own
    column, else the NASLib file's (:func:`archmodel.signals.signal_column`)."""
    from archmodel.signals import signal_column

    try:
        return signal_column(name if name in dataset.low_fidelity else f"file:{name}", dataset)
    except DataError as exc:
        raise DataError(f"zeroshot:{name}: {dataset.name}: {exc}") from None


def _file_column(dataset: Any, path: str) -> np.ndarray:
    from archmodel.spaces import get_space

    sp = get_space(dataset.space)
    by_seq: dict[tuple[int, ...], float] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"arch", "score"} <= set(reader.fieldnames):
            raise DataError(f"{path}: needs a header with columns 'arch' and 'score'; got {reader.fieldnames}")
        for row in reader:
            by_seq[sp.parse(row["arch"]).seq] = float(row["score"])
    return np.array([by_seq.get(a.seq, np.nan) for a in dataset.archs], dtype=np.float64)


def score_estimators(dataset: Any, target: str, estimators: Sequence[str], *,
                     train_size: float | int = 0.01, seed: int = 0,
                     predictor_params: dict[str, Any] | None = None) -> tuple[list[EstimatorScores], dict[str, Any]]:
    """Train/score every estimator and evaluate all of them on the same test cells.

    Parameters
    ----------
    dataset : Dataset
    target : str
    estimators : sequence of str
        Names as in the module docstring.
    train_size : float or int
        Training split of the trained estimators (a fraction or a count).
    seed : int
        Split and training seed.

    Returns
    -------
    results, info
        One :class:`EstimatorScores` per estimator, and ``info`` with ``n_train``, ``n_test``
        (common test cells), ``test_idx`` (their indices in ``dataset``) and ``y_test``.
    """
    from archmodel.data import split_indices
    from archmodel.metrics import ranking_report

    if not estimators:
        raise ParameterError("no estimators given: e.g. gates,zeroshot:synflow")
    y = np.asarray(dataset.target(target), dtype=np.float64)
    rng = np.random.default_rng(seed)
    tr, te = split_indices(len(dataset), train_size=train_size, rng=rng)
    columns: dict[str, np.ndarray] = {}
    for est in estimators:
        kind, _, arg = est.partition(":")
        if est in TRAINED:
            continue
        if kind == "zeroshot" and arg:
            columns[est] = _proxy_column(dataset, arg)
        elif kind in ("oneshot", "file") and arg:
            columns[est] = _file_column(dataset, arg)
        else:
            raise ParameterError(f"unknown estimator {est!r}; allowed: {', '.join(TRAINED)}, zeroshot:NAME, "
                                 "oneshot:FILE, file:FILE")
    ok = np.isfinite(y[te])
    for col in columns.values():
        ok &= np.isfinite(col[te])
    test_idx = np.asarray(te)[ok]
    if len(test_idx) < 2:
        raise DataError(f"only {len(test_idx)} test cells are scored by every estimator")
    archs = list(dataset.archs)
    train_archs = [archs[i] for i in tr]
    test_archs = [archs[i] for i in test_idx]
    out = []
    for est in estimators:
        if est in columns:
            s = columns[est][test_idx]
        elif est == "wlgp":
            from archmodel.explain import WLGaussianProcess

            s = WLGaussianProcess(dataset.space).fit(train_archs, y[tr]).predict(test_archs)
        else:
            from archmodel.predictors import make_predictor

            p = make_predictor(est, rng=seed, **(predictor_params or {})).fit(train_archs, y[tr])
            s = p.predict(test_archs)
        s = np.asarray(s, dtype=np.float64)
        out.append(EstimatorScores(est, s, ranking_report(y[test_idx], s)))
    info = {"n_train": len(tr), "n_test": len(test_idx), "test_idx": test_idx, "y_test": y[test_idx],
            "target": target, "data": dataset.name, "seed": seed}
    return out, info


COLUMNS = ["kendall_tau", "spearman", "pearson", "precision_at_top5pct", "precision_at_bottom5pct",
           "n_at_5", "n_at_10", "br_at_top5pct_frac", "wr_at_top5pct_frac"]


def report_table(results: Sequence[EstimatorScores]) -> list[dict[str, Any]]:
    """Rows ``{"estimator", <criterion>: value, ...}`` with every ranking_report criterion."""
    return [{"estimator": r.name, **r.report} for r in results]


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plots(results: Sequence[EstimatorScores], y_test: np.ndarray) -> dict[str, str]:
    """Base64 PNGs: ``scatter`` (predicted vs true per estimator) and ``p_at_k`` curves."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        from archmodel.errors import MissingDependencyError

        raise MissingDependencyError("plots need matplotlib: pip install 'archmodel[plot]'") from exc
    from archmodel.metrics import precision_at_top_k

    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.0), squeeze=False)
    for ax, r in zip(axes[0], results):
        ax.scatter(y_test, r.scores, s=3, alpha=0.4)
        ax.set_title(f"{r.name}: tau {r.report['kendall_tau']:.3f}", fontsize=9)
        ax.set_xlabel("true")
        ax.set_ylabel("score")
    fig.tight_layout()
    scatter = _png(fig)
    plt.close(fig)
    fracs = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for r in results:
        ax.plot(fracs, [precision_at_top_k(y_test, r.scores, float(f)) for f in fracs], marker="o", label=r.name)
    ax.set_xscale("log")
    ax.set_xlabel("top fraction K")
    ax.set_ylabel("precision at top K")
    ax.legend(fontsize=8)
    fig.tight_layout()
    pk = _png(fig)
    plt.close(fig)
    return {"scatter": scatter, "p_at_k": pk}


def write_html(path: Any, results: Sequence[EstimatorScores], info: dict[str, Any]) -> None:
    """One self-contained HTML page: the table and the plots (written then renamed)."""
    from archmodel.io import atomic_write

    imgs = plots(results, info["y_test"])
    rows = report_table(results)
    keys = [k for k in rows[0] if k != "estimator"]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in ["estimator"] + keys)
    body = ""
    for row in rows:
        cells = "".join(f"<td>{row[k]:.4f}</td>" if isinstance(row[k], float) else f"<td>{row[k]}</td>" for k in keys)
        body += f"<tr><td>{html.escape(row['estimator'])}</td>{cells}</tr>\n"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>archmodel estimator report</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}</style></head><body>
<h1>Estimator report: {html.escape(str(info['data']))}, target {html.escape(str(info['target']))}</h1>
<p>{info['n_train']} training cells (seed {info['seed']}); every estimator on the same {info['n_test']} test cells.</p>
<table><tr>{head}</tr>
{body}</table>
<h2>Predicted vs true</h2><img src="data:image/png;base64,{imgs['scatter']}">
<h2>Precision at the top K</h2><img src="data:image/png;base64,{imgs['p_at_k']}">
</body></html>
"""
    with atomic_write(path, "w") as fh:
        fh.write(page)
