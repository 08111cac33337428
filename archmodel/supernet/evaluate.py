"""One-shot scores: each candidate's accuracy and loss with the supernet's weights.

For every candidate the supernet selects its path, recalibrates the batch-norm statistics of
that path on a few fixed training batches (running statistics reset, then the exact mean over
the batches: momentum ``1 / (t + 1)`` for batch ``t``), and evaluates it in evaluation mode on
held-out data. The supernet's own statistics are restored afterwards, so evaluating during
training changes nothing.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

from archmodel.errors import ParameterError, check_range
from archmodel.supernet.network import Supernet

logger = logging.getLogger(__name__)

__all__ = ["calibration_batches", "one_shot_scores", "score_file"]


def calibration_batches(X: np.ndarray, *, n_batches: int = 4, batch_size: int = 64,
                        rng: np.random.Generator | int | None = 0) -> list[np.ndarray]:
    """``n_batches`` disjoint random batches of ``X`` (fewer if ``X`` is small), drawn once."""
    check_range("calibration_batches", "n_batches", n_batches, 1, integer=True)
    check_range("calibration_batches", "batch_size", batch_size, 2, integer=True)
    perm = np.random.default_rng(rng).permutation(np.shape(X)[0])
    out = [X[perm[i:i + batch_size]] for i in range(0, min(len(perm), n_batches * batch_size), batch_size)]
    return [b for b in out if b.shape[0] >= 2]


def one_shot_scores(net: Supernet, archs: Sequence[str], X: np.ndarray, y: np.ndarray, *,
                    calibration: Sequence[np.ndarray] | None, batch_size: int = 256,
                    blocks: Callable[[str], object] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """One-shot accuracy and negative loss of each architecture.

    Parameters
    ----------
    net : Supernet
    archs : sequence of str
        NB201 arch strings.
    X, y : ndarray
        Held-out images and labels.
    calibration : list of ndarray or None
        Training batches for the batch-norm recalibration (:func:`calibration_batches`);
        None keeps the supernet's running statistics.
    batch_size : int
        Evaluation batch size.
    blocks : callable, optional
        ``blocks(arch) -> edge-to-block assignment`` for :meth:`Supernet.set_arch` (CLOSENet);
        default each cell's fixed assignment.
    progress : callable, optional
        ``progress(done, total)`` after each architecture.

    Returns
    -------
    dict
        ``accuracy`` and ``neg_loss`` (float64 ``[len(archs)]``, higher is better).
    """
    if not isinstance(net, Supernet):
        raise ParameterError(f"one_shot_scores: net must be a Supernet; got {type(net).__name__}.")
    from archmodel.conv.train import check_data

    X, y = check_data(net, X, y, "evaluation")
    saved = {k: np.array(v, copy=True) for k, v in net.buffers().items()}
    acc = np.empty(len(archs))
    nl = np.empty(len(archs))
    try:
        for i, arch in enumerate(archs):
            net.set_arch(arch, None if blocks is None else blocks(arch))
            if calibration:
                bns = net.batchnorms()
                momenta = [bn.momentum for bn in bns]
                for bn in bns:
                    bn.buffers["running_mean"] = np.zeros_like(bn.buffers["running_mean"])
                    bn.buffers["running_var"] = np.ones_like(bn.buffers["running_var"])
                try:
                    for t, xb in enumerate(calibration):
                        for bn in bns:
                            bn.momentum = 1.0 / (t + 1)
                        net.forward(xb, train=True)
                        net.body.clear_cache()
                finally:
                    for bn, m in zip(bns, momenta):
                        bn.momentum = m
            logits = net.predict(X, batch_size=batch_size)
            loss, _ = net.loss(logits, y)
            acc[i] = float((logits.argmax(axis=1) == y).mean())
            nl[i] = -float(loss)
            if progress is not None:
                progress(i + 1, len(archs))
    finally:
        net.load_buffers(saved)
    return {"accuracy": acc, "neg_loss": nl}


def score_file(path, archs: Sequence[str], *, n_calibration: int = 4,
               backend: str | None = None, assignment: str = "argmax",
               progress: Callable[[int, int], None] | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """One-shot scores of ``archs`` with a saved supernet (vanilla or CLOSENet) on digits.

    The data are the micro-benchmark's (scikit-learn digits at the supernet's input size, the
    fixed split): recalibration on ``n_calibration`` training batches of 64 (0: none),
    scores on the validation split. CLOSENet files use their GATE's evaluation-time blocks at
    the curriculum level of the saved epoch, picked by ``assignment`` (``'argmax'`` or
    ``'sample'``, :meth:`archmodel.supernet.gate.ArchGate.choose`).

    Returns
    -------
    scores : dict
        ``accuracy`` and ``neg_loss`` as :func:`one_shot_scores`.
    header : dict
        The file's header.
    """
    from archmodel.datasets.images import load_digits
    from archmodel.errors import check_choice
    from archmodel.supernet.gate import ASSIGNMENTS
    from archmodel.supernet.train import SupernetTrainer, curriculum_level

    check_choice("score_file", "assignment", assignment, ASSIGNMENTS)
    net, header, other = SupernetTrainer.read(path, backend=backend)
    gate = SupernetTrainer.load_gate(header, other, backend=backend)
    blocks = None
    if gate is not None:
        level = curriculum_level(header["training"]["schedule"], header["epoch"])
        blocks = lambda arch: gate.choose(arch, level, assignment)  # noqa: E731
    size = int(net.config["input_size"])
    ds = load_digits(size=size, channels=3, interpolation="nearest" if size == 8 else "bilinear")
    cal = calibration_batches(ds.X_train, n_batches=n_calibration, rng=0) if n_calibration else None
    scores = one_shot_scores(net, archs, ds.X_val, ds.y_val, calibration=cal, blocks=blocks,
                             progress=progress)
    return scores, header
