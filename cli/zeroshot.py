"""``archmodel zeroshot``: zero-cost proxy scores of NB201 architectures into a resumable CSV."""
from __future__ import annotations

import click

from archmodel.cli.options import ProgressBar, engine_options, engine_settings, read_arch_inputs


@click.command()
@click.option("--space", "space", type=click.Choice(["nb201"]), default="nb201", show_default=True,
              help="Search space (networks can be built for nb201 only).")
@click.option("--proxies", default="params,flops,synflow", show_default=True,
              help="Comma-separated proxies: params, flops, synflow, grad_norm, snip, plain, grasp, "
                   "fisher, jacob_cov, nwot; or 'all'.")
@click.option("--input", "input_file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="File with one architecture per line ('-' = stdin).")
@click.argument("archs", nargs=-1)
@click.option("--channels", "C", type=click.IntRange(min=1), default=16, show_default=True,
              help="Channels of the first stage.")
@click.option("--cells-per-stage", "N", type=click.IntRange(min=0), default=5, show_default=True)
@click.option("--input-size", type=click.IntRange(min=4), default=32, show_default=True)
@click.option("--batch", type=click.IntRange(min=2), default=64, show_default=True,
              help="Images in the batch of the data-dependent proxies.")
@click.option("--data", type=click.Choice(["digits", "random"]), default="digits", show_default=True,
              help="Batch source: scikit-learn digits resized to the input size, or Gaussian noise.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Initialisation and batch seed (the same for every architecture).")
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default=None,
              help="Kernel backend (default: archmodel's configured one).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="CSV file; rerunning with the same file resumes (rows already there are kept).")
@click.option("--chunk", type=click.IntRange(min=1), default=1, show_default=True,
              help="Architectures per task (with --engine dask).")
@engine_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
def zeroshot(space: str, proxies: str, input_file: str | None, archs: tuple[str, ...], C: int,
             N: int, input_size: int, batch: int, data: str, seed: int, backend: str | None,
             output: str, chunk: int, engine: str, scheduler: str | None, quiet: bool) -> None:
    """Score architectures with zero-cost proxies, one CSV row per architecture.

    The output starts with a settings line (``# archmodel-zeroshot {...}``) and a header
    ``arch,<proxies>``; rows are appended and flushed as they are computed. A rerun with the
    same --output skips the architectures already scored and refuses a file written with
    different settings. With --engine dask the architectures are scored on a Dask cluster
    and the rows written here, in input order, as they arrive (the same rows as a local run).
    """
    from archmodel.distributed import zeroshot_file
    from archmodel.errors import ArchModelError

    settings = engine_settings(engine, scheduler)
    items = read_arch_inputs(archs, input_file)
    try:
        with ProgressBar("zeroshot", total=len(items), enabled=not quiet) as bar:
            zeroshot_file(items, output, proxies=proxies, C=C, N=N, input_size=input_size,
                          batch=batch, data=data, seed=seed, backend=backend, space=space,
                          progress=lambda done, total, arch: bar.update(1), chunk=chunk, **settings)
    except ArchModelError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {output}", err=True)
