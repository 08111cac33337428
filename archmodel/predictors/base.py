"""The predictor base class: scikit-learn conventions on architectures.

``__init__`` only stores parameters; ``fit(archs, y)`` validates, learns attributes ending in
``_`` and returns ``self``; ``predict`` before ``fit`` raises :class:`NotFittedError`.
Subclasses provide the array-level score model (``_build_model``) and the encoding of
architectures into its input arrays (``_encode``); training, prediction, scoring and
persistence are shared here.

Persistence: ``save(path)`` writes ``.npz`` (``allow_pickle=False``) with a JSON header
(format ``archmodel.predictor``, ``format_version`` 1, the class name, its parameters, the
search space and the model configuration); ``load_predictor(path)`` reads it back. Files are
written atomically.
"""
from __future__ import annotations

import copy

import inspect
import logging
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from archmodel._version import __version__
from archmodel.arch import Arch
from archmodel.errors import (DataError, FormatError, InvalidArchitectureError, NotFittedError,
                              ParameterError, check_choice, check_range)

logger = logging.getLogger(__name__)

FORMAT = "archmodel.predictor"
FORMAT_VERSION = 1
LOSSES = ("hinge", "logistic", "listmle", "mse")


class Predictor:
    """Base class of archmodel's performance predictors (see module docstring)."""

    def __init__(self, *, loss: str = "hinge", margin: float = 0.1, max_pairs_factor: float = 4.0,
                 epochs: int = 200, batch_size: int = 512, lr: float = 1e-3,
                 weight_decay: float = 0.0, dtype: str = "float32", backend: str | None = None,
                 rng: int | None = None) -> None:
        self.loss = loss
        self.margin = margin
        self.max_pairs_factor = max_pairs_factor
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.dtype = dtype
        self.backend = backend
        self.rng = rng

    # ------------------------------------------------------------------ sklearn API
    @classmethod
    def _param_names(cls) -> list[str]:
        names = []
        for klass in cls.__mro__:
            if klass is object or "__init__" not in klass.__dict__:
                continue
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in names:
                    names.append(p.name)
        return names

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (as given)."""
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params: Any) -> "Predictor":
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise ParameterError(f"Invalid parameter {k!r} for {type(self).__name__}; valid: {valid}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    # ------------------------------------------------------------------ subclass hooks
    def _build_model(self, space: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _model_config(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _model_from_config(cls, config: Mapping[str, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _encode(self, space: Any, archs: Sequence[Arch]) -> dict[str, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def _validate_params(self) -> None:
        name = type(self).__name__
        check_choice(name, "loss", self.loss, LOSSES)
        check_range(name, "margin", self.margin, 0.0)
        check_range(name, "max_pairs_factor", self.max_pairs_factor, 0.0, low_inclusive=False)
        check_range(name, "epochs", self.epochs, 1, integer=True)
        check_range(name, "batch_size", self.batch_size, 1, integer=True)
        check_range(name, "lr", self.lr, 0.0, low_inclusive=False)
        check_range(name, "weight_decay", self.weight_decay, 0.0)
        check_choice(name, "dtype", self.dtype, ("float32", "float64"))
        if self.backend is not None:
            from archmodel.backends import check_backend_name

            check_backend_name(self.backend)

    # ------------------------------------------------------------------ input handling
    def _resolve_archs(self, archs: Sequence[Arch | str], space: Any = None) -> tuple[Any, list[Arch]]:
        from archmodel.spaces import get_space

        archs = list(archs)
        if not archs:
            raise ParameterError(f"{type(self).__name__}: no architectures given")
        fitted_space = getattr(self, "space_", None)
        if space is None:
            space = next((a.space for a in archs if isinstance(a, Arch)), None) or fitted_space
        if space is None:
            raise ParameterError(
                f"{type(self).__name__}: architectures given as strings need space= (e.g. space='nb201')")
        sp = get_space(space)
        if fitted_space is not None and sp.name != fitted_space:
            raise InvalidArchitectureError(
                f"this {type(self).__name__} was trained on search space {fitted_space!r}; "
                f"got architectures of {sp.name!r}")
        out = [sp.parse(a) if not isinstance(a, Arch) else sp.check_arch(a) for a in archs]
        return sp, out

    @staticmethod
    def _check_targets(y: Any, n: int) -> np.ndarray:
        try:
            y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError("targets y must be numbers") from None
        if y.shape != (n,):
            raise DataError(f"targets y must have shape ({n},) to match the architectures; got {y.shape}")
        bad = ~np.isfinite(y)
        if bad.any():
            raise DataError(f"targets y contain {int(bad.sum())} NaN/inf values (first at index {int(np.argmax(bad))}); "
                            "drop or impute them first")
        return y

    # ------------------------------------------------------------------ training
    def fit(self, archs: Sequence[Arch | str], y: Any, *, space: Any = None,
            progress: Callable[[int, float], None] | None = None) -> "Predictor":
        """Train on architectures ``archs`` with targets ``y`` (higher = better).

        Parameters
        ----------
        archs : sequence of Arch (or strings, with ``space=``), length n
        y : array-like of float, shape (n,)
        space : str, optional
            Search space of string architectures.
        progress : callable, optional
            ``progress(epoch, mean_loss)`` after each epoch.

        Returns
        -------
        self
        """
        sp, archs, y = self._fit_inputs(archs, y, space)
        rng = np.random.default_rng(self.rng)
        self._initialize(sp, rng)
        t0 = time.perf_counter()
        self._pretrain(sp, rng)
        self.history_ = self._train_stage(self.model_, self.params_, self._encode(sp, archs), y, rng,
                                          epochs=self.epochs, progress=progress)
        self.fit_seconds_ = time.perf_counter() - t0
        self.n_train_ = len(archs)
        return self

    def _pretrain(self, sp: Any, rng: np.random.Generator) -> None:
        """Training before the ground-truth stage (none here; DELE pretrains its experts)."""

    def _fit_inputs(self, archs: Sequence[Arch | str], y: Any, space: Any) -> tuple[Any, list[Arch], np.ndarray]:
        """Validated parameters and training data: ``(space, architectures, targets)``."""
        self._validate_params()
        sp, archs = self._resolve_archs(archs, space)
        y = self._check_targets(y, len(archs))
        if len(archs) < 2:
            raise DataError(f"{type(self).__name__}.fit needs at least 2 architectures; got {len(archs)}")
        return sp, archs, y

    def _train_stage(self, model: Any, params: dict[str, np.ndarray], batch: Mapping[str, np.ndarray],
                     y: np.ndarray, rng: np.random.Generator, *, epochs: int,
                     progress: Callable[[int, float], None] | None = None) -> list[float]:
        """Train ``params`` (in place) of ``model`` on ``(batch, y)`` with this predictor's loss,
        a fresh Adam and its batch size; return the mean loss per epoch."""
        from archmodel.nn import Adam
        from archmodel.nn.train import fit_scores

        opt = Adam(lr=self.lr, weight_decay=self.weight_decay, backend=self.backend,
                   n_jobs=getattr(self, "n_jobs", None))
        return fit_scores(model, params, batch, np.asarray(y).astype(np.dtype(self.dtype)), self._loss_fn(), opt,
                          epochs=epochs, batch_size=self.batch_size, rng=rng, progress=progress,
                          backend=self.backend)

    def initialize(self, space: Any, rng: np.random.Generator | int | None = None) -> "Predictor":
        """Build the model for ``space`` and draw fresh parameters, without training.

        For untrained baselines, export and parity checks; :meth:`fit` starts the same way.

        Returns
        -------
        self
        """
        from archmodel.spaces import get_space

        self._validate_params()
        return self._initialize(get_space(space), rng)

    def _initialize(self, sp: Any, rng: np.random.Generator | int | None) -> "Predictor":
        self.space_ = sp.name
        self.model_ = self._build_model(sp)
        self.params_ = self.model_.init_params(rng, dtype=np.dtype(self.dtype))
        return self

    def astype(self, dtype: str) -> "Predictor":
        """A copy of this fitted predictor with its parameters (and ``dtype``) converted.

        ``astype('float64')`` of a float32 model computes the same function in double
        precision (the conversion is exact): the reference an ONNX graph exported with
        ``compute_dtype='float64'`` reproduces. ``astype('float32')`` rounds float64 parameters
        as :func:`archmodel.export.to_onnx` stores them.

        Parameters
        ----------
        dtype : {'float32', 'float64'}

        Returns
        -------
        Predictor
            A new predictor; this one is unchanged.
        """
        from archmodel.errors import check_choice

        self._check_fitted()
        check_choice(f"{type(self).__name__}.astype", "dtype", dtype, ("float32", "float64"))
        clone = copy.copy(self)
        clone.dtype = dtype
        clone.params_ = {k: np.asarray(v).astype(dtype) for k, v in self.params_.items()}
        return clone

    def _loss_fn(self) -> Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[float, np.ndarray]]:
        """The training loss; pairwise losses draw at most ``ceil(max_pairs_factor * n)`` pairs
        per mini-batch of ``n`` (GATES: 4n)."""
        from archmodel.losses import get_loss

        owner = type(self).__name__
        extra: dict[str, Any] = {}
        if self.loss == "hinge":
            extra = {"margin": self.margin, "max_pairs_factor": self.max_pairs_factor}
        elif self.loss == "logistic":
            extra = {"max_pairs_factor": self.max_pairs_factor}
        return get_loss(self.loss, owner=owner, backend=self.backend, **extra)

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(archs, y) first.")

    def predict(self, archs: Sequence[Arch | str], *, space: Any = None, batch_size: int = 4096) -> np.ndarray:
        """Scores (higher = predicted better), shape (n,), in the model's dtype.

        ``batch_size`` exists so that in-process predictors and the onnxruntime predictor share
        one signature (:mod:`archmodel.distributed` passes it); in-process models split the
        work by their own ``predict_chunk_size``.
        """
        self._check_fitted()
        sp, archs = self._resolve_archs(archs, space)
        return self.predict_arrays(self._encode(sp, archs))

    def predict_arrays(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        """Scores for already-encoded input arrays (see ``encode``)."""
        self._check_fitted()
        return np.asarray(self.model_.predict(self.params_, batch, backend=self.backend))

    def encode(self, archs: Sequence[Arch | str], *, space: Any = None) -> dict[str, np.ndarray]:
        """The input arrays the model consumes for ``archs`` (see the ONNX contract)."""
        sp, archs = self._resolve_archs(archs, space)
        return self._encode(sp, archs)

    def score(self, archs: Sequence[Arch | str], y: Any, *, space: Any = None) -> float:
        """Kendall's tau-b between predictions and ``y``."""
        from archmodel.metrics import kendall_tau

        pred = self.predict(archs, space=space)
        return float(kendall_tau(self._check_targets(y, len(pred)), pred))

    # ------------------------------------------------------------------ persistence
    def save(self, path: Any) -> None:
        """Write the fitted predictor to ``path`` (``.npz`` + JSON header, atomically)."""
        from archmodel.io import save_npz

        self._check_fitted()
        params = self.get_params()
        if params.get("rng") is not None and not isinstance(params["rng"], (int, np.integer)):
            params["rng"] = None
        header = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "archmodel_version": __version__,
            "class": type(self).__name__, "params": _jsonable(params), "space": self.space_,
            "model_config": _jsonable(self._model_config()), "n_train": int(getattr(self, "n_train_", 0)),
            "history": [float(h) for h in getattr(self, "history_", [])],
        }
        save_npz(path, {f"param/{k}": v for k, v in self.params_.items()}, header)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def load_predictor(path: Any) -> Predictor:
    """Load a predictor saved by :meth:`Predictor.save`.

    Raises
    ------
    FormatError
        Not an archmodel predictor file, a wrong or future format version, a truncated file,
        or an unknown predictor class.
    """
    from archmodel.io import load_npz
    from archmodel.predictors.registry import predictor_class

    arrays, header = load_npz(path, expected_format=FORMAT, supported_versions=(FORMAT_VERSION,))
    try:
        cls = predictor_class(header["class"])
        est = cls(**header["params"])
        est.space_ = header["space"]
        est.model_ = cls._model_from_config(header["model_config"])
        params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
        expected = est.model_.init_params(0, dtype=np.dtype(est.dtype))
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{path}: malformed predictor header: {exc}") from None
    if set(expected) != set(params):
        raise FormatError(f"{path}: parameter names do not match the model: "
                          f"missing {sorted(set(expected) - set(params))}, extra {sorted(set(params) - set(expected))}")
    for k, v in expected.items():
        if params[k].shape != v.shape:
            raise FormatError(f"{path}: parameter {k!r} has shape {params[k].shape}, expected {v.shape}")
    est.params_ = {k: np.ascontiguousarray(params[k]) for k in expected}
    est.n_train_ = header.get("n_train", 0)
    est.history_ = header.get("history", [])
    return est
