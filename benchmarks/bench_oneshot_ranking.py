"""One-shot ranking quality against the micro-benchmark: vanilla supernet vs CLOSENet.

Run::

    python benchmarks/bench_oneshot_ranking.py                        # 3 seeds, 40 epochs, 2 processes
    python benchmarks/bench_oneshot_ranking.py --seeds 0 --epochs 8 --points 0.5,1   # quick look
    python benchmarks/bench_oneshot_ranking.py --plot curve.png --json runs.json

For each kind and supernet seed the supernet is trained once (equal budgets: the same epochs,
batch size and learning-rate schedule for both kinds) and, at each budget point (fractions of
the budget), every cell of the micro-benchmark table (``data/microbench/nb201_digits.csv``)
is scored with inherited weights (batch norm recalibrated on 4 training batches of 64,
accuracy on the validation split) and ranked against the cell's mean stand-alone test
accuracy over the table's seeds (:func:`archmodel.metrics.ranking_report`). The table prints
the mean +- std over seeds of Kendall's tau and P@top-5 % at every point, and the ceiling: the
table's own agreement of one seed with the mean of the others
(:func:`archmodel.microbench.summarize`, ``kendall_tau_seed_vs_rest``).

(kind, seed) runs go to separate processes (``--jobs``); each runs the Numba backend with one
thread. Times are wall seconds of that process.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def run_one(kind: str, seed: int, epochs: int, points: list[float], lr: float, n_blocks: int,
            micro: str | None, gate_kind: str = "node", assignment: str = "argmax") -> dict:
    import numpy as np

    from archmodel import microbench
    from archmodel.datasets.images import load_digits
    from archmodel.metrics import ranking_report
    from archmodel.supernet import build_supernet
    from archmodel.supernet.evaluate import calibration_batches, one_shot_scores
    from archmodel.supernet.gate import make_gate
    from archmodel.supernet.train import SupernetTrainer, default_schedule

    archs, truth = microbench.mean_accuracy(micro)
    ds = load_digits(size=8, channels=3, interpolation="nearest")
    cal = calibration_batches(ds.X_train, n_batches=4, batch_size=64, rng=0)
    if kind == "vanilla":
        net = build_supernet(rng=seed, backend="numba")
        tr = SupernetTrainer(net, ds.X_train, ds.y_train, epochs=epochs, lr=lr, rng=seed + 1)
    else:
        net = build_supernet(rng=seed, n_blocks=n_blocks, backend="numba")
        gate = make_gate(gate_kind, n_blocks=n_blocks, rng=seed + 2, backend="numba")
        tr = SupernetTrainer(net, ds.X_train, ds.y_train, epochs=epochs, lr=lr, rng=seed + 1,
                             gate=gate, schedule=default_schedule(n_blocks, epochs))
    rows = []
    for f in points:
        e = max(1, round(epochs * f))
        t0 = time.perf_counter()
        tr.run(e)
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        sc = one_shot_scores(net, archs, ds.X_val, ds.y_val, calibration=cal,
                             blocks=(lambda a: tr.blocks_for(a, assignment)) if tr.gate is not None else None)
        t_eval = time.perf_counter() - t0
        rep = ranking_report(truth, sc["accuracy"])
        rep_nl = ranking_report(truth, sc["neg_loss"])
        rows.append({"kind": kind, "seed": seed, "epoch": e, "steps": tr.step,
                     "images": tr.step * tr.batch_size, "level": tr.level(),
                     "train_seconds": t_train, "eval_seconds": t_eval,
                     "kendall_tau": rep["kendall_tau"], "precision_at_top5pct": rep["precision_at_top5pct"],
                     "spearman": rep["spearman"], "kendall_tau_neg_loss": rep_nl["kendall_tau"],
                     "train_loss": tr.history[-1]["train_loss"], "n": rep["n"]})
        print(f"# {kind} seed {seed} epoch {e}: tau {rep['kendall_tau']:.3f} "
              f"P@5% {rep['precision_at_top5pct']:.3f} ({t_train:.0f} s train, {t_eval:.0f} s eval)",
              file=sys.stderr, flush=True)
    return {"kind": kind, "seed": seed, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kinds", default="vanilla,closenet")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--points", default="0.25,0.5,0.75,1", help="budget fractions to evaluate at")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--blocks", type=int, default=4, help="CLOSENet blocks per cell")
    ap.add_argument("--gate", default="node", choices=["node", "arch"], help="CLOSENet GATE")
    ap.add_argument("--assignment", default="argmax", choices=["argmax", "sample"],
                    help="CLOSENet evaluation: argmax of the GATE or one Gumbel draw per architecture")
    ap.add_argument("--micro", default=None, help="micro-benchmark table (default: the checkout's)")
    ap.add_argument("--jobs", type=int, default=2, help="processes")
    ap.add_argument("--json", default=None, help="write every row here")
    ap.add_argument("--plot", default=None, help="tau against budget (needs matplotlib)")
    args = ap.parse_args(argv)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")

    import numpy as np

    from archmodel import microbench
    from archmodel.utils import hardware_summary

    kinds = args.kinds.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    points = [float(p) for p in args.points.split(",")]
    summary = microbench.summarize(args.micro or microbench.default_path())
    ceiling = summary.get("kendall_tau_seed_vs_rest", summary.get("kendall_tau_seed0_seed1"))
    t0 = time.perf_counter()
    jobs = [(k, s) for s in seeds for k in kinds]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futs = [pool.submit(run_one, k, s, args.epochs, points, args.lr, args.blocks, args.micro,
                            args.gate, args.assignment) for k, s in jobs]
        runs = [f.result() for f in futs]
    wall = time.perf_counter() - t0
    rows = [r for run in runs for r in run["rows"]]
    print(f"# one-shot ranking vs micro-benchmark ({summary['cells']} cells, seeds {summary['seeds']}; "
          f"ceiling tau one seed vs mean of the others {ceiling:.3f}) -- {hardware_summary()}")
    print(f"# budget {args.epochs} epochs x 34 steps x batch 32, lr {args.lr} cosine; CLOSENet "
          f"{args.blocks} blocks, {args.gate}-level GATE, {args.assignment} assignment; supernet seeds {seeds}; {args.jobs} processes, wall {wall:.0f} s")
    print(f"{'kind':9s} {'epoch':>5s} {'images':>8s} {'tau mean+-std':>15s} {'tau/ceiling':>11s} "
          f"{'P@top5% mean+-std':>18s} {'tau(neg loss)':>13s} {'train s':>8s} {'eval s':>7s}")
    for k in kinds:
        for e in sorted({r["epoch"] for r in rows if r["kind"] == k}):
            sel = [r for r in rows if r["kind"] == k and r["epoch"] == e]
            tau = np.array([r["kendall_tau"] for r in sel])
            p5 = np.array([r["precision_at_top5pct"] for r in sel])
            nl = np.array([r["kendall_tau_neg_loss"] for r in sel])
            sd = lambda a: a.std(ddof=1) if a.size > 1 else float("nan")  # noqa: E731
            print(f"{k:9s} {e:5d} {sel[0]['images']:8d} {tau.mean():7.3f}+-{sd(tau):.3f} "
                  f"{tau.mean() / ceiling:11.2f} {p5.mean():9.3f}+-{sd(p5):.3f} {nl.mean():13.3f} "
                  f"{np.mean([r['train_seconds'] for r in sel]):8.0f} {np.mean([r['eval_seconds'] for r in sel]):7.0f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"ceiling": ceiling, "summary": summary, "rows": rows, "wall_seconds": wall,
                       "hardware": hardware_summary(), "args": vars(args)}, fh, indent=1)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        for k in kinds:
            es = sorted({r["epoch"] for r in rows if r["kind"] == k})
            m = [np.mean([r["kendall_tau"] for r in rows if r["kind"] == k and r["epoch"] == e]) for e in es]
            s = [np.std([r["kendall_tau"] for r in rows if r["kind"] == k and r["epoch"] == e]) for e in es]
            ax.errorbar(es, m, yerr=s, marker="o", capsize=3, label=k)
        ax.axhline(ceiling, ls="--", c="grey", label="seed-vs-rest ceiling")
        ax.set_xlabel("supernet epochs (34 steps x 32 images)")
        ax.set_ylabel("Kendall tau vs stand-alone")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
