"""``python -m server bench matting``: edge refinement's accuracy, time and memory, against closed-form matting.

Everything on composites with a known alpha (``server/evaluation/composites.py``: a persons-dev person
with a synthetic hair fringe over another persons-dev photo's inpainted background), so the errors are
real errors. Three kinds (``--kinds``): ``hair``, the segmenter's mask simulated as the truth seen at 256
pixels; ``holes``, the same with background also seen through the subject (holes and gaps of several
sizes near the outline); ``hard-holes``, that composite with the hard mask a ``--mask-from`` user gives.

1. Accuracy at about 1 MP on ``--composites`` photos of each kind, in the trimap's unknown band: SAD,
   MSE and gradient error of the given mask, ``fast``, ``best`` and the reference —
   pymatting's closed-form matting (``estimate_alpha_cf``) on the whole photo with the same
   trimap — each also as a ratio to the reference (below 1 is better), and on how many composites
   ``best``'s SAD is above ``fast``'s.
2. Time and peak memory at 1, 4, 12 and 24 MP for ``fast`` and ``best`` (and the reference
   where it fits, ``--reference-mp``): each run in a fresh process, after a warm-up that
   compiles pymatting's numba code, so the figures are refinement's own. Memory is the
   process's peak resident size minus its size with the inputs loaded (Linux ``VmHWM``).
   Time ratios are against the reference's seconds per megapixel in this run; CPU seconds
   and the load average are printed beside, since the machine may be shared.
   The default run is the whole table the issue asks for and takes about 25 minutes on 2
   shared cores: ``best`` at 24 MP alone took 878 s (load 4–6, 1.6 GB extra). ``--best-mp 4``
   times ``best`` only up to 4 MP (a few minutes); ``--sizes`` picks the sizes.

Needs persons-dev (``../shared/data/persons-dev``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]  # the checkout: server/bench/ is two levels down
PERSONS_DEV = REPO.parent / "shared" / "data" / "persons-dev"
SIZES_MP = (1, 4, 12, 24)
#: fast's goal on 2 CPU cores (issue 6)
FAST_GOAL_S_PER_MP = 0.3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--composites", type=int, default=4, help="composites of each kind for the accuracy table "
                        "(default %(default)s)")
    parser.add_argument("--kinds", default=None, help="composite kinds for the accuracy table, comma-separated "
                        "(default: every kind, hair,holes,hard-holes)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES_MP)), help="megapixels for time/memory "
                        "(default %(default)s)")
    parser.add_argument("--reference-mp", type=float, default=4, help="time the reference up to this size "
                        "(default %(default)s)")
    parser.add_argument("--methods", default="fast,best", help="methods to time (default %(default)s)")
    parser.add_argument("--best-mp", type=float, default=24, help="time best up to this size; 4 for a quick run "
                        "(default %(default)s)")
    parser.add_argument("--no-accuracy", action="store_true", help="skip the accuracy table")
    parser.add_argument("--data", type=Path, default=PERSONS_DEV, help="persons-dev folder")


def run(args: argparse.Namespace) -> None:
    from server.evaluation import composites

    if not (args.data / "images").is_dir():
        raise SystemExit(f"bench matting needs the persons-dev photos at {args.data}")
    print(f"edge refinement vs pymatting closed-form matting (reference), persons-dev composites from {args.data}\n")
    kinds = args.kinds.split(",") if args.kinds else list(composites.KINDS)
    if unknown := [k for k in kinds if k not in composites.KINDS]:
        raise SystemExit(f"unknown composite kind(s) {', '.join(unknown)}: the kinds are {', '.join(composites.KINDS)}")
    if not args.no_accuracy:
        for kind in kinds:
            accuracy(composites.dataset(args.data, count=args.composites, long_side=1155, kind=kind), kind)
            print()
    speed(args, composites)


def accuracy(items: list, kind: str) -> None:
    """Band SAD / MSE / gradient error per method, mean over the composites, and ratios to the reference."""
    from pymatting import estimate_alpha_cf

    from server.evaluation import metrics
    from server.pipeline import edges

    given = "hard mask" if kind == "hard-holes" else "segmenter mask"
    rows: dict[str, list[np.ndarray]] = {given: [], "fast": [], "best": [], "closed-form (ref)": []}
    for c in items:
        tri = edges.trimap(c.mask)
        band = tri == 0.5
        results = {
            given: c.mask,
            "fast": edges.matte_edges(c.image, c.mask, "fast")[0],
            "best": edges.matte_edges(c.image, c.mask, "best")[0],
            "closed-form (ref)": estimate_alpha_cf(c.image / 255.0, tri.astype(np.float64)),
        }
        for name, alpha in results.items():
            rows[name].append(np.array([metrics.sad(alpha, c.alpha, band), metrics.mse(alpha, c.alpha, band),
                                        metrics.gradient_error(alpha, c.alpha, band)]))
    ref = np.mean(rows["closed-form (ref)"], axis=0)
    h, w = items[0].mask.shape
    worse = sum(b[0] > f[0] for b, f in zip(rows["best"], rows["fast"], strict=True))
    print(f"{kind}: alpha error in the unknown band, mean of {len(items)} composites at {w}×{h} "
          f"(best's SAD above fast's on {worse}):")
    print(f"  {'method':18s} {'SAD':>8s} {'MSE':>8s} {'grad':>8s}   ratio to reference (SAD / MSE / grad)")
    for name, values in rows.items():
        m = np.mean(values, axis=0)
        ratio = " / ".join(f"{v / r:.2f}" for v, r in zip(m, ref, strict=True))
        print(f"  {name:18s} {m[0]:8.3f} {m[1]:8.4f} {m[2]:8.3f}   {ratio}")


def speed(args: argparse.Namespace, composites) -> None:
    """Seconds and peak extra memory per size and method, each in a fresh process."""
    load_pair, stems = composites.load_pair, composites.stems
    sizes = [float(s) for s in args.sizes.split(",") if s]
    rgb, mask = load_pair(args.data, stems(args.data)[0])
    other, other_mask = load_pair(args.data, stems(args.data)[40 % len(stems(args.data))])
    background = composites.inpainted_background(other, other_mask, (other.shape[1], other.shape[0]))
    print("time and peak extra memory (fresh process each):")
    print(f"  {'size':>7s} {'method':18s} {'seconds':>8s} {'s/MP':>6s} {'vs ref':>7s} {'CPU s/MP':>8s} "
          f"{'extra MB':>9s} "
          f"{'band %':>7s} {'load':>5s}")
    ref_per_mp: float | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for mp in sizes:
            scale = np.sqrt(mp * 1e6 / mask.size)
            c = composites.make(rgb, mask, background, seed=0, long_side=round(max(mask.shape) * scale))
            np.save(Path(tmp) / "image.npy", c.image)
            np.save(Path(tmp) / "mask.npy", c.mask)
            megapixels = c.mask.size / 1e6
            methods = [m for m in args.methods.split(",") if m != "best" or mp <= args.best_mp]
            methods += ["reference"] if mp <= args.reference_mp else []
            for method in reversed(methods):  # the reference first, so ratios are known
                figures = _measure(Path(tmp), method)
                per_mp = figures["seconds"] / megapixels
                if method == "reference":
                    ref_per_mp = per_mp
                ratio = f"{per_mp / ref_per_mp:7.2f}" if ref_per_mp else f"{'-':>7s}"
                name = "closed-form (ref)" if method == "reference" else method
                print(f"  {megapixels:5.1f}MP {name:18s} {figures['seconds']:8.2f} {per_mp:6.2f} {ratio} "
                      f"{figures['cpu'] / megapixels:8.2f} {figures['extra_mb']:9.0f} {100 * figures['band']:6.1f}% "
                      f"{os.getloadavg()[0]:5.1f}", flush=True)
    print(f"\nfast goal: under {FAST_GOAL_S_PER_MP} s/MP on 2 CPU cores; 'vs ref' is against the closed-form "
          "reference's"
          " s/MP at the largest size it ran (or the same size); CPU s/MP is the process's CPU time (all threads), an"
          " upper bound of the wall time on an idle machine; load is the 1-minute load average after the run")


CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from server.pipeline import edges

def rss_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

method = sys.argv[3]
image = np.load(sys.argv[2] + "/image.npy")
mask = np.load(sys.argv[2] + "/mask.npy")
tri = edges.trimap(mask)
band = float(np.mean(tri == 0.5))
# warm-up on a small crop around the band: numba compiles pymatting's kernels once
ys, xs = np.nonzero(tri == 0.5)
y, x = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
crop = (slice(max(y - 64, 0), y + 64), slice(max(x - 64, 0), x + 64))
if method == "reference":
    from pymatting import estimate_alpha_cf
    estimate_alpha_cf(image[crop] / 255.0, tri[crop].astype(np.float64))
else:
    edges.matte_edges(image[crop], mask[crop], method)
del tri
try:  # reset the peak so it is refinement's own (Linux >= 4.0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
base = rss_kb("VmRSS:")
start, cpu = time.perf_counter(), time.process_time()
if method == "reference":
    estimate_alpha_cf(image / 255.0, edges.trimap(mask).astype(np.float64))
else:
    edges.matte_edges(image, mask, method)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
extra_mb = (rss_kb("VmHWM:") - base) / 1024
print(json.dumps({"seconds": seconds, "cpu": cpu, "extra_mb": extra_mb, "band": band}))
"""


def _measure(folder: Path, method: str) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(REPO), str(folder), method], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{method} failed after {time.perf_counter() - started:.0f} s: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
