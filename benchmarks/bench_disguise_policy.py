"""Learned vs random disguises against transfer attacks, on held-out victim cells.

Protocol (all seeded; digits at 8x8, 3 channels, as ``archmodel net train --input-size 8``):

1. Victims: ``--train-victims`` + ``--test-victims`` distinct random NB201 cells that have a
   legal disguise within the budget (a cell of 3x3 convolutions only has none), each trained
   from scratch (C=8, N=1, ``--epochs`` epochs, seed = victim index).
2. Policy: :class:`archmodel.disguise.policy.DisguisePolicy` with the encoder of a GATES
   predictor fitted on 1 % of nb201-analog (``baseline_accuracy``; one-hot features only when
   the data are not installed), trained by REINFORCE on the training victims; reward = the
   victim's accuracy under a PGD transfer attack from a surrogate of the disguised
   architecture minus that from a surrogate of the true one (attacker seed 1000, one surrogate
   each; the true-architecture attack is computed once per victim).
3. Evaluation on the test victims, attacker seeds 0, 1, 2: the policy's greedy plan and a
   random legal plan (:func:`archmodel.disguise.cost.random_plan`, seed = victim index) under
   the same budget; benefit = mean over seeds of (victim accuracy under the disguised-surrogate
   attack - under the true-surrogate attack).

eps = 0.15 at 8x8: the white-box attack on a surrogate leaves ~0.2 accuracy (0.1 leaves 0.55).

    python benchmarks/bench_disguise_policy.py [--train-victims 10 --test-victims 20 --steps 5]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-victims", type=int, default=10)
    ap.add_argument("--test-victims", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--budget", type=float, default=0.2)
    ap.add_argument("--eps", type=float, default=0.15)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--output", default=None, help="JSON file for the per-victim results")
    ap.add_argument("--save-policy", default=None, help="save the trained policy (.npz) and its encoder "
                                                         "(<name>.encoder.npz) for 'archmodel disguise --policy'")
    args = ap.parse_args(argv)

    from archmodel.conv import build_nb201_network, train
    from archmodel.conv.nb201 import arch_string
    from archmodel.disguise import disguise
    from archmodel.disguise.attack import digits_for, transfer_attack
    from archmodel.disguise.cost import overhead, random_plan
    from archmodel.disguise.policy import DisguisePolicy
    from archmodel.spaces import get_space
    from archmodel.utils import hardware_summary
    from archmodel.zeroshot import resolve_ops

    t_start = time.perf_counter()
    space = get_space("nb201")
    n = args.train_victims + args.test_victims
    # victims: random cells that have at least one legal disguise within the budget
    from archmodel.errors import ParameterError

    cells = []
    for a in space.sample(4 * n, 2026, unique=True):
        probe = build_nb201_network(resolve_ops(a), C=8, N=1, in_channels=3, input_size=8, rng=0)
        try:
            random_plan(probe, args.budget, 0, max_tries=50)
        except ParameterError:
            continue
        cells.append(a)
        if len(cells) == n:
            break
    data = None
    victims = []
    for i, a in enumerate(cells):
        net = build_nb201_network(resolve_ops(a), C=8, N=1, in_channels=3, input_size=8, rng=i)
        data = digits_for(net) if data is None else data
        train(net, data.X_train, data.y_train, epochs=args.epochs, rng=i + 1)
        victims.append(net)
    t_victims = time.perf_counter() - t_start
    train_v, test_v = victims[:args.train_victims], victims[args.train_victims:]
    kw = dict(eps=args.eps, epochs=args.epochs, data=data)

    def under_attack(v, ops, seed):
        return transfer_attack(v, list(ops), seed=seed, **kw).victim_under_attack

    true_cache: dict[tuple[int, int], float] = {}

    def true_acc(v, seed):
        key = (id(v), seed)
        if key not in true_cache:
            true_cache[key] = under_attack(v, v.config["ops"], seed)
        return true_cache[key]

    def reward(v, plan):
        return under_attack(v, disguise(v, plan).config["ops"], 1000) - true_acc(v, 1000)

    encoder, enc_label = None, "one-hot features only (nb201-analog not installed)"
    try:
        from archmodel.data import load_dataset, train_test_split
        from archmodel.predictors import GATESPredictor

        tr, _ = train_test_split(load_dataset("nb201-analog"), train_size=0.01, rng=np.random.default_rng(0))
        encoder = GATESPredictor(rng=0).fit(list(tr.archs), tr.target("baseline_accuracy"))
        enc_label = "GATES encoder fitted on 1 % of nb201-analog"
    except Exception as exc:  # noqa: BLE001 - the data are optional here
        print(f"# no encoder: {exc}", file=sys.stderr)
    t0 = time.perf_counter()
    policy = DisguisePolicy(budget=args.budget, encoder=encoder, rng=0).fit(
        train_v, reward, steps=args.steps, samples=args.samples,
        progress=lambda s, rec: print(f"# policy step {s}: {rec}", file=sys.stderr, flush=True))
    t_policy = time.perf_counter() - t0
    if args.save_policy:
        policy.save(args.save_policy)
        if encoder is not None:
            encoder.save(args.save_policy.removesuffix(".npz") + ".encoder.npz")

    rows = []
    t0 = time.perf_counter()
    for i, v in enumerate(test_v):
        plans = {"policy": policy.plan(v), "random": random_plan(v, args.budget, i)}
        row = {"arch": v.arch_string, "true": [true_acc(v, s) for s in range(args.seeds)]}
        for name, plan in plans.items():
            d = disguise(v, plan)
            row[name] = {"plan": {str(k): x for k, x in plan.items()}, "disguised_arch": arch_string(d.config["ops"]),
                         "overhead": overhead(v, d),
                         "under_attack": [under_attack(v, d.config["ops"], s) for s in range(args.seeds)]}
            row[name]["benefit"] = float(np.mean(row[name]["under_attack"]) - np.mean(row["true"]))
        rows.append(row)
        print(f"# victim {i}: policy {row['policy']['benefit']:+.3f} ({row['policy']['overhead']:+.1%}), "
              f"random {row['random']['benefit']:+.3f} ({row['random']['overhead']:+.1%})", file=sys.stderr, flush=True)
    t_eval = time.perf_counter() - t0

    print(f"# {hardware_summary()}; {len(test_v)} held-out victims, {args.seeds} attacker seeds, budget "
          f"{args.budget:.0%} extra MACs, eps {args.eps}; policy: {enc_label}, {args.steps} REINFORCE steps x "
          f"{args.train_victims} victims x {args.samples} samples")
    print(f"# time: victims {t_victims:.0f} s, policy training {t_policy:.0f} s, evaluation {t_eval:.0f} s")
    print(f"{'disguise':<8} {'overhead':>9} {'victim acc under attack':>24} {'benefit':>17} {'wins vs other':>14}")
    true_mean = np.mean([np.mean(r["true"]) for r in rows])
    print(f"{'none':<8} {0.0:>+9.1%} {true_mean:>24.4f} {'':>17} {'':>14}")
    for name, other in (("policy", "random"), ("random", "policy")):
        ben = np.array([r[name]["benefit"] for r in rows])
        ov = np.mean([r[name]["overhead"] for r in rows])
        acc = np.mean([np.mean(r[name]["under_attack"]) for r in rows])
        wins = int(np.sum(ben > np.array([r[other]["benefit"] for r in rows])))
        print(f"{name:<8} {ov:>+9.1%} {acc:>24.4f} {ben.mean():>+8.4f} +- {ben.std():.4f} {wins:>9}/{len(rows)}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            json.dump({"rows": rows, "policy_history": policy.history_}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
