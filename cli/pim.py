"""``archmodel pim``: memristor PIM simulator (behaviour-level cost model, design sweeps)."""
from __future__ import annotations

import csv
import io
import itertools
import sys
from typing import Any

import click

from archmodel.cli.options import ProgressBar, emit_json, engine_options, engine_settings, json_option


def _parse_value(text: str) -> Any:
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t


def parse_grid(items: tuple[str, ...]) -> list[tuple[str, list[Any]]]:
    """``('adc_bits=4,5', 'xbar_size=128,256')`` -> ``[('adc_bits', [4, 5]), ('xbar_size', [128, 256])]``."""
    out: list[tuple[str, list[Any]]] = []
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"expected KEY=V1,V2,... got {item!r}", param_hint="'--grid'")
        key, vals = item.split("=", 1)
        key = key.strip()
        values = [_parse_value(v) for v in vals.split(",") if v.strip()]
        if not key or not values:
            raise click.BadParameter(f"expected KEY=V1,V2,... got {item!r}", param_hint="'--grid'")
        if any(k == key for k, _ in out):
            raise click.BadParameter(f"key {key!r} given twice", param_hint="'--grid'")
        out.append((key, values))
    return out


def _spec_with_sets(hardware: str, sets: tuple[str, ...]) -> dict:
    """The hardware spec ``hardware`` with the ``--set KEY=VALUE`` overrides applied."""
    from archmodel.pim.spec import apply_overrides, load_hardware

    spec = _wrap(load_hardware, hardware)
    if sets:
        grid = parse_grid(sets)
        if any(len(v) != 1 for _, v in grid):
            raise click.BadParameter("each --set takes exactly one value", param_hint="'--set'")
        spec = _wrap(apply_overrides, spec, {k: v[0] for k, v in grid})
    return spec


def _wrap(fn, *args, **kwargs):
    """Run ``fn`` and turn archmodel's user errors into one-line Click errors."""
    from archmodel.errors import ArchModelError

    try:
        return fn(*args, **kwargs)
    except ArchModelError as exc:
        raise click.ClickException(str(exc)) from None
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def pim() -> None:
    """Memristor (ReRAM) crossbar PIM simulator: MNSIM 2.0's behaviour-level model."""


@pim.command("simulate")
@click.option("--network", "network", default="vgg8", show_default=True,
              help="Built-in network (vgg8, alexnet, vgg16, resnet18), an NB201 architecture "
                   "('|nor_conv_3x3~0|+|...|' or '(2, 2, 0, 4, 2, 0)': NAS-Bench-201's CIFAR network, "
                   "C=16, N=5, 32x32x3), a JSON layer-list file or an archmodel network saved as .npz.")
@click.option("--hardware", "hardware", default="mnsim-default", show_default=True,
              help="Hardware preset (mnsim-default, isaac-like) or a JSON spec file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a spec field (short name such as adc_bits, or a dotted path); repeatable.")
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default=None, help="Kernel backend.")
@json_option
def simulate_cmd(network: str, hardware: str, sets: tuple[str, ...], backend: str | None, as_json: bool) -> None:
    """Estimate latency, energy, power, area and EDP of NETWORK on HARDWARE (per image)."""
    from archmodel.pim import simulate

    spec = _spec_with_sets(hardware, sets)
    res = _wrap(simulate, network, spec, backend=backend)
    if as_json:
        emit_json(res.to_dict())
        return
    click.echo(f"network {res.network} on {res.hardware}")
    click.echo(f"  crossbars   {res.crossbars} ({res.physical_crossbars} arrays), PEs {res.pes}, tiles {res.tiles}, "
               f"utilisation {100 * res.utilization:.1f} %")
    click.echo(f"  latency     {res.latency_s * 1e3:.4f} ms")
    click.echo(f"  energy      {res.energy_j * 1e3:.4f} mJ")
    click.echo(f"  power       {res.power_w:.3f} W average, {res.peak_power_w:.3f} W all layers active")
    click.echo(f"  area        {res.area_mm2:.3f} mm^2")
    click.echo(f"  EDP         {res.edp_js:.4e} J*s")
    click.echo("  energy by component: " + ", ".join(
        f"{k} {v * 1e3:.4f} mJ" for k, v in res.energy_breakdown_j.items()))
    click.echo("  area by component:   " + ", ".join(
        f"{k} {v:.3f} mm^2" for k, v in res.area_breakdown_mm2.items()))
    click.echo(f"{'#':>3} {'layer':<34} {'xbars':>6} {'tiles':>5} {'start ms':>9} {'end ms':>9} {'energy uJ':>10}")
    for l in res.layers:
        click.echo(f"{l.index:>3} {l.description:<34} {l.crossbars:>6} {l.tiles:>5} {l.start_s * 1e3:>9.4f} "
                   f"{l.finish_s * 1e3:>9.4f} {l.energy_j * 1e6:>10.3f}")


_CSV_FIELDS = ("crossbars", "physical_crossbars", "tiles", "latency_s", "energy_j", "area_mm2", "edp_js",
               "power_w", "peak_power_w", "utilization", "ok")


@pim.command("accuracy")
@click.argument("network", type=click.Path(exists=True, dir_okay=False))
@click.option("--hardware", "hardware", default="mnsim-default", show_default=True,
              help="Hardware preset (mnsim-default, isaac-like) or a JSON spec file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a spec field (e.g. adc_bits=6, variation=0.1); repeatable.")
@click.option("--draws", type=click.IntRange(min=1), default=5, show_default=True,
              help="Device draws (conductance variation, stuck-at faults) to average over.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the device draws.")
@click.option("--calibration", type=click.IntRange(min=1), default=64, show_default=True,
              help="Training images that fix each layer's activation scale.")
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default=None, help="Kernel backend.")
@json_option
def accuracy_cmd(network: str, hardware: str, sets: tuple[str, ...], draws: int, seed: int,
                 calibration: int, backend: str | None, as_json: bool) -> None:
    """Test accuracy of a trained NETWORK (.npz from 'archmodel net train --output') on crossbars.

    The network's data set (scikit-learn's digits, at the network's input size, the split
    'archmodel net train' uses) is evaluated with every convolution and linear layer computed
    by bit-sliced crossbars of HARDWARE, over --draws device draws: mean and std, with the
    float and quantised digital accuracies for reference.
    """
    from archmodel.conv.network import Network
    from archmodel.datasets.images import load_digits
    from archmodel.pim.conv_network import pim_accuracy

    spec = _spec_with_sets(hardware, sets)
    net = _wrap(Network.load, network, backend=backend)
    data = net.metadata.get("data", "digits")
    if data != "digits":
        raise click.ClickException(f"{network}: trained on {data!r}; 'pim accuracy' evaluates 'digits' networks")
    size = net.input_size
    ds = load_digits(size=size, channels=net.in_channels, interpolation="nearest" if size == 8 else "bilinear")
    res = _wrap(pim_accuracy, net, ds.X_test, ds.y_test, hardware=spec, n_draws=draws, rng=seed,
                calibration=ds.X_train[:calibration], backend=backend)
    doc = {"network": network, "hardware": spec.get("name", hardware), "n_test": int(len(ds.y_test)),
           "n_draws": draws, "seed": seed, **res.to_dict()}
    if as_json:
        emit_json(doc)
        return
    click.echo(f"{network} on {doc['hardware']}: accuracy {res.mean:.4f} +- {res.std:.4f} over {draws} device "
               f"draw(s) ({doc['n_test']} test images); float {res.float_:.4f}, quantised digital {res.digital:.4f}")


def sweep_rows(part: list[dict[str, Any]], *, network: Any, base: dict, backend: str | None) -> list[list[Any]]:
    """CSV rows (the swept values, then :data:`_CSV_FIELDS`) of one chunk of configurations
    (the task of ``pim sweep``: one :func:`archmodel.pim.simulate_batch` call)."""
    from archmodel.pim import simulate_batch

    res = simulate_batch(network, base=base, overrides=part, backend=backend)
    return [list(combo.values()) + [getattr(res, f)[i].item() for f in _CSV_FIELDS]
            for i, combo in enumerate(part)]


@pim.command("sweep")
@click.option("--network", "network", default="vgg8", show_default=True,
              help="Built-in network, a JSON layer-list file or a saved archmodel network (.npz).")
@click.option("--hardware", "hardware", default="mnsim-default", show_default=True,
              help="Base hardware preset or JSON spec file.")
@click.option("--grid", "grid", multiple=True, required=True, metavar="KEY=V1,V2,...",
              help="A swept field (short name such as adc_bits / xbar_size, or a dotted path); repeatable: "
                   "the cartesian product is evaluated.")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False), default=None,
              help="CSV file to write (atomically); default: stdout.")
@click.option("--chunk", type=click.IntRange(min=1), default=256, show_default=True,
              help="Configurations per kernel call and per task (progress granularity).")
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default=None, help="Kernel backend.")
@engine_options
@click.pass_context
def sweep_cmd(ctx: click.Context, network: str, hardware: str, grid: tuple[str, ...], output: str | None,
              chunk: int, backend: str | None, engine: str, scheduler: str | None) -> None:
    """Evaluate the cartesian product of --grid values; one CSV row per configuration.

    With --engine dask the chunks of configurations are evaluated on a Dask cluster (a
    --network file is read by the workers at the same path); the rows are the same, in the
    same order.
    """
    import contextlib
    import os

    from archmodel.distributed import map_chunks
    from archmodel.errors import ArchModelError
    from archmodel.io import atomic_write
    from archmodel.pim.spec import load_hardware

    settings = engine_settings(engine, scheduler)
    axes = parse_grid(grid)
    base = _wrap(load_hardware, hardware)
    keys = [k for k, _ in axes]
    combos = [dict(zip(keys, vals)) for vals in itertools.product(*(v for _, v in axes))]
    chunks = [combos[s:s + chunk] for s in range(0, len(combos), chunk)]
    if isinstance(network, str) and os.path.isfile(network):
        network = os.path.abspath(network)  # workers may run in another folder
    quiet = bool(ctx.obj.get("quiet")) if isinstance(ctx.obj, dict) else False
    rows: list[list[Any]] = []
    try:
        with ProgressBar("pim sweep", total=len(combos), enabled=not quiet) as bar, \
                contextlib.closing(map_chunks(sweep_rows, chunks, kwargs={"network": network, "base": base,
                                                                          "backend": backend},
                                              name="pim-sweep", **settings)) as results:
            for part_rows in results:
                rows.extend(part_rows)
                bar.update(len(part_rows))
    except (ArchModelError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(keys + list(_CSV_FIELDS))
    writer.writerows(rows)
    if output is None:
        sys.stdout.write(buf.getvalue())
    else:
        with atomic_write(output, "w", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
        click.echo(f"wrote {len(rows)} configurations to {output}", err=True)
