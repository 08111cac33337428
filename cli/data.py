"""``archmodel data``: list and describe the benchmark data sets."""
from __future__ import annotations

import click

from archmodel.cli.options import emit_json, json_option


@click.group()
def data() -> None:
    """Benchmark data sets: list, show."""


@data.command("list")
@json_option
def list_cmd(as_json: bool) -> None:
    """List the registered data sets and whether their data is found here."""
    from archmodel.data import list_datasets

    from archmodel.data import ENV_DATA_DIR, data_dir

    items = list_datasets()
    base = data_dir()
    if as_json:
        emit_json(items)
        return
    if base is None:
        click.echo(f"data folder: ${ENV_DATA_DIR} is not set. Data sets that no pip package ships "
                   f"(nb201-c10, zc/*) are found only there: export {ENV_DATA_DIR}=/path/to/data "
                   "(a folder holding analog-nasbench/, nb201-landscapes/, nas-bench-graph/, "
                   "naslib-zc-suite-zero/; in a project checkout: ../shared/data).")
    else:
        state = "" if base.is_dir() else " (no such folder)"
        click.echo(f"data folder: ${ENV_DATA_DIR} = {base}{state}")
    for d in items:
        mark = "yes" if d.get("available") else "no "
        click.echo(f"{d['name']:<28} {d.get('space', ''):<15} found: {mark}  {d.get('description', '')}")
        if not d.get("available") and d.get("hint"):
            click.echo(f"{'':<28} {d['hint']}")


@data.command("show")
@click.argument("name")
@click.option("--path", type=click.Path(exists=True), default=None, help="Read the data from this file.")
@json_option
def show(name: str, path: str | None, as_json: bool) -> None:
    """Size, metrics and their ranges, license and origin of data set NAME."""
    from archmodel.data import load_dataset

    ds = load_dataset(name, path)
    if as_json:
        emit_json(ds.describe())
    else:
        click.echo(ds.describe_text())
