"""Image folders, STL-10 binaries and Oxford-IIIT Pet: exact crops, colour policy and clear errors.

Every fixture is written into ``tmp_path`` at test time; nothing touches the network.
"""
from __future__ import annotations

import io
import json
import logging
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bilevel import datasets as ds
from bilevel.data import embedded_crops

STL = ds.STL10_IMAGE_BYTES
CBSD68 = Path(__file__).resolve().parents[3] / "shared" / "data" / "CBSD68"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """No code path may reach the network unless a test serves the download itself."""

    def refuse(url):
        raise AssertionError(f"unexpected download of {url}")

    monkeypatch.setattr(ds, "_open_url", refuse)


def _rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _save(path: Path, arr: np.ndarray, mode: str | None = None, **kwargs) -> np.ndarray:
    """Write ``arr`` with Pillow (``mode`` converts first) and return the uint8 RGB array written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(arr)
    if mode is not None:
        im = im.convert(mode)
    im.save(path, **kwargs)
    return arr


def _decoded(path: Path) -> np.ndarray:
    """What Pillow decodes (for lossy JPEG fixtures), as float64 RGB in [0, 1]."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0


def _png16_rgb(path: Path, arr16: np.ndarray) -> None:
    """A 16-bit RGB PNG written by hand (Pillow cannot write 48-bit PNGs)."""
    h, w, _ = arr16.shape
    raw = b"".join(b"\x00" + arr16[i].astype(">u2").tobytes() for i in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def _grid_expected(img: np.ndarray, size: int) -> list[np.ndarray]:
    """Row-major non-overlapping crops of a centred grid, written out with plain slicing."""
    h, w = img.shape[:2]
    oh, ow = (h - size * (h // size)) // 2, (w - size * (w // size)) // 2
    return [
        img[oh + i * size: oh + (i + 1) * size, ow + j * size: ow + (j + 1) * size]
        for i in range(h // size) for j in range(w // size)
    ]


def _nchw(crops: list[np.ndarray]) -> np.ndarray:
    return np.stack(crops).transpose(0, 3, 1, 2)


# ---------------------------------------------------------------------------------------------
# load_image: colour policy
# ---------------------------------------------------------------------------------------------

def test_load_image_rgb_exact(tmp_path):
    arr = _save(tmp_path / "a.png", _rgb(7, 5))
    img = ds.load_image(tmp_path / "a.png")
    assert img.dtype == np.float64 and img.shape == (7, 5, 3)
    np.testing.assert_array_equal(img, arr / 255.0)


def test_opaque_alpha_is_dropped_transparent_alpha_is_an_error(tmp_path):
    arr = _rgb(6, 6)
    rgba = np.concatenate([arr, np.full((6, 6, 1), 255, np.uint8)], axis=2)
    _save(tmp_path / "opaque.png", rgba)
    np.testing.assert_array_equal(ds.load_image(tmp_path / "opaque.png"), arr / 255.0)

    rgba[2, 3, 3] = 10
    _save(tmp_path / "holes.png", rgba)
    with pytest.raises(ValueError, match=r"holes\.png has transparent pixels.*remove it from the folder"):
        ds.load_image(tmp_path / "holes.png")
    np.testing.assert_array_equal(ds.load_image(tmp_path / "holes.png", convert=True), arr / 255.0)


def test_grayscale_is_an_error_unless_replicated(tmp_path):
    gray = np.random.default_rng(1).integers(0, 256, size=(5, 4), dtype=np.uint8)
    _save(tmp_path / "gray.png", gray)
    with pytest.raises(ValueError, match=r"gray\.png is a grayscale image .*not an RGB image; convert it"):
        ds.load_image(tmp_path / "gray.png")
    img = ds.load_image(tmp_path / "gray.png", allow_gray=True)
    assert img.shape == (5, 4, 3)
    for c in range(3):
        np.testing.assert_array_equal(img[:, :, c], gray / 255.0)


def test_palette_is_an_error_unless_converted(tmp_path):
    src = Image.fromarray(_rgb(8, 8)).quantize(colors=16)
    src.save(tmp_path / "pal.png")
    with pytest.raises(ValueError, match=r"pal\.png is a palette \(indexed-colour\) image.*convert=True"):
        ds.load_image(tmp_path / "pal.png")
    expected = np.asarray(src.convert("RGB"), dtype=np.float64) / 255.0
    np.testing.assert_array_equal(ds.load_image(tmp_path / "pal.png", convert=True), expected)


def test_cmyk_is_an_error_unless_converted(tmp_path, caplog):
    _save(tmp_path / "cmyk.jpg", _rgb(16, 16), mode="CMYK")
    with pytest.raises(ValueError, match=r"cmyk\.jpg is stored in the CMYK colour space.*not an RGB image"):
        ds.load_image(tmp_path / "cmyk.jpg")
    with caplog.at_level(logging.INFO, logger="bilevel.datasets"):
        img = ds.load_image(tmp_path / "cmyk.jpg", convert=True)
    assert img.shape == (16, 16, 3) and 0.0 <= img.min() and img.max() <= 1.0
    assert "cmyk.jpg: converted from CMYK to RGB" in caplog.text


def test_sixteen_bit_gray_png_scaled_by_65535(tmp_path):
    levels = np.array([[0, 1, 257, 1000], [30000, 65534, 65535, 12345]], dtype=np.uint16)
    Image.fromarray(levels).save(tmp_path / "g16.png")
    img = ds.load_image(tmp_path / "g16.png", allow_gray=True)
    for c in range(3):
        np.testing.assert_array_equal(img[:, :, c], levels / 65535.0)
    assert img.max() == 1.0


def test_sixteen_bit_rgb_png_scaled_into_unit_range(tmp_path, caplog):
    levels = np.random.default_rng(2).integers(0, 65536, size=(5, 6, 3)).astype(np.uint16)
    levels[0, 0] = [0, 65535, 65535]
    _png16_rgb(tmp_path / "c16.png", levels)
    with caplog.at_level(logging.INFO, logger="bilevel.datasets"):
        img = ds.load_image(tmp_path / "c16.png")
    # Pillow keeps the high byte: the value is right to within one 8-bit level, never scaled by 255 alone.
    assert np.abs(img - levels / 65535.0).max() <= 1.0 / 255.0
    np.testing.assert_array_equal(img[0, 0], [0.0, 1.0, 1.0])
    assert "c16.png: 16-bit colour image, read at 8-bit precision" in caplog.text


def test_float_image_is_an_error(tmp_path):
    Image.fromarray(np.full((4, 4), 0.5, dtype=np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(ValueError, match=r"f\.tif has floating-point pixels.*save it as 8- or 16-bit RGB"):
        ds.load_image(tmp_path / "f.tif", convert=True)


@pytest.mark.parametrize("name, payload", [
    ("text.png", b"this is not an image"),
    ("empty.jpg", b""),
])
def test_unreadable_file_named(tmp_path, name, payload):
    (tmp_path / name).write_bytes(payload)
    with pytest.raises(ValueError, match=rf"cannot read .*{name} as an image.*replace it or remove it"):
        ds.load_image(tmp_path / name)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_named(tmp_path, fmt):
    buf = io.BytesIO()
    Image.fromarray(_rgb(64, 64)).save(buf, format=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ValueError, match=r"cut\.\w+ as an image.*corrupt, truncated"):
        ds.load_image(path)


def test_missing_image_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.png does not exist"):
        ds.load_image(tmp_path / "nothere.png")


# ---------------------------------------------------------------------------------------------
# folder_crops
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def two_images(tmp_path) -> tuple[Path, np.ndarray, np.ndarray]:
    folder = tmp_path / "imgs"
    b = _save(folder / "b.png", _rgb(17, 9, seed=2))  # written first: order must come from the names
    a = _save(folder / "a.png", _rgb(20, 31, seed=1))
    return folder, a / 255.0, b / 255.0


def test_folder_grid_crops_exact_positions_round_robin(two_images):
    folder, a, b = two_images
    ca, cb = _grid_expected(a, 8), _grid_expected(b, 8)
    assert (len(ca), len(cb)) == (6, 2)
    expected = [ca[0], cb[0], ca[1], cb[1], ca[2], ca[3], ca[4], ca[5]]
    x = ds.folder_crops(folder, 8)
    assert x.shape == (8, 3, 8, 8) and x.dtype == torch.float64 and x.is_contiguous()
    np.testing.assert_array_equal(x.numpy(), _nchw(expected))
    # the centred grid of a (20x31, size 8) starts at row 2, column 3
    np.testing.assert_array_equal(x[0].numpy().transpose(1, 2, 0), a[2:10, 3:11])
    np.testing.assert_array_equal(ds.folder_crops(folder, 8, count=3).numpy(), _nchw(expected[:3]))
    assert torch.equal(ds.folder_crops(folder, 8), x)


def test_folder_center_crops(two_images):
    folder, a, b = two_images
    x = ds.folder_crops(folder, 9, mode="center")
    np.testing.assert_array_equal(x.numpy(), _nchw([a[5:14, 11:20], b[4:13, 0:9]]))


def test_folder_reads_only_needed_images(two_images, monkeypatch):
    folder, a, _ = two_images
    _save(folder / "c.png", _rgb(12, 12, seed=3))
    loaded = []
    real = ds.load_image

    def spy(path, **kwargs):
        loaded.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(ds, "load_image", spy)
    ds.folder_crops(folder, 8, count=2)
    assert loaded == ["a.png", "b.png"]


def test_folder_ignores_other_files_and_matches_endings(two_images):
    folder, a, b = two_images
    (folder / "README.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"macOS resource fork")
    (folder / "sub").mkdir()
    _save(folder / "sub" / "deep.png", _rgb(40, 40))
    _save(folder / "C.PNG", _rgb(9, 9, seed=4))
    x = ds.folder_crops(folder, 9, mode="center")
    assert x.shape[0] == 3  # sub/, README.txt and the hidden file are ignored
    assert [p.name for p in ds.image_files(folder)] == ["C.PNG", "a.png", "b.png"]
    with pytest.raises(FileNotFoundError, match=r"no image files in .*accepted endings: \.bmp"):
        ds.folder_crops(folder, 8, extensions=("bmp",))


def test_folder_count_errors(two_images):
    folder, _, _ = two_images
    with pytest.raises(ValueError, match=r"only 8 grid crops of size 8 exist in the 2 images of .*imgs, asked for 9"):
        ds.folder_crops(folder, 8, count=9)
    with pytest.raises(ValueError, match="count must be a positive integer"):
        ds.folder_crops(folder, 8, count=0)
    with pytest.raises(ValueError, match="crop size must be a positive integer"):
        ds.folder_crops(folder, 0)
    with pytest.raises(ValueError, match="mode must be one of"):
        ds.folder_crops(folder, 8, mode="random")


def test_folder_crop_larger_than_image_names_file(two_images):
    folder, _, _ = two_images
    # b.png (17x9) is not needed for one crop, yet it is checked: the error does not depend on count
    expected = r"b\.png is 17x9 pixels, smaller than the 10x10 crop; use a smaller crop size or remove this image"
    with pytest.raises(ValueError, match=expected):
        ds.folder_crops(folder, 10, count=1)


def test_folder_missing_empty_and_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"image folder .*nowhere does not exist; put the images \(\.bmp"):
        ds.folder_crops(tmp_path / "nowhere", 8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no image files in .*empty \(accepted endings: .*\.png"):
        ds.folder_crops(tmp_path / "empty", 8)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "x.txt").write_text("hi")
    with pytest.raises(FileNotFoundError, match="no image files"):
        ds.folder_crops(tmp_path / "notes", 8)
    _save(tmp_path / "one.png", _rgb(8, 8))
    with pytest.raises(NotADirectoryError, match=r"one\.png is a file, not a folder of images"):
        ds.folder_crops(tmp_path / "one.png", 8)


def test_folder_non_rgb_and_unreadable_images_named(two_images):
    folder, _, _ = two_images
    _save(folder / "g.png", np.zeros((12, 12), np.uint8))
    with pytest.raises(ValueError, match=r"g\.png is a grayscale image.*not an RGB image"):
        ds.folder_crops(folder, 8, count=1)
    x = ds.folder_crops(folder, 8, allow_gray=True)
    assert x.shape[0] == 9
    (folder / "g.png").unlink()
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match=r"cannot read .*broken\.jpg as an image"):
        ds.folder_crops(folder, 8)


def test_folder_jpeg_matches_pillow_decode(tmp_path):
    _save(tmp_path / "j" / "p.jpg", _rgb(24, 30), quality=90)
    x = ds.folder_crops(tmp_path / "j", 12)
    expected = _grid_expected(_decoded(tmp_path / "j" / "p.jpg"), 12)
    np.testing.assert_array_equal(x.numpy(), _nchw(expected))
    assert 0.0 <= x.min() and x.max() <= 1.0


# ---------------------------------------------------------------------------------------------
# STL-10
# ---------------------------------------------------------------------------------------------

def _stl_images(n: int) -> np.ndarray:
    """Known pattern ``[n, c, row, col]``: rows and columns weigh differently, so a missing transpose shows."""
    idx = np.indices((n, 3, 96, 96))
    return ((7 * idx[0] + 50 * idx[1] + idx[2] + 3 * idx[3]) % 256).astype(np.uint8)


def _write_stl(root: Path, split: str, images: np.ndarray) -> Path:
    folder = root / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}_X.bin"
    path.write_bytes(np.ascontiguousarray(images.transpose(0, 1, 3, 2)).tobytes())  # column-major channels
    return path


def test_stl10_column_major_layout(tmp_path):
    images = _stl_images(3)
    _write_stl(tmp_path, "train", images)
    x = ds.stl10_crops(tmp_path, "train")
    assert x.shape == (3, 3, 96, 96) and x.dtype == torch.float64
    np.testing.assert_array_equal(x.numpy(), images / 255.0)
    assert x[1, 2, 0, 1].item() == pytest.approx((7 + 100 + 3) / 255.0)  # image 1, blue, row 0, column 1
    assert x[1, 2, 1, 0].item() == pytest.approx((7 + 100 + 1) / 255.0)
    direct = ds.stl10_crops(tmp_path / "stl10_binary", "train", count=2)  # the stl10_binary folder itself
    np.testing.assert_array_equal(direct.numpy(), images[:2] / 255.0)


def test_stl10_reads_only_requested_images(tmp_path, monkeypatch):
    path = _write_stl(tmp_path, "unlabeled", _stl_images(2))
    with open(path, "r+b") as fh:
        fh.truncate(1000 * STL)  # zeros after the two real images (sparse where the filesystem allows)
    requested = []
    real = np.fromfile

    def spy(file, dtype=float, count=-1, **kwargs):
        requested.append(count)
        return real(file, dtype=dtype, count=count, **kwargs)

    monkeypatch.setattr(np, "fromfile", spy)
    x = ds.stl10_crops(tmp_path, "unlabeled", count=2)
    assert requested == [2 * STL]
    np.testing.assert_array_equal(x.numpy(), _stl_images(2) / 255.0)
    with pytest.raises(ValueError, match=r"pass count for the unlabeled split: .*unlabeled_X\.bin holds 1000 images"):
        ds.stl10_crops(tmp_path, "unlabeled")


def test_stl10_centre_crop_and_size_limit(tmp_path):
    images = _stl_images(2)
    _write_stl(tmp_path, "test", images)
    x = ds.stl10_crops(tmp_path, "test", size=90)
    np.testing.assert_array_equal(x.numpy(), images[:, :, 3:93, 3:93] / 255.0)
    with pytest.raises(ValueError, match=r"test_X\.bin are 96x96, smaller than the 97x97 crop"):
        ds.stl10_crops(tmp_path, "test", size=97)
    with pytest.raises(ValueError, match=r"test_X\.bin holds 2 images, asked for 3"):
        ds.stl10_crops(tmp_path, "test", count=3)


@pytest.mark.parametrize("nbytes", [0, STL - 1, 2 * STL + 5])
def test_stl10_wrong_file_size(tmp_path, nbytes):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    (folder / "train_X.bin").write_bytes(b"\x01" * nbytes)
    with pytest.raises(ValueError, match=r"train_X\.bin has \d+ bytes.*truncated or not an STL-10 binary"):
        ds.stl10_crops(tmp_path, "train", count=1)


def test_stl10_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no STL-10 binary files under .*stl10_binary.*download_stl10"):
        ds.stl10_crops(tmp_path, "train")
    _write_stl(tmp_path, "train", _stl_images(1))
    with pytest.raises(FileNotFoundError, match=r"test_X\.bin is missing; extract the full stl10_binary\.tar\.gz"):
        ds.stl10_crops(tmp_path, "test")
    with pytest.raises(ValueError, match="STL-10 split must be one of"):
        ds.stl10_crops(tmp_path, "validation")


# ---------------------------------------------------------------------------------------------
# Oxford-IIIT Pet
# ---------------------------------------------------------------------------------------------

PET_NAMES = ["beagle_10.jpg", "Abyssinian_2.jpg", "beagle_2.jpg", "Bengal_1.jpg", "Abyssinian_1.jpg", "beagle_1.jpg"]
PET_ORDER = ["Abyssinian_1.jpg", "Bengal_1.jpg", "beagle_1.jpg", "Abyssinian_2.jpg", "beagle_2.jpg", "beagle_10.jpg"]


@pytest.fixture
def pets_root(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    """Pet photographs stored as PNG data under ``.jpg`` names (as a few real ones are): exact pixels."""
    images = tmp_path / "pets" / "images"
    arrays = {}
    for k, name in enumerate(PET_NAMES):
        arrays[name] = _save(images / name, _rgb(20 + k, 24 + 2 * k, seed=10 + k), format="PNG") / 255.0
    (images / "Abyssinian_100.mat").write_bytes(b"MATLAB 5.0")  # the real images/ folder has a few of these
    return tmp_path / "pets", arrays


def test_pets_order_round_robin_over_breeds(pets_root):
    root, _ = pets_root
    files = ds.image_files(root / "images", ds.PETS_EXTENSIONS)
    assert [p.name for p in ds.pets_order(files)] == PET_ORDER


def test_pets_centre_crops(pets_root):
    root, arrays = pets_root
    x = ds.pets_crops(root, size=16)
    expected = []
    for name in PET_ORDER:
        a = arrays[name]
        top, left = (a.shape[0] - 16) // 2, (a.shape[1] - 16) // 2
        expected.append(a[top: top + 16, left: left + 16])
    assert x.shape == (6, 3, 16, 16) and x.dtype == torch.float64
    np.testing.assert_array_equal(x.numpy(), _nchw(expected))
    np.testing.assert_array_equal(ds.pets_crops(root / "images", size=16, count=2).numpy(), _nchw(expected[:2]))


def test_pets_converts_gray_cmyk_rgba_and_logs(tmp_path, caplog):
    images = tmp_path / "images"
    gray = np.random.default_rng(5).integers(0, 256, size=(20, 20), dtype=np.uint8)
    _save(images / "a_1.jpg", gray, format="PNG")
    _save(images / "b_1.jpg", _rgb(20, 20), mode="CMYK")
    rgba = np.concatenate([_rgb(20, 20, seed=6), np.full((20, 20, 1), 7, np.uint8)], axis=2)
    _save(images / "c_1.jpg", rgba, format="PNG")
    _save(images / "d_1.jpg", _rgb(20, 20, seed=7))
    with caplog.at_level(logging.INFO, logger="bilevel.datasets"):
        x = ds.pets_crops(tmp_path, size=16)
    assert x.shape == (4, 3, 16, 16) and 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(x[0, 0].numpy(), gray[2:18, 2:18] / 255.0)
    assert torch.equal(x[0, 0], x[0, 1]) and torch.equal(x[0, 0], x[0, 2])
    np.testing.assert_array_equal(x[2].numpy(), rgba[2:18, 2:18, :3].transpose(2, 0, 1) / 255.0)
    for message in ("a_1.jpg: grayscale image", "b_1.jpg: converted from CMYK", "c_1.jpg: transparent image"):
        assert message in caplog.text


def test_pets_small_images_error_or_skip(pets_root, caplog):
    root, _ = pets_root
    # only Abyssinian_1.jpg (24x32) and beagle_1.jpg (25x34) hold a 24x24 crop; Bengal_1.jpg comes second
    with pytest.raises(ValueError, match=r"Bengal_1\.jpg is 23x30 pixels, smaller than the 24x24 crop.*skip_small"):
        ds.pets_crops(root, size=24)
    with caplog.at_level(logging.WARNING, logger="bilevel.datasets"):
        x = ds.pets_crops(root, size=24, skip_small=True)
    assert x.shape == (2, 3, 24, 24)
    assert "skipping" in caplog.text and "Bengal_1.jpg" in caplog.text
    with pytest.raises(ValueError, match=r"only 2 photographs of .*images are at least 24x24 \(4 skipped\), asked"):
        ds.pets_crops(root, size=24, count=3, skip_small=True)


def test_pets_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no Oxford-IIIT Pet images under .*images/\*\.jpg.*download_pets"):
        ds.pets_crops(tmp_path, size=16)


# ---------------------------------------------------------------------------------------------
# Sources, splits, downloads
# ---------------------------------------------------------------------------------------------

def test_parse_source_and_auto_detection(tmp_path, two_images, pets_root):
    folder, _, _ = two_images
    pets, _ = pets_root
    _write_stl(tmp_path / "stl", "train", _stl_images(1))
    assert ds.parse_source("embedded") == ("embedded", None)
    assert ds.parse_source(f"folder:{pets}") == ("folder", pets)
    assert ds.parse_source(f"pets:{folder}") == ("pets", folder)
    assert ds.parse_source(str(tmp_path / "stl")) == ("stl10", tmp_path / "stl")
    assert ds.parse_source(str(tmp_path / "stl" / "stl10_binary"))[0] == "stl10"
    assert ds.parse_source(str(pets)) == ("pets", pets)
    assert ds.parse_source(str(folder)) == ("folder", folder)
    assert ds.parse_source("C:/photos")[0] == "folder"  # a drive letter is not a source kind
    with pytest.raises(ValueError, match="names no path"):
        ds.parse_source("stl10:")


def test_load_crops_dispatch(tmp_path, two_images, pets_root):
    folder, _, _ = two_images
    pets, _ = pets_root
    _write_stl(tmp_path / "stl", "test", _stl_images(2))
    assert torch.equal(ds.load_crops(str(folder), 8), ds.folder_crops(folder, 8))
    assert torch.equal(ds.load_crops(str(folder), 8, split="test"), ds.folder_crops(folder, 8))
    centre = ds.folder_crops(folder, 9, mode="center")
    assert torch.equal(ds.load_crops(f"folder:{folder}", 9, mode="center"), centre)
    assert torch.equal(ds.load_crops(str(pets), 16, 3), ds.pets_crops(pets, 16, 3))
    stl = ds.stl10_crops(tmp_path / "stl", "test", 1)
    assert torch.equal(ds.load_crops(str(tmp_path / "stl"), 96, 1, split="test"), stl)
    assert torch.equal(ds.load_crops("embedded", 96, 2), embedded_crops("train", 96, 2))
    with pytest.raises(ValueError, match=r"option\(s\) skip_small do not apply to a folder source"):
        ds.load_crops(str(folder), 8, skip_small=True)
    with pytest.raises(ValueError, match="split of a folder source must be one of"):
        ds.load_crops(str(folder), 8, split="unlabeled")
    with pytest.raises(FileNotFoundError, match="does not exist; put the images"):
        ds.load_crops(str(tmp_path / "typo"), 8)


def test_load_crops_relative_data_dir(tmp_path, monkeypatch):
    _save(tmp_path / "shared" / "data" / "photos" / "x.png", _rgb(20, 20))
    (tmp_path / "main").mkdir()
    monkeypatch.chdir(tmp_path / "main")
    x = ds.load_crops("../shared/data/photos", 10, 4)
    assert x.shape == (4, 3, 10, 10)
    record = ds.describe_source("../shared/data/photos", 10, 4)
    assert record["kind"] == "folder" and record["n_images"] == 1
    assert record["path"] == str((tmp_path / "shared" / "data" / "photos").resolve())


def test_describe_source_is_json_ready(tmp_path, two_images):
    folder, _, _ = two_images
    _write_stl(tmp_path / "stl", "train", _stl_images(3))
    rec = ds.describe_source(f"folder:{folder}", 8, None, "train", mode="center", extensions=[".png"])
    assert rec["options"] == {"extensions": [".png"], "mode": "center"} and rec["n_images"] == 2
    stl = ds.describe_source(str(tmp_path / "stl"), 96, 2)
    assert stl["kind"] == "stl10" and stl["n_images"] == 3 and stl["file"].endswith("train_X.bin")
    emb = ds.describe_source("embedded", 96, 4, "test")
    assert emb["path"] is None and emb["photographs"] == ["chelsea", "motorcycle"]
    json.dumps([rec, stl, emb])


@settings(max_examples=50, deadline=None)
@given(n=st.integers(2, 200), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_split_indices_partition(n, data, seed):
    test_count = data.draw(st.integers(1, n - 1))
    train, test = ds.split_indices(n, test_count, seed)
    assert len(test) == test_count
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(n))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    again = ds.split_indices(n, test_count, seed)
    np.testing.assert_array_equal(again[1], test)


def test_split_crops(two_images):
    folder, _, _ = two_images
    x = ds.folder_crops(folder, 8)
    train, test = ds.split_crops(x, 3, seed=0)
    assert train.shape[0] == 5 and test.shape[0] == 3
    for bad in (0, 8):
        with pytest.raises(ValueError, match="test_count must satisfy"):
            ds.split_crops(x, bad, seed=0)


def _tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


@pytest.mark.parametrize("which", ["pets", "stl10"])
def test_download_served_locally(tmp_path, monkeypatch, which):
    png = io.BytesIO()
    Image.fromarray(_rgb(20, 20)).save(png, format="PNG")
    if which == "pets":
        archive, fetch, expect = _tarball({"images/Abyssinian_1.jpg": png.getvalue()}), ds.download_pets, "images"
    else:
        archive = _tarball({"stl10_binary/train_X.bin": _stl_images(1).tobytes()})
        fetch, expect = ds.download_stl10, "stl10_binary"
    urls = []

    def serve(url):
        urls.append(url)
        return io.BytesIO(archive)

    monkeypatch.setattr(ds, "_open_url", serve)
    target = fetch(tmp_path / "data")
    assert target == tmp_path / "data" / expect
    assert urls == [ds.PETS_URL if which == "pets" else ds.STL10_URL]
    assert not list((tmp_path / "data").glob("*.tar.gz"))  # archive removed after extraction
    assert fetch(tmp_path / "data") == target and len(urls) == 1  # present: nothing fetched again
    assert ds.load_crops(str(tmp_path / "data"), 16 if which == "pets" else 96, 1).shape[0] == 1


# ---------------------------------------------------------------------------------------------
# Real photographs (optional)
# ---------------------------------------------------------------------------------------------

def test_real_photographs_folder():
    if not CBSD68.is_dir():
        pytest.skip(f"no real photographs at {CBSD68}")
    x = ds.load_crops(str(CBSD68), 96, 4)
    assert x.shape == (4, 3, 96, 96) and x.dtype == torch.float64
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.01
