"""Property-based tests: random and mutated strings and arrays thrown at every parser."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archmodel.errors import InvalidArchitectureError, ParameterError
from archmodel.spaces import get_space

SPACES = ["nb201", "nb101", "darts", "enas", "nasbench-graph"]
ALLOWED = (InvalidArchitectureError, ParameterError)


def _try_parse(space, text):
    try:
        a = space.parse(text)
    except ALLOWED:
        return None
    # anything that parses must be valid and round-trip through every format
    for fmt in space.formats:
        assert space.parse(space.format(a, fmt), fmt) == a
    return a


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(SPACES), text=st.text(max_size=80))
def test_random_strings_never_crash(name, text):
    _try_parse(get_space(name), text)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(SPACES), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_mutated_strings_never_crash(name, seed, data):
    sp = get_space(name)
    a = sp.sample(1, seed)[0]
    fmt = data.draw(st.sampled_from(sp.formats))
    s = list(sp.format(a, fmt))
    n_edits = data.draw(st.integers(1, 4))
    for _ in range(n_edits):
        if not s:
            break
        i = data.draw(st.integers(0, len(s) - 1))
        kind = data.draw(st.sampled_from(["delete", "replace", "insert"]))
        ch = data.draw(st.sampled_from(list("0123456789|~+,()[]{}\"':_ abnx")))
        if kind == "delete":
            del s[i]
        elif kind == "replace":
            s[i] = ch
        else:
            s.insert(i, ch)
    _try_parse(sp, "".join(s))


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(SPACES),
       seq=st.lists(st.one_of(st.integers(-3, 12), st.floats(allow_nan=True), st.booleans(), st.none()), max_size=70))
def test_random_sequences_never_crash(name, seq):
    sp = get_space(name)
    try:
        a = sp.from_sequence(seq)
    except ALLOWED:
        return
    assert sp.from_sequence(a.seq) == a


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_valid_sequences_round_trip(seed):
    rng = np.random.default_rng(seed)
    for name in SPACES:
        sp = get_space(name)
        for a in sp.sample(3, rng):
            assert sp.from_sequence(a.seq) == a
            for fmt in sp.formats:
                assert sp.parse(sp.format(a, fmt), fmt) == a


@settings(max_examples=100, deadline=None)
@given(m=st.lists(st.lists(st.integers(-1, 2), min_size=0, max_size=8), min_size=0, max_size=8),
       ops=st.lists(st.sampled_from(["input", "output", "conv3x3-bn-relu", "maxpool3x3", "bad"]), max_size=8))
def test_nb101_matrix_parser_never_crashes(m, ops):
    sp = get_space("nb101")
    try:
        sp.from_matrix_ops(m, ops)
    except ALLOWED:
        pass
