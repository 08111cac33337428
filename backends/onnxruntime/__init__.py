"""onnxruntime inference backend for exported predictors (installed as
``archmodel.backends.onnxruntime``).

Loads a model written by :func:`archmodel.export.to_onnx`, checks its metadata against the
encoding contract and scores architectures with onnxruntime. It needs onnxruntime and NumPy
only: neither Numba nor the ``onnx`` package is imported.

>>> from archmodel.backends.onnxruntime import load_onnx_predictor   # doctest: +SKIP
>>> p = load_onnx_predictor("gates.onnx", intra_op_num_threads=1)
>>> p.space_, p.predict(["|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"])
('nb201', array([0.0123], dtype=float32))
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from archmodel.errors import (FormatError, InvalidArchitectureError, MissingDependencyError,
                              ParameterError, check_range)

logger = logging.getLogger(__name__)

__all__ = ["ONNXPredictor", "load_onnx_predictor", "MODEL_FORMAT"]

MODEL_FORMAT = "archmodel.onnx_predictor"
SUPPORTED_MODEL_FORMAT_VERSIONS = (1,)


def _import_ort():
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependencyError(
            f"ONNX inference needs onnxruntime, which is not installed: pip install 'archmodel[onnx]' ({exc})"
        ) from None
    return ort


class ONNXPredictor:
    """An exported predictor scored by onnxruntime.

    Parameters
    ----------
    path : path-like
        ``.onnx`` file written by :func:`archmodel.export.to_onnx`.
    intra_op_num_threads, inter_op_num_threads : int or None
        onnxruntime thread pools (None: onnxruntime's default, one thread per physical core).
    providers : sequence of str, optional
        Execution providers (default ``["CPUExecutionProvider"]``).
    graph_optimization_level : str, optional
        ``"disable"``, ``"basic"``, ``"extended"`` or ``"all"`` (onnxruntime's default: all).
    session_options : onnxruntime.SessionOptions, optional
        Used as given (the thread and optimisation arguments are then applied on top of it).
    batch_size : int
        Rows per ``session.run`` call in :meth:`predict` and :meth:`predict_arrays`.

    Attributes
    ----------
    space_ : str
        Search space of the model.
    predictor_class_ : str
        Class of the exported predictor (e.g. ``'GATESPredictor'``).
    contract_version_ : int
    encoding_ : str
        Contract encoding of the inputs.
    compute_dtype_ : {'float32', 'float64'}
        Precision of the graph's arithmetic (``'float32'`` for models that predate the key).
    metadata_ : dict[str, str]
        All ``metadata_props`` of the model.
    input_names_ : list of str
    session_ : onnxruntime.InferenceSession
    session_options_ : onnxruntime.SessionOptions
    """

    def __init__(self, path: str | os.PathLike, *, intra_op_num_threads: int | None = None,
                 inter_op_num_threads: int | None = None, providers: Sequence[str] | None = None,
                 graph_optimization_level: str | None = None, session_options: Any = None,
                 batch_size: int = 4096) -> None:
        ort = _import_ort()
        from archmodel.export.contract import check_contract_version, contract_sha256, load_contract

        self.path = Path(path)
        self.batch_size = check_range("ONNXPredictor", "batch_size", batch_size, 1, integer=True)
        if not self.path.exists():
            raise FileNotFoundError(f"no such file: {self.path}")
        so = session_options if session_options is not None else ort.SessionOptions()
        if intra_op_num_threads is not None:
            so.intra_op_num_threads = check_range("ONNXPredictor", "intra_op_num_threads",
                                                  intra_op_num_threads, 0, integer=True)
        if inter_op_num_threads is not None:
            so.inter_op_num_threads = check_range("ONNXPredictor", "inter_op_num_threads",
                                                  inter_op_num_threads, 0, integer=True)
        if graph_optimization_level is not None:
            levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                      "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                      "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                      "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
            if graph_optimization_level not in levels:
                raise ParameterError(
                    f"The 'graph_optimization_level' parameter of ONNXPredictor must be one of "
                    f"{set(levels)}. Got {graph_optimization_level!r} instead.")
            so.graph_optimization_level = levels[graph_optimization_level]
        self.session_options_ = so
        self.providers_ = list(providers) if providers is not None else ["CPUExecutionProvider"]
        unknown = [pr for pr in self.providers_ if pr not in ort.get_available_providers()]
        if unknown:
            raise ParameterError(f"ONNXPredictor: execution providers {unknown} are not available; "
                                 f"available: {ort.get_available_providers()}")
        data = self.path.read_bytes()
        try:
            self.session_ = ort.InferenceSession(data, so, providers=self.providers_)
        except Exception as exc:  # onnxruntime raises its own InvalidProtobuf / Fail / ...
            raise FormatError(f"{self.path}: not a loadable ONNX model (truncated or corrupt?): "
                              f"{type(exc).__name__}: {str(exc).strip()[:300]}") from None
        meta = dict(self.session_.get_modelmeta().custom_metadata_map)
        self.metadata_ = meta
        fmt = meta.get("archmodel_format")
        if fmt != MODEL_FORMAT:
            raise FormatError(
                f"{self.path}: not an archmodel ONNX predictor (metadata 'archmodel_format' is {fmt!r}, "
                f"expected {MODEL_FORMAT!r}); export models with archmodel.export.to_onnx")
        try:
            fv = int(meta.get("archmodel_format_version", ""))
        except ValueError:
            fv = None
        if fv not in SUPPORTED_MODEL_FORMAT_VERSIONS:
            raise FormatError(f"{self.path}: archmodel_format_version {meta.get('archmodel_format_version')!r} "
                              f"is not supported (supported: {list(SUPPORTED_MODEL_FORMAT_VERSIONS)})")
        self.contract_version_ = check_contract_version(meta.get("contract_version"), f"{self.path}: ")
        for key in ("space", "encoding", "predictor_class"):
            if not meta.get(key):
                raise FormatError(f"{self.path}: metadata lacks {key!r}")
        self.space_ = meta["space"]
        self.encoding_ = meta["encoding"]
        self.predictor_class_ = meta["predictor_class"]
        self.compute_dtype_ = meta.get("compute_dtype", "float32")
        try:
            contract = load_contract(self.space_)
        except ParameterError as exc:
            raise FormatError(f"{self.path}: {exc}") from None
        want_sha = contract_sha256(self.space_)
        if meta.get("contract_sha256") != want_sha:
            raise FormatError(
                f"{self.path}: metadata 'contract_sha256' is {meta.get('contract_sha256')!r} but this "
                f"archmodel's contract for {self.space_!r} hashes to {want_sha!r}: the model was "
                "exported with another contract file; score it with the archmodel release that "
                "exported it (or export it again)")
        if contract["contract_version"] != self.contract_version_:
            raise FormatError(  # pragma: no cover - only one version exists so far
                f"{self.path}: model follows contract version {self.contract_version_} but this "
                f"archmodel ships version {contract['contract_version']} for {self.space_!r}")
        enc = contract["encodings"].get(self.encoding_)
        if enc is None:
            raise FormatError(f"{self.path}: encoding {self.encoding_!r} is not in the {self.space_!r} contract")
        self.contract_ = contract
        self._inputs = {i.name: i for i in self.session_.get_inputs()}
        self.input_names_ = [i["name"] for i in enc["inputs"]]
        if sorted(self._inputs) != sorted(self.input_names_):
            raise FormatError(f"{self.path}: model inputs {sorted(self._inputs)} differ from the "
                              f"contract's {self.input_names_}")
        self._shapes = {i["name"]: tuple(i["shape"][1:]) for i in enc["inputs"]}
        self._dtypes = {i["name"]: np.dtype(i["dtype"]) for i in enc["inputs"]}
        onnx_types = {"float32": "tensor(float)", "int64": "tensor(int64)"}
        for i in enc["inputs"]:
            arg = self._inputs[i["name"]]
            if arg.type != onnx_types.get(i["dtype"]) or tuple(arg.shape[1:]) != self._shapes[i["name"]]:
                raise FormatError(f"{self.path}: input {i['name']!r} is {arg.type} {arg.shape}; the "
                                  f"contract says {i['dtype']} {i['shape']}")
        outs = [o.name for o in self.session_.get_outputs()]
        if outs != ["score"]:
            raise FormatError(f"{self.path}: model outputs {outs}, expected ['score']")

    # ------------------------------------------------------------------ helpers
    def __repr__(self) -> str:
        return (f"ONNXPredictor({str(self.path)!r}, space={self.space_!r}, "
                f"predictor={self.predictor_class_!r}, contract_version={self.contract_version_})")

    def _resolve(self, archs: Sequence[Any], space: Any) -> tuple[Any, list[Any]]:
        from archmodel.arch import Arch
        from archmodel.spaces import get_space

        archs = list(archs)
        if not archs:
            raise ParameterError("ONNXPredictor: no architectures given")
        sp = get_space(space if space is not None else self.space_)
        others = sorted(({a.space for a in archs if isinstance(a, Arch)} | {sp.name}) - {self.space_})
        if others:
            raise InvalidArchitectureError(
                f"this model scores search space {self.space_!r}; got architectures of {others}")
        return sp, [sp.parse(a) if not isinstance(a, Arch) else sp.check_arch(a) for a in archs]

    # ------------------------------------------------------------------ API
    def encode(self, archs: Sequence[Any], *, space: Any = None) -> dict[str, np.ndarray]:
        """The model's input arrays for ``archs`` (Arch objects or strings of the space)."""
        from archmodel.export.contract import encode

        sp, archs = self._resolve(archs, space)
        return encode(sp, archs, self.encoding_)

    def predict(self, archs: Sequence[Any], *, space: Any = None,
                batch_size: int | None = None) -> np.ndarray:
        """Scores of ``archs`` (higher = predicted better): float32 ``[n]``, in input order."""
        return self.predict_arrays(self.encode(archs, space=space), batch_size=batch_size)

    def predict_arrays(self, batch: Mapping[str, np.ndarray], *, batch_size: int | None = None) -> np.ndarray:
        """Scores of already-encoded input arrays (the contract's inputs): float32 ``[n]``."""
        if not isinstance(batch, Mapping):
            raise ParameterError(f"ONNXPredictor.predict_arrays: batch must be a mapping; got {type(batch).__name__}")
        missing = [k for k in self.input_names_ if k not in batch]
        if missing:
            raise ParameterError(f"ONNXPredictor: batch lacks inputs {missing}; the model takes {self.input_names_}")
        feeds: dict[str, np.ndarray] = {}
        n = None
        for k in self.input_names_:
            a = np.asarray(batch[k])
            if a.shape[1:] != self._shapes[k] or a.ndim != len(self._shapes[k]) + 1:
                raise ParameterError(f"ONNXPredictor: input {k!r} must have shape "
                                     f"[batch, {', '.join(map(str, self._shapes[k]))}]; got {a.shape}")
            if n is None:
                n = a.shape[0]
            elif a.shape[0] != n:
                raise ParameterError(f"ONNXPredictor: inputs disagree on the batch size ({n} vs {a.shape[0]})")
            feeds[k] = np.ascontiguousarray(a, dtype=self._dtypes[k])
        if self.encoding_ == "graph":
            self._check_graph_values(feeds)
        elif self.encoding_ in ("onehot", "sequence"):
            self._check_decision_values(feeds)
        bs = self.batch_size if batch_size is None else check_range(
            "ONNXPredictor", "batch_size", batch_size, 1, integer=True)
        if n == 0:
            return np.zeros(0, np.float32)
        out = [self.session_.run(["score"], {k: v[s:s + bs] for k, v in feeds.items()})[0]
               for s in range(0, n, bs)]
        return np.concatenate(out) if len(out) > 1 else out[0]

    def _check_graph_values(self, feeds: Mapping[str, np.ndarray]) -> None:
        """Reject index values the graph would silently ignore (out-of-range nodes) or fail on."""
        n = int(self.contract_["nodes"]["n_nodes"])
        k = len(self.contract_["vocabulary"])
        if "edges" in feeds:
            e = feeds["edges"]
            if e.size and (e[..., :2].min() < 0 or e[..., :2].max() >= n or e[..., 2].min() < 0
                           or e[..., 2].max() >= k):
                raise ParameterError(
                    f"ONNXPredictor: input 'edges' needs node numbers in [0, {n}) and operation "
                    f"indices in [0, {k}) (see specs/onnx/{self.space_}.json)")
            order = self.contract_["build"].get("edge_order")
            if order is not None and e.size and not np.array_equal(
                    e[..., :2], np.broadcast_to(np.asarray(order, np.int64), e.shape[:-1] + (2,))):
                raise ParameterError(
                    f"ONNXPredictor: in search space {self.space_!r} every row e of input 'edges' "
                    f"must have [src, dst] = edge_order[e] = {order} (specs/onnx/{self.space_}.json); "
                    "only the op column varies")
        if "adj" in feeds:
            a = feeds["adj"]
            if a.size and not np.all((a == 0) | (a == 1)):
                raise ParameterError("ONNXPredictor: input 'adj' must hold only 0.0 and 1.0")
        if "node_ops" in feeds:
            o = feeds["node_ops"]
            if o.size and (o.min() < 0 or o.max() >= k):
                raise ParameterError(f"ONNXPredictor: input 'node_ops' needs operation indices in [0, {k})")

    def _check_decision_values(self, feeds: Mapping[str, np.ndarray]) -> None:
        """Reject decisions out of range (the graph would read another decision's rows) and
        one-hot inputs that are not one-hot."""
        enc = self.contract_["encodings"][self.encoding_]
        sizes = np.asarray(enc["decision_sizes"], np.int64)
        if "seq" in feeds:
            s = feeds["seq"]
            bad = (s < 0) | (s >= sizes)
            if bad.any():
                r, t = (int(v) for v in np.argwhere(bad)[0])
                raise ParameterError(
                    f"ONNXPredictor: seq[{r}, {t}] = {int(s[r, t])} is outside [0, {int(sizes[t])}) "
                    f"(decision {t}; see specs/onnx/{self.space_}.json)")
        if "onehot" in feeds:
            x = feeds["onehot"]
            if x.size:
                ok = np.all((x == 0) | (x == 1))
                if ok:
                    starts = np.asarray(enc["offsets"], np.int64)
                    ok = bool(np.all(np.add.reduceat(x, starts, axis=1) == 1))
                if not ok:
                    raise ParameterError(
                        "ONNXPredictor: input 'onehot' must hold 0.0 and 1.0 only, with exactly one "
                        f"1.0 per decision block (decision_sizes {enc['decision_sizes']})")

    @property
    def model_info(self) -> dict[str, Any]:
        """Metadata with the JSON fields decoded."""
        info: dict[str, Any] = dict(self.metadata_)
        for k in ("predictor_params", "model_config"):
            if k in info:
                try:
                    info[k] = json.loads(info[k])
                except json.JSONDecodeError:  # pragma: no cover
                    pass
        return info


def load_onnx_predictor(path: str | os.PathLike, *, intra_op_num_threads: int | None = None,
                        inter_op_num_threads: int | None = None, providers: Sequence[str] | None = None,
                        graph_optimization_level: str | None = None, session_options: Any = None,
                        batch_size: int = 4096) -> ONNXPredictor:
    """Load an exported model (see :class:`ONNXPredictor` for the parameters).

    Raises
    ------
    FormatError
        Truncated or corrupt file, not an archmodel model, or an unknown contract version.
    FileNotFoundError
        No such file.
    MissingDependencyError
        onnxruntime is not installed.
    """
    return ONNXPredictor(path, intra_op_num_threads=intra_op_num_threads,
                         inter_op_num_threads=inter_op_num_threads, providers=providers,
                         graph_optimization_level=graph_optimization_level,
                         session_options=session_options, batch_size=batch_size)
