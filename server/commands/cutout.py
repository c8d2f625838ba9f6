"""``python -m server cutout IN -o OUT``: files or folders, in-process, through a server or on Ray.

Outputs are never half-written: each goes to a temporary file in its folder and is renamed
into place when complete, so an output file that exists is complete. An existing output is
replaced only with ``--overwrite``, and the refusal comes before any photo is cut out; with
``--ray`` (:mod:`server.commands.cutout_ray`) a photo whose outputs all exist is skipped
instead, so an interrupted run resumes. A JPEG output has no transparency, so it is the
cut-out over ``--background`` (white when none is given).

One function, :func:`server.commands.cutout_files.cut_out_photo`, turns a photo file into its
written outputs: the loop here and every Ray actor call it, so both give the same files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from cutout_common.vocabulary import PERSON_CHOICES, parse_person
from server.commands.common import add_connection_arguments, add_device_argument, curve_keys, device_of
from server.commands.cutout_files import CutoutSettings, OutputError, Tally, cut_out_photo, every_output
from server.commands.errors import CliError
from server.pipeline.images import PhotoError, shown_size
from server.transport import cutters

HELP = "cut the person out of photos (a file or a folder)"

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}



def parse_person_argument(text: str) -> str | list[float]:
    """``--person``: ``subjects``, ``all``, ``largest`` or ``X,Y`` (image pixels) as the option ``person`` takes it."""
    if text in PERSON_CHOICES:
        return text
    try:
        point = [float(v) for v in text.split(",")]
    except ValueError:
        point = []
    if len(point) != 2:
        raise ValueError(f"--person must be {', '.join(PERSON_CHOICES)} or X,Y in image pixels, got {text!r}")
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


def settings_from(args: argparse.Namespace) -> CutoutSettings:
    """The settings the flags ask for; a wrong colour or option pair is a ``ValueError`` before any work."""
    options = parse_option_pairs(args.option)
    options["edges"] = args.edges
    if getattr(args, "person", None) is not None:  # the pipeline passes it on under the segmenter's own name for it
        options["person"] = parse_person_argument(args.person)
    if args.comic:
        options["comic"] = args.comic
    if args.background != "transparent":
        from server.pipeline.compositing import parse_colour

        parse_colour(args.background)
    return CutoutSettings(args.segmenter, options, args.background, args.mask, args.comic)


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


Companions = dict[Path, tuple["Path | None", "Path | None"]]


def plan_companions(jobs: list[tuple[Path, Path]], input_path: Path, hints: Path | None,
                    mask_from: Path | None) -> Companions:
    """Per photo, its hints file and mask file (None where it has none), each checked to be the photo's size:
    every refusal before any work.

    For one photo ``--hints``/``--mask-from`` name files (or folders holding ``NAME.png``); for a folder of
    photos, folders holding ``NAME.png`` for photo ``NAME.*``, and a photo without one gets none.
    """
    found: Companions = {}
    for source, _ in jobs:
        pair = tuple(_companion(source, input_path, given, flag) for given, flag in
                     ((hints, "--hints"), (mask_from, "--mask-from")))
        if any(pair):
            try:
                photo_size = shown_size(source)
            except PhotoError:  # the loop reports it skipped, like any unreadable photo
                photo_size = None
            for path in pair:
                size = None if path is None or photo_size is None else shown_size(path)
                if size is not None and size != photo_size:
                    raise ValueError(f"{path} is {'×'.join(map(str, size))}, its photo {source} is "
                                     f"{'×'.join(map(str, photo_size))}")
        found[source] = pair
    return found


def _companion(source: Path, input_path: Path, given: Path | None, flag: str) -> Path | None:
    if given is None:
        return None
    if given.is_dir():
        path = given / f"{source.stem}.png"
        return path if path.is_file() else None
    if input_path.is_dir():
        raise ValueError(f"{flag} {given}: with a folder of photos, {flag} names a folder holding NAME.png per photo")
    if not given.is_file():
        raise FileNotFoundError(f"{flag} {given} does not exist")
    return given


def check_outputs(jobs: list[tuple[Path, Path]], comic: str | None, overwrite: bool) -> None:
    """Refuse unknown output formats, two photos with one output, and existing outputs unless ``overwrite``:
    before any work is done."""
    writers: dict[Path, Path] = {}
    for source, target in jobs:
        if target.suffix.lower() not in Image.registered_extensions():
            raise ValueError(f"{target}: unknown image file suffix {target.suffix!r}; use .png, .jpg, .webp or .tif")
        if target in writers:
            raise ValueError(f"{writers[target].name} and {source.name} would both be written to {target}; rename one")
        writers[target] = source
    if overwrite:
        return
    existing = [path for _, target in jobs for path in every_output(target, comic) if path.exists()]
    if len(existing) == 1:
        raise ValueError(f"{existing[0]} exists already; pass --overwrite to replace it")
    if existing:
        raise ValueError(
            f"{len(existing)} output files exist already (the first: {existing[0]}); pass --overwrite to replace them"
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cutout_common.vocabulary import EDGE_MODES

    parser.add_argument("input", type=Path, help="a photo or a folder of photos")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output file (.png) or folder")
    parser.add_argument("--segmenter", "-s", default=None, help="segmenter name (default: the best installed)")
    parser.add_argument("--background", default="transparent", help="transparent (default), black, white or #rrggbb")
    parser.add_argument("--edges", choices=[c.value for c in EDGE_MODES], default="off", help="edge refinement")
    parser.add_argument("--mask", action="store_true", help="write the soft mask (greyscale) instead of the cut-out")
    parser.add_argument("--comic", default=None, metavar="STYLE", help="also write comic layers STEM.STYLE.LAYER.png")
    parser.add_argument("--person", default=None, metavar="|".join([*PERSON_CHOICES, "X,Y"]),
                        help="which people: the photo's subject(s) (default), everyone the detector finds, the "
                             "largest, or the one standing at pixel X,Y (the default segmenter people, and maskrcnn)")
    parser.add_argument("--hints", type=Path, default=None, metavar="HINTS",
                        help="refine by hand: a hints image the photo's size (white: person, black: not person, "
                             "anything else or transparent: no hint); with a folder of photos, a folder holding "
                             "NAME.png for photo NAME.* (a photo without one gets no hint)")
    parser.add_argument("--mask-from", type=Path, default=None, metavar="MASK",
                        help="start from this mask (greyscale, or a cut-out whose alpha is taken) instead of "
                             "segmenting; with a folder of photos, a folder holding NAME.png (a photo without one "
                             "gets a fresh cut-out)")
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="segmenter option (JSON value)"
    )
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that exist already (with --ray: cut out every photo again)")
    add_connection_arguments(parser)
    add_device_argument(parser, " (in-process, or each Ray actor's)")
    ray = parser.add_argument_group("on a Ray cluster (needs python3 install.py --with-ray)")
    ray.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                     help="cut out on Ray: a cluster's address (auto: the one `ray start` made here), or none for a "
                          "local cluster started for the run; photos whose outputs all exist are skipped (resume)")
    ray.add_argument("--actors", type=int, default=None, metavar="N",
                     help="actors, each holding a loaded segmenter (default: one per GPU; without GPUs, one per "
                          "--actor-cpus CPUs)")
    ray.add_argument("--actor-cpus", type=float, default=None, metavar="N",
                     help="CPUs each actor reserves and runs torch threads on (default: 1 beside a GPU, else up to 4)")


def run(args: argparse.Namespace) -> int:
    from server.transport.security import SecurityError

    try:
        return cut_out_files(args)
    except (FileNotFoundError, ValueError, SecurityError, cutters.CutoutRefused) as exc:
        raise CliError(str(exc)) from None


def cut_out_files(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    jobs = plan(args.input, args.output)
    if getattr(args, "ray", None) is not None:
        if args.connect:
            raise ValueError("--ray and --connect are two ways to run: give one")
        if getattr(args, "hints", None) or getattr(args, "mask_from", None):
            raise ValueError("--hints and --mask-from do not run on Ray yet; run without --ray")
        check_outputs(jobs, args.comic, overwrite=True)  # the suffixes; existing outputs are skipped there
        from server.commands.cutout_ray import cut_out_on_ray

        return cut_out_on_ray(jobs, settings, args)
    check_outputs(jobs, args.comic, getattr(args, "overwrite", False))
    try:
        companions = plan_companions(jobs, args.input, getattr(args, "hints", None), getattr(args, "mask_from", None))
    except PhotoError as exc:
        raise ValueError(str(exc)) from None
    if args.connect:
        cut = cutters.remote(args.connect, curve_keys(args.curve), args.silence_timeout)
    else:
        cut = cutters.local(device_of(args))

    from tqdm import tqdm

    tally = Tally(len(jobs), skipped=0)  # without --ray an existing output is refused above, never skipped
    bar = tqdm(jobs, unit="photo", disable=len(jobs) < 2, file=sys.stderr)
    for source, target in bar:
        bar.set_postfix_str(source.name)
        try:
            result = cut_out_photo(source, target, cut, settings, *companions[source])
        except PhotoError as exc:
            bar.write(f"failed: {exc}", file=sys.stderr)
            tally.failed += 1
            continue
        except OutputError as exc:  # a full or read-only disk fails every photo alike: stop
            raise ValueError(str(exc)) from None
        tally.done += 1
        if not args.input.is_dir():
            note = f" ({result.info['fallback']})" if "fallback" in result.info else ""
            print(f"{source} -> {target} [segmenter {result.segmenter}]{note}")
    if args.input.is_dir():
        print(tally.line())
    return 1 if tally.failed else 0
