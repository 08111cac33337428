"""The NumPy reference backend: the specification of every kernel.

Each kernel family is a module (``nn``, ``gates``, ``conv``, ...) of plain functions: arrays and
scalars in, arrays out. The Numba backend mirrors these names and signatures exactly.
"""
