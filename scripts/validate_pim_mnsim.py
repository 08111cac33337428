"""Validate archmodel's PIM simulator against MNSIM 2.0, run side by side on this machine.

MNSIM 2.0 (thu-nics/MNSIM-2.0) is *not* a dependency of archmodel or of its tests: this script
runs only where a checkout of MNSIM is given by path, with a Python that has PyTorch and NumPy
(a scratch virtual environment outside the repository)::

    python -m venv /tmp/mnsim-venv && /tmp/mnsim-venv/bin/pip install torch numpy
    python scripts/validate_pim_mnsim.py --mnsim /tmp/mnsim --mnsim-python /tmp/mnsim-venv/bin/python \\
        --images 100 --draws 20 --draw-images 4 --output /tmp/pim_vs_mnsim.json

Every MNSIM figure it prints is measured by MNSIM in the same run (its own code, imported from
``--mnsim``, called in a subprocess with ``--mnsim-python``); the report records MNSIM's commit
(``--mnsim-commit`` or ``git rev-parse`` in ``--mnsim``), the PyTorch version, the machine and
the date. What it compares (docs/pim.md, "Validation against MNSIM 2.0"):

1. *cost model* (VGG-8, MNSIM's ``SimConfig.ini``): crossbars, latency, energy, area and peak
   power of MNSIM's ``TCG`` / ``Model_latency(mode=1)`` / ``Model_area`` /
   ``Model_inference_power`` / ``Model_energy`` against ``archmodel.pim.simulate("vgg8",
   "mnsim-default")``, and the time of each;
2. *functional simulation, ideal devices*: MNSIM's VGG-8 (``network.get_net``) with PyTorch's
   default random initialisation (seed ``--seed``), calibrated by MNSIM's own ``FIX_TRAIN``
   forward pass on ``--calibration`` images, then its crossbar pass (``set_weights_forward``,
   ``adc_action='SCALE'``) on ``--images`` images. archmodel takes MNSIM's float weights and
   scales, quantises the weights itself (``quantize_symmetric(..., precision='float32')``,
   MNSIM's arithmetic; the report also counts the integers that archmodel's default float64
   quantiser would give differently) and runs each Conv/Linear on its crossbars under
   ``adc_rule='mnsim'`` (:func:`archmodel.pim.functional.mnsim_adc`):
   (a) layer by layer, on the input MNSIM's layer received; (b) end to end, with the digital
   layers between (batch norm, its output quantisation, ReLU, max pooling) written here in
   NumPy after MNSIM's ``StraightLayer``; reported: max relative difference per layer
   (``max |a - m| / max |m|``), elements that differ, top-1 agreement;
3. *variation*: MNSIM's ``weight_update(is_Variation=1, is_SAF=0)`` against archmodel's
   ``variation_model='mnsim'`` (``device.variation.scope``), ``--draws`` draws each on
   ``--draw-images`` images: mean and standard deviation of every logit over the draws.

Images: scikit-learn's 8x8 digits (real images), upsampled 4x to 32x32 and repeated over 3
channels, values in [0, 1] (MNSIM's input scale is 1/255). The weights are random, so top-1
agreement measures agreement between the simulators, not accuracy.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

T9 = 255  # 2**(9 - 1) - 1: MNSIM's 9-bit activations


# ============================================================================================
# the MNSIM side (runs under --mnsim-python, imports torch and MNSIM)
# ============================================================================================
def _mnsim_side(args: argparse.Namespace) -> None:
    import torch

    sys.path.insert(0, args.mnsim)
    from MNSIM.Interface import quantize
    from MNSIM.Interface.interface import TrainTestInterface

    torch.set_num_threads(args.threads)
    cfg = os.path.join(args.mnsim, "SimConfig.ini")
    data = np.load(args.data)
    out: dict[str, np.ndarray] = {}
    meta: dict = {"torch": torch.__version__}

    if args.cost:
        from MNSIM.Area_Model.Model_Area import Model_area
        from MNSIM.Energy_Model.Model_energy import Model_energy
        from MNSIM.Latency_Model.Model_latency import Model_latency
        from MNSIM.Mapping_Model.Tile_connection_graph import TCG
        from MNSIM.Power_Model.Model_inference_power import Model_inference_power

        with contextlib.redirect_stdout(io.StringIO()) as log:
            t0 = time.perf_counter()
            iface = TrainTestInterface("vgg8", "MNSIM.Interface.cifar10", cfg, None, None)
            struct = iface.get_structure()
            tcg = TCG(struct, cfg)
            t1 = time.perf_counter()
            lat = Model_latency(NetStruct=struct, SimConfig_path=cfg, TCG_mapping=tcg)
            lat.calculate_model_latency(mode=1)
            area = Model_area(NetStruct=struct, SimConfig_path=cfg, TCG_mapping=tcg)
            power = Model_inference_power(NetStruct=struct, SimConfig_path=cfg, TCG_mapping=tcg)
            energy = Model_energy(NetStruct=struct, SimConfig_path=cfg, TCG_mapping=tcg,
                                  model_latency=lat, model_power=power)
            t2 = time.perf_counter()
        xbars = [int(line.split(":")[1]) for line in log.getvalue().splitlines()
                 if line.startswith("Total crossbar number")]
        meta["cost"] = {"crossbars": xbars[0] if xbars else None,
                        "latency_ns": float(max(max(lat.finish_time))),
                        "energy_nj": float(energy.arch_total_energy),
                        "area_um2": float(area.arch_total_area),
                        "peak_power_w": float(power.arch_total_power),
                        "mapping_s": t1 - t0, "hardware_model_s": t2 - t1}

    torch.manual_seed(args.seed)
    with contextlib.redirect_stdout(io.StringIO()):
        iface = TrainTestInterface("vgg8", "MNSIM.Interface.cifar10", cfg, None, None)
    net = iface.net
    net.eval()
    cal = torch.from_numpy(data["calibration"])
    with torch.no_grad():
        net(cal, "FIX_TRAIN", "SCALE")                       # MNSIM's calibration pass
    kinds, qidx, bnidx = [], [], []
    for i, layer in enumerate(net.layer_list):
        cfgl = layer.layer_config
        kinds.append(cfgl["type"] if cfgl["type"] != "pooling" else f"pool{cfgl['mode']}{cfgl['kernel_size']}")
        if isinstance(layer, quantize.QuantizeLayer):
            qidx.append(i)
        elif cfgl["type"] == "bn":
            bnidx.append(i)
    meta["layers"] = kinds
    meta["padding"] = [int(net.layer_list[i].layer_config.get("padding", 0)) for i in qidx]
    meta["stride"] = [int(net.layer_list[i].layer_config.get("stride", 1)) for i in qidx]
    bit_weights = net.get_weights()
    for n, i in enumerate(qidx):
        layer = net.layer_list[i]
        w = torch.cat([l.weight.detach() for l in layer.sublayer_list], dim=1).numpy()
        out[f"q{n}_w"] = w
        out[f"q{n}_scales"] = np.array([layer.bit_scale_list[1, 1].item(), layer.bit_scale_list[0, 1].item(),
                                        layer.last_value.item()])
        # MNSIM's integer weights, rebuilt from its bit slices (get_bit_weights)
        bw = bit_weights[i]
        parts = []
        for c in range(len(layer.sublayer_list)):
            tot = 0
            for j in range(8):
                tot = tot + (bw[f"split{c}_weight{j}_positive"] - bw[f"split{c}_weight{j}_negative"]) * 2 ** j
            parts.append(tot)
        out[f"q{n}_wint"] = np.concatenate(parts, axis=1).astype(np.int16)
    for n, i in enumerate(bnidx):
        bn = net.layer_list[i].layer
        out[f"bn{n}_params"] = np.stack([bn.weight.detach().numpy(), bn.bias.detach().numpy(),
                                         bn.running_mean.numpy(), bn.running_var.numpy()])
        out[f"bn{n}_cal"] = np.array([net.layer_list[i].last_value.item(), bn.eps])
    cal_bn = [net.layer_list[i].last_value.clone() for i in bnidx]

    # record every crossbar layer's input and output, every batch-norm scale used
    rec: dict = {}

    def wrap_q(layer, n):
        orig = layer.set_weights_forward

        def f(inp, bw, act):
            y = orig(inp, bw, act)
            if rec.get("on"):
                rec[f"q{n}_x"] = inp.detach().numpy().copy()
                rec[f"q{n}_y"] = y.detach().numpy().copy()
            return y
        layer.set_weights_forward = f

    def wrap_bn(layer, n):
        orig = layer.forward

        def f(inp, method="SINGLE_FIX_TEST", adc_action="SCALE"):
            y = orig(inp, method, adc_action)
            rec[f"bn{n}_used"] = layer.last_value.item()
            return y
        layer.forward = f

    for n, i in enumerate(qidx):
        wrap_q(net.layer_list[i], n)
    for n, i in enumerate(bnidx):
        wrap_bn(net.layer_list[i], n)

    def restore_bn():
        for i, v in zip(bnidx, cal_bn):
            net.layer_list[i].last_value.data.copy_(v)

    x = torch.from_numpy(data["test"])
    rec["on"] = True
    with torch.no_grad():
        t0 = time.perf_counter()
        logits = net.set_weights_forward(x, bit_weights, "SCALE")
        meta["pim_s_per_image"] = (time.perf_counter() - t0) / x.shape[0]
    rec["on"] = False
    out["logits"] = logits.numpy()
    for k, v in rec.items():
        if k != "on":
            out[k] = np.asarray(v)

    if args.draws:
        from MNSIM.Accuracy_Model.Weight_update import weight_update

        xv = torch.from_numpy(data["draw"])
        draws, t_draw = [], 0.0
        np.random.seed(args.seed)
        for d in range(args.draws):
            restore_bn()
            w2 = weight_update(cfg, net.get_weights(), is_SAF=0, is_Variation=1, is_Rratio=0)
            t0 = time.perf_counter()
            with torch.no_grad():
                draws.append(net.set_weights_forward(xv, w2, "SCALE").numpy())
            t_draw += time.perf_counter() - t0
        out["draw_logits"] = np.stack(draws)
        meta["variation_s_per_image"] = t_draw / (args.draws * xv.shape[0])
    restore_bn()
    out["meta"] = np.array(json.dumps(meta))
    np.savez(args.output, **out)


# ============================================================================================
# the archmodel side
# ============================================================================================
def _images(n_cal: int, n_test: int, n_draw: int) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    x = load_digits().images / 16.0                          # (1797, 8, 8) in [0, 1]
    x = np.kron(x, np.ones((1, 4, 4)))[:, None].repeat(3, axis=1).astype(np.float32)
    return {"calibration": x[:n_cal], "test": x[n_cal:n_cal + n_test], "draw": x[n_cal:n_cal + n_draw]}


def _q_act(h: np.ndarray, scale: float) -> np.ndarray:
    """MNSIM's activation quantisation (``QuantizeFunction``), in float32 as PyTorch computes it."""
    return _q_range_units(h.astype(np.float32) / np.float32(scale), scale)


def _q_range_units(u: np.ndarray, scale: float) -> np.ndarray:
    """The same from values ``u`` already in units of ``scale`` (float32; the end of
    ``set_weights_forward``)."""
    s = np.float32(scale)
    code = np.clip(np.rint(u * np.float32(T9)), -T9, T9)
    return (code * s) / np.float32(T9)


class _ArchVGG:
    """MNSIM's VGG-8 with archmodel's crossbars for the Conv/Linear layers."""

    def __init__(self, mn: dict, xb, backend: str) -> None:
        from archmodel.pim.functional import mnsim_adc, program_weights, quantize_symmetric, rows_per_chunk

        meta = json.loads(str(mn["meta"]))
        self.kinds = meta["layers"]
        self.xb, self.backend = xb, backend
        self.layers, self.int_mismatch, self.int_mismatch64 = [], [], []
        n = 0
        for kind in self.kinds:
            if kind not in ("conv", "fc"):
                continue
            w = mn[f"q{n}_w"].astype(np.float64)
            s_w, s_a, rng_out = (float(v) for v in mn[f"q{n}_scales"])
            wm = w.reshape(w.shape[0], -1).T
            # archmodel's own integers, in MNSIM's float32 arithmetic (and in float64, to report
            # how many the default precision would give differently)
            wm32 = mn[f"q{n}_w"].reshape(w.shape[0], -1).T
            q, _ = quantize_symmetric(wm32, xb.weight_bits, s_w, precision="float32")
            q64, _ = quantize_symmetric(wm, xb.weight_bits, s_w)
            q_m = mn[f"q{n}_wint"].reshape(w.shape[0], -1).T
            self.int_mismatch.append(int(np.sum(q != q_m)))
            self.int_mismatch64.append(int(np.sum(q64 != q_m)))
            k = w.shape[2] if kind == "conv" else 1
            rows = rows_per_chunk(kind, k, xb, f"layer {n}")
            prog = program_weights(q, xb, rows)
            used = rows if kind == "conv" else min(wm.shape[0], xb.rows)
            prog = mnsim_adc(prog, xb, rows_used=used, w_scale=s_w, a_scale=s_a, out_range=rng_out)
            if np.any(prog.adc_step != prog.adc_step[0]):  # crossbar() reads one step per layer
                raise ValueError(f"layer {n}: MNSIM's rule should give every row chunk the same ADC step")
            if kind == "conv" and meta["stride"][n] != 1:
                raise ValueError("only stride-1 convolutions are handled")
            self.layers.append({"kind": kind, "k": k, "pad": meta["padding"][n], "prog": prog, "s_w": s_w, "s_a": s_a, "range": rng_out, "n_out": w.shape[0]})
            n += 1
        self.bn = [(mn[f"bn{i}_params"], float(mn[f"bn{i}_cal"][0]), float(mn[f"bn{i}_cal"][1]))
                   for i in range(sum(1 for k in self.kinds if k == "bn"))]

    def crossbar(self, n: int, x: np.ndarray, cells=None) -> np.ndarray:
        """Layer ``n`` on archmodel's crossbars, output quantised to MNSIM's grid."""
        from archmodel.pim.functional import crossbar_matmul, im2col, quantize_inputs

        L = self.layers[n]
        q = quantize_inputs(x, self.xb.activation_bits, L["s_a"], precision="float32")
        nb = x.shape[0]
        if L["kind"] == "conv":
            oh = x.shape[2] + 2 * L["pad"] - L["k"] + 1
            q2 = im2col(q, L["k"], 1, L["pad"])
        else:
            q2 = q.reshape(nb, -1)
        acc = crossbar_matmul(q2, L["prog"], self.xb, cells, backend=self.backend)
        # MNSIM adds the ADC codes as code / 2**(t + shift), i.e. in units of the layer's range,
        # and quantises that sum (output_final * 255); archmodel's acc is the same sum in units
        # of one input level x one weight level (acc = codes * step, step = R / (s_w s_a 2**(E+t))).
        # Recover the exact integer sum of codes and form MNSIM's range-unit value from it:
        # going through real units instead (acc * s_a * s_w / R) rounds differently on ties.
        prog = L["prog"]
        codes = np.rint(acc / prog.adc_step[0])
        u = (codes / float(prog.adc_gain[0, 3])).astype(np.float32)
        if L["kind"] == "conv":
            u = u.reshape(nb, oh, oh, -1).transpose(0, 3, 1, 2)
        return _q_range_units(u, L["range"])

    def forward(self, x: np.ndarray, bn_scales=None, cells=None, record: list | None = None) -> np.ndarray:
        """End to end; ``bn_scales``: the scale of each batch norm's output quantisation (MNSIM's
        as used), or None for MNSIM's running rule from the calibrated value."""
        h = x.astype(np.float32)
        n = b = 0
        for kind in self.kinds:
            if kind in ("conv", "fc"):
                h = self.crossbar(n, h, None if cells is None else cells[n])
                if record is not None:
                    record.append(h)
                n += 1
            elif kind == "bn":
                p, cal, eps = self.bn[b]
                alpha = (p[0] / np.sqrt(p[3] + eps)).astype(np.float32)
                beta = (p[1] - p[2] * alpha).astype(np.float32)
                h = h * alpha[None, :, None, None] + beta[None, :, None, None]
                if bn_scales is not None:
                    s = bn_scales[b]
                else:  # MNSIM's QuantizeFunction: running value 0.707 old + 0.293 (3 std + |mean|)
                    s = 0.707 * cal + (1 - 0.707) * (3 * float(np.std(h, ddof=1)) + abs(float(np.mean(h))))
                h = _q_act(h, s)
                b += 1
            elif kind == "relu":
                h = np.maximum(h, 0)
            elif kind.startswith("poolMAX"):
                k = int(kind[7:])
                nb, c, hh, ww = h.shape
                h = h[:, :, :hh // k * k, :ww // k * k].reshape(nb, c, hh // k, k, ww // k, k).max(axis=(3, 5))
            elif kind == "view":
                h = h.reshape(h.shape[0], -1)
            elif kind == "dropout":
                pass
            else:
                raise ValueError(f"layer kind {kind!r} not handled")
        return h


def _rel(a: np.ndarray, m: np.ndarray) -> tuple[float, int]:
    a = np.asarray(a, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    scale = float(np.max(np.abs(m))) or 1.0
    d = np.abs(a - m)
    return float(d.max() / scale), int(np.sum(d > 1e-6 * scale))


def _machine() -> str:
    from archmodel.utils import hardware_summary

    return hardware_summary()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mnsim", required=True, help="path of a checkout of thu-nics/MNSIM-2.0")
    ap.add_argument("--mnsim-python", default=sys.executable, help="Python with torch and numpy for MNSIM")
    ap.add_argument("--mnsim-commit", default=None, help="MNSIM's commit, if --mnsim is not a git work tree")
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--calibration", type=int, default=64)
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--draw-images", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--no-cost", action="store_true")
    ap.add_argument("--output", default=None, help="write the report as JSON here")
    ap.add_argument("--keep-mnsim", default=None, help="also keep MNSIM's outputs (an .npz) here")
    ap.add_argument("--mnsim-side", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--cost", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.mnsim_side:
        _mnsim_side(args)
        return 0

    from archmodel.pim import simulate
    from archmodel.pim.functional import crossbar_model, sample_cells

    commit = args.mnsim_commit
    if commit is None:
        try:
            commit = subprocess.run(["git", "-C", args.mnsim, "rev-parse", "HEAD"], capture_output=True,
                                    text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            commit = "unknown"
    report: dict = {"mnsim": {"path": args.mnsim, "commit": commit}, "machine": _machine(),
                    "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "images": args.images, "calibration_images": args.calibration,
                    "draws": args.draws, "draw_images": args.draw_images, "seed": args.seed}
    with tempfile.TemporaryDirectory() as tmp:
        data_path, mn_path = os.path.join(tmp, "images.npz"), os.path.join(tmp, "mnsim.npz")
        images = _images(args.calibration, args.images, args.draw_images)
        np.savez(data_path, **images)
        cmd = [args.mnsim_python, os.path.abspath(__file__), "--mnsim-side", "--mnsim", os.path.abspath(args.mnsim),
               "--data", data_path, "--output", mn_path, "--seed", str(args.seed), "--draws", str(args.draws),
               "--threads", str(args.threads)] + ([] if args.no_cost else ["--cost"])
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=os.path.abspath(args.mnsim))
        report["mnsim_wall_s"] = time.perf_counter() - t0
        mn = dict(np.load(mn_path))
        if args.keep_mnsim:
            import shutil

            shutil.copyfile(mn_path, args.keep_mnsim)
    meta = json.loads(str(mn["meta"]))
    report["mnsim"]["torch"] = meta["torch"]

    if "cost" in meta:
        c = meta["cost"]
        t0 = time.perf_counter()
        r = simulate("vgg8", "mnsim-default")
        t_arch = time.perf_counter() - t0
        report["cost"] = {
            "mnsim": c, "archmodel": {"crossbars": r.crossbars, "latency_ns": r.latency_s * 1e9,
                                      "energy_nj": r.energy_j * 1e9, "area_um2": r.area_mm2 * 1e6,
                                      "peak_power_w": r.peak_power_w, "simulate_s": t_arch},
            "relative_difference": {k: abs(v - c[k]) / abs(c[k]) for k, v in (
                ("latency_ns", r.latency_s * 1e9), ("energy_nj", r.energy_j * 1e9),
                ("area_um2", r.area_mm2 * 1e6), ("peak_power_w", r.peak_power_w))}}

    xb = crossbar_model("mnsim-default", adc_rule="mnsim")
    model = _ArchVGG(mn, xb, args.backend)
    report["weight_integers_differing"] = model.int_mismatch
    report["weight_integers_differing_float64_quantiser"] = model.int_mismatch64
    # (a) layer by layer, on MNSIM's own inputs
    per_layer = []
    t0 = time.perf_counter()
    for n in range(len(model.layers)):
        a = model.crossbar(n, mn[f"q{n}_x"])
        rel, nd = _rel(a, mn[f"q{n}_y"])
        per_layer.append({"layer": n, "kind": model.layers[n]["kind"], "max_rel_diff": rel,
                          "elements_differing": nd, "elements": int(a.size)})
    report["layer_by_layer"] = per_layer
    report["archmodel_layers_s_per_image"] = (time.perf_counter() - t0) / args.images
    # (b) end to end, batch-norm scales as MNSIM used them
    rec: list = []
    bn_used = [float(mn[f"bn{i}_used"]) for i in range(len(model.bn))]
    t0 = time.perf_counter()
    logits = model.forward(images["test"], bn_used, record=rec)
    report["archmodel_end_to_end_s_per_image"] = (time.perf_counter() - t0) / args.images
    e2e = []
    for n, h in enumerate(rec):
        rel, nd = _rel(h, mn[f"q{n}_y"])
        e2e.append({"layer": n, "max_rel_diff": rel, "elements_differing": nd})
    report["end_to_end"] = {"layers": e2e, "top1_agreement": float(np.mean(
        np.argmax(logits, axis=1) == np.argmax(mn["logits"], axis=1))),
        "logits_max_rel_diff": _rel(logits, mn["logits"])[0]}
    report["mnsim_pim_s_per_image"] = meta["pim_s_per_image"]
    # (c) variation
    if args.draws:
        xv = images["draw"]
        xbv = crossbar_model("mnsim-default", adc_rule="mnsim", variation_model="mnsim", variation=0.01,
                             device__stuck_at_hrs_rate=0.0, device__stuck_at_lrs_rate=0.0)
        mv = _ArchVGG(mn, xbv, args.backend)
        rng = np.random.default_rng(args.seed)
        draws = []
        t0 = time.perf_counter()
        for _ in range(args.draws):
            cells = [sample_cells(L["prog"].levels, xbv, rng, chunk_bounds=L["prog"].chunk_bounds) for L in mv.layers]
            draws.append(mv.forward(xv, None, cells))
        t_var = time.perf_counter() - t0
        a, m = np.stack(draws).astype(np.float64), mn["draw_logits"].astype(np.float64)
        mean_a, mean_m, sd_a, sd_m = a.mean(0), m.mean(0), a.std(0, ddof=1), m.std(0, ddof=1)
        se = np.sqrt((sd_a ** 2 + sd_m ** 2) / args.draws)
        ratio = sd_a / np.where(sd_m > 0, sd_m, np.nan)
        # per logit: Welch's t-test of the means and the F-test of the variances, two-sided;
        # under "same distribution" each p-value is uniform, so about 1 % fall below 0.01
        from scipy import stats

        d = args.draws
        t_p = stats.ttest_ind(a, m, axis=0, equal_var=False).pvalue
        var_ratio = sd_a ** 2 / np.where(sd_m > 0, sd_m ** 2, np.nan)
        f_cdf = stats.f.cdf(var_ratio, d - 1, d - 1)
        f_p = 2 * np.minimum(f_cdf, 1 - f_cdf)
        lo, hi = np.sqrt(stats.f.ppf([0.005, 0.995], d - 1, d - 1))
        report["variation"] = {
            "sigma": 0.01, "logits": int(mean_a.size),
            "means_within_3_standard_errors": float(np.mean(np.abs(mean_a - mean_m) <= 3 * se + 1e-12)),
            "welch_t_p_below_0.01": float(np.mean(t_p < 0.01)),
            "f_test_p_below_0.01": float(np.nanmean(f_p < 0.01)),
            "std_ratio_99pct_interval_under_equal_spread": [float(lo), float(hi)],
            "pooled_std_ratio": float(np.sqrt(np.mean(sd_a ** 2) / np.mean(sd_m ** 2))),
            "std_ratio_archmodel_over_mnsim": {"median": float(np.nanmedian(ratio)), "min": float(np.nanmin(ratio)),
                                               "max": float(np.nanmax(ratio))},
            "mean_std_archmodel": float(sd_a.mean()), "mean_std_mnsim": float(sd_m.mean()),
            "top1_per_draw_archmodel": [np.argmax(d, axis=1).tolist() for d in a],
            "top1_per_draw_mnsim": [np.argmax(d, axis=1).tolist() for d in m],
            "archmodel_s_per_image": t_var / (args.draws * xv.shape[0]),
            "mnsim_s_per_image": meta.get("variation_s_per_image")}
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
