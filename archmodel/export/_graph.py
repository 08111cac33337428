"""A small ONNX graph builder shared by every converter (``onnx.helper`` underneath).

A converter receives a :class:`GraphBuilder`, declares the graph inputs, adds weights with
:meth:`GraphBuilder.weight` (which performs the explicit float64 -> float32 cast and records
its error) and nodes with :meth:`GraphBuilder.op`, and names the single output with
:meth:`GraphBuilder.output`. :func:`archmodel.export.to_onnx` then assembles, checks and writes
the model. Only this module and the converters import :mod:`onnx`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from archmodel.errors import ParameterError

logger = logging.getLogger(__name__)

#: NumPy dtype name -> ONNX TensorProto element type name
_ELEM = {"float32": "FLOAT", "float64": "DOUBLE", "int64": "INT64", "bool": "BOOL"}

#: the arithmetic precisions a graph can compute in (inputs, weights and the output stay float32)
COMPUTE_DTYPES = ("float32", "float64")

#: symbolic name of the dynamic batch dimension of every input and the output
BATCH_DIM = "batch"


@dataclass
class CastRecord:
    """Effect of casting float64 parameters to float32 (all zeros for float32 models)."""

    source_dtype: str = "float32"
    n_values: int = 0
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0


@dataclass
class GraphBuilder:
    """Collects the inputs, weights, nodes and output of one ONNX graph.

    Parameters
    ----------
    opset : int
        Default-domain opset the nodes must conform to (converters may branch on it).
    name : str
        Graph name.
    compute_dtype : {'float32', 'float64'}
        Precision of the graph's arithmetic. Weights are always stored float32 (the explicit
        cast is recorded in :attr:`cast`), float inputs and the ``score`` output are float32.
        With ``'float64'`` every weight and float input is cast to double inside the graph
        (onnxruntime folds the weight casts into constants when the session is created) and the
        score is rounded to float32 once, at the end: the result is then the correctly rounded
        value of the float32-weight model up to double-precision noise, the same for every
        runtime and BLAS, so rankings agree exactly with the float64 NumPy reference.
    """

    opset: int
    name: str = "archmodel"
    compute_dtype: str = "float32"
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    cast: CastRecord = field(default_factory=CastRecord)
    input_specs: list[dict[str, Any]] = field(default_factory=list)
    #: which graph the converter built (recorded as the model's ``graph_variant`` metadata);
    #: converters with one graph leave ``"default"``
    variant: str = "default"
    _names: set = field(default_factory=set)
    _counter: int = 0
    _consts: dict = field(default_factory=dict)
    _weights: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise ParameterError(f"compute_dtype must be one of {COMPUTE_DTYPES}; got {self.compute_dtype!r}")

    @property
    def float_elem(self) -> int:
        """ONNX element type of the graph's arithmetic (``to=`` of a Cast to it)."""
        from onnx import TensorProto

        return getattr(TensorProto, _ELEM[self.compute_dtype])

    def to_compute(self, tensor: str, hint: str) -> str:
        """``tensor`` (float32) in the compute precision: itself, or a Cast to double."""
        if self.compute_dtype == "float32":
            return tensor
        return self.op("Cast", [tensor], to=self.float_elem, name=f"{hint}.f64")

    # ------------------------------------------------------------------ names
    def fresh(self, hint: str) -> str:
        """A tensor name not used yet, derived from ``hint``."""
        base = hint.replace("/", ".")
        name = base
        while name in self._names:
            self._counter += 1
            name = f"{base}_{self._counter}"
        self._names.add(name)
        return name

    # ------------------------------------------------------------------ graph interface
    def input(self, name: str, dtype: str, shape: Sequence[int | str]) -> str:
        """Declare a graph input.

        Parameters
        ----------
        name : str
            Exact input name (part of the published contract).
        dtype : {'float32', 'int64'}
        shape : sequence of int or str
            Use :data:`BATCH_DIM` for the dynamic batch dimension.
        """
        from onnx import TensorProto, helper

        if name in self._names:
            raise ParameterError(f"graph input name {name!r} is already used")
        self._names.add(name)
        elem = getattr(TensorProto, _ELEM[dtype])
        self.inputs.append(helper.make_tensor_value_info(name, elem, list(shape)))
        self.input_specs.append({"name": name, "dtype": dtype, "shape": list(shape)})
        return name

    def float_input(self, name: str, shape: Sequence[int | str]) -> str:
        """Declare a float32 graph input; return it in the compute precision."""
        return self.to_compute(self.input(name, "float32", shape), name)

    def output(self, tensor: str, name: str = "score") -> str:
        """Make ``tensor`` (``[batch]``, compute precision) the graph's float32 output ``name``."""
        from onnx import TensorProto, helper

        if self.compute_dtype != "float32":  # the single rounding to float32
            tensor = self.op("Cast", [tensor], to=TensorProto.FLOAT, name=f"{name}.f32")
        self.op("Identity", [tensor], name=name)
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [BATCH_DIM]))
        return name

    def weight(self, name: str, array: np.ndarray) -> str:
        """Add a learned float parameter as a float32 initializer (explicit cast, recorded).

        Parameters
        ----------
        name : str
            Parameter name (kept as the initializer name so the graph is readable).
        array : ndarray, float32 or float64

        Returns
        -------
        str
            The weight in the compute precision (the initializer, or its Cast to double). A
            parameter added again under the same name with equal values (e.g. one used by every
            unrolled time step) returns the same tensor: it is stored once.
        """
        from onnx import numpy_helper

        a = np.asarray(array)
        if a.dtype.kind != "f":
            raise ParameterError(f"weight {name!r} must be a float array; got dtype {a.dtype}")
        seen = self._weights.get(name)
        if seen is not None and seen[0].dtype == a.dtype and np.array_equal(seen[0], a):
            return seen[1]
        a32 = a.astype(np.float32)  # the explicit float64 -> float32 cast
        if a.dtype != np.float32:
            self.cast.source_dtype = str(a.dtype)
            err = np.abs(a32.astype(np.float64) - a.astype(np.float64))
            scale = np.maximum(np.abs(a.astype(np.float64)), np.finfo(np.float64).tiny)
            if err.size:
                self.cast.max_abs_error = max(self.cast.max_abs_error, float(err.max()))
                self.cast.max_rel_error = max(self.cast.max_rel_error, float((err / scale).max()))
        self.cast.n_values += int(a.size)
        tname = self.fresh(name)
        self.initializers.append(numpy_helper.from_array(np.array(a32, order="C"), tname))
        out = self.to_compute(tname, tname)
        self._weights.setdefault(name, (a.copy(), out))
        return out

    def const(self, array: Any, dtype: str, hint: str = "const") -> str:
        """A constant initializer (structure, not learned: indices, masks, shapes). Cached."""
        from onnx import numpy_helper

        a = np.array(array, dtype=np.dtype(dtype), order="C")  # keeps 0-d arrays 0-d
        key = (a.dtype.str, a.shape, a.tobytes())
        if key in self._consts:
            return self._consts[key]
        tname = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(a, tname))
        self._consts[key] = tname
        return tname

    def fconst(self, array: Any, hint: str = "const") -> str:
        """A float constant (masks, zeros, counts) in the compute precision."""
        return self.const(array, self.compute_dtype, hint)

    def op(self, op_type: str, inputs: Sequence[str], *, name: str | None = None,
           n_outputs: int = 1, omit: Sequence[int] = (), **attrs: Any) -> str | list[str | None]:
        """Append a node of the default domain; return its output name(s).

        ``omit`` lists positions of *optional* outputs the graph does not use: they are left
        out of the node (empty names) and returned as None. Every output a node produces must
        be consumed (:meth:`make_graph` checks it): onnxruntime before 1.19 could give the
        buffer of a produced-but-unused output to another live tensor when memory patterns
        are on (its default), and return wrong scores from the second run of a session on.
        """
        from onnx import helper

        outs: list[str | None] = []
        for i in range(n_outputs):
            if i in omit:
                outs.append(None)
            elif name is None or i > 0:
                outs.append(self.fresh(name or op_type.lower()))
            else:
                outs.append(self._claim(name))
        self.nodes.append(helper.make_node(op_type, list(inputs), [o or "" for o in outs],
                                           name=f"n{len(self.nodes)}_{op_type}", **attrs))
        return outs[0] if n_outputs == 1 else outs

    def _claim(self, name: str) -> str:
        if name in self._names:
            return self.fresh(name)
        self._names.add(name)
        return name

    # ------------------------------------------------------------------ common layers
    def linear(self, x: str, w: np.ndarray, b: np.ndarray | None, prefix: str) -> str:
        """``x @ W (+ b)`` with ``W`` stored ``[in, out]`` as archmodel does (``MatMul`` then
        ``Add``; onnxruntime fuses the pair where that is faster)."""
        y = self.op("MatMul", [x, self.weight(f"{prefix}.weight", w)], name=f"{prefix}.matmul")
        if b is not None:
            y = self.op("Add", [y, self.weight(f"{prefix}.bias", b)], name=f"{prefix}.add")
        return y

    def mlp_head(self, x: str, params: dict[str, np.ndarray], n_hidden: int, prefix: str = "head") -> str:
        """archmodel's MLP head in evaluation mode: ``[Linear -> ReLU] * n_hidden -> Linear``,
        returning the squeezed scores ``[batch]``.

        In float64 arithmetic (where onnxruntime does not fuse ``MatMul`` and ``Add``) the input
        gets a column of ones and each layer's bias is the last row of its weight matrix, which
        also carries the ones column forward (``relu(1) = 1``): one ``MatMul`` per layer.
        """
        if self.compute_dtype == "float64" and n_hidden > 0:
            return self._mlp_head_augmented(x, params, n_hidden, prefix)
        out = self.mlp(x, params, n_hidden, prefix)
        return self.op("Squeeze", [out, self.const([1], "int64", "axis1")], name="score_raw")

    def mlp(self, x: str, params: dict[str, np.ndarray], n_hidden: int, prefix: str) -> str:
        """archmodel's :class:`~archmodel.nn.layers.MLP` in evaluation mode (parameters
        ``{prefix}.fc{i}.*`` and ``{prefix}.out.*``): ``[Linear -> ReLU] * n_hidden -> Linear``
        on the last axis of ``x`` (``[..., in]`` -> ``[..., out]``)."""
        h = x
        for i in range(n_hidden):
            h = self.linear(h, params[f"{prefix}.fc{i}.weight"], params[f"{prefix}.fc{i}.bias"],
                            f"{prefix}.fc{i}")
            h = self.op("Relu", [h], name=f"{prefix}.fc{i}.relu")
        return self.linear(h, params[f"{prefix}.out.weight"], params[f"{prefix}.out.bias"], f"{prefix}.out")

    def _mlp_head_augmented(self, x: str, params: dict[str, np.ndarray], n_hidden: int, prefix: str) -> str:
        """:meth:`mlp_head` with the biases folded into the matrices (see there)."""
        h = self.op("Pad", [x, self.const([0, 0, 0, 1], "int64", "pad_last_col"),
                            self.fconst(np.array(1.0), "one")], mode="constant", name=f"{prefix}.ones_col")
        for i in range(n_hidden + 1):
            key = f"{prefix}.fc{i}" if i < n_hidden else f"{prefix}.out"
            w, b = np.asarray(params[f"{key}.weight"]), np.asarray(params[f"{key}.bias"])
            n_in, n_out = w.shape
            last = i == n_hidden
            aug = np.zeros((n_in + 1, n_out + (0 if last else 1)), dtype=w.dtype)
            aug[:n_in, :n_out] = w
            aug[n_in, :n_out] = b
            if not last:
                aug[n_in, n_out] = 1.0  # keeps the ones column
            h = self.op("MatMul", [h, self.weight(f"{key}.weight_bias", aug)], name=f"{key}.matmul")
            if not last:
                h = self.op("Relu", [h], name=f"{key}.relu")
        return self.op("Squeeze", [h, self.const([1], "int64", "axis1")], name="score_raw")

    # ------------------------------------------------------------------ assembly
    def make_graph(self, doc: str = ""):
        """The ``onnx.GraphProto``, without dead code.

        Nodes none of whose outputs reach the graph output (e.g. tables a converter builds
        uniformly but the readout never reads) are dropped, and so are initializers nothing
        uses any more. A node left with an output that nothing consumes is a converter bug
        (:class:`ParameterError`; leave optional outputs out with ``op(..., omit=...)``): such
        outputs made onnxruntime 1.15-1.18 reuse a live buffer (see :meth:`op`).
        """
        from onnx import helper

        if len(self.outputs) != 1:
            raise ParameterError(f"a predictor graph must have exactly one output; got {len(self.outputs)}")
        nodes = _live_nodes(self.nodes, {o.name for o in self.outputs})
        used = {i for n in nodes for i in n.input if i} | {o.name for o in self.outputs}
        dangling = [(n.name, o) for n in nodes for o in n.output if o and o not in used]
        if dangling:
            raise ParameterError(
                f"graph {self.name!r}: node outputs {dangling} are produced but never used; leave "
                "optional outputs out (GraphBuilder.op(..., omit=...)): onnxruntime before 1.19 "
                "may hand their buffers to live tensors and compute wrong results")
        inits = [t for t in self.initializers if t.name in used]
        return helper.make_graph(nodes, self.name, self.inputs, self.outputs,
                                 initializer=inits, doc_string=doc)


def _live_nodes(nodes: Sequence[Any], outputs: set[str]) -> list[Any]:
    """The nodes (in order) at least one of whose outputs the graph ``outputs`` depend on."""
    needed = set(outputs)
    keep = []
    for n in reversed(list(nodes)):
        if any(o in needed for o in n.output if o):
            keep.append(n)
            needed.update(i for i in n.input if i)
    return keep[::-1]
