"""``archmodel train``, ``score`` and ``evaluate``: predictors from the shell."""
from __future__ import annotations

import click

from archmodel.cli.options import (ProgressBar, emit_json, engine_options, engine_settings, json_option,
                                   read_arch_inputs)

REPORT_ORDER = ["kendall_tau", "spearman", "pearson", "precision_at_top5pct", "precision_at_bottom5pct",
                "n_at_5", "n_at_10", "br_at_5", "wr_at_5", "train_seconds", "score_seconds", "n_train", "n_test"]


def _data_options(f):
    f = click.option("--arch-column", default=None, help="Architecture column of a CSV/JSONL --data file.")(f)
    f = click.option("--space", default=None, help="Search space of a CSV/JSONL --data file (e.g. nb201).")(f)
    f = click.option("--target", required=True, help="Metric to predict (higher = better).")(f)
    f = click.option("--data", required=True, help="Data set name (see 'archmodel data list') or a CSV/JSONL file.")(f)
    return f


def _print_report(report: dict) -> None:
    keys = [k for k in REPORT_ORDER if k in report] + [k for k in report if k not in REPORT_ORDER]
    for k in keys:
        v = report[k]
        click.echo(f"{k:>24}: {v:.4f}" if isinstance(v, float) else f"{k:>24}: {v}")


@click.command("train")
@_data_options
@click.option("--train-size", type=float, default=0.01, show_default=True,
              help="Fraction (<1) or count (>=1) of architectures used for training.")
@click.option("--encoder", type=click.Choice(["gates", "tagates", "mlp", "lstm", "gcn"]), default="gates",
              show_default=True)
@click.option("--symmetry-breaking", type=click.Choice(["none", "noise"]), default=None,
              help="TA-GATES only: symmetry breaking of the initial edge embeddings (default none).")
@click.option("--time-steps", type=click.IntRange(min=1), default=None,
              help="TA-GATES only: forward/backward rounds (default 4).")
@click.option("--ensemble", type=click.Choice(["dele"]), default=None,
              help="DELE: one --encoder (gates|tagates) expert per --low-fidelity signal, pretrained on it, "
                   "weighed per architecture by a gate, fine-tuned on the training cells.")
@click.option("--low-fidelity", default=None,
              help="DELE: comma-separated signals (computed: params, macs, flops; NASLib file: file:NAME or "
                   "a proxy name such as synflow) [default: params,synflow,jacob_cov,nwot,snip,grad_norm].")
@click.option("--gate", type=click.Choice(["learned", "uniform"]), default=None,
              help="DELE: the learned gate or uniform weights [default: learned].")
@click.option("--pretrain-epochs", type=click.IntRange(min=0), default=None,
              help="DELE: epochs of each expert's pretraining on its signal [default: 200].")
@click.option("--loss", type=click.Choice(["hinge", "logistic", "listmle", "mse"]), default="hinge", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=512, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--backend", type=click.Choice(["numpy", "numba"]), default=None, help="Kernel backend (default: numba if installed).")
@click.option("--dedup", type=click.Choice(["structural", "unique"]), default=None,
              help="Keep one cell per canonical class before splitting.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Save the trained predictor here (.npz).")
@json_option
@click.pass_context
def train(ctx, data, target, space, arch_column, train_size, encoder, symmetry_breaking, time_steps, ensemble,
          low_fidelity, gate, pretrain_epochs, loss, epochs, batch_size, lr, backend, dedup, seed, output, as_json):
    """Train a predictor on part of a data set and evaluate it on all the rest."""
    from archmodel.workflows import resolve_dataset, train_and_evaluate

    extra = {}
    for flag, name, value in (("--symmetry-breaking", "symmetry_breaking", symmetry_breaking),
                              ("--time-steps", "time_steps", time_steps)):
        if value is not None:
            if encoder != "tagates":
                raise click.UsageError(f"{flag} goes with --encoder tagates")
            extra[name] = value
    dele = {name: value for name, value in (("low_fidelity", low_fidelity), ("gate", gate),
                                            ("pretrain_epochs", pretrain_epochs)) if value is not None}
    if dele and not ensemble:   # the DELEPredictor defaults apply to what is not given
        raise click.UsageError(f"--{next(iter(dele)).replace('_', '-')} goes with --ensemble dele")
    if ensemble:
        if encoder not in ("gates", "tagates"):
            raise click.UsageError("--ensemble dele takes --encoder gates or tagates (the experts' encoder)")
        if "low_fidelity" in dele:
            dele["low_fidelity"] = [t.strip() for t in low_fidelity.split(",") if t.strip()]
        extra = {**dele, "expert": encoder, "expert_params": extra}
        encoder = ensemble

    ds = resolve_dataset(data, space=space, arch_column=arch_column, target=target)
    if train_size >= 1:
        if train_size != int(train_size):
            raise click.BadParameter("a count must be an integer", param_hint="--train-size")
        train_size = int(train_size)
    quiet = (ctx.obj or {}).get("quiet", False)
    with ProgressBar(f"training {encoder}", total=epochs, enabled=not quiet) as bar:
        predictor, report = train_and_evaluate(
            ds, target, train_size=train_size, encoder=encoder, seed=seed, dedup=dedup,
            progress=lambda epoch, loss_value: bar.update(1), loss=loss, epochs=epochs,
            batch_size=batch_size, lr=lr, backend=backend, **extra)
    if output:
        predictor.save(output)
        report["output"] = output
    if as_json:
        emit_json(report)
    else:
        _print_report(report)


@click.command("score")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("archs", nargs=-1)
@click.option("--input", "input_file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="File with one architecture per line ('-' = stdin).")
@click.option("--onnx", "use_onnx", is_flag=True, help="MODEL is an .onnx file; score with onnxruntime.")
@click.option("--batch-size", type=click.IntRange(min=1), default=4096, show_default=True,
              help="Architectures per task and per model call (the same batch size gives the same scores "
                   "on either engine; another one may change the last bit).")
@engine_options
@json_option
@click.pass_context
def score(ctx, model, archs, input_file, use_onnx, batch_size, engine, scheduler, as_json):
    """Print one score per architecture (higher = predicted better), in input order.

    With --engine dask the batches are scored on a Dask cluster (the workers read MODEL at the
    same path); the scores are the same as with the local engine.
    """
    from archmodel.distributed import cached_predictor, score_archs
    from archmodel.spaces import get_space

    settings = engine_settings(engine, scheduler)
    if use_onnx and not model.endswith(".onnx"):
        raise click.ClickException(f"--onnx: {model} must be named *.onnx (the loader is chosen by the file name)")
    items = read_arch_inputs(archs, input_file)
    predictor = cached_predictor(model, intra_op_num_threads=None)  # the local engine reuses it
    sp = get_space(predictor.space_)
    parsed = []
    for i, text in enumerate(items, start=1):
        try:
            parsed.append(sp.parse(text))
        except ValueError as exc:
            raise click.ClickException(f"architecture {i} ({text[:60]!r}): {exc}") from None
    quiet = (ctx.obj or {}).get("quiet", False)
    with ProgressBar("scoring", total=len(parsed), enabled=engine == "dask" and not quiet) as bar:
        scores = score_archs(model, parsed, space=sp.name, batch_size=batch_size, progress=bar.update, **settings)
    if as_json:
        emit_json([float(s) for s in scores])
    else:
        for s in scores:
            click.echo(f"{float(s):.6g}")


@click.command("evaluate")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@_data_options
@json_option
def evaluate(model, data, target, space, arch_column, as_json):
    """Ranking report of a saved predictor on every architecture of a data set."""
    from archmodel.predictors import load_predictor
    from archmodel.workflows import evaluate_predictor, resolve_dataset

    predictor = load_predictor(model)
    ds = resolve_dataset(data, space=space, arch_column=arch_column, target=target)
    report = evaluate_predictor(predictor, ds, target)
    if as_json:
        emit_json(report)
    else:
        _print_report(report)
