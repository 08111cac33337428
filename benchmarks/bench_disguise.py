"""Weight-equivalent disguises: time to apply and verify one, and what it costs the deployment.

For each network size and each plan, one table row: the time of ``archmodel.disguise.disguise``
(build the disguised network and construct its weights), the time of the equivalence check
(``max_abs_diff`` over the evaluation images, both networks), the max |difference| of the
logits (float32 and float64 copies), and the overheads of the disguised network over the
original: parameters, multiply-accumulates of its convolutions and PIM latency under the
MNSIM-default hardware (``archmodel.pim.simulate``). The networks are initialised, not
trained: timings and overheads do not depend on the weights (the exactness on trained
networks is tested in ``tests/test_disguise.py``).

    python benchmarks/bench_disguise.py [--repeats 3] [--attack]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

VICTIM = ["nor_conv_1x1", "none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3", "none"]
PLANS = {
    "pad 1x1->3x3": {0: "nor_conv_3x3"},
    "none->conv 1x1": {1: "nor_conv_1x1"},
    "skip->conv_bn 3x3": {2: "conv_bn_3x3"},
    "all legal edges": {0: "nor_conv_5x5", 1: "conv_bn_3x3", 2: "conv_bn_3x3", 3: "nor_conv_5x5",
                        5: "nor_conv_3x3"},
}
SIZES = {"micro C=8 N=5 8x8": dict(C=8, N=5, input_size=8, in_channels=1, n_images=256),
         "CIFAR C=16 N=5 32x32": dict(C=16, N=5, input_size=32, in_channels=3, n_images=64)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--attack", action="store_true",
                    help="also time one transfer attack (surrogate training + PGD) at the CLI's default size")
    args = ap.parse_args(argv)

    from archmodel.conv import build_nb201_network
    from archmodel.disguise import disguise, max_abs_diff
    from archmodel.disguise.cost import network_macs
    from archmodel.pim import simulate
    from archmodel.utils import hardware_summary

    print(f"# {hardware_summary()}; best of {args.repeats}; numba backend where installed")
    print(f"{'network':<22} {'plan':<19} {'apply ms':>9} {'verify ms':>10} {'diff f32':>9} {'diff f64':>9} "
          f"{'+params':>8} {'+MACs':>7} {'+PIM lat':>9}")
    for size, cfg in SIZES.items():
        cfg = dict(cfg)
        n_images = cfg.pop("n_images")
        net = build_nb201_network(VICTIM, rng=0, **cfg)
        net64 = build_nb201_network(VICTIM, rng=0, **cfg).astype(np.float64)
        x = np.random.default_rng(0).standard_normal((n_images, cfg["in_channels"], cfg["input_size"],
                                                      cfg["input_size"])).astype(np.float32)
        base_macs, base_lat = network_macs(net), simulate(net).latency_s
        max_abs_diff(net, disguise(net, {0: "nor_conv_3x3"}), x[:2])  # warm-up (kernel loads)
        for label, plan in PLANS.items():
            t_apply, t_verify = [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                d = disguise(net, plan)
                t1 = time.perf_counter()
                diff32 = max_abs_diff(net, d, x)
                t_apply.append(t1 - t0)
                t_verify.append(time.perf_counter() - t1)
            diff64 = max_abs_diff(net64, disguise(net64, plan), x.astype(np.float64))
            dp = d.num_parameters() / net.num_parameters() - 1
            dm = network_macs(d) / base_macs - 1
            dl = simulate(d).latency_s / base_lat - 1
            print(f"{size:<22} {label:<19} {1e3 * min(t_apply):>9.1f} {1e3 * min(t_verify):>10.1f} "
                  f"{diff32:>9.1e} {diff64:>9.1e} {dp:>+8.1%} {dm:>+7.1%} {dl:>+9.1%}", flush=True)
    if args.attack:
        from archmodel.disguise.attack import transfer_attack

        net = build_nb201_network(VICTIM, C=8, N=1, input_size=16, in_channels=3, rng=0)
        t0 = time.perf_counter()
        r = transfer_attack(net, VICTIM, eps=0.1, steps=10, epochs=10, seed=0)
        print(f"# one transfer attack (C=8 N=1 16x16 surrogate, 10 epochs on 1,079 digits, PGD 10 steps on "
              f"{r.n_images} images): {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
