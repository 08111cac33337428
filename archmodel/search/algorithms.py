"""Search loops over any oracle: random, regularised evolution, local search,
predictor-guided search and a BANANAS-style loop.

Every loop is a function ``loop(log, space, rng, **options)`` that asks ``log`` (a
:class:`~archmodel.search.oracle.QueryLog`) for values until the budget is spent; the log
counts the queries, answers repeats from memory and skips failures. All randomness comes from
``rng`` (a :class:`numpy.random.Generator`) and from seeds drawn from it, so a loop with the
same seed and the same oracle answers takes the same path: that is what lets a killed search
resume from its log.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np

from archmodel.arch import Arch
from archmodel.errors import ParameterError, check_range
from archmodel.search.oracle import QueryLog

logger = logging.getLogger(__name__)

__all__ = ["random_search", "regularized_evolution", "local_search", "predictor_search",
           "bananas_search", "ALGORITHMS"]

#: spaces up to this size are scored exhaustively by the model-based loops
EXHAUSTIVE_LIMIT = 100_000


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _fresh(log: QueryLog, space: Any, rng: np.random.Generator, max_tries: int = 10_000) -> Arch:
    """A uniformly sampled architecture not queried yet (from the oracle's domain if it has one)."""
    domain = log.oracle.domain
    for _ in range(max_tries):
        a = domain[int(rng.integers(len(domain)))] if domain else space.sample(1, rng)[0]
        if not log.seen(a):
            return a
    raise ParameterError(f"could not sample an unqueried architecture of {space.name} in {max_tries} tries")


# ---------------------------------------------------------------------------- baselines
def random_search(log: QueryLog, space: Any, rng: np.random.Generator) -> None:
    """Query distinct uniformly random architectures until the budget is spent."""
    while log.remaining > 0:
        log(_fresh(log, space, rng))


def regularized_evolution(log: QueryLog, space: Any, rng: np.random.Generator, *,
                          population: int = 20, sample_size: int = 5) -> None:
    """Aging evolution (Real et al., 2019).

    A population of ``population`` random architectures; each step samples ``sample_size``
    members, mutates the best of them (one decision changed, from the space spec), queries the
    child, adds it and removes the *oldest* member. Failed children are not added.
    """
    check_range("regularized_evolution", "population", population, 2, integer=True)
    check_range("regularized_evolution", "sample_size", sample_size, 1, population, integer=True)
    pop: list[tuple[Arch, float]] = []
    while len(pop) < population and log.remaining > 0:
        a = _fresh(log, space, rng)
        v = log(a)
        if v is not None:
            pop.append((a, v))
    while log.remaining > 0:
        idx = rng.choice(len(pop), size=sample_size, replace=False)
        parent = max((pop[i] for i in idx), key=lambda t: t[1])[0]
        child = space.mutate(parent, rng)
        tries = 0
        while log.seen(child) and tries < 50:
            child, tries = space.mutate(parent, rng), tries + 1
        if log.seen(child):
            child = _fresh(log, space, rng)
        v = log(child)
        if v is not None:
            pop.append((child, v))
            pop.pop(0)


def local_search(log: QueryLog, space: Any, rng: np.random.Generator) -> None:
    """Best-improvement local search with random restarts (White et al., 2021).

    From a random architecture, query all its neighbours (one decision changed) in random
    order; move to the best if it improves, else restart from a fresh random architecture.
    """
    while log.remaining > 0:
        cur = _fresh(log, space, rng)
        cur_v = log(cur)
        if cur_v is None:
            continue
        while log.remaining > 0:
            nbrs = space.neighbours(cur)
            order = rng.permutation(len(nbrs))
            best, best_v = None, cur_v
            for i in order:
                v = log(nbrs[i])
                if v is not None and v > best_v:
                    best, best_v = nbrs[i], v
            if best is None:
                break
            cur, cur_v = best, best_v


# ---------------------------------------------------------------------------- model-based
def _candidates(log: QueryLog, space: Any, rng: np.random.Generator, n_mutants: int,
                parents: int) -> list[Arch]:
    """Unqueried candidates: the whole space when it is small, else mutants of the best."""
    domain = log.oracle.domain
    if domain is not None and len(domain) <= EXHAUSTIVE_LIMIT:
        return [a for a in domain if not log.seen(a)]
    size = space.size
    if domain is None and size is not None and size <= EXHAUSTIVE_LIMIT:
        return [a for a in space.enumerate() if not log.seen(a)]
    archs, values = log.evaluated()
    top = [archs[i] for i in np.argsort(values)[::-1][:parents]]
    out: dict[tuple[int, ...], Arch] = {}
    per = max(1, n_mutants // max(1, len(top)))
    for p in top:
        cur = p
        for _ in range(per):
            cur = space.mutate(cur if rng.random() < 0.5 else p, rng)
            if not log.seen(cur):
                out[cur.seq] = cur
    for a in space.sample(max(1, n_mutants // 10), rng):
        if not log.seen(a):
            out[a.seq] = a
    return list(out.values())


def _initial(log: QueryLog, space: Any, rng: np.random.Generator, n_init: int) -> None:
    while len(log.evaluated()[0]) < min(n_init, log.budget) and log.remaining > 0:
        log(_fresh(log, space, rng))


def predictor_search(log: QueryLog, space: Any, rng: np.random.Generator, *,
                     predictor: str | Callable[[int], Any] = "gates", n_init: int = 10,
                     batch: int = 10, n_mutants: int = 2000, parents: int = 10,
                     acquisition: str = "mean",
                     predictor_params: dict[str, Any] | None = None) -> None:
    """Predictor-guided search: fit, score candidates, query the top predictions, repeat.

    Parameters
    ----------
    predictor : str or callable
        An encoder name of :func:`archmodel.predictors.make_predictor` (``'gates'``, ``'mlp'``,
        ...), ``'wlgp'`` (:class:`archmodel.explain.WLGaussianProcess`, NAS-BOWL), or a factory
        ``make(seed) -> estimator`` with ``fit(archs, y)`` and ``predict(archs)``.
    acquisition : {'mean', 'ei'}
        Rank candidates by the predicted value, or by expected improvement over the best value
        so far (models with ``expected_improvement``, i.e. the WL-GP: NAS-BOWL's BO).
    n_init : int
        Random architectures queried before the first fit.
    batch : int
        Top predictions queried per round (one refit per round).
    n_mutants, parents
        Candidate pool of large spaces: mutants of the ``parents`` best architectures (small
        spaces are scored exhaustively).
    predictor_params : dict, optional
        Passed to ``make_predictor``.
    """
    check_range("predictor_search", "n_init", n_init, 2, integer=True)
    check_range("predictor_search", "batch", batch, 1, integer=True)
    from archmodel.errors import check_choice

    check_choice("predictor_search", "acquisition", acquisition, ("mean", "ei"))
    params = dict(predictor_params or {})
    if predictor == "wlgp":
        from archmodel.explain import WLGaussianProcess

        def make(seed: int) -> Any:
            return WLGaussianProcess(space.name, **params)
    elif isinstance(predictor, str):
        from archmodel.predictors import make_predictor

        name = predictor

        def make(seed: int) -> Any:
            return make_predictor(name, rng=seed, **params)
    elif callable(predictor):
        make = predictor
    else:
        raise ParameterError(f"The 'predictor' parameter must be an encoder name or a factory. Got {predictor!r} instead.")
    _initial(log, space, rng, n_init)
    rnd = 0
    while log.remaining > 0:
        archs, values = log.evaluated()
        cands = _candidates(log, space, rng, n_mutants, parents)
        if not cands:
            break
        model = make(_seed(rng))
        model.fit(archs, np.asarray(values, dtype=float))
        if acquisition == "ei":
            if not hasattr(model, "expected_improvement"):
                raise ParameterError(f"acquisition='ei' needs a model with expected_improvement "
                                     f"(e.g. predictor='wlgp'); got {type(model).__name__}")
            pred = np.asarray(model.expected_improvement(cands, best=max(values)), dtype=float)
        else:
            pred = np.asarray(model.predict(cands), dtype=float)
        order = np.argsort(-pred, kind="stable")
        rnd += 1
        logger.info("round %d: fitted on %d, scored %d candidates", rnd, len(archs), len(cands))
        for i in order[:min(batch, log.remaining)]:
            log(cands[i])


class PathMLPEnsemble:
    """BANANAS' model: an ensemble of MLPs on the path encoding, trained with MSE.

    Reuses :class:`archmodel.models.baselines.MLPModel` and :func:`archmodel.nn.train.fit_scores`
    (its input array is the path encoding instead of the one-hot). Targets are standardised.

    Parameters
    ----------
    space : SearchSpace
    n_members : int
        Ensemble size (BANANAS: 5).
    hidden : sequence of int
        Hidden widths (BANANAS: 10 layers of 20).
    epochs, lr, batch_size
        Training of each member (Adam, MSE).
    rng : int
        Seed; members get independent streams.
    """

    def __init__(self, space: Any, *, n_members: int = 5, hidden: Sequence[int] = (20,) * 10,
                 epochs: int = 200, lr: float = 1e-2, batch_size: int = 32, rng: int = 0) -> None:
        self.space = space
        self.n_members = n_members
        self.hidden = tuple(hidden)
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.rng = rng

    def fit(self, archs: Sequence[Arch], y: Any) -> "PathMLPEnsemble":
        from archmodel.losses import get_loss
        from archmodel.models.baselines import MLPModel
        from archmodel.nn import Adam
        from archmodel.nn.train import fit_scores

        y = np.asarray(y, dtype=np.float64)
        self.mu_, self.sd_ = float(y.mean()), float(y.std() or 1.0)
        z = ((y - self.mu_) / self.sd_).astype(np.float32)
        x = {"onehot": self.space.path_encoding(list(archs)).astype(np.float32)}
        loss = get_loss("mse", owner="PathMLPEnsemble")
        self.members_ = []
        for child in np.random.SeedSequence(self.rng).spawn(self.n_members):
            r = np.random.default_rng(child)
            model = MLPModel(in_features=x["onehot"].shape[1], mlp_hidden=self.hidden, dropout=0.0)
            params = model.init_params(r, dtype=np.dtype("float32"))
            fit_scores(model, params, x, z, loss, Adam(lr=self.lr), epochs=self.epochs,
                       batch_size=self.batch_size, rng=r)
            self.members_.append((model, params))
        return self

    def predict_members(self, archs: Sequence[Arch]) -> np.ndarray:
        """Each member's prediction, shape [n_members, n], in target units."""
        x = {"onehot": self.space.path_encoding(list(archs)).astype(np.float32)}
        out = np.stack([m.predict(p, x) for m, p in self.members_]).astype(np.float64)
        return out * self.sd_ + self.mu_

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        return self.predict_members(archs).mean(axis=0)


def bananas_search(log: QueryLog, space: Any, rng: np.random.Generator, *, n_init: int = 10,
                   batch: int = 10, acquisition: str = "its", n_mutants: int = 2000,
                   parents: int = 10, ensemble_params: dict[str, Any] | None = None) -> None:
    """BANANAS-style loop (White et al., AAAI 2021): path-encoding MLP ensemble + acquisition.

    ``acquisition='its'`` (independent Thompson sampling: one draw from N(mean, std) of the
    ensemble per candidate) or ``'ucb'`` (mean + 0.5 std); the ``batch`` best candidates are
    queried each round.
    """
    from archmodel.errors import check_choice

    check_choice("bananas_search", "acquisition", acquisition, ("its", "ucb"))
    _initial(log, space, rng, n_init)
    while log.remaining > 0:
        archs, values = log.evaluated()
        cands = _candidates(log, space, rng, n_mutants, parents)
        if not cands:
            break
        ens = PathMLPEnsemble(space, rng=_seed(rng), **(ensemble_params or {})).fit(archs, values)
        preds = ens.predict_members(cands)
        mean, std = preds.mean(axis=0), preds.std(axis=0)
        acq = mean + std * rng.standard_normal(mean.shape) if acquisition == "its" else mean + 0.5 * std
        for i in np.argsort(-acq, kind="stable")[:min(batch, log.remaining)]:
            log(cands[i])


ALGORITHMS: dict[str, Callable[..., None]] = {
    "random": random_search,
    "evolution": regularized_evolution,
    "local": local_search,
    "predictor": predictor_search,
    "bananas": bananas_search,
}
