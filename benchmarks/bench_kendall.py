"""Kendall's tau-b: archmodel.metrics.kendall_tau versus scipy.stats.kendalltau, side by side.

Data: ``x`` uniform in [0, 1) rounded to 5 decimals (so at n = 10^6 each value occurs about
ten times: many ties), ``y = x + uniform(0, 1)`` rounded to 4 decimals. For each size both
implementations run on the same arrays, alternately, ``--repeats`` times; the table shows
the best and the median wall time of each, their ratio (median) and the absolute difference
of the two tau values.

Usage::

    python benchmarks/bench_kendall.py [--sizes 10000 100000 1000000] [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np
from scipy import stats

from archmodel.metrics import kendall_tau
from archmodel.utils import Timer, hardware_summary


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = np.round(rng.random(n), 5)
    y = np.round(x + rng.random(n), 4)
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**4, 10**5, 10**6])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    print(f"hardware: {hardware_summary()}")
    print(f"repeats: {args.repeats} (alternating); data: x = round(U[0,1), 5), "
          f"y = round(x + U[0,1), 4)")
    header = (f"{'n':>9} | {'archmodel best':>14} {'median':>9} | {'scipy best':>10} "
              f"{'median':>9} | {'ratio':>6} | {'|tau diff|':>10} | {'tau':>8}")
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        x, y = make_data(n, rng)
        ours, theirs = [], []
        tau_a = tau_s = float("nan")
        for _ in range(args.repeats):
            with Timer() as t:
                tau_a = kendall_tau(x, y)
            ours.append(t.seconds)
            with Timer() as t:
                tau_s = float(stats.kendalltau(x, y).statistic)
            theirs.append(t.seconds)
        med_a, med_s = statistics.median(ours), statistics.median(theirs)
        print(f"{n:>9} | {min(ours):>13.4f}s {med_a:>8.4f}s | {min(theirs):>9.4f}s "
              f"{med_s:>8.4f}s | {med_a / med_s:>6.2f} | {abs(tau_a - tau_s):>10.1e} | "
              f"{tau_a:>8.5f}")
    print("ratio = archmodel median / scipy median (below 1: archmodel faster)")


if __name__ == "__main__":
    main()
