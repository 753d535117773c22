"""Image lists as a data source (``list:FILE``) and training-loss evaluation on a subset of the crops."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from bilevel.datasets import describe_source, folder_crops, load_crops, read_image_list
from bilevel.train import TrainConfig, train


def _folder(path: Path, n: int, size: tuple[int, int] = (40, 30)) -> list[Path]:
    path.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        f = path / f"img{i}.png"
        Image.new("RGB", size, (20 * i, 100, 200 - 10 * i)).save(f)
        files.append(f)
    return files


def test_a_list_reads_the_named_files_in_its_order(tmp_path: Path) -> None:
    files = _folder(tmp_path / "photos", 4)
    lst = tmp_path / "lists" / "train.txt"
    lst.parent.mkdir()
    # absolute and relative paths (relative to the list's folder), comments and blank lines
    lst.write_text(f"# training images\n{files[2]}\n\n../photos/{files[0].name}\n")
    assert read_image_list(lst) == [files[2], lst.parent / ".." / "photos" / files[0].name]
    x = load_crops(f"list:{lst}", 16)
    assert x.shape == (4, 3, 16, 16)  # two grid crops (2 x 1) of each 40x30 image, round robin
    ref = folder_crops(tmp_path / "photos", 16)
    # crop 0 of img2 then crop 0 of img0 (the list's order), then their second crops
    assert torch.equal(x[0], ref[2]) and torch.equal(x[1], ref[0])
    assert describe_source(f"list:{lst}", 16)["files"] == ["img2.png", "img0.png"]


def test_bad_lists_get_clear_errors(tmp_path: Path) -> None:
    files = _folder(tmp_path / "photos", 2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_image_list(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{files[0]}\n{tmp_path / 'gone.png'}\n")
    with pytest.raises(FileNotFoundError, match="line 2"):
        read_image_list(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="names no image"):
        read_image_list(empty)
    twice = tmp_path / "twice.txt"
    twice.write_text(f"{files[0]}\n{files[0]}\n")
    with pytest.raises(ValueError, match="twice"):
        read_image_list(twice)
    with pytest.raises(ValueError, match="do not apply"):
        load_crops(f"list:{files[0]}", 16, extensions=(".png",))


def test_training_loss_evaluated_on_the_first_crops(tmp_path: Path) -> None:
    base = dict(task="denoising", crop=16, train_count=4, test_count=1, batch_size=2, budget=60, eval_every=60,
                progress=False, device="cpu", checkpoint_every=100)
    full = train(TrainConfig(**base), tmp_path / "full")
    sub = train(TrainConfig(**base, eval_train_count=2), tmp_path / "sub")
    # the same run (evaluation changes nothing it does), evaluated on fewer crops
    assert [r["batch_loss"] for r in full.records] == [r["batch_loss"] for r in sub.records]
    assert full.evaluations[0]["train_loss"] != sub.evaluations[0]["train_loss"]
    assert full.evaluations[0]["test_psnr"] == sub.evaluations[0]["test_psnr"]
    with pytest.raises(ValueError, match="eval_train_count"):
        TrainConfig(**base, eval_train_count=0)
    with pytest.raises(ValueError, match="maid_error"):
        TrainConfig(**base, maid_error="guessed")
