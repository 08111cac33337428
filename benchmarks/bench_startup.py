"""Start-up cost of CLI commands: first run (empty Numba cache) and second run, fresh processes.

Each command runs in a fresh ``archmodel`` process, first with an empty kernel-cache folder of
its own (``ARCHMODEL_NUMBA_CACHE_DIR`` pointing at a new temporary folder), then again with the
folder the first run filled. Wall time is measured around the process; the time spent
compiling comes from the process itself (``ARCHMODEL_REPORT_COMPILE=<file>``: the outermost
``numba:compile`` events of Numba's event API), with the time spent loading kernels from the
cache and Numba's one-time target initialisation (paid by a compile and a cache load alike)
reported apart. Target (issue 15): on a second run no command compiles for more than 0.5 s.

Commands (nb201-analog from ``ARCHMODEL_DATA_DIR``):

* ``train``: ``archmodel train --data nb201-analog --target baseline_accuracy --train-size 0.01
  --encoder gates --seed 11 --json -o MODEL`` (the model is saved for ``score``);
* ``score``: ``archmodel score MODEL --input ARCHS --json`` (200 sampled NB201 cells);
* ``pim``: ``archmodel pim simulate --network vgg8 --hardware mnsim-default --json``;
* ``zeroshot``: ``archmodel zeroshot --proxies synflow,grad_norm,snip ... -o CSV`` (4 cells,
  C=8, N=1, 16x16 inputs, batch 16).

Usage::

    ARCHMODEL_DATA_DIR=/work/shared/data python benchmarks/bench_startup.py --repeat 2
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARCHS_ZEROSHOT = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|",
]


def _commands(work: Path) -> dict[str, list[str]]:
    model = str(work / "gates.npz")
    return {
        "train": ["train", "--data", "nb201-analog", "--target", "baseline_accuracy", "--train-size", "0.01",
                  "--encoder", "gates", "--seed", "11", "--json", "-o", model],
        "score": ["score", model, "--input", str(work / "archs.txt"), "--json"],
        "pim": ["pim", "simulate", "--network", "vgg8", "--hardware", "mnsim-default", "--json"],
        "zeroshot": ["zeroshot", "--proxies", "synflow,grad_norm,snip", "--channels", "8",
                     "--cells-per-stage", "1", "--input-size", "16", "--batch", "16", "--quiet",
                     "-o", str(work / "zs.csv"), *ARCHS_ZEROSHOT],
    }


def _run(args: list[str], cache: Path, report: Path, work: Path) -> dict:
    env = dict(os.environ, ARCHMODEL_NUMBA_CACHE_DIR=str(cache), ARCHMODEL_REPORT_COMPILE=str(report))
    env.pop("ARCHMODEL_NUMBA_CACHE", None)
    (work / "zs.csv").unlink(missing_ok=True)  # zeroshot resumes from its CSV: start it afresh
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "archmodel", *args], env=env, capture_output=True,
                          text=True, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"archmodel {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    rep = json.loads(report.read_text()) if report.exists() else {}
    report.unlink(missing_ok=True)
    rep["wall"] = wall
    rep["stdout"] = proc.stdout
    return rep


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{min(values):.2f} / {statistics.median(values):.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=2, help="First+second run pairs per command.")
    ap.add_argument("--only", default="train,score,pim,zeroshot", help="Comma-separated commands.")
    ap.add_argument("--json", action="store_true", help="Also print the raw figures as JSON.")
    args = ap.parse_args(argv)
    from archmodel.utils import hardware_summary

    names = [n.strip() for n in args.only.split(",") if n.strip()]
    rows: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="am_startup_") as tmp:
        work = Path(tmp)
        commands = _commands(work)
        sample = subprocess.run([sys.executable, "-m", "archmodel", "space", "sample", "nb201", "-n", "200",
                                 "--seed", "3"], capture_output=True, text=True, check=True)
        (work / "archs.txt").write_text(sample.stdout)
        if "score" in names and "train" not in names:
            _run(commands["train"], work / "cache-model", work / "r.json", work)
        for rep in range(args.repeat):
            for name in names:
                cache = work / f"cache-{name}-{rep}"
                for which in ("first", "second"):
                    res = _run(commands[name], cache, work / "r.json", work)
                    rows.setdefault((name, which), []).append(res)
                    print(f"# {name} {which}: wall {res['wall']:.2f} s, compile {res.get('compile_seconds')} s, "
                          f"recompiled {res.get('recompiled')}", file=sys.stderr, flush=True)
                    if which == "second" and res.get("cache_dir") != rows[(name, "first")][-1].get("cache_dir"):
                        print(f"# warning: {name}: kernel sources changed between the two runs "
                              "(different cache folder)", file=sys.stderr)
                shutil.rmtree(cache, ignore_errors=True)

    print(hardware_summary())
    print(f"{args.repeat} pair(s) of fresh processes per command; 'best / median' where repeated; "
          "seconds")
    print()
    print("| command | run | wall | compiling | kernels compiled | cache load | Numba target init |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        for which in ("first", "second"):
            rs = rows[(name, which)]
            compiled = sorted({r.get("outermost_compiles") or 0 for r in rs})
            print(f"| {name} | {which} | {_fmt([r['wall'] for r in rs])} | "
                  f"{_fmt([r.get('compile_seconds') or 0.0 for r in rs])} | "
                  f"{'-'.join(str(c) for c in compiled)} | "
                  f"{_fmt([r.get('cache_load_seconds') or 0.0 for r in rs])} | "
                  f"{_fmt([r.get('numba_init_seconds') or 0.0 for r in rs])} |")
    worst = max((r.get("compile_seconds") or 0.0) for name in names for r in rows[(name, "second")])
    print()
    print(f"worst compile time on a second run: {worst:.2f} s (target <= 0.5 s): "
          f"{'met' if worst <= 0.5 else 'NOT met'}")
    if args.json:
        print(json.dumps({f"{n} {w}": [{k: v for k, v in r.items() if k != 'stdout'} for r in rs]
                          for (n, w), rs in rows.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
