"""Regenerate data/microbench/nb201_digits.csv (resumable: rerun to continue).

    NUMBA_NUM_THREADS=1 python scripts/make_microbench.py [--output data/microbench/nb201_digits.csv]
    python scripts/make_microbench.py --engine dask [--scheduler tcp://HOST:8786]

With --engine dask the training runs go to a Dask cluster (default: a LocalCluster of 2 worker
processes with 1 thread each) and the rows are written here, in the same order as a local run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from archmodel.distributed import ENGINES


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "data" / "microbench" / "nb201_digits.csv"))
    ap.add_argument("--limit", type=int, default=None, help="train at most LIMIT more runs")
    ap.add_argument("--summary", action="store_true", help="only print the summary")
    ap.add_argument("--backend", choices=["numpy", "numba"], default=None,
                    help="kernel backend of the training runs (default: the configured one)")
    ap.add_argument("--engine", choices=ENGINES, default="local",
                    help="train here or on a Dask cluster (needs the extra 'archmodel[dask]')")
    ap.add_argument("--scheduler", metavar="ADDRESS", default=None,
                    help="Dask scheduler address, with --engine dask (default: a LocalCluster)")
    args = ap.parse_args(argv)
    if args.scheduler is not None and args.engine != "dask":
        ap.error("--scheduler needs --engine dask")
    if args.engine == "dask":
        from archmodel.distributed import require_dask
        from archmodel.errors import MissingDependencyError

        try:
            require_dask()
        except MissingDependencyError as exc:
            ap.exit(1, f"error: --engine dask: {exc}\n")
    from archmodel.microbench import run, summarize

    if not args.summary:
        t0 = time.perf_counter()

        def progress(i: int, n: int) -> None:
            print(f"\r[{i}/{n}] {time.perf_counter() - t0:.0f} s", end="", file=sys.stderr, flush=True)

        added = run(args.output, limit=args.limit, progress=progress, backend=args.backend,
                    engine=args.engine, scheduler=args.scheduler)
        print(f"\nadded {added} rows", file=sys.stderr)
    print(json.dumps(summarize(args.output), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
