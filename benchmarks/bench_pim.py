"""PIM simulator speed (and, with --accuracy, accuracy-vs-non-ideality curves).

Speed table, variants side by side in one run:

* ``estimate``: one full VGG-8 hardware estimate (mapping + placement + pipelined latency +
  energy + area) through :func:`archmodel.pim.simulate` with a preset name, after JIT warm-up
  (reference, not measured by this script: MNSIM 2.0 needs 1.6 s for the same estimate per
  issue 6's text, another machine; ``scripts/validate_pim_mnsim.py`` measured 0.97-1.56 s on the
  2-core development machine, 2026-12-02);
* ``batch``: hardware configurations per second for VGG-8 through
  :func:`archmodel.pim.simulate_batch` (grid over ADC bits x crossbar size x PE groups);
* ``functional``: seconds per image of the bit-sliced crossbar forward pass through VGG-8's
  layers (random He-initialised weights, CIFAR-sized random images, MNSIM-default hardware,
  ``--images`` images per call, best of 3 after a warm-up call), for three device states:
  ideal devices; 0.1 % + 0.1 % stuck-at faults (both with integer cell levels: the Numba
  kernel's exact popcount path); the preset's 1 % resistance variation plus the faults (float
  levels: the float path). A device draw is sampled once and reused by every call, as
  ``evaluate_accuracy`` does. Reference, not measured by this script: MNSIM 2.0 takes 0.92 s per
  image per issue 6's text (another machine); its ``set_weights_forward`` pass as run by
  ``scripts/validate_pim_mnsim.py`` (PyTorch 2.13 CPU, 2 cores, 2026-12-04, MNSIM's ADC rule)
  took 1.2 s per image in a batch of 4, 2.3 s in a batch of 100.

``--accuracy`` adds a table of digits-MLP accuracy (mean +- std over noise draws) against ADC
bits and resistance variation.

Usage: ``python benchmarks/bench_pim.py [--accuracy] [--images 4] [--skip-numpy-functional]``
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from archmodel.utils import blas_threads, hardware_summary


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_estimate(backend: str) -> float:
    from archmodel.pim import simulate

    simulate("vgg8", "mnsim-default", backend=backend)  # warm-up / JIT
    n = 200 if backend == "numba" else 5
    return _best(lambda: [simulate("vgg8", "mnsim-default", backend=backend) for _ in range(n)], 3) / n


def bench_batch(backend: str) -> tuple[float, int]:
    from archmodel.pim import simulate_batch

    grid = [{"adc_bits": a, "xbar_size": x, "groups": g}
            for a in (4, 5, 6, 7, 8, 9, 10) for x in (128, 256, 512) for g in (1, 2, 4, 8)]
    reps = 12 if backend == "numba" else 1
    overrides = grid * reps
    simulate_batch("vgg8", overrides=overrides[:2], backend=backend)
    t = _best(lambda: simulate_batch("vgg8", overrides=overrides, backend=backend), 2)
    return len(overrides) / t, len(overrides)


def _vgg8_model(rng):
    from archmodel.pim.functional import build_model
    from archmodel.pim.network import Conv, Linear, builtin_network

    layers = builtin_network("vgg8")
    ws = []
    for l in layers:
        if isinstance(l, Conv):
            ws.append(rng.standard_normal((l.out_ch, l.in_ch, l.kernel, l.kernel)) * np.sqrt(2 / (l.in_ch * l.kernel ** 2)))
        elif isinstance(l, Linear):
            ws.append(rng.standard_normal((l.in_features, l.out_features)) * np.sqrt(2 / l.in_features))
        else:
            ws.append(None)
    return build_model(layers, ws, None, hardware="mnsim-default", calibration=rng.random((8, 3, 32, 32)))


#: device states of the functional rows: (label, spec overrides); None = ideal devices
DEVICES = {
    "ideal devices": None,
    "stuck-at faults 0.1 % + 0.1 %": {"variation": 0.0},
    "1 % variation + stuck-at faults": {},
}


def bench_functional(model, device: str, backend: str, images: int, rng) -> tuple[float, float]:
    """(seconds per image for the crossbar pass, seconds to sample one device draw).

    ``device``: a key of :data:`DEVICES`; the mnsim-default preset carries 1 % Gaussian
    resistance variation and 0.1 % + 0.1 % stuck-at faults, the rows switch parts of it off.
    Integer cell levels (the first two rows) take the Numba kernel's popcount path, variation
    the float path.
    """
    import dataclasses

    from archmodel.pim.functional import forward_pim, sample_model_cells, with_crossbar

    overrides = DEVICES[device]
    cells, t_sample = None, 0.0
    if overrides is not None:
        xb = dataclasses.replace(model.xb, sigma=overrides.get("variation", model.xb.sigma))
        t = time.perf_counter()
        cells = sample_model_cells(with_crossbar(model, xb), 1)
        t_sample = time.perf_counter() - t
    x = rng.random((images, 3, 32, 32))
    forward_pim(model, x[:1], cells, backend=backend)  # warm-up / JIT (and the per-draw conversion)
    t = _best(lambda: forward_pim(model, x, cells, backend=backend), 1 if backend == "numpy" else 3)
    return t / images, t_sample


def accuracy_table(n_draws: int) -> None:
    from sklearn.datasets import load_digits

    from archmodel.pim.functional import build_model, crossbar_model, evaluate_accuracy, train_mlp, with_crossbar

    d = load_digits()
    x, y = d.data / 16.0, d.target
    idx = np.random.default_rng(0).permutation(len(y))
    tr, te = idx[:1200], idx[1200:]
    layers, ws, bs = train_mlp(x[tr], y[tr], hidden=(32,), epochs=300, rng=0)
    model = build_model(layers, ws, bs, hardware="mnsim-default", calibration=x[tr])
    adcs = (4, 5, 6, 7, 8, 10)
    sigmas = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
    r0 = evaluate_accuracy(model, x[te], y[te], n_draws=1, rng=0)
    print()
    print(f"digits MLP 64-32-10 (plain NumPy Adam), 597 test images; float {r0.float_:.3f}, "
          f"quantised digital (9-bit) {r0.digital:.3f}")
    print(f"accuracy mean +- std over {n_draws} draws (SAF off; gaussian resistance variation sigma):")
    print("ADC bits | " + " | ".join(f"sigma={s:<4}" for s in sigmas))
    for adc in adcs:
        cells = []
        for s in sigmas:
            xb = crossbar_model("mnsim-default", adc_bits=adc, variation=s,
                                device__stuck_at_hrs_rate=0.0, device__stuck_at_lrs_rate=0.0)
            r = evaluate_accuracy(with_crossbar(model, xb), x[te], y[te], n_draws=n_draws, rng=1)
            cells.append(f"{r.mean:.3f}+-{r.std:.3f}")
        print(f"{adc:>8} | " + " | ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=4, help="images per functional batch (numba)")
    ap.add_argument("--skip-numpy-functional", action="store_true", help="skip the slow NumPy functional run")
    ap.add_argument("--accuracy", action="store_true", help="also print accuracy vs ADC bits / variation")
    ap.add_argument("--draws", type=int, default=5, help="noise draws per accuracy cell")
    args = ap.parse_args()
    print(hardware_summary())
    rng = np.random.default_rng(0)
    rows = []
    with blas_threads(1):
        for be in ("numba", "numpy"):
            t = bench_estimate(be)
            rows.append(("VGG-8 estimate", be, f"{t * 1e3:.3f} ms", "< 2 ms", "MNSIM 2.0, not run here: 1.6 s (issue 6 text, other machine); scripts/validate_pim_mnsim.py here 2026-12-02: 0.97-1.56 s"))
        for be in ("numba", "numpy"):
            rate, n = bench_batch(be)
            rows.append((f"batch ({n} configs)", be, f"{rate:,.0f} configs/s", ">= 1000 configs/s", ""))
        model = _vgg8_model(rng)
        for device in DEVICES:
            for be in ("numba", "numpy"):
                if be == "numpy" and (args.skip_numpy_functional or device != "1 % variation + stuck-at faults"):
                    continue
                per_img, t_sample = bench_functional(model, device, be, args.images if be == "numba" else 1, rng)
                rows.append((f"functional VGG-8 layers, {device}", be, f"{per_img:.3f} s/image",
                             "<= 0.092 s/image", "MNSIM 2.0, not run here: 0.92 s/image (issue 6 text, other machine); "
                             "its set_weights_forward via scripts/validate_pim_mnsim.py here 2026-12-04: 1.2-2.3 s/image"
                             + (f"; device draw {t_sample:.2f} s" if t_sample else "")))
    w = [max(len(str(r[i])) for r in rows + [("task", "backend", "measured", "target", "reference")]) for i in range(5)]
    header = ("task", "backend", "measured", "target", "reference")
    print(" | ".join(h.ljust(w[i]) for i, h in enumerate(header)))
    print("-+-".join("-" * v for v in w))
    for r in rows:
        print(" | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
    if args.accuracy:
        accuracy_table(args.draws)


if __name__ == "__main__":
    main()
