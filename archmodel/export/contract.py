"""The ONNX encoding contract: how architectures become the arrays an exported model takes.

Every search space has one versioned JSON contract, ``specs/onnx/<space>.json`` (installed as
``archmodel.specs``; read with :func:`load_contract`). It is written for clients that do not
use archmodel (any language with an ONNX runtime): it gives the input names, shapes and
dtypes of each *encoding* (a way of turning an architecture into arrays: ``graph`` for GATES
and GCN, ``onehot`` for the MLP, ``sequence`` for the LSTM), the operation vocabulary, the
node numbering and the order of the edge rows, how to build the arrays (and the decision
sequence) from the space's string format step by step, the model metadata keys, and worked
examples (string -> the exact feed of every encoding, batch dimension included), what a client
must check and refuse (``build.whitespace``, ``build.validation``, ``client``, and
``invalid_examples`` that archmodel itself refuses), all produced by archmodel itself.
``specs/onnx/client.py`` (installed beside the JSON files) is such a client: it imports numpy,
onnxruntime and the standard library only and reads nothing but the contract file.

Models carry ``contract_version`` (a decimal string: ONNX metadata values are strings) and
``contract_sha256``, the SHA-256 of the contract file they were exported with
(:func:`contract_sha256`); a client refuses a model whose values differ from its contract's.

Versioning: ``contract_version`` (an integer) changes whenever an existing field changes
meaning (an input's layout, the vocabulary order, the edge order, ...). Adding an encoding or
a field does not change it. An exported model records the version it was built against; a
model whose version is not in :data:`SUPPORTED_CONTRACT_VERSIONS` is refused with a
:class:`~archmodel.errors.FormatError`.

The JSON files are generated from the code (:func:`build_contract`) and checked against it by
the test suite; after changing the encoding, regenerate them with
``python -m archmodel.export.contract`` (writes into ``specs/onnx/``).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from archmodel.errors import ArchModelError, FormatError, ParameterError

logger = logging.getLogger(__name__)

CONTRACT_FORMAT = "archmodel.onnx_contract"
#: the contract version this archmodel writes
CONTRACT_VERSION = 1
#: contract versions this archmodel can read
SUPPORTED_CONTRACT_VERSIONS: tuple[int, ...] = (1,)
BATCH = "batch"

#: the metadata keys (``ModelProto.metadata_props``) every exported model carries
METADATA_KEYS = {
    "archmodel_format": "always 'archmodel.onnx_predictor'",
    "archmodel_format_version": "integer, currently 1",
    "space": "search-space name; selects the contract file specs/onnx/<space>.json",
    "contract_version": ("the contract_version the model's inputs follow, as a decimal string (every "
                         "ONNX metadata value is a string), e.g. '1'. A client refuses a model whose "
                         "value is not str(contract_version) of the contract it reads (see 'client')"),
    "contract_sha256": ("SHA-256 (64 lowercase hex digits) of the contract file the model was exported "
                        "with; a client refuses a model whose value differs from the hash of the "
                        "contract it reads (see 'client.contract_sha256')"),
    "encoding": "key of 'encodings' in the contract: the model's inputs",
    "graph_variant": ("which graph computes the scores (same inputs, same function): GATES "
                      "'fixed_edge_tables' (fixed-edge spaces) or 'dense'; 'default' for the others"),
    "archmodel_version": "archmodel version that exported the model",
    "predictor_class": "e.g. 'GATESPredictor'",
    "predictor_params": "JSON: the predictor's constructor parameters",
    "model_config": "JSON: the array-level model configuration",
    "source_dtype": "dtype the model was trained in ('float32' or 'float64'); the file holds float32",
    "compute_dtype": ("precision of the graph's arithmetic: 'float32', or 'float64' (weights cast to "
                      "double inside the graph, the float32 score rounded once at the end)"),
    "cast_max_abs_param_error": "largest |float32 - original| over all parameters",
    "cast_max_rel_param_error": "largest relative parameter change of the cast",
    "cast_max_abs_score_error": "largest score change of the cast on a probe sample",
    "cast_max_rel_score_error": "the same divided by the largest |score| of the probe sample",
    "verify_max_abs_error": "onnxruntime vs archmodel's NumPy reference on the probe sample",
    "verify_max_rel_error": "the same divided by the largest |score| of the probe sample",
    "opset": "default-domain opset",
    "n_train": "number of training architectures",
}

#: encoding name -> function(space, archs) -> dict of arrays (the model's inputs)
_ENCODERS: dict[str, Callable[[Any, Sequence[Any]], dict[str, np.ndarray]]] = {}


# ============================================================================ encoders
def register_encoding(name: str, fn: Callable[[Any, Sequence[Any]], dict[str, np.ndarray]], *,
                      overwrite: bool = False) -> None:
    """Register how architectures are turned into the inputs of encoding ``name``.

    ``fn(space, archs) -> {input name: ndarray}`` with the dtypes of the contract's inputs.
    """
    if name in _ENCODERS and not overwrite:
        raise ParameterError(f"encoding {name!r} is already registered (pass overwrite=True)")
    _ENCODERS[name] = fn


def _graph_encoding(space: Any, archs: Sequence[Any]) -> dict[str, np.ndarray]:
    gb = space.to_arrays(list(archs))
    if gb.kind == "edge":
        return {"edges": np.ascontiguousarray(gb.edges, dtype=np.int64)}
    return {"adj": np.ascontiguousarray(gb.adj, dtype=np.float32),
            "node_ops": np.ascontiguousarray(gb.node_ops, dtype=np.int64)}


def _onehot_encoding(space: Any, archs: Sequence[Any]) -> dict[str, np.ndarray]:
    return {"onehot": np.ascontiguousarray(space.onehot(list(archs)), dtype=np.float32)}


def _sequence_encoding(space: Any, archs: Sequence[Any]) -> dict[str, np.ndarray]:
    return {"seq": np.ascontiguousarray(space.sequences(list(archs)), dtype=np.int64)}


register_encoding("graph", _graph_encoding)
register_encoding("onehot", _onehot_encoding)
register_encoding("sequence", _sequence_encoding)


def encode(space: Any, archs: Sequence[Any], encoding: str) -> dict[str, np.ndarray]:
    """The model inputs of ``archs`` (Arch objects of ``space``) under ``encoding``."""
    if encoding not in _ENCODERS:
        raise ParameterError(f"unknown encoding {encoding!r}; known: {sorted(_ENCODERS)}")
    return _ENCODERS[encoding](space, archs)


# ============================================================================ reading
def check_contract_version(version: Any, where: str = "") -> int:
    """Return ``version`` as an int if archmodel can read it, else raise FormatError."""
    try:
        v = int(version)
    except (TypeError, ValueError):
        raise FormatError(f"{where}contract_version {version!r} is not an integer") from None
    if v not in SUPPORTED_CONTRACT_VERSIONS:
        newer = v > max(SUPPORTED_CONTRACT_VERSIONS)
        raise FormatError(
            f"{where}ONNX contract_version {v} is not supported by archmodel "
            f"(supported: {list(SUPPORTED_CONTRACT_VERSIONS)})"
            + ("; the model was made by a newer archmodel: upgrade" if newer else ""))
    return v


def load_contract(space: str) -> dict[str, Any]:
    """The shipped contract of search space ``space`` (``specs/onnx/<space>.json``).

    Raises
    ------
    ParameterError
        No contract for that space.
    FormatError
        The file is not a contract or has an unsupported version.
    """
    from archmodel.specs import load_spec, spec_names

    if space not in spec_names("onnx"):
        raise ParameterError(
            f"no ONNX contract for search space {space!r}; contracts exist for {spec_names('onnx')}")
    c = load_spec("onnx", space)
    if c.get("format") != CONTRACT_FORMAT:
        raise FormatError(f"specs/onnx/{space}.json is not an ONNX contract (format {c.get('format')!r})")
    check_contract_version(c.get("contract_version"), f"specs/onnx/{space}.json: ")
    return c


def check_graph_inputs(contract: Mapping[str, Any], encoding: str, inputs: Sequence[Mapping[str, Any]]) -> None:
    """Raise ParameterError unless a graph's inputs are exactly the contract's for ``encoding``."""
    enc = contract.get("encodings", {}).get(encoding)
    if enc is None:
        raise ParameterError(
            f"the contract of {contract.get('space')!r} has no encoding {encoding!r}; it has "
            f"{sorted(contract.get('encodings', {}))}")
    want = [{"name": i["name"], "dtype": i["dtype"], "shape": list(i["shape"])} for i in enc["inputs"]]
    got = [{"name": i["name"], "dtype": i["dtype"], "shape": list(i["shape"])} for i in inputs]
    if want != got:
        raise ParameterError(f"graph inputs {got} differ from the contract's {encoding!r} inputs {want}")


# ============================================================================ building
def _graph_description(space: Any) -> dict[str, Any]:
    inputs, shape = _graph_inputs(space)
    return {"inputs": inputs, **shape}


#: what the ``edges`` descriptions say about the [src, dst] columns (fixed-edge spaces, others)
_UNCHECKED = ("The client must fill all three columns of every row exactly as build.steps says: the "
              "model does not check its inputs. GATES models with graph_variant "
              "'fixed_edge_tables' read the op column alone; the dense GATES graph and "
              "GCNPredictor read all three, so other [src, dst] values give wrong scores without "
              "an error.")
_UNCHECKED_ALL = ("The client must fill all three columns of every row exactly as build.steps says: "
                  "every exported model of this space reads all three and none checks them, so "
                  "other values give wrong scores without an error.")


def _graph_inputs(space: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from archmodel.encoding import vocabulary
    from archmodel.spaces.fixed_edges import FixedEdgeSpace

    probe = space.to_arrays(space.sample(1, 0))
    c, n = probe.n_cells, probe.n_nodes
    vocab = vocabulary(space)
    if probe.kind == "edge":
        e = int(probe.edges.shape[2])
        head = (f"edges[b, c, e] = [src, dst, op]: the e-th edge row of cell c of architecture b; "
                f"src -> dst are node numbers (0..{n - 1}, src < dst), op indexes 'vocabulary'. ")
        if isinstance(space, FixedEdgeSpace):
            rows = (f"Every one of the {e} rows is filled (there is no padding): row e is "
                    "[src, dst] = build.edge_order[e] with the op of that edge; a "
                    f"'{vocab[0]}' edge keeps its row with op 0. ") + _UNCHECKED
        else:
            rows = (f"Each cell's own rows come first (build.steps); the remaining rows up to {e} "
                    f"are build.padding_row [0, {n - 1}, 0] (op 0 = '{vocab[0]}', which contributes "
                    "nothing). ") + _UNCHECKED_ALL
        inputs = [{"name": "edges", "dtype": "int64", "shape": [BATCH, c, e, 3],
                   "description": head + rows}]
        shape = {"n_cells": c, "n_nodes": n, "n_edge_rows": e}
    else:
        inputs = [
            {"name": "adj", "dtype": "float32", "shape": [BATCH, c, n, n],
             "description": (f"adj[b, c, i, j] = 1.0 for an edge j -> i (note: destination first, "
                             f"the transpose of NAS-Bench-101's matrix), else 0.0; strictly lower "
                             f"triangular (nodes in topological order 0..{n - 1}).")},
            {"name": "node_ops", "dtype": "int64", "shape": [BATCH, c, n],
             "description": "node_ops[b, c, i] = index into 'vocabulary' of node i's operation."},
        ]
        shape = {"n_cells": c, "n_nodes": n}
    return inputs, shape


def _decision_sizes(space: Any) -> tuple[list[int], list[int]]:
    sizes = [int(v) for v in space.decision_sizes]
    offsets = [int(v) for v in np.concatenate([[0], np.cumsum(sizes)[:-1]])]
    return sizes, offsets


def _sequence_description(space: Any) -> dict[str, Any]:
    sizes, _ = _decision_sizes(space)
    return {
        "inputs": [{
            "name": "seq", "dtype": "int64", "shape": [BATCH, len(sizes)],
            "description": ("seq[b, t] = decision t of architecture b (see build.decisions), an "
                            "integer with 0 <= seq[b, t] < decision_sizes[t]."),
        }],
        "n_decisions": len(sizes),
        "decision_sizes": sizes,
    }


def _onehot_description(space: Any) -> dict[str, Any]:
    sizes, offsets = _decision_sizes(space)
    return {
        "inputs": [{
            "name": "onehot", "dtype": "float32", "shape": [BATCH, int(sum(sizes))],
            "description": ("onehot[b, offsets[t] + seq[b, t]] = 1.0 for every decision t (seq[b] = "
                            "the decisions of architecture b, see build.decisions); every other "
                            "entry is 0.0. offsets[t] = decision_sizes[0] + ... + decision_sizes[t-1]."),
        }],
        "n_decisions": len(sizes),
        "decision_sizes": sizes,
        "offsets": offsets,
    }


def _decision_rules(space: Any) -> dict[str, Any]:
    """How to get the decision sequence (the ``onehot`` and ``sequence`` encodings) from the
    build string; the space's ``sequence`` string format is that list itself."""
    from archmodel.spaces.fixed_edges import FixedEdgeSpace
    from archmodel.spaces.link_patterns import LinkPatternSpace
    from archmodel.spaces.nb101 import N as NB101_N, TRIU, NB101Space
    from archmodel.spaces.two_input_cells import TwoInputCellSpace

    sizes, _ = _decision_sizes(space)
    out: dict[str, Any] = {
        "decision_sizes": sizes,
        "meaning": space.sequence_doc,
        "sequence_string_format": ("the space's 'sequence' string format is the decision list "
                                   "itself, a JSON list of integers, e.g. "
                                   + space.format(space.sample(1, 0)[0], "sequence")),
    }
    if isinstance(space, FixedEdgeSpace):
        out["steps"] = [
            "Parse the build string as in build.steps.",
            "seq[t] = vocabulary.index(op of the edge edge_order[t]), t = 0..len(edge_order)-1 "
            "(the op column of row t of the graph encoding).",
        ]
    elif isinstance(space, TwoInputCellSpace):
        out["op_choices"] = list(space.ops[1:])
        out["steps"] = [
            f"Parse the genotype as in build.steps. For each cell slot c in the order {list(space.cell_names)} "
            f"and each intermediate node k = 0..{space.n_inter - 1}: take the pairs 2k and 2k+1 of the "
            "cell's list, each (op, input), as a = (input_a, op_choices.index(op_a)) and b = "
            "(input_b, op_choices.index(op_b)).",
            "If b < a (compare input first, then op index), swap a and b.",
            "Append input_a, op_a, input_b, op_b to seq (4 decisions per node, "
            f"{4 * space.n_inter} per cell).",
        ]
    elif isinstance(space, NB101Space):
        out["op_choices"] = list(space.node_op_choices)
        out["upper_triangle_order"] = [list(e) for e in TRIU]
        out["steps"] = [
            f"Pad the module to {NB101_N} nodes as in build.steps (node i < n - 1 keeps its number, the "
            f"output becomes node {NB101_N - 1}, padding nodes have no edges); m7 = the padded "
            f"{NB101_N} x {NB101_N} matrix (m7[i][j] = 1 for an edge i -> j).",
            f"seq[0..{len(TRIU) - 1}] = m7[i][j] for (i, j) in upper_triangle_order.",
            f"seq[{len(TRIU)} + i - 1] = op_choices.index(op of padded node i) for i = 1..{NB101_N - 2}; "
            "padding nodes count as op_choices[0] (index 0).",
        ]
    elif isinstance(space, LinkPatternSpace):
        out["steps"] = [
            "Decode the hash into L and o_1..o_%d as in build.steps." % space.n_comp,
            "seq = [L, o_1, ..., o_%d]." % space.n_comp,
        ]
    else:  # pragma: no cover - every shipped space is handled above
        raise ParameterError(f"no decision rules for search space {space.name!r}")
    return out


def _build_rules(space: Any) -> dict[str, Any]:
    """The space-specific part: string format and step-by-step construction of the arrays."""
    from archmodel.spaces.fixed_edges import FixedEdgeSpace
    from archmodel.spaces.link_patterns import LinkPatternSpace
    from archmodel.spaces.nb101 import N as NB101_N, NB101Space
    from archmodel.spaces.two_input_cells import CONCAT, TwoInputCellSpace

    if isinstance(space, FixedEdgeSpace):
        n = space.n_nodes
        return {
            "algorithm": "fixed_edges",
            "string_format": "arch_str",
            "grammar": ("'+'-separated node groups for nodes 1..{last}; group i is '|' + '|'.join(op~j for "
                        "j in 0..i-1) + '|', where op is a vocabulary name and j the source node. Example "
                        "group for node 2: '|nor_conv_3x3~0|skip_connect~1|'.").format(last=n - 1),
            "edge_order": [list(e) for e in space.edges],
            "steps": [
                "Split the string on '+' into node groups; group i (1-based) lists the edges into node i.",
                "Strip the leading and trailing '|' of a group and split it on '|'; each item is 'op~j': "
                "op = text before the last '~', j = integer after it (source node).",
                "For e in 0..len(edge_order)-1 with (src, dst) = edge_order[e]: edges[b, 0, e] = "
                "[src, dst, vocabulary.index(op of the edge src -> dst)].",
                "Every row is filled (no padding); 'none' edges keep their row with op index 0.",
                "The [src, dst] columns are therefore the same for every architecture and only the op "
                "column varies. A client must still fill [src, dst] = edge_order[e] in every row: "
                "models do not check them; the GATES table graph (graph_variant "
                "'fixed_edge_tables') reads the op column alone, while the dense GATES graph and "
                "GCNPredictor read all three columns, so other values give wrong scores silently.",
            ],
            "whitespace": ("Whitespace (space, tab, CR, LF) at both ends of the string and at both "
                           "ends of each node group is ignored; anywhere else it is part of a name "
                           "or number and so an error (e.g. '| nor_conv_3x3~0|' names the unknown "
                           "op ' nor_conv_3x3'). No other character counts as whitespace: a form "
                           "feed, vertical tab or no-break space anywhere is refused."),
            "validation": [
                f"The string has exactly {n - 1} '+'-separated node groups; refuse any other count.",
                "Each group starts and ends with '|'.",
                "Group i (node i) lists exactly i items, one edge from each node j = 0..i-1; fewer "
                "or more items (a missing or an extra edge) are refused.",
                "Each item is 'op~j': op (the text before the last '~') is one of 'vocabulary' (refuse "
                "any other name, listing the vocabulary); j (the text after it) is one or more ASCII "
                "digits 0-9 (leading zeros allowed: '~02' is 2; other Unicode digits are refused), "
                "read as a decimal integer with 0 <= j < i (refuse an edge from node i itself or a "
                "later node).",
                "No source j twice in a group (a duplicate edge j -> i is refused).",
                "Order: group i is always node i (groups cannot be reordered); the items of one "
                "group may come in any order, since each names its source and build.steps places "
                "it by edge_order (archmodel writes them by ascending j).",
            ],
        }
    if isinstance(space, TwoInputCellSpace):
        n = space.n_nodes
        rows = 3 * space.n_inter
        return {
            "algorithm": "two_input_cells",
            "string_format": "genotype",
            "grammar": ("DARTS genotype: Genotype(" + ", ".join(
                f"{c}=[('op', input), ...], {c}_concat=[...]" for c in space.cell_names)
                + f"); each cell list holds {2 * space.n_inter} (op, input) pairs, two per "
                  f"intermediate node in order; op is a vocabulary name other than 'none' and "
                  f"'{CONCAT}'; input is a node number."),
            "n_inputs": space.n_inputs,
            "n_intermediate": space.n_inter,
            "output_node": n - 1,
            "concat_op": CONCAT,
            "concat_rule": space.concat_rule,
            "padding_row": [0, n - 1, 0],
            "steps": [
                f"Cell slot c follows the order {space.cell_names}; in each cell, nodes 0..{space.n_inputs - 1} "
                f"are the cell inputs, nodes {space.n_inputs}..{n - 2} the intermediate nodes and node "
                f"{n - 1} the output.",
                f"For intermediate node k = 0..{space.n_inter - 1} (node number {space.n_inputs} + k), take "
                "the pairs 2k and 2k+1 of the cell's list as (src, op index in vocabulary) and sort the "
                "two by (src, op index), ascending.",
                "Append one row [src, node, op index] per sorted pair, node by node, in that order.",
                ("Then append [v, output_node, vocabulary.index('concat')] for every intermediate node v, "
                 "ascending." if space.concat_rule == "all" else
                 "Then append [v, output_node, vocabulary.index('concat')] for every intermediate node v "
                 "that is not the src of any edge of the same cell (the loose ends; they equal the "
                 "genotype's <cell>_concat list), ascending."),
                f"Pad the cell's rows with padding_row up to {rows} rows.",
            ],
            "distinct_inputs": space.distinct,
            "whitespace": ("Whitespace (space, tab, CR, LF) between tokens and at both ends of the "
                           "text is ignored; inside a quoted op name it is part of the name (so "
                           "\"'sep_conv_3x3 '\" is an unknown op). No other character counts as "
                           "whitespace (a form feed, vertical tab or no-break space is refused)."),
            "tokens": ("names (Genotype and the field names: letters, digits, '_'), '(', ')', '[', "
                       "']', ',', '=', strings in single or double quotes (no backslash inside), "
                       "integers (an optional sign '+' or '-', whitespace allowed after it, then decimal "
                       "digits 0-9 without a leading zero, as in Python: 0 and 00 are 0, 03 is refused; "
                       "no 0x, no '_'). A list is '[' values ']' or '(' values ')', values separated "
                       "by ',' with an optional trailing ','; as in Python, '(' x ')' with one value "
                       "and no comma is x itself, and '(' x ',' ')' a list of one value. Nothing else is a token: no comments, no line "
                       "continuations, no string prefixes or escapes, no adjacent strings, no sets, "
                       "no names as values (True, range(...)) ."),
            "validation": [
                "The text is Genotype(name=value, ...): nothing before or after it, no positional "
                "values, no field twice.",
                f"Fields: {list(space.cell_names)} are required; "
                + ", ".join(f"'{c}_concat'" for c in space.cell_names)
                + " are optional; refuse any other field name.",
                f"Each cell field is a list of exactly {2 * space.n_inter} pairs, each pair a list "
                "of two values (op, input); fewer or more pairs (a missing or an extra edge) are "
                "refused.",
                "op is a string in decisions.op_choices (the vocabulary without 'none' and "
                f"'{CONCAT}'); refuse any other, listing op_choices.",
                f"input is an integer; the pairs 2k and 2k+1 feed node {space.n_inputs} + k, which may "
                f"read nodes 0..{space.n_inputs - 1} + k only: refuse an input that is the node "
                "itself or a later node (or negative).",
                ("The two inputs of a node differ (distinct_inputs): refuse a node that reads the "
                 "same node twice (a duplicate edge)." if space.distinct else
                 "The two inputs of a node may be the same node (distinct_inputs is false)."),
                "Order: the pairs of one node may come in either order (build.steps sorts them); "
                "nodes cannot be reordered (pairs 2k, 2k+1 always feed node "
                f"{space.n_inputs} + k).",
                "<cell>_concat, when present, is a list of integers that, sorted, equals the "
                "ascending list of intermediate nodes the concat step connects to the output (a "
                "value twice is refused); refuse any other list.",
            ],
            "padding_note": (
                "concat_rule 'all' (DARTS): the output reads every intermediate node, so every cell "
                f"has exactly {rows} rows and padding_row never appears. concat_rule 'loose_ends' "
                "(ENAS): the output reads the intermediate nodes no edge of the cell reads, so a "
                f"cell has fewer than {rows} rows and is padded. These are the only two rules."),
        }
    if isinstance(space, NB101Space):
        return {
            "algorithm": "nb101_matrix",
            "string_format": "json",
            "grammar": ('{"matrix": [[0/1, ...], ...], "ops": ["input", ..., "output"]}: NAS-Bench-101\'s '
                        "module: an n x n upper-triangular matrix (matrix[i][j] = 1 for an edge i -> j), "
                        f"2 <= n <= {NB101_N}, and n op names, the first 'input' and the last 'output'."),
            "max_nodes": NB101_N,
            "padding_op": space.node_op_choices[0],
            "steps": [
                f"Let n = len(ops). Node i < n - 1 keeps number i; node n - 1 (the output) becomes node "
                f"{NB101_N - 1}; nodes n - 1..{NB101_N - 2} are padding nodes (no edges).",
                "For each matrix[i][j] == 1: adj[b, 0, new(j), new(i)] = 1.0 (destination first).",
                "node_ops[b, 0, new(i)] = vocabulary.index(ops[i]); padding nodes get "
                "vocabulary.index(padding_op).",
                "Use the matrix as given: do not prune nodes that are off every input-output path.",
            ],
            "max_edges": space.max_edges,
            "whitespace": ("JSON: whitespace between tokens is ignored; inside a string it is part of "
                           "the name (so \"conv3x3-bn-relu \" is an unknown op)."),
            "validation": [
                "The text is one JSON object (RFC 8259: no byte-order mark, nothing after it but "
                "whitespace) with the keys 'matrix' and 'ops' (other keys are ignored); a key given "
                "twice is refused. String escapes are decoded as JSON (\\u0063 is 'c') before an "
                "op name is checked.",
                f"matrix is a list of n lists of n integers, 2 <= n <= {NB101_N}, each 0 or 1 (JSON "
                "true/false count as 1/0; 1.0 or 2 are refused).",
                "matrix is strictly upper triangular: matrix[i][j] = 1 only for i < j (refuse a "
                "self-loop or an edge from a later node).",
                "ops lists n strings: ops[0] = 'input', ops[n-1] = 'output', every other one in "
                "decisions.op_choices (refuse any other name, listing op_choices).",
                "The module is a valid NAS-Bench-101 cell: keep the nodes that are reachable from "
                "node 0 and from which node n-1 is reachable; a path from node 0 to node n-1 must "
                f"exist and at most max_edges = {space.max_edges} edges may join kept nodes; refuse "
                "the module otherwise.",
            ],
        }
    if isinstance(space, LinkPatternSpace):
        n = space.n_comp + 2
        return {
            "algorithm": "link_patterns",
            "string_format": "hash",
            "grammar": "the benchmark's integer hash, decimal digits",
            "links": space.links,
            "node_op_choices": space.node_op_choices,
            "hash_base": len(space.node_op_choices) + 1,
            "steps": [
                f"Decode the hash h in base B = hash_base: the last {space.n_comp} digits (most "
                f"significant first) are o_1..o_{space.n_comp}, indices into node_op_choices; the rest, "
                "h // B**%d, is L, an index into links." % space.n_comp,
                f"Nodes: 0 input, 1..{space.n_comp} computing nodes, {n - 1} output.",
                "For i = 1..%d: adj[b, 0, i, links[L][i-1]] = 1.0 (computing node i reads node "
                "links[L][i-1])." % space.n_comp,
                f"Every computing node v that no computing node reads (v not in links[L]) feeds the "
                f"output: adj[b, 0, {n - 1}, v] = 1.0.",
                "node_ops[b, 0] = [vocabulary.index('input'), vocabulary.index(node_op_choices[o_1]), ..., "
                "vocabulary.index('output')].",
            ],
            "skip_op": space.spec.get("skip_op"),
            "whitespace": ("Whitespace (space, tab, CR, LF) at both ends is ignored; anywhere else "
                           "(e.g. '12 34') the string is refused."),
            "validation": [
                "The string is a non-negative decimal integer (digits 0-9 only).",
                "L = h // B**%d < len(links) and every op digit o_i < len(node_op_choices); refuse "
                "the hash otherwise." % space.n_comp,
                ("Not every computing node is skip_op: the benchmark excludes that cell; refuse it."
                 if space.spec.get("skip_op") else "Every decoded cell is valid."),
            ],
        }
    raise ParameterError(f"no contract rules for search space {space.name!r}")  # pragma: no cover


OUTPUT = {"name": "score", "dtype": "float32", "shape": [BATCH],
          "description": "one score per architecture; higher = predicted better. Only the order "
                         "is meaningful."}

#: The encodings published in the contracts: name -> (describe(space) -> {"inputs": [...], ...},
#: class names of the predictors whose exported graphs take it). A predictor family with its own
#: inputs (e.g. a one-hot MLP) adds an entry here, registers its encoder with
#: :func:`register_encoding` below this table, and the contracts are regenerated; existing
#: encodings keep their meaning, so ``contract_version`` does not change.
CONTRACT_ENCODINGS: dict[str, tuple[Callable[[Any], dict[str, Any]], tuple[str, ...]]] = {
    "graph": (_graph_description, ("GATESPredictor", "GCNPredictor", "TAGATESPredictor")),
    "onehot": (_onehot_description, ("MLPPredictor",)),
    "sequence": (_sequence_description, ("LSTMPredictor",)),
}


#: the rules every client follows, the same in every contract file
CLIENT_RULES: dict[str, Any] = {
    "reference_client": (
        "client.py in this folder (installed with archmodel as archmodel/specs/onnx/client.py; "
        "it imports only numpy, onnxruntime and the Python standard library, and reads only this "
        "file): python client.py MODEL.onnx ARCHS.txt [--contract FILE.json] [--batch-size N] "
        "prints the scores of the architectures in ARCHS.txt (one per line, build.string_format) "
        "as one JSON list."),
    "model_checks": [
        "Read the model's metadata_props (every value is a string). Refuse the model, naming the "
        "key, the value found and the value expected, unless:",
        "archmodel_format == 'archmodel.onnx_predictor';",
        "archmodel_format_version == '1' (the layout of the model file's metadata; another value "
        "is refused);",
        "space == this contract's 'space';",
        "contract_version == str(this contract's contract_version), a decimal string; a client "
        "that knows no such contract version refuses the model and never guesses (another version "
        "may lay the arrays out differently);",
        "contract_sha256 == the SHA-256 of this contract file (contract_sha256 below); a "
        "different hash means the model was exported with another contract text, so refuse;",
        "encoding is a key of 'encodings', and the model's inputs are exactly that encoding's "
        "inputs (names, element types, and shapes after the first dimension, which is the "
        "symbolic dimension 'batch': refuse a model with a fixed first dimension), and it has "
        "exactly one output, 'score', float32 ['batch'].",
    ],
    "contract_sha256": (
        "How to compute the hash that a model's metadata_props['contract_sha256'] must equal "
        "(this file cannot hold its own hash): the hex SHA-256, 64 lowercase digits, of the bytes "
        "of this JSON file as shipped (UTF-8 without a byte-order mark, LF line ends). Replace "
        "every CR LF by LF before hashing, so a copy whose line ends were converted still "
        "matches; nothing else may change (a byte-order mark or any other edit gives another "
        "hash). Compare the strings exactly."),
    "input_checks": (
        "Parse each architecture string by build.grammar and build.steps and check it against "
        "build.whitespace and build.validation before building any array. A string that breaks "
        "a rule is refused: the client does not score it, does not repair it and does not skip "
        "it; it reports which string (its position), the field or part at fault, the allowed "
        "values and what it got. The models never check their inputs: an index out of range "
        "fails inside onnxruntime or, worse, gives a wrong score without an error."),
    "input_forms": (
        "A client reads architecture strings in build.string_format only. archmodel's own CLI "
        "and Python API read further spellings (sequence lists, NASLib op codes; "
        "build.decisions.sequence_string_format describes the sequence list), which are not "
        "part of this contract: a client need not accept them. archmodel reads a string as "
        "build.string_format when it starts as that format does (after whitespace: '|' for "
        "arch_str, 'Genotype' for genotype, '{' for json; for hash, a string of digits), and then by exactly "
        "these rules: such a string is accepted by archmodel if and only if a client following "
        "this contract accepts it, and both build the same arrays."),
    "archs_file": (
        "ARCHS.txt (the reference client's input): UTF-8 without a byte-order mark, one "
        "architecture per line; lines end at LF, CR LF or CR (no other character ends a line); "
        "blank lines (empty or only whitespace) are skipped; a string that spans lines (a DARTS "
        "genotype written over several lines) is written on one line. The first refused string "
        "stops the client (exit status 2) and nothing is scored."),
    "batching": (
        "Every input has the batch dimension first; a batch of n architectures stacks their "
        "arrays along axis 0 (any n >= 1). The output 'score' is float32 [n], in input order."),
    "examples": (
        "examples[i].inputs[encoding][input name] is the exact value to feed for a batch of that "
        "one architecture: the batch dimension (size 1) is included, so its shape is the "
        "input's shape with 'batch' = 1. examples[i].sequence is the decision list (build."
        "decisions), the row seq[0] of the 'sequence' encoding. examples[i].equivalent_strings "
        "must give the same arrays as examples[i].string; every entry of invalid_examples must be "
        "refused."),
}


def _invalid_and_equivalent(space: Any, arch: Any, text: str) -> tuple[list[dict[str, str]], list[str]]:
    """Spellings of ``arch`` that must be refused (with why) and ones that must be accepted."""
    from archmodel.spaces.fixed_edges import FixedEdgeSpace
    from archmodel.spaces.link_patterns import LinkPatternSpace
    from archmodel.spaces.nb101 import NB101Space
    from archmodel.spaces.two_input_cells import TwoInputCellSpace

    bad: list[tuple[str, str]] = []
    same: list[str] = []
    if isinstance(space, FixedEdgeSpace):
        g = text.split("+")
        items = [x.strip("|").split("|") for x in g]
        op0 = items[0][0].rsplit("~", 1)[0]
        bad += [
            ("+".join([g[0].replace(op0, "conv_7x7")] + g[1:]), "op 'conv_7x7' is not in vocabulary"),
            ("+".join([g[0], "|" + items[1][0] + "|"] + g[2:]), "node group 2 lacks the edge 1 -> 2"),
            ("+".join([g[0], "|" + items[1][0] + "|" + items[1][0] + "|"] + g[2:]),
             "node group 2 lists the edge 0 -> 2 twice"),
            ("+".join(["|" + op0 + "~1|"] + g[1:]), "the edge into node 1 comes from node 1 (not < 1)"),
            ("+".join([g[0], "| " + g[1][1:]] + g[2:]), "whitespace inside node group 2"),
            ("+".join(g[:-1]), f"{len(g) - 1} node groups instead of {len(g)}"),
            (text + "\f", "a form feed is not whitespace here"),
            ("+".join([g[0].replace("~0", "~\u0660")] + g[1:]), "the source of node 1's edge is an Arabic-Indic digit, not 0-9"),
        ]
        same += [" \t" + text + "\n", " + ".join(g),
                 "+".join([g[0], "|" + "|".join(items[1][::-1]) + "|"] + g[2:])]
    elif isinstance(space, TwoInputCellSpace):
        cells = {}
        for c, name in enumerate(space.cell_names):
            pairs: list[tuple[str, int]] = []
            for ia, oa, ib, ob in space._nodes(arch.seq, c):
                pairs += [(space.ops[oa + 1], ia), (space.ops[ob + 1], ib)]
            cells[name] = pairs

        def genotype(cells: Mapping[str, list], concat: bool = True, q: str = "'", sep: str = ", ") -> str:
            parts = []
            for c, name in enumerate(space.cell_names):
                parts.append(f"{name}=[" + sep.join(f"({q}{o}{q}, {i})" for o, i in cells[name]) + "]")
                if concat:
                    parts.append(f"{name}_concat={space.concat_nodes(arch.seq, c)}")
            return "Genotype(" + sep.join(parts) + ")"

        first = space.cell_names[0]

        def edit(pairs: list) -> dict:
            return {**cells, first: pairs}

        p0 = cells[first]
        bad += [
            (genotype(edit([("conv_7x7", p0[0][1])] + p0[1:])), "op 'conv_7x7' is not in op_choices"),
            (genotype(edit([("none", p0[0][1])] + p0[1:])), "op 'none' is in the vocabulary but not in op_choices"),
            (genotype(edit([(p0[0][0] + " ", p0[0][1])] + p0[1:])), "whitespace inside an op name"),
            (genotype(edit(p0[:-1])), f"{first} lists {len(p0) - 1} pairs, not {len(p0)}"),
            (genotype(edit([(p0[0][0], space.n_inputs)] + p0[1:])),
             f"node {space.n_inputs} reads itself (inputs must be < {space.n_inputs})"),
        ]
        if space.distinct:
            bad.append((genotype(edit([p0[0], (p0[1][0], p0[0][1])] + p0[2:])),
                        f"node {space.n_inputs} reads node {p0[0][1]} twice (distinct_inputs)"))
        wrong = [v for v in range(space.n_inputs, space.n_inputs + space.n_inter)
                 if v not in space.concat_nodes(arch.seq, 0)] or [space.n_inputs]
        bad.append((genotype(cells).replace(f"{first}_concat={space.concat_nodes(arch.seq, 0)}",
                                            f"{first}_concat={sorted(set(space.concat_nodes(arch.seq, 0)) ^ set(wrong[:1]))}"),
                    f"{first}_concat is not the list of nodes the concat step connects"))
        g0 = genotype(cells)
        bad += [
            (g0[:-1] + f", {first}=[" + ", ".join(f"('{o}', {i})" for o, i in p0) + "])", f"the field {first!r} twice"),
            (g0[:-1] + ", extra=[1])", "an unknown field 'extra'"),
            (g0.replace("Genotype(", "Genotype(  # a comment\n", 1), "a comment"),
            (g0.replace(f", {p0[0][1]})", f", 0x{p0[0][1]})", 1), "a hexadecimal integer"),
        ]
        same += [genotype(cells, concat=False), genotype(cells, q='"', sep=",\n  "),
                 genotype(edit([p0[1], p0[0]] + p0[2:]))]
    elif isinstance(space, NB101Space):
        obj = json.loads(text)
        m, ops = obj["matrix"], obj["ops"]
        n = len(ops)

        def js(mat: list, names: list) -> str:
            return json.dumps({"matrix": mat, "ops": names}, separators=(",", ":"))

        lower = [row[:] for row in m]
        lower[1][0] = 1
        full = [[int(j > i) for j in range(n)] for i in range(n)]
        two = [row[:] for row in m]
        two[0][n - 1] = 2
        bad += [
            (js(m, [ops[0], "conv5x5-bn-relu"] + ops[2:]), "op 'conv5x5-bn-relu' is not in op_choices"),
            (js(m, [ops[0], ops[1] + " "] + ops[2:]), "whitespace inside an op name"),
            (js(lower, ops), "matrix[1][0] = 1: an edge from a later node (not upper triangular)"),
            (js([[0] * n for _ in range(n)], ops), "no path from the input to the output"),
            (js(full, ops), f"{n * (n - 1) // 2} edges, more than max_edges"),
            (js(two, ops), "a matrix entry is 2"),
            (js(m, ops)[:-1] + ',"ops":' + json.dumps(ops) + "}", "the key 'ops' twice"),
        ]
        same += [json.dumps(obj, separators=(", ", ": ")), " " + text + "\n"]
    elif isinstance(space, LinkPatternSpace):
        b = len(space.node_op_choices) + 1
        skip = space.node_op_choices.index(space.spec["skip_op"])
        all_skip = sum(skip * b ** k for k in range(space.n_comp))
        bad += [
            (text[:1] + " " + (text[1:] or "0"), "whitespace inside the hash"),
            ("-" + text, "a negative hash"),
            (text + "x", "a non-digit character"),
            (str(len(space.links) * b ** space.n_comp), "the link pattern index is out of range"),
            (str(int(text) // b * b + b - 1), f"an op digit equals {b - 1}, out of range"),
            (str(arch.seq[0] * b ** space.n_comp + all_skip), "every computing node is skip_op"),
        ]
        same += ["  " + text + "\n"]
    for t, _ in bad:  # archmodel itself must refuse every one (the contract is generated, not guessed)
        try:
            space.parse(t, _STRING_FORMAT[type(space).__name__])
        except ArchModelError:
            continue
        raise ParameterError(f"invalid example {t!r} of {space.name} is accepted by archmodel")  # pragma: no cover
    for t in same:
        if space.parse(t, _STRING_FORMAT[type(space).__name__]) != arch:  # pragma: no cover
            raise ParameterError(f"equivalent example {t!r} of {space.name} is another architecture")
    return [{"string": t, "why": w} for t, w in bad], same


_STRING_FORMAT = {"FixedEdgeSpace": "arch_str", "TwoInputCellSpace": "genotype", "NB101Space": "json",
                  "LinkPatternSpace": "hash"}


def build_contract(space_name: str, *, n_examples: int = 2) -> dict[str, Any]:
    """The contract of ``space_name`` as a JSON-able dict (what ``specs/onnx`` ships).

    Parameters
    ----------
    space_name : str
    n_examples : int
        Worked examples (string -> the inputs of every encoding), sampled with seed 0; the first
        one also yields the invalid examples.
    """
    from archmodel.encoding import vocabulary
    from archmodel.spaces import get_space

    space = get_space(space_name)
    rules = _build_rules(space)
    rules["decisions"] = _decision_rules(space)
    probe = space.to_arrays(space.sample(1, 0))
    examples = []
    invalid: list[dict[str, str]] = []
    for i, a in enumerate(space.sample(n_examples, 0)):
        text = space.format(a, rules["string_format"])
        bad, same = _invalid_and_equivalent(space, a, text)
        if i == 0:
            invalid = bad
        examples.append({
            "string": text,
            "sequence": list(a.seq),
            "inputs": {name: {k: v.tolist() for k, v in encode(space, [a], name).items()}
                       for name in CONTRACT_ENCODINGS},
            "equivalent_strings": same,
        })
    return {
        "format": CONTRACT_FORMAT,
        "contract_version": CONTRACT_VERSION,
        "space": space.name,
        "space_description": space.description,
        "kind": space.kind,
        "cells": list(space.cell_names),
        "vocabulary": vocabulary(space),
        "nodes": {
            "n_nodes": probe.n_nodes,
            "inputs": list(range(probe.n_inputs)),
            "output": probe.n_nodes - 1,
            "numbering": "topological: every edge goes from a lower to a higher node number; the "
                         "first nodes are the cell inputs and the last one is the output",
        },
        "encodings": {name: {"predictors": list(predictors), **describe(space), "output": OUTPUT,
                             "batch": "the first dimension of every input and of the output is "
                                      "the batch (any size >= 1); the other dimensions are fixed"}
                      for name, (describe, predictors) in CONTRACT_ENCODINGS.items()},
        "build": rules,
        "client": CLIENT_RULES,
        "metadata_keys": METADATA_KEYS,
        "examples": examples,
        "invalid_examples": invalid,
    }


def contract_sha256(space: str) -> str:
    """SHA-256 (hex) of the shipped contract file of ``space`` with CR LF read as LF: the value
    :func:`archmodel.export.to_onnx` writes as the model's ``contract_sha256`` metadata."""
    import hashlib
    from importlib import resources

    load_contract(space)  # the same errors as loading it
    data = resources.files("archmodel.specs").joinpath("onnx", f"{space}.json").read_bytes()
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def write_contracts(folder: str | Path | None = None, spaces: Sequence[str] | None = None) -> list[Path]:
    """Write :func:`build_contract` of every space (default: all shipped) into ``folder``
    (default: the ``specs/onnx`` folder of this installation). Returns the paths written."""
    from archmodel.io import atomic_write
    from archmodel.spaces import list_spaces

    if folder is None:
        import archmodel.specs

        folder = Path(archmodel.specs.__file__).parent / "onnx"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in spaces or list_spaces():
        path = folder / f"{name}.json"
        with atomic_write(path, "w", encoding="utf-8") as fh:
            fh.write(contract_json(build_contract(name)))
        path.chmod(0o644)
        out.append(path)
    return out


def contract_json(contract: Mapping[str, Any]) -> str:
    """The canonical text of a contract file (2-space indent, trailing newline)."""
    return json.dumps(contract, indent=2) + "\n"


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    logging.basicConfig(level=logging.INFO)
    for p in write_contracts():
        logger.info("wrote %s", p)
