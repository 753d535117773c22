"""One module per figure of the paper (see ``README.md`` in this folder).

Each module offers ``draw(results_dir, out_dir) -> list[Path]`` and ``main(argv)``; it only reads
stored results written by ``isgd figures`` and never trains. Run one with
``python -m paper_figures.fig1_isgd_steps RESULTS_DIR`` (or, from a source checkout,
``python paper_figures/fig1_isgd_steps.py RESULTS_DIR``).
"""
