"""Regenerate data/microbench/nb201_digits.csv (resumable: rerun to continue).

    NUMBA_NUM_THREADS=1 python scripts/make_microbench.py [--output data/microbench/nb201_digits.csv]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "data" / "microbench" / "nb201_digits.csv"))
    ap.add_argument("--limit", type=int, default=None, help="train at most LIMIT more runs")
    ap.add_argument("--summary", action="store_true", help="only print the summary")
    args = ap.parse_args(argv)
    from archmodel.microbench import run, summarize

    if not args.summary:
        t0 = time.perf_counter()

        def progress(i: int, n: int) -> None:
            print(f"\r[{i}/{n}] {time.perf_counter() - t0:.0f} s", end="", file=sys.stderr, flush=True)

        added = run(args.output, limit=args.limit, progress=progress)
        print(f"\nadded {added} rows", file=sys.stderr)
    print(json.dumps(summarize(args.output), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
