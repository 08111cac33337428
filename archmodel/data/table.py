"""Users' own data: architectures and measured metrics in a CSV or JSON Lines file.

A table has one architecture per row, in one column (``arch_column``), written in any format
the search space parses (``space.formats``: e.g. NB201 arch strings or NASLib tuples), and
any number of further columns. Every other column whose values are all numbers (or empty, read
as missing) becomes a metric; other columns are ignored (logged), unless they are requested
through ``target=`` or ``metrics=``, which then raises a :class:`DataError` naming the row.

Read with the standard :mod:`csv` and :mod:`json` modules (no pandas).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from archmodel.data.dataset import Dataset
from archmodel.errors import DataError, InvalidArchitectureError, ParameterError

log = logging.getLogger(__name__)

__all__ = ["load_table", "TABLE_FORMATS"]

#: file kinds understood by :func:`load_table`, and the suffixes that select them
TABLE_FORMATS = {"csv": (".csv", ".txt"), "tsv": (".tsv", ".tab"), "jsonl": (".jsonl", ".ndjson"),
                 "json": (".json",)}

_MISSING = object()


def _kind(path: Path, head: str) -> str:
    suffix = path.suffix.lower()
    for kind, suffixes in TABLE_FORMATS.items():
        if suffix in suffixes:
            if kind == "json" and head.lstrip()[:1] == "{":
                return "jsonl"  # a .json file holding one object per line
            return kind
    first = head.lstrip()[:1]
    if first == "{":
        return "jsonl"
    if first == "[":
        return "json"
    return "csv"


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"no such file: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a table file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def _rows_csv(path: Path, text: str, delimiter: str) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """Header, rows as dicts, and a location label per row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataError(f"{path} is empty (no header line)")
        header = [h.strip() for h in header]
        dups = sorted({h for h in header if header.count(h) > 1})
        if dups:
            raise DataError(f"{path}: duplicate column names {dups}")
        if "" in header:
            raise DataError(f"{path}: column {header.index('') + 1} of the header has no name")
        rows, where = [], []
        for fields in reader:
            if not fields or all(not f.strip() for f in fields):
                continue
            r = len(rows) + 1
            label = f"row {r} (line {reader.line_num})"
            if len(fields) != len(header):
                raise DataError(f"{path}: {label} has {len(fields)} fields; the header has {len(header)}")
            rows.append(dict(zip(header, fields)))
            where.append(label)
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV near line {reader.line_num}: {exc}") from None
    return header, rows, where


def _rows_json(path: Path, text: str, lines: bool) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    where: list[str] = []
    if lines:
        for ln, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {ln} is not valid JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}: line {ln} must be a JSON object; got {type(obj).__name__}")
            rows.append(obj)
            where.append(f"row {len(rows)} (line {ln})")
    else:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(obj, list):
            raise DataError(f"{path} must hold a JSON array of objects (or one object per line); got {type(obj).__name__}")
        for i, item in enumerate(obj, start=1):
            if not isinstance(item, dict):
                raise DataError(f"{path}: item {i} must be a JSON object; got {type(item).__name__}")
            rows.append(item)
            where.append(f"row {i}")
    header: dict[str, None] = {}
    for r in rows:
        for k in r:
            header.setdefault(k, None)
    return list(header), rows, where


def _to_float(value: Any) -> float:
    """A cell as a float; NaN for empty/missing; raises ValueError if not a number."""
    if value is _MISSING or value is None:
        return math.nan
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        t = value.strip()
        if not t:
            return math.nan
        return float(t)
    raise ValueError(f"a {type(value).__name__} is not a number")


def _numeric_column(rows: list[dict[str, Any]], col: str) -> np.ndarray | None:
    out = np.empty(len(rows))
    seen_value = False
    for i, r in enumerate(rows):
        v = r.get(col, _MISSING)
        try:
            out[i] = _to_float(v)
        except (ValueError, OverflowError):
            return None
        seen_value = seen_value or not (v is _MISSING or v is None or isinstance(v, str) and not v.strip())
    return out if seen_value else None


def _require_numeric(path: Path, rows: list[dict[str, Any]], where: list[str], col: str, role: str) -> np.ndarray:
    out = np.empty(len(rows))
    for i, r in enumerate(rows):
        v = r.get(col, _MISSING)
        try:
            out[i] = _to_float(v)
        except (ValueError, OverflowError):
            raise DataError(f"{path}: {role} column {col!r} must be numeric; {where[i]} holds {v!r}") from None
    return out


def _check_column(path: Path, header: Sequence[str], col: Any, role: str) -> str:
    if not isinstance(col, str) or col not in header:
        raise DataError(f"{path}: the {role} column {col!r} does not exist; available columns: {list(header)}")
    return col


def load_table(path: str | os.PathLike, space: Any, arch_column: str = "arch", target: str | None = None,
               metrics: Iterable[str] | None = None, fmt: str | None = None, *,
               name: str | None = None) -> Dataset:
    """Read a user's table of architectures and metrics into a :class:`Dataset`.

    Parameters
    ----------
    path : path-like
        A CSV (``.csv``), TSV (``.tsv``), JSON Lines (``.jsonl``/``.ndjson``: one object per
        line) or JSON (``.json``: an array of objects) file. Other suffixes are sniffed: a
        first character ``{`` means JSON Lines, ``[`` JSON, anything else CSV.
    space : str or SearchSpace
        Search space of the architectures.
    arch_column : str
        Column holding the architectures.
    target : str, optional
        A column that must be numeric; it becomes a metric and the data set's
        ``default_target``.
    metrics : iterable of str, optional
        Columns to keep as metrics (each must be numeric). Default: every numeric column
        other than ``arch_column`` (a column is numeric when every non-empty value reads as a
        number and at least one value is present; empty cells become NaN).
    fmt : str, optional
        Format of the architecture strings (one of ``space.formats``); default: detected per
        row by ``space.parse``.
    name : str, optional
        Data set name (default: the file name without suffix).

    Returns
    -------
    Dataset
        ``ids`` are the row numbers 0..n-1; ``info['source']`` is the path.

    Raises
    ------
    DataError
        Missing or empty file, malformed CSV/JSON, a named column that does not exist (the
        message lists the available columns), a non-numeric value in ``target`` or
        ``metrics`` (with its row), an architecture that does not parse (with its row).
    ParameterError
        Unknown ``space`` or ``fmt``.
    """
    from archmodel.errors import check_choice
    from archmodel.spaces import get_space

    space_obj = get_space(space)
    if fmt is not None:
        check_choice("load_table", "fmt", fmt, space_obj.formats)
    path = Path(path).expanduser()
    text = _read_text(path)
    if not text.strip():
        raise DataError(f"{path} is empty")
    kind = _kind(path, text[:256])
    if kind in ("csv", "tsv"):
        header, rows, where = _rows_csv(path, text, "," if kind == "csv" else "\t")
    else:
        header, rows, where = _rows_json(path, text, lines=(kind == "jsonl"))
    if not rows:
        raise DataError(f"{path} has no data rows" + (f" (columns: {header})" if header else ""))
    _check_column(path, header, arch_column, "architecture")
    if target is not None:
        _check_column(path, header, target, "target")
        if target == arch_column:
            raise ParameterError(f"target {target!r} is the architecture column")
    wanted: list[str] | None = None
    if metrics is not None:
        if isinstance(metrics, str):
            metrics = [metrics]
        wanted = []
        for m in metrics:
            _check_column(path, header, m, "metric")
            if m == arch_column:
                raise ParameterError(f"metric {m!r} is the architecture column")
            if m not in wanted:
                wanted.append(m)
        if target is not None and target not in wanted:
            wanted.append(target)

    archs = []
    for i, r in enumerate(rows):
        v = r.get(arch_column, _MISSING)
        if v is _MISSING or v is None or (isinstance(v, str) and not v.strip()):
            raise DataError(f"{path}: {where[i]} has no architecture in column {arch_column!r}")
        try:
            archs.append(space_obj.parse(v.strip() if isinstance(v, str) else v, fmt))
        except InvalidArchitectureError as exc:
            raise DataError(f"{path}: {where[i]}: cannot read architecture {v!r}: {exc}") from None
        except (ParameterError, TypeError, ValueError) as exc:
            raise DataError(f"{path}: {where[i]}: cannot read architecture {v!r}: {exc}") from None

    cols: dict[str, np.ndarray] = {}
    if wanted is not None:
        for m in wanted:
            cols[m] = _require_numeric(path, rows, where, m, "target" if m == target else "metric")
    else:
        for c in header:
            if c == arch_column:
                continue
            if c == target:
                cols[c] = _require_numeric(path, rows, where, c, "target")
                continue
            arr = _numeric_column(rows, c)
            if arr is None:
                log.info("%s: column %r is not numeric; ignored", path, c)
                continue
            cols[c] = arr
    info = {"description": f"user table {path.name}", "source": str(path), "location": str(path),
            "ids": "row number in the file (0-based)", "arch_column": arch_column}
    return Dataset(name or path.stem, space_obj.name, archs, cols, info=info, default_target=target)
