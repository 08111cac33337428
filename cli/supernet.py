"""``archmodel supernet``: train a weight-sharing NB201 supernet and score architectures with it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from archmodel.cli.options import ProgressBar, emit_json, json_option, read_arch_inputs


@click.group()
def supernet() -> None:
    """One-shot estimation: a weight-sharing supernet over NB201 cells (conv engine)."""


def _digits(input_size: int):
    from archmodel.datasets.images import load_digits

    return load_digits(size=input_size, channels=3,
                       interpolation="nearest" if input_size == 8 else "bilinear")


@supernet.command("train")
@click.option("--kind", type=click.Choice(["vanilla", "closenet"]), default="vanilla", show_default=True,
              help="vanilla: every edge owns one parameter set per operation; closenet: "
                   "--blocks shared parameter blocks opened by a curriculum, a GATE assigns edges to them.")
@click.option("--blocks", "n_blocks", type=click.IntRange(min=1), default=4, show_default=True,
              help="closenet: parameter (GLOW) blocks per cell.")
@click.option("--gate", "gate_kind", type=click.Choice(["node", "arch"]), default="node", show_default=True,
              help="closenet: node-level GATE (an MLP on each edge's end-node states) or architecture-level.")
@click.option("--schedule", default=None, metavar="E1,E2,...",
              help="closenet: epochs at which blocks open (first 1; default evenly spaced over the budget).")
@click.option("--data", type=click.Choice(["digits"]), default="digits", show_default=True,
              help="scikit-learn digits, the micro-benchmark's fixed split.")
@click.option("--input-size", type=click.IntRange(min=4), default=8, show_default=True)
@click.option("--channels", "C", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--cells-per-stage", "N", type=click.IntRange(min=0), default=5, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=40, show_default=True,
              help="Budget (the cosine schedule spans it).")
@click.option("--until-epoch", type=click.IntRange(min=1), default=None,
              help="Stop after this epoch of the budget (rerun, with a later one or none, to continue): "
                   "the checkpoints of one schedule at several budgets.")
@click.option("--batch-size", type=click.IntRange(min=2), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.1, show_default=True)
@click.option("--sampler", type=click.Choice(["uniform", "unique"]), default="uniform",
              show_default=True, help="Per-step architecture: uniform ops, or uniform over NB201 isomorphism classes.")
@click.option("--seed", type=int, default=0, show_default=True, help="Initialisation, shuffling and sampling.")
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default=None)
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="Supernet file (.npz), rewritten after every epoch; an existing one is resumed.")
@json_option
@click.pass_context
def train_cmd(ctx: click.Context, kind: str, n_blocks: int, gate_kind: str, schedule: str | None, data: str, input_size: int, C: int, N: int,
              epochs: int, until_epoch: int | None, batch_size: int, lr: float, sampler: str, seed: int,
              backend: str | None, output: str, as_json: bool) -> None:
    """Train a supernet path by path; resumable (rerun the same command after a kill).

    The file keeps the weights, statistics, momentum, sampler state and history after every
    epoch; rerunning with the same settings continues from there and ends with the same
    weights as an uninterrupted run. With --json: {"epochs", "steps", "train_loss", "seconds",
    "output"}.
    """
    from archmodel.supernet import build_supernet
    from archmodel.supernet.train import SupernetTrainer, default_schedule

    ds = _digits(input_size)
    quiet = bool(ctx.obj.get("quiet")) if isinstance(ctx.obj, dict) else False
    if kind == "vanilla":
        if schedule is not None:
            raise click.UsageError("--schedule needs --kind closenet")
        n_blocks, sched = 6, None
    elif schedule is None:
        sched = default_schedule(n_blocks, epochs)
    else:
        try:
            sched = [int(e) for e in schedule.split(",")]
        except ValueError:
            raise click.BadParameter(f"expected comma-separated epochs; got {schedule!r}", param_hint="--schedule") from None
    settings = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "sampler": sampler, "schedule": sched}
    network = {"C": C, "N": N, "n_blocks": n_blocks, "num_classes": 10, "in_channels": 3,
               "input_size": input_size}
    meta = {"kind": kind, "data": data, "seed": seed, "gate": gate_kind if kind == "closenet" else None}
    if Path(output).exists():
        tr = SupernetTrainer.resume(output, ds.X_train, ds.y_train, backend=backend, expect=settings)
        cfg = {k: tr.net.config[k] for k in network}
        saved = {k: tr.metadata.get(k) for k in meta}
        if cfg != network or saved != meta:
            raise click.ClickException(f"{output} holds another supernet ({cfg}, {saved}); use "
                                       f"another --output or the saved settings")
        if not quiet and tr.epoch:
            click.echo(f"resuming {output} at epoch {tr.epoch} of {epochs}", err=True)
    else:
        net = build_supernet(rng=seed, backend=backend, **network)
        gate = None
        if kind == "closenet":
            from archmodel.supernet.gate import make_gate

            gate = make_gate(gate_kind, n_blocks=n_blocks, rng=seed + 2, backend=backend)
        tr = SupernetTrainer(net, ds.X_train, ds.y_train, rng=seed + 1, gate=gate, **settings)
    import time

    if until_epoch is not None and until_epoch > epochs:
        raise click.BadParameter(f"{until_epoch} is beyond the budget of {epochs} epochs", param_hint="--until-epoch")
    t0 = time.perf_counter()
    with ProgressBar("supernet train (steps)", total=tr.total_steps, enabled=not quiet) as bar:
        bar.update(tr.step)
        tr.run(max(until_epoch or epochs, tr.epoch), callback=lambda info: bar.update(1),
               checkpoint=output, metadata=meta)
    if not tr.history:   # resumed a finished run with nothing left: still a valid file
        tr.save(output, metadata=meta)
    doc = {"epochs": tr.epoch, "steps": tr.step, "train_loss": tr.history[-1]["train_loss"] if tr.history else None,
           "seconds": time.perf_counter() - t0, "output": output}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"supernet: {tr.epoch} epochs, {tr.step} steps, last train loss "
                   f"{doc['train_loss']:.4f} -> {output}")


@supernet.command("evaluate")
@click.argument("supernet_file", type=click.Path(exists=True, dir_okay=False))
@click.argument("archs", nargs=-1)
@click.option("--archs", "archs_file", type=click.Path(allow_dash=True), default=None,
              help="File with one NB201 arch string per line ('-' = stdin).")
@click.option("--against", default=None, metavar="micro|FILE",
              help="Score the micro-benchmark's cells and print ranking_report against their "
                   "mean stand-alone test accuracy ('micro': the checkout's table).")
@click.option("--score", type=click.Choice(["accuracy", "neg_loss"]), default="accuracy",
              show_default=True, help="One-shot score ranked by --against.")
@click.option("--assignment", type=click.Choice(["argmax", "sample"]), default="argmax", show_default=True,
              help="closenet: each edge's block by argmax of the GATE, or one Gumbel draw per architecture (as in training).")
@click.option("--calibration-batches", type=click.IntRange(min=0), default=4, show_default=True,
              help="Training batches (64 images) that recalibrate batch norm per candidate; 0: none.")
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default=None)
@json_option
@click.pass_context
def evaluate_cmd(ctx: click.Context, supernet_file: str, archs: tuple[str, ...], archs_file: str | None,
                 against: str | None, score: str, assignment: str, calibration_batches: int, backend: str | None,
                 as_json: bool) -> None:
    """One-shot accuracy and negative loss (validation split) of architectures.

    With --json: {"archs": [...], "accuracy": [...], "neg_loss": [...]}, plus the
    ranking_report keys (kendall_tau, precision_at_top5pct, ...) with --against.
    """
    from archmodel.supernet.evaluate import score_file

    truth = None
    if against is not None:
        from archmodel import microbench

        items, truth = microbench.mean_accuracy(None if against == "micro" else against)
        if archs or archs_file:
            raise click.UsageError("--against scores the micro-benchmark's cells; give no other architectures")
    else:
        items = read_arch_inputs(archs, archs_file)
    quiet = bool(ctx.obj.get("quiet")) if isinstance(ctx.obj, dict) else False
    with ProgressBar("supernet evaluate (archs)", total=len(items), enabled=not quiet) as bar:
        scores, header = score_file(supernet_file, items, n_calibration=calibration_batches,
                                    backend=backend, assignment=assignment,
                                    progress=lambda done, total: bar.update(1))
    doc: dict[str, Any] = {"archs": items, "accuracy": scores["accuracy"].tolist(),
                           "neg_loss": scores["neg_loss"].tolist(), "epoch": header["epoch"]}
    if truth is not None:
        from archmodel.metrics import ranking_report

        doc.update(ranking_report(truth, scores[score]))
        doc["score"] = score
    if as_json:
        emit_json(doc)
        return
    if truth is not None:
        keys = ("n", "kendall_tau", "spearman", "precision_at_top5pct", "precision_at_bottom5pct", "br_at_top5pct")
        click.echo(f"supernet {supernet_file} (epoch {header['epoch']}), one-shot {score} vs "
                   f"micro-benchmark mean test accuracy:")
        for k in keys:
            v = doc[k]
            click.echo(f"  {k:24s} {v:.4f}" if isinstance(v, float) else f"  {k:24s} {v}")
    else:
        for a, acc, nl in zip(items, doc["accuracy"], doc["neg_loss"]):
            click.echo(f"{acc:.4f}\t{nl:.4f}\t{a}")
