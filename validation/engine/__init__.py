"""The torch-free verification engine: claims against exact numbers (see :mod:`validation`).

Depends on :mod:`theory` (and numpy, scipy, sympy, matplotlib) only: ``import validation.engine.*``
works without torch (tested).
"""
