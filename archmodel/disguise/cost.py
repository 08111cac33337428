"""What a disguise costs the deployment, and random legal disguises under a cost budget."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from archmodel.errors import ParameterError, check_range

__all__ = ["network_macs", "overhead", "plan_overhead", "random_plan"]


def _macs(ops: Any, config: Mapping[str, Any]) -> float:
    from archmodel.signals import nb201_complexity

    return float(nb201_complexity([list(ops)], C=config["C"], N=config["N"], input_size=config["input_size"],
                                  in_channels=config["in_channels"], num_classes=config["num_classes"])["macs"][0])


def network_macs(net: Any) -> float:
    """Multiply-accumulates of one image through an NB201 network (convolutions and the
    classifier, as :func:`archmodel.signals.nb201_complexity` counts them; disguise ops included)."""
    if getattr(net, "kind", None) != "nb201":
        raise ParameterError(f"network_macs needs an NB201 network (kind 'nb201'); got {getattr(net, 'kind', None)!r}")
    return _macs(net.config["ops"], net.config)


def overhead(net: Any, disguised: Any) -> float:
    """Extra multiply-accumulates of ``disguised`` over ``net``, as a fraction (0.2 = +20 %)."""
    return network_macs(disguised) / network_macs(net) - 1.0


def plan_overhead(net: Any, plan: Mapping[int, str]) -> float:
    """:func:`overhead` of ``disguise(net, plan)``, from the ops alone (no network is built)."""
    from archmodel.disguise.transforms import disguise_plan

    return _macs(disguise_plan(net.config["ops"], plan), net.config) / network_macs(net) - 1.0


def random_plan(net: Any, budget: float, rng: np.random.Generator | int | None = None, *,
                max_tries: int = 200) -> dict[int, str]:
    """A random legal disguise of ``net`` whose :func:`overhead` is at most ``budget``.

    Each try rewrites a random non-empty subset of the edges that have legal targets, each to a
    uniformly chosen legal target; the first try within the budget is returned (the random
    baseline of the learned policy).

    Raises
    ------
    ParameterError
        No edge can be rewritten, or no try met the budget (the message gives the cheapest).
    """
    from archmodel.disguise.transforms import legal_targets

    check_range("random_plan", "budget", budget, 0.0)
    gen = np.random.default_rng(rng)
    ops = list(net.config["ops"])
    movable = [e for e, op in enumerate(ops) if legal_targets(op)]
    if not movable:
        raise ParameterError(f"no edge of {ops} has a legal rewrite")
    cheapest = np.inf
    for _ in range(max_tries):
        k = int(gen.integers(1, len(movable) + 1))
        edges = sorted(int(e) for e in gen.choice(movable, size=k, replace=False))
        plan = {e: str(gen.choice(legal_targets(ops[e]))) for e in edges}
        cost = plan_overhead(net, plan)
        if cost <= budget:
            return plan
        cheapest = min(cheapest, cost)
    raise ParameterError(f"no random legal disguise within an overhead budget of {budget:.3g} in "
                         f"{max_tries} tries (cheapest tried: {cheapest:.3g}); raise --budget")
