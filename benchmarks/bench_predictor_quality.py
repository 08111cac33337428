"""Ranking quality of predictors: Kendall's tau, mean +- std over seeds, on all held-out cells.

The protocol of the GATES issue: for each seed s, split the data set with
``train_test_split(ds, train_size, rng=default_rng(s))``, train a predictor with ``rng=s`` and
its default configuration, and compute Kendall's tau-b between its scores and the target on
*every* architecture not used for training. Prints one table.

Examples
--------
    ARCHMODEL_DATA_DIR=../shared/data python benchmarks/bench_predictor_quality.py \\
        --data nb201-analog --target baseline_accuracy --train-size 0.01 --seeds 5 \\
        --encoders gates,mlp,lstm,gcn
    python benchmarks/bench_predictor_quality.py --data nasbench-graph/arxiv --target perf \\
        --train-size 0.01 --encoders gates,mlp
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="nb201-analog")
    ap.add_argument("--target", default="baseline_accuracy")
    ap.add_argument("--train-size", type=float, default=0.01)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--encoders", default="gates")
    ap.add_argument("--params", default="{}", help="JSON dict of predictor parameters")
    args = ap.parse_args(argv)

    from archmodel.data import load_dataset, train_test_split
    from archmodel.metrics import kendall_tau
    from archmodel.predictors import make_predictor
    from archmodel.utils import hardware_summary

    ds = load_dataset(args.data)
    extra = json.loads(args.params)
    train_size = int(args.train_size) if args.train_size >= 1 else args.train_size
    print(f"# {hardware_summary()}")
    print(f"# data {args.data} ({len(ds)} cells), target {args.target}, train size {args.train_size}, "
          f"{args.seeds} seeds, params {extra}")
    print(f"{'encoder':<8} {'n_train':>7} {'tau mean':>9} {'tau std':>8} {'fit s':>7}  per-seed taus")
    for enc in args.encoders.split(","):
        taus, secs = [], []
        for seed in range(args.seeds):
            train, test = train_test_split(ds, train_size=train_size, rng=np.random.default_rng(seed))
            t0 = time.perf_counter()
            p = make_predictor(enc, rng=seed, **extra).fit(train.archs, train.target(args.target))
            secs.append(time.perf_counter() - t0)
            taus.append(kendall_tau(test.target(args.target), p.predict(test.archs)))
        print(f"{enc:<8} {len(train):>7} {np.mean(taus):>9.4f} {np.std(taus):>8.4f} {np.median(secs):>7.2f}  "
              + " ".join(f"{t:.3f}" for t in taus), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
