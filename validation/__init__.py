"""Claims versus numbers: exact expectations, counterexample search, FoE bound checks, reports.

Also home of the ``isgd`` command (:mod:`validation.cli`), the top of the stack.
"""
