"""Benchmark data sets and loaders.

>>> from archmodel.data import list_datasets, load_dataset, train_test_split
>>> [d["name"] for d in list_datasets()][:2]
['nasbench-graph/arxiv', 'nasbench-graph/citeseer']

* :class:`Dataset`: architectures of one space with their metrics (read-only arrays), optional
  low-fidelity columns (zero-cost proxies) and provenance (:attr:`Dataset.info`).
* :func:`load_dataset` / :func:`list_datasets`: the registered benchmarks (``nb201-analog``,
  ``nb201-c10``, ``nasbench-graph/<dataset>``, ``zc/<space>``), found through ``path=``, the
  pip package that ships them (``pip install 'archmodel[bench]'``) or ``$ARCHMODEL_DATA_DIR``.
* :func:`load_table`: a user's own CSV / JSON Lines table.
* :func:`train_test_split`: random splits, optionally one architecture per isomorphism class.

Pickled benchmark files are read with a restricted unpickler (:mod:`archmodel.data.unpickle`),
never with ``pickle.load``.
"""
from __future__ import annotations

from archmodel.data.dataset import Dataset
from archmodel.data.loaders import (
    ENV_DATA_DIR,
    NASBENCH_GRAPH_DATASETS,
    clear_cache,
    data_dir,
    list_datasets,
    load_dataset,
    locate_dataset,
    register_dataset,
)
from archmodel.data.splits import split_indices, train_test_split
from archmodel.data.table import load_table

__all__ = [
    "Dataset",
    "ENV_DATA_DIR",
    "NASBENCH_GRAPH_DATASETS",
    "clear_cache",
    "data_dir",
    "list_datasets",
    "load_dataset",
    "load_table",
    "locate_dataset",
    "register_dataset",
    "split_indices",
    "train_test_split",
]
