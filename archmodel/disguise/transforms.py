"""Weight-equivalent rewrites of the ops of a trained NB201 network (DeepGuiser's transforms).

A rewrite replaces the op of one cell edge (in every cell of the network, as a cell genotype
changes) by another op whose new weights are built from the old ones so that the network's
evaluation-mode outputs do not change. The registry :data:`REWRITES` lists every ordered pair of
ops of :data:`archmodel.conv.nb201.EXTENDED_OPS`: each is either legal, with the construction
that makes it exact, or refused, with the reason.

Legal constructions
-------------------
``pad_kernel``
    ``nor_conv_kxk`` -> ``nor_conv_k'xk'`` and ``conv_bn_kxk`` -> ``conv_bn_k'xk'`` for
    ``k' > k``: the kernel is zero-padded around its centre (padding ``k'//2`` keeps the output
    size); batch norm is copied. Every output sums the same products plus exact zeros.
``zero_conv``
    ``none`` -> any convolution op: zero weights, batch-norm ``beta = 0`` and
    ``running_mean = 0`` (``gamma`` and ``running_var`` keep their defaults), so the op
    outputs exactly 0 in evaluation mode and adds nothing to its node.
``dirac``
    ``skip_connect`` -> ``conv_bn_kxk``: a Dirac kernel (1 at the centre tap of channel c -> c)
    and a batch norm that is the identity in evaluation mode (``running_mean = beta = 0``,
    ``gamma = sqrt(running_var + eps)``): the scale is 1 up to one rounding of the statistics.

Everything else is refused (see :data:`REWRITES` for the reason of each pair): a convolution
cannot become ``none``, ``skip_connect`` or pooling (it computes a learned function); a kernel
cannot shrink (its outer taps are in general nonzero); ``skip_connect`` -> ``nor_conv_kxk``
fails because the leading ReLU clips the negative values an identity must pass; a
``nor_conv`` <-> ``conv_bn`` change adds or removes that ReLU; ``avg_pool_3x3`` excludes the
padding from its divisor (``count_include_pad=False``), so border outputs divide by 4 or 6 taps
while a convolution's weights are the same at every position.

Equivalence holds in evaluation mode (running batch-norm statistics), the mode of a deployed
network; in training mode batch statistics would differ.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from archmodel.errors import InvalidArchitectureError, ParameterError

__all__ = ["Rewrite", "REWRITES", "legal_targets", "check_rewrite", "disguise", "max_abs_diff",
           "disguise_plan"]


@dataclass(frozen=True)
class Rewrite:
    """One ordered pair of ops: legal (``construction``) or refused (``reason``)."""

    source: str
    target: str
    construction: str | None
    reason: str

    @property
    def legal(self) -> bool:
        return self.construction is not None


def _classify(src: str, tgt: str) -> tuple[str | None, str]:
    from archmodel.conv.nb201 import op_kernel_size

    ks, kt = op_kernel_size(src), op_kernel_size(tgt)
    if src == "avg_pool_3x3":
        return None, ("avg_pool_3x3 excludes the padding from its divisor (count_include_pad=False): "
                      "border outputs divide by 4 or 6 taps, inner ones by 9, while a convolution "
                      "applies the same weights everywhere; the rewrite is not offered")
    if src == "none":
        if kt is not None:
            return "zero_conv", "a convolution with zero weights and beta = running_mean = 0 outputs 0"
        return None, f"{tgt} cannot output zero for every input"
    if src == "skip_connect":
        if tgt.startswith("conv_bn_"):
            return "dirac", "a Dirac kernel and an identity batch norm compute the identity"
        if tgt.startswith("nor_conv_"):
            return None, (f"{tgt} starts with a ReLU, which clips the negative values an identity "
                          "must pass; use conv_bn_kxk (Conv-BN without the ReLU)")
        return None, f"{tgt} is not the identity"
    # src is a convolution op
    if kt is None:
        return None, f"{src} computes a learned function that {tgt} cannot"
    if src[:-3] != tgt[:-3]:
        return None, (f"{src} -> {tgt} adds or removes the leading ReLU, which changes the output "
                      "for negative inputs")
    if kt < ks:
        return None, f"a {ks}x{ks} kernel cannot shrink to {kt}x{kt}: its outer taps are in general nonzero"
    return "pad_kernel", f"the {ks}x{ks} kernel zero-padded to {kt}x{kt}"


def _registry() -> dict[tuple[str, str], Rewrite]:
    from archmodel.conv.nb201 import EXTENDED_OPS

    out = {}
    for s in EXTENDED_OPS:
        for t in EXTENDED_OPS:
            if s != t:
                construction, reason = _classify(s, t)
                out[(s, t)] = Rewrite(s, t, construction, reason)
    return out


#: Every ordered pair of distinct ops -> :class:`Rewrite` (legal with a construction, or refused).
REWRITES: dict[tuple[str, str], Rewrite] = _registry()


def legal_targets(op: str) -> list[str]:
    """The ops that ``op`` can be rewritten to exactly (``op`` itself excluded)."""
    return [t for (s, t), r in REWRITES.items() if s == op and r.legal]


def check_rewrite(source: str, target: str, where: str = "") -> Rewrite:
    """The legal :class:`Rewrite` ``source -> target``; raise if it is refused or unknown."""
    r = REWRITES.get((source, target))
    if r is None:
        from archmodel.conv.nb201 import EXTENDED_OPS

        raise ParameterError(f"{where}unknown rewrite {source!r} -> {target!r}; ops are {list(EXTENDED_OPS)}")
    if not r.legal:
        raise InvalidArchitectureError(
            f"{where}{source} -> {target} is not weight-equivalent: {r.reason}. "
            f"Legal targets of {source}: {legal_targets(source) or 'none'}")
    return r


# --------------------------------------------------------------------------- constructions
def _child(seq: Any, name: str) -> Any:
    return dict(seq.children())[name]


def _pad_kernel(old: Any, new: Any) -> None:
    w = _child(old, "conv").params["weight"]
    k, kn = w.shape[-1], _child(new, "conv").params["weight"].shape[-1]
    off = (kn - k) // 2
    nw = np.zeros(w.shape[:2] + (kn, kn), dtype=w.dtype)
    nw[:, :, off:off + k, off:off + k] = w
    _child(new, "conv").params["weight"][...] = nw
    _copy_bn(_child(old, "bn"), _child(new, "bn"))


def _copy_bn(old: Any, new: Any) -> None:
    for d in ("params", "buffers"):
        for key, v in getattr(old, d).items():
            getattr(new, d)[key][...] = v


def _zero_conv(old: Any, new: Any) -> None:
    _child(new, "conv").params["weight"][...] = 0
    bn = _child(new, "bn")
    bn.params["bias"][...] = 0
    bn.buffers["running_mean"][...] = 0


def _dirac(old: Any, new: Any) -> None:
    conv, bn = _child(new, "conv"), _child(new, "bn")
    w = conv.params["weight"]
    w[...] = 0
    c = w.shape[-1] // 2
    idx = np.arange(w.shape[0])
    w[idx, idx, c, c] = 1
    bn.buffers["running_mean"][...] = 0
    bn.params["bias"][...] = 0
    # the eval kernel multiplies by gamma / sqrt(running_var + eps) computed in float64
    rv = bn.buffers["running_var"].astype(np.float64)
    bn.params["weight"][...] = np.sqrt(rv + bn.eps)


CONSTRUCTIONS: dict[str, Callable[[Any, Any], None]] = {
    "pad_kernel": _pad_kernel, "zero_conv": _zero_conv, "dirac": _dirac}


# --------------------------------------------------------------------------- networks
def disguise_plan(ops: Sequence[str], targets: Sequence[str] | Mapping[int, str]) -> tuple[str, ...]:
    """The disguised cell: ``targets`` as 6 op names, or ``{edge index: op}`` for the edges
    that change; every changed edge checked against :data:`REWRITES`."""
    from archmodel.conv.nb201 import EXTENDED_OPS, NB201_EDGES, check_ops

    ops = check_ops(ops, EXTENDED_OPS)
    if isinstance(targets, Mapping):
        new = list(ops)
        for e, t in targets.items():
            if isinstance(e, bool) or not isinstance(e, (int, np.integer)) or not 0 <= int(e) < 6:
                raise ParameterError(f"a disguise plan's keys are edge indices 0..5; got {e!r}")
            new[int(e)] = t
    else:
        new = list(check_ops(targets, EXTENDED_OPS))
    new_t = check_ops(new, EXTENDED_OPS)
    for e, (s, t) in enumerate(zip(ops, new_t)):
        if s != t:
            check_rewrite(s, t, f"edge {e} {NB201_EDGES[e]}: ")
    return new_t


def disguise(net: Any, targets: Sequence[str] | Mapping[int, str]) -> Any:
    """A new network, weight-equivalent to ``net``, whose cells use the disguised ops.

    Parameters
    ----------
    net : archmodel.conv.Network
        A NAS-Bench-201 network (``kind == 'nb201'``), trained or not; it is not modified.
    targets : sequence of 6 str or mapping int -> str
        The disguised cell (see :func:`disguise_plan`).

    Returns
    -------
    archmodel.conv.Network
        Same config except ``ops``; every parameter and buffer copied, the rewritten edges
        built by their constructions. Its evaluation-mode outputs equal ``net``'s up to
        rounding (:func:`max_abs_diff`).

    Raises
    ------
    InvalidArchitectureError
        A refused rewrite (the message says why and lists the legal targets).
    ParameterError
        ``net`` is not an NB201 network, or a malformed plan.
    """
    from archmodel.conv.nb201 import NB201Cell, build_nb201_network

    if getattr(net, "kind", None) != "nb201":
        raise ParameterError(f"disguise needs an NB201 network (kind 'nb201'); got kind {getattr(net, 'kind', None)!r}")
    ops = tuple(net.config["ops"])
    new_ops = disguise_plan(ops, targets)
    cfg = {k: v for k, v in net.config.items() if k != "ops"}
    new = build_nb201_network(new_ops, rng=0, backend=net.backend, **cfg)
    old_state = net.state_dict()
    own = new.state_dict()
    new.load_state_dict({k: (old_state[k] if k in old_state and old_state[k].shape == v.shape else v)
                         for k, v in own.items()})
    old_cells = [m for m in net.modules() if isinstance(m, NB201Cell)]
    new_cells = [m for m in new.modules() if isinstance(m, NB201Cell)]
    for oc, nc in zip(old_cells, new_cells):
        for e, (key, s, t) in enumerate(zip(oc.edges, ops, new_ops)):
            if s != t:
                CONSTRUCTIONS[REWRITES[(s, t)].construction](oc.edges[key], nc.edges[key])
    new.zero_grad()
    return new


def max_abs_diff(a: Any, b: Any, x: np.ndarray, *, batch_size: int = 256) -> float:
    """``max |a(x) - b(x)|`` of the evaluation-mode logits of two networks on images ``x``."""
    return float(np.max(np.abs(a.predict(x, batch_size=batch_size).astype(np.float64)
                               - b.predict(x, batch_size=batch_size).astype(np.float64))))
