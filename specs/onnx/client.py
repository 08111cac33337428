"""Reference client for archmodel's ONNX models: score architecture strings with onnxruntime,
using nothing but the encoding contract of the search space (``<space>.json`` in this folder).

It imports numpy, onnxruntime (only to score) and the Python standard library; it never imports
archmodel. Everything it does is written in the contract: the checks of the model's metadata
(``client.model_checks``), the contract hash (``client.contract_sha256``), the string grammar and
its checks (``build.grammar``, ``build.whitespace``, ``build.validation``) and the construction
of the arrays (``build.steps``, ``build.decisions``). Copy it beside the contract files, or run it
from an archmodel installation (``archmodel/specs/onnx/client.py``)::

    python client.py MODEL.onnx ARCHS.txt [--contract SPACE.json] [--batch-size N]

ARCHS.txt holds one architecture per line in the contract's ``build.string_format`` (blank lines
are skipped); the scores are written to stdout as one JSON list, in input order. Without
``--contract`` the contract is ``<space>.json`` beside this file, ``space`` read from the model.
A string, model or contract that the contract refuses stops the run with exit status 2 and one
line on stderr that names the string, the field, the allowed values and what was found.

As a library::

    contract = load_contract("nb201.json")
    arrays = build_inputs(contract, strings, "graph")      # {"edges": int64 [n, 1, 6, 3]}
    scores = Scorer("model.onnx", "nb201.json").score(strings)
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np

CONTRACT_FORMAT = "archmodel.onnx_contract"
MODEL_FORMAT = "archmodel.onnx_predictor"
#: the contract versions this client implements; a model or contract of another one is refused
KNOWN_CONTRACT_VERSIONS = (1,)
#: the whitespace that build.whitespace lets a client ignore
WHITESPACE = " \t\r\n"
DIGITS = "0123456789"


class ContractError(ValueError):
    """A string, model or contract file that the encoding contract refuses."""


# ============================================================================ contract
def read_contract(path):
    """``(contract, sha256)`` of a contract file: the parsed JSON and the hash of its bytes
    (CR LF read as LF, ``client.contract_sha256``). Refuses files that are not a contract or
    have a contract version this client does not implement."""
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        contract = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ContractError("%s is not a JSON contract file: %s" % (path, exc)) from None
    if not isinstance(contract, dict) or contract.get("format") != CONTRACT_FORMAT:
        raise ContractError("%s is not an archmodel ONNX contract ('format' must be %r)"
                            % (path, CONTRACT_FORMAT))
    version = contract.get("contract_version")
    if isinstance(version, bool) or version not in KNOWN_CONTRACT_VERSIONS:
        raise ContractError("%s: contract_version %r is not one this client implements (%s); use "
                            "the client shipped with that contract" % (path, version, list(KNOWN_CONTRACT_VERSIONS)))
    return contract, hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()


def load_contract(path):
    """The parsed contract file (see :func:`read_contract`)."""
    return read_contract(path)[0]


def check_model_metadata(contract, sha256, meta):
    """Refuse a model whose ``metadata_props`` (a dict of strings) do not match the contract
    (``client.model_checks``). Returns the model's encoding."""
    def need(key, want):
        got = meta.get(key)
        if got != want:
            raise ContractError("model metadata %r is %r; this contract needs %r%s" % (
                key, got, want, _WHY.get(key, "")))

    need("archmodel_format", MODEL_FORMAT)
    need("archmodel_format_version", "1")
    need("space", contract["space"])
    got = meta.get("contract_version")
    if not isinstance(got, str) or not _is_int(got) or int(got) not in KNOWN_CONTRACT_VERSIONS:
        raise ContractError("model metadata 'contract_version' is %r; this client implements contract "
                            "versions %s and refuses any other (it may lay the arrays out differently)"
                            % (got, [str(v) for v in KNOWN_CONTRACT_VERSIONS]))
    need("contract_version", str(contract["contract_version"]))
    need("contract_sha256", sha256)
    encoding = meta.get("encoding")
    if encoding not in contract["encodings"]:
        raise ContractError("model metadata 'encoding' is %r; the contract has encodings %s"
                            % (encoding, sorted(contract["encodings"])))
    return encoding


_WHY = {"contract_sha256": " (the model was exported with another contract file: use the contract "
                           "of the archmodel release that exported it)",
        "space": " (pass the contract of the model's search space)"}

_ORT_TYPES = {"int64": "tensor(int64)", "float32": "tensor(float)"}


def check_model_io(contract, encoding, inputs, outputs):
    """Refuse a model whose inputs (``(name, type, shape)`` as onnxruntime reports them) or
    outputs (names) are not the contract's for ``encoding``."""
    want = {i["name"]: i for i in contract["encodings"][encoding]["inputs"]}
    got = {name: (typ, list(shape)) for name, typ, shape in inputs}
    if sorted(got) != sorted(want):
        raise ContractError("model inputs %s differ from the contract's %r inputs %s"
                            % (sorted(got), encoding, sorted(want)))
    for name, spec in want.items():
        typ, shape = got[name]
        if typ != _ORT_TYPES[spec["dtype"]] or shape[1:] != spec["shape"][1:] or not shape \
                or isinstance(shape[0], int):
            raise ContractError("model input %r is %s %s; the contract says %s %s"
                                % (name, typ, shape, spec["dtype"], spec["shape"]))
    if list(outputs) != [contract["encodings"][encoding]["output"]["name"]]:
        raise ContractError("model outputs %s; the contract says ['score']" % list(outputs))


# ============================================================================ strings
def _strip(text):
    return text.strip(WHITESPACE)


def _is_int(text):
    return bool(text) and all(ch in DIGITS for ch in text)


def parse_arch_str(contract, text):
    """NB201-style ``|op~0|+|op~0|op~1|+...``: the op index of every edge of ``edge_order``."""
    b = contract["build"]
    vocab = contract["vocabulary"]
    n_nodes = contract["nodes"]["n_nodes"]
    if not isinstance(text, str):
        raise ContractError("an arch string must be a str; got %s" % type(text).__name__)
    groups = _strip(text).split("+")
    if len(groups) != n_nodes - 1:
        raise ContractError("the arch string must have %d '+'-separated node groups; got %d in %r"
                            % (n_nodes - 1, len(groups), text))
    ops = {}
    for dst, group in enumerate(groups, start=1):
        g = _strip(group)
        if len(g) < 2 or g[0] != "|" or g[-1] != "|":
            raise ContractError("node group %d must start and end with '|'; got %r" % (dst, group))
        items = g[1:-1].split("|")
        if len(items) != dst:
            raise ContractError("node group %d must list %d edges (one from each node 0..%d); got %d "
                                "in %r (a missing or extra edge)" % (dst, dst, dst - 1, len(items), group))
        for item in items:
            op, sep, src = item.rpartition("~")
            if not sep or not _is_int(src):
                raise ContractError("edge %r in node group %d must be 'op~j' with j a decimal integer"
                                    % (item, dst))
            if op not in vocab:
                raise ContractError("op %r of edge %r in node group %d is not in vocabulary; allowed: %s"
                                    % (op, item, dst, vocab))
            j = int(src)
            if j >= dst:
                raise ContractError("edge %r into node %d must come from a node in [0, %d]; got %d"
                                    % (item, dst, dst - 1, j))
            if (j, dst) in ops:
                raise ContractError("node group %d lists the edge %d -> %d twice" % (dst, j, dst))
            ops[(j, dst)] = vocab.index(op)
    return [ops[(src, dst)] for src, dst in b["edge_order"]]


def _tokens(text):
    """Tokens of a genotype (``build.tokens``): (kind, value, position), then ('end', ...)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in WHITESPACE:
            i += 1
        elif ch in "()[],=":
            out.append((ch, ch, i))
            i += 1
        elif ch in "'\"":
            j = text.find(ch, i + 1)
            if j < 0:
                raise ContractError("unterminated string at character %d of the genotype" % i)
            body = text[i + 1:j]
            if "\\" in body:
                raise ContractError("backslash inside the string at character %d of the genotype" % i)
            out.append(("str", body, i))
            i = j + 1
        elif ch in "+-" or ch in DIGITS:
            j = i + 1 if ch in "+-" else i
            while ch in "+-" and j < n and text[j] in WHITESPACE:
                j += 1                                    # '- 1' is -1, as in Python
            k = j
            while k < n and text[k] in DIGITS:
                k += 1
            if k == j or (text[j] == "0" and text[j:k].strip("0")):
                raise ContractError("bad integer %r at character %d of the genotype (an optional sign, "
                                    "then decimal digits without a leading zero)" % (text[i:k + 1], i))
            out.append(("int", -int(text[j:k]) if ch == "-" else int(text[j:k]), i))
            i = k
        elif ch == "_" or ("a" <= ch.lower() <= "z"):
            k = i
            while k < n and (text[k] == "_" or text[k] in DIGITS or "a" <= text[k].lower() <= "z"):
                k += 1
            out.append(("name", text[i:k], i))
            i = k
        else:
            raise ContractError("unexpected character %r at character %d of the genotype" % (ch, i))
    out.append(("end", None, n))
    return out


def _value(toks, pos):
    kind, value, at = toks[pos]
    if kind in ("str", "int"):
        return value, pos + 1
    if kind in ("[", "("):
        close = "]" if kind == "[" else ")"
        items, pos, trailing = [], pos + 1, False
        while toks[pos][0] != close:
            item, pos = _value(toks, pos)
            items.append(item)
            trailing = toks[pos][0] == ","
            if trailing:
                pos += 1
            elif toks[pos][0] != close:
                raise ContractError("expected ',' or %r at character %d of the genotype" % (close, toks[pos][2]))
        if kind == "(" and len(items) == 1 and not trailing:
            return items[0], pos + 1  # '(x)' is x, as in Python
        return items, pos + 1
    raise ContractError("unexpected %r at character %d of the genotype" % (value or kind, at))


def parse_genotype(contract, text):
    """DARTS genotype ``Genotype(normal=[('op', 0), ...], normal_concat=[...], ...)``, checked by
    ``build.validation``: ``{cell: [(op, input), ...]}``."""
    b = contract["build"]
    d = b["decisions"]
    cells = contract["cells"]
    if not isinstance(text, str):
        raise ContractError("a genotype must be a str; got %s" % type(text).__name__)
    toks = _tokens(text)
    if toks[0][:2] != ("name", "Genotype") or toks[1][0] != "(":
        raise ContractError("the genotype must start with 'Genotype('; got %r" % text[:40])
    fields, pos = {}, 2
    while toks[pos][0] != ")":
        if toks[pos][0] == "end":
            raise ContractError("the genotype lacks its closing ')'")
        if toks[pos][0] != "name" or toks[pos + 1][0] != "=":
            raise ContractError("genotype fields must be name=value (no positional values); got %r at "
                                "character %d" % (toks[pos][1], toks[pos][2]))
        name = toks[pos][1]
        if name in fields:
            raise ContractError("genotype field %r is given twice" % name)
        fields[name], pos = _value(toks, pos + 2)
        if toks[pos][0] == ",":
            pos += 1
        elif toks[pos][0] == "end":
            raise ContractError("the genotype lacks its closing ')'")
        elif toks[pos][0] != ")":
            raise ContractError("expected ',' or ')' at character %d of the genotype" % toks[pos][2])
    if toks[pos + 1][0] != "end":
        raise ContractError("text after the genotype's closing ')' at character %d" % toks[pos + 1][2])
    allowed = list(cells) + [c + "_concat" for c in cells]
    for name in fields:
        if name not in allowed:
            raise ContractError("unknown genotype field %r; allowed: %s" % (name, allowed))
    n_in, n_inter = b["n_inputs"], b["n_intermediate"]
    out = {}
    for cell in cells:
        if cell not in fields:
            raise ContractError("the genotype lacks field %r; fields present: %s" % (cell, sorted(fields)))
        pairs = fields[cell]
        if not isinstance(pairs, list) or len(pairs) != 2 * n_inter:
            raise ContractError("genotype field %r must hold %d (op, input) pairs; got %s"
                                % (cell, 2 * n_inter, len(pairs) if isinstance(pairs, list) else repr(pairs)))
        checked = []
        for e, pair in enumerate(pairs):
            node = n_in + e // 2
            if not isinstance(pair, list) or len(pair) != 2:
                raise ContractError("%s pair %d must be (op, input); got %r" % (cell, e, pair))
            op, src = pair
            if not isinstance(op, str) or op not in d["op_choices"]:
                raise ContractError("op %r of %s pair %d is not in op_choices; allowed: %s"
                                    % (op, cell, e, d["op_choices"]))
            if not isinstance(src, int) or not 0 <= src < node:
                raise ContractError("input %r of %s pair %d (node %d) must be an integer in [0, %d]"
                                    % (src, cell, e, node, node - 1))
            checked.append((op, src))
        for k in range(n_inter):
            if b["distinct_inputs"] and checked[2 * k][1] == checked[2 * k + 1][1]:
                raise ContractError("%s node %d reads node %d twice; its two inputs must differ "
                                    "(distinct_inputs)" % (cell, n_in + k, checked[2 * k][1]))
        concat = _concat_nodes(b, checked)
        given = fields.get(cell + "_concat")
        if given is not None:
            if (not isinstance(given, list) or not all(isinstance(v, int) for v in given)
                    or sorted(given) != concat):
                raise ContractError("%s_concat is %r; this contract connects nodes %s to the output"
                                    % (cell, given, concat))
        out[cell] = checked
    return out


def _concat_nodes(b, pairs):
    inter = list(range(b["n_inputs"], b["n_inputs"] + b["n_intermediate"]))
    if b["concat_rule"] == "all":
        return inter
    used = {src for _, src in pairs}
    return [v for v in inter if v not in used]


def parse_nb101(contract, text):
    """NAS-Bench-101 JSON ``{"matrix": ..., "ops": ...}``, checked by ``build.validation``:
    ``(matrix, ops)`` as given (n x n lists, n names)."""
    b = contract["build"]
    choices = b["decisions"]["op_choices"]
    if not isinstance(text, str):
        raise ContractError("an NB101 module must be a JSON str; got %s" % type(text).__name__)
    def no_twice(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise ContractError("the JSON key %r is given twice" % key)
            seen[key] = value
        return seen

    try:
        obj = json.loads(text, object_pairs_hook=no_twice)
    except ValueError as exc:
        if isinstance(exc, ContractError):
            raise
        raise ContractError("cannot read the module as JSON: %s" % exc) from None
    if not isinstance(obj, dict) or "matrix" not in obj or "ops" not in obj:
        raise ContractError('the module must be a JSON object {"matrix": [[...]], "ops": [...]}')
    m, ops = obj["matrix"], obj["ops"]
    n = len(m) if isinstance(m, list) else -1
    if not 2 <= n <= b["max_nodes"] or not all(isinstance(r, list) and len(r) == n for r in m):
        raise ContractError("matrix must be n x n lists with 2 <= n <= %d; got %r" % (b["max_nodes"], m))
    for i, r in enumerate(m):
        for j, v in enumerate(r):
            if isinstance(v, float) or v not in (0, 1):
                raise ContractError("matrix[%d][%d] = %r; entries must be 0 or 1" % (i, j, v))
    m = [[int(v) for v in r] for r in m]
    for i in range(n):
        for j in range(i + 1):
            if m[i][j]:
                raise ContractError("matrix[%d][%d] = 1: matrix must be strictly upper triangular "
                                    "(edges i -> j with i < j only)" % (i, j))
    if not isinstance(ops, list) or len(ops) != n:
        raise ContractError("ops must list %d names; got %r" % (n, ops))
    if ops[0] != "input" or ops[-1] != "output":
        raise ContractError("ops must start with 'input' and end with 'output'; got %r" % (ops,))
    for i, op in enumerate(ops[1:-1], start=1):
        if op not in choices:
            raise ContractError("ops[%d] = %r is not in op_choices; allowed: %s" % (i, op, choices))
    fwd = {0}
    for j in range(n):
        if any(m[i][j] and i in fwd for i in range(j)):
            fwd.add(j)
    back = {n - 1}
    for i in range(n - 1, -1, -1):
        if any(m[i][j] and j in back for j in range(i + 1, n)):
            back.add(i)
    keep = fwd & back
    if n - 1 not in keep:
        raise ContractError("the module has no path from the input (node 0) to the output (node %d)" % (n - 1))
    n_edges = sum(m[i][j] for i in keep for j in keep)
    if n_edges > b["max_edges"]:
        raise ContractError("the module has %d edges on input-output paths; at most max_edges = %d are "
                            "allowed" % (n_edges, b["max_edges"]))
    return m, ops


def parse_hash(contract, text):
    """NAS-Bench-Graph hash: ``(L, [o_1, ..., o_k])``, checked by ``build.validation``."""
    b = contract["build"]
    if not isinstance(text, str):
        raise ContractError("a hash must be a str; got %s" % type(text).__name__)
    t = _strip(text)
    if not _is_int(t):
        raise ContractError("the hash must be a non-negative decimal integer (digits 0-9 only); got %r" % text)
    h = int(t)
    base, k = b["hash_base"], len(b["links"][0])
    digits = []
    for _ in range(k):
        h, r = divmod(h, base)
        digits.append(r)
    digits.reverse()
    if h >= len(b["links"]):
        raise ContractError("hash %s decodes to link pattern L = %d; allowed: [0, %d]" % (t, h, len(b["links"]) - 1))
    n_ops = len(b["node_op_choices"])
    if any(o >= n_ops for o in digits):
        raise ContractError("hash %s has op digits %s; each must be in [0, %d] (node_op_choices)"
                            % (t, digits, n_ops - 1))
    skip = b.get("skip_op")
    if skip is not None and all(b["node_op_choices"][o] == skip for o in digits):
        raise ContractError("hash %s: every computing node is %r; the benchmark excludes this cell" % (t, skip))
    return h, digits


_PARSERS = {"fixed_edges": parse_arch_str, "two_input_cells": parse_genotype,
            "nb101_matrix": parse_nb101, "link_patterns": parse_hash}


def parse_strings(contract, strings):
    """Every string parsed and checked; the first bad one raises ContractError naming it."""
    algo = contract["build"]["algorithm"]
    if algo not in _PARSERS:
        raise ContractError("unknown build algorithm %r" % algo)
    if isinstance(strings, str):
        raise ContractError("pass a list of architecture strings, not one str")
    out = []
    for i, s in enumerate(strings):
        try:
            out.append(_PARSERS[algo](contract, s))
        except ContractError as exc:
            shown = s if not isinstance(s, str) or len(s) <= 60 else s[:57] + "..."
            raise ContractError("architecture %d (0-based) %r: %s" % (i, shown, exc)) from None
    return out


# ============================================================================ arrays
def build_decisions(contract, strings):
    """The decision sequences of ``strings`` (int64 [n, T], ``build.decisions``)."""
    b = contract["build"]
    d = b["decisions"]
    algo = b["algorithm"]
    parsed = parse_strings(contract, strings)
    seq = np.zeros((len(parsed), len(d["decision_sizes"])), dtype=np.int64)
    for i, p in enumerate(parsed):
        if algo == "fixed_edges":
            row = p
        elif algo == "two_input_cells":
            choice = {name: k for k, name in enumerate(d["op_choices"])}
            row = []
            for cell in contract["cells"]:
                pairs = p[cell]
                for k in range(b["n_intermediate"]):
                    a = (pairs[2 * k][1], choice[pairs[2 * k][0]])
                    c = (pairs[2 * k + 1][1], choice[pairs[2 * k + 1][0]])
                    if c < a:
                        a, c = c, a
                    row += [a[0], a[1], c[0], c[1]]
        elif algo == "nb101_matrix":
            m, ops = p
            n, n_max = len(ops), b["max_nodes"]
            new = list(range(n - 1)) + [n_max - 1]
            m7 = [[0] * n_max for _ in range(n_max)]
            op7 = [0] * n_max
            for a in range(n):
                if 0 < a < n - 1:
                    op7[new[a]] = d["op_choices"].index(ops[a])
                for c in range(n):
                    if m[a][c]:
                        m7[new[a]][new[c]] = 1
            row = [m7[x][y] for x, y in d["upper_triangle_order"]] + op7[1:n_max - 1]
        else:  # link_patterns
            row = [p[0]] + p[1]
        seq[i] = row
    return seq


def build_inputs(contract, strings, encoding):
    """The model inputs of ``encoding`` for ``strings``: ``{name: array}``, batch dimension first,
    dtypes and shapes of ``encodings[encoding].inputs``."""
    if encoding not in contract["encodings"]:
        raise ContractError("unknown encoding %r; the contract has %s" % (encoding, sorted(contract["encodings"])))
    if encoding == "sequence":
        return {"seq": build_decisions(contract, strings)}
    if encoding == "onehot":
        seq = build_decisions(contract, strings)
        enc = contract["encodings"]["onehot"]
        onehot = np.zeros((len(seq), enc["inputs"][0]["shape"][1]), dtype=np.float32)
        onehot[np.arange(len(seq))[:, None], np.asarray(enc["offsets"])[None, :] + seq] = 1.0
        return {"onehot": onehot}
    b = contract["build"]
    index = {name: i for i, name in enumerate(contract["vocabulary"])}
    enc = contract["encodings"]["graph"]
    n_nodes, n_cells = enc["n_nodes"], enc["n_cells"]
    parsed = parse_strings(contract, strings)
    batch = len(parsed)
    algo = b["algorithm"]
    if algo == "fixed_edges":
        edges = np.zeros((batch, n_cells, enc["n_edge_rows"], 3), dtype=np.int64)
        edges[:, 0, :, :2] = b["edge_order"]          # every row, every architecture
        if batch:
            edges[:, 0, :, 2] = np.asarray(parsed, dtype=np.int64)
        return {"edges": edges}
    if algo == "two_input_cells":
        edges = np.zeros((batch, n_cells, enc["n_edge_rows"], 3), dtype=np.int64)
        edges[...] = b["padding_row"]
        inter = list(range(b["n_inputs"], b["n_inputs"] + b["n_intermediate"]))
        for i, p in enumerate(parsed):
            for c, cell in enumerate(contract["cells"]):
                pairs = p[cell]
                rows = []
                for k, node in enumerate(inter):
                    two = sorted([(pairs[2 * k][1], index[pairs[2 * k][0]]),
                                  (pairs[2 * k + 1][1], index[pairs[2 * k + 1][0]])])
                    rows += [[src, node, op] for src, op in two]
                rows += [[v, b["output_node"], index[b["concat_op"]]] for v in _concat_nodes(b, pairs)]
                edges[i, c, :len(rows)] = rows
        return {"edges": edges}
    if algo == "nb101_matrix":
        n_max = b["max_nodes"]
        adj = np.zeros((batch, 1, n_max, n_max), dtype=np.float32)
        node_ops = np.full((batch, 1, n_max), index[b["padding_op"]], dtype=np.int64)
        for i, (m, ops) in enumerate(parsed):
            n = len(ops)
            new = list(range(n - 1)) + [n_max - 1]
            for a in range(n):
                node_ops[i, 0, new[a]] = index[ops[a]]
                for c in range(n):
                    if m[a][c]:
                        adj[i, 0, new[c], new[a]] = 1.0       # destination first
        return {"adj": adj, "node_ops": node_ops}
    # link_patterns
    k = len(b["links"][0])
    out = n_nodes - 1
    adj = np.zeros((batch, 1, n_nodes, n_nodes), dtype=np.float32)
    node_ops = np.zeros((batch, 1, n_nodes), dtype=np.int64)
    for i, (link_index, digits) in enumerate(parsed):
        link = b["links"][link_index]
        for node in range(1, k + 1):
            adj[i, 0, node, link[node - 1]] = 1.0
            if node not in link:
                adj[i, 0, out, node] = 1.0
        node_ops[i, 0] = ([index["input"]] + [index[b["node_op_choices"][o]] for o in digits]
                          + [index["output"]])
    return {"adj": adj, "node_ops": node_ops}


# ============================================================================ scoring
class Scorer:
    """An exported model and its contract, checked against each other (``client.model_checks``).

    Parameters
    ----------
    model_path : str
        ``.onnx`` file written by archmodel.
    contract_path : str, optional
        The contract file; default ``<space>.json`` beside this file, ``space`` from the model.
    session_options : onnxruntime.SessionOptions, optional
    """

    def __init__(self, model_path, contract_path=None, session_options=None):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(model_path, session_options,
                                                    providers=["CPUExecutionProvider"])
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        if contract_path is None:
            space = meta.get("space")
            if not space or os.sep in space or "/" in space:
                raise ContractError("model metadata 'space' is %r; pass the contract file" % (space,))
            contract_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), space + ".json")
        self.contract, self.contract_sha256 = read_contract(contract_path)
        self.encoding = check_model_metadata(self.contract, self.contract_sha256, meta)
        check_model_io(self.contract, self.encoding,
                       [(i.name, i.type, i.shape) for i in self.session.get_inputs()],
                       [o.name for o in self.session.get_outputs()])
        self.metadata = meta

    def score(self, strings, batch_size=4096):
        """Scores of ``strings`` (float32 [n], input order); every string is checked first."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ContractError("batch_size must be an integer >= 1; got %r" % (batch_size,))
        arrays = build_inputs(self.contract, strings, self.encoding)
        n = len(next(iter(arrays.values())))
        if n == 0:
            return np.zeros(0, np.float32)
        out = self.contract["encodings"][self.encoding]["output"]["name"]
        parts = [self.session.run([out], {k: v[s:s + batch_size] for k, v in arrays.items()})[0]
                 for s in range(0, n, batch_size)]
        return np.concatenate(parts)


def main(argv=None):
    """Command line: print the scores of ARCHS.txt as one JSON list; exit 2 on a refused input."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="the .onnx file")
    ap.add_argument("archs", help="text file, one architecture string per line ('-' = stdin)")
    ap.add_argument("--contract", help="contract file (default: <space>.json beside this script)")
    ap.add_argument("--batch-size", type=int, default=4096)
    args = ap.parse_args(argv)
    try:
        if args.archs == "-":
            lines = sys.stdin.read().split("\n")
        else:
            with open(args.archs, encoding="utf-8") as fh:
                lines = fh.read().split("\n")  # universal newlines: CR LF and CR read as LF
        strings = [line for line in lines if _strip(line)]  # blank lines are skipped
        scores = Scorer(args.model, args.contract).score(strings, args.batch_size)
    except ContractError as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 2
    sys.stdout.write(json.dumps([float(v) for v in scores]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
