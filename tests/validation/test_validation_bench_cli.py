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
    out = tmp_path / "e.json"
    assert main(["bench", "end_to_end", "--data", "embedded", "--count", "32", "--crop", "16", "--test-count", "1",
                 "--budget", "20", "--chunk-size", "4", "--methods", "isgd", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["m"] == 32 and d["budget"] == 20 and set(d["results"]) == {"isgd"}
    assert d["results"]["isgd"]["config"]["crop"] == 16
    assert main(["bench", "end_to_end", "--budget", "not-a-number"]) == 2  # the script's own argparse error


def test_unknown_benchmark_is_a_clear_error(capsys):
    assert main(["bench", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in err and "isgd bench --list" in err
