"""Check exported ONNX predictors on every supported onnxruntime minor version.

For each onnxruntime version asked for, a virtual environment holding only onnxruntime and a
compatible NumPy (onnxruntime before 1.19 was built against NumPy 1 and crashes on import with
NumPy 2) is created under a cache folder (kept between runs). In this environment (the one with
archmodel installed) the script exports one model of every predictor kind and converter option
for every search space that has an ONNX contract (``specs/onnx/<space>.json``) and computes the
NumPy reference scores of a pool of sampled architectures; each venv then runs every model through
repeated ``run`` calls of ONE ``InferenceSession`` (default session options: memory patterns on)
with batch sizes that change and repeat (the same shape with other data, too), and compares every
batch with the reference. The worker side needs only NumPy and onnxruntime: it is this file run
with ``--worker`` by the venv's interpreter.

Predictor kinds: ``gates`` (the converter's default graph: the fixed-edge table graph on NB201 and
TransNAS-Bench-101 micro, the dense graph elsewhere), ``gates-f64`` (``compute_dtype='float64'``),
and where the table graph applies ``gates-dense``, ``gates-nodedupe`` (``dedupe=False``),
``gates-mean-all`` (readout 'mean', residual 'all'); ``mlp``, ``lstm``, ``gcn`` and their
``-f64`` twins. Models have freshly initialised parameters (the graph, not the values, is under
test); GATES on NB201 has the paper's size (what ``archmodel export`` writes), the rest a small one.

A run is wrong when it raises, returns a non-finite value or the wrong shape, or differs from the
reference by more than ``--tol`` (default 1e-5) of the score scale (the largest absolute reference
score of the pool, as ``to_onnx`` measures it). The table also shows the largest error relative
to the spread of the pool's reference scores (max - min), which a permuted or stale score moves
by ~0.1-1. Exit status 1 when any run of any model on any version is wrong, 2 on a setup error.

Usage::

    python scripts/onnx_compat.py                          # every minor version from 1.15 on
    python scripts/onnx_compat.py --versions 1.15,1.32     # latest patch of these minors
    python scripts/onnx_compat.py --versions 1.18.1 --kinds gates --spaces nb201 --no-mem-pattern
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: the oldest onnxruntime minor version archmodel claims (the oldest with a CPython 3.11 wheel)
OLDEST_MINOR = (1, 15)
#: onnxruntime releases before this one need NumPy 1 (they were built against its C API)
NUMPY2_FROM = (1, 19)
#: batch sizes of the runs of one session, cycled (the same size comes back with other rows)
BATCH_SIZES = (1, 7, 50, 200, 50, 1, 333, 50, 50, 50, 200, 7, 1, 128, 128, 333, 64, 2, 200, 50)
POOL = 600


# ============================================================================ worker (venv side)
def _worker(manifest_path: str, out_path: str) -> int:
    """Run every model of the manifest in this interpreter (NumPy + onnxruntime only)."""
    import numpy as np
    import onnxruntime as ort

    man = json.loads(Path(manifest_path).read_text())
    data = np.load(man["arrays"])
    results = []
    for m in man["models"]:
        so = ort.SessionOptions()
        so.intra_op_num_threads = man["threads"]
        if not man["mem_pattern"]:
            so.enable_mem_pattern = False
        res = {"name": m["name"], "runs": 0, "wrong": 0, "errors": [], "max_rel": 0.0, "max_spread": 0.0}
        try:
            sess = ort.InferenceSession(m["path"], so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a version that cannot load the model is a failure too
            res["errors"].append(f"load: {type(exc).__name__}: {str(exc).strip()[:200]}")
            res["wrong"] = 1
            results.append(res)
            continue
        feeds = {k: data[f"{m['name']}/{k}"] for k in m["inputs"]}
        ref = data[f"{m['name']}/ref"].astype(np.float64)
        scale = float(np.abs(ref).max())
        spread = float(ref.max() - ref.min()) or scale
        start = 0
        for r in range(man["runs"]):
            bs = BATCH_SIZES[r % len(BATCH_SIZES)]
            start = (start + 97 * r) % (len(ref) - bs + 1)
            sl = slice(start, start + bs)
            res["runs"] += 1
            try:
                got = sess.run(["score"], {k: v[sl] for k, v in feeds.items()})[0]
            except Exception as exc:
                res["wrong"] += 1
                if len(res["errors"]) < 3:
                    res["errors"].append(f"run {r} (batch {bs}): {type(exc).__name__}: {str(exc).strip()[:200]}")
                continue
            if got.shape != (bs,) or not np.all(np.isfinite(got)):
                res["wrong"] += 1
                if len(res["errors"]) < 3:
                    res["errors"].append(f"run {r} (batch {bs}): shape {got.shape}, finite {bool(np.all(np.isfinite(got)))}")
                continue
            err = float(np.abs(got.astype(np.float64) - ref[sl]).max())
            res["max_rel"] = max(res["max_rel"], err / scale)
            res["max_spread"] = max(res["max_spread"], err / spread)
            if err > man["tol"] * scale:
                res["wrong"] += 1
                if len(res["errors"]) < 3:
                    res["errors"].append(f"run {r} (batch {bs}): wrong scores, max error {err / scale:.3g} "
                                         f"of the score scale ({err / spread:.3g} of the spread)")
        results.append(res)
    Path(out_path).write_text(json.dumps({"onnxruntime": ort.__version__, "numpy": np.__version__,
                                          "results": results}))
    return 0


# ============================================================================ versions and venvs
def _parse(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def available_versions() -> list[str]:
    """onnxruntime releases pip can install for this interpreter (``pip index versions``)."""
    out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "onnxruntime"],
                         capture_output=True, text=True, timeout=300)
    m = re.search(r"Available versions:\s*(.+)", out.stdout)
    if out.returncode != 0 or m is None:
        raise RuntimeError(f"pip index versions onnxruntime failed (rc {out.returncode}): "
                           f"{(out.stderr or out.stdout).strip()[-500:]}")
    return [v.strip() for v in m.group(1).split(",") if re.fullmatch(r"\d+\.\d+\.\d+", v.strip())]


def resolve_versions(spec: str | None, available: list[str]) -> list[str]:
    """Exact versions to test: the latest patch of each minor asked for (default: every minor
    from :data:`OLDEST_MINOR` on); an exact ``X.Y.Z`` is kept as given."""
    by_minor: dict[tuple[int, int], str] = {}
    for v in available:
        key = _parse(v)[:2]
        if key not in by_minor or _parse(v) > _parse(by_minor[key]):
            by_minor[key] = v
    if spec is None:
        return [by_minor[k] for k in sorted(by_minor) if k >= OLDEST_MINOR]
    out = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        parts = _parse(item)
        if len(parts) == 3:
            if item not in available:
                raise RuntimeError(f"onnxruntime {item} has no wheel for this Python; available: {available}")
            out.append(item)
        elif parts[:2] in by_minor:
            out.append(by_minor[parts[:2]])
        else:
            raise RuntimeError(f"onnxruntime {item}: no release with a wheel for this Python "
                               f"({sys.version.split()[0]}); available: {available}")
    return out


def numpy_spec(version: str) -> str:
    return "numpy<2" if _parse(version)[:2] < NUMPY2_FROM else "numpy>=2"


def ensure_venv(cache: Path, version: str) -> Path:
    """The interpreter of a venv with only ``onnxruntime==version`` and a compatible NumPy."""
    d = cache / f"ort-{version}-py{sys.version_info[0]}{sys.version_info[1]}"
    py = d / "bin" / "python"
    stamp = d / ".complete"
    if stamp.exists() and py.exists():
        return py
    if d.exists():
        import shutil

        shutil.rmtree(d)
    subprocess.run([sys.executable, "-m", "venv", str(d)], check=True, capture_output=True, timeout=300)
    cmd = [str(py), "-m", "pip", "install", "-q", "--no-deps", f"onnxruntime=={version}", numpy_spec(version)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr.strip()[-800:]}")
    stamp.write_text(version)
    return py


# ============================================================================ models (this env)
SMALL = dict(mlp_hidden=(32, 32))
SMALL_GATES = dict(op_emb_dim=8, node_emb_dim=8, hidden_dim=16, gates_dims=(24, 24, 24), **SMALL)


def model_specs(spaces: list[str]) -> list[dict]:
    """(space, kind, predictor class, constructor options, converter options, compute dtype)."""
    from archmodel.export.gates import fixed_edge_plan
    from archmodel.predictors.gates import GATESPredictor
    from archmodel.spaces import get_space

    specs = []
    for s in spaces:
        gates_kw = {} if s == "nb201" else SMALL_GATES
        probe = GATESPredictor(**SMALL_GATES).initialize(get_space(s), 0)
        tables = fixed_edge_plan(probe.model_, get_space(s)) is not None
        specs += [dict(space=s, kind="gates", cls="GATESPredictor", kw=gates_kw, conv={}, dtype="float32"),
                  dict(space=s, kind="gates-f64", cls="GATESPredictor", kw=gates_kw, conv={}, dtype="float64")]
        if tables:
            specs += [dict(space=s, kind="gates-dense", cls="GATESPredictor", kw=gates_kw,
                           conv={"variant": "dense"}, dtype="float32"),
                      dict(space=s, kind="gates-nodedupe", cls="GATESPredictor", kw=gates_kw,
                           conv={"dedupe": False}, dtype="float32"),
                      dict(space=s, kind="gates-mean-all", cls="GATESPredictor",
                           kw={**gates_kw, "readout": "mean", "residual": "all"}, conv={}, dtype="float32")]
        for cls, kind in (("MLPPredictor", "mlp"), ("LSTMPredictor", "lstm"), ("GCNPredictor", "gcn")):
            kw = dict(SMALL, **({"hidden_dim": 16, "emb_dim": 8} if kind == "lstm" else {}),
                      **({"gcn_dims": (16, 16)} if kind == "gcn" else {}))
            for dt in ("float32", "float64"):
                specs.append(dict(space=s, kind=kind + ("-f64" if dt == "float64" else ""), cls=cls,
                                  kw=kw, conv={}, dtype=dt))
    return specs


def build_models(work: Path, spaces: list[str], kinds: list[str] | None) -> dict:
    """Export every model and save its input pool and NumPy reference scores."""
    import numpy as np

    from archmodel.export import get_converter, to_onnx
    from archmodel.export.contract import encode
    from archmodel.predictors import baselines, gates
    from archmodel.spaces import get_space

    arrays: dict[str, np.ndarray] = {}
    models = []
    for spec in model_specs(spaces):
        if kinds and spec["kind"] not in kinds:
            continue
        sp = get_space(spec["space"])
        cls = getattr(gates if spec["cls"] == "GATESPredictor" else baselines, spec["cls"])
        p = cls(backend="numpy", **spec["kw"]).initialize(sp, 0)
        name = f"{spec['space']}.{spec['kind']}"
        path = work / f"{name}.onnx"
        to_onnx(p, path, verify=False, compute_dtype=spec["dtype"], converter_options=spec["conv"])
        batch = encode(sp, sp.sample(POOL, 1), get_converter(p).encoding)
        ref_p = p.astype("float64") if spec["dtype"] == "float64" else p
        ref = np.asarray(ref_p.predict_arrays(batch), np.float64)
        for k, v in batch.items():
            arrays[f"{name}/{k}"] = v
        arrays[f"{name}/ref"] = ref
        models.append({"name": name, "space": spec["space"], "kind": spec["kind"], "path": str(path),
                       "inputs": sorted(batch)})
    np.savez(work / "arrays.npz", **arrays)
    return {"arrays": str(work / "arrays.npz"), "models": models}


def contract_spaces() -> list[str]:
    """Search spaces with a shipped ONNX contract (``specs/onnx/<space>.json``)."""
    import archmodel.specs
    from archmodel.export.contract import load_contract

    folder = Path(archmodel.specs.__file__).parent / "onnx"
    return sorted(load_contract(p.stem)["space"] for p in folder.glob("*.json"))


# ============================================================================ main
def _table(rows: list[dict]) -> str:
    head = (f"{'onnxruntime':<11} | {'numpy':<7} | {'model (space.kind)':<30} | {'runs':>4} | "
            f"{'max err / scale':>15} | {'max err / spread':>16} | {'wrong':>5}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['ort']:<11} | {r['numpy']:<7} | {r['name']:<30} | {r['runs']:>4} | "
                     f"{r['max_rel']:>15.2e} | {r['max_spread']:>16.2e} | {r['wrong']:>5}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", help="comma-separated onnxruntime versions: X.Y (latest patch) "
                        "or X.Y.Z (default: every minor from %d.%d on)" % OLDEST_MINOR)
    parser.add_argument("--spaces", help="comma-separated search spaces (default: every contract)")
    parser.add_argument("--kinds", help="comma-separated predictor kinds (default: all)")
    parser.add_argument("--runs", type=int, default=40, help="runs of each session (default 40)")
    parser.add_argument("--tol", type=float, default=1e-5, help="allowed error / score scale (1e-5)")
    parser.add_argument("--threads", type=int, default=1, help="intra_op_num_threads (default 1)")
    parser.add_argument("--no-mem-pattern", action="store_true",
                        help="run with SessionOptions.enable_mem_pattern = False")
    parser.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "archmodel-onnx-compat"),
                        help="where the venvs are kept (default: %(default)s)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", nargs=2, metavar=("MANIFEST", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(*args.worker)

    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    try:
        versions = resolve_versions(args.versions, available_versions())
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"onnx_compat: {exc}", file=sys.stderr)
        return 2
    spaces = args.spaces.split(",") if args.spaces else contract_spaces()
    kinds = args.kinds.split(",") if args.kinds else None
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="onnx-compat-") as tmp:
        work = Path(tmp)
        man = build_models(work, spaces, kinds)
        if not man["models"]:
            print("onnx_compat: no model matches --spaces/--kinds", file=sys.stderr)
            return 2
        man.update(runs=args.runs, tol=args.tol, threads=args.threads, mem_pattern=not args.no_mem_pattern)
        (work / "manifest.json").write_text(json.dumps(man))
        print(f"exported {len(man['models'])} models ({time.perf_counter() - t0:.0f} s); "
              f"onnxruntime versions: {', '.join(versions)}", file=sys.stderr)
        rows, setup_errors = [], []
        for v in versions:
            try:
                py = ensure_venv(cache, v)
            except (RuntimeError, subprocess.SubprocessError) as exc:
                setup_errors.append(f"onnxruntime {v}: {exc}")
                continue
            out = work / f"out-{v}.json"
            proc = subprocess.run([str(py), os.path.abspath(__file__), "--worker",
                                   str(work / "manifest.json"), str(out)],
                                  capture_output=True, text=True, timeout=3600)
            if proc.returncode != 0 or not out.exists():
                setup_errors.append(f"onnxruntime {v}: worker failed (rc {proc.returncode}): "
                                    f"{proc.stderr.strip()[-800:]}")
                continue
            res = json.loads(out.read_text())
            for r in res["results"]:
                rows.append({"ort": res["onnxruntime"], "numpy": res["numpy"], **r})
            print(f"onnxruntime {v}: {sum(r['wrong'] for r in res['results'])} wrong runs "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    print(f"{'memory patterns off' if args.no_mem_pattern else 'default session options'}, "
          f"{args.threads} thread(s), {args.runs} runs per session, batch sizes cycling "
          f"{list(BATCH_SIZES)}; wrong = raised, non-finite, or error > {args.tol:g} of the score scale")
    print(_table(rows))
    wrong = [r for r in rows if r["wrong"]]
    for r in wrong:
        print(f"WRONG onnxruntime {r['ort']} {r['name']}: {r['wrong']}/{r['runs']} runs; "
              + "; ".join(r["errors"]))
    for e in setup_errors:
        print(f"SETUP ERROR {e}")
    summary = {v: sum(r["wrong"] for r in rows if r["ort"] == v) for v in dict.fromkeys(r["ort"] for r in rows)}
    print("summary (wrong runs per version): " + ", ".join(f"{v}: {n}" for v, n in summary.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "setup_errors": setup_errors}, indent=1))
    if setup_errors:
        return 2
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
