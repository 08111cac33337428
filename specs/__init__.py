"""Declarative JSON specs shipped with archmodel (installed as ``archmodel.specs``).

Folders: ``spaces/`` (search spaces), ``pim/`` (PIM hardware presets), ``formats/`` (file
formats), ``onnx/`` (ONNX I/O contracts). Read them with :func:`load_spec`.
"""
from __future__ import annotations

import json
from importlib import resources
from typing import Any


def spec_names(folder: str) -> list[str]:
    """Names (file stems) of the JSON specs in ``folder``."""
    base = resources.files(__name__).joinpath(folder)
    if not base.is_dir():
        return []
    return sorted(p.name[:-5] for p in base.iterdir() if p.name.endswith(".json"))


def load_spec(folder: str, name: str) -> dict[str, Any]:
    """Load ``<folder>/<name>.json`` from the shipped specs.

    Raises
    ------
    archmodel.errors.ParameterError
        If no such spec exists (the message lists the available names).
    """
    from archmodel.errors import ParameterError

    path = resources.files(__name__).joinpath(folder, f"{name}.json")
    if not path.is_file():
        raise ParameterError(
            f"Unknown {folder} spec {name!r}: available are {spec_names(folder)}."
        )
    return json.loads(path.read_text(encoding="utf-8"))
