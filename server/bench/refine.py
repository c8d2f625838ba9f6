"""``python -m server bench refine``: how long refine by hand takes on a 2 MP photo, against a plain cut-out.

    python -m server bench refine [--data DIR] [--photos N] [--clicks N] [--megapixels MP] [--threads N]

Persons-dev photos (evenly spread over the set) are scaled to ``--megapixels`` (2 by default, the
issue's size) with their true masks. On each, in the same process and with the same loaded models:

* the **reference**: the plain cut-out with the default segmenter (``run_cutout``, what ``cutout`` does);
* the **refines**: ``--clicks`` simulated clicks (:mod:`server.evaluation.clicks`), each refining the
  previous mask with every hint so far exactly as *Refine Cut-out…* asks the server (option ``mask:
  alpha`` with the mask as 8-bit alpha, option ``hints``), so the figure is the request's whole work.

Printed per photo and overall: median wall and CPU seconds (this process) of one refine and of the
reference, the ratio refine / reference (the machine's load cancels out), and the goal: a refine
under 2 s on 2 CPU cores (issue 16). Timings exclude loading and a warm-up cut-out.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import cv2
import numpy as np

PERSONS_DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "persons-dev"  # ../shared beside the checkout
#: the goal for one refine of a 2 MP photo on 2 CPU cores (issue 16)
GOAL_SECONDS = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data = os.environ.get("PERSON_CUTOUT_SHARED")
    default_data = Path(data) / "data" / "persons-dev" if data else PERSONS_DEV
    parser.add_argument("--data", type=Path, default=default_data, help="images/ + masks/ (default: persons-dev)")
    parser.add_argument(
        "--photos", type=int, default=4, metavar="N", help="photos, evenly spread (default %(default)s)"
    )
    parser.add_argument("--clicks", type=int, default=3, metavar="N", help="refines per photo (default %(default)s)")
    parser.add_argument("--megapixels", type=float, default=2.0, metavar="MP", help="photo size (default %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--segmenter", default=None, help="segmenter (default: the default one)")


def run(args: argparse.Namespace) -> int:
    import torch

    from server.bench.timing import timed_result
    from server.commands.errors import CliError
    from server.evaluation import clicks as simulator
    from server.evaluation.dataset import find_pairs, load_sample
    from server.pipeline.cutout import run_cutout
    from server.pipeline.model_cache import ModelCache
    from server.pipeline.pixels import alpha_to_gray8

    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.data / "images").is_dir():
        raise CliError(f"bench refine needs photos with masks at {args.data} (images/ and masks/)")
    pairs, _ = find_pairs(args.data)
    chosen = [pairs[round(i * (len(pairs) - 1) / max(1, args.photos - 1))] for i in range(min(args.photos, len(pairs)))]
    models = ModelCache("cpu")
    options = {"foreground": False}
    print(f"refine by hand at {args.megapixels:g} MP, {len(chosen)} persons-dev photos, {args.clicks} clicks each; "
          f"torch threads {torch.get_num_threads()}, CPUs {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
    print(f"  {'photo':12s} {'size':>10s} {'refine s':>9s} {'CPU s':>6s} {'cut-out s':>9s} {'CPU s':>6s} {'ratio':>6s}")
    all_refines: list[tuple[float, float]] = []
    all_references: list[tuple[float, float]] = []
    warmed = False
    for pair in chosen:
        rgb, truth, _ = load_sample(pair)
        rgb, truth = _scaled(rgb, truth, args.megapixels)
        if not warmed:  # loads the models and runs each code path once
            run_cutout(rgb, args.segmenter, options, models)
            warmed = True
        initial, seconds = timed_result(run_cutout, rgb, args.segmenter, options, models)
        refines: list[tuple[float, float]] = []

        def refine(rgb: np.ndarray, alpha: np.ndarray, hints: np.ndarray, refines: list = refines) -> np.ndarray:
            request = {**options, "mask": "alpha", "hints": True}
            result, took = timed_result(run_cutout, rgb, args.segmenter, request, models,
                                  given_alpha=alpha_to_gray8(alpha), hints=hints)
            refines.append(took)
            return result.alpha

        simulator.simulate(rgb, truth, initial.alpha, refine, args.clicks)
        if not refines:
            print(f"  {pair.stem:12s} the cut-out is already perfect: no click")
            continue
        wall, cpu = statistics.median(r[0] for r in refines), statistics.median(r[1] for r in refines)
        height, width = truth.shape
        print(f"  {pair.stem:12s} {width:>4d}×{height:<5d} {wall:9.2f} {cpu:6.2f} {seconds[0]:9.2f} {seconds[1]:6.2f} "
              f"{wall / seconds[0]:6.2f}")
        all_refines += refines
        all_references.append(seconds)
    if not all_refines:
        return 0
    wall = statistics.median(r[0] for r in all_refines)
    cpu = statistics.median(r[1] for r in all_refines)
    reference_wall = statistics.median(r[0] for r in all_references)
    slowest = max(r[0] for r in all_refines)
    print(f"\none refine (median of {len(all_refines)}): {wall:.2f} s wall, {cpu:.2f} s CPU; slowest {slowest:.2f} s; "
          f"{wall / reference_wall:.2f}× the plain cut-out ({reference_wall:.2f} s)")
    print(f"goal: under {GOAL_SECONDS:g} s on 2 CPU cores — {'met' if slowest < GOAL_SECONDS else 'not met'} "
          f"by the slowest refine in this run")
    return 0


def _scaled(rgb: np.ndarray, truth: np.ndarray, megapixels: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo and its truth scaled to about ``megapixels`` (cubic for the photo, nearest for the truth)."""
    scale = float(np.sqrt(megapixels * 1e6 / truth.size))
    size = (round(truth.shape[1] * scale), round(truth.shape[0] * scale))
    photo = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
    mask = cv2.resize(truth.astype(np.float32), size, interpolation=cv2.INTER_NEAREST)
    return photo, mask
