"""``python -m server cutout IN -o OUT``: files or folders, in-process or through a server.

Outputs are never half-written: each goes to a temporary file in its folder and is renamed
into place when complete. An existing output is replaced only with ``--overwrite``, and the
refusal comes before any photo is cut out. A JPEG output has no transparency, so it is the
cut-out over ``--background`` (white when none is given).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from server.commands.common import add_connection_arguments, add_device_argument, curve_keys, device_of
from server.commands.errors import CliError
from server.pipeline import pixels
from server.pipeline.cutout import CutoutResult, composite
from server.pipeline.images import PhotoError, read_photo, save_image
from server.transport import cutters

HELP = "cut the person out of photos (a file or a folder)"

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
#: output formats without an alpha channel: the cut-out is flattened over a background
OPAQUE_FORMATS = {"JPEG"}


def parse_option_pairs(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; VALUE is JSON when it parses (``flip=false``), else a string."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--option needs KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def plan(input_path: Path, output: Path, suffix: str = ".png") -> list[tuple[Path, Path]]:
    """(photo, output file) pairs: one file, or every photo in a folder into a folder."""
    if not input_path.exists():
        raise FileNotFoundError(f"{input_path} does not exist")
    if input_path.is_file():
        target = output / (input_path.stem + suffix) if output.is_dir() else output
        return [(input_path, target)]
    photos = sorted(p for p in input_path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise FileNotFoundError(f"no photos ({', '.join(sorted(IMAGE_SUFFIXES))}) in {input_path}")
    if output.exists() and not output.is_dir():
        raise ValueError(f"{output} is a file; a folder of photos needs an output folder")
    return [(p, output / (p.stem + suffix)) for p in photos]


def outputs_of(target: Path, comic: str | None, layer_names: list[str]) -> list[Path]:
    """Every file one photo's cut-out writes: the picture and, with ``comic``, one PNG per layer."""
    return [target, *(target.with_name(f"{target.stem}.{comic}.{_slug(name)}.png") for name in layer_names)]


def check_outputs(jobs: list[tuple[Path, Path]], comic: str | None, overwrite: bool) -> None:
    """Refuse unknown output formats, and existing outputs unless ``overwrite``: before any work is done."""
    for _, target in jobs:
        if target.suffix.lower() not in Image.registered_extensions():
            raise ValueError(f"{target}: unknown image file suffix {target.suffix!r}; use .png, .jpg, .webp or .tif")
    if overwrite:
        return
    layers = _comic_layer_names(comic) if comic else []
    existing = [path for _, target in jobs for path in outputs_of(target, comic, layers) if path.exists()]
    if len(existing) == 1:
        raise ValueError(f"{existing[0]} exists already; pass --overwrite to replace it")
    if existing:
        raise ValueError(f"{len(existing)} output files exist already (the first: {existing[0]}); pass --overwrite to replace them")


def _comic_layer_names(style: str) -> list[str]:
    from cutout_common.comic_styles import STYLES

    spec = STYLES.get(style)
    return list(spec.layers) if spec is not None else []


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cutout_common.vocabulary import EDGE_MODES

    parser.add_argument("input", type=Path, help="a photo or a folder of photos")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output file (.png) or folder")
    parser.add_argument("--segmenter", "-s", default=None, help="segmenter name (default: the best installed)")
    parser.add_argument("--background", default="transparent", help="transparent (default), black, white or #rrggbb")
    parser.add_argument("--edges", choices=[c.value for c in EDGE_MODES], default="off", help="edge refinement")
    parser.add_argument("--mask", action="store_true", help="write the soft mask (greyscale) instead of the cut-out")
    parser.add_argument("--comic", default=None, metavar="STYLE", help="also write comic layers STEM.STYLE.LAYER.png")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="segmenter option (JSON value)")
    parser.add_argument("--overwrite", action="store_true", help="replace output files that exist already")
    add_connection_arguments(parser)
    add_device_argument(parser, " (in-process only)")


def run(args: argparse.Namespace) -> int:
    from server.transport.security import SecurityError

    try:
        return cut_out_files(args)
    except (FileNotFoundError, ValueError, SecurityError, cutters.CutoutRefused) as exc:
        raise CliError(str(exc)) from None


def cut_out_files(args: argparse.Namespace) -> int:
    options = parse_option_pairs(args.option)
    options["edges"] = args.edges
    if args.comic:
        options["comic"] = args.comic
    jobs = plan(args.input, args.output)
    check_outputs(jobs, args.comic, getattr(args, "overwrite", False))
    if args.background != "transparent":
        from server.pipeline.cutout import parse_colour

        parse_colour(args.background)  # fail before any work
    if args.connect:
        cut = cutters.remote(args.connect, curve_keys(args.curve), args.silence_timeout)
    else:
        cut = cutters.local(device_of(args))

    from tqdm import tqdm

    failures = 0
    bar = tqdm(jobs, unit="photo", disable=len(jobs) < 2, file=sys.stderr)
    for source, target in bar:
        bar.set_postfix_str(source.name)
        try:
            rgb = read_photo(source)
        except PhotoError as exc:
            print(f"skipped {exc}", file=sys.stderr)
            failures += 1
            continue
        result = cut(rgb, args.segmenter, options)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _write(target, rgb, result, args)
        except OSError as exc:  # a full or read-only disk fails every photo alike: stop
            raise ValueError(f"could not write {target}: {exc}") from None
        if len(jobs) == 1:
            note = f" ({result.info['fallback']})" if "fallback" in result.info else ""
            print(f"{source} -> {target} [segmenter {result.segmenter}]{note}")
    if failures:
        print(f"{failures} of {len(jobs)} photo(s) skipped", file=sys.stderr)
    return 1 if failures == len(jobs) else 0


def _write(target: Path, rgb: np.ndarray, result: CutoutResult, args: argparse.Namespace) -> None:
    if args.mask:
        picture = Image.fromarray(pixels.alpha_to_gray8(result.alpha), "L")
    else:
        background = args.background
        if background == "transparent" and Image.registered_extensions()[target.suffix.lower()] in OPAQUE_FORMATS:
            background = "white"
        out = composite(rgb, result.alpha, result.foreground, background)
        picture = Image.fromarray(out, "RGBA" if out.shape[2] == 4 else "RGB")
    save_image(picture, target)
    for path, layer in zip(outputs_of(target, args.comic, list(result.layers))[1:], result.layers.values(), strict=True):
        save_image(Image.fromarray(layer, "RGBA"), path)


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")
