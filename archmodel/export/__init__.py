"""Export trained predictors to ONNX and load them back for inference with onnxruntime.

>>> from archmodel.export import to_onnx, load_onnx_predictor     # doctest: +SKIP
>>> to_onnx(predictor, "gates.onnx")                                # opset 17, IR version 8
>>> onnx_pred = load_onnx_predictor("gates.onnx")
>>> onnx_pred.predict(archs)                                        # float32 [n]

Converters
----------
Converters live in a registry keyed by the predictor *class* (as in skl2onnx): a converter is a
function ``convert(predictor, builder)`` that declares the graph inputs of a contract encoding
(``specs/onnx/<space>.json``), adds the weights and nodes, and names one float32 output
``score`` of shape ``[batch]`` (see :class:`archmodel.export._graph.GraphBuilder`). Lookup is by
*exact* class: a subclass (which may change the math) is not converted by its parent's
converter; it raises :class:`NoConverterError` until a converter is registered for it with
:func:`register_converter`. Built in: ``GATESPredictor`` (:mod:`archmodel.export.gates`,
encoding ``graph``), ``TAGATESPredictor`` (:mod:`archmodel.export.tagates`, encoding ``graph``,
``symmetry_breaking='none'`` only), ``MLPPredictor`` (encoding ``onehot``), ``LSTMPredictor`` (encoding
``sequence``) and ``GCNPredictor`` (encoding ``graph``) (:mod:`archmodel.export.baselines`).

Versions
--------
The default opset is :data:`DEFAULT_OPSET` = 17 and the IR version written is the smallest one
that can carry the opset (:func:`onnx.helper.find_min_ir_version_for`: 8 for opset 17). Recent
``onnx`` releases stamp their newest IR version (10-12) by default, which older onnxruntime
releases refuse to load ("Unsupported model IR version"). Exported models are verified on
onnxruntime 1.15.1 to 1.32.0 (``scripts/onnx_compat.py``, every minor version; releases before
1.19 need ``numpy<2``); graphs never leave a node output unconsumed, which made 1.15-1.18 return
wrong scores from a session's second run (see :meth:`GraphBuilder.op`). Opsets :data:`MIN_OPSET`..:data:`MAX_OPSET` are accepted (the graphs use only
operators whose signatures are stable since opset 13). Weights are stored as float32: a model
trained in float64 is cast explicitly, and the cast's effect on the parameters and on the
scores of a probe sample is measured, logged and written to the model's metadata.

Precision
---------
``compute_dtype='float32'`` (default): the graph computes in single precision; scores agree
with the NumPy reference within about 1e-6 relative (the two use different BLAS libraries), so
architectures whose scores are closer than that may swap places (NB201, fresh GATES model:
Kendall tau 0.99987). ``compute_dtype='float64'``: weights and float inputs are cast to double
inside the graph and only the final score is rounded to float32, so each score equals the
float64 NumPy reference of the stored float32 weights (:meth:`Predictor.astype`) rounded to
float32 (tested on all 15,625 NB201 cells: all identical, tau 1.0), at about twice the cost.

Metadata (``metadata_props``, all strings, read by :func:`load_onnx_predictor`): ``archmodel_format``
(``archmodel.onnx_predictor``), ``space``, ``contract_version`` (a decimal string),
``contract_sha256`` (SHA-256 of the contract file, :func:`archmodel.export.contract.contract_sha256`),
``encoding``,
``graph_variant``, ``archmodel_version``, ``predictor_class``, ``predictor_params`` and
``model_config`` (JSON),
``source_dtype``, ``compute_dtype``, ``cast_*`` errors, ``verify_max_abs_error``/``verify_max_rel_error``
(onnxruntime vs the NumPy reference on the probe sample), ``opset``.
"""
from __future__ import annotations

import copy
import importlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from archmodel._version import __version__
from archmodel.errors import (ArchModelError, MissingDependencyError, NotFittedError,
                              ParameterError, check_choice, check_range)

logger = logging.getLogger(__name__)

__all__ = ["to_onnx", "load_onnx_predictor", "register_converter", "get_converter",
           "supported_predictors", "NoConverterError", "ConverterInfo", "DEFAULT_OPSET",
           "MIN_OPSET", "MAX_OPSET", "MODEL_FORMAT", "MODEL_FORMAT_VERSION"]

DEFAULT_OPSET = 17
MIN_OPSET = 13
MAX_OPSET = 21
MODEL_FORMAT = "archmodel.onnx_predictor"
MODEL_FORMAT_VERSION = 1
PROBE_SIZE = 256


class NoConverterError(ArchModelError, TypeError):
    """The predictor's class has no registered ONNX converter."""


@dataclass(frozen=True)
class ConverterInfo:
    """A registered converter.

    Attributes
    ----------
    convert : callable
        ``convert(predictor, builder) -> None``.
    encoding : str
        The contract encoding (``specs/onnx/<space>.json`` -> ``encodings``) whose inputs the
        graph takes; inference encodes architectures with it.
    """

    convert: Callable[[Any, Any], None]
    encoding: str


#: "module.QualName" of a predictor class -> (converter or "module:function", encoding).
#: Keys are names so that a class can be registered without importing it (and onnx is imported
#: only when a model is exported).
_REGISTRY: dict[str, tuple[Callable[[Any, Any], None] | str, str]] = {
    "archmodel.predictors.gates.GATESPredictor": ("archmodel.export.gates:convert_gates", "graph"),
    "archmodel.predictors.tagates.TAGATESPredictor": ("archmodel.export.tagates:convert_tagates", "graph"),
}


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_converter(predictor_class: type | str, convert: Callable[[Any, Any], None] | str, *,
                       encoding: str, overwrite: bool = False) -> None:
    """Register the ONNX converter of a predictor class.

    Parameters
    ----------
    predictor_class : type or str
        The class (matched exactly at lookup, never its subclasses), or its
        ``"module.QualName"`` to register it without importing it.
    convert : callable or str
        ``convert(predictor, builder) -> None`` (see :mod:`archmodel.export._graph`), or
        ``"module:function"``, imported on first use.
    encoding : str
        Contract encoding of the graph inputs (e.g. ``"graph"``); it must be listed in the
        contract (``specs/onnx/<space>.json``) of every space the predictor is exported for.
    overwrite : bool
        Replace an existing registration instead of raising.

    Raises
    ------
    ParameterError
        The class already has a converter and ``overwrite`` is False.

    Examples
    --------
    >>> from archmodel.export import register_converter
    >>> register_converter("mypackage.predictors.MyMLPPredictor",
    ...                    "mypackage.onnx:convert_my_mlp", encoding="onehot")  # doctest: +SKIP
    """
    key = predictor_class if isinstance(predictor_class, str) else _qualname(predictor_class)
    if key in _REGISTRY and not overwrite:
        raise ParameterError(f"an ONNX converter for {key} is already registered (pass overwrite=True)")
    if not (callable(convert) or (isinstance(convert, str) and convert.count(":") == 1)):
        raise ParameterError(f"convert must be a callable or 'module:function'; got {convert!r}")
    _REGISTRY[key] = (convert, encoding)


def get_converter(predictor: Any) -> ConverterInfo:
    """The converter registered for ``type(predictor)`` (exact class, not a parent's).

    Raises
    ------
    NoConverterError
        None is registered (the message lists the classes that have one).
    """
    cls = predictor if isinstance(predictor, type) else type(predictor)
    key = _qualname(cls)
    if key in _REGISTRY:
        convert, encoding = _REGISTRY[key]
        if isinstance(convert, str):
            module, func = convert.split(":")
            convert = getattr(importlib.import_module(module), func)
            _REGISTRY[key] = (convert, encoding)
        return ConverterInfo(convert, encoding)
    parents = [b.__name__ for b in cls.__mro__[1:] if _qualname(b) in _REGISTRY]
    hint = (f" (its parent {parents[0]} has one, but a subclass may change the math: register "
            f"one for {cls.__name__} with archmodel.export.register_converter)") if parents else ""
    raise NoConverterError(
        f"no ONNX converter for {cls.__name__}{hint}; predictors with a converter: "
        f"{supported_predictors()}")


register_converter("archmodel.predictors.baselines.MLPPredictor",
                   "archmodel.export.baselines:convert_mlp", encoding="onehot")
register_converter("archmodel.predictors.baselines.LSTMPredictor",
                   "archmodel.export.baselines:convert_lstm", encoding="sequence")
register_converter("archmodel.predictors.baselines.GCNPredictor",
                   "archmodel.export.baselines:convert_gcn", encoding="graph")


def supported_predictors() -> list[str]:
    """Class names of the predictors that can be exported."""
    return sorted(k.rsplit(".", 1)[-1] for k in _REGISTRY)


# ============================================================================ export
def _require_onnx():
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"ONNX export needs the 'onnx' package: pip install 'archmodel[onnx]' ({exc})") from None
    return onnx


def _predict_reference(predictor: Any, batch: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray]) -> np.ndarray:
    """NumPy-backend scores of ``batch`` with ``params`` substituted (predictor untouched)."""
    clone = copy.copy(predictor)
    clone.params_ = dict(params)
    clone.backend = "numpy"
    clone.dtype = str(next(iter(params.values())).dtype)
    return np.asarray(clone.predict_arrays(batch), dtype=np.float64)


def _max_errors(ref: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    diff = np.abs(np.asarray(other, np.float64) - np.asarray(ref, np.float64))
    scale = float(np.abs(ref).max(initial=0.0))
    mx = float(diff.max(initial=0.0))
    return mx, (mx / scale if scale > 0 else 0.0)


def to_onnx(predictor: Any, path: str | os.PathLike | None, *, opset: int = DEFAULT_OPSET,
            verify: bool = True, probe_size: int = PROBE_SIZE, compute_dtype: str = "float32",
            converter_options: Mapping[str, Any] | None = None) -> Any:
    """Export a fitted predictor to an ONNX file.

    Parameters
    ----------
    predictor : Predictor
        Fitted (``params_``, ``model_``, ``space_``), of a class with a registered converter.
    path : path-like or None
        Output ``.onnx`` file, written atomically; None: only return the model.
    opset : int in [MIN_OPSET, MAX_OPSET]
        Default-domain opset (default 17). The IR version is the smallest that carries it.
    verify : bool
        Run the model with onnxruntime (when installed) on ``probe_size`` architectures sampled
        from the space (seed 0) and compare with the NumPy reference; raise if the relative
        error (max abs difference / max abs reference score) exceeds 1e-4. The measured errors
        go into the metadata.
    probe_size : int
        Probe sample size for ``verify`` and for measuring the float64 -> float32 cast.
    compute_dtype : {'float32', 'float64'}
        Precision of the graph's arithmetic (weights, inputs and the score stay float32;
        :class:`~archmodel.export._graph.GraphBuilder`). ``'float32'`` (default) is the fastest;
        ``'float64'`` rounds only the final score, so the scores equal the float64 NumPy
        reference of the float32 weights (``predictor.astype('float32').astype('float64')``)
        rounded to float32, and rankings agree with it exactly (no float32 near-tie swaps).
    converter_options : mapping, optional
        Keyword arguments for the converter, e.g. ``{"variant": "dense"}`` for GATES
        (:func:`archmodel.export.gates.convert_gates`).

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    NotFittedError
        The predictor is not fitted.
    NoConverterError
        Its class has no converter.
    ParameterError
        Opset out of range, or the graph inputs disagree with the space's contract.
    MissingDependencyError
        ``onnx`` is not installed.
    """
    onnx = _require_onnx()
    from onnx import helper

    from archmodel.export._graph import COMPUTE_DTYPES, GraphBuilder
    from archmodel.export.contract import check_graph_inputs, contract_sha256, encode, load_contract
    from archmodel.spaces import get_space

    if not hasattr(predictor, "params_") or not hasattr(predictor, "model_"):
        raise NotFittedError(f"This {type(predictor).__name__} is not fitted yet; call fit(archs, y) first.")
    check_range("to_onnx", "opset", opset, MIN_OPSET, MAX_OPSET, integer=True)
    check_range("to_onnx", "probe_size", probe_size, 1, integer=True)
    check_choice("to_onnx", "compute_dtype", compute_dtype, COMPUTE_DTYPES)
    info = get_converter(predictor)
    space = get_space(predictor.space_)
    contract = load_contract(space.name)
    cls_name = type(predictor).__name__

    g = GraphBuilder(opset=opset, name=f"archmodel_{cls_name}_{space.name}", compute_dtype=compute_dtype)
    info.convert(predictor, g, **dict(converter_options or {}))
    check_graph_inputs(contract, info.encoding, g.input_specs)

    graph = g.make_graph(doc=f"{cls_name} scores for search space {space.name!r} "
                             f"(contract specs/onnx/{space.name}.json v{contract['contract_version']})")
    opset_ids = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opset_ids, producer_name="archmodel",
                              producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opset_ids))
    model.doc_string = (f"archmodel {cls_name} exported for {space.name}; inputs per "
                        f"specs/onnx/{space.name}.json, output 'score' float32 [batch] (higher = better).")
    onnx.checker.check_model(model, full_check=True)

    # ---- the float64 -> float32 cast, measured on the scores of a probe sample
    probe = space.sample(probe_size, 0)
    batch = encode(space, probe, info.encoding)
    params = predictor.params_
    params32 = {k: np.asarray(v).astype(np.float32) for k, v in params.items()}
    meta: dict[str, Any] = {}
    source_dtype = g.cast.source_dtype
    if source_dtype != "float32":
        ref64 = _predict_reference(predictor, batch, params)
        ref32 = _predict_reference(predictor, batch, params32)
        abs_err, rel_err = _max_errors(ref64, ref32)
        logger.info("to_onnx: %s parameters cast to float32: max parameter error %.3g (relative %.3g); "
                    "max score error on %d probe architectures %.3g (%.3g of the largest score)",
                    source_dtype, g.cast.max_abs_error, g.cast.max_rel_error, probe_size, abs_err, rel_err)
        meta.update(cast_max_abs_score_error=abs_err, cast_max_rel_score_error=rel_err)
    else:
        meta.update(cast_max_abs_score_error=0.0, cast_max_rel_score_error=0.0)

    if verify:
        try:
            import onnxruntime as ort
        except ImportError:
            logger.warning("to_onnx: onnxruntime is not installed; skipping verification")
        else:
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
            got = sess.run(["score"], {k: v for k, v in batch.items()})[0]
            if compute_dtype == "float64":  # the exact function of the stored float32 weights
                ref = _predict_reference(predictor, batch,
                                         {k: v.astype(np.float64) for k, v in params32.items()})
            else:
                ref = _predict_reference(predictor, batch, params)
            abs_err, rel_err = _max_errors(ref, got)
            meta.update(verify_max_abs_error=abs_err, verify_max_rel_error=rel_err)
            logger.info("to_onnx: onnxruntime vs NumPy reference on %d probe architectures: "
                        "max abs error %.3g, relative %.3g", probe_size, abs_err, rel_err)
            if not (rel_err <= 1e-4) or got.shape != ref.shape:
                raise ArchModelError(
                    f"to_onnx: the exported graph disagrees with the NumPy reference "
                    f"(max relative error {rel_err:.3g} > 1e-4); this is a converter bug")

    def jdump(obj: Any) -> str:
        from archmodel.predictors.base import _jsonable

        return json.dumps(_jsonable(obj), sort_keys=True)

    model_config = predictor._model_config() if hasattr(predictor, "_model_config") else {}
    params_meta = predictor.get_params() if hasattr(predictor, "get_params") else {}
    if params_meta.get("rng") is not None and not isinstance(params_meta["rng"], (int, np.integer)):
        params_meta["rng"] = None
    meta = {
        "archmodel_format": MODEL_FORMAT, "archmodel_format_version": MODEL_FORMAT_VERSION,
        "space": space.name, "contract_version": contract["contract_version"],
        "contract_sha256": contract_sha256(space.name),
        "encoding": info.encoding, "graph_variant": g.variant, "archmodel_version": __version__,
        "predictor_class": cls_name, "predictor_params": jdump(params_meta),
        "model_config": jdump(model_config), "source_dtype": source_dtype,
        "compute_dtype": compute_dtype,
        "cast_max_abs_param_error": g.cast.max_abs_error,
        "cast_max_rel_param_error": g.cast.max_rel_error, "opset": opset,
        "n_train": int(getattr(predictor, "n_train_", 0) or 0), **meta,
    }
    helper.set_model_props(model, {k: (repr(v) if isinstance(v, float) else str(v)) for k, v in meta.items()})
    if path is not None:
        from archmodel.io import atomic_write

        data = model.SerializeToString()
        with atomic_write(path, "wb") as fh:
            fh.write(data)
        os.chmod(path, 0o644)  # atomic_write's temporary file is private (0600)
        logger.info("to_onnx: wrote %s (%d bytes, opset %d, IR version %d)", path, len(data), opset,
                    model.ir_version)
    return model


# ============================================================================ inference
def load_onnx_predictor(path: str | os.PathLike, **kwargs: Any) -> Any:
    """Load an exported model for inference (onnxruntime; Numba is not needed).

    Parameters
    ----------
    path : path-like
        ``.onnx`` file written by :func:`to_onnx`.
    **kwargs
        ``intra_op_num_threads``, ``inter_op_num_threads``, ``providers``,
        ``graph_optimization_level``, ``session_options``, ``batch_size``: see
        :class:`archmodel.backends.onnxruntime.ONNXPredictor`.

    Returns
    -------
    archmodel.backends.onnxruntime.ONNXPredictor

    Raises
    ------
    FormatError
        Not an archmodel ONNX model, truncated or corrupt, or an unknown contract version.
    MissingDependencyError
        onnxruntime is not installed.
    """
    from archmodel.backends.onnxruntime import load_onnx_predictor as _load

    return _load(path, **kwargs)
