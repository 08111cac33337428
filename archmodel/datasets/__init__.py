"""Image data sets for training networks locally (see :mod:`archmodel.datasets.images`)."""
