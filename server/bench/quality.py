"""``python -m server bench quality``: how fast the default cut-out is, and how good, in one run.

    python -m server bench quality [--data DIR ...] [--limit N] [--threads N] [--device cpu]
                                   [--reference 'NAME:JSON']

Runs the whole default pipeline (the default segmenter with its default options, exactly what
``cutout`` does) and a reference — the bare MediaPipe selfie network with every extra step off,
the model the default has to beat — on the same photos in the same process, and prints per row:
seconds per photo, seconds per megapixel (total time / total megapixels, so tiny photos do not
dominate), CPU seconds per megapixel (the process's CPU time: on a machine shared with other work
it stays near what an idle machine's wall clock would show, times the threads used), the ratio
to the reference, and the quality (IoU, F1, boundary F, MAE) of that same run.
The goals, on 2 CPU cores: the median photo within 1 s, and under 2 s per megapixel. Timings exclude loading and
one warm-up photo.

Photos: ``../shared/data/persons-dev`` and ``../shared/data/ccp-dev`` (images/ + masks/, each set on its own
rows) unless ``--data`` names other folders.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from server.evaluation import dataset, evaluate

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the checkout
SETS = ("persons-dev", "ccp-dev")
#: the reference row: MediaPipe's network as mediapipe runs it (no letterbox, flip, zoom or clean-up)
REFERENCE = 'selfie:{"letterbox": false, "flip": false, "zoom": false, "cleanup": false}'
#: the goals for the default pipeline on 2 CPU cores: the median photo, and per megapixel
GOAL_S_PER_PHOTO = 1.0
GOAL_S_PER_MP = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bench quality`` flags (registered by :mod:`server.commands.main`)."""
    shared = os.environ.get("PERSON_CUTOUT_SHARED")
    data = Path(shared) / "data" if shared else SHARED_DATA
    parser.add_argument("--data", type=Path, nargs="+", default=[data / name for name in SETS],
                        help="folders of images/ + masks/, each measured on its own (default: persons-dev, ccp-dev)")
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
    predictors = None
    for data in args.data:
        try:
            pairs, _ = dataset.find_pairs(data)
            if not pairs:
                raise evaluate.EvalError(f"no photos with masks in {data}")
            if predictors is None:
                predictors = evaluate.predictors_for(specs, None, args.device)
            rgb, _, _ = dataset.load_sample(pairs[0])
            for predict in predictors.values():  # warm-up: first-call allocations are not the pipeline's cost
                predict(rgb)
            report = evaluate.evaluate(data, specs, limit=args.limit, predictors=predictors, worst=0, progress=True)
        except evaluate.EvalError as exc:
            raise CliError(str(exc)) from None
        print(f"bench quality: {len(pairs[: args.limit] if args.limit else pairs)} photos from {data}, "
              f"device {args.device}, {torch.get_num_threads()} torch threads")  # fmt: skip
        summary = with_medians(report)
        print(table(summary))
        default = summary[0]
        per_photo = "met" if default["median_s"] is not None and default["median_s"] <= GOAL_S_PER_PHOTO else "NOT met"
        per_mp = "met" if default["s_per_mp"] is not None and default["s_per_mp"] < GOAL_S_PER_MP else "NOT met"
        print(f"default pipeline: median {_fmt(default['median_s'], 3)} s/photo — goal ≤ {GOAL_S_PER_PHOTO:g} s: "
              f"{per_photo}; {_fmt(default['s_per_mp'], 3)} s/MP — goal < {GOAL_S_PER_MP:g} s/MP: {per_mp}\n")
    return 0


def with_medians(report: evaluate.Report) -> list[dict]:
    """The report's summary rows, each with the median seconds per photo (``median_s``) of its own photos."""
    import numpy as np

    rows = report.summary()
    for row in rows:
        seconds = [r.seconds for r in report.results if r.model == row["model"]]
        row["median_s"] = float(np.median(seconds)) if seconds else None
    return rows


def table(summary: list[dict]) -> str:
    """Markdown rows: time per photo and per megapixel, ratio to the last row (the reference), quality."""
    reference = summary[-1]
    lines = [
        "| Run | Photos | median s/photo | s/photo | s/MP | CPU s/MP | × reference | IoU | F1 | Boundary F | MAE |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary:
        ratio = row["s_per_mp"] / reference["s_per_mp"] if row["s_per_mp"] and reference["s_per_mp"] else None
        cells = [
            row["model"], str(row["photos"]), _fmt(row.get("median_s"), 3), _fmt(row["s_per_photo"], 3),
            _fmt(row["s_per_mp"], 3),
            _fmt(row["cpu_s_per_mp"], 3), _fmt(ratio, 2), _fmt(row["iou"], 3), _fmt(row["f1"], 3),
            _fmt(row["boundary_f"], 3), _fmt(row["mae"], 4),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"
