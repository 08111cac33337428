"""Understanding architectures: why a cell is good, and which edit would make it better.

* :class:`WLGaussianProcess`: a GP on the Weisfeiler-Lehman kernel (NAS-BOWL), with
  marginal-likelihood choice of the WL depth and expected improvement;
* :func:`motif_importance`: good and bad motifs from the gradient of the GP's posterior mean
  with respect to each WL feature (:mod:`archmodel.explain.motifs`);
* :func:`suggest_edits`: every single-decision edit of a cell ranked by a predictor's
  predicted gain (:mod:`archmodel.explain.edits`).
"""
from __future__ import annotations

from archmodel.explain.edits import suggest_edits
from archmodel.explain.gp import WLGaussianProcess
from archmodel.explain.motifs import Motif, motif_importance, motif_holdout_check
from archmodel.explain.wl import WLFeatures, wl_counts, wl_labels

__all__ = ["WLGaussianProcess", "WLFeatures", "wl_counts", "wl_labels", "motif_importance",
           "motif_holdout_check", "Motif", "suggest_edits"]
