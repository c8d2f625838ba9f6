"""Photo files in and out, for the CLI and ``eval``: one place that reads a photo as its viewer shows it.

Reading: the photo as 8-bit RGB, turned as its EXIF orientation says (a phone's portrait
JPEG is stored sideways), with 16-bit and floating-point images scaled to 8 bits rather
than clipped (Pillow's ``convert("RGB")`` clips a 16-bit greyscale PNG to white), and
decompression bombs refused in one line before any pixel is decoded.

Writing: to a temporary file in the target's folder, renamed over the target only once
complete, so a failed write never leaves a truncated picture where a good one was.
"""

from __future__ import annotations

import os
import re
import uuid
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from cutout_common.protocol import HINT_NONE, HINT_NOT_PERSON, HINT_PERSON

#: Pillow modes of one 16-bit channel (PNG and TIFF greyscale)
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


class PhotoError(ValueError):
    """A file that is not a photo this reader accepts; the message is one line."""


def read_photo(path: Path | str, orient: bool = True) -> np.ndarray:
    """``path`` as an H×W×3 uint8 RGB array, as shown by a viewer (``orient=False``: as stored)."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                if orient:
                    image = ImageOps.exif_transpose(image)
                return to_rgb8(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PhotoError(
                f"{path}: {_size_of(path)} is more than this reader decodes "
                f"({(Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} MP): refused as a possible decompression bomb"
            ) from None
        except OSError as exc:
            raise PhotoError(f"{path}: not a readable image ({exc})") from None


def shown_size(path: Path | str) -> tuple[int, int]:
    """(width, height) of an image as :func:`read_photo` returns it (EXIF orientation applied), from its header."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            turned = image.getexif().get(ORIENTATION_TAG, 1) in (5, 6, 7, 8)  # a quarter turn, with or without a flip
    except OSError as exc:
        raise PhotoError(f"{path}: not a readable image ({exc})") from None
    return (height, width) if turned else (width, height)


#: the EXIF tag of the orientation
ORIENTATION_TAG = 0x0112


def read_grey(path: Path | str, use_alpha: bool) -> np.ndarray:
    """An H×W uint8 plane of an image file (orientation applied like a photo's): its alpha channel when it has one
    and ``use_alpha`` (a cut-out PNG given as a mask), else its grey values."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if use_alpha and ("A" in image.getbands() or "transparency" in image.info):
                return np.asarray(image.convert("RGBA"))[:, :, 3].copy()
            if image.mode in SIXTEEN_BIT or image.mode in ("I", "F"):
                return to_rgb8(image)[:, :, 0].copy()
            return np.asarray(image.convert("L")).copy()
    except OSError as exc:
        raise PhotoError(f"{path}: not a readable image ({exc})") from None


def read_hints(path: Path | str, no_hint: int = HINT_NONE) -> np.ndarray:
    """A hints image as the pipeline takes it (H×W uint8: 255 person, 0 not person, else no hint).

    White and black are the hints; transparent pixels (alpha below half) and every other grey are no
    hint, so a Hints layer exported from GIMP with its transparency reads as painted.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            has_alpha = "A" in image.getbands() or "transparency" in image.info
            rgba = np.asarray(image.convert("RGBA"))
    except OSError as exc:
        raise PhotoError(f"{path}: not a readable image ({exc})") from None
    colour = rgba[:, :, :3]
    hints = np.full(rgba.shape[:2], no_hint, np.uint8)
    hints[np.all(colour == 255, axis=2)] = HINT_PERSON
    hints[np.all(colour == 0, axis=2)] = HINT_NOT_PERSON
    if has_alpha:
        hints[rgba[:, :, 3] < 128] = no_hint
    return hints


def to_rgb8(image: Image.Image) -> np.ndarray:
    """H×W×3 uint8 of any Pillow image; 16-bit and 32-bit integer values are taken as 0…65535, floats as 0…1."""
    if image.mode in SIXTEEN_BIT or image.mode == "I":
        values = np.asarray(image).astype(np.float32) / 257.0
    elif image.mode == "F":
        values = np.asarray(image, dtype=np.float32) * 255.0
    else:
        return np.asarray(image.convert("RGB"))
    grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def _size_of(path: Path) -> str:
    """``W×H`` as the file's header declares it, read without Pillow's size check.

    Pillow's check is a module setting, lifted here for the few microseconds of reading a
    header (no pixel is decoded) of a file already refused; the CLI and ``eval`` open photos
    from one thread.
    """
    limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None
        with warnings.catch_warnings(), Image.open(path) as image:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return f"{image.width}×{image.height}"
    except Exception:
        return "its size"
    finally:
        Image.MAX_IMAGE_PIXELS = limit


#: hex digits of the random tag in a temporary file's name: ``.NAME.TAG.part``
TEMPORARY_TAG = 12
#: zlib's fastest level for PNG outputs: the same pixels in a somewhat larger file, written several times
#: faster than at Pillow's default (6), which dominated a large cut-out's wall time (README, *Speed*)
PNG_COMPRESS_LEVEL = 1


def save_image(image: Image.Image, target: Path | str) -> None:
    """Write ``image`` to ``target`` (format from its suffix) through a temporary file in the same folder.

    The temporary file is created by Pillow like any output (so it gets the usual permissions),
    under a hidden name no other writer uses, and renamed over ``target`` in one step. A PNG is
    compressed at :data:`PNG_COMPRESS_LEVEL`.
    """
    target = Path(target)
    fmt = Image.registered_extensions().get(target.suffix.lower())
    if fmt is None:
        raise PhotoError(f"{target}: unknown image file suffix {target.suffix!r}")
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:TEMPORARY_TAG]}.part")
    try:
        image.save(temporary, format=fmt, **({"compress_level": PNG_COMPRESS_LEVEL} if fmt == "PNG" else {}))
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_leftovers(targets: Iterable[Path | str]) -> int:
    """Delete the temporary files :func:`save_image` left for ``targets`` when its process was killed mid-write.

    Only for a moment when nothing writes these targets (before or after a batch run): a temporary
    file of a writer still at work would go with them. Returns how many were removed.
    """
    wanted: dict[Path, set[str]] = {}
    for target in targets:
        target = Path(target)
        wanted.setdefault(target.parent, set()).add(target.name)
    pattern = re.compile(rf"\.(?P<name>.+)\.[0-9a-f]{{{TEMPORARY_TAG}}}\.part")
    removed = 0
    for folder, names in wanted.items():
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            if match and match["name"] in names:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
    return removed
