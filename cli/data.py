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

    items = list_datasets()
    if as_json:
        emit_json(items)
        return
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
