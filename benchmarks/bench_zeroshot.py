"""Agreement of archmodel's zero-cost proxies with NASLib's published NAS-Bench-201 scores.

For the 724 CIFAR-10 cells of ``zc/nb201`` (NASLib's NAS-Bench-Suite-Zero file) this computes
every proxy of :mod:`archmodel.zeroshot` on a (by default reduced) NAS-Bench-201 network, with
one batch of scikit-learn digits upsampled to 3x32x32 for the data-dependent proxies, and
prints one table:

* ``rho(file)``: Spearman of our score with the file's column of the same proxy;
* ``rho(ours, acc)`` and ``rho(file, acc)``: Spearman with ``nb201-analog``'s
  ``baseline_accuracy`` (CIFAR-10 test accuracy of the same cells), and their difference.

Acceptance (issue 4): synflow ``rho(file) >= 0.9``; every other proxy
``|rho(ours, acc) - rho(file, acc)| <= 0.1``. Scores are cached in a resumable CSV, so an
interrupted run continues where it stopped. The cache is keyed by everything that changes its
rows beyond the settings :func:`archmodel.zeroshot.score_file` records itself (network size,
batch, data, seed, proxies): the backend, archmodel's version, a hash of archmodel's source
(so rows made by older code are never reused, even within one version) and the versions of
NumPy, SciPy and Numba. ``--cache out.csv`` reads and writes ``out.<key>.csv`` (and
``out.<key>.grasp.csv``), ``<key>`` being 12 hex digits of a hash of those; the key's fields are
written beside it (``out.<key>.key.json``) and printed in the table's header.

Usage::

    ARCHMODEL_DATA_DIR=/work/shared/data NUMBA_NUM_THREADS=1 \\
        python benchmarks/bench_zeroshot.py --channels 16 --cells-per-stage 5 --input-size 16 --batch 64 \\
        --cache /tmp/zs_bench.csv
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def cache_key(backend: str) -> dict[str, str]:
    """What, besides score_file's own settings, decides the cached rows."""
    from importlib import metadata

    import archmodel
    import archmodel.backends
    from archmodel.backends import get_backend

    h = hashlib.sha256()
    for root in sorted({Path(archmodel.__file__).parent, Path(archmodel.backends.__file__).parent}):
        for p in sorted(root.rglob("*")):
            if p.suffix in (".py", ".json") and p.is_file() and "__pycache__" not in p.parts:
                h.update(p.relative_to(root.parent).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {"backend": get_backend(backend).name, "archmodel": archmodel.__version__,
            "archmodel_source_sha256": h.hexdigest(), "numpy": np.__version__,
            "scipy": version("scipy"), "numba": version("numba")}


def keyed_path(cache: str, key: dict[str, str]) -> tuple[str, str]:
    """``(out.<k>.csv, k)`` for ``--cache out.csv``; ``k`` is 12 hex digits of the key's hash."""
    k = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    root, ext = os.path.splitext(cache)
    return f"{root}.{k}{ext or '.csv'}", k


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--cells-per-stage", type=int, default=5)
    ap.add_argument("--input-size", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default="digits", choices=["digits", "random"])
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--grasp-dtype", default=None, choices=[None, "float32", "float64"])
    ap.add_argument("--limit", type=int, default=None, help="only the first LIMIT cells")
    ap.add_argument("--cache", default="zeroshot_bench_scores.csv",
                    help="OUT.csv: rows are cached in OUT.<key>.csv, key = backend, archmodel version "
                         "and source hash, NumPy/SciPy/Numba versions")
    args = ap.parse_args(argv)

    from scipy.stats import spearmanr

    from archmodel.conv.nb201 import arch_string
    from archmodel.data import load_dataset
    from archmodel.utils import hardware_summary
    from archmodel.zeroshot import PROXIES, resolve_ops, score_file

    zc = load_dataset("zc/nb201")
    acc_ds = load_dataset("nb201-analog")
    acc_of = {arch_string(resolve_ops(a)): float(v)
              for a, v in zip(acc_ds.archs, np.asarray(acc_ds.metrics["baseline_accuracy"], float))}
    archs = [arch_string(resolve_ops(a)) for a in zc.archs]
    file_cols = {p: np.asarray(v, dtype=float) for p, v in zc.low_fidelity.items()}
    if args.limit:
        archs = archs[:args.limit]
        file_cols = {p: v[:args.limit] for p, v in file_cols.items()}
    t0 = time.perf_counter()

    def progress(done: int, total: int, arch: str) -> None:
        if done % 25 == 0 or done == total:
            el = time.perf_counter() - t0
            print(f"\r[{done}/{total}] {el:.0f} s", end="", file=sys.stderr, flush=True)

    # grasp lives in its own cache (<cache>.grasp.csv): it is the costliest proxy and its
    # settings include grasp_dtype
    others = [p for p in PROXIES if p != "grasp"]
    common = dict(C=args.channels, N=args.cells_per_stage, input_size=args.input_size,
                  batch=args.batch, data=args.data, seed=args.seed, backend=args.backend,
                  progress=progress)
    key = cache_key(args.backend)
    cache, key_hex = keyed_path(args.cache, key)
    root, ext = os.path.splitext(cache)
    Path(f"{root}.key.json").write_text(json.dumps(key, indent=1, sort_keys=True) + "\n")
    rows_a = score_file(archs, cache, proxies=others, **common)
    rows_b = score_file(archs, f"{root}.grasp{ext or '.csv'}", proxies=["grasp"],
                        grasp_dtype=args.grasp_dtype, **common)
    rows = [{**a, **b} for a, b in zip(rows_a, rows_b)]
    print(file=sys.stderr)
    elapsed = time.perf_counter() - t0
    acc = np.array([acc_of[a] for a in archs])
    naslib_name = {"jacob_cov": "jacov"}

    def rho(a: np.ndarray, b: np.ndarray) -> float:
        a, b = np.asarray(a, float).copy(), np.asarray(b, float).copy()
        a[np.isinf(a)] = np.sign(a[np.isinf(a)]) * 1e300   # -inf (singular K) ranks lowest
        b[np.isinf(b)] = np.sign(b[np.isinf(b)]) * 1e300
        return float(spearmanr(a, b, nan_policy="omit").statistic)

    print(f"# archmodel zero-cost proxies vs NASLib zc_nasbench201 (CIFAR-10), {len(archs)} cells")
    print(f"# hardware: {hardware_summary()}")
    print(f"# cache {cache} (key {key_hex}: {', '.join(f'{k} {v}' for k, v in key.items())})")
    print(f"# network: NB201 C={args.channels}, N={args.cells_per_stage}, input "
          f"3x{args.input_size}x{args.input_size}, float32 (synflow float64, BN bypassed; grasp {args.grasp_dtype or 'float32'}); batch "
          f"{args.batch} of {args.data} (digits: sklearn 8x8 upsampled bilinear, grey repeated "
          f"to 3 channels); init and batch seed {args.seed}; backend {args.backend}")
    print("# NASLib's file: full NB201 network (C=16, N=5) on CIFAR-10 images")
    print(f"# accuracy: nb201-analog baseline_accuracy; elapsed {elapsed:.0f} s "
          f"(cached rows are not recomputed)")
    hdr = f"{'proxy':<10} {'nan':>4} {'rho(file)':>9} {'rho(ours,acc)':>13} {'rho(file,acc)':>13} {'|diff|':>7}  criterion"
    print(hdr)
    ok_all = True
    for p in PROXIES:
        ours = np.array([r[p] for r in rows])
        col = file_cols[naslib_name.get(p, p)]
        r_file = rho(ours, col)
        r_ours = rho(ours, acc)
        r_ref = rho(col, acc)
        diff = abs(r_ours - r_ref)
        if p == "synflow":
            ok = r_file >= 0.9
            crit = f"rho(file) >= 0.9: {'PASS' if ok else 'FAIL'}"
        else:
            ok = diff <= 0.1
            crit = f"|diff| <= 0.1: {'PASS' if ok else 'FAIL'}"
        ok_all &= ok
        print(f"{p:<10} {int(np.isnan(ours).sum()):>4} {r_file:>9.3f} {r_ours:>13.3f} "
              f"{r_ref:>13.3f} {diff:>7.3f}  {crit}")
    print(f"# overall: {'PASS' if ok_all else 'FAIL'}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("ARCHMODEL_DATA_DIR", "/work/shared/data")
    raise SystemExit(main())
