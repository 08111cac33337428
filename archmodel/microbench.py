"""archmodel's own NAS-Bench-201 micro-benchmark: cells trained stand-alone on digits.

:func:`sample_cells` picks the cells (distinct NB201 unique keys, plus the best and worst
known cells), :func:`run` trains each cell with every seed of a fixed :data:`PROTOCOL` and
appends one CSV row per (cell, seed) as it finishes, so an interrupted run resumes where it
stopped. ``scripts/make_microbench.py`` drives it; ``data/microbench/PROTOCOL.md`` documents
the protocol of the stored table.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from archmodel.errors import FormatError, ParameterError

logger = logging.getLogger(__name__)

#: The NB201 optimum on CIFAR-10 and a cell with no input-output path.
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
WORST = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"

#: The protocol of data/microbench/nb201_digits.csv.
PROTOCOL: dict[str, Any] = {
    "data": "digits", "input_size": 8, "channels": 3, "C": 8, "N": 5, "epochs": 1,
    "batch_size": 32, "lr": 0.1, "seeds": [0, 1, 2], "n_sampled": 598, "sample_seed": 0,
}

COLUMNS = ["arch", "unique_key", "role", "seed", "test_accuracy", "val_accuracy",
           "train_seconds", "params"]


def sample_cells(n: int, *, rng: int = 0) -> list[tuple[str, str, str]]:
    """``n`` cells with distinct NB201 unique keys (uniform over keys) plus BEST and WORST.

    Returns
    -------
    list of (arch string, unique key, role)
        role is 'best', 'worst' or 'sampled'; best and worst come first.
    """
    import itertools

    from archmodel.conv.nb201 import NB201_OPS, arch_string
    from archmodel.spaces import get_space

    space = get_space("nb201")
    reps: dict[str, str] = {}
    for ops in itertools.product(NB201_OPS, repeat=6):
        s = arch_string(ops)
        reps.setdefault(space.parse(s).key("unique"), s)
    special = {space.parse(BEST).key("unique"): "best", space.parse(WORST).key("unique"): "worst"}
    keys = sorted(k for k in reps if k not in special)
    if n > len(keys):
        raise ParameterError(f"only {len(keys)} other unique NB201 cells exist; asked for {n}")
    pick = np.random.default_rng(rng).choice(len(keys), size=n, replace=False)
    out = [(BEST, next(k for k, r in special.items() if r == "best"), "best"),
           (WORST, next(k for k, r in special.items() if r == "worst"), "worst")]
    out += [(reps[keys[i]], keys[i], "sampled") for i in pick]
    return out


def train_job(job: tuple[str, int], *, protocol: dict[str, Any], train: Callable[..., dict] | None = None,
              backend: str | None = None) -> dict:
    """Train one (cell, seed) of ``protocol``: the task of :func:`run` (a pure function of its
    arguments, so a run repeated after a lost worker gives the same accuracies)."""
    if train is None:
        from archmodel.cli.net import train_arch as train
    arch, seed = job
    extra = {} if backend is None else {"backend": backend}
    return train(arch, data=protocol["data"], input_size=protocol["input_size"], C=protocol["C"],
                 N=protocol["N"], epochs=protocol["epochs"], batch_size=protocol["batch_size"],
                 lr=protocol["lr"], seed=seed, **extra)


def run(output: str | os.PathLike, *, protocol: dict[str, Any] | None = None,
        train: Callable[..., dict] | None = None, limit: int | None = None,
        progress: Callable[[int, int], None] | None = None, backend: str | None = None,
        engine: str = "local", scheduler: Any = None) -> int:
    """Train every (cell, seed) of ``protocol`` not yet in ``output``; returns rows added.

    The file's first line is ``# archmodel-microbench {protocol json}``; a file with another
    protocol is refused. Rows are appended with one ``write`` each, in the job order
    (seed-major), as the runs finish; a partial last line is dropped before resuming.

    Parameters
    ----------
    output : path
    protocol : dict, optional
        Default :data:`PROTOCOL`.
    train : callable, optional
        Replacement for :func:`archmodel.cli.net.train_arch` (same keywords).
    limit : int, optional
        Train at most this many runs.
    progress : callable, optional
        ``progress(job number, number of jobs)`` after each row written.
    backend : str, optional
        Kernel backend of the training runs (default: the configured one).
    engine : {'local', 'dask'}
        Where the runs are trained (:func:`archmodel.distributed.map_chunks`, one run per
        task); the rows are written here in the same order either way.
    scheduler : str, distributed.Client, cluster or None
        With ``engine='dask'``: a scheduler address, a client or a cluster; None starts a
        LocalCluster (2 worker processes, 1 thread each).
    """
    import contextlib

    from archmodel.distributed import map_chunks

    proto = dict(PROTOCOL if protocol is None else protocol)
    path = Path(output)
    magic = "# archmodel-microbench "
    done: set[tuple[str, int]] = set()
    if path.exists() and path.stat().st_size:
        raw = path.read_bytes()
        end = raw.rfind(b"\n") + 1
        lines = raw[:end].decode().splitlines()
        if not lines or not lines[0].startswith(magic):
            raise FormatError(f"{path} is not a micro-benchmark file")
        if json.loads(lines[0][len(magic):]) != proto:
            raise ParameterError(f"{path} was made with another protocol; use another output")
        for fields in csv.reader(lines[2:]):
            if len(fields) == len(COLUMNS):
                done.add((fields[0], int(fields[3])))
        if end < len(raw):
            os.truncate(path, end)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(magic + json.dumps(proto, sort_keys=True) + "\n" + ",".join(COLUMNS) + "\n")
    cells = sample_cells(proto["n_sampled"], rng=proto["sample_seed"])
    jobs = [(c, s) for c in cells for s in proto["seeds"]]
    # seed-major order: every cell gets its first seed before any gets its second
    jobs.sort(key=lambda j: proto["seeds"].index(j[1]))
    todo = [(i, cell, seed) for i, (cell, seed) in enumerate(jobs, 1) if (cell[0], seed) not in done]
    if limit is not None:
        todo = todo[:max(int(limit), 0)]
    added = 0
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        results = map_chunks(train_job, [(cell[0], seed) for _, cell, seed in todo], name="microbench",
                             kwargs={"protocol": proto, "train": train, "backend": backend},
                             engine=engine, scheduler=scheduler)
        with contextlib.closing(results):
            for (i, (arch, key, role), seed), r in zip(todo, results):
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerow(
                    [arch, key, role, seed, repr(r["test_accuracy"]), repr(r["val_accuracy"]),
                     f"{r['train_seconds']:.3f}", r["params"]])
                os.write(fd, buf.getvalue().encode())
                added += 1
                if progress is not None:
                    progress(i, len(jobs))
    finally:
        os.close(fd)
    return added


def default_path() -> Path:
    """The stored table, ``data/microbench/nb201_digits.csv`` of an archmodel checkout.

    Raises
    ------
    FileNotFoundError
        When archmodel is installed without its checkout (pass the file's path instead).
    """
    path = Path(__file__).resolve().parents[1] / "data" / "microbench" / "nb201_digits.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"the micro-benchmark table is not installed with archmodel (looked for {path}); "
            f"pass the path of a nb201_digits.csv made by scripts/make_microbench.py")
    return path


def load_table(path: str | os.PathLike | None = None) -> dict[str, dict[int, float]]:
    """``{arch string: {seed: test accuracy}}`` of a micro-benchmark file (default
    :func:`default_path`), cells in file order.

    Raises
    ------
    FormatError
        Not a micro-benchmark file.
    """
    path = default_path() if path is None else Path(path)
    lines = path.read_text().splitlines(True)
    if not lines or not lines[0].startswith("# archmodel-microbench "):
        raise FormatError(f"{path} is not a micro-benchmark file (no '# archmodel-microbench' line)")
    by: dict[str, dict[int, float]] = {}
    for r in csv.DictReader(io.StringIO("".join(lines[1:]))):
        by.setdefault(r["arch"], {})[int(r["seed"])] = float(r["test_accuracy"])
    return by


def mean_accuracy(path: str | os.PathLike | None = None, *,
                  complete: bool = True) -> tuple[list[str], np.ndarray]:
    """``(arch strings, mean test accuracy over seeds)``; with ``complete`` only the cells
    that have every seed of the file."""
    by = load_table(path)
    seeds = sorted({s for d in by.values() for s in d})
    archs = [a for a, d in by.items() if not complete or len(d) == len(seeds)]
    return archs, np.array([np.mean(list(by[a].values())) for a in archs])


def summarize(path: str | os.PathLike) -> dict[str, Any]:
    """Accuracy spread and seed-to-seed Kendall tau of a micro-benchmark file.

    Keys: ``rows``, ``cells``, ``seeds``, ``mean_test_accuracy``/``std_test_accuracy`` (first
    seed, over cells), ``cells_with_two_seeds`` and ``kendall_tau_seed0_seed1`` (first two
    seeds), and with three or more seeds ``cells_with_all_seeds`` and
    ``kendall_tau_seed_vs_rest``: the mean over seeds of the tau between one seed and the
    mean of the others, the ceiling a one-shot ranking is judged against.
    """
    from archmodel.metrics import kendall_tau

    by = load_table(path)
    seeds = sorted({s for d in by.values() for s in d})
    first = np.array([d[seeds[0]] for d in by.values() if seeds and seeds[0] in d])
    out: dict[str, Any] = {"rows": sum(len(d) for d in by.values()), "cells": len(by), "seeds": seeds,
                           "mean_test_accuracy": float(first.mean()) if first.size else None,
                           "std_test_accuracy": float(first.std(ddof=1)) if first.size > 1 else None}
    if len(seeds) >= 2:
        both = [(d[seeds[0]], d[seeds[1]]) for d in by.values() if seeds[0] in d and seeds[1] in d]
        out["cells_with_two_seeds"] = len(both)
        if len(both) >= 3:
            a, b = np.array(both).T
            out["kendall_tau_seed0_seed1"] = float(kendall_tau(a, b))
    if len(seeds) >= 3:
        full = np.array([[d[s] for s in seeds] for d in by.values() if len(d) == len(seeds)])
        out["cells_with_all_seeds"] = int(full.shape[0])
        if full.shape[0] >= 3:
            taus = [kendall_tau(full[:, i], np.delete(full, i, axis=1).mean(axis=1))
                    for i in range(len(seeds))]
            out["kendall_tau_seed_vs_rest"] = float(np.mean(taus))
    return out
