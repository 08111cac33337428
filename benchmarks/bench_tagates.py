"""TA-GATES against GATES on NB201: the training step and the 200-epoch fit, side by side.

Run::

    python benchmarks/bench_tagates.py            # 5 rounds of 20 steps per model and setting
    python benchmarks/bench_tagates.py --quick    # 2 rounds, no fits
    python benchmarks/bench_tagates.py --fits 2   # also 2 timed 200-epoch fits per model

The training step is the one :mod:`bench_gates` times (the same function: reshuffle, forward
in training mode, hinge loss on 4 B pairs, backward, Adam), for GATES (the authors' NB201
configuration: five layers of 128) and TA-GATES (the authors' NB201 configuration: four time
steps, three forward and three backward layers of 128, update MLP [128]; symmetry breaking
``none`` and ``noise``), float32, Numba backend. The machine is shared and its speed drifts,
so the models are timed in alternating rounds and each ratio is the median over rounds of the
per-round ratio. Batches: the README's 1 % split (156 cells; nb201-analog where installed)
and 512 random cells (the batch size of a larger training set).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gates import nb201_one_percent, time_it  # noqa: E402  (the same step protocol)


def _step_fn(model, archs_batch, y, n_jobs, backend):
    from archmodel.losses import get_loss
    from archmodel.nn import Adam

    params = model.init_params(np.random.default_rng(1))
    opt = Adam(1e-3, backend=backend, n_jobs=n_jobs)
    prepared = model.prepare_batch(archs_batch)
    loss_fn = get_loss("hinge", margin=0.1, max_pairs_factor=4.0, backend=backend)
    rng = np.random.default_rng(3)
    b = len(y)

    def step() -> None:
        order = rng.permutation(b)
        scores, cache = model.forward(params, prepared.take(order), train=True, rng=rng, backend=backend)
        _, d = loss_fn(scores, y[order], rng)
        opt.step(params, model.backward(cache, np.asarray(d, scores.dtype)))

    return step


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per model per round")
    ap.add_argument("--fits", type=int, default=1, help="timed 200-epoch fits per model (0: none)")
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.fits = 2, 0

    from archmodel.nn.parallel import resolve_n_jobs, single_threaded_blas
    from archmodel.predictors import make_predictor
    from archmodel.spaces import get_space
    from archmodel.utils import hardware_summary

    sp = get_space("nb201")
    archs, y, source = nb201_one_percent()
    rng = np.random.default_rng(0)
    big = sp.sample(512, rng, unique=True)
    y_big = rng.standard_normal(512).astype(np.float32)
    configs = {"GATES": ("gates", {}), "TA-GATES none": ("tagates", {}),
               "TA-GATES noise": ("tagates", {"symmetry_breaking": "noise"})}
    print(f"# TA-GATES vs GATES training step -- {hardware_summary()}")
    print(f"# backend {args.backend}, float32; 1 % batch: {source}; {args.rounds} alternating rounds x "
          f"{args.steps} steps (median step per round)")
    rows = []
    for n_jobs in (1, None):
        for label_b, cells, targets in (("156 (1 %)", archs, np.asarray(y, np.float32)), ("512", big, y_big)):
            steps = {}
            for name, (enc, extra) in configs.items():
                p = make_predictor(enc, rng=0, n_jobs=n_jobs, backend=args.backend, **extra).initialize("nb201", 0)
                steps[name] = _step_fn(p.model_, p._encode(sp, cells), targets, n_jobs, args.backend)
            per_round: dict[str, list[float]] = {k: [] for k in configs}
            with single_threaded_blas():
                for _ in range(args.rounds):
                    for name, fn in steps.items():
                        per_round[name].append(time_it(fn, args.steps, warmup=2)[0])
            base = per_round["GATES"]
            for name in configs:
                ratios = [t / g for t, g in zip(per_round[name], base)]
                rows.append((resolve_n_jobs(n_jobs), label_b, name, statistics.median(per_round[name]),
                             min(per_round[name]), statistics.median(ratios)))
            print(f"# threads {resolve_n_jobs(n_jobs)}, batch {label_b}: done", file=sys.stderr)
    print(f"{'threads':>7} {'batch':>10} {'model':<16}{'step ms (median)':>18}{'min':>8}{'x GATES':>9}")
    for th, b, name, med, mn, ratio in rows:
        print(f"{th:>7} {b:>10} {name:<16}{med:>18.1f}{mn:>8.1f}{ratio:>9.2f}")
    print("# target (issue 10): a TA-GATES step <= 3x a GATES step. Outside figure, not measured here: "
          "the PyTorch peer's 6-8x, quoted from issue 10's text (its filer's run, 2026-12)")
    if args.fits:
        print(f"# 200-epoch fit on the 1 % split ({len(archs)} cells), default threads, after a warm-up fit")
        fit_times: dict[str, list[float]] = {k: [] for k in configs}
        for name, (enc, extra) in configs.items():
            make_predictor(enc, epochs=2, rng=0, backend=args.backend, **extra).fit(archs, y)
        for r in range(args.fits):
            for name, (enc, extra) in configs.items():
                t0 = time.perf_counter()
                make_predictor(enc, rng=r, backend=args.backend, **extra).fit(archs, y)
                fit_times[name].append(time.perf_counter() - t0)
        for name in configs:
            ratios = [t / g for t, g in zip(fit_times[name], fit_times["GATES"])]
            print(f"#   {name:<16} fit {statistics.median(fit_times[name]):6.2f} s "
                  f"(x GATES {statistics.median(ratios):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
