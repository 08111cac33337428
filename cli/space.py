"""``archmodel space``: inspect search spaces, sample and canonicalise architectures."""
from __future__ import annotations

import click

from archmodel.cli.options import emit_json, json_option, read_arch_inputs


def _space_choice() -> click.Choice:
    from archmodel.spaces import list_spaces

    return click.Choice(list_spaces())


@click.group()
def space() -> None:
    """Search spaces: info, sample, canonical keys."""


@space.command("info")
@click.argument("name", type=_space_choice())
@json_option
def info(name: str, as_json: bool) -> None:
    """Describe search space NAME (size, unique count, ops, formats)."""
    from archmodel.spaces import get_space

    sp = get_space(name)
    d = sp.info()
    d["unique"] = _unique_count(sp)
    if as_json:
        emit_json(d)
        return
    for k, v in d.items():
        click.echo(f"{k:>15}: {v}")


def _unique_count(sp) -> dict:
    """Number of distinct canonical classes: computed where the space is small enough."""
    out: dict = {}
    if sp.enumerable and sp.size is not None and sp.size <= 100_000:
        archs = list(sp.enumerate())
        for kind in sp.key_kinds:
            out[kind] = len({a.key(kind) for a in archs})
        out["computed"] = True
    reported = sp.spec.get("reported_unique")
    if reported is not None:
        out["reported"] = reported
    return out


@space.command("sample")
@click.argument("name", type=_space_choice())
@click.option("-n", "n", type=click.IntRange(min=0), default=10, show_default=True, help="How many.")
@click.option("--seed", type=int, default=None, help="Random seed (default: fresh entropy).")
@click.option("--format", "fmt", default=None, help="String format (default: the space's default).")
@click.option("--unique", is_flag=True, help="No repeated architectures.")
@json_option
def sample(name: str, n: int, seed: int | None, fmt: str | None, unique: bool, as_json: bool) -> None:
    """Print N architectures drawn uniformly from NAME, one per line."""
    from archmodel.spaces import get_space

    sp = get_space(name)
    archs = sp.sample(n, seed, unique=unique)
    lines = [sp.format(a, fmt) for a in archs]
    if as_json:
        emit_json(lines)
    else:
        for line in lines:
            click.echo(line)


@space.command("canonical")
@click.argument("name", type=_space_choice())
@click.argument("archs", nargs=-1)
@click.option("--input", "input_file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="File with one architecture per line ('-' = stdin).")
@click.option("--key", "kind", type=click.Choice(["structural", "unique"]), default="structural",
              show_default=True, help="'unique' = NAS-Bench-201's own key (nb201 only).")
@json_option
def canonical(name: str, archs: tuple[str, ...], input_file: str | None, kind: str, as_json: bool) -> None:
    """Print one canonical key per input architecture, in input order."""
    from archmodel.spaces import get_space

    sp = get_space(name)
    if kind not in sp.key_kinds:
        raise click.ClickException(f"--key {kind} is not available for {name}; allowed: {list(sp.key_kinds)}")
    items = read_arch_inputs(archs, input_file)
    keys = []
    for i, text in enumerate(items, start=1):
        try:
            keys.append(sp.parse(text).key(kind))
        except ValueError as exc:
            raise click.ClickException(f"architecture {i} ({text[:60]!r}): {exc}") from None
    if as_json:
        emit_json(keys)
    else:
        for k in keys:
            click.echo(k)
