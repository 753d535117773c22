"""``isgd bench``: lists the benchmark scripts, forwards arguments, rejects unknown names."""
from __future__ import annotations

import json

from validation.experiments.bench import available_benchmarks
from validation.cli import main


def test_lists_every_benchmark_script(capsys):
    found = available_benchmarks()
    assert {"core", "cost", "quality", "throughput", "scaling", "end_to_end"} <= set(found)
    assert all(summary for _, summary in found.values())
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(line.split()[0] in found for line in out.splitlines() if line.strip())


def test_forwards_arguments_and_returns_the_scripts_status(tmp_path):
    out = tmp_path / "s.json"
    assert main(["bench", "scaling", "--ms", "2", "4", "--sides", "16", "24", "--chunk", "2", "--repeats", "1",
                 "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["time_vs_m"]["m"] == [2, 4] and d["time_vs_pixels"]["side"] == [16, 24]
    assert main(["bench", "scaling", "--repeats", "not-a-number"]) == 2  # the script's own argparse error


def test_unknown_benchmark_is_a_clear_error(capsys):
    assert main(["bench", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in err and "isgd bench --list" in err
