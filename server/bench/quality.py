"""``python -m server bench quality``: how fast the default cut-out is, and how good, in one run.

    python -m server bench quality [--data DIR] [--limit N] [--threads N] [--device cpu]
                                   [--reference 'NAME:JSON']

Runs the whole default pipeline (the default segmenter with its default options, exactly what
``cutout`` does) and a reference — the bare MediaPipe selfie network with every extra step off,
the model the default has to beat — on the same photos in the same process, and prints per row:
seconds per photo, seconds per megapixel (total time / total megapixels, so tiny photos do not
dominate), CPU seconds per megapixel (the process's CPU time: on a machine shared with other work
it stays near what an idle machine's wall clock would show, times the threads used), the ratio
to the reference, and the quality (IoU, F1, boundary F, MAE) of that same run.
The goal is under 2 s per megapixel on 2 CPU cores (issue 15; it was 1 s for rvm alone). Timings exclude
loading and one warm-up photo.

Photos: ``../shared/data/persons-dev`` (images/ + masks/) unless ``--data`` names another folder.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from server.evaluation import dataset, evaluate

PERSONS_DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "persons-dev"  # ../shared beside the checkout
#: the reference row: MediaPipe's network as mediapipe runs it (no letterbox, flip, zoom or clean-up)
REFERENCE = 'selfie:{"letterbox": false, "flip": false, "zoom": false, "cleanup": false}'
#: the goal for the default pipeline on 2 CPU cores (issue 15: people first within 2 s per megapixel)
GOAL_S_PER_MP = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bench quality`` flags (registered by :mod:`server.commands.main`)."""
    data = os.environ.get("PERSON_CUTOUT_SHARED")
    default_data = Path(data) / "data" / "persons-dev" if data else PERSONS_DEV
    parser.add_argument("--data", type=Path, default=default_data, help="images/ + masks/ (default: persons-dev)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N photos")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    parser.add_argument(
        "--reference", default=REFERENCE, metavar="NAME:JSON", help="the row the others are compared with"
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from models import registry
    from server.commands.errors import CliError

    if args.threads:
        torch.set_num_threads(args.threads)
    name = registry.resolve(None)
    specs = evaluate.parse_models([name, args.reference], {})
    specs[0].label = f"default pipeline ({name})"
    specs[1].label = f"reference: {args.reference}"
    try:
        pairs, _ = dataset.find_pairs(args.data)
        if not pairs:
            raise evaluate.EvalError(f"no photos with masks in {args.data}")
        predictors = evaluate.predictors_for(specs, None, args.device)
        rgb, _, _ = dataset.load_sample(pairs[0])
        for predict in predictors.values():  # warm-up: first-call allocations are not the pipeline's cost
            predict(rgb)
        report = evaluate.evaluate(args.data, specs, limit=args.limit, predictors=predictors, worst=0, progress=True)
    except evaluate.EvalError as exc:
        raise CliError(str(exc)) from None
    print(f"bench quality: {len(pairs[: args.limit] if args.limit else pairs)} photos from {args.data}, "
          f"device {args.device}, {torch.get_num_threads()} torch threads")  # fmt: skip
    print(table(report.summary()))
    default = report.summary()[0]
    verdict = "met" if default["s_per_mp"] is not None and default["s_per_mp"] < GOAL_S_PER_MP else "NOT met"
    print(f"default pipeline: {_fmt(default['s_per_mp'], 3)} s/MP — goal < {GOAL_S_PER_MP:g} s/MP: {verdict}")
    return 0


def table(summary: list[dict]) -> str:
    """Markdown rows: time per photo and per megapixel, ratio to the last row (the reference), quality."""
    reference = summary[-1]
    lines = [
        "| Run | Photos | s/photo | s/MP | CPU s/MP | × reference | IoU | F1 | Boundary F | MAE |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary:
        ratio = row["s_per_mp"] / reference["s_per_mp"] if row["s_per_mp"] and reference["s_per_mp"] else None
        cells = [
            row["model"], str(row["photos"]), _fmt(row["s_per_photo"], 3), _fmt(row["s_per_mp"], 3),
            _fmt(row["cpu_s_per_mp"], 3), _fmt(ratio, 2), _fmt(row["iou"], 3), _fmt(row["f1"], 3),
            _fmt(row["boundary_f"], 3), _fmt(row["mae"], 4),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"
