"""Bad input gets one line, exit status 2, no traceback, nothing left behind and no earlier result lost.

Each case of README's bad-input table is held here (the messages quoted there are matched).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

from bilevel.train import TrainConfig, check_option, config_from_args
from validation.cli import build_parser, main

TINY = ["--crop", "24", "--train-count", "4", "--test-count", "1", "--batch-size", "2", "--budget", "150",
        "--eval-every", "150", "--checkpoint-every", "2", "--no-progress"]


def _snapshot(root: Path) -> dict[str, str]:
    """Every file below ``root`` with the SHA-256 of its content (nothing lost, nothing changed)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _fails(argv: list[str], capsys, *fragments: str) -> str:
    """Run ``isgd ARGV``: exit status 2, one error line naming every fragment, no traceback."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stored") / "run"
    assert main(["-q", "train", *TINY, "--out", str(out)]) == 0
    return out


def test_false_as_a_json_string_is_not_true(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"per_expert_smoothing": "false"}))
    out = tmp_path / "run"
    _fails(["-q", "train", "--config", str(cfg), "--out", str(out)], capsys,
           "option per_expert_smoothing (--per-expert-smoothing) must be true or false", "without quotes")
    assert not out.exists()
    with pytest.raises(ValueError, match="must be true or false"):
        TrainConfig(per_expert_smoothing="false")
    assert TrainConfig(per_expert_smoothing=False).per_expert_smoothing is False


@pytest.mark.parametrize("content,fragment", [
    ([1, 2], "must hold a JSON object of options (name: value), got a list ([1, 2])"),
    ("{not json", "is not valid JSON"),
    ({"budget": "20000"}, "option budget (--budget) must be an integer"),
    ({"alpha0": None}, "option alpha0 (--alpha0) needs a value"),
    ({"budget": 2.5}, "must be an integer (e.g. 20000 or 2e4), got 2.5"),
    ({"learning_rate": 1.0}, "unknown config keys ['learning_rate']"),
])
def test_config_values_are_checked_by_type(tmp_path, capsys, content, fragment):
    cfg = tmp_path / "c.json"
    cfg.write_text(content if isinstance(content, str) else json.dumps(content))
    out = tmp_path / "run"
    _fails(["-q", "train", "--config", str(cfg), "--out", str(out)], capsys, fragment)
    assert not out.exists()


def test_integral_numbers_are_integers():
    args = build_parser().parse_args(["train", "--budget", "1e4", "--max-iterations", "2e1", "--alpha0", "1"])
    cfg = config_from_args(args)
    assert cfg.budget == 10000 and isinstance(cfg.budget, int)
    assert cfg.max_iterations == 20 and isinstance(cfg.alpha0, float)
    assert TrainConfig.from_dict({"budget": 1e4}).budget == 10000
    assert check_option("seed", 3.0, int) == 3
    for bad in (True, "3", 3.5, float("nan")):
        with pytest.raises(ValueError, match="seed"):
            check_option("seed", bad, int)


@pytest.mark.parametrize("flag,value,fragment", [
    ("--budget", "1.5", "argument --budget: the value must be an integer (e.g. 20000 or 2e4), got 1.5"),
    ("--budget", "abc", "--budget must be an integer (e.g. 20000 or 2e4), got 'abc'"),
    ("--alpha0", "fast", "--alpha0 must be a number, got 'fast'"),
    ("--alpha0", "nan", "must be a finite number"),
])
def test_bad_flag_values(tmp_path, capsys, flag, value, fragment):
    _fails(["-q", "train", flag, value, "--out", str(tmp_path / "run")], capsys, fragment)
    assert not (tmp_path / "run").exists()


def test_config_that_is_a_directory(tmp_path, capsys):
    _fails(["-q", "train", "--config", str(tmp_path), "--out", str(tmp_path / "run")], capsys,
           f"config file {tmp_path} is a directory; pass a JSON file of options")
    assert not (tmp_path / "run").exists()


def test_data_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "image.png"
    f.write_bytes(b"x")
    _fails(["-q", "train", *TINY, "--data", str(f), "--out", str(tmp_path / "run")], capsys,
           f"{f} is a file, not a folder of images; pass the folder that holds the images")
    assert not (tmp_path / "run").exists()


def test_missing_data_leaves_nothing_behind(tmp_path, capsys):
    out = tmp_path / "run"
    _fails(["-q", "train", *TINY, "--data", str(tmp_path / "nowhere"), "--out", str(out)], capsys,
           "image folder", "does not exist")
    assert not out.exists()
    nested = tmp_path / "a" / "b" / "run"  # folders the start created are removed too
    _fails(["-q", "train", *TINY, "--data", str(tmp_path / "nowhere"), "--out", str(nested)], capsys, "does not exist")
    assert not (tmp_path / "a").exists()
    out.mkdir()  # an existing --out keeps what it held
    (out / "notes.txt").write_text("mine")
    _fails(["-q", "train", *TINY, "--data", str(tmp_path / "nowhere"), "--out", str(out)], capsys, "does not exist")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    # the same --out is accepted afterwards
    assert main(["-q", "train", *TINY, "--out", str(out)]) == 0


def test_batch_larger_than_the_data_leaves_nothing_behind(tmp_path, capsys):
    out = tmp_path / "run"
    _fails(["-q", "train", *TINY, "--batch-size", "8", "--out", str(out)], capsys,
           "batch size 8 is larger than the training set (m = 4); lower --batch-size or add images")
    assert not out.exists()


def test_out_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "results.txt"
    f.write_text("earlier result")
    _fails(["-q", "train", *TINY, "--out", str(f)], capsys, f"--out {f} is a file, not a directory")
    assert f.read_text() == "earlier result"
    _fails(["-q", "train", *TINY, "--out", str(f / "run")], capsys, f"lies below {f}, which is a file")


def _read_only_dir(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o555)
        return d / "run"
    probe = Path("/sys/isgd-read-only-probe")  # root may write anywhere but in sysfs
    try:
        probe.mkdir()
    except PermissionError:
        return probe / "run"
    probe.rmdir()
    pytest.skip("no read-only location available to this user")


def test_out_that_cannot_be_written(tmp_path, capsys):
    out = _read_only_dir(tmp_path)
    err = _fails(["-q", "train", *TINY, "--out", str(out)], capsys, str(out.parent))
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_hypergrad_json_that_is_a_directory(tmp_path, capsys):
    before = _snapshot(tmp_path)
    _fails(["-q", "hypergrad", "--json", str(tmp_path)], capsys, f"--json {tmp_path} is a directory; name a file")
    assert _snapshot(tmp_path) == before and not list(tmp_path.parent.glob(f".{tmp_path.name}*"))


def test_resume_refuses_changes_and_keeps_the_run(stored_run, capsys):
    before = _snapshot(stored_run)
    _fails(["-q", "train", "--out", str(stored_run), "--resume", "--alpha0", "1e-4", "--seed", "3"], capsys,
           "holds a run with a different config: --seed (stored 0, given 3), --alpha0 (stored 0.001, given 0.0001)",
           "only --budget and --max-iterations may grow")
    _fails(["-q", "train", *TINY, "--out", str(stored_run)], capsys, "already holds a run; choose another --out or "
                                                                     "pass --resume")
    assert _snapshot(stored_run) == before


def test_resume_of_nothing(tmp_path, capsys):
    _fails(["-q", "train", "--out", str(tmp_path / "none"), "--resume"], capsys, "holds no run to continue")
    _fails(["-q", "train", "--resume"], capsys, "--resume needs --out DIR")
    assert not (tmp_path / "none").exists()


def test_grayscale_hint_names_a_real_flag(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        Image.fromarray((torch.rand(32, 32) * 255).to(torch.uint8).numpy(), mode="L").save(folder / f"g{i}.png")
    out = tmp_path / "run"
    err = _fails(["-q", "train", *TINY, "--data", str(folder), "--out", str(out)], capsys, "--allow-gray")
    assert not out.exists()
    flag = err.split("pass ")[1].split()[0]
    assert flag == "--allow-gray" and flag in build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert main(["-q", "train", *TINY, "--data", str(folder), "--allow-gray", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["allow_gray"] is True
