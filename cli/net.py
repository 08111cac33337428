"""``archmodel net``: train NB201 networks stand-alone with the conv engine."""
from __future__ import annotations

import time

import click

from archmodel.cli.options import emit_json, json_option


@click.group()
def net() -> None:
    """Build and train networks of a search space."""


@net.command()
@click.option("--space", type=click.Choice(["nb201"]), default="nb201", show_default=True)
@click.option("--arch", required=True,
              help="Architecture: an NB201 arch string '|op~0|+|...|' or NASLib tuple '(2, 2, 0, 2, 2, 2)'.")
@click.option("--data", type=click.Choice(["digits"]), default="digits", show_default=True,
              help="Training data (scikit-learn digits with the fixed train/val/test split).")
@click.option("--input-size", type=click.IntRange(min=4), default=16, show_default=True,
              help="Images are resized to this size (3 channels).")
@click.option("--channels", "C", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--cells-per-stage", "N", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Initialisation and shuffling seed.")
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default=None)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Save the trained network (.npz).")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@json_option
def train(space: str, arch: str, data: str, input_size: int, C: int, N: int, epochs: int,
          batch_size: int, lr: float, seed: int, backend: str | None, output: str | None,
          quiet: bool, as_json: bool) -> None:
    """Train one architecture from scratch and report its accuracy.

    With --json: {"test_accuracy", "val_accuracy", "train_seconds", "params"} on stdout.
    """
    from archmodel.errors import ArchModelError

    try:
        result = train_arch(arch, data=data, input_size=input_size, C=C, N=N, epochs=epochs,
                            batch_size=batch_size, lr=lr, seed=seed, backend=backend,
                            output=output, progress=not quiet)
    except ArchModelError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        emit_json(result)
    else:
        click.echo(f"test accuracy {result['test_accuracy']:.4f}  val accuracy "
                   f"{result['val_accuracy']:.4f}  params {result['params']}  "
                   f"({result['train_seconds']:.1f} s)")


def train_arch(arch: str, *, data: str = "digits", input_size: int = 16, C: int = 8, N: int = 1,
               epochs: int = 10, batch_size: int = 64, lr: float = 0.1, seed: int = 0,
               backend: str | None = None, output: str | None = None,
               progress: bool = False) -> dict:
    """Train ``arch`` on ``data``; returns the --json document."""
    from archmodel.conv import StderrProgress, build_nb201_network, evaluate
    from archmodel.conv import train as train_loop
    from archmodel.datasets.images import load_digits
    from archmodel.zeroshot import resolve_ops

    ops = resolve_ops(arch)
    ds = load_digits(size=input_size, channels=3,
                     interpolation="nearest" if input_size == 8 else "bilinear")
    network = build_nb201_network(ops, C=C, N=N, num_classes=10, in_channels=3,
                                  input_size=input_size, rng=seed, backend=backend)
    t0 = time.perf_counter()
    train_loop(network, ds.X_train, ds.y_train, epochs=epochs, batch_size=batch_size, lr=lr,
               rng=seed + 1, X_val=ds.X_val, y_val=ds.y_val,
               callback=StderrProgress() if progress else None)
    seconds = time.perf_counter() - t0
    _, val_acc = evaluate(network, ds.X_val, ds.y_val)
    _, test_acc = evaluate(network, ds.X_test, ds.y_test)
    result = {"test_accuracy": float(test_acc), "val_accuracy": float(val_acc),
              "train_seconds": float(seconds), "params": int(network.num_parameters())}
    if output is not None:
        network.save(output, metadata={"arch": arch, "data": data, "epochs": epochs, "seed": seed,
                                       **result})
    return result
