"""Real image data from local folders (DESIGN.md, "Data").

Four sources give ground-truth crops as float64 tensors ``(N, 3, size, size)`` in ``[0, 1]``, the
same layout as :func:`bilevel.data.embedded_crops`:

* ``"embedded"``: the scikit-image photographs of :mod:`bilevel.data`;
* any folder of images (:func:`folder_crops`), e.g. ``../shared/data/CBSD68`` for training crops and
  ``../shared/data/McMaster`` for test crops, or a list of image files (``"list:FILE"``, one path per
  line, :func:`list_crops`), e.g. the images of a folder split by file into training and held-out test
  images;
* STL-10 from its binary files ``stl10_binary/{train,test,unlabeled}_X.bin`` (:func:`stl10_crops`),
  parsed with numpy, reading only the images asked for (the unlabeled file is 2.7 GB and is never
  read whole nor hashed);
* Oxford-IIIT Pet from its ``images/`` folder (:func:`pets_crops`), one centre crop per image.

:func:`load_crops` takes a source string (``"embedded"``, ``"folder:PATH"``, ``"stl10:PATH"``,
``"pets:PATH"`` or a plain ``PATH`` whose kind is detected) so that command lines can pass
``--data-dir ../shared/data/CBSD68``; :func:`describe_source` records a source in a run config.

Colour policy of :func:`load_image` (every loader goes through it):

* RGB images are used as they are; 8-bit values are divided by 255. Pillow decodes 16-bit colour
  PNGs to 8 bits, so they are read at 8-bit precision (logged); 16-bit grey images keep their 16 bits
  and are divided by 65535.
* An alpha channel that is fully opaque carries no information and is dropped. Transparent pixels
  are an error (their colour is undefined), unless ``convert=True``, which drops the alpha channel and
  keeps the stored colours.
* Grayscale images are an error, unless ``allow_gray=True`` (or ``convert=True``), which replicates
  the grey channel into three identical channels.
* Palette, CMYK, YCbCr, LAB and HSV images are an error, unless ``convert=True``, which converts them
  with Pillow's ``convert("RGB")`` (for CMYK this ignores any ICC profile).
* Floating-point images have no fixed white level and are always an error.

Every conversion is logged with the file name; no image is ever dropped silently. Oxford-IIIT Pet
holds a few grayscale, CMYK and transparent or palette images (some of its ``.jpg`` files hold PNG or
GIF data; Pillow reads the content, not the name), so :func:`pets_crops` always converts.

Downloads are opt-in: :func:`download_stl10` and :func:`download_pets` run only when called, and no
loader calls them.
"""
from __future__ import annotations

import logging
import shutil
import tarfile
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image

from .data import EMBEDDED_TEST, EMBEDDED_TRAIN, embedded_crops, grid_crops

log = logging.getLogger(__name__)

#: File name endings (case-insensitive) read by :func:`folder_crops` by default.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp")
#: Crop layouts of :func:`folder_crops`.
CROP_MODES = ("grid", "center")
#: Kinds of data source understood by :func:`load_crops`.
SOURCE_KINDS = ("embedded", "folder", "list", "stl10", "pets")

#: STL-10: every image is 3 x 96 x 96 uint8, each channel stored column by column.
STL10_IMAGE_SHAPE = (3, 96, 96)
STL10_IMAGE_BYTES = 3 * 96 * 96
STL10_SPLITS = ("train", "test", "unlabeled")
STL10_DIRNAME = "stl10_binary"
#: Oxford-IIIT Pet: the photographs are ``images/*.jpg``.
PETS_DIRNAME = "images"
PETS_EXTENSIONS = (".jpg",)

#: Opt-in downloads (about 2.6 GB and 0.8 GB).
STL10_URL = "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"
PETS_URL = "https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz"

_RGB_MODES = frozenset({"RGB", "RGBA", "RGBa", "RGBX"})
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"})
_CONVERTIBLE_MODES = frozenset({"P", "PA", "CMYK", "YCbCr", "LAB", "HSV"})
_SIXTEEN_BIT_MAX = 65535.0
# What Pillow raises on files it cannot identify or decode.
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, Image.DecompressionBombError)


# ----------------------------------------------------------------------------------------------
# Single images
# ----------------------------------------------------------------------------------------------

def _unreadable(path: Path, exc: BaseException) -> str:
    return (
        f"cannot read {path} as an image ({type(exc).__name__}: {exc}); the file is corrupt, truncated "
        "or not an image: replace it or remove it from the folder"
    )


def _check_mode(mode: str, path: Path, allow_gray: bool, convert: bool) -> None:
    """Raise ``ValueError`` if an image of Pillow mode ``mode`` may not be read under the policy."""
    if mode in _RGB_MODES:
        return
    if mode in _GRAY_MODES:
        if allow_gray or convert:
            return
        raise ValueError(
            f"{path} is a grayscale image (Pillow mode {mode}), not an RGB image; convert it to RGB, remove "
            "it from the folder, or pass --allow-gray (allow_gray=True in Python) to replicate the grey channel"
        )
    if mode in _CONVERTIBLE_MODES:
        if convert:
            return
        kind = "a palette (indexed-colour) image" if mode in ("P", "PA") else f"stored in the {mode} colour space"
        raise ValueError(
            f"{path} is {kind} (Pillow mode {mode}), not an RGB image; convert it to RGB or remove it from the "
            "folder (convert=True converts it with Pillow, ignoring any ICC profile)"
        )
    if mode == "F":
        raise ValueError(
            f"{path} has floating-point pixels (Pillow mode F), which have no fixed white level; save it as "
            "8- or 16-bit RGB or remove it from the folder"
        )
    raise ValueError(
        f"{path} has the unsupported Pillow mode {mode}, not an RGB image; save it as 8-bit RGB or remove it from "
        "the folder"
    )


def _gray_values(im: Image.Image, path: Path) -> np.ndarray:
    """Grey levels of a single-channel image in ``[0, 1]``, ``(H, W)`` float64."""
    arr = np.asarray(im)
    if im.mode == "1":
        return arr.astype(np.float64)
    if im.mode == "L":
        return arr.astype(np.float64) / 255.0
    # "I;16*" (16-bit PNG/TIFF) and "I" (how some Pillow versions open 16-bit grey): 16-bit levels.
    if arr.size and (arr.min() < 0 or arr.max() > _SIXTEEN_BIT_MAX):
        raise ValueError(
            f"{path} has integer pixels outside the 16-bit range [0, 65535]; save it as 8- or 16-bit or remove "
            "it from the folder"
        )
    return arr.astype(np.float64) / _SIXTEEN_BIT_MAX


def _pixels(im: Image.Image, path: Path, allow_gray: bool, convert: bool) -> np.ndarray:
    """Apply the colour policy of the module docstring to a loaded image: ``(H, W, 3)`` in ``[0, 1]``."""
    _check_mode(im.mode, path, allow_gray, convert)
    if im.mode in ("RGBa", "La"):  # premultiplied alpha: undo it first
        im = im.convert(im.mode[:-1] + "A")
    if im.mode in ("P", "PA"):
        has_alpha = im.mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
        log.info("%s: palette image converted to RGB", path)
    if im.mode in ("RGBA", "LA"):
        alpha = np.asarray(im.getchannel("A"))
        if alpha.size and alpha.min() < 255:
            if not convert:
                raise ValueError(
                    f"{path} has transparent pixels (Pillow mode {im.mode}), whose colour is undefined; flatten "
                    "it onto a background or remove it from the folder (convert=True drops the alpha channel "
                    "and keeps the stored colours)"
                )
            log.info("%s: transparent image, alpha channel dropped", path)
        im = im.convert("RGB" if im.mode == "RGBA" else "L")
    if im.mode == "RGBX":
        im = im.convert("RGB")
    if im.mode in _CONVERTIBLE_MODES:
        source_mode = im.mode
        try:
            im = im.convert("RGB")
        except ValueError as exc:
            raise ValueError(
                f"{path} is stored in the {source_mode} colour space, which Pillow cannot convert to RGB ({exc}); "
                "convert it to RGB with another tool or remove it from the folder"
            ) from exc
        log.info("%s: converted from %s to RGB with Pillow", path, source_mode)
    if im.mode == "RGB":
        return np.asarray(im, dtype=np.float64) / 255.0
    gray = _gray_values(im, path)
    log.info("%s: grayscale image (Pillow mode %s), grey channel replicated to RGB", path, im.mode)
    return np.repeat(gray[:, :, None], 3, axis=2)


def load_image(path: str | Path, *, allow_gray: bool = False, convert: bool = False) -> np.ndarray:
    """One image as float64 ``(H, W, 3)`` in ``[0, 1]``, read with Pillow.

    Args:
        path: image file (any format Pillow reads; the content decides, not the name).
        allow_gray: replicate the channel of a grayscale image into RGB instead of raising.
        convert: also convert palette, CMYK, YCbCr, LAB and HSV images with Pillow and drop an alpha
            channel with transparent pixels (implies ``allow_gray``). Each conversion is logged.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is unreadable (corrupt, truncated, not an image) or not an RGB image
            under the policy above; the message names the file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {path} does not exist; check the path")
    im = None
    try:
        im = Image.open(path)
        sixteen_bit = im.mode in _RGB_MODES and any(";16" in str(tile[3]) for tile in (im.tile or ()))
        im.load()
    except _PIL_ERRORS as exc:
        if im is not None:
            im.close()
        raise ValueError(_unreadable(path, exc)) from exc
    with im:
        if sixteen_bit:
            log.info("%s: 16-bit colour image, read at 8-bit precision (Pillow decodes it to 8 bits)", path)
        return _pixels(im, path, allow_gray, convert)


def _probe(path: Path, allow_gray: bool, convert: bool) -> tuple[int, int]:
    """Height and width from the header (no decoding); checks the colour mode early."""
    try:
        with Image.open(path) as im:
            height, width, mode = im.height, im.width, im.mode
    except _PIL_ERRORS as exc:
        raise ValueError(_unreadable(path, exc)) from exc
    _check_mode(mode, path, allow_gray, convert)
    return height, width


def _too_small(path: Path, height: int, width: int, size: int) -> str:
    return (
        f"{path} is {height}x{width} pixels, smaller than the {size}x{size} crop; use a smaller crop size or "
        "remove this image from the folder"
    )


def _center_crop(img: np.ndarray, size: int) -> np.ndarray:
    height, width = img.shape[:2]
    top, left = (height - size) // 2, (width - size) // 2
    return img[top: top + size, left: left + size]


def _check_size_count(size: int, count: int | None) -> None:
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
        raise ValueError(f"crop size must be a positive integer, got {size!r}")
    if count is not None and (not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 1):
        raise ValueError(f"count must be a positive integer or None, got {count!r}")


def _to_tensor(crops: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack ``(size, size, 3)`` crops into a contiguous float64 tensor ``(N, 3, size, size)``."""
    arr = np.stack(crops).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))


def _round_robin(per_item: Sequence[int]) -> list[tuple[int, int]]:
    """``(item, k)`` pairs: ``k = 0`` of every item, then ``k = 1``, ... (items with fewer are skipped)."""
    order = []
    for k in range(max(per_item, default=0)):
        order.extend((i, k) for i, n in enumerate(per_item) if k < n)
    return order


# ----------------------------------------------------------------------------------------------
# Any folder of images
# ----------------------------------------------------------------------------------------------

def _normalize_extensions(extensions: Iterable[str]) -> tuple[str, ...]:
    exts = tuple(sorted({("." + e.lstrip(".")).lower() for e in extensions}))
    if not exts:
        raise ValueError("extensions must name at least one file ending, e.g. ('.png', '.jpg')")
    return exts


def image_files(path: str | Path, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files directly inside folder ``path``, sorted by file name.

    Files are matched on their ending (case-insensitive); hidden files (a leading ``.``) and
    sub-folders are ignored.

    Raises:
        FileNotFoundError: the folder does not exist, or holds no file with an accepted ending.
        NotADirectoryError: ``path`` is a file.
    """
    folder = Path(path).expanduser()
    exts = _normalize_extensions(extensions)
    if not folder.exists():
        raise FileNotFoundError(
            f"image folder {folder} does not exist; put the images ({', '.join(exts)}) in that folder or pass "
            "the folder that holds them"
        )
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a folder of images; pass the folder that holds the images")
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in exts),
        key=lambda p: p.name,
    )
    if not files:
        raise FileNotFoundError(
            f"no image files in {folder} (accepted endings: {', '.join(exts)}); put images there or pass "
            "another folder"
        )
    return files


def folder_crops(
    path: str | Path,
    size: int,
    count: int | None = None,
    mode: str = "grid",
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
    *,
    allow_gray: bool = False,
    convert: bool = False,
) -> torch.Tensor:
    """Square crops of the images of a folder as float64 ``(N, 3, size, size)`` in ``[0, 1]``.

    Files are taken in file-name order (:func:`image_files`). ``mode="grid"`` cuts the
    non-overlapping ``size x size`` crops of :func:`bilevel.data.grid_crops` (row-major, the grid
    centred on the image); ``mode="center"`` cuts one centred crop per image (offsets
    ``(H - size) // 2`` and ``(W - size) // 2``). Crops are ordered round-robin over images like
    :func:`bilevel.data.embedded_crops` (crop 0 of every image, then crop 1, ...), so a small
    ``count`` mixes images; only the images that contribute one of the first ``count`` crops are
    decoded, but every header is read, so a too-small or non-RGB image fails whatever ``count``.

    Args:
        path: folder of images (not searched recursively).
        size: crop side in pixels (96 for denoising, 256 for deblurring).
        count: number of crops, or ``None`` for all.
        mode: ``"grid"`` or ``"center"``.
        extensions: accepted file endings.
        allow_gray, convert: colour policy of :func:`load_image`.

    Raises:
        FileNotFoundError: missing folder, or no image files in it.
        ValueError: an unreadable or non-RGB image, an image smaller than the crop, or ``count``
            larger than the number of crops; the message names the file or folder and what to do.
    """
    files = image_files(path, extensions)
    return _files_crops(files, str(path), size, count, mode, allow_gray=allow_gray, convert=convert)


def read_image_list(path: str | Path) -> list[Path]:
    """The image files named in a list file: one path per line, relative paths relative to the list
    file's folder; blank lines and lines starting with ``#`` are skipped.

    Raises:
        FileNotFoundError: the list file, or a file it names, does not exist.
        ValueError: the list names no file, or names one file twice.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"image list {path} does not exist; write one image path per line into it")
    files = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        f = Path(text).expanduser()
        f = f if f.is_absolute() else path.parent / f
        if not f.is_file():
            raise FileNotFoundError(f"{path}, line {n}: image file {f} does not exist; fix the list or restore the file")
        files.append(f)
    if not files:
        raise ValueError(f"image list {path} names no image file; write one image path per line into it")
    if len({f.resolve() for f in files}) != len(files):
        raise ValueError(f"image list {path} names a file twice; list every image once")
    return files


def list_crops(path: str | Path, size: int, count: int | None = None, mode: str = "grid", *,
               allow_gray: bool = False, convert: bool = False) -> torch.Tensor:
    """Square crops of the images named in a list file (:func:`read_image_list`), in the list's
    order, cut and ordered as in :func:`folder_crops`."""
    return _files_crops(read_image_list(path), str(path), size, count, mode, allow_gray=allow_gray, convert=convert)


def _files_crops(files: Sequence[Path], where: str, size: int, count: int | None, mode: str, *, allow_gray: bool,
                 convert: bool) -> torch.Tensor:
    _check_size_count(size, count)
    if mode not in CROP_MODES:
        raise ValueError(f"mode must be one of {CROP_MODES}, got {mode!r}")
    per_image = []
    for f in files:
        height, width = _probe(f, allow_gray, convert)
        if size > height or size > width:
            raise ValueError(_too_small(f, height, width, size))
        per_image.append((height // size) * (width // size) if mode == "grid" else 1)
    order = _round_robin(per_image)
    if count is not None:
        if count > len(order):
            raise ValueError(
                f"only {len(order)} {mode} crops of size {size} exist in the {len(files)} images of {where}, "
                f"asked for {count}; use a smaller count or crop size, or add images"
            )
        order = order[:count]
    needed: dict[int, int] = {}
    for i, k in order:
        needed[i] = max(needed.get(i, 0), k + 1)
    cut: dict[int, list[np.ndarray]] = {}
    for i, n in sorted(needed.items()):
        img = load_image(files[i], allow_gray=allow_gray, convert=convert)
        cut[i] = grid_crops(img, size, limit=n, name=str(files[i])) if mode == "grid" else [_center_crop(img, size)]
    log.info("%d %s crops of size %d from %d of %d images in %s", len(order), mode, size, len(cut), len(files), where)
    return _to_tensor([cut[i][k] for i, k in order])


# ----------------------------------------------------------------------------------------------
# STL-10 binary files
# ----------------------------------------------------------------------------------------------

def stl10_folder(root: str | Path) -> Path:
    """The folder holding the STL-10 ``*_X.bin`` files: ``root/stl10_binary`` or ``root`` itself."""
    root = Path(root).expanduser()
    if (root / STL10_DIRNAME).is_dir():
        return root / STL10_DIRNAME
    if root.is_dir() and any(root.glob("*_X.bin")):
        return root
    raise FileNotFoundError(
        f"no STL-10 binary files under {root}: expected {root / STL10_DIRNAME / 'train_X.bin'} (and test_X.bin, "
        f"unlabeled_X.bin); extract stl10_binary.tar.gz into {root}, or call download_stl10({str(root)!r}) "
        f"to fetch it from {STL10_URL}"
    )


def stl10_file(root: str | Path, split: str = "train") -> tuple[Path, int]:
    """The binary file of ``split`` and the number of images it holds (from its size alone)."""
    if split not in STL10_SPLITS:
        raise ValueError(f"STL-10 split must be one of {STL10_SPLITS}, got {split!r}")
    folder = stl10_folder(root)
    path = folder / f"{split}_X.bin"
    if not path.is_file():
        raise FileNotFoundError(
            f"STL-10 file {path} is missing; extract the full stl10_binary.tar.gz into {folder.parent} "
            "(it holds train_X.bin, test_X.bin and unlabeled_X.bin)"
        )
    nbytes = path.stat().st_size
    if nbytes == 0 or nbytes % STL10_IMAGE_BYTES:
        raise ValueError(
            f"{path} has {nbytes} bytes, not a positive multiple of {STL10_IMAGE_BYTES} (one 3x96x96 image): it is "
            "truncated or not an STL-10 binary; extract stl10_binary.tar.gz again"
        )
    return path, nbytes // STL10_IMAGE_BYTES


def read_stl10(path: str | Path, count: int, offset: int = 0) -> np.ndarray:
    """``count`` STL-10 images from image index ``offset`` as uint8 ``(count, 96, 96, 3)``.

    Only ``count * 27648`` bytes are read. The file stores each image as 3 channels of 96 x 96
    bytes in column-major order, so the bytes are read as ``(count, 3, 96, 96)`` indexed
    ``[n, c, column, row]`` and the last two axes are swapped.
    """
    nbytes = count * STL10_IMAGE_BYTES
    with open(path, "rb") as fh:
        fh.seek(offset * STL10_IMAGE_BYTES)
        raw = np.fromfile(fh, dtype=np.uint8, count=nbytes)
    if raw.size != nbytes:
        raise ValueError(
            f"{path} ended after {raw.size} of {nbytes} bytes: it is truncated or not an STL-10 binary; "
            "extract stl10_binary.tar.gz again"
        )
    return raw.reshape(count, *STL10_IMAGE_SHAPE).transpose(0, 3, 2, 1)


def stl10_crops(root: str | Path, split: str = "train", count: int | None = None, size: int = 96) -> torch.Tensor:
    """The first ``count`` STL-10 images of ``split`` as float64 ``(N, 3, size, size)`` in ``[0, 1]``.

    STL-10 images are 96 x 96, the paper's denoising size; a smaller ``size`` takes the centred
    crop of each image. Only the requested images are read, so ``count`` must be given for the
    2.7 GB ``unlabeled`` split.

    Args:
        root: the folder holding ``stl10_binary/``, or ``stl10_binary/`` itself.
        split: ``"train"`` (5000 images), ``"test"`` (8000) or ``"unlabeled"`` (100000).
        count: number of images, ``None`` for all (not allowed for ``"unlabeled"``).
        size: crop side, at most 96.
    """
    _check_size_count(size, count)
    path, available = stl10_file(root, split)
    if size > STL10_IMAGE_SHAPE[1]:
        raise ValueError(
            f"STL-10 images in {path} are 96x96, smaller than the {size}x{size} crop; use a crop size of at most "
            "96 or another dataset"
        )
    if count is None:
        if split == "unlabeled":
            gigabytes = available * 3 * size * size * 8 / 1e9
            raise ValueError(
                f"pass count for the unlabeled split: {path} holds {available} images ({gigabytes:.0f} GB as "
                "float64), which are never read whole"
            )
        count = available
    if count > available:
        raise ValueError(f"{path} holds {available} images, asked for {count}; use a smaller count")
    images = read_stl10(path, count)
    if size < STL10_IMAGE_SHAPE[1]:
        images = images[:, (96 - size) // 2: (96 - size) // 2 + size, (96 - size) // 2: (96 - size) // 2 + size]
    log.info("%d STL-10 %s images (%dx%d) from %s", count, split, size, size, path)
    arr = images.transpose(0, 3, 1, 2).astype(np.float64) / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr))


# ----------------------------------------------------------------------------------------------
# Oxford-IIIT Pet
# ----------------------------------------------------------------------------------------------

def pets_folder(root: str | Path) -> Path:
    """The Oxford-IIIT Pet ``images/`` folder: ``root/images`` or ``root`` itself."""
    root = Path(root).expanduser()
    if (root / PETS_DIRNAME).is_dir():
        return root / PETS_DIRNAME
    if root.is_dir() and any(p.suffix.lower() in PETS_EXTENSIONS for p in root.iterdir()):
        return root
    raise FileNotFoundError(
        f"no Oxford-IIIT Pet images under {root}: expected {root / PETS_DIRNAME}/*.jpg; extract images.tar.gz "
        f"into {root}, or call download_pets({str(root)!r}) to fetch it from {PETS_URL}"
    )


def pets_order(files: Iterable[Path]) -> list[Path]:
    """Pet photographs round-robin over breeds: the first of every breed, then the second, ...

    Names are ``Breed_N.jpg`` (cats capitalised, dogs lower case); breeds are sorted by name and the
    photographs of a breed by ``N``, so a small ``count`` covers all 37 breeds. A name without a
    trailing ``_N`` is a group of its own.
    """
    groups: dict[str, list[tuple[int, str, Path]]] = {}
    for p in files:
        breed, sep, number = p.stem.rpartition("_")
        key, index = (breed, int(number)) if sep and number.isdigit() else (p.stem, 0)
        groups.setdefault(key, []).append((index, p.name, p))
    ordered = [sorted(groups[key]) for key in sorted(groups)]
    return [ordered[i][k][2] for i, k in _round_robin([len(g) for g in ordered])]


def pets_crops(
    root: str | Path, size: int = 256, count: int | None = None, *, skip_small: bool = False
) -> torch.Tensor:
    """One centred ``size x size`` crop per Oxford-IIIT Pet photograph, float64 ``(N, 3, size, size)``.

    The paper's preprocessing: 256 x 256 crops for deblurring (96 x 96 for denoising). Photographs
    are taken in :func:`pets_order` and examined until ``count`` crops are collected. Grayscale
    photographs are replicated to RGB and CMYK, palette and transparent ones converted with Pillow
    (``convert=True`` of :func:`load_image`, each logged); none is dropped silently.

    Args:
        root: the folder holding ``images/``, or ``images/`` itself (only ``*.jpg`` files are read).
        size: crop side.
        count: number of crops, ``None`` for one per photograph.
        skip_small: skip photographs smaller than the crop with a logged warning instead of raising.
    """
    _check_size_count(size, count)
    folder = pets_folder(root)
    files = pets_order(image_files(folder, PETS_EXTENSIONS))
    crops: list[np.ndarray] = []
    skipped = 0
    for f in files:
        if count is not None and len(crops) >= count:
            break
        height, width = _probe(f, allow_gray=True, convert=True)
        if size > height or size > width:
            if not skip_small:
                raise ValueError(_too_small(f, height, width, size) + " (or pass skip_small=True)")
            log.warning("skipping %s: %dx%d pixels, smaller than the %dx%d crop", f, height, width, size, size)
            skipped += 1
            continue
        crops.append(_center_crop(load_image(f, convert=True), size))
    if count is not None and len(crops) < count:
        raise ValueError(
            f"only {len(crops)} photographs of {folder} are at least {size}x{size} ({skipped} skipped), asked for "
            f"{count}; use a smaller count or crop size"
        )
    log.info(
        "%d Oxford-IIIT Pet centre crops of size %d from %s (%d skipped as too small)",
        len(crops), size, folder, skipped,
    )
    return _to_tensor(crops)


# ----------------------------------------------------------------------------------------------
# Splits
# ----------------------------------------------------------------------------------------------

def split_indices(n: int, test_count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint sorted index arrays ``(train, test)`` of ``range(n)``; ``test`` has ``test_count`` entries
    drawn by ``numpy.random.default_rng(seed)``.

    Crops cut from one photograph are correlated: where a separate test folder exists (CBSD68 for
    training, McMaster for testing), pass two sources to :func:`load_crops` instead.
    """
    if not 0 < test_count < n:
        raise ValueError(f"test_count must satisfy 0 < test_count < n = {n}, got {test_count}")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[test_count:]), np.sort(perm[:test_count])


def split_crops(x: torch.Tensor, test_count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split crops ``(N, 3, H, W)`` into ``(train, test)`` with :func:`split_indices`."""
    train, test = split_indices(x.shape[0], test_count, seed)
    return x[torch.from_numpy(train)], x[torch.from_numpy(test)]


# ----------------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------------

_OPTIONS = {
    "embedded": (),
    "folder": ("mode", "extensions", "allow_gray", "convert"),
    "list": ("mode", "allow_gray", "convert"),
    "stl10": (),
    "pets": ("skip_small",),
}


def detect_kind(path: str | Path) -> str:
    """``"stl10"`` if ``path`` holds ``stl10_binary/`` or ``*_X.bin`` files, ``"pets"`` if it holds an
    ``images/`` folder with ``.jpg`` files, else ``"folder"``."""
    path = Path(path).expanduser()
    if not path.is_dir():
        return "folder"  # folder_crops raises the error that says what to put where
    if (path / STL10_DIRNAME).is_dir() or any(path.glob("*_X.bin")):
        return "stl10"
    images = path / PETS_DIRNAME
    if images.is_dir() and any(p.suffix.lower() in PETS_EXTENSIONS for p in images.iterdir()):
        return "pets"
    return "folder"


def parse_source(source: str | Path) -> tuple[str, Path | None]:
    """``(kind, path)`` of a source string: ``"embedded"``, ``"KIND:PATH"`` with a kind of
    :data:`SOURCE_KINDS`, or a plain ``PATH`` whose kind :func:`detect_kind` decides."""
    text = str(source)
    if text == "embedded":
        return "embedded", None
    kind, sep, rest = text.partition(":")
    if sep and kind in SOURCE_KINDS and kind != "embedded":
        if not rest:
            raise ValueError(f"source {text!r} names no path; write {kind}:PATH")
        return kind, Path(rest).expanduser()
    path = Path(text).expanduser()
    return detect_kind(path), path


def _check_options(kind: str, options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(_OPTIONS[kind]))
    if unknown:
        allowed = ", ".join(_OPTIONS[kind]) or "none"
        raise ValueError(f"option(s) {', '.join(unknown)} do not apply to a {kind} source (allowed: {allowed})")


def _check_split(kind: str, split: str) -> None:
    allowed = STL10_SPLITS if kind == "stl10" else ("train", "test")
    if split not in allowed:
        raise ValueError(f"split of a {kind} source must be one of {allowed}, got {split!r}")


def load_crops(
    source: str | Path, size: int, count: int | None = None, split: str = "train", **options: Any
) -> torch.Tensor:
    """Ground-truth crops ``(N, 3, size, size)`` float64 in ``[0, 1]`` from any source.

    ``split`` picks the embedded photographs or the STL-10 file (``"train"``, ``"test"``,
    ``"unlabeled"``). A folder, a list or the Pet images have no split of their own: the folder *is* the
    split, so pass a separate folder for testing (e.g. CBSD68 for training and McMaster for testing), two
    lists of the files of one folder, or cut one set with :func:`split_crops`.

    Args:
        source: ``"embedded"``, ``"folder:PATH"``, ``"list:FILE"``, ``"stl10:PATH"``, ``"pets:PATH"`` or ``PATH``
            (relative paths are relative to the working directory).
        size: crop side (96 for denoising, 256 for deblurring).
        count: number of crops, ``None`` for all.
        split: ``"train"`` or ``"test"`` (and ``"unlabeled"`` for STL-10).
        **options: for folders ``mode``, ``extensions``, ``allow_gray``, ``convert``
            (:func:`folder_crops`); for Pets ``skip_small`` (:func:`pets_crops`).
    """
    kind, path = parse_source(source)
    _check_options(kind, options)
    _check_split(kind, split)
    if kind == "embedded":
        return embedded_crops(split, size, count)
    if kind == "stl10":
        return stl10_crops(path, split, count, size)
    log.debug("%s source %s: the folder is the %s split", kind, path, split)
    if kind == "pets":
        return pets_crops(path, size, count, **options)
    if kind == "list":
        return list_crops(path, size, count, **options)
    return folder_crops(path, size, count, **options)


def describe_source(
    source: str | Path, size: int, count: int | None = None, split: str = "train", **options: Any
) -> dict[str, Any]:
    """A JSON-ready record of a source for run configs: kind, resolved path, size, count, split,
    options, and how many images the source holds (``n_images``)."""
    kind, path = parse_source(source)
    _check_options(kind, options)
    _check_split(kind, split)
    record: dict[str, Any] = {
        "source": str(source),
        "kind": kind,
        "path": None if path is None else str(path.resolve()),
        "size": int(size),
        "count": None if count is None else int(count),
        "split": split,
        "options": {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in sorted(options.items())},
    }
    if kind == "embedded":
        record["photographs"] = list(EMBEDDED_TRAIN if split == "train" else EMBEDDED_TEST)
        record["n_images"] = len(record["photographs"])
    elif kind == "stl10":
        file, available = stl10_file(path, split)
        record["file"] = str(file.resolve())
        record["n_images"] = available
    elif kind == "pets":
        record["n_images"] = len(image_files(pets_folder(path), PETS_EXTENSIONS))
    elif kind == "list":
        record["files"] = [f.name for f in read_image_list(path)]
        record["n_images"] = len(record["files"])
    else:
        record["n_images"] = len(image_files(path, options.get("extensions", IMAGE_EXTENSIONS)))
    return record


# ----------------------------------------------------------------------------------------------
# Opt-in downloads
# ----------------------------------------------------------------------------------------------

def _open_url(url: str) -> BinaryIO:
    return urllib.request.urlopen(url, timeout=60)  # noqa: S310 (fixed https/http dataset URLs)


def _safe_extract(archive: Path, root: Path) -> None:
    with tarfile.open(archive, "r:*") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, filter="data")
            return
        base = root.resolve()
        for member in tar.getmembers():
            target = (root / member.name).resolve()
            inside = target == base or base in target.parents
            if not inside or not (member.isfile() or member.isdir()):
                raise ValueError(
                    f"{archive} holds the unsafe entry {member.name!r}; delete the archive and download it again"
                )
        tar.extractall(root)


def _download(url: str, root: str | Path, expect: str, keep_archive: bool) -> Path:
    root = Path(root).expanduser()
    target = root / expect
    if target.is_dir() and any(target.iterdir()):
        log.info("%s already exists; nothing downloaded", target)
        return target
    root.mkdir(parents=True, exist_ok=True)
    archive = root / url.rsplit("/", 1)[-1]
    partial = archive.with_name(archive.name + ".part")
    log.info("downloading %s to %s (opt-in; this may take a while)", url, archive)
    with _open_url(url) as response, open(partial, "wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)
    partial.replace(archive)
    log.info("extracting %s into %s", archive, root)
    _safe_extract(archive, root)
    if not keep_archive:
        archive.unlink()
    if not target.is_dir():
        raise FileNotFoundError(f"{archive.name} from {url} did not contain {expect}/; extract it by hand into {root}")
    return target


def download_stl10(root: str | Path, *, keep_archive: bool = False) -> Path:
    """Download and extract STL-10 (about 2.6 GB) from :data:`STL10_URL` into ``root``; returns
    ``root/stl10_binary``. Opt-in only: no loader calls it. Raises ``OSError`` without network."""
    return _download(STL10_URL, root, STL10_DIRNAME, keep_archive)


def download_pets(root: str | Path, *, keep_archive: bool = False) -> Path:
    """Download and extract the Oxford-IIIT Pet images (about 0.8 GB) from :data:`PETS_URL` into
    ``root``; returns ``root/images``. Opt-in only: no loader calls it. Raises ``OSError`` without
    network."""
    return _download(PETS_URL, root, PETS_DIRNAME, keep_archive)
