"""``archmodel explain``: good and bad motifs (WL-kernel GP) and single-edit suggestions."""
from __future__ import annotations

import click

from archmodel.cli.options import emit_json, json_option
from archmodel.cli.predict import _data_options


@click.command("explain")
@_data_options
@click.option("--train-size", type=float, default=50, show_default=True,
              help="Training cells for the WL-GP: a count (>= 1) or a fraction of the data set.")
@click.option("--h-max", type=click.IntRange(min=0), default=3, show_default=True,
              help="Largest WL depth tried (chosen by marginal likelihood).")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True, help="Motifs listed per side.")
@click.option("--min-frequency", type=click.FloatRange(0, 1, min_open=True), default=0.05, show_default=True,
              help="Only motifs present in at least this fraction of the training cells are ranked.")
@click.option("--edits", "edit_arch", default=None,
              help="Also rank every single-decision edit of this architecture by predicted gain.")
@click.option("--model", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A saved predictor (.npz) for --edits (default: the fitted WL-GP).")
@click.option("--plot", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Draw the motifs' gradients to this image (needs matplotlib: archmodel[plot]).")
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
def explain(data, target, space, arch_column, train_size, h_max, top, min_frequency, edit_arch, model,
            plot, seed, as_json):
    """Fit a WL-kernel GP on a few cells of --data and print the good and bad motifs.

    Motifs are WL features (an operation with its ancestry, e.g. nor_conv_3x3(in0)); their
    importance is the mean gradient of the GP's posterior mean with respect to their count. The
    held-out check compares the mean --target of unseen cells that contain a good motif with
    those that contain a bad one.
    """
    import numpy as np

    from archmodel.data import train_test_split
    from archmodel.explain import WLGaussianProcess, motif_holdout_check, motif_importance, suggest_edits
    from archmodel.metrics import kendall_tau
    from archmodel.workflows import resolve_dataset

    ds = resolve_dataset(data, space=space, arch_column=arch_column, target=target)
    ds.target(target)
    n = int(train_size) if train_size >= 1 else train_size
    train, test = train_test_split(ds, train_size=n, rng=np.random.default_rng(seed))
    gp = WLGaussianProcess(ds.space, h_max=h_max).fit(train.archs, train.target(target))
    y_test = test.target(target)
    tau = kendall_tau(y_test, gp.predict(test.archs))
    good, bad = motif_importance(gp, train.archs, min_frequency=min_frequency, top=top)
    check = motif_holdout_check(ds.search_space, good, bad, test.archs, y_test, gp.h_)
    out = {"n_train": len(train), "n_test": len(test), "h": gp.h_, "kendall_tau": tau,
           "log_marginal_likelihood": gp.log_marginal_likelihood_,
           "good_motifs": [m.to_dict() for m in good], "bad_motifs": [m.to_dict() for m in bad],
           "holdout": check}
    if edit_arch is not None:
        from archmodel.predictors import load_predictor

        pred = load_predictor(model) if model is not None else gp
        out["edits"] = suggest_edits(pred, edit_arch, space=ds.space)[:top]
    if plot is not None:
        _plot(plot, good, bad)
    if as_json:
        emit_json(out)
        return
    click.echo(f"WL-GP on {len(train)} cells: h = {gp.h_}, Kendall tau on {len(test)} held-out cells {tau:.4f}")
    for title, ms in (("good motifs", good), ("bad motifs", bad)):
        click.echo(f"{title}:")
        for m in ms:
            pm = check["per_motif"][m.label]
            click.echo(f"  {m.gradient:+8.3f}  in {m.frequency:5.1%} of training cells, held-out mean "
                       f"{pm['mean']:.3f} ({pm['n']} cells)  {m.label}")
    click.echo(f"held-out mean {target}: with a good motif {check['good_mean']:.3f} ({check['n_good']} cells), "
               f"with a bad motif {check['bad_mean']:.3f} ({check['n_bad']}), all {check['all_mean']:.3f}")
    for e in out.get("edits", []):
        click.echo(f"  edit {e['where']}: {e['from']} -> {e['to']}  predicted gain {e['predicted_gain']:+.4f}  {e['arch']}")


def _plot(path: str, good, bad) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise click.ClickException("--plot needs matplotlib: pip install 'archmodel[plot]'") from None
    ms = list(good) + list(reversed(bad))
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(ms) + 1.2))
    ax.barh(range(len(ms)), [m.gradient for m in ms], color=["tab:green"] * len(good) + ["tab:red"] * len(bad))
    ax.set_yticks(range(len(ms)), [m.label for m in ms], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("mean gradient of the GP posterior mean w.r.t. the motif's count")
    fig.tight_layout()
    from archmodel.io import atomic_write
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=path.rsplit(".", 1)[-1] if "." in path else "png", dpi=120)
    plt.close(fig)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())
