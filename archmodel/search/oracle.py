"""Oracles: what a search loop asks for the performance of an architecture.

An oracle maps one :class:`~archmodel.arch.Arch` to one float, *higher is better*. archmodel
ships three:

* :class:`TableOracle`: a benchmark table (a :class:`~archmodel.data.Dataset` column);
* :class:`FunctionOracle`: any Python callable ``fn(arch) -> float``;
* :class:`CommandOracle`: a shell command that trains/evaluates a network and prints the value.

The search loops never call an oracle directly: they go through a :class:`QueryLog`, which
counts every query, answers a repeated architecture from memory, records failures (an
exception, a timeout, a non-finite value) as failed queries that the loop skips, and can
append every query to a JSON Lines file so that a killed search resumes without asking the
oracle again.
"""
from __future__ import annotations

import json
import logging
import math
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from archmodel.arch import Arch
from archmodel.errors import DataError, ParameterError

logger = logging.getLogger(__name__)

__all__ = ["Oracle", "TableOracle", "FunctionOracle", "CommandOracle", "OracleError", "OutOfDomain",
           "QueryLog", "Query"]

LOG_FORMAT = "archmodel.search-log"
LOG_VERSION = 1


class OracleError(RuntimeError):
    """An oracle could not give a value for one architecture (the loop records and skips it)."""


class OutOfDomain(OracleError):
    """The architecture is not in the oracle's finite domain (a benchmark table without it).

    Not a query: nothing was evaluated. The log marks the architecture as seen (it is never
    proposed again) without spending budget on it.
    """


class Oracle:
    """Base class: ``oracle(arch) -> float`` (higher is better) for archs of ``space``.

    Subclasses implement :meth:`__call__` and set :attr:`space` (the search space name).
    ``best_possible`` is the best value of the whole space where it is known (tables), else
    None; it is reported, never used by the search. ``domain`` lists the architectures a
    table holds: loops sample and score candidates from it instead of the whole space.
    """

    space: str = ""
    best_possible: float | None = None
    #: the architectures the oracle can answer for, where that is a finite known set (tables)
    domain: list[Arch] | None = None

    def __call__(self, arch: Arch) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """A JSON-able description written into the search log's header."""
        return {"kind": type(self).__name__, "space": self.space}


class TableOracle(Oracle):
    """Look the value up in a benchmark table.

    Parameters
    ----------
    dataset : Dataset
        A loaded benchmark (``archmodel.data.load_dataset``).
    target : str
        The metric to maximise (e.g. ``'baseline_accuracy'``).
    """

    def __init__(self, dataset: Any, target: str) -> None:
        import numpy as np

        values = np.asarray(dataset.target(target), dtype=float)
        self.dataset_name = dataset.name
        self.target = target
        self.space = dataset.space
        self._index = {a.seq: i for i, a in enumerate(dataset.archs)}
        self._by_key: dict[str, int] | None = None
        self._values = values
        self.domain = list(dataset.archs)
        finite = values[np.isfinite(values)]
        self.best_possible = float(finite.max()) if finite.size else None

    def __call__(self, arch: Arch) -> float:
        i = self._index.get(arch.seq)
        if i is None:
            # an equivalent spelling of a cell the table holds (built on the first miss)
            if self._by_key is None:
                self._by_key = {}
                for j, a in enumerate(self.domain or []):
                    self._by_key.setdefault(a.key("structural"), j)
            i = self._by_key.get(arch.key("structural"))
        if i is None:
            raise OutOfDomain(f"{self.dataset_name} has no entry for {arch}")
        return float(self._values[i])

    def describe(self) -> dict[str, Any]:
        return {"kind": "TableOracle", "space": self.space, "data": self.dataset_name,
                "target": self.target}


class FunctionOracle(Oracle):
    """Wrap a Python callable ``fn(arch) -> float`` (higher is better).

    Parameters
    ----------
    fn : callable
    space : str
        Search space name of the architectures ``fn`` receives.
    """

    def __init__(self, fn: Callable[[Arch], float], space: str) -> None:
        if not callable(fn):
            raise ParameterError(f"FunctionOracle: 'fn' must be callable; got {type(fn).__name__}")
        self.fn = fn
        self.space = space

    def __call__(self, arch: Arch) -> float:
        return float(self.fn(arch))

    def describe(self) -> dict[str, Any]:
        return {"kind": "FunctionOracle", "space": self.space,
                "fn": getattr(self.fn, "__qualname__", repr(self.fn))}


class CommandOracle(Oracle):
    """Run a shell command per architecture; the last line of its stdout is the value.

    Parameters
    ----------
    command : str
        A command template; ``{arch}`` is replaced by the architecture in ``fmt``
        (shell-quoted), e.g. ``"archmodel net train --arch {arch} --json | jq .test_accuracy"``.
    space : str
    fmt : str, optional
        String format of the architecture (the space's default when None).
    timeout : float, optional
        Seconds; a command still running then is killed and the query recorded as failed.
    """

    def __init__(self, command: str, space: str, *, fmt: str | None = None,
                 timeout: float | None = None) -> None:
        if "{arch}" not in command:
            raise ParameterError(f"CommandOracle: 'command' must contain '{{arch}}'; got {command!r}")
        if timeout is not None and not timeout > 0:
            raise ParameterError(f"CommandOracle: 'timeout' must be > 0 seconds; got {timeout!r}")
        self.command = command
        self.space = space
        self.fmt = fmt
        self.timeout = timeout

    def __call__(self, arch: Arch) -> float:
        from archmodel.spaces import get_space

        text = get_space(self.space).format(arch, self.fmt)
        cmd = self.command.replace("{arch}", shlex.quote(text))
        try:
            done = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            raise OracleError(f"command timed out after {self.timeout} s: {cmd}") from exc
        if done.returncode != 0:
            tail = (done.stderr or "").strip().splitlines()[-1:] or [""]
            raise OracleError(f"command exited {done.returncode}: {cmd}: {tail[0]}")
        lines = [ln for ln in done.stdout.strip().splitlines() if ln.strip()]
        if not lines:
            raise OracleError(f"command printed nothing: {cmd}")
        try:
            return float(lines[-1])
        except ValueError as exc:
            raise OracleError(f"command's last line is not a number: {lines[-1]!r}") from exc

    def describe(self) -> dict[str, Any]:
        return {"kind": "CommandOracle", "space": self.space, "command": self.command,
                "timeout": self.timeout}


class Query:
    """One oracle query: ``arch``, ``value`` (None when it failed), ``error``, ``seconds``."""

    __slots__ = ("index", "arch", "value", "error", "seconds")

    def __init__(self, index: int, arch: Arch, value: float | None, error: str | None,
                 seconds: float) -> None:
        self.index = index
        self.arch = arch
        self.value = value
        self.error = error
        self.seconds = seconds

    @property
    def ok(self) -> bool:
        return self.value is not None


class BudgetExhausted(Exception):
    """Raised inside a loop when the query budget is spent (caught by :func:`run_search`)."""


class QueryLog:
    """Counts, caches, records and (optionally) persists the queries of one search.

    Parameters
    ----------
    oracle : Oracle
    budget : int >= 1
        Number of distinct architectures the search may ask for (failed queries count: they
        cost the oracle's time).
    path : str or Path, optional
        JSON Lines file. If it exists, its queries are replayed: asking for a logged
        architecture returns the logged value without calling the oracle, so a killed search
        that is run again with the same settings resumes where it stopped. The header line
        must match ``settings``.
    settings : dict, optional
        The search's settings (algorithm, seed, ...), stored in the header and checked on resume.
    progress : callable, optional
        ``progress(query)`` after each new query (a :class:`Query`).
    """

    def __init__(self, oracle: Oracle, budget: int, *, path: Any = None,
                 settings: dict[str, Any] | None = None,
                 progress: Callable[["Query"], None] | None = None) -> None:
        if not isinstance(budget, int) or budget < 1:
            raise ParameterError(f"The 'budget' parameter must be an integer >= 1. Got {budget!r} instead.")
        from archmodel.spaces import get_space

        self.oracle = oracle
        self.budget = budget
        self.space = get_space(oracle.space)
        self.queries: list[Query] = []
        self._by_seq: dict[tuple[int, ...], Query] = {}
        self._replay: dict[tuple[int, ...], dict[str, Any]] = {}
        self._outside: set[tuple[int, ...]] = set()
        self.oracle_calls = 0
        self.path = Path(path) if path is not None else None
        self._settings = dict(settings or {})
        self._progress = progress
        if self.path is not None:
            self._open()

    # ----------------------------------------------------------- persistence
    def _header(self) -> dict[str, Any]:
        return {"format": LOG_FORMAT, "version": LOG_VERSION, "oracle": self.oracle.describe(),
                "settings": self._settings}

    def _open(self) -> None:
        if self.path.exists() and self.path.stat().st_size > 0:
            lines = self.path.read_text().splitlines()
            try:
                header = json.loads(lines[0])
            except (json.JSONDecodeError, IndexError) as exc:
                raise DataError(f"{self.path}: not an archmodel search log (bad header line)") from exc
            if header.get("format") != LOG_FORMAT:
                raise DataError(f"{self.path}: not an archmodel search log (format {header.get('format')!r})")
            if header.get("version") != LOG_VERSION:
                raise DataError(f"{self.path}: search log version {header.get('version')!r}; "
                                f"this archmodel reads version {LOG_VERSION}")
            want = self._header()
            for field in ("oracle", "settings"):
                if header.get(field) != want[field]:
                    raise DataError(f"{self.path}: written by a search with other {field} "
                                    f"({header.get(field)} != {want[field]}); use another --log file")
            for ln in lines[1:]:
                if not ln.strip():
                    continue
                try:
                    rec = json.loads(ln)
                except json.JSONDecodeError:
                    logger.warning("%s: ignoring a truncated last line", self.path)
                    break
                self._replay[tuple(rec["seq"])] = rec
            logger.info("resuming from %s: %d logged queries", self.path, len(self._replay))
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._append(self._header())

    def _append(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    # ----------------------------------------------------------- queries
    @property
    def n_queries(self) -> int:
        return len(self.queries)

    @property
    def remaining(self) -> int:
        return self.budget - len(self.queries)

    def seen(self, arch: Arch) -> bool:
        """Whether ``arch`` was already queried (successfully or not), or is outside the domain."""
        return arch.seq in self._by_seq or arch.seq in self._outside

    def __call__(self, arch: Arch) -> float | None:
        """The value of ``arch`` (None when its query failed); raises BudgetExhausted when spent."""
        q = self._by_seq.get(arch.seq)
        if q is not None:
            return q.value
        if arch.seq in self._outside:
            return None
        if self.remaining <= 0:
            raise BudgetExhausted
        rec = self._replay.get(arch.seq)
        if rec is not None:
            q = Query(len(self.queries), arch, rec["value"], rec.get("error"), rec.get("seconds", 0.0))
        else:
            t0 = time.perf_counter()
            value: float | None
            error = None
            try:
                value = float(self.oracle(arch))
                if not math.isfinite(value):
                    error, value = f"oracle returned {value}", None
            except OutOfDomain as exc:
                logger.debug("not in the oracle's domain (no query spent): %s", exc)
                self._outside.add(arch.seq)
                return None
            except Exception as exc:  # noqa: BLE001 - any oracle failure is recorded and skipped
                error, value = f"{type(exc).__name__}: {exc}", None
            self.oracle_calls += 1
            q = Query(len(self.queries), arch, value, error, time.perf_counter() - t0)
            if error is not None:
                logger.warning("query %d failed (%s): %s", q.index, self.space.format(arch), error)
            self._write(q)
        self.queries.append(q)
        self._by_seq[arch.seq] = q
        if self._progress is not None:
            self._progress(q)
        return q.value

    def _write(self, q: Query) -> None:
        if self.path is not None:
            self._append({"i": q.index, "seq": list(q.arch.seq), "arch": self.space.format(q.arch),
                          "value": q.value, "error": q.error, "seconds": round(q.seconds, 6)})

    def evaluated(self) -> tuple[list[Arch], list[float]]:
        """The successfully evaluated architectures and their values, in query order."""
        ok = [q for q in self.queries if q.ok]
        return [q.arch for q in ok], [float(q.value) for q in ok]  # type: ignore[arg-type]

    def best(self) -> Query | None:
        """The best successful query so far (the first of ties)."""
        best = None
        for q in self.queries:
            if q.ok and (best is None or q.value > best.value):  # type: ignore[operator]
                best = q
        return best

    def trajectory(self) -> list[float | None]:
        """Best value after each query (None until the first success)."""
        out: list[float | None] = []
        cur: float | None = None
        for q in self.queries:
            if q.ok and (cur is None or q.value > cur):  # type: ignore[operator]
                cur = q.value
            out.append(cur)
        return out

    def __iter__(self) -> Iterator[Query]:
        return iter(self.queries)


def query_many(log: QueryLog, archs: Sequence[Arch]) -> list[float | None]:
    """Query ``archs`` in order (stops with BudgetExhausted when the budget is spent)."""
    return [log(a) for a in archs]
