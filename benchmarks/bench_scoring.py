"""Scoring throughput: Numba vs onnxruntime vs the NumPy reference, and Dask scale-out.

Part 1 (always): every one of the 15,625 NAS-Bench-201 cells, scored by a GATESPredictor of
the paper's size (op/node embeddings 48, hidden 96, 5 GATES layers of 128, MLP head 5 x 300;
freshly initialised parameters: the speed does not depend on their values). Timed: scoring the
already-encoded arrays (``predict_arrays``): Numba after a warm-up call (compilation reported
separately); onnxruntime with the two graphs the GATES converter can build for NB201, the
fixed-edge table graph (the default there; also without its deduplication of equivalent
cells; also exported with double arithmetic inside) and the general dense graph, with batches of 1,024, 4,096 and 16,384 and 1, 2 or the
default number of threads (``intra_op_num_threads``; also 2 threads that sleep rather than
spin when idle); the NumPy reference; and as a lower bound the MLP head alone. Encoding the 15,625 cells (``predictor.encode``) is timed once and shown
separately. Each variant runs ``--repeats`` times, alternating; best and median. The machine
is shared: compare variants of one run.

Part 2: DARTS cells sampled at random (``space.sample``), encoded (``predictor.encode``) and
scored by the exported ONNX model, in chunks of ``--chunk`` cells with fixed per-chunk seeds,
so both runs score the same cells:

* local: one process, chunk after chunk, onnxruntime with its default thread pool;
* LocalCluster: 2 worker processes x 1 thread, one task per chunk (sampling, encoding and
  scoring all happen on the workers; each worker loads the model once,
  ``archmodel.distributed.cached_predictor``). Cluster start-up and a warm-up task per worker
  (model load) are timed separately and excluded from the throughput.

Timed = sampling + encoding + scoring of all cells (+ moving the scores back to the client).
The default size is 100,000 cells; ``--million`` runs 10^6 (minutes on 2 cores).

Usage::

    python benchmarks/bench_scoring.py [--repeats 5] [--darts-n 100000] [--million] [--chunk 8192]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile

import numpy as np

from archmodel.utils import Timer, hardware_summary


def fresh_gates(space_name: str, backend: str):
    from archmodel.predictors.gates import GATESPredictor
    from archmodel.spaces import get_space

    sp = get_space(space_name)
    p = GATESPredictor(backend=backend)
    return p.initialize(sp, 0)


def sample_encode_score(model_path: str, space_name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One chunk: sample ``n`` cells (seed ``seed``), encode and score them (runs on workers too).

    Returns the scores and the seconds spent sampling, encoding and scoring.
    """
    from archmodel.distributed import cached_predictor
    from archmodel.spaces import get_space

    sp = get_space(space_name)
    model = cached_predictor(model_path, intra_op_num_threads=None if os.environ.get("_BENCH_LOCAL") else 1)
    with Timer() as t1:
        archs = sp.sample(n, seed)
    with Timer() as t2:
        batch = model.encode(archs)
    with Timer() as t3:
        scores = model.predict_arrays(batch, batch_size=4096)
    return scores, np.array([t1.seconds, t2.seconds, t3.seconds])


def head_only_model(p, path: str) -> None:
    """An ONNX model of the GATES MLP head alone (input 'x' [batch, features])."""
    import onnx
    from onnx import helper

    from archmodel.export._graph import GraphBuilder

    g = GraphBuilder(opset=17)
    x = g.input("x", "float32", ["batch", p.model_.embedding_dim])
    g.output(g.mlp_head(x, p.params_, len(p.model_.mlp_hidden)))
    ids = [helper.make_opsetid("", 17)]
    model = helper.make_model(g.make_graph(), opset_imports=ids, ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def load_onnx_predictor_raw(path: str, threads: int = 1):
    import onnxruntime

    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def part1(repeats: int) -> None:
    from archmodel.export import load_onnx_predictor, to_onnx
    from archmodel.metrics import kendall_tau
    from archmodel.spaces import get_space

    sp = get_space("nb201")
    archs = list(sp.enumerate())
    n = len(archs)
    p = fresh_gates("nb201", backend="numba")
    with Timer() as t_enc:
        batch = p.encode(archs)
    with Timer() as t_compile:
        p.predict_arrays({k: v[:64] for k, v in batch.items()})
    tmp = tempfile.mkdtemp()
    paths = {}
    options = {"tables": {"variant": "tables"}, "dense": {"variant": "dense"},
               "tables_nodedupe": {"variant": "tables", "dedupe": False}}
    for variant, opts in options.items():  # same model, same inputs: the graphs of GATES
        paths[variant] = os.path.join(tmp, f"nb201_{variant}.onnx")
        to_onnx(p, paths[variant], converter_options=opts)
    paths["tables64"] = os.path.join(tmp, "nb201_tables64.onnx")  # double arithmetic inside
    to_onnx(p, paths["tables64"], compute_dtype="float64", converter_options=options["tables"])

    def ort(variant: str, threads: int | None, spinning: bool = True):
        import onnxruntime

        so = onnxruntime.SessionOptions()
        if not spinning:  # idle pool threads sleep instead of spinning (helps on a busy machine)
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return load_onnx_predictor(paths[variant], intra_op_num_threads=threads, session_options=so)

    tab_default, tab_1, tab_2 = ort("tables", None), ort("tables", 1), ort("tables", 2)
    tab64_default, tab64_1 = ort("tables64", None), ort("tables64", 1)
    tab_2_nospin = ort("tables", 2, spinning=False)
    nodedupe_1 = ort("tables_nodedupe", 1)
    dense_default, dense_1 = ort("dense", None), ort("dense", 1)
    p_np = fresh_gates("nb201", backend="numpy")
    p_np64 = p_np.astype("float64")  # the same float32 weights, double arithmetic
    head_path = os.path.join(tmp, "head.onnx")
    head_only_model(p, head_path)
    head = load_onnx_predictor_raw(head_path)
    feats = np.random.default_rng(0).standard_normal((n, p.model_.embedding_dim)).astype(np.float32)

    variants = {
        "numba": lambda: p.predict_arrays(batch),
        "ort tables (batch 4096, default threads)": lambda: tab_default.predict_arrays(batch, batch_size=4096),
        "ort tables (batch 4096, 1 thread)": lambda: tab_1.predict_arrays(batch, batch_size=4096),
        "ort tables (batch 4096, 2 threads, no spin)": lambda: tab_2_nospin.predict_arrays(batch, batch_size=4096),
        "ort tables (batch 16384, 1 thread)": lambda: tab_1.predict_arrays(batch, batch_size=16384),
        "ort tables (batch 16384, 2 threads)": lambda: tab_2.predict_arrays(batch, batch_size=16384),
        "ort tables (batch 1024, 1 thread)": lambda: tab_1.predict_arrays(batch, batch_size=1024),
        "ort tables float64 (batch 4096, default threads)": lambda: tab64_default.predict_arrays(batch, batch_size=4096),
        "ort tables float64 (batch 4096, 1 thread)": lambda: tab64_1.predict_arrays(batch, batch_size=4096),
        "ort tables, no dedupe (batch 4096, 1 thread)": lambda: nodedupe_1.predict_arrays(batch, batch_size=4096),
        "ort tables, no dedupe (batch 16384, 1 thread)": lambda: nodedupe_1.predict_arrays(batch, batch_size=16384),
        "ort dense (batch 4096, default threads)": lambda: dense_default.predict_arrays(batch, batch_size=4096),
        "ort dense (batch 4096, 1 thread)": lambda: dense_1.predict_arrays(batch, batch_size=4096),
        "numpy reference": lambda: p_np.predict_arrays(batch),
        "numpy reference in float64": lambda: p_np64.predict_arrays(batch),
        "lower bound: MLP head alone (ort, 1 thread)": lambda: np.concatenate(
            [head.run(["score"], {"x": feats[s:s + 4096]})[0] for s in range(0, n, 4096)]),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    outs = {}
    for k, f in variants.items():  # warm-up
        outs[k] = f()
    for _ in range(repeats):
        for k, f in variants.items():
            with Timer() as t:
                f()
            times[k].append(t.seconds)
    ref = outs["numpy reference"].astype(np.float64)
    exact = outs["numpy reference in float64"].astype(np.float32)  # the correctly rounded scores
    outs["lower bound: MLP head alone (ort, 1 thread)"] = None
    print(f"Part 1: all {n} NB201 cells, GATES paper size (residual={p.model_.get_config().get('residual', 'all')!r}); "
          f"encoding {t_enc.seconds * 1e3:.0f} ms (not included below); Numba first-call compile "
          f"{t_compile.seconds:.1f} s; ort = onnxruntime, 'tables' = the fixed-edge table graph "
          f"(the default for NB201; equivalent cells of a batch scored once unless 'no dedupe'), "
          f"'dense' = the general graph; default threads = onnxruntime's choice")
    header = (f"{'variant':<48} | {'best ms':>8} | {'median ms':>9} | {'archs/s (best)':>14} | "
              f"{'<100 ms?':>8} | {'max rel diff vs numpy':>21} | {'tau vs float64 ref':>18}")
    print(header)
    print("-" * len(header))
    for k in variants:
        best, med = min(times[k]) * 1e3, statistics.median(times[k]) * 1e3
        diff = ("" if outs[k] is None else
                f"{np.abs(outs[k].astype(np.float64) - ref).max() / np.abs(ref).max():.2e}")
        tau = "" if outs[k] is None else f"{kendall_tau(exact, outs[k].astype(np.float32)):.7f}"
        print(f"{k:<48} | {best:>8.1f} | {med:>9.1f} | {n / best * 1e3:>14,.0f} | "
              f"{'yes' if best < 100 else 'no':>8} | {diff:>21} | {tau:>18}")
    print("(lower bound: the dense MLP head [128 -> 300 x 5 -> 1] on all 15,625 rows of random "
          "features, batches of 4096, one thread; the dense graph and 'no dedupe' run it on every "
          "cell, numba/numpy once per distinct readout, 'tables' once per distinct canonical cell "
          "of a batch); 'float64' = exported with compute_dtype='float64' (double arithmetic, "
          "the score rounded to float32 once); 'tau vs float64 ref' = Kendall tau-b against the "
          "NumPy reference computed in float64 from the same float32 weights, rounded to float32)")


def part2(n: int, chunk: int) -> None:
    from distributed import Client, LocalCluster

    from archmodel.export import to_onnx

    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "darts.onnx")
    to_onnx(fresh_gates("darts", backend="numpy"), path)
    sizes = [min(chunk, n - s) for s in range(0, n, chunk)]
    seeds = list(range(1000, 1000 + len(sizes)))

    os.environ["_BENCH_LOCAL"] = "1"
    sample_encode_score(path, "darts", 8, 0)  # load the model (not timed)
    with Timer() as t_local:
        parts = [sample_encode_score(path, "darts", m, s) for m, s in zip(sizes, seeds)]
    del os.environ["_BENCH_LOCAL"]
    local = np.concatenate([p[0] for p in parts])
    local_phases = np.sum([p[1] for p in parts], axis=0)

    with Timer() as t_start:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
    try:
        with Timer() as t_warm:
            client.run(sample_encode_score, path, "darts", 8, 0)  # every worker loads the model
        with Timer() as t_dask:
            futures = client.map(sample_encode_score, [path] * len(sizes), ["darts"] * len(sizes),
                                 sizes, seeds, pure=False)
            parts = client.gather(futures)
    finally:
        client.close()
        cluster.close()
    dist = np.concatenate([p[0] for p in parts])
    dist_phases = np.sum([p[1] for p in parts], axis=0)
    same = np.array_equal(local, dist)
    print(f"\nPart 2: {n:,} random DARTS cells (normal + reduce), chunks of {chunk}; timed = "
          "sampling + encoding + onnxruntime scoring (+ gathering the scores)")
    header = (f"{'run':<46} | {'seconds':>8} | {'archs/s':>9} | {'sample s':>8} | {'encode s':>8} | "
              f"{'score s':>8}")
    print(header)
    print("-" * len(header))
    for name, t, ph in (("local, 1 process (onnxruntime default threads)", t_local.seconds, local_phases),
                        ("LocalCluster, 2 workers x 1 thread", t_dask.seconds, dist_phases)):
        print(f"{name:<46} | {t:>8.1f} | {n / t:>9,.0f} | {ph[0]:>8.1f} | {ph[1]:>8.1f} | {ph[2]:>8.1f}")
    print("(phase columns: seconds summed over chunks; for the cluster, summed over both workers)")
    print(f"cluster start-up {t_start.seconds:.1f} s and model load on the workers {t_warm.seconds:.1f} s "
          f"(not included); speed-up {t_local.seconds / t_dask.seconds:.2f}x; "
          f"identical scores: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--darts-n", type=int, default=100_000, help="DARTS cells for part 2")
    parser.add_argument("--million", action="store_true", help="part 2 with 10^6 DARTS cells (slow)")
    parser.add_argument("--chunk", type=int, default=8192, help="cells per task in part 2")
    parser.add_argument("--skip-part1", action="store_true")
    parser.add_argument("--skip-part2", action="store_true")
    args = parser.parse_args()
    print(f"hardware: {hardware_summary()}")
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}")
    if not args.skip_part1:
        part1(args.repeats)
    if not args.skip_part2:
        part2(10**6 if args.million else args.darts_n, args.chunk)


if __name__ == "__main__":
    main()
