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


# ============================================================================ co-exploration
_TRACE_AT = (100, 300, 1000)


@pim.command("search")
@click.option("--space", "space", default="space-nb201", show_default=True,
              help="Joint network x hardware space: a shipped name (space-nb201) or a JSON spec file "
                   "(format archmodel.pim-space; docs/coexplore.md).")
@click.option("--objectives", default=None, metavar="NAME,NAME",
              help="Objectives (accuracy, edp, latency, energy, area); default: the space's.")
@click.option("--budget", type=click.IntRange(min=1), default=500, show_default=True,
              help="Simulator calls (distinct points evaluated). Ignored by --algorithm exhaustive.")
@click.option("--algorithm", type=click.Choice(["random", "nsga2", "gibbon", "exhaustive"]), default="gibbon",
              show_default=True, help="Search; 'exhaustive' evaluates every point (the true front).")
@click.option("--predictor", type=click.Choice(["mlp", "lstm"]), default="mlp", show_default=True,
              help="Gibbon's accuracy/cost predictor over the joint encoding.")
@click.option("--population", type=click.IntRange(min=2), default=20, show_default=True,
              help="Population of NSGA-II and Gibbon.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--true", "true_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A true-front file of the same space: adds hypervolume_fraction.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Front file to write (JSON, atomically).")
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default=None, help="Simulator kernels.")
@engine_options
@json_option
@click.pass_context
def search_cmd(ctx: click.Context, space: str, objectives: str | None, budget: int, algorithm: str, predictor: str,
               population: int, seed: int, true_path: str | None, output: str | None, backend: str | None,
               engine: str, scheduler: str | None, as_json: bool) -> None:
    """Co-explore NB201 cells and PIM hardware: random search, NSGA-II or Gibbon.

    Every distinct point evaluated is one simulator call (accuracy from the space's data set,
    latency/energy/area/EDP from the cost model). Prints the found front; --json prints one
    object with calls, hypervolume, hypervolume_fraction (with --true) and front.
    """
    from archmodel.coexplore.front import front_document, front_gains, read_front, true_front, write_front
    from archmodel.coexplore.pareto import hypervolume
    from archmodel.coexplore.space import load_space

    settings = engine_settings(engine, scheduler)
    sp = _wrap(load_space, space)
    if objectives:
        sp = _wrap(sp.with_objectives, objectives)
    quiet = bool(ctx.obj.get("quiet")) if isinstance(ctx.obj, dict) else False
    if algorithm == "exhaustive":
        with ProgressBar("pim front (cells)", total=sp.n_cells, enabled=not quiet) as bar:
            last = [0]

            def tick(done: int, total: int) -> None:
                bar.update(done - last[0])
                last[0] = done

            doc = _wrap(true_front, sp, progress=tick, backend=backend, **settings)
    else:
        if engine != "local":
            raise click.UsageError("--engine dask parallelises --algorithm exhaustive only (a search is sequential)")
        from archmodel.coexplore.search import hypervolume_trace, run_search

        opts: dict[str, Any] = {}
        if algorithm in ("nsga2", "gibbon"):
            opts["population"] = population
        if algorithm == "gibbon":
            opts["predictor"] = predictor
        with ProgressBar(f"pim search ({algorithm})", total=budget, enabled=not quiet) as bar:
            last = [0]

            def tick(ev: Any) -> None:
                bar.update(ev.calls - last[0])
                last[0] = ev.calls

            res = _wrap(run_search, sp, algorithm, budget, seed=seed, backend=backend, progress=tick, **opts)
        ev = res["evaluator"]
        at = sorted({c for c in _TRACE_AT if c < ev.calls} | {ev.calls})
        calls_at, hv_at = hypervolume_trace(ev, at)
        info: dict[str, Any] = {"algorithm": algorithm, "seed": seed, "budget": budget, "calls": ev.calls,
                                "seconds": res["seconds"], "simulate_seconds": res["simulate_seconds"],
                                "predictor_seconds": res["predictor_seconds"],
                                "trace": {"calls": calls_at.tolist(), "hypervolume": hv_at.tolist()}}
        if algorithm == "gibbon":
            info.update(predictor=predictor, priority={"genes": res["gene_names"],
                                                       "history": res["priority_history"]})
        doc = front_document(sp, ev.history, ev.values, **info)
    if true_path:
        true = _wrap(read_front, true_path)
        if true.get("space_sha256") != sp.sha256:
            raise click.ClickException(f"{true_path} is the front of another space or other objectives "
                                       f"(its space_sha256 differs from this search's)")
        doc = _with_fraction(doc, hypervolume(front_gains(sp, true)))
    if output:
        _wrap(write_front, output, doc)
        click.echo(f"wrote {len(doc['front'])} front points to {output}", err=True)
    _show_front(doc, as_json)


def _with_fraction(doc: dict[str, Any], true_hv: float) -> dict[str, Any]:
    """``doc`` with ``true_hypervolume`` and ``hypervolume_fraction`` (and the trace's fractions)."""
    doc = dict(doc, true_hypervolume=true_hv,
               hypervolume_fraction=doc["hypervolume"] / true_hv if true_hv > 0 else None)
    if "trace" in doc and true_hv > 0:
        doc["trace"] = dict(doc["trace"], hypervolume_fraction=[h / true_hv for h in doc["trace"]["hypervolume"]])
    return doc


def _show_front(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(doc)
    else:
        _print_front(doc)


def _print_front(doc: dict[str, Any]) -> None:
    head = f"{doc.get('algorithm', '?')} on {doc['space']}: {doc['calls']} simulator calls, " \
           f"hypervolume {doc['hypervolume']:.4f}"
    if doc.get("hypervolume_fraction") is not None:
        head += f" ({100 * doc['hypervolume_fraction']:.1f} % of the true front's)"
    click.echo(head)
    if "seconds" in doc:
        click.echo(f"  {doc['seconds']:.1f} s ({doc.get('simulate_seconds', 0):.1f} s simulating"
                   + (f", {doc['predictor_seconds']:.1f} s in the predictor" if doc.get("predictor_seconds") else "")
                   + ")")
    objs = doc["objectives"]
    click.echo(f"  {len(doc['front'])} non-dominated points:")
    click.echo("  " + " ".join(f"{o:>12}" for o in objs) + "  cell / hardware")
    for p in doc["front"]:
        hw = ",".join(f"{k}={v}" for k, v in p["hardware"].items())
        click.echo("  " + " ".join(f"{p[o]:>12.5g}" for o in objs) + f"  {p['cell']} {hw}")


@pim.command("front")
@click.argument("front_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--true", "true_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The true front of the same space: adds hypervolume_fraction and draws it.")
@click.option("--plot", "plot", type=click.Path(dir_okay=False), default=None,
              help="Draw the front(s) to this image (needs matplotlib: pip install 'archmodel[plot]').")
@json_option
def front_cmd(front_file: str, true_path: str | None, plot: str | None, as_json: bool) -> None:
    """Show a front file written by 'archmodel pim search --output'."""
    from archmodel.coexplore.front import read_front

    doc = _wrap(read_front, front_file)
    true = _wrap(read_front, true_path) if true_path else None
    if true is not None:
        if true.get("space_sha256") != doc.get("space_sha256"):
            raise click.ClickException(f"{true_path} and {front_file} are fronts of different spaces or objectives "
                                       f"(space_sha256 differs)")
        doc = _with_fraction(doc, float(true["hypervolume"]))
    if plot:
        _plot_fronts(doc, true, plot)
        click.echo(f"wrote {plot}", err=True)
    _show_front(doc, as_json)


def _plot_fronts(doc: dict[str, Any], true: dict[str, Any] | None, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise click.ClickException("--plot needs matplotlib: pip install 'archmodel[plot]'") from None
    from archmodel.io import atomic_write

    x, y = doc["objectives"][:2]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for d, style, label in ((true, dict(color="0.6", lw=2.5), "true front"),
                            (doc, dict(color="C0", marker="o", ms=4, lw=1), doc.get("algorithm", "found"))):
        if d is None or not d["front"]:
            continue
        pts = sorted(((p[x], p[y]) for p in d["front"]))
        # the attainment boundary: between two front points the better one's value holds
        where = "pre" if (x == "accuracy") != (y == "accuracy") else "post"
        ax.step([p[0] for p in pts], [p[1] for p in pts], where=where, label=label, **style)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if y != "accuracy":
        ax.set_yscale("log")
    if x != "accuracy":
        ax.set_xscale("log")
    ax.set_title(f"{doc['space']}: {doc.get('calls')} calls, HV {doc['hypervolume']:.3g}"
                 + (f" ({100 * doc['hypervolume_fraction']:.1f} %)" if doc.get("hypervolume_fraction") else ""))
    ax.legend()
    fig.tight_layout()
    suffix = path.rsplit(".", 1)[-1] if "." in path else "png"
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=suffix)
    plt.close(fig)
