"""Search spaces: sizes, round trips, canonical keys, sampling, neighbours, validation."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from archmodel.errors import InvalidArchitectureError, ParameterError
from archmodel.spaces import get_space, list_spaces
from conftest import require_data

SPACES = ["nb201", "nb101", "darts", "enas", "nasbench-graph", "tnb101-micro"]


def test_list_spaces():
    assert set(SPACES) <= set(list_spaces())


def test_unknown_space_message():
    with pytest.raises(ParameterError, match=r"Unknown search space 'nb999'.*nb201"):
        get_space("nb999")


@pytest.fixture(scope="module")
def nb201_all():
    return list(get_space("nb201").enumerate())


def test_nb201_size_and_unique_keys(nb201_all):
    assert len(nb201_all) == 15625 == get_space("nb201").size
    unique = {a.key("unique") for a in nb201_all}
    assert len(unique) == 6466


def test_nb201_no_path_cells_share_one_structural_key(nb201_all):
    counts = Counter(a.key() for a in nb201_all)
    assert counts["<no-path>"] == 341
    # structural classes: coarser than sequences, finer than NB201's computational key
    assert 6466 < len(counts) < 15625


def test_nb201_structural_key_refines_unique_key_on_connected_cells(nb201_all):
    # NB201's key keeps dead terms ('#', '#+#') that pruning drops, so the two keys are not
    # nested in general; among cells without dead terms, isomorphic cells share NB201's key
    by_struct: dict[str, set[str]] = {}
    for a in nb201_all:
        u = a.key("unique")
        if "#" not in u:
            by_struct.setdefault(a.key(), set()).add(u)
    assert len(by_struct) > 1000
    assert all(len(v) == 1 for v in by_struct.values())


def test_nb201_round_trips_all_cells(nb201_all):
    sp = get_space("nb201")
    for a in nb201_all:
        for fmt in sp.formats:
            assert sp.parse(sp.format(a, fmt), fmt) == a
        assert sp.from_sequence(a.seq) == a
        A = sp.adjacency(a)[0]
        assert [A[d, s] for s, d in sp.edges] == list(a.seq)


def test_nb201_arch_string_matches_naslib_tuple_on_real_data():
    path = require_data("analog-nasbench", "analog_nasbench_flat.csv")
    sp = get_space("nb201")
    import csv

    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 15625
    for r in rows[:2000]:
        tup = "(" + ",".join(r[f"e{i}"] for i in range(6)) + ")"
        assert sp.parse(tup, "naslib") == sp.parse(r["arch_str"], "arch_str")


def test_nb201_known_example():
    sp = get_space("nb201")
    a = sp.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    # edges in arch-string order (0,1),(0,2),(1,2),(0,3),(1,3),(2,3); NB201 op order
    assert a.seq == (3, 3, 4, 1, 3, 1)
    assert sp.format(a, "naslib") == "(2, 2, 0, 4, 2, 0)"


def test_nb201_unique_key_hand_example():
    sp = get_space("nb201")
    # node1 = conv3(x); node2 = none(x) + none(node1) -> '#+#'; out = skip(x) + none + none
    a = sp.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert a.key("unique") == "#+#+0"


@pytest.mark.parametrize("name", ["nb201", "nb101", "darts"])
def test_relabelling_intermediate_nodes_never_changes_key(name):
    sp = get_space(name)
    rng = np.random.default_rng(0)
    from archmodel.graph import CellGraph, canonical_encoding, encoding_to_key, prune

    for a in sp.sample(200, rng):
        for g in sp.pruned_graphs(a):
            if g is None:
                continue
            fixed = set(g.inputs) | {g.output}
            inter = [v for v in range(g.n_nodes) if v not in fixed]
            perm = list(range(g.n_nodes))
            shuffled = list(rng.permutation(inter))
            for v, w in zip(inter, shuffled):
                perm[v] = int(w)
            labels = [""] * g.n_nodes
            for v in range(g.n_nodes):
                labels[perm[v]] = g.node_labels[v]
            h = CellGraph(g.n_nodes, tuple(perm[v] for v in g.inputs), perm[g.output], tuple(labels),
                          tuple((perm[s], perm[d], l) for s, d, l in g.edges))
            assert canonical_encoding(h) == canonical_encoding(g)
            assert encoding_to_key(canonical_encoding(prune(h))) == encoding_to_key(canonical_encoding(g))


def test_structural_key_distinguishes_different_graphs():
    sp = get_space("nb201")
    a = sp.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    b = sp.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    c = sp.parse("|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    assert a.key() != b.key()
    assert b.key() == c.key()  # nodes 1 and 2 swapped


def test_nb101_zc_file_has_292_classes():
    path = require_data("naslib-zc-suite-zero", "zc_nasbench101.json")
    data = json.loads(path.read_text())["nasbench101"]["cifar10"]
    sp = get_space("nb101")
    keys = [sp.parse(k).key() for k in data]
    assert len(keys) == 500
    assert len(set(keys)) == 292


def test_nasbench_graph_hashes_round_trip_exhaustively():
    sp = get_space("nasbench-graph")
    n = 0
    for a in sp.enumerate():
        assert sp.from_hash(sp.to_hash(a)) == a
        n += 1
    assert n == sp.size == 9 * 9 ** 4 - 9


def test_darts_naslib_keys_parse_and_round_trip():
    path = require_data("naslib-zc-suite-zero", "zc_nasbench301.json")
    data = json.loads(path.read_text())["cifar10"]
    sp = get_space("darts")
    for k in list(data)[:200]:
        a = sp.parse(k)
        assert sp.parse(sp.format(a, "genotype")) == a
        assert sp.parse(sp.format(a, "naslib")) == a


def test_darts_size_matches_literature():
    # DARTS: prod_k C(k+2, 2) * 7^2 per cell, squared: ~1.1e18
    per_cell = 1 * 3 * 6 * 10 * 49 ** 4
    assert get_space("darts").size == per_cell ** 2


@pytest.mark.parametrize("name", SPACES)
def test_sample_reproducible_valid_and_roundtrip(name):
    sp = get_space(name)
    a1 = sp.sample(30, 7)
    assert a1 == sp.sample(30, 7)
    for a in a1:
        assert sp.is_valid(a.seq) == (True, None)
        for fmt in sp.formats:
            assert sp.parse(sp.format(a, fmt), fmt) == a


@pytest.mark.parametrize("name", SPACES)
def test_neighbours_and_mutate(name):
    sp = get_space(name)
    a = sp.sample(1, 3)[0]
    nbs = sp.neighbours(a)
    assert nbs and a not in nbs and len(set(nbs)) == len(nbs)
    for b in nbs:
        diff = sum(x != y for x, y in zip(a.seq, b.seq))
        assert 1 <= diff <= 4  # one decision, possibly re-sorted within a node pair
    m = sp.mutate(a, 0)
    assert m in nbs


def test_nb201_neighbour_count():
    sp = get_space("nb201")
    assert len(sp.neighbours(sp.sample(1, 0)[0])) == 6 * 4


@pytest.mark.parametrize("name", SPACES)
def test_encodings_shapes(name):
    sp = get_space(name)
    archs = sp.sample(5, 1)
    assert sp.onehot(archs).shape == (5, sum(sp.decision_sizes))
    assert (sp.onehot(archs).sum(1) == len(sp.decision_sizes)).all()
    pe = sp.path_encoding(archs)
    assert pe.shape[0] == 5 and set(np.unique(pe)) <= {0.0, 1.0}
    gb = sp.to_arrays(archs)
    assert len(gb) == 5


def test_nb201_path_encoding_counts_paths():
    sp = get_space("nb201")
    a = sp.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    pe = sp.path_encoding([a])
    # paths 0-3, 0-1-3, 0-2-3, 0-1-2-3: four distinct label sequences
    assert pe.shape == (1, 4 + 16 + 64) and pe.sum() == 4


def test_isomorphic_cells_give_equal_path_encodings():
    sp = get_space("nb201")
    b = sp.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    c = sp.parse("|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    assert (sp.path_encoding([b]) == sp.path_encoding([c])).all()


BAD = [
    ("nb201", "|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|", r"unknown op 'conv_9x9'"),
    ("nb201", "|none~0|+|none~0|none~1|", r"3 '\+'-separated node groups"),
    ("nb201", "|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", r"must come from a node in \[0, 1\]"),
    ("nb201", "(0, 1, 2)", r"6 op codes; got 3"),
    ("nb201", "(0, 1, 2, 3, 4, 9)", r"position 5 must be in \[0, 4\]"),
    ("nb201", "(a, b)", r"'a' is not an integer"),
    ("nb101", '{"matrix": [[0,1],[1,0]], "ops": ["input","output"]}', r"strictly upper triangular"),
    ("nb101", '{"matrix": [[0,0],[0,0]], "ops": ["input","output"]}', r"no path"),
    ("nb101", '{"matrix": [[0,1],[0,0]], "ops": ["input","conv9"]}', r"start with 'input' and end with 'output'"),
    ("darts", "Genotype(normal=[('sep_conv_3x3', 0)])", r"2 .* pairs|8 \(op, input\) pairs"),
    ("darts", "[[(0, 0), (0, 1), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]", r"reads node 0 twice"),
    ("darts", "[[(3, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]", r"reads node 3; inputs of node 2 must be in \[0, 1\]"),
    ("nasbench-graph", "99999", r"link pattern 9"),
    ("nasbench-graph", "8888", r"every computing node is 'skip'"),
]


@pytest.mark.parametrize("space,text,match", BAD)
def test_bad_input_messages(space, text, match):
    with pytest.raises(InvalidArchitectureError, match=match):
        get_space(space).parse(text)


def test_from_sequence_errors():
    sp = get_space("nb201")
    with pytest.raises(InvalidArchitectureError, match=r"6 decisions; got 2"):
        sp.from_sequence([1, 2])
    with pytest.raises(InvalidArchitectureError, match=r"op of edge 0->1\) must be in \[0, 4\]; got 7"):
        sp.from_sequence([7, 0, 0, 0, 0, 0])
    with pytest.raises(InvalidArchitectureError, match=r"must be an integer"):
        sp.from_sequence([1.5, 0, 0, 0, 0, 0])


def test_arch_from_other_space_is_refused():
    a = get_space("nb101").sample(1, 0)[0]
    with pytest.raises(InvalidArchitectureError, match=r"from search space 'nb101', not 'nb201'"):
        get_space("nb201").format(a)


def test_unique_key_only_for_nb201():
    a = get_space("darts").sample(1, 0)[0]
    with pytest.raises(ParameterError, match=r"'kind' parameter .* must be one of \{'structural'\}"):
        a.key("unique")


def test_enumerate_refused_for_infinite_spaces():
    with pytest.raises(ParameterError, match=r"cannot be enumerated"):
        next(get_space("darts").enumerate())
