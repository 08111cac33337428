"""Zero-cost proxies: every proxy against an independent hand or finite-difference value."""
from __future__ import annotations

import numpy as np
import pytest

from archmodel.conv import BatchNorm2d, Conv2d, Linear, ReLU, build_nb201_network
from archmodel.errors import FormatError, ParameterError
from archmodel import zeroshot as zs

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
OPS = zs.resolve_ops(ARCH)


def tiny(rng: int = 1, dtype=np.float64):
    return build_nb201_network(OPS, C=1, N=1, input_size=4, dtype=dtype, rng=rng, backend="numpy")


@pytest.fixture(scope="module")
def batch():
    x, y = zs.make_batch("random", 4, input_size=4, rng=2, dtype=np.float64)
    return x, y


def loss_of(net, x, y):
    logits = net.forward(x, train=True)
    net.body.clear_cache()
    net._ctx = None
    return net.loss(logits, y)[0]


def fd_weight_grads(net, x, y, h=1e-6):
    """d loss / d W of every conv/linear weight by central differences of the loss."""
    out = {}
    for name, layer in net.layers((Conv2d, Linear)).items():
        w = layer.params["weight"]
        g = np.zeros_like(w)
        flat, gf = w.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + h
            lp = loss_of(net, x, y)
            flat[i] = old - h
            lm = loss_of(net, x, y)
            flat[i] = old
            gf[i] = (lp - lm) / (2 * h)
        out[name] = (w.copy(), g)
    return out


@pytest.fixture(scope="module")
def fd_grads(batch):
    return fd_weight_grads(tiny(), *batch)


def test_grad_norm_snip_plain_match_finite_differences(batch, fd_grads):
    x, y = batch
    net = tiny()
    want_norm = sum(np.linalg.norm(g) for _, g in fd_grads.values())
    want_snip = sum(np.abs(w * g).sum() for w, g in fd_grads.values())
    want_plain = sum((w * g).sum() for w, g in fd_grads.values())
    assert zs.grad_norm(net, x, y) == pytest.approx(want_norm, rel=1e-6)
    assert zs.snip(net, x, y) == pytest.approx(want_snip, rel=1e-6)
    assert zs.plain(net, x, y) == pytest.approx(want_plain, rel=1e-5, abs=1e-9)


def test_proxies_leave_the_network_unchanged(batch):
    x, y = batch
    net = tiny()
    before = {k: v.copy() for k, v in net.state_dict().items()}
    for f in (zs.grad_norm, zs.grasp, zs.fisher, zs.jacob_cov, zs.nwot, zs.synflow, zs.flops):
        f(net, x, y)
    after = net.state_dict()
    for k, v in before.items():
        np.testing.assert_array_equal(np.asarray(after[k]), v, err_msg=k)
    assert all(not np.any(g) for g in net.gradients().values())


def test_grasp_matches_hessian_vector_product_along_theta(batch):
    """-W.(H g) computed the other way round: g . d(grad L)/ds along W (H is symmetric)."""
    x, y = batch
    net = tiny()
    got = zs.grasp(net, x, y)
    layers = net.layers((Conv2d, Linear))
    net.loss_and_grad(x, y)
    g = {k: l.grads["weight"].copy() for k, l in layers.items()}
    th = {k: l.params["weight"].copy() for k, l in layers.items()}

    def grads_at(s):
        for k, l in layers.items():
            l.params["weight"][...] = th[k] * (1 + s)
        net.loss_and_grad(x, y)
        return {k: l.grads["weight"].copy() for k, l in layers.items()}

    h = 1e-5
    a, b = grads_at(h), grads_at(-h)
    want = -sum((g[k] * (a[k] - b[k]) / (2 * h)).sum() for k in g)
    assert got == pytest.approx(want, rel=1e-4)
    assert got != 0.0


def test_fisher_matches_finite_differences_of_scaled_outputs(batch):
    """g_nk = sum_hw a * dL/da = dL/dt when channel k of image n of the layer output is
    scaled by (1 + t); fisher = sum_layers sum_k 0.5 mean_n g_nk^2 * C_in kh kw."""
    x, y = batch
    net = tiny()
    got = zs.fisher(net, x, y)
    want = 0.0
    h = 1e-6
    for name, layer in net.layers((Conv2d, Linear)).items():
        orig = type(layer)._forward
        scale = {}

        def fwd(xin, ctx, _layer=layer, _orig=orig):
            out = _orig(_layer, xin, ctx)
            if scale:
                (n, k), t = next(iter(scale.items()))
                out = out.copy()
                out[n, k] *= 1 + t
            return out

        layer._forward = fwd
        w = layer.params["weight"]
        g = np.zeros((x.shape[0], w.shape[0]))
        for n in range(x.shape[0]):
            for k in range(w.shape[0]):
                scale.clear()
                scale[(n, k)] = h
                lp = loss_of(net, x, y)
                scale[(n, k)] = -h
                lm = loss_of(net, x, y)
                g[n, k] = (lp - lm) / (2 * h)
        scale.clear()
        del layer._forward
        want += (0.5 * (g ** 2).mean(axis=0)).sum() * np.prod(w.shape[1:])
    assert got == pytest.approx(want, rel=1e-5)


def test_jacob_cov_matches_finite_difference_jacobian(batch):
    x, y = batch
    net = tiny()
    got = zs.jacob_cov(net, x)
    h = 1e-6
    jac = np.zeros_like(x)
    flat, jf = x.copy().reshape(-1), jac.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        lp = net.forward(flat.reshape(x.shape), train=True).sum()
        flat[i] = old - h
        lm = net.forward(flat.reshape(x.shape), train=True).sum()
        flat[i] = old
        jf[i] = (lp - lm) / (2 * h)
    net.body.clear_cache()
    jac = jac.reshape(x.shape[0], -1)
    corr = np.corrcoef(jac)
    v = np.linalg.eigvals(corr).real
    want = -np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5))
    assert got == pytest.approx(want, rel=1e-5)


def test_nwot_matches_pairwise_agreement_counts(batch):
    x, y = batch
    net = tiny()
    codes = [c.reshape(x.shape[0], -1) > 0
             for c in net.activations(x, kind=ReLU, inputs=True).values()]
    assert codes, "the tiny network has ReLUs"
    code = np.concatenate(codes, axis=1)
    n = x.shape[0]
    K = np.array([[np.sum(code[i] == code[j]) for j in range(n)] for i in range(n)], float)
    assert zs.nwot(tiny(), x) == pytest.approx(np.log(abs(np.linalg.det(K))), rel=1e-10)


def test_synflow_matches_finite_differences_on_linearised_network():
    """BN made the identity independently (eval mode, running mean 0, var 1 - eps, |gamma|
    = 1, beta = 0); R = sum of logits for an all-ones image; score sum |W dR/dW|."""
    net = tiny(rng=3)
    got = zs.synflow(net)
    ref = tiny(rng=3)
    for p in ref.parameters().values():
        np.abs(p, out=p)
    for bn in ref.layers(BatchNorm2d).values():
        bn.buffers["running_mean"][...] = 0.0
        bn.buffers["running_var"][...] = 1.0 - bn.eps
        bn.params["weight"][...] = 1.0
        bn.params["bias"][...] = 0.0
    ones = np.ones((1, 3, 4, 4))

    def R():
        out = ref.forward(ones, train=False).sum()
        ref.body.clear_cache()
        return out

    want = 0.0
    h = 1e-5
    for layer in ref.layers((Conv2d, Linear)).values():
        w = layer.params["weight"].reshape(-1)
        for i in range(w.size):
            old = w[i]
            w[i] = old + h
            rp = R()
            w[i] = old - h
            rm = R()
            w[i] = old
            want += abs(old * (rp - rm) / (2 * h))
    assert got == pytest.approx(want, rel=1e-6)
    assert got > 0


def test_params_and_flops_by_hand():
    # C=2, N=0: stem conv 3->2 (3x3) + 2 reduction blocks + classifier, on 8x8 images
    net = build_nb201_network(OPS, C=2, N=0, input_size=8, rng=0, backend="numpy")
    stem = 8 * 8 * 2 * 3 * 9
    red1 = 4 * 4 * 4 * 2 * 9 + 4 * 4 * 4 * 4 * 9 + 4 * 4 * 4 * 2   # conv_a, conv_b, shortcut
    red2 = 2 * 2 * 8 * 4 * 9 + 2 * 2 * 8 * 8 * 9 + 2 * 2 * 8 * 4
    lin = 8 * 10 + 10
    assert zs.flops(net) == pytest.approx((stem + red1 + red2 + lin) / 1e6)
    n_params = (3 * 2 * 9 + 2 * 2 + (2 * 4 * 9 + 8 + 4 * 4 * 9 + 8 + 2 * 4)
                + (4 * 8 * 9 + 16 + 8 * 8 * 9 + 16 + 4 * 8) + 2 * 8 + 8 * 10 + 10)
    assert zs.params(net) == pytest.approx(n_params / 1e6)


def test_params_equal_naslib_column(data_dir, monkeypatch):
    monkeypatch.setenv("ARCHMODEL_DATA_DIR", str(data_dir))
    from archmodel.data import load_dataset

    ds = load_dataset("zc/nb201")
    for i in range(5):
        net = build_nb201_network(zs.resolve_ops(ds.archs[i]), rng=0)
        assert zs.params(net) == pytest.approx(float(ds.low_fidelity["params"][i]), abs=1e-6)


def test_compute_proxies_shares_passes_but_matches_single_functions():
    rng_seed = 7
    got = zs.compute_proxies(ARCH, "all", C=2, N=1, input_size=8, batch=4, data="random",
                             rng=rng_seed, backend="numpy", dtype=np.float64)
    assert list(got) == list(zs.PROXIES)
    gen = np.random.default_rng(rng_seed)
    init_seed, batch_seed = (int(s) for s in gen.integers(0, 2**63 - 1, size=2))
    net = build_nb201_network(OPS, C=2, N=1, input_size=8, dtype=np.float64, rng=init_seed,
                              backend="numpy")
    x, y = zs.make_batch("random", 4, input_size=8, rng=batch_seed, dtype=np.float64)
    for p in zs.PROXIES:
        assert got[p] == pytest.approx(getattr(zs, p)(net, x, y), rel=1e-9), p
    # same seed -> same values (init and batch drawn from it)
    again = zs.compute_proxies(OPS, ["nwot", "synflow"], C=2, N=1, input_size=8, batch=4,
                               data="random", rng=rng_seed, backend="numpy", dtype=np.float64)
    assert again == {"nwot": got["nwot"], "synflow": got["synflow"]}


def test_jacob_cov_is_nan_when_output_ignores_input():
    ops = ["none"] * 6
    got = zs.compute_proxies(ops, ["jacob_cov", "nwot"], C=2, N=1, input_size=8, batch=4,
                             data="random", rng=0, backend="numpy")
    assert np.isnan(got["jacob_cov"])


def test_parse_proxies_errors():
    assert zs.parse_proxies("params, jacov") == ("params", "jacob_cov")
    with pytest.raises(ParameterError, match="unknown proxy 'foo'"):
        zs.parse_proxies("params,foo")
    with pytest.raises(ParameterError, match="listed twice"):
        zs.parse_proxies(["snip", "snip"])


def test_score_file_refuses_foreign_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(FormatError, match="not an archmodel zeroshot score file"):
        zs.score_file([ARCH], p, proxies="params", C=2, N=1, input_size=8, batch=4)
