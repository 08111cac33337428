"""conv2d forward + backward on NAS-Bench-201-sized layers: Numba vs the NumPy reference, as a
fraction of this machine's float32 matmul speed.

Run::

    python benchmarks/bench_conv.py              # batch 64, 7 timed repeats per variant
    python benchmarks/bench_conv.py --quick      # 3 repeats
    python benchmarks/bench_conv.py --threads 1  # Numba kernels on one thread

Layers: batch 64, C in = C out = 16 / 32 / 64 channels at 32 / 16 / 8 pixels (the three
NB201 stages at C=16), 3x3 (padding 1) and 1x1 kernels, stride 1, float32.
One "fwd+bwd" = ``conv2d_forward`` + ``conv2d_backward`` (dx and dw); its FLOPs are
3 x 2 x N x C_out x C_in x k^2 x H x W. The matmul reference is NumPy's float32 1024x1024
product with BLAS limited to one thread (threadpoolctl), measured in the same run,
interleaved with the conv timings; each number is the best of the repeats (the machine may be
shared, so the minimum is the least disturbed run). The Numba kernels use
``numba.get_num_threads()`` threads (BLAS single-threaded inside); the NumPy reference runs
on one thread. Target: the Numba total >= 30 % of the matmul GFLOP/s.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

LAYERS = [(16, 32, 3), (16, 32, 1), (32, 16, 3), (32, 16, 1), (64, 8, 3), (64, 8, 1)]
TARGET_FRACTION = 0.30


def conv_flops(n: int, c: int, px: int, k: int) -> float:
    return 3.0 * 2.0 * n * c * c * k * k * px * px


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="3 repeats")
    ap.add_argument("--threads", type=int, default=None, help="Numba threads (default: all)")
    args = ap.parse_args(argv)
    reps = 3 if args.quick else args.repeats

    import numba

    from archmodel.backends import get_backend
    from archmodel.utils import blas_threads, hardware_summary

    if args.threads:
        numba.set_num_threads(args.threads)
    nb, ref = get_backend("numba").conv, get_backend("numpy").conv
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 1024), dtype=np.float32)
    b = rng.standard_normal((1024, 1024), dtype=np.float32)
    c = np.empty((1024, 1024), np.float32)

    rows = []
    best_mm = float("inf")
    with blas_threads(1):
        np.dot(a, b, out=c)
        for ch, px, k in LAYERS:
            x = rng.standard_normal((args.batch, ch, px, px), dtype=np.float32)
            w = (rng.standard_normal((ch, ch, k, k), dtype=np.float32) / np.sqrt(ch * k * k)).astype(np.float32)
            dy = rng.standard_normal((args.batch, ch, px, px), dtype=np.float32)
            p = k // 2
            kern = {"numba": nb, "numpy": ref}
            best = {}
            for name, kk in kern.items():           # warm-up (Numba compiles here)
                kk.conv2d_forward(x, w, 1, p, 1, 1)
                kk.conv2d_backward(dy, x, w, 1, p, 1, 1)
                best[name] = float("inf")
            for _ in range(reps):                   # interleaved repeats
                best_mm = min(best_mm, timed(lambda: np.dot(a, b, out=c)))
                for name, kk in kern.items():
                    best[name] = min(best[name], timed(lambda: (kk.conv2d_forward(x, w, 1, p, 1, 1),
                                                                kk.conv2d_backward(dy, x, w, 1, p, 1, 1))))
            rows.append((ch, px, k, conv_flops(args.batch, ch, px, k), best["numba"], best["numpy"]))
    mm = 2.0 * 1024 ** 3 / best_mm / 1e9

    print(f"# conv2d forward+backward, float32, batch {args.batch}, best of {reps}")
    print(f"# hardware: {hardware_summary()}")
    print(f"# Numba threads: {numba.get_num_threads()}; NumPy reference: 1 thread; BLAS: 1 thread; "
          f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"# float32 matmul 1024x1024x1024, 1 thread: {mm:.1f} GFLOP/s")
    hdr = (f"{'layer':<16} {'MFLOP':>7} {'numba ms':>9} {'numba GF/s':>11} {'of mm':>6} "
           f"{'numpy ms':>9} {'numpy GF/s':>11} {'of mm':>6} {'speed-up':>8}")
    print(hdr)
    print("-" * len(hdr))
    tot_f = tot_nb = tot_np = 0.0
    for ch, px, k, fl, t_nb, t_np in rows:
        g_nb, g_np = fl / t_nb / 1e9, fl / t_np / 1e9
        tot_f, tot_nb, tot_np = tot_f + fl, tot_nb + t_nb, tot_np + t_np
        print(f"{f'C{ch} {px}px {k}x{k}':<16} {fl / 1e6:>7.1f} {t_nb * 1e3:>9.2f} {g_nb:>11.1f} "
              f"{g_nb / mm:>6.2f} {t_np * 1e3:>9.2f} {g_np:>11.1f} {g_np / mm:>6.2f} {t_np / t_nb:>8.2f}")
    g_nb, g_np = tot_f / tot_nb / 1e9, tot_f / tot_np / 1e9
    print("-" * len(hdr))
    print(f"{'total':<16} {tot_f / 1e6:>7.1f} {tot_nb * 1e3:>9.2f} {g_nb:>11.1f} {g_nb / mm:>6.2f} "
          f"{tot_np * 1e3:>9.2f} {g_np:>11.1f} {g_np / mm:>6.2f} {tot_np / tot_nb:>8.2f}")
    ok = g_nb / mm >= TARGET_FRACTION
    print(f"# target: Numba total >= {TARGET_FRACTION:.0%} of matmul -> {g_nb / mm:.0%} "
          f"({'met' if ok else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
