"""The committed paper-scale evidence (``results/paper``) is whole, clean and redrawn from its own numbers.

``isgd figures --scale paper --draw-only`` on a copy of the committed folder must give the stored
verdicts again, every verdict must state its scale, seeds and intervals, the recorded commits must be
clean, and README's verdict table must be the one the stored verdicts give.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from validation.experiments import evidence
from validation.experiments import paper_results as pr
from validation.experiments.figures import FIGURE_KEYS, run_figures

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "results" / "paper"


def test_the_folder_holds_every_figure_and_clean_commits() -> None:
    assert (PAPER / "figures.md").exists(), "results/paper is missing: the paper-scale evidence is not committed"
    for key in FIGURE_KEYS:
        png = PAPER / "figures" / f"{pr.FIGURES[key].stem}.png"
        assert png.exists() and png.stat().st_size > 1000, png
    assert (PAPER / "bound" / "bound.json").exists()
    prov = evidence.provenance(PAPER)
    assert prov["commits"] and not prov["dirty"], prov["commits"]
    plan = pr.load_plan(PAPER)
    assert plan["scale"]["name"] == "paper"


def test_verdicts_state_scale_seeds_intervals_and_match_the_readme() -> None:
    stored = json.loads((PAPER / "verdicts.json").read_text())
    assert set(stored) == set(FIGURE_KEYS)
    for key, vs in stored.items():
        assert vs, key
        for v in vs:
            assert v["scale"] == "paper" and v["status"] in (pr.SUPPORTED, pr.NOT_SUPPORTED, pr.INCONCLUSIVE)
            if v["status"] != pr.INCONCLUSIVE:  # a decided verdict rests on seeds and an interval
                assert v["seeds"] and v["intervals"], (key, v["claim"])
    readme = (ROOT / "README.md").read_text()
    start = readme.index(evidence.README_BEGIN) + len(evidence.README_BEGIN) + 1
    table = readme[start:readme.index(evidence.README_END)]
    assert table == evidence.readme_table(PAPER, link="results/paper"), (
        "README's verdict table is not that of results/paper: run `isgd figures --out results/paper "
        "--readme-table --readme README.md`")


def test_draw_only_redraws_the_stored_verdicts(tmp_path: Path) -> None:
    copy = tmp_path / "paper"
    shutil.copytree(PAPER, copy)
    for png in (copy / "figures").glob("*.png"):
        png.unlink()
    res = run_figures(copy, "paper", draw_only=True)
    stored = json.loads((PAPER / "verdicts.json").read_text())
    again = {k: [(v.claim, v.status) for v in vs] for k, vs in res.verdicts.items()}
    assert again == {k: [(v["claim"], v["status"]) for v in vs] for k, vs in stored.items()}
    assert all((copy / "figures" / f"{pr.FIGURES[k].stem}.png").exists() for k in FIGURE_KEYS)
