"""One-shot architecture estimation: a weight-sharing NAS-Bench-201 supernet on the conv engine.

* :mod:`archmodel.supernet.cell`: :class:`SharedCell`, a cell whose edges take their
  operation parameters from shared blocks;
* :mod:`archmodel.supernet.network`: :func:`build_supernet`, the NB201 skeleton around them;
* :mod:`archmodel.supernet.train`: :class:`SupernetTrainer`, single-path training with
  uniformly sampled architectures, resumable from its checkpoint file;
* :mod:`archmodel.supernet.evaluate`: one-shot scores (accuracy and negative loss with
  inherited weights, batch norm recalibrated per candidate).

See ``docs/supernet.md``.
"""
from archmodel.supernet.cell import PARAMETRISED_OPS, SharedCell, share_layer
from archmodel.supernet.network import Supernet, build_supernet

__all__ = ["PARAMETRISED_OPS", "SharedCell", "Supernet", "build_supernet", "share_layer"]
