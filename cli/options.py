"""Options and helpers shared by every archmodel command (rasterio style)."""
from __future__ import annotations

import json
import sys
from typing import Any, Callable

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Write one JSON document to stdout.")


def seed_option(default: int | None = 0) -> Callable:
    return click.option("--seed", type=int, default=default, show_default=True, help="Random seed.")


def engine_options(f: Callable) -> Callable:
    """``--engine {local,dask}`` and ``--scheduler ADDRESS``: where an embarrassingly parallel
    command runs its tasks (:func:`archmodel.distributed.map_chunks`). The command receives
    ``engine`` and ``scheduler`` and passes them through :func:`engine_settings`."""
    from archmodel.distributed import ENGINES

    f = click.option("--scheduler", metavar="ADDRESS", default=None,
                     help="Dask scheduler to run on (e.g. tcp://10.0.0.5:8786), with --engine dask. "
                          "Default: a LocalCluster on this machine (2 worker processes, 1 thread each).")(f)
    f = click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
                     help="Run the work in this process, or on a Dask cluster (needs the extra "
                          "'archmodel[dask]'). Results are the same, in input order.")(f)
    return f


def engine_settings(engine: str, scheduler: str | None) -> dict[str, Any]:
    """Check ``--engine``/``--scheduler`` and return ``{"engine": ..., "scheduler": ...}``.

    Raises
    ------
    click.UsageError
        ``--scheduler`` without ``--engine dask``.
    click.ClickException
        ``--engine dask`` without dask.distributed installed (names the extra to install).
    """
    if scheduler is not None and engine != "dask":
        raise click.UsageError("--scheduler needs --engine dask")
    if engine == "dask":
        import logging

        from archmodel.distributed import require_dask
        from archmodel.errors import MissingDependencyError

        try:
            require_dask()
        except MissingDependencyError as exc:
            raise click.ClickException(f"--engine dask: {exc}") from None
        # Dask logs at INFO by its own configuration; follow the command's -v/-q level instead
        logging.getLogger("distributed").setLevel(logging.getLogger().getEffectiveLevel())
    return {"engine": engine, "scheduler": scheduler}


def emit_json(obj: Any) -> None:
    """Write one JSON document to stdout."""
    click.echo(json.dumps(obj, indent=2, sort_keys=False, default=_default))


def _default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_arch_inputs(archs: tuple[str, ...], input_file: str | None) -> list[str]:
    """Architectures given as arguments and/or one per line in a file ('-' = stdin)."""
    items = list(archs)
    if input_file is not None:
        fh = sys.stdin if input_file == "-" else open(input_file, encoding="utf-8")
        try:
            items += [line.strip() for line in fh if line.strip() and not line.lstrip().startswith("#")]
        finally:
            if fh is not sys.stdin:
                fh.close()
    if not items:
        raise click.UsageError("no architectures given: pass them as arguments or with --input FILE")
    return items


class ProgressBar:
    """A progress callback printing to stderr (never stdout), quiet when not a terminal and ``quiet``."""

    def __init__(self, label: str, total: int | None = None, enabled: bool = True) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self._bar = None

    def __enter__(self) -> "ProgressBar":
        if self.enabled:
            self._bar = click.progressbar(length=self.total or 0, label=self.label, file=sys.stderr)
            self._bar.__enter__()
        return self

    def update(self, n: int = 1, **info: Any) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def __call__(self, n: int = 1, **info: Any) -> None:
        self.update(n, **info)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
