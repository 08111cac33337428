"""Single-path supernet training, resumable from a checkpoint file.

Each step samples one architecture (:data:`SAMPLERS`), runs the supernet's forward and
backward pass on one minibatch with that path and updates only the parameters the path used
(SGD with Nesterov momentum and weight decay, :class:`archmodel.conv.train.SGD`, a cosine
schedule over the whole budget, :func:`archmodel.conv.train.cosine_lr`: the conv engine's
own optimiser and schedule).

Reproducibility: one :class:`numpy.random.Generator` draws the epoch's permutation and then
each step's architecture, in that order. :meth:`SupernetTrainer.save` writes the weights,
batch-norm statistics, momentum buffers, the generator's state and the history at an epoch
boundary; a run resumed from that file ends with the same weights, bit for bit, as one that
was never interrupted (same backend and machine).
"""
from __future__ import annotations

import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from archmodel.conv.nb201 import NB201_OPS, arch_string
from archmodel.conv.train import SGD, cosine_lr
from archmodel.errors import FormatError, ParameterError, TrainingDivergedError, check_choice, check_range
from archmodel.supernet.network import Supernet, build_supernet

if TYPE_CHECKING:  # pragma: no cover
    from archmodel.supernet.gate import ArchGate

logger = logging.getLogger(__name__)

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "SAMPLERS", "SupernetTrainer", "curriculum_level",
           "default_schedule", "sample_arch"]

FORMAT_NAME = "archmodel.supernet"
FORMAT_VERSION = 1

#: ``'uniform'``: each edge's operation uniformly (15,625 cells); ``'unique'``: uniformly over
#: the 6,466 NB201 isomorphism classes (``canonical_key(kind='unique')``), each by its first
#: member.
SAMPLERS = ("uniform", "unique")

#: How a newly opened CLOSENet block starts (see :meth:`SupernetTrainer.open_block`).
INHERIT = ("add", "copy")

_UNIQUE: list[str] | None = None


def _unique_cells() -> list[str]:
    global _UNIQUE
    if _UNIQUE is None:
        from archmodel.spaces import get_space

        space = get_space("nb201")
        reps, _ = space.representatives("unique")
        _UNIQUE = [space.format(a) for a in reps]
    return _UNIQUE


def sample_arch(sampler: str, rng: np.random.Generator) -> str:
    """One NB201 arch string drawn by ``sampler`` (:data:`SAMPLERS`) from ``rng``."""
    check_choice("sample_arch", "sampler", sampler, SAMPLERS)
    if sampler == "uniform":
        return arch_string([NB201_OPS[i] for i in rng.integers(0, len(NB201_OPS), 6)])
    cells = _unique_cells()
    return cells[int(rng.integers(len(cells)))]


def default_schedule(n_blocks: int, epochs: int) -> list[int]:
    """Blocks opened at evenly spaced epochs ``1, 1 + E/K, 1 + 2E/K, ...`` (duplicates dropped
    when ``E < K``); the reference opens 5 blocks every 200 of 1,000 epochs."""
    check_range("default_schedule", "n_blocks", n_blocks, 1, integer=True)
    check_range("default_schedule", "epochs", epochs, 1, integer=True)
    return sorted({1 + (epochs * i) // n_blocks for i in range(n_blocks)})


def curriculum_level(schedule: Sequence[int], epoch: int) -> int:
    """Blocks open at (1-based) ``epoch`` (at least 1) under ``schedule`` (opening epochs)."""
    e = max(int(epoch), 1)
    return sum(1 for s in schedule if s <= e)


class SupernetTrainer:
    """Train a :class:`Supernet` path by path; checkpoint and resume.

    Parameters
    ----------
    net : Supernet
    X, y : ndarray
        Training images ``(n, C_in, H, W)`` and integer labels ``(n,)``.
    epochs : int
        The budget (the cosine schedule spans it); :meth:`run` may stop earlier.
    batch_size : int
    lr, momentum, weight_decay, nesterov
        As for :func:`archmodel.conv.train`; the learning rate is annealed to 0 over the budget.
    sampler : {'uniform', 'unique'}
        How each step's architecture is drawn (:data:`SAMPLERS`).
    gate : ArchGate or NodeGate, optional
        CLOSENet: the GATE that assigns each edge to a block (SGD with the same momentum and
        weight decay; learning rate ``gate_lr``, default ``lr``, on the same cosine schedule).
    schedule : sequence of int, optional
        CLOSENet: epochs (1-based, increasing, the first 1) at which blocks open.
    inherit : {'add', 'copy'}
        CLOSENet: how an opened block starts (:meth:`open_block`; default the reference's).
    gate_lr : float, optional
        CLOSENet: the GATE's base learning rate (default ``lr``; 0 keeps its initialisation).
    rng : Generator, int or None
        Shuffling and sampling.

    Attributes
    ----------
    epoch : int
        Epochs completed.
    step : int
        Steps completed.
    history : list of dict
        Per epoch: ``epoch``, ``train_loss`` (mean over its steps), ``lr``, ``seconds``.
    metadata : dict
        What :meth:`resume` read from the file's ``metadata`` (empty for a new trainer).
    """

    def __init__(self, net: Supernet, X: np.ndarray, y: np.ndarray, *, epochs: int,
                 batch_size: int = 32, lr: float = 0.05, momentum: float = 0.9,
                 weight_decay: float = 5e-4, nesterov: bool = True, sampler: str = "uniform",
                 rng: np.random.Generator | int | None = None, gate: "ArchGate | None" = None,
                 schedule: Sequence[int] | None = None, inherit: str = "add",
                 gate_lr: float | None = None) -> None:
        owner = "SupernetTrainer"
        if not isinstance(net, Supernet):
            raise ParameterError(f"{owner}: net must be a Supernet (build_supernet); got {type(net).__name__}.")
        check_range(owner, "epochs", epochs, 1, integer=True)
        check_range(owner, "batch_size", batch_size, 1, integer=True)
        check_range(owner, "lr", lr, 0.0, low_inclusive=False)
        check_choice(owner, "sampler", sampler, SAMPLERS)
        from archmodel.conv.train import check_data

        self.X, self.y = check_data(net, X, y, "training")
        self.net = net
        self.epochs, self.batch_size = int(epochs), int(batch_size)
        self.lr, self.momentum, self.weight_decay, self.nesterov = float(lr), float(momentum), float(weight_decay), bool(nesterov)
        self.sampler = sampler
        self.inherit = check_choice(owner, "inherit", inherit, INHERIT)
        self.gate_lr = None if gate_lr is None else float(check_range(owner, "gate_lr", gate_lr, 0.0))
        self.rng = np.random.default_rng(rng)
        self.opt = SGD(net.parameters(), lr=self.lr, momentum=self.momentum,
                       weight_decay=self.weight_decay, nesterov=self.nesterov)
        self.epoch = 0
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.metadata: dict[str, Any] = {}
        self.gate = gate
        self.schedule: list[int] = []
        self.gate_opt = None
        if gate is not None:
            if gate.n_blocks != net.n_blocks:
                raise ParameterError(f"{owner}: the gate has {gate.n_blocks} blocks, the supernet {net.n_blocks}.")
            sched = [1] if schedule is None else [int(e) for e in schedule]
            if (not sched or sched[0] != 1 or any(b <= a for a, b in zip(sched, sched[1:]))
                    or len(sched) > net.n_blocks or sched[-1] > self.epochs):
                raise ParameterError(
                    f"{owner}: schedule must be increasing epochs starting at 1, at most "
                    f"n_blocks={net.n_blocks} of them, within the {self.epochs}-epoch budget; "
                    f"got {sched}.")
            self.schedule = sched
            from archmodel.nn.optim import SGD as GateSGD

            self.gate_opt = GateSGD(lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay,
                                    nesterov=self.nesterov)
        elif schedule is not None:
            raise ParameterError(f"{owner}: a curriculum schedule needs a gate (CLOSENet).")

    def level(self, epoch: int | None = None) -> int:
        """Open blocks at (1-based) ``epoch`` (default: the last completed one, at least 1);
        0 without a gate."""
        if self.gate is None:
            return 0
        return curriculum_level(self.schedule, self.epoch if epoch is None else epoch)

    def blocks_for(self, arch: str, assignment: str = "argmax") -> np.ndarray | None:
        """Evaluation-time edge -> block assignment of ``arch`` (None without a gate;
        ``assignment`` as :meth:`ArchGate.choose`)."""
        return None if self.gate is None else self.gate.choose(arch, self.level(), assignment)

    def open_block(self, level: int) -> None:
        """Curriculum: block ``level - 1`` of every cell inherits the previous block's weights
        (``inherit='add'``, the default: its own initialisation plus them, the reference
        code's ``wit_from='prev'``; ``'copy'``: a copy of them), batch-norm statistics copied,
        and the GATE's logit of it inherits the previous logit's weights the same way.

        With ``'copy'`` the new logit ties with the previous one until training separates
        them, and evaluation's ``argmax`` takes the lower block on a tie: measured (20 epochs,
        200 micro-benchmark cells, node gate, seed 0) every edge of every cell then evaluates
        on one block."""
        for cell in self.net.cells:
            new, prev = cell.blocks[level - 1], cell.blocks[level - 2]
            for a, b in zip(new.modules(), prev.modules()):
                for k in a.params:
                    if self.inherit == "copy":
                        np.copyto(a.params[k], b.params[k])
                    else:
                        a.params[k] += b.params[k]
                for k in a.buffers:
                    a.buffers[k] = np.array(b.buffers[k], copy=True)
        self.gate.open_block(level, copy=self.inherit == "copy")
        logger.info("supernet: block %d opened at epoch %d", level, self.epoch + 1)

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.X.shape[0] // self.batch_size)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def settings(self) -> dict[str, Any]:
        """The training settings (JSON): what a resumed run must share with the saved one."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                "momentum": self.momentum, "weight_decay": self.weight_decay,
                "nesterov": self.nesterov, "sampler": self.sampler, "n_train": int(self.X.shape[0]),
                "schedule": list(self.schedule) if self.gate is not None else None,
                "inherit": self.inherit, "gate_lr": self.gate_lr}

    # ------------------------------------------------------------------ training
    def run(self, until_epoch: int | None = None, *, callback: Callable[[dict], None] | None = None,
            checkpoint: str | os.PathLike | None = None, metadata: dict[str, Any] | None = None) -> list[dict]:
        """Train to epoch ``until_epoch`` (default: the budget); returns the new history rows.

        ``checkpoint``: :meth:`save` there after every epoch (atomically). ``callback(info)``
        after every step with ``epoch``, ``step``, ``total_steps``, ``loss``, ``lr``, ``arch``.
        """
        until = self.epochs if until_epoch is None else int(until_epoch)
        check_range("SupernetTrainer.run", "until_epoch", until, 0, self.epochs, integer=True)
        from archmodel.conv.network import single_thread_blas

        net, n, bs = self.net, self.X.shape[0], self.batch_size
        rows = []
        with single_thread_blas():
            while self.epoch < until:
                t0 = time.perf_counter()
                if self.gate is not None and self.epoch > 0 and self.level(self.epoch + 1) > self.level():
                    self.open_block(self.level(self.epoch + 1))
                level = self.level(self.epoch + 1)
                perm = self.rng.permutation(n)
                loss_sum, seen, cur_lr = 0.0, 0, self.lr
                for s in range(self.steps_per_epoch):
                    idx = perm[s * bs:(s + 1) * bs]
                    arch = sample_arch(self.sampler, self.rng)
                    if self.gate is not None:
                        blocks, gstate = self.gate.sample(arch, level, self.rng)
                        net.set_arch(arch, blocks)
                        for cell in net.cells:
                            cell.set_gate_level(level)
                    else:
                        net.set_arch(arch)
                    loss, _ = net.loss_and_grad(self.X[idx], self.y[idx], train=True)
                    if not math.isfinite(loss):
                        raise TrainingDivergedError(
                            f"supernet training diverged: loss {loss!r} at epoch {self.epoch + 1}, "
                            f"step {s + 1} (arch {arch}); lower the learning rate")
                    cur_lr = cosine_lr(self.step, self.total_steps, self.lr)
                    grads = net.gradients()
                    self.opt.step({k: grads[k] for k in net.active_parameter_names()}, lr=cur_lr)
                    if self.gate is not None:
                        grad_y = sum(cell.gate_grad for cell in net.cells)
                        for cell in net.cells:
                            cell.set_gate_level(None)
                        self.gate_opt.lr = cur_lr * (1.0 if self.gate_lr is None else self.gate_lr / self.lr)
                        self.gate_opt.step(self.gate.params, self.gate.gradients(gstate, grad_y))
                    self.step += 1
                    loss_sum += loss * len(idx)
                    seen += len(idx)
                    if callback is not None:
                        callback({"epoch": self.epoch + 1, "step": self.step,
                                  "total_steps": self.total_steps, "loss": loss, "lr": cur_lr,
                                  "arch": arch})
                self.epoch += 1
                row = {"epoch": self.epoch, "train_loss": loss_sum / max(seen, 1), "lr": cur_lr,
                       "seconds": time.perf_counter() - t0}
                self.history.append(row)
                rows.append(row)
                logger.info("supernet epoch %d/%d: train_loss %.4f (%.1f s)", self.epoch,
                            self.epochs, row["train_loss"], row["seconds"])
                if checkpoint is not None:
                    self.save(checkpoint, metadata=metadata)
        return rows

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, *, metadata: dict[str, Any] | None = None) -> None:
        """Weights, statistics, momentum, generator state, history: ``.npz`` + JSON header,
        written atomically (format ``archmodel.supernet``, version 1)."""
        from archmodel.io import save_npz

        arrays = {f"net/{k}": v for k, v in self.net.state_dict().items()}
        arrays.update({f"velocity/{k}": v for k, v in self.opt.velocity.items()})
        gate = None
        if self.gate is not None:
            arrays.update({f"gate/{k}": v for k, v in self.gate.params.items()})
            arrays.update({f"gate_opt/{k}": v for k, v in self.gate_opt.state_dict().items()})
            gate = self.gate.get_config()
        header = {
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "network": {"kind": self.net.kind, "config": self.net.config},
            "training": self.settings(), "gate": gate, "epoch": self.epoch, "step": self.step,
            "rng_state": self.rng.bit_generator.state, "history": self.history,
            "metadata": dict(metadata or {}),
        }
        save_npz(path, arrays, header)

    @staticmethod
    def read(path: str | os.PathLike, *, backend: str | None = None) -> tuple[Supernet, dict[str, Any], dict[str, np.ndarray]]:
        """``(supernet with its weights, header, other arrays)`` of a saved file; the other
        arrays are the momentum buffers (``velocity/...``) and, for CLOSENet, the GATE's
        parameters (``gate/...``) and optimiser state (``gate_opt/...``)."""
        from archmodel.io import load_npz

        arrays, header = load_npz(path, expected_format=FORMAT_NAME, supported_versions=(FORMAT_VERSION,))
        cfg = dict(header.get("network", {}).get("config") or {})
        try:
            net = build_supernet(rng=0, backend=backend, **cfg)
        except (TypeError, ValueError) as exc:
            raise FormatError(f"{path}: cannot rebuild the supernet from its header: {exc}") from None
        net.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("net/")})
        return net, header, {k: v for k, v in arrays.items() if not k.startswith("net/")}

    @classmethod
    def load_gate(cls, header: dict[str, Any], arrays: dict[str, np.ndarray], *,
                  backend: str | None = None) -> "ArchGate | None":
        """The GATE of a file read by :meth:`read` (None for a vanilla supernet)."""
        if not header.get("gate"):
            return None
        from archmodel.supernet.gate import make_gate

        try:
            gate = make_gate(rng=0, backend=backend, **header["gate"])
        except (TypeError, ValueError) as exc:
            raise FormatError(f"cannot rebuild the GATE from the file's header: {exc}") from None
        for k, v in arrays.items():
            if k.startswith("gate/"):
                name = k[5:]
                if name not in gate.params or gate.params[name].shape != v.shape:
                    raise FormatError(f"GATE parameter {name!r} does not match the gate's configuration")
                np.copyto(gate.params[name], v)
        return gate

    @classmethod
    def resume(cls, path: str | os.PathLike, X: np.ndarray, y: np.ndarray, *,
               backend: str | None = None, expect: dict[str, Any] | None = None) -> "SupernetTrainer":
        """The trainer saved in ``path``, ready to continue on the same data ``X, y``.

        ``expect``: training settings the caller asks for; a file made with others is refused
        (ParameterError naming them), so a resumed run never silently changes its budget.
        """
        net, header, other = cls.read(path, backend=backend)
        velocity = {k[9:]: v for k, v in other.items() if k.startswith("velocity/")}
        gate = cls.load_gate(header, other, backend=backend)
        t = dict(header["training"])
        if expect is not None:
            diff = {k: (t.get(k), v) for k, v in expect.items() if t.get(k) != v}
            if diff:
                raise ParameterError(
                    f"{path} was trained with other settings (saved, asked): {diff}; use another "
                    f"output file or the saved settings.")
        n_train = t.pop("n_train")
        if n_train != np.shape(X)[0]:
            raise ParameterError(f"{path} was trained on {n_train} images; got {np.shape(X)[0]}.")
        schedule = t.pop("schedule", None)
        tr = cls(net, X, y, rng=0, gate=gate, schedule=schedule, **t)
        if gate is not None:
            tr.gate_opt.load_state_dict({k[9:]: v for k, v in other.items() if k.startswith("gate_opt/")})
        for k, v in velocity.items():
            if k not in tr.opt.velocity or tr.opt.velocity[k].shape != v.shape:
                raise FormatError(f"{path}: momentum buffer {k!r} does not match the supernet")
            np.copyto(tr.opt.velocity[k], v)
        tr.rng.bit_generator.state = header["rng_state"]
        tr.epoch, tr.step = int(header["epoch"]), int(header["step"])
        tr.history = list(header.get("history") or [])
        tr.metadata = dict(header.get("metadata") or {})
        return tr
