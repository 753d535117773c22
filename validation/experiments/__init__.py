"""FoE experiments on top of :mod:`bilevel`: bound check on real runs, paper figures, main job, benchmarks."""
