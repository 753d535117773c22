"""Benchmarks: one module per measurement (``bench_<name>.py``), each writing JSON/CSV.

Run one with ``isgd bench NAME [OPTIONS]`` (``isgd bench --list``), ``python -m benchmarks.bench_NAME``
or, from a source checkout, ``python benchmarks/bench_NAME.py``. Shared pieces (timing, measured
machine peaks, result files) are in :mod:`benchmarks.common`. Nothing here is imported by the
other packages; tests never assert timings.
"""
