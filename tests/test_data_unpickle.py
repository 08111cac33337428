"""The restricted unpickler: admits exactly the benchmark files' globals, refuses everything else."""
from __future__ import annotations

import io
import os
import pickle
import pickletools

import numpy as np
import pytest

from archmodel.data import load_dataset
from archmodel.data.unpickle import (
    ANALOG_NASBENCH_GLOBALS,
    NUMPY_SCALAR_GLOBALS,
    AnalogArchitecture,
    DriftMeasurement,
    restricted_load,
)
from archmodel.errors import DataError
from conftest import require_data


class _Shell:
    """Pickles to a call of ``os.system`` (what a malicious benchmark file would hold)."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def _globals_in(data: bytes) -> set[str]:
    """Module.name of every global a pickle references (GLOBAL and STACK_GLOBAL).

    Tracks only what string-pushing, memo and get opcodes put on the stack (others push a
    placeholder), which is enough to name STACK_GLOBAL's two operands.
    """
    strings = ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8")
    out: set[str] = set()
    pushed: list[str | None] = []
    memo: dict[int, str | None] = {}
    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name in strings:
            pushed.append(arg)
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(arg))
        elif name == "GLOBAL":
            out.add(arg.replace(" ", "."))
        elif name == "STACK_GLOBAL":
            out.add(f"{pushed[-2]}.{pushed[-1]}")
            pushed.append(None)
        elif name not in ("FRAME", "PROTO"):
            pushed.append(None)
    return out


def test_malicious_pickle_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({(0, 0, 0, 0, 0, 0): _Shell(f"touch {marker}")})
    bad = tmp_path / "data.anb"
    bad.write_bytes(payload)
    with pytest.raises(DataError, match=r"refusing to unpickle the global (posix|nt|os)\.system"):
        restricted_load(bad, ANALOG_NASBENCH_GLOBALS)
    with pytest.raises(DataError, match=r"refusing to unpickle the global (posix|nt|os)\.system.*admits only "
                                        r"\[analognasbench\.data\.Architecture, analognasbench\.data\.DriftMeasurement\]"):
        load_dataset("nb201-analog", path=bad, cache=False)
    assert not marker.exists()


def test_refuses_builtins_and_object_dtypes():
    with pytest.raises(DataError, match=r"refusing to unpickle the global builtins\.eval"):
        restricted_load(io.BytesIO(pickle.dumps(_Eval())), NUMPY_SCALAR_GLOBALS)
    # an object-dtype scalar needs numpy.dtype('O'): the dtype wrapper refuses it
    obj = pickle.dumps(np.dtype(object))
    with pytest.raises(DataError, match=r"numpy\.dtype\(.O8?.\).*kind .O. is not numeric"):
        restricted_load(io.BytesIO(obj), NUMPY_SCALAR_GLOBALS)
    # ndarray reconstruction is not admitted at all
    with pytest.raises(DataError, match=r"refusing to unpickle the global numpy\._core\.multiarray\._reconstruct"
                                        r"|refusing to unpickle the global numpy\.core\.multiarray\._reconstruct"):
        restricted_load(io.BytesIO(pickle.dumps(np.arange(3))), NUMPY_SCALAR_GLOBALS)


def test_numpy_scalars_load_under_both_numpy_names():
    data = pickle.dumps({7: {"perf": np.float64(0.25), "n": np.int64(3)}}, protocol=3)
    out = restricted_load(io.BytesIO(data), NUMPY_SCALAR_GLOBALS)
    assert out == {7: {"perf": 0.25, "n": 3}} and type(out[7]["perf"]) is np.float64
    legacy = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert legacy != data
    assert restricted_load(io.BytesIO(legacy), NUMPY_SCALAR_GLOBALS) == out


def test_truncated_and_non_pickle_files(tmp_path):
    real = require_data("nas-bench-graph", "proteins.bench").read_bytes()
    cut = tmp_path / "cut.bench"
    cut.write_bytes(real[: len(real) // 2])
    with pytest.raises(DataError, match=r"not a readable pickle \(truncated or corrupt\?\)"):
        restricted_load(cut, NUMPY_SCALAR_GLOBALS)
    junk = tmp_path / "junk.bench"
    junk.write_bytes(b"hello world")
    with pytest.raises(DataError, match=r"not a readable pickle"):
        restricted_load(junk, NUMPY_SCALAR_GLOBALS)
    with pytest.raises(DataError, match=r"no such file"):
        restricted_load(tmp_path / "absent.bench", NUMPY_SCALAR_GLOBALS)


@pytest.mark.parametrize("rel,allowed", [
    (("analog-nasbench", "data.anb"), ANALOG_NASBENCH_GLOBALS),
    (("nas-bench-graph", "cora.bench"), NUMPY_SCALAR_GLOBALS),
    (("nas-bench-graph", "proteins.bench"), NUMPY_SCALAR_GLOBALS),
])
def test_allow_lists_match_the_real_files(rel, allowed):
    path = require_data(*rel)
    referenced = _globals_in(path.read_bytes())
    admitted = {f"{m}.{n}" for m, n in allowed}
    assert referenced <= admitted
    # every global the file references is needed: dropping it makes the load fail, naming it
    for g in referenced:
        fewer = {k: v for k, v in allowed.items() if f"{k[0]}.{k[1]}" != g}
        with pytest.raises(DataError, match=f"refusing to unpickle the global {g.replace('.', r'[.]')}"):
            restricted_load(path, fewer)


def test_analog_stand_ins():
    d = restricted_load(require_data("analog-nasbench", "data.anb"), ANALOG_NASBENCH_GLOBALS)
    rec = d[(0, 0, 0, 0, 0, 1)]
    assert isinstance(rec, AnalogArchitecture) and isinstance(rec.analog_drift_60, DriftMeasurement)
    assert rec.architecture == (0, 0, 0, 0, 0, 1)
    assert isinstance(rec.analog_drift_60.value, float) and isinstance(rec.analog_drift_60.uncertainty, float)
