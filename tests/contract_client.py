"""A scoring client that knows nothing of archmodel: it reads the published encoding contract
(``specs/onnx/<space>.json``), builds the input arrays from architecture strings itself and
scores them with onnxruntime. It imports only onnxruntime, numpy and json (and sys for argv).

Usage::

    python contract_client.py CONTRACT.json MODEL.onnx ARCHS.txt [BATCH_SIZE]

ARCHS.txt holds one architecture per line in the contract's ``build.string_format``; the scores
are written to stdout as one JSON list, in input order.
"""
import json
import sys

import numpy as np
import onnxruntime


def parse_arch_str(text, n_nodes):
    """NB201-style '|op~0|+|op~0|op~1|+...': {(src, dst): op name}."""
    groups = text.strip().split("+")
    if len(groups) != n_nodes - 1:
        raise ValueError("expected %d node groups in %r" % (n_nodes - 1, text))
    ops = {}
    for dst, group in enumerate(groups, start=1):
        for item in group.strip().strip("|").split("|"):
            cut = item.rindex("~")
            ops[(int(item[cut + 1:]), dst)] = item[:cut]
    return ops


def parse_genotype(text, cells):
    """DARTS 'Genotype(normal=[('op', 0), ...], normal_concat=[...], ...)': {cell: [(op, src)]}."""
    out = {}
    for cell in cells:
        start = text.index(cell + "=[") + len(cell) + 2
        body = text[start:text.index("]", start)]
        pairs = []
        for chunk in body.split("(")[1:]:
            inner = chunk[:chunk.index(")")]
            name, src = inner.rsplit(",", 1)
            pairs.append((name.strip().strip("'\""), int(src)))
        out[cell] = pairs
    return out


def build_decisions(contract, strings):
    """The decision sequences of ``strings`` (int64 [n, T]), following ``build.decisions``."""
    b = contract["build"]
    d = b["decisions"]
    vocab = contract["vocabulary"]
    index = {name: i for i, name in enumerate(vocab)}
    n_nodes = contract["nodes"]["n_nodes"]
    seq = np.zeros((len(strings), len(d["decision_sizes"])), dtype=np.int64)
    algo = b["algorithm"]
    for i, s in enumerate(strings):
        if algo == "fixed_edges":
            ops = parse_arch_str(s, n_nodes)
            row = [index[ops[(src, dst)]] for src, dst in b["edge_order"]]
        elif algo == "two_input_cells":
            cells = parse_genotype(s, contract["cells"])
            choice = {name: k for k, name in enumerate(d["op_choices"])}
            row = []
            for cell in contract["cells"]:
                pairs = cells[cell]
                for k in range(b["n_intermediate"]):
                    a = (pairs[2 * k][1], choice[pairs[2 * k][0]])
                    c = (pairs[2 * k + 1][1], choice[pairs[2 * k + 1][0]])
                    if c < a:
                        a, c = c, a
                    row += [a[0], a[1], c[0], c[1]]
        elif algo == "nb101_matrix":
            obj = json.loads(s)
            m, ops = obj["matrix"], obj["ops"]
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
        elif algo == "link_patterns":
            h = int(s)
            digits = []
            for _ in range(len(b["links"][0])):
                h, r = divmod(h, b["hash_base"])
                digits.append(r)
            row = [h] + digits[::-1]
        else:
            raise ValueError("unknown build algorithm %r" % algo)
        seq[i] = row
    sizes = np.asarray(d["decision_sizes"])
    if (seq < 0).any() or (seq >= sizes).any():
        raise ValueError("a decision is out of range")
    return seq


def build_arrays(contract, strings, encoding="graph"):
    """The model inputs of ``encoding`` for ``strings``, following ``contract['build']``."""
    if encoding == "sequence":
        return {"seq": build_decisions(contract, strings)}
    if encoding == "onehot":
        seq = build_decisions(contract, strings)
        enc = contract["encodings"]["onehot"]
        onehot = np.zeros((len(strings), enc["inputs"][0]["shape"][1]), dtype=np.float32)
        cols = np.asarray(enc["offsets"])[None, :] + seq
        onehot[np.arange(len(strings))[:, None], cols] = 1.0
        return {"onehot": onehot}
    if encoding != "graph":
        raise ValueError("unknown encoding %r" % encoding)
    b = contract["build"]
    vocab = contract["vocabulary"]
    index = {name: i for i, name in enumerate(vocab)}
    enc = contract["encodings"]["graph"]
    n_nodes = enc["n_nodes"]
    n_cells = enc["n_cells"]
    batch = len(strings)
    algo = b["algorithm"]
    if algo == "fixed_edges":
        edges = np.zeros((batch, n_cells, enc["n_edge_rows"], 3), dtype=np.int64)
        for i, s in enumerate(strings):
            ops = parse_arch_str(s, n_nodes)
            for e, (src, dst) in enumerate(b["edge_order"]):
                edges[i, 0, e] = (src, dst, index[ops[(src, dst)]])
        return {"edges": edges}
    if algo == "two_input_cells":
        rows = enc["n_edge_rows"]
        edges = np.zeros((batch, n_cells, rows, 3), dtype=np.int64)
        edges[...] = b["padding_row"]
        first_inter = b["n_inputs"]
        inter = list(range(first_inter, first_inter + b["n_intermediate"]))
        for i, s in enumerate(strings):
            cells = parse_genotype(s, contract["cells"])
            for c, cell in enumerate(contract["cells"]):
                pairs = cells[cell]
                out_rows = []
                for k, node in enumerate(inter):
                    two = sorted([(pairs[2 * k][1], index[pairs[2 * k][0]]),
                                  (pairs[2 * k + 1][1], index[pairs[2 * k + 1][0]])])
                    out_rows += [[src, node, op] for src, op in two]
                used = set(r[0] for r in out_rows)
                concat = inter if b["concat_rule"] == "all" else [v for v in inter if v not in used]
                out_rows += [[v, b["output_node"], index[b["concat_op"]]] for v in concat]
                edges[i, c, :len(out_rows)] = out_rows
        return {"edges": edges}
    if algo == "nb101_matrix":
        n_max = b["max_nodes"]
        adj = np.zeros((batch, 1, n_max, n_max), dtype=np.float32)
        node_ops = np.full((batch, 1, n_max), index[b["padding_op"]], dtype=np.int64)
        for i, s in enumerate(strings):
            obj = json.loads(s)
            m, ops = obj["matrix"], obj["ops"]
            n = len(ops)
            new = list(range(n - 1)) + [n_max - 1]
            for a in range(n):
                node_ops[i, 0, new[a]] = index[ops[a]]
                for d in range(n):
                    if m[a][d]:
                        adj[i, 0, new[d], new[a]] = 1.0
        return {"adj": adj, "node_ops": node_ops}
    if algo == "link_patterns":
        base = b["hash_base"]
        k = len(b["links"][0])
        out = n_nodes - 1
        adj = np.zeros((batch, 1, n_nodes, n_nodes), dtype=np.float32)
        node_ops = np.zeros((batch, 1, n_nodes), dtype=np.int64)
        for i, s in enumerate(strings):
            h = int(s)
            digits = []
            for _ in range(k):
                h, r = divmod(h, base)
                digits.append(r)
            digits.reverse()
            link = b["links"][h]
            for node in range(1, k + 1):
                adj[i, 0, node, link[node - 1]] = 1.0
            for v in range(1, k + 1):
                if v not in link:
                    adj[i, 0, out, v] = 1.0
            node_ops[i, 0] = ([index["input"]] + [index[b["node_op_choices"][d]] for d in digits]
                              + [index["output"]])
        return {"adj": adj, "node_ops": node_ops}
    raise ValueError("unknown build algorithm %r" % algo)


def main(argv):
    contract_path, model_path, archs_path = argv[1:4]
    batch_size = int(argv[4]) if len(argv) > 4 else 4096
    with open(contract_path, encoding="utf-8") as fh:
        contract = json.load(fh)
    with open(archs_path, encoding="utf-8") as fh:
        strings = [line.strip() for line in fh if line.strip()]
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("space") != contract["space"]:
        raise SystemExit("model scores space %r, contract is for %r" % (meta.get("space"), contract["space"]))
    if int(meta.get("contract_version", -1)) != contract["contract_version"]:
        raise SystemExit("model follows contract version %s, this contract is %s"
                         % (meta.get("contract_version"), contract["contract_version"]))
    enc = contract["encodings"][meta["encoding"]]
    arrays = build_arrays(contract, strings, meta["encoding"])
    declared = {i["name"]: i for i in enc["inputs"]}
    for inp in session.get_inputs():
        spec = declared[inp.name]
        a = arrays[inp.name]
        if str(a.dtype) != spec["dtype"] or list(a.shape[1:]) != spec["shape"][1:]:
            raise SystemExit("input %s: built %s %s, contract says %s %s"
                             % (inp.name, a.dtype, a.shape, spec["dtype"], spec["shape"]))
    scores = []
    for start in range(0, len(strings), batch_size):
        feed = {name: a[start:start + batch_size] for name, a in arrays.items()}
        scores.append(session.run([enc["output"]["name"]], feed)[0])
    result = np.concatenate(scores)
    sys.stdout.write(json.dumps([float(v) for v in result]) + "\n")


if __name__ == "__main__":
    main(sys.argv)
