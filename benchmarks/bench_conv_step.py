"""Where an NB201 training step of the conv engine spends its time, per layer kind.

One table: for each network (micro C=8 N=5 8x8 batch 32, CIFAR C=16 N=5 32x32 batch 64), each
cell (the NB201 optimum and a light 1x1 + skip cell) and each Numba thread count (1 and the
default), the milliseconds of one ``loss_and_grad`` step (forward + backward, training mode)
split into forward and backward time of every leaf layer kind (Conv2d, BatchNorm2d, ReLU,
AvgPool2d, the rest), and "glue": the step's time outside leaf layers (cell edge sums,
allocation, Python). Timing wraps each leaf layer's ``_forward`` / ``_backward`` with
``perf_counter``, which costs a few microseconds per call (included in "glue"-free layer
times). Median over ``--repeats`` steps after 3 warm-up steps; the machine is noisy, so compare
columns of the same run.

    python benchmarks/bench_conv_step.py [--repeats 10] [--sizes micro,cifar]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import numpy as np

CELLS = {"optimum": ["nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_3x3"],
         "light": ["nor_conv_1x1", "skip_connect", "nor_conv_1x1", "skip_connect", "nor_conv_1x1", "skip_connect"]}
SIZES = {"micro": (8, 8, 32), "cifar": (16, 32, 64)}
KINDS = ("Conv2d", "BatchNorm2d", "ReLU", "AvgPool2d")


def instrument(net) -> dict[str, float]:
    """Wrap every leaf layer's passes; returns the dict the timings accumulate into."""
    acc: dict[str, float] = defaultdict(float)
    for m in net.modules():
        if m.children():
            continue
        kind = type(m).__name__ if type(m).__name__ in KINDS else "other"
        for phase in ("_forward", "_backward"):
            orig = getattr(m, phase)

            def timed(*a, _orig=orig, _key=f"{kind} {phase[1:4]}"):
                t0 = time.perf_counter()
                try:
                    return _orig(*a)
                finally:
                    acc[_key] += time.perf_counter() - t0

            setattr(m, phase, timed)
    return acc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--sizes", default="micro,cifar")
    args = ap.parse_args(argv)

    import numba

    from archmodel.conv import build_nb201_network
    from archmodel.utils import hardware_summary

    default_threads = numba.get_num_threads()
    cols = [f"{k} {p}" for k in KINDS + ("other",) for p in ("for", "bac")]
    print(f"# {hardware_summary()}; ms per training step (median of {args.repeats}); float32")
    print(f"{'network':<8} {'cell':<8} {'thr':>3} {'step':>8} " + " ".join(f"{c:>15}" for c in cols) + f" {'glue':>7}")
    rng = np.random.default_rng(0)
    for size in args.sizes.split(","):
        C, hw, b = SIZES[size]
        x = rng.standard_normal((b, 3, hw, hw)).astype(np.float32)
        y = rng.integers(0, 10, b)
        for cell, ops in CELLS.items():
            net = build_nb201_network(ops, C=C, N=5, input_size=hw, rng=0)
            acc = instrument(net)
            for threads in sorted({1, default_threads}):
                numba.set_num_threads(threads)
                for _ in range(3):
                    net.loss_and_grad(x, y)
                steps, parts = [], defaultdict(list)
                for _ in range(args.repeats):
                    acc.clear()
                    t0 = time.perf_counter()
                    net.loss_and_grad(x, y)
                    steps.append(time.perf_counter() - t0)
                    for c in cols:
                        parts[c].append(acc.get(c, 0.0))
                    parts["glue"].append(steps[-1] - sum(acc.values()))
                med = {k: 1e3 * float(np.median(v)) for k, v in parts.items()}
                print(f"{size:<8} {cell:<8} {threads:>3} {1e3 * np.median(steps):>8.2f} "
                      + " ".join(f"{med[c]:>15.2f}" for c in cols) + f" {med['glue']:>7.2f}", flush=True)
    numba.set_num_threads(default_threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
