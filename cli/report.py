"""``archmodel report``: several estimators on the same test cells, one table (and an HTML page)."""
from __future__ import annotations

import click

from archmodel.cli.options import emit_json, json_option
from archmodel.cli.predict import _data_options


@click.command("report")
@_data_options
@click.option("--estimators", required=True,
              help="Comma-separated: gates, mlp, lstm, gcn, wlgp (trained on --train-size), "
                   "zeroshot:NAME (a zero-cost proxy), oneshot:FILE or file:FILE (CSV arch,score).")
@click.option("--train-size", type=float, default=0.01, show_default=True,
              help="Training split of the trained estimators: a fraction or a count (>= 1).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--html", "html_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write one self-contained page with the table and the plots (needs archmodel[plot]).")
@json_option
def report(data, target, space, arch_column, estimators, train_size, seed, html_path, as_json):
    """Evaluate estimators of --target on the same held-out cells with every ranking criterion."""
    from archmodel.report import COLUMNS, report_table, score_estimators, write_html
    from archmodel.workflows import resolve_dataset

    ds = resolve_dataset(data, space=space, arch_column=arch_column, target=target)
    n = int(train_size) if train_size >= 1 else train_size
    names = [e.strip() for e in estimators.split(",") if e.strip()]
    results, info = score_estimators(ds, target, names, train_size=n, seed=seed)
    if html_path is not None:
        write_html(html_path, results, info)
    rows = report_table(results)
    if as_json:
        emit_json({"data": ds.name, "target": target, "n_train": info["n_train"], "n_test": info["n_test"],
                   "seed": seed, "estimators": rows})
        return
    click.echo(f"{ds.name}, target {target}: {info['n_train']} training cells, {info['n_test']} common test cells")
    short = {"kendall_tau": "tau", "spearman": "rho", "pearson": "r", "precision_at_top5pct": "P@top5%",
             "precision_at_bottom5pct": "P@bot5%", "n_at_5": "N@5", "n_at_10": "N@10",
             "br_at_top5pct_frac": "BR@5%", "wr_at_top5pct_frac": "WR@5%"}
    click.echo(f"{'estimator':<22}" + "".join(f"{short[c]:>9}" for c in COLUMNS))
    for row in rows:
        click.echo(f"{row['estimator']:<22}" + "".join(
            f"{row[c]:>9.4f}" if isinstance(row[c], float) else f"{row[c]:>9}" for c in COLUMNS))
