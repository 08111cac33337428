"""Supernet training throughput beside stand-alone training, and a full one-shot evaluation.

Run::

    python benchmarks/bench_supernet_speed.py            # 2 epochs each, every micro-benchmark cell
    python benchmarks/bench_supernet_speed.py --cells 50 # evaluation of the first 50 cells only

Measured in one process, alternating, on the micro-benchmark's setting (NB201 C=8 N=5, digits
3x8x8, batch 32, Numba backend): images per second of

* stand-alone training of one cell (the NB201 optimum, :func:`archmodel.conv.train`),
* the vanilla supernet (one sampled path per step, :class:`SupernetTrainer`),
* CLOSENet with every block open (the GATE's forward/backward and the extra forward of each
  convolution edge with every open block: its most expensive curriculum stage);

then the wall time of :func:`one_shot_scores` on the micro-benchmark's cells (recalibration on
4 batches of 64 and the 359 validation images per cell).
"""
from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=2, help="epochs timed per trainer (after a warm-up epoch)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--cells", type=int, default=None, help="evaluate only this many cells")
    args = ap.parse_args(argv)

    import numpy as np

    from archmodel import microbench
    from archmodel.conv import build_nb201_network
    from archmodel.conv import train as train_loop
    from archmodel.conv.nb201 import ops_from_arch_string
    from archmodel.datasets.images import load_digits
    from archmodel.supernet import build_supernet
    from archmodel.supernet.evaluate import calibration_batches, one_shot_scores
    from archmodel.supernet.gate import make_gate
    from archmodel.supernet.train import SupernetTrainer
    from archmodel.utils import hardware_summary

    ds = load_digits(size=8, channels=3, interpolation="nearest")
    n = ds.X_train.shape[0]
    K = args.blocks

    def standalone(epochs: int) -> float:
        net = build_nb201_network(ops_from_arch_string(microbench.BEST), C=8, N=5, input_size=8,
                                  rng=0, backend="numba")
        t0 = time.perf_counter()
        train_loop(net, ds.X_train, ds.y_train, epochs=epochs, batch_size=32, rng=1)
        return time.perf_counter() - t0

    def vanilla(epochs: int) -> float:
        tr = SupernetTrainer(build_supernet(rng=0, backend="numba"), ds.X_train, ds.y_train,
                             epochs=epochs, rng=1)
        t0 = time.perf_counter()
        tr.run()
        return time.perf_counter() - t0

    def closenet(epochs: int) -> float:
        net = build_supernet(rng=0, n_blocks=K, backend="numba")
        tr = SupernetTrainer(net, ds.X_train, ds.y_train, epochs=K - 1 + epochs, rng=1,
                             gate=make_gate("node", n_blocks=K, rng=2, backend="numba"), schedule=list(range(1, K + 1)))
        tr.run(K - 1)                             # untimed: opens blocks 1 .. K-1
        t0 = time.perf_counter()
        tr.run()                                  # timed: every block open
        return time.perf_counter() - t0

    runs = {"stand-alone (one cell)": standalone, "vanilla supernet": vanilla,
            f"CLOSENet, {K} blocks open": closenet}
    for f in runs.values():
        f(1)                                      # compile / load kernels
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.rounds):
        for k, f in runs.items():
            times[k].append(f(args.epochs))
    archs, _ = microbench.mean_accuracy()
    if args.cells is not None:
        archs = archs[:args.cells]
    net = build_supernet(rng=0, backend="numba")
    cal = calibration_batches(ds.X_train, n_batches=4, batch_size=64, rng=0)
    one_shot_scores(net, archs[:2], ds.X_val, ds.y_val, calibration=cal)
    t0 = time.perf_counter()
    one_shot_scores(net, archs, ds.X_val, ds.y_val, calibration=cal)
    t_eval = time.perf_counter() - t0

    print(f"# supernet speed -- {hardware_summary()}; NB201 C=8 N=5, digits 3x8x8, batch 32, numba; "
          f"{args.epochs} epochs ({n} images each) x {args.rounds} alternating rounds")
    print(f"{'training':28s} {'images/s (best)':>16s} {'images/s (median)':>18s} {'vs stand-alone':>15s}")
    base = None
    for k, ts in times.items():
        ips = np.array([args.epochs * n / t for t in ts])
        base = base or float(np.median(ips))
        print(f"{k:28s} {ips.max():16.0f} {np.median(ips):18.0f} {np.median(ips) / base:15.2f}")
    print(f"# one-shot evaluation of {len(archs)} micro-benchmark cells (vanilla supernet, 4x64 "
          f"recalibration, {ds.X_val.shape[0]} validation images each): {t_eval:.1f} s "
          f"({1e3 * t_eval / len(archs):.0f} ms per cell)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
