"""Architecture disguises (DeepGuiser): weight-equivalent rewrites of trained networks.

:func:`disguise` turns a trained NB201 network into a different but functionally equivalent
one (same evaluation-mode outputs up to rounding) by rewriting cell ops with the legal
constructions of :data:`REWRITES`; :func:`max_abs_diff` checks the equivalence on real inputs.
:mod:`archmodel.disguise.cost` measures a disguise's overhead and draws random legal disguises
under a budget; :mod:`archmodel.disguise.attack` runs the transfer attack a disguise must
blunt (surrogate training, PGD, the victim's accuracy) and a disguise's benefit;
:mod:`archmodel.disguise.policy` learns which rewrites to apply (REINFORCE under a budget).

Examples
--------
>>> from archmodel.conv import build_nb201_network
>>> from archmodel.disguise import disguise, legal_targets
>>> net = build_nb201_network(["nor_conv_1x1", "none", "skip_connect", "nor_conv_3x3",
...                            "avg_pool_3x3", "none"], C=4, N=1, in_channels=1, input_size=8, rng=0)
>>> legal_targets("skip_connect")
['conv_bn_1x1', 'conv_bn_3x3', 'conv_bn_5x5']
>>> d = disguise(net, {0: "nor_conv_3x3", 2: "conv_bn_3x3", 5: "nor_conv_1x1"})
>>> d.arch_string
'|nor_conv_3x3~0|+|none~0|conv_bn_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_1x1~2|'
"""
from __future__ import annotations

from archmodel.disguise.transforms import (
    CONSTRUCTIONS,
    REWRITES,
    Rewrite,
    check_rewrite,
    disguise,
    disguise_plan,
    legal_targets,
    max_abs_diff,
)

__all__ = ["CONSTRUCTIONS", "REWRITES", "Rewrite", "check_rewrite", "disguise", "disguise_plan",
           "legal_targets", "max_abs_diff"]
