"""The GATES training loop's shortcuts change no number.

What :func:`archmodel.nn.train.fit_scores` does faster for GATES must give the parameters the
plain loop gives, bit for bit:

* the training set is validated and compressed once (``GATESModel.prepare_batch``); a
  mini-batch holding every row reuses that plan with its readout rows permuted;
* with ``n_jobs > 1`` the head's ``grad_x`` runs beside ``grad_w`` (``run_pair``) and the
  dropout masks are drawn beside the encoder, on a second thread;
* :func:`archmodel.nn.parallel.map_chunks` / ``run_pair`` never wait for a worker that has not
  started: the calling thread runs that work itself;
* ``sample_pairs`` keeps its pair enumeration between calls without handing out shared arrays.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from archmodel.encoding import vocabulary
from archmodel.losses import get_loss, sample_pairs
from archmodel.models.gates import GATESModel, PreparedCells, compress_edges, compress_nodes
from archmodel.nn import Adam
from archmodel.nn import parallel
from archmodel.nn.train import fit_scores
from archmodel.spaces import get_space
from conftest import require_data

SMALL = dict(gates_dims=(16, 16), mlp_hidden=(24, 24), hidden_dim=12, op_emb_dim=8,
             node_emb_dim=8)


@pytest.fixture(scope="module")
def nb201_train():
    """1 % of NB201 (the README's main job): 156 real cells and their accuracies."""
    require_data("analog-nasbench")
    from archmodel.data import load_dataset, train_test_split

    ds = load_dataset("nb201-analog")
    train, _ = train_test_split(ds, train_size=0.01, rng=np.random.default_rng(0))
    sp = get_space("nb201")
    edges = sp.to_arrays(list(train.archs)).edges[:, 0]  # [156, 6, 3]: one cell
    return edges, np.asarray(train.target("baseline_accuracy"), np.float64)


def _same_plan(a, b) -> None:
    assert a.n_rows == b.n_rows and a.n_inputs == b.n_inputs
    for f in ("msg_ptr", "msg_src", "msg_op", "read_rows"):
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype and np.array_equal(x, y), f


# ----------------------------------------------------------------------------- plans
def test_permuted_batch_has_the_full_plan_with_permuted_readouts(nb201_train):
    edges, _ = nb201_train
    full = compress_edges(edges, 4, 1, 5, 0, [3])
    gen = np.random.default_rng(1)
    for _ in range(20):
        perm = gen.permutation(len(edges))
        fresh = compress_edges(edges[perm], 4, 1, 5, 0, [3])
        assert fresh.n_rows == full.n_rows
        _same_plan(fresh, type(full)(full.n_rows, full.n_inputs, full.msg_ptr, full.msg_src,
                                     full.msg_op, full.read_rows[perm]))


@pytest.mark.parametrize("space", ["nb101", "darts"])
def test_prepared_take_matches_fresh_compression(space):
    # architectures sampled from the space (only their structure matters here)
    sp = get_space(space)
    archs = sp.sample(40, 3)
    gb = sp.to_arrays(archs)
    model = GATESModel(kind=gb.kind, n_nodes=gb.n_nodes, n_inputs=gb.n_inputs,
                       n_ops=len(vocabulary(sp)), n_cells=gb.n_cells, **SMALL)
    batch = {"edges": gb.edges} if gb.kind == "edge" else {"adj": gb.adj, "node_ops": gb.node_ops}
    prepared = model.prepare_batch(batch)
    assert isinstance(prepared, PreparedCells) and len(prepared) == 40
    perm = np.random.default_rng(4).permutation(40)
    sub = prepared.take(perm)
    assert sub.plans is not None
    cells = model.check_batch({k: v[perm] for k, v in batch.items()})
    for c in range(model.n_cells):
        fresh = (compress_edges(cells[c][0], model.n_nodes, model.n_inputs, model.n_ops,
                                model.none_op, model.readout_nodes) if gb.kind == "edge" else
                 compress_nodes(cells[c][0], cells[c][1], model.n_inputs, model.n_ops,
                                model.readout_nodes))
        _same_plan(sub.plans[c], fresh)
    # a strict subset, or a batch with a repeated row, is compressed afresh
    assert prepared.take(perm[:39]).plans is None
    assert prepared.take(np.r_[perm[:39], perm[0]]).plans is None


def test_forward_on_prepared_batch_equals_forward_on_arrays(nb201_train, backend):
    edges, _ = nb201_train
    model = GATESModel(**SMALL, dropout=0.2)
    params = model.init_params(0, dtype=np.float64)
    prepared = model.prepare_batch({"edges": edges})
    idx = np.random.default_rng(2).permutation(len(edges))
    for sub_idx in (idx, idx[:50]):
        s1, c1 = model.forward(params, prepared.take(sub_idx), train=True, rng=5, backend=backend)
        s2, c2 = model.forward(params, {"edges": edges[sub_idx]}, train=True, rng=5, backend=backend)
        assert np.array_equal(s1, s2)
        g = np.linspace(-1, 1, len(sub_idx))
        g1, g2 = model.backward(c1, g), model.backward(c2, g)
        assert all(np.array_equal(g1[k], g2[k]) for k in g1)


# ----------------------------------------------------------------------------- whole fits
class _Plain:
    """The model without ``prepare_batch``: fit_scores slices the arrays each step."""

    def __init__(self, model: GATESModel) -> None:
        self.model = model

    def forward(self, *args, **kwargs):
        return self.model.forward(*args, **kwargs)

    def backward(self, *args, **kwargs):
        return self.model.backward(*args, **kwargs)


def _fit(model, edges, y, *, epochs, batch_size, backend, n_jobs=1, plain=False):
    params = model.init_params(7)
    opt = Adam(1e-3, backend=backend, n_jobs=n_jobs)
    loss = get_loss("hinge", backend=backend)
    hist = fit_scores(_Plain(model) if plain else model, params, {"edges": edges},
                      y.astype(np.float32), loss, opt, epochs=epochs, batch_size=batch_size,
                      rng=11, backend=backend)
    return params, hist


@pytest.mark.parametrize("batch_size,chunk_size", [(512, 256), (64, 256), (512, 64)])
def test_fit_with_prepared_batches_is_bit_identical(nb201_train, backend, batch_size, chunk_size):
    """Whole training set per step (plan reused), mini-batches (fresh plans) and several
    chunks (fresh plans per chunk) all give the plain loop's parameters and losses."""
    edges, y = nb201_train
    model = GATESModel(**SMALL, chunk_size=chunk_size)
    p1, h1 = _fit(model, edges, y, epochs=4, batch_size=batch_size, backend=backend)
    p2, h2 = _fit(model, edges, y, epochs=4, batch_size=batch_size, backend=backend, plain=True)
    assert h1 == h2
    assert all(np.array_equal(p1[k], p2[k]) for k in p1)


def test_two_threads_give_the_one_thread_parameters(nb201_train, backend, monkeypatch):
    """The authors' head (5 x 300) is wide enough for the two-thread backward; the result is
    the one-thread result, bit for bit, and the two-thread paths did run."""
    edges, y = nb201_train
    calls = {"n": 0}
    real = parallel.run_pair

    def counting(first, second, n_jobs):
        calls["n"] += n_jobs > 1
        return real(first, second, n_jobs)

    monkeypatch.setattr(parallel, "run_pair", counting)
    monkeypatch.setattr("archmodel.models.gates.run_pair", counting)
    out = {}
    for n_jobs in (1, 2):
        model = GATESModel(n_jobs=n_jobs, gates_dims=(32, 32))
        out[n_jobs] = _fit(model, edges, y, epochs=2, batch_size=512, backend=backend,
                           n_jobs=n_jobs)
    assert calls["n"] >= 2 * 4  # masks + four 300x300-sized layers per step, two steps
    (p1, h1), (p2, h2) = out[1], out[2]
    assert h1 == h2
    assert all(np.array_equal(p1[k], p2[k]) for k in p1)


# ----------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("relu,with_mask", [(True, True), (True, False), (False, False)])
def test_dense_backward_input_is_dense_backward_grad_x(backend, dtype, relu, with_mask):
    gen = np.random.default_rng(0)
    x = gen.standard_normal((37, 29)).astype(dtype)
    w = gen.standard_normal((29, 23)).astype(dtype)
    b = gen.standard_normal(23).astype(dtype)
    mask = ((gen.random((37, 23)) > 0.3) / 0.7).astype(dtype) if with_mask else None
    y = backend.nn.dense_forward(x, w, b, relu, mask)
    gy = gen.standard_normal(y.shape).astype(dtype)
    gx, gw, gb = backend.nn.dense_backward(gy, x, w, y, relu, mask, True)
    gx2 = backend.nn.dense_backward_input(gy, w, y, relu, mask)
    assert gx2.dtype == dtype and np.array_equal(gx2, gx)
    none, gw2, gb2 = backend.nn.dense_backward(gy, x, w, y, relu, mask, False)
    assert none is None and np.array_equal(gw2, gw) and np.array_equal(gb2, gb)


# ----------------------------------------------------------------------------- threads
@pytest.fixture
def busy_worker():
    """The one-worker pool that run_pair uses, held by a task until the test ends."""
    release, started = threading.Event(), threading.Event()

    def hold():
        started.set()
        release.wait(30)

    fut = parallel._pool(1).submit(hold)
    assert started.wait(30)
    yield
    release.set()
    fut.result(timeout=30)


def test_run_pair_runs_unstarted_work_itself(busy_worker):
    me = threading.get_ident()
    a, b = parallel.run_pair(lambda: ("a", threading.get_ident()),
                             lambda: ("b", threading.get_ident()), 2)
    assert a == ("a", me) and b == ("b", me)


def test_map_chunks_runs_unstarted_chunks_itself(busy_worker):
    me = threading.get_ident()
    out = parallel.map_chunks(lambda i: (i, threading.get_ident()), 5, 2)
    assert out == [(i, me) for i in range(5)]


def test_map_chunks_order_and_errors_with_free_workers():
    assert parallel.map_chunks(lambda i: i * i, 7, 2) == [0, 1, 4, 9, 16, 25, 36]

    def boom(i):
        if i == 2:
            raise ValueError("chunk 2 failed")
        return i

    with pytest.raises(ValueError, match="chunk 2 failed"):
        parallel.map_chunks(boom, 4, 2)
    with pytest.raises(ValueError, match="chunk 2 failed"):
        parallel.run_pair(lambda: 1, lambda: boom(2), 2)


# ----------------------------------------------------------------------------- pairs
def test_sample_pairs_results_are_fresh_arrays():
    y = np.random.default_rng(0).standard_normal(50)
    i1, j1 = sample_pairs(y)
    a, b = np.triu_indices(50, 1)
    assert np.array_equal(i1, np.where(y[a] > y[b], b, a))
    assert np.array_equal(j1, np.where(y[a] > y[b], a, b))
    i1[:] = -1
    j1[:] = -1  # the caller owns what it gets: the next call is unaffected
    i2, j2 = sample_pairs(y)
    assert i2.min() >= 0 and j2.min() >= 0 and np.all(y[i2] < y[j2])
    # with a cap, the same generator state gives the same pairs every time
    p1 = sample_pairs(y, np.random.default_rng(3), 100)
    p2 = sample_pairs(y, np.random.default_rng(3), 100)
    assert all(np.array_equal(u, v) for u, v in zip(p1, p2)) and p1[0].size == 100
