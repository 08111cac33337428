"""``archmodel search``: predictor-based and baseline search against a benchmark table."""
from __future__ import annotations

import click

from archmodel.cli.options import ProgressBar, emit_json, json_option
from archmodel.cli.predict import _data_options

PREDICTORS = ["gates", "tagates", "mlp", "lstm", "gcn", "wlgp", "none"]
BASELINES = ["random", "evolution", "local", "bananas"]


@click.command("search")
@_data_options
@click.option("--budget", type=click.IntRange(min=1), default=150, show_default=True,
              help="Oracle queries (distinct architectures, failed ones included).")
@click.option("--predictor", type=click.Choice(PREDICTORS), default="gates", show_default=True,
              help="Predictor guiding the search; 'none' for the baselines of --algorithm.")
@click.option("--algorithm", type=click.Choice(BASELINES), default=None,
              help="Baseline search with --predictor none (default: random).")
@click.option("--n-init", type=click.IntRange(min=2), default=10, show_default=True,
              help="Random architectures queried before the first fit (model-based loops).")
@click.option("--batch", type=click.IntRange(min=1), default=10, show_default=True,
              help="Top predictions queried per refit (model-based loops).")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), default=None,
              help="JSON Lines query log; re-running with the same log resumes without re-querying.")
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@click.pass_context
def search(ctx, data, target, space, arch_column, budget, predictor, algorithm, n_init, batch, log_path,
           seed, as_json):
    """Search the space of --data for the architecture with the best --target.

    The benchmark table is the oracle: every query is counted, the best value found after each
    query is the trajectory. --json prints {"best_found", "queries", "trajectory", ...}.
    """
    from archmodel.search import TableOracle, run_search
    from archmodel.spaces import get_space
    from archmodel.workflows import resolve_dataset

    if predictor != "none" and algorithm is not None:
        raise click.UsageError(f"--algorithm {algorithm} is a baseline: use it with --predictor none")
    ds = resolve_dataset(data, space=space, arch_column=arch_column, target=target)
    oracle = TableOracle(ds, target)
    if predictor == "none":
        algo = algorithm or "random"
        options = {"n_init": n_init, "batch": batch} if algo == "bananas" else {}
    else:
        algo = "predictor"
        options = {"predictor": predictor, "n_init": n_init, "batch": batch}
        if predictor == "wlgp":
            options["acquisition"] = "ei"
    quiet = (ctx.obj or {}).get("quiet", False)
    with ProgressBar(f"search ({algo})", total=budget, enabled=not quiet) as bar:
        res = run_search(oracle, budget, algorithm=algo, seed=seed, log_path=log_path,
                         progress=lambda q: bar.update(1), **options)
    sp = get_space(oracle.space)
    out = res.to_json(sp)
    out["best_possible"] = oracle.best_possible
    if as_json:
        emit_json(out)
        return
    click.echo(f"best found: {res.best_value} ({out['best_arch']}) after {res.queries} queries "
               f"({res.oracle_calls} oracle calls, {res.failed} failed); best in the table: {oracle.best_possible}")
    for n in (10, 50, 100, 150, 300, 1000):
        if n <= len(res.trajectory):
            click.echo(f"  best after {n:>4} queries: {res.best_after(n)}")
