"""``archmodel disguise`` and ``archmodel attack``: weight-equivalent disguises of a trained
network and the transfer attack they are meant to blunt."""
from __future__ import annotations

import click

from archmodel.cli.options import emit_json, json_option


def _parse_plan(text: str) -> dict[int, str]:
    plan: dict[int, str] = {}
    for item in text.split(","):
        edge, sep, op = item.strip().partition(":")
        if not sep or not edge.strip().isdigit():
            raise click.BadParameter(f"expected EDGE:OP items such as '0:nor_conv_3x3,2:conv_bn_3x3'; got {item!r}",
                                     param_hint="--plan")
        plan[int(edge)] = op.strip()
    return plan


@click.command()
@click.argument("network", type=click.Path(exists=True, dir_okay=False))
@click.option("--plan", default=None, metavar="EDGE:OP,...",
              help="Edges to rewrite, e.g. '0:nor_conv_3x3,2:conv_bn_3x3' (edge order of the arch "
                   "string: 0 = 0->1, 1 = 0->2, 2 = 1->2, 3 = 0->3, 4 = 1->3, 5 = 2->3).")
@click.option("--budget", type=click.FloatRange(min=0), default=0.2, show_default=True,
              help="Without --plan: a random legal disguise with at most this fraction of extra "
                   "multiply-accumulates.")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A learned disguising policy (.npz, DisguisePolicy.save; e.g. from "
                   "benchmarks/bench_disguise_policy.py --save-policy): its plan under --budget.")
@click.option("--encoder", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The GATES predictor (.npz) the policy was trained with, if any.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random disguise.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="Where to save the disguised network (.npz).")
@json_option
def disguise(network: str, plan: str | None, budget: float, policy_path: str | None, encoder: str | None,
             seed: int, output: str, as_json: bool) -> None:
    """Rewrite a trained NB201 network into a weight-equivalent one with another architecture.

    Prints the plan, the extra multiply-accumulates and the equivalence check (max |difference|
    of the logits on the digits test images). With --json: {"plan", "overhead",
    "max_abs_diff", "arch", "disguised_arch"}. Without --plan: the plan of --policy, else a
    random legal disguise (the policy's baseline), both within --budget.
    """
    from archmodel.conv import Network
    from archmodel.disguise import disguise as make_disguise
    from archmodel.disguise import max_abs_diff
    from archmodel.disguise.attack import digits_for
    from archmodel.disguise.cost import overhead, random_plan

    net = Network.load(network)
    if plan and policy_path:
        raise click.UsageError("give --plan or --policy, not both")
    if encoder and not policy_path:
        raise click.UsageError("--encoder goes with --policy")
    if plan:
        chosen = _parse_plan(plan)
    elif policy_path:
        from archmodel.disguise.policy import load_policy
        from archmodel.predictors import load_predictor

        pol = load_policy(policy_path, encoder=load_predictor(encoder) if encoder else None)
        pol.budget = budget
        chosen = pol.plan(net)
    else:
        chosen = random_plan(net, budget, seed)
    d = make_disguise(net, chosen)
    diff = max_abs_diff(net, d, digits_for(net).X_test)
    d.save(output, metadata={"disguise_of": net.arch_string, "plan": {str(k): v for k, v in chosen.items()}})
    doc = {"plan": [{"edge": k, "from": net.config["ops"][k], "to": v} for k, v in sorted(chosen.items())],
           "overhead": overhead(net, d), "max_abs_diff": diff, "arch": net.arch_string,
           "disguised_arch": d.arch_string}
    if as_json:
        emit_json(doc)
        return
    for p in doc["plan"]:
        click.echo(f"edge {p['edge']}: {p['from']} -> {p['to']}")
    click.echo(f"{doc['arch']} -> {doc['disguised_arch']}")
    click.echo(f"extra multiply-accumulates {doc['overhead']:+.1%}; max |logit difference| {diff:.3g}; saved {output}")


@click.command()
@click.argument("victim", type=click.Path(exists=True, dir_okay=False))
@click.option("--surrogate-arch", required=True,
              help="The architecture the attacker believes, as an arch string (disguised ops allowed).")
@click.option("--eps", type=click.FloatRange(min=0, max=1), default=0.1, show_default=True,
              help="PGD budget in pixel units (pixels in [0, 1]); 0.1 is about 1.6 of the digits' 16 grey "
                   "steps, the smallest round budget whose white-box attack leaves under 25 % accuracy.")
@click.option("--steps", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True,
              help="Surrogate training epochs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Surrogate seed.")
@json_option
def attack(victim: str, surrogate_arch: str, eps: float, steps: int, epochs: int, seed: int,
           as_json: bool) -> None:
    """Transfer attack: train a surrogate of SURROGATE_ARCH, craft PGD examples on it, measure VICTIM.

    With --json: the accuracies (victim_clean, surrogate_clean, surrogate_under_attack,
    victim_under_attack) and the settings.
    """
    from archmodel.conv import Network
    from archmodel.disguise.attack import transfer_attack

    res = transfer_attack(Network.load(victim), surrogate_arch, eps=eps, steps=steps, epochs=epochs, seed=seed)
    if as_json:
        emit_json(res.to_dict())
        return
    click.echo(f"victim clean {res.victim_clean:.4f}, under attack {res.victim_under_attack:.4f}; surrogate "
               f"clean {res.surrogate_clean:.4f}, under its own attack {res.surrogate_under_attack:.4f}")
