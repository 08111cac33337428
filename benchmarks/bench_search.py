"""Search quality: mean best value found after 50 / 100 / 150 queries, over seeds.

Every algorithm runs ``--seeds`` times (seeds 0..N-1) against the benchmark table as the
oracle (``archmodel.search.run_search``); the table prints, per algorithm, the mean +- std of
the best value found within each budget, the fraction of runs that found the table's best, and
the median wall time of one run. Runs are spread over ``--jobs`` processes.

Examples
--------
    ARCHMODEL_DATA_DIR=../shared/data python benchmarks/bench_search.py \\
        --data nb201-analog --target baseline_accuracy --seeds 20 \\
        --algorithms random,evolution,local,bananas,gates
    python benchmarks/bench_search.py --data nasbench-graph/arxiv --target valid_perf --seeds 20
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

PREDICTORS = {"gates", "mlp", "lstm", "gcn"}


def _one(args: tuple) -> tuple[str, int, list, float]:
    data, target, algo, seed, budget = args
    from archmodel.data import load_dataset
    from archmodel.search import TableOracle, run_search

    oracle = TableOracle(load_dataset(data), target)
    t0 = time.perf_counter()
    if algo == "wlgp":
        res = run_search(oracle, budget, algorithm="predictor", predictor="wlgp", acquisition="ei", seed=seed)
    elif algo in PREDICTORS:
        res = run_search(oracle, budget, algorithm="predictor", predictor=algo, seed=seed)
    else:
        res = run_search(oracle, budget, algorithm=algo, seed=seed)
    return algo, seed, res.trajectory, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="nb201-analog")
    ap.add_argument("--target", default="baseline_accuracy")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--budgets", default="50,100,150")
    ap.add_argument("--algorithms", default="random,evolution,local,bananas,gates")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)

    from archmodel.data import load_dataset
    from archmodel.utils import hardware_summary

    budgets = [int(b) for b in args.budgets.split(",")]
    ds = load_dataset(args.data)
    y = np.asarray(ds.target(args.target), float)
    best = float(np.nanmax(y))
    top = np.sort(y[np.isfinite(y)])[::-1]
    algos = args.algorithms.split(",")
    tasks = [(args.data, args.target, a, s, max(budgets)) for a in algos for s in range(args.seeds)]
    results: dict[str, list] = {a: [] for a in algos}
    with ProcessPoolExecutor(args.jobs) as ex:
        for algo, seed, traj, secs in ex.map(_one, tasks):
            results[algo].append((traj, secs))
    print(f"# {hardware_summary()}")
    print(f"# data {args.data} ({len(ds)} cells), target {args.target}; best in table {best:.4f}, "
          f"top-0.1 % from {top[max(0, len(top) // 1000 - 1)]:.4f}; {args.seeds} seeds; {args.jobs} processes")
    head = " ".join(f"{'best@' + str(b):>17}" for b in budgets)
    print(f"{'algorithm':<10} {head} {'found best':>10} {'s/run':>7}")
    for a in algos:
        cols = []
        for b in budgets:
            v = np.array([traj[b - 1] for traj, _ in results[a]], float)
            cols.append(f"{v.mean():>9.3f} +- {v.std():.3f}")
        hit = np.mean([traj[-1] == best for traj, _ in results[a]])
        secs = np.median([s for _, s in results[a]])
        print(f"{a:<10} {' '.join(f'{c:>17}' for c in cols)} {hit:>10.2f} {secs:>7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
