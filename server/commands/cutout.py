"""``python -m server cutout IN -o OUT``: files or folders, in-process or through a server."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cutout_common.vocabulary import PERSON_CHOICES, parse_person
from server.pipeline import pixels
from server.pipeline.cutout import CutoutResult, composite

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
#: segmenters whose option for ``--person`` has another name (Mask R-CNN's predates the option ``person``)
PERSON_OPTION = {"maskrcnn": "selection"}


def parse_person_argument(text: str) -> str | list[float]:
    """``--person``: ``all``, ``largest`` or ``X,Y`` (image pixels) as the option ``person`` takes it."""
    if text in PERSON_CHOICES:
        return text
    try:
        point = [float(v) for v in text.split(",")]
    except ValueError:
        point = []
    if len(point) != 2:
        raise ValueError(f"--person must be all, largest or X,Y in image pixels, got {text!r}")
    return parse_person(point)


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


def run_cutout_command(args: argparse.Namespace) -> int:
    options = parse_option_pairs(args.option)
    options["edges"] = args.edges
    if getattr(args, "person", None) is not None:
        options[PERSON_OPTION.get(args.segmenter, "person")] = parse_person_argument(args.person)
    if args.comic:
        options["comic"] = args.comic
    jobs = plan(args.input, args.output)
    if args.background != "transparent":
        from server.pipeline.cutout import parse_colour

        parse_colour(args.background)  # fail before any work
    cut = _remote_cutter(args.connect) if args.connect else _local_cutter(args.device)

    from tqdm import tqdm

    failures = 0
    bar = tqdm(jobs, unit="photo", disable=len(jobs) < 2, file=sys.stderr)
    for source, target in bar:
        bar.set_postfix_str(source.name)
        try:
            rgb = np.asarray(Image.open(source).convert("RGB"))
        except OSError as exc:
            print(f"skipped {source}: not a readable image ({exc})", file=sys.stderr)
            failures += 1
            continue
        result = cut(rgb, args.segmenter, options)
        target.parent.mkdir(parents=True, exist_ok=True)
        if args.mask:
            Image.fromarray(pixels.alpha_to_gray8(result.alpha), "L").save(target)
        else:
            out = composite(rgb, result.alpha, result.foreground, args.background)
            Image.fromarray(out, "RGBA" if out.shape[2] == 4 else "RGB").save(target)
        for name, layer in result.layers.items():
            Image.fromarray(layer, "RGBA").save(target.with_name(f"{target.stem}.{args.comic}.{_slug(name)}.png"))
        if len(jobs) == 1:
            note = f" ({result.info['fallback']})" if "fallback" in result.info else ""
            print(f"{source} -> {target} [segmenter {result.segmenter}]{note}")
    if failures:
        print(f"{failures} of {len(jobs)} photo(s) skipped", file=sys.stderr)
    return 1 if failures == len(jobs) else 0


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def _local_cutter(device: str):
    from models.base import OptionError, WeightsMissingError
    from models.registry import UnknownSegmenterError
    from server.commands.errors import CliError
    from server.pipeline.cutout import run_cutout
    from server.pipeline.devices import resolve
    from server.pipeline.model_cache import ModelCache

    cache = ModelCache(resolve(device))

    def cut(rgb: np.ndarray, segmenter: str | None, options: dict[str, Any]) -> CutoutResult:
        try:
            return run_cutout(rgb, segmenter, options, cache)
        except (WeightsMissingError, UnknownSegmenterError, OptionError) as exc:
            raise CliError(str(exc)) from None

    return cut


def _remote_cutter(endpoint: str):
    from cutout_common.client import Client, ServerError
    from server.commands.errors import CliError

    client = Client(endpoint)

    def cut(rgb: np.ndarray, segmenter: str | None, options: dict[str, Any]) -> CutoutResult:
        height, width = rgb.shape[:2]
        try:
            reply = client.cutout(np.ascontiguousarray(rgb).data, width, height, "RGB8", segmenter=segmenter, options=options)
        except ServerError as exc:
            raise CliError(str(exc)) from None
        return result_from_reply(reply, width, height)

    return cut


def result_from_reply(reply, width: int, height: int) -> CutoutResult:
    """Numpy arrays back from a ``result`` reply's named frames."""
    frames = reply.frames
    alpha = np.frombuffer(frames["mask"], np.uint8).reshape(height, width).astype(np.float32) / 255.0
    foreground = None
    if "foreground" in frames:
        foreground = np.frombuffer(frames["foreground"], np.uint8).reshape(height, width, 3).astype(np.float32) / 255.0
    parts = {
        name[5:]: np.frombuffer(data, np.uint8).reshape(height, width).astype(np.float32) / 255.0
        for name, data in frames.items()
        if name.startswith("part:")
    }
    layers = {
        name[6:]: np.frombuffer(data, np.uint8).reshape(height, width, 4).copy()
        for name, data in frames.items()
        if name.startswith("layer:")
    }
    return CutoutResult(
        segmenter=reply.header.get("segmenter", ""),
        alpha=alpha,
        foreground=foreground,
        parts=parts,
        layers=layers,
        info=reply.header.get("info", {}),
    )
