"""What a disguise costs the deployment, and random legal disguises under a cost budget."""
from __future__ import annotations

from typing import Any

import numpy as np

from archmodel.errors import ParameterError, check_range

__all__ = ["network_macs", "overhead", "random_plan"]


def network_macs(net: Any) -> int:
    """Multiply-accumulates of every convolution and linear layer for one image (shapes from
    the crossbar mapping, :func:`archmodel.pim.network.resolve_network`)."""
    from archmodel.pim.conv_network import layers_from_network
    from archmodel.pim.network import resolve_network

    total = 0
    for r in resolve_network(layers_from_network(net)):
        if r.kind == "conv":
            lay = r.layer
            total += r.out_shape[1] * r.out_shape[2] * lay.out_ch * lay.in_ch * lay.kernel ** 2
        elif r.kind == "fc":
            total += r.layer.in_features * r.layer.out_features
    return int(total)


def overhead(net: Any, disguised: Any) -> float:
    """Extra multiply-accumulates of ``disguised`` over ``net``, as a fraction (0.2 = +20 %)."""
    return network_macs(disguised) / network_macs(net) - 1.0


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
    from archmodel.disguise.transforms import disguise, legal_targets

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
        cost = overhead(net, disguise(net, plan))
        if cost <= budget:
            return plan
        cheapest = min(cheapest, cost)
    raise ParameterError(f"no random legal disguise within an overhead budget of {budget:.3g} in "
                         f"{max_tries} tries (cheapest tried: {cheapest:.3g}); raise --budget")
