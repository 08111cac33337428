"""A learned disguising policy: per edge, a masked softmax over the legal rewrites, trained with
REINFORCE on the transfer-attack reward under an overhead budget (DeepGuiser's policy).

Features of edge ``e`` of a victim cell: the cell's GATES embedding (a trained
:class:`~archmodel.predictors.GATESPredictor`'s encoder readout, when an encoder is given), the
one-hot edge position and the one-hot current op. Logits over the ops of
:data:`archmodel.conv.nb201.EXTENDED_OPS` are one linear map of the features, shared by the
edges; actions outside ``{current op} + legal_targets(current op)`` are masked out. A sampled
plan whose overhead (:func:`archmodel.disguise.cost.overhead`) exceeds the budget is repaired
before it is evaluated: randomly chosen rewrites are undone until it fits, and the repaired
actions are the ones reinforced. The gradient of ``log pi`` is written by hand (softmax rows), with a
moving-average baseline and an entropy bonus; randomness comes from the ``rng`` argument.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np

from archmodel.errors import FormatError, NotFittedError, ParameterError, check_range

log = logging.getLogger(__name__)

__all__ = ["DisguisePolicy", "load_policy"]

FORMAT = "archmodel.disguise_policy"
FORMAT_VERSION = 1


def _masks(ops: Sequence[str]) -> np.ndarray:
    from archmodel.conv.nb201 import EXTENDED_OPS
    from archmodel.disguise.transforms import legal_targets

    m = np.zeros((len(ops), len(EXTENDED_OPS)), dtype=bool)
    for e, op in enumerate(ops):
        for t in [op] + legal_targets(op):
            m[e, EXTENDED_OPS.index(t)] = True
    return m


class DisguisePolicy:
    """REINFORCE policy over per-edge rewrites (scikit-learn conventions).

    Parameters
    ----------
    budget : float
        Largest extra fraction of multiply-accumulates a plan may add (0.2 = +20 %).
    encoder : GATESPredictor, optional
        Fitted predictor whose ``embed`` gives the cell features (None: position and op only).
    lr : float
        Step size of the policy gradient.
    entropy : float
        Weight of the entropy bonus.
    baseline_momentum : float
        Moving-average baseline over steps, ``b <- m b + (1 - m) mean(r)`` (and of ``r^2``:
        advantages ``(r - b) / sd`` are divided by the running standard deviation ``sd`` of the
        rewards). The first step starts both from its own rewards, so the first update is scaled
        like every later one.
    keep_init : float
        Initial extra logit of keeping an edge's op (a start that rewrites few edges, so that
        sampled plans mostly fit the budget).
    rng : int or None

    Attributes
    ----------
    weight_ : ndarray [n_ops, n_features]
    bias_ : ndarray [n_ops]
    baseline_ : float
    history_ : list of dict
        Per update: mean reward, share of sampled plans that needed no repair, mean entropy.
    """

    def __init__(self, *, budget: float = 0.2, encoder: Any = None, lr: float = 0.5, entropy: float = 0.01,
                 baseline_momentum: float = 0.8, keep_init: float = 1.5, rng: int | None = None) -> None:
        self.budget = budget
        self.encoder = encoder
        self.lr = lr
        self.entropy = entropy
        self.baseline_momentum = baseline_momentum
        self.keep_init = keep_init
        self.rng = rng

    # ------------------------------------------------------------------ features and policy
    def _features(self, net: Any) -> np.ndarray:
        """``[6, n_features]`` for the edges of ``net``'s cell."""
        from archmodel.conv.nb201 import EXTENDED_OPS

        ops = list(net.config["ops"])
        parts = []
        if self.encoder is not None:
            from archmodel.conv.nb201 import arch_string

            emb = np.asarray(self.encoder.embed([arch_string(ops)]), np.float64)[0]
            emb = emb / (np.linalg.norm(emb) + 1e-12)
            parts.append(np.repeat(emb[None], len(ops), axis=0))
        parts.append(np.eye(len(ops)))
        parts.append(np.eye(len(EXTENDED_OPS))[[EXTENDED_OPS.index(o) for o in ops]])
        parts.append(np.ones((len(ops), 1)))
        return np.concatenate(parts, axis=1)

    def _logprobs(self, feats: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Log-probabilities ``[edges, ops]`` (0 where masked; a stable log-softmax, finite on
        every legal entry)."""
        z = feats @ self.weight_.T + self.bias_
        z = np.where(mask, z, -np.inf)
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
        return np.where(mask, z - lse, 0.0)

    def _probs(self, feats: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.where(mask, np.exp(self._logprobs(feats, mask)), 0.0)

    def _check_fitted(self) -> None:
        if not hasattr(self, "weight_"):
            raise NotFittedError("This DisguisePolicy is not fitted yet; call fit() or load_policy().")

    def _init(self, n_features: int) -> None:
        from archmodel.conv.nb201 import EXTENDED_OPS

        n_ops = len(EXTENDED_OPS)
        self.weight_ = np.zeros((n_ops, n_features))
        # the op one-hot block sits before the final constant feature: action == current op
        self.weight_[:, n_features - 1 - n_ops:n_features - 1] += self.keep_init * np.eye(n_ops)
        self.bias_ = np.zeros(n_ops)
        self.baseline_ = 0.0
        self.reward_sq_ = 0.0
        self.history_: list[dict[str, float]] = []

    def _plan_from(self, ops: Sequence[str], actions: np.ndarray) -> dict[int, str]:
        from archmodel.conv.nb201 import EXTENDED_OPS

        return {e: EXTENDED_OPS[a] for e, a in enumerate(actions) if EXTENDED_OPS[a] != ops[e]}

    def _draw(self, net: Any, p: np.ndarray, rng: np.random.Generator) -> tuple[dict[int, str], np.ndarray, bool]:
        """Actions drawn from ``p``, repaired to the budget: (plan, actions, needed no repair)."""
        from archmodel.conv.nb201 import EXTENDED_OPS
        from archmodel.disguise.cost import plan_overhead

        ops = list(net.config["ops"])
        actions = np.array([rng.choice(p.shape[1], p=row) for row in p])
        plan = self._plan_from(ops, actions)
        clean = True
        while plan and plan_overhead(net, plan) > self.budget:
            clean = False
            e = int(rng.choice(sorted(plan)))
            del plan[e]
            actions[e] = EXTENDED_OPS.index(ops[e])
        return plan, actions, clean

    def sample(self, net: Any, rng: np.random.Generator) -> tuple[dict[int, str], np.ndarray]:
        """One plan drawn from the policy (repaired to the budget) and its actions per edge."""
        self._check_fitted()
        p = self._probs(self._features(net), _masks(list(net.config["ops"])))
        plan, actions, _ = self._draw(net, p, rng)
        return plan, actions

    def plan(self, net: Any, *, min_rewrites: int = 1) -> dict[int, str]:
        """The most probable plan within the budget that rewrites at least ``min_rewrites``
        edges (where legal rewrites within the budget allow it).

        Edges are rewritten to their most probable op, then the rewrites with the smallest
        probability margin over keeping the op are dropped until the plan fits the budget. If
        fewer than ``min_rewrites`` edges are left rewritten (a policy whose per-edge argmax is
        "keep" everywhere), the legal rewrites are added in decreasing margin
        ``p(rewrite) - p(keep)`` while they fit: a disguise that changes nothing is no
        disguise (``min_rewrites=0`` allows the empty plan).
        """
        from archmodel.conv.nb201 import EXTENDED_OPS
        from archmodel.disguise.cost import plan_overhead

        self._check_fitted()
        check_range("DisguisePolicy.plan", "min_rewrites", min_rewrites, 0, integer=True)
        ops = list(net.config["ops"])
        legal = _masks(ops)
        p = self._probs(self._features(net), legal)
        best = p.argmax(axis=1)
        plan = self._plan_from(ops, best)
        keep = {e: p[e, EXTENDED_OPS.index(ops[e])] for e in range(len(ops))}
        order = sorted(plan, key=lambda e: p[e, best[e]] - keep[e])
        while plan and plan_overhead(net, plan) > self.budget:
            plan.pop(order.pop(0))
        if len(plan) < min_rewrites:
            extra = sorted(((p[e, k] - keep[e], e, k) for e in range(len(ops)) if e not in plan
                            for k in np.flatnonzero(legal[e]) if EXTENDED_OPS[k] != ops[e]),
                           key=lambda t: (-t[0], t[1], t[2]))
            for _, e, k in extra:
                if len(plan) >= min_rewrites:
                    break
                if e in plan:
                    continue
                trial = {**plan, e: EXTENDED_OPS[k]}
                if plan_overhead(net, trial) <= self.budget:
                    plan = trial
        return plan

    def _objective(self, feats: np.ndarray, mask: np.ndarray, actions: np.ndarray, adv: float) -> float:
        """``adv * sum_e log pi(a_e) + entropy * sum_e H(pi_e)``: what one sample's update
        ascends (the gradient of :meth:`_objective_grad`, checked by finite differences)."""
        logp = self._logprobs(feats, mask)
        ent = -(np.where(mask, np.exp(logp) * logp, 0.0)).sum()
        return float(adv * logp[np.arange(len(actions)), actions].sum() + self.entropy * ent)

    def _objective_grad(self, feats: np.ndarray, mask: np.ndarray, p: np.ndarray, actions: np.ndarray,
                        adv: float) -> tuple[np.ndarray, np.ndarray]:
        """Gradient of :meth:`_objective` w.r.t. ``weight_`` and ``bias_`` (``p`` = current probs)."""
        # d log pi(a) / d z = onehot(a) - p, per edge row
        dz = -p.copy()
        dz[np.arange(len(actions)), actions] += 1.0
        dz *= adv
        # entropy: d H_e / d z_k = -p_k (log p_k + H_e) on the legal entries
        logp = self._logprobs(feats, mask)
        ent_rows = -(np.where(mask, p * logp, 0.0)).sum(axis=1)
        dz += self.entropy * np.where(mask, -p * (logp + ent_rows[:, None]), 0.0)
        return dz.T @ feats, dz.sum(axis=0)

    # ------------------------------------------------------------------ training
    def fit(self, victims: Sequence[Any], reward: Callable[[Any, dict[int, str]], float], *,
            steps: int = 10, samples: int = 4, progress: Callable[[int, dict], None] | None = None
            ) -> "DisguisePolicy":
        """REINFORCE on ``reward(victim, plan)`` (e.g. the disguise benefit of
        :func:`archmodel.disguise.attack.disguise_benefit`).

        Each step draws ``samples`` plans for every victim (repaired to the budget) and calls
        ``reward`` on each non-empty one (an empty plan earns 0).
        """
        check_range("DisguisePolicy", "budget", self.budget, 0.0)
        check_range("DisguisePolicy", "lr", self.lr, 0.0, low_inclusive=False)
        check_range("DisguisePolicy", "steps", steps, 1, integer=True)
        check_range("DisguisePolicy", "samples", samples, 1, integer=True)
        if not victims:
            raise ParameterError("DisguisePolicy.fit needs at least one victim network.")
        rng = np.random.default_rng(self.rng)
        feats = [self._features(v) for v in victims]
        masks = [_masks(list(v.config["ops"])) for v in victims]
        self._init(feats[0].shape[1])
        mom = self.baseline_momentum
        for step in range(steps):
            gw = np.zeros_like(self.weight_)
            gb = np.zeros_like(self.bias_)
            rewards, within, ents, drawn = [], 0, [], []
            for v, f, m in zip(victims, feats, masks):
                p = self._probs(f, m)
                ent_rows = -(np.where(m, p * self._logprobs(f, m), 0.0)).sum(axis=1)
                ents.append(float(ent_rows.mean()))
                for _ in range(samples):
                    plan, actions, clean = self._draw(v, p, rng)
                    within += clean
                    rewards.append(float(reward(v, plan)) if plan else 0.0)
                    drawn.append((f, m, p, actions))
            r_all = np.asarray(rewards)
            if step == 0:
                # start the running statistics from this step's rewards: from 0 the spread
                # would be ~0 and the first advantages thousands of times too large
                self.baseline_, self.reward_sq_ = float(r_all.mean()), float(np.mean(r_all ** 2))
            scale = np.sqrt(max(self.reward_sq_ - self.baseline_ ** 2, 0.0)) + 1e-3
            for (f, m, p, actions), r in zip(drawn, rewards):
                dw, db = self._objective_grad(f, m, p, actions, (r - self.baseline_) / scale)
                gw += dw
                gb += db
            self.baseline_ = mom * self.baseline_ + (1 - mom) * float(r_all.mean())
            self.reward_sq_ = mom * self.reward_sq_ + (1 - mom) * float(np.mean(r_all ** 2))
            n = len(victims) * samples
            self.weight_ += self.lr * gw / n
            self.bias_ += self.lr * gb / n
            rec = {"step": step + 1, "mean_reward": float(np.mean(rewards)), "within_budget": within / n,
                   "entropy": float(np.mean(ents))}
            self.history_.append(rec)
            log.info("policy step %d: mean reward %.4f, within budget %.2f", step + 1, rec["mean_reward"],
                     rec["within_budget"])
            if progress is not None:
                progress(step + 1, rec)
        return self

    # ------------------------------------------------------------------ persistence
    def save(self, path: Any) -> None:
        """Save the learned weights (``.npz`` + JSON header; the encoder is not saved)."""
        from archmodel.io import save_npz

        self._check_fitted()
        save_npz(path, {"weight": self.weight_, "bias": self.bias_},
                 {"format": FORMAT, "format_version": FORMAT_VERSION, "budget": self.budget,
                  "uses_encoder": self.encoder is not None, "baseline": self.baseline_})


def load_policy(path: Any, *, encoder: Any = None) -> DisguisePolicy:
    """A policy saved by :meth:`DisguisePolicy.save` (pass the same ``encoder`` it was trained with)."""
    from archmodel.io import load_npz

    arrays, header = load_npz(path, expected_format=FORMAT, supported_versions=(FORMAT_VERSION,))
    if header["uses_encoder"] != (encoder is not None):
        raise FormatError(f"{path}: the policy was trained {'with' if header['uses_encoder'] else 'without'} "
                          "a GATES encoder; pass encoder= accordingly")
    pol = DisguisePolicy(budget=header["budget"], encoder=encoder)
    pol._init(arrays["weight"].shape[1])
    pol.weight_, pol.bias_ = arrays["weight"], arrays["bias"]
    pol.baseline_ = float(header["baseline"])
    return pol
