"""Co-exploration search quality and cost on a joint NB201 x PIM space (issue 12, setting 1).

For each algorithm (random, NSGA-II, Gibbon with its MLP or LSTM predictor) and seed, one search
of ``--budget`` simulator calls; against the exhaustive true front (``archmodel pim search
--algorithm exhaustive --output TRUE.json``, or computed here when ``--true`` is absent) it
reports the hypervolume fraction after 100, 300 and 1,000 calls, the calls needed to reach 95 %
of the true hypervolume, the wall time of a search and the predictor's share of it, and, for
Gibbon, the predictor's Kendall tau on points it never saw (EDP on 1,000 fresh random points;
accuracy on the fresh points whose cell the search never evaluated).

The runs are independent tasks spread over local worker processes
(:func:`archmodel.distributed.map_chunks`, ``--engine dask``) or run here one after the other.

    ARCHMODEL_DATA_DIR=../shared/data python benchmarks/bench_pim_search.py \\
        --true true_nb201.json --seeds 10 --budget 1000 --engine dask --output runs.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

CHECKPOINTS = (100, 300, 1000)
ALGORITHMS = {"random": ("random", {}), "nsga2": ("nsga2", {}),
              "gibbon-mlp": ("gibbon", {"predictor": "mlp"}), "gibbon-lstm": ("gibbon", {"predictor": "lstm"})}


def one_run(task, *, space: dict, budget: int, true_hv: float) -> dict:
    """One (algorithm, seed) search and its summary (a map_chunks task)."""
    from scipy.stats import kendalltau

    from archmodel.coexplore.evaluate import JointEvaluator
    from archmodel.coexplore.search import hypervolume_trace, run_search
    from archmodel.nn.parallel import single_threaded_blas

    label, seed = task
    algorithm, opts = ALGORITHMS[label]
    with single_threaded_blas():
        res = run_search(space, algorithm, budget, seed=seed, **opts)
        ev = res["evaluator"]
        calls, hv = hypervolume_trace(ev)
        frac = hv / true_hv
        reach = np.flatnonzero(frac >= 0.95)
        out = {"label": label, "seed": seed, "calls": ev.calls, "seconds": res["seconds"],
               "simulate_seconds": res["simulate_seconds"], "predictor_seconds": res["predictor_seconds"],
               "fraction_at": {str(c): float(frac[c - 1]) for c in CHECKPOINTS if c <= len(frac)},
               "calls_to_95": int(calls[reach[0]]) if reach.size else None,
               "final_fraction": float(frac[-1])}
        if algorithm == "gibbon":
            sp = ev.space
            out["priority_final"] = dict(zip(res["gene_names"], res["priority_history"][-1]))
            fresh = JointEvaluator(sp)  # not counted: a test set
            rng = np.random.default_rng(10_000 + seed)
            g = sp.sample(1000, rng)
            g = g[~ev.seen(g)]
            v = fresh(g)
            model = res["predictor"]
            known = {tuple(int(x) for x in row[:sp.n_cell_genes]): float(a)
                     for row, a in zip(ev.history, ev.values["accuracy"])}
            pred = model.predict(g, known_ideal=known)
            ok = v["ok"]
            out["tau_edp_unseen"] = float(kendalltau(pred["edp_js"][ok], v["edp_js"][ok])[0])
            new_cell = np.array([tuple(int(x) for x in row[:sp.n_cell_genes]) not in known for row in g])
            out["tau_accuracy_unseen_cells"] = float(kendalltau(pred["accuracy"][new_cell], v["accuracy"][new_cell])[0])
            out["n_unseen_cells"] = int(new_cell.sum())
    return out


def _ms(values) -> str:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return "-"
    return f"{v.mean():.3f}+-{v.std():.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="space-nb201")
    ap.add_argument("--objectives", default=None, help="e.g. accuracy,edp,area (default: the space's)")
    ap.add_argument("--true", default=None, help="true-front file (else computed here)")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed .. first-seed + seeds - 1")
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--algorithms", default=",".join(ALGORITHMS))
    ap.add_argument("--engine", choices=("local", "dask"), default="local")
    ap.add_argument("--output", default=None, help="JSON file of every run's summary")
    ap.add_argument("--runs", default=None, help="print the table of a previous --output file instead of running")
    args = ap.parse_args(argv)

    from archmodel.coexplore.front import read_front, true_front
    from archmodel.coexplore.space import load_space
    from archmodel.distributed import map_chunks
    from archmodel.nn.parallel import default_n_jobs
    from archmodel.utils import hardware_summary

    sp = load_space(args.space)
    if args.objectives:
        sp = sp.with_objectives(args.objectives)
    if args.true:
        true = read_front(args.true)
        if true["space_sha256"] != sp.sha256:
            sys.exit(f"{args.true} is the front of another space")
    else:
        true = true_front(sp, engine=args.engine)
    true_hv = float(true["hypervolume"])
    labels = [s for s in args.algorithms.split(",") if s]
    if args.runs:
        with open(args.runs, encoding="utf-8") as fh:
            saved = json.load(fh)
        runs, wall = saved["runs"], saved.get("wall_seconds", float("nan"))
        labels = [lab for lab in labels if any(r["label"] == lab for r in runs)]
        args.seeds = len({r["seed"] for r in runs})
        args.budget = max(r["calls"] for r in runs)
    else:
        tasks = [(lab, s) for s in range(args.first_seed, args.first_seed + args.seeds) for lab in labels]
        t0 = time.perf_counter()
        extra = {"n_workers": default_n_jobs()} if args.engine == "dask" else {}
        runs = []
        for r in map_chunks(one_run, tasks, kwargs={"space": sp.spec, "budget": args.budget, "true_hv": true_hv},
                            engine=args.engine, name="bench-pim-search", **extra):
            runs.append(r)
            print(f"  {r['label']:<12} seed {r['seed']}: final {r['final_fraction']:.4f}, to 95 % "
                  f"{r['calls_to_95']}, {r['seconds']:.1f} s", file=sys.stderr, flush=True)
        wall = time.perf_counter() - t0

    print(f"# co-exploration on {sp.name} ({sp.n_cells} cells x {sp.n_hardware} configurations = {sp.size:,} points), "
          f"objectives {sp.objectives}")
    if args.runs:  # a reprint: these figures were measured when that file was written
        print(f"# reprinted from {args.runs} (measured when it was written; this machine: {hardware_summary()}); "
              f"{args.seeds} seeds x budget {args.budget}"
              + (f"; wall {wall:.0f} s" if np.isfinite(wall) else "; wall not recorded in the file"))
    else:
        print(f"# hardware: {hardware_summary()}, {default_n_jobs()} usable; "
              f"{args.seeds} seeds x budget {args.budget}; wall {wall:.0f} s")
    print(f"# true front: {len(true['front'])} points, hypervolume {true_hv:.4f}"
          + (f", exhaustive in {true['seconds']:.0f} s ({true['points_per_second']:.0f} points/s)" if "seconds" in true else ""))
    head = ["algorithm"] + [f"HV@{c}" for c in CHECKPOINTS] + ["calls to 95% (median; reached)", "s / search",
                                                                "predictor share", "tau EDP unseen",
                                                                "tau acc unseen cells"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    summary = {}
    for lab in labels:
        rs = [r for r in runs if r["label"] == lab]
        reach = [r["calls_to_95"] for r in rs if r["calls_to_95"] is not None]
        med = float(np.median([np.inf if r["calls_to_95"] is None else r["calls_to_95"] for r in rs]))
        row = [lab] + [_ms([r["fraction_at"].get(str(c)) for r in rs]) for c in CHECKPOINTS]
        row.append(f"{med:.0f}; {len(reach)}/{len(rs)}" if np.isfinite(med) else
                   f">{args.budget}; {len(reach)}/{len(rs)}")
        row.append(_ms([r["seconds"] for r in rs]))
        row.append(_ms([r["predictor_seconds"] / r["seconds"] for r in rs]))
        row.append(_ms([r.get("tau_edp_unseen") for r in rs]))
        row.append(_ms([r.get("tau_accuracy_unseen_cells") for r in rs]))
        print("| " + " | ".join(row) + " |")
        summary[lab] = {"calls_to_95": [r["calls_to_95"] for r in rs]}
    if args.output and not args.runs:
        with open(args.output, "w", encoding="utf-8") as fh:
            json.dump({"space": sp.name, "true_hypervolume": true_hv, "wall_seconds": wall, "runs": runs}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
