"""Understanding: WL-GP vs GATES ranking at a few training cells, motifs, and edit suggestions.

1. Kendall's tau on every held-out cell of the WL-kernel GP and of GATES trained on the same
   ``--n-train`` cells, per seed.
2. The top good / bad motifs of the WL-GP (seed 0) and the held-out check: mean target of unseen
   cells containing a top good motif vs a top bad one.
3. Single-edit suggestions: a predictor (GATES on ``--edit-train`` cells) ranks every
   single-edge edit of ``--cells`` random unseen cells; the share of cells whose suggested best
   edit really improves the target (checked against the benchmark table).

Example
-------
    ARCHMODEL_DATA_DIR=../shared/data python benchmarks/bench_explain.py --seeds 5
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="nb201-analog")
    ap.add_argument("--target", default="baseline_accuracy")
    ap.add_argument("--n-train", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--edit-train", type=float, default=0.01)
    ap.add_argument("--edit-predictor", default="gates")
    ap.add_argument("--cells", type=int, default=100)
    args = ap.parse_args(argv)

    from archmodel.data import load_dataset, train_test_split
    from archmodel.explain import WLGaussianProcess, motif_holdout_check, motif_importance, suggest_edits
    from archmodel.metrics import kendall_tau
    from archmodel.predictors import make_predictor
    from archmodel.utils import hardware_summary

    ds = load_dataset(args.data)
    sp = ds.search_space
    print(f"# {hardware_summary()}")
    print(f"# data {args.data} ({len(ds)} cells), target {args.target}")
    print(f"{'seed':>4} {'n':>4} {'WL-GP tau':>10} {'h':>2} {'GATES tau':>10} {'GP fit s':>8}")
    taus_gp, taus_g = [], []
    for seed in range(args.seeds):
        tr, te = train_test_split(ds, train_size=args.n_train, rng=np.random.default_rng(seed))
        t0 = time.perf_counter()
        gp = WLGaussianProcess(ds.space).fit(tr.archs, tr.target(args.target))
        fit_s = time.perf_counter() - t0
        t_gp = kendall_tau(te.target(args.target), gp.predict(te.archs))
        g = make_predictor("gates", rng=seed).fit(tr.archs, tr.target(args.target))
        t_g = kendall_tau(te.target(args.target), g.predict(te.archs))
        taus_gp.append(t_gp)
        taus_g.append(t_g)
        print(f"{seed:>4} {len(tr):>4} {t_gp:>10.4f} {gp.h_:>2} {t_g:>10.4f} {fit_s:>8.2f}", flush=True)
        if seed == 0:
            gp0, tr0, te0 = gp, tr, te
    print(f"mean      {np.mean(taus_gp):>10.4f} +- {np.std(taus_gp):.4f}   GATES {np.mean(taus_g):.4f} +- {np.std(taus_g):.4f}")
    good, bad = motif_importance(gp0, tr0.archs, top=3)
    chk = motif_holdout_check(sp, good, bad, te0.archs, te0.target(args.target), gp0.h_)
    for title, ms in (("good", good), ("bad", bad)):
        for m in ms:
            pm = chk["per_motif"][m.label]
            print(f"{title:>4} motif {m.label:<40} gradient {m.gradient:+.3f}  held-out mean {pm['mean']:.3f} ({pm['n']} cells)")
    print(f"held-out mean: with a good motif {chk['good_mean']:.3f} ({chk['n_good']}), with a bad motif "
          f"{chk['bad_mean']:.3f} ({chk['n_bad']}), all {chk['all_mean']:.3f}")

    tr, te = train_test_split(ds, train_size=args.edit_train, rng=np.random.default_rng(0))
    y_all = {a.seq: float(v) for a, v in zip(ds.archs, ds.target(args.target))}
    pred = make_predictor(args.edit_predictor, rng=0).fit(tr.archs, tr.target(args.target))
    pick = np.random.default_rng(1).choice(len(te), size=args.cells, replace=False)
    gains = []
    for i in pick:
        a = te.archs[i]
        best = suggest_edits(pred, a)[0]
        gains.append(y_all[sp.parse(best["arch"]).seq] - y_all[a.seq])
    gains = np.array(gains)
    print(f"edit suggestions ({args.edit_predictor} on {len(tr)} cells, {args.cells} unseen cells): best edit "
          f"improves the true {args.target} in {np.mean(gains > 0):.0%} of cells (mean change {gains.mean():+.3f}, "
          f"median {np.median(gains):+.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
