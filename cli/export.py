"""``archmodel export``: write a saved predictor as an ONNX model."""
from __future__ import annotations

import click

from archmodel.cli.options import emit_json, json_option
from archmodel.export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET


@click.command("export")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Output .onnx file (written atomically).")
@click.option("--opset", type=click.IntRange(MIN_OPSET, MAX_OPSET), default=DEFAULT_OPSET, show_default=True,
              help="ONNX default-domain opset (17 is written with IR version 8; verified on "
                   "onnxruntime 1.15.1-1.32.0, which before 1.19 needs numpy<2).")
@click.option("--compute-dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True,
              help="Precision of the graph's arithmetic (weights and scores stay float32). float64 "
                   "rounds only the final score: rankings equal the float64 NumPy reference "
                   "exactly, at about twice the scoring time.")
@click.option("--no-verify", is_flag=True,
              help="Skip the onnxruntime vs NumPy check on a probe sample.")
@json_option
def export(model, output, opset, compute_dtype, no_verify, as_json):
    """Export the predictor saved in MODEL (.npz) to an ONNX file.

    The model takes the arrays described by the search space's contract
    (specs/onnx/<space>.json, shipped as archmodel.specs) with a dynamic batch dimension and
    returns one float32 score per architecture. Score it with 'archmodel score --onnx'.
    """
    from archmodel.export import to_onnx
    from archmodel.predictors import load_predictor

    predictor = load_predictor(model)
    onnx_model = to_onnx(predictor, output, opset=opset, verify=not no_verify, compute_dtype=compute_dtype)
    meta = {p.key: p.value for p in onnx_model.metadata_props}
    report = {
        "output": output, "space": meta["space"], "predictor_class": meta["predictor_class"],
        "opset": int(meta["opset"]), "ir_version": int(onnx_model.ir_version),
        "contract_version": int(meta["contract_version"]), "source_dtype": meta["source_dtype"],
        "compute_dtype": meta["compute_dtype"],
        "cast_max_rel_score_error": float(meta["cast_max_rel_score_error"]),
    }
    if "verify_max_rel_error" in meta:
        report["verify_max_rel_error"] = float(meta["verify_max_rel_error"])
    if as_json:
        emit_json(report)
    else:
        click.echo(f"wrote {output}: {report['predictor_class']} for {report['space']}, opset "
                   f"{report['opset']}, IR version {report['ir_version']}, contract v{report['contract_version']}, "
                   f"{report['compute_dtype']} arithmetic")
        if "verify_max_rel_error" in report:
            click.echo(f"onnxruntime vs NumPy reference (probe sample): max relative error "
                       f"{report['verify_max_rel_error']:.3g}")
        if report["source_dtype"] != "float32":
            click.echo(f"cast {report['source_dtype']} -> float32: max relative score change "
                       f"{report['cast_max_rel_score_error']:.3g}")
