"""One photo file in, its output files out: what every way of running ``cutout`` shares.

:func:`cut_out_photo` reads a photo, cuts the person out with whatever cutter it is given (this
process, a server, a Ray actor's) and writes the picture and its comic layers, so the in-process
loop of :mod:`server.commands.cutout` and the actors of :mod:`server.commands.cutout_ray` write
the same files. Each file goes to a temporary file in its folder and is renamed into place when
complete (:func:`server.pipeline.images.save_image`), so an output file that exists is complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from server.pipeline import pixels
from server.pipeline.compositing import composite
from server.pipeline.cutout import CutoutResult
from server.pipeline.images import PhotoError, read_grey, read_hints, read_photo, save_image
from server.transport.cutters import Cutter

#: output formats without an alpha channel: the cut-out is flattened over a background
OPAQUE_FORMATS = {"JPEG"}


@dataclass(frozen=True)
class CutoutSettings:
    """What every photo of a run becomes: the same for the in-process loop and a Ray actor (it is pickled to them)."""

    segmenter: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # the pipeline's and the segmenter's options
    background: str = "transparent"
    mask: bool = False
    comic: str | None = None


class Tally:
    """What became of each photo of a run, for its closing line and its exit code (the same with and without Ray)."""

    def __init__(self, total: int, skipped: int) -> None:
        self.total, self.skipped, self.done, self.failed = total, skipped, 0, 0

    def line(self) -> str:
        return (f"{self.done} done, {self.skipped} skipped (already complete), {self.failed} failed, "
                f"of {self.total} photo(s)")


class OutputError(OSError):
    """An output file could not be written (full or read-only disk); the message names it."""


def cut_out_photo(
    source: Path,
    target: Path,
    cut: Cutter,
    settings: CutoutSettings,
    hints: Path | None = None,
    mask_from: Path | None = None,
) -> CutoutResult:
    """Read ``source``, cut the person out, write ``target`` and its comic layers, each atomically.

    ``hints`` (a hints image: white person, black not, anything else or transparent no hint) redoes the
    mask where they contradict it; ``mask_from`` (a mask, or a cut-out whose alpha is taken) is the mask
    to start from instead of segmenting. Raises :class:`~server.pipeline.images.PhotoError` for a file
    that is not a readable image or one of another size than the photo, :class:`OutputError` when writing
    fails, ``CutoutRefused`` for what every photo would meet.
    """
    rgb = read_photo(source)
    hint_plane = None if hints is None else read_hints(hints)
    mask = None if mask_from is None else read_grey(mask_from, use_alpha=True)
    for path, plane in ((hints, hint_plane), (mask_from, mask)):
        if plane is not None and plane.shape != rgb.shape[:2]:
            raise PhotoError(f"{path} is {plane.shape[1]}×{plane.shape[0]}, its photo {source.name} "
                             f"{rgb.shape[1]}×{rgb.shape[0]}")
    given = {key: value for key, value in (("mask", mask), ("hints", hint_plane)) if value is not None}
    result = cut(rgb, settings.segmenter, settings.options, **given)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write(target, rgb, result, settings)
    except OSError as exc:
        raise OutputError(f"could not write {target}: {exc}") from None
    return result


def outputs_of(target: Path, comic: str | None, layer_names: list[str]) -> list[Path]:
    """Every file one photo's cut-out writes: the picture and, with ``comic``, one PNG per layer."""
    return [target, *(target.with_name(f"{target.stem}.{comic}.{_slug(name)}.png") for name in layer_names)]


def every_output(target: Path, comic: str | None) -> list[Path]:
    """Every file the photo whose picture is ``target`` gets: the picture, and its comic layers with ``comic``."""
    return outputs_of(target, comic, _comic_layer_names(comic) if comic else [])


def is_complete(target: Path, comic: str | None) -> bool:
    """Whether every output of one photo exists; each was renamed into place whole, so existing means complete."""
    return all(path.exists() for path in every_output(target, comic))


def _comic_layer_names(style: str) -> list[str]:
    from cutout_common.comic_styles import STYLES

    spec = STYLES.get(style)
    return list(spec.layers) if spec is not None else []


def _write(target: Path, rgb: np.ndarray, result: CutoutResult, settings: CutoutSettings) -> None:
    if settings.mask:
        picture = Image.fromarray(pixels.alpha_to_gray8(result.alpha), "L")
    else:
        background = settings.background
        if background == "transparent" and Image.registered_extensions()[target.suffix.lower()] in OPAQUE_FORMATS:
            background = "white"
        out = composite(rgb, result.alpha, result.foreground, background)
        picture = Image.fromarray(out, "RGBA" if out.shape[2] == 4 else "RGB")
    save_image(picture, target)
    for path, layer in zip(
        outputs_of(target, settings.comic, list(result.layers))[1:], result.layers.values(), strict=True
    ):
        save_image(Image.fromarray(layer, "RGBA"), path)


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")
