"""``python -m server bench batch``: photos per second in-process and on a local Ray cluster with 1 and 2 actors.

    python -m server bench batch [--photos N] [--actors 1,2] [--rounds N] [--segmenter NAME]

The same photos are cut out by the same per-photo function (``cut_out_photo``: read, cut out,
write the PNG) in three ways, each into a fresh folder: in this process, then on a local Ray
cluster of this machine's CPUs (started once, before the clocks) with 1 and with 2 actors that
share those CPUs equally (each runs as many torch threads as it reserves CPUs); the three
alternate for ``--rounds`` rounds and each figure is the median. Per row:

* *start s*: until the first B photos (``PHOTOS_PER_BLOCK``, one batch) were written — loading the
  segmenter in-process; starting the actors, which load it, and their first batch on Ray;
* *photos/s*: the steady rate after those, ``(N - B) / (time the last photo was written - time the
  B-th was)``, each photo's time taken where it was written (on Ray by its actor, so the latency of
  results on their way back does not count), and its ratio against the in-process run: the figure
  that matters for a long batch;
* *wall s* for everything; *CPU s/photo*, the CPU time of the process that cut each photo out
  (this one, or its actor), which a machine shared with other work inflates far less than wall time;
  and this process's own CPU seconds on Ray (the driver's share, small: paths and rows only).

Photos: the first N of ``../shared/data/persons-dev``, or the bundled astronaut under N names.
CPU only: on a machine with GPUs, ``cutout --ray`` gives each actor one; this compares CPU sharing.

OpenMP threads wait passively in every row (``OMP_WAIT_POLICY``, set by ``python -m server`` and
passed on to the actors): with torch's default spin-waiting on a machine whose cores are busy with
other work, the loop on this process's main thread took several times longer than the same loop on
any other thread, and Ray Data runs an actor's code on another thread, so the ratio would have
measured that rather than Ray.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from server.bench.timing import timed
from server.commands.cutout import plan
from server.commands.cutout_files import CutoutSettings, cut_out_photo
from server.commands.errors import CliError

REPO = Path(__file__).resolve().parent.parent.parent
PERSONS_DEV = Path(os.environ.get("PERSON_CUTOUT_SHARED", REPO.parent / "shared")) / "data" / "persons-dev"
ASTRONAUT = REPO / "tests" / "data" / "astronaut.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--photos", type=int, default=24, metavar="N", help="photos cut out in each run (default %(default)s)"
    )
    parser.add_argument("--actors", default="1,2", help="actor counts to compare (default %(default)s)")
    parser.add_argument("--segmenter", default=None, help="segmenter (default: the best installed)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every run, alternated (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    try:
        import ray
    except ImportError:
        raise CliError("bench batch needs Ray: python3 install.py --with-ray") from None
    from models import registry
    from server.commands import cutout_ray

    segmenter = registry.resolve(args.segmenter)
    settings = CutoutSettings(segmenter=segmenter, options={"edges": "off"})
    cpus = os.cpu_count() or 1
    shapes = {
        f"ray, {n} actor{'s' if n > 1 else ''}": cutout_ray.ActorShape(actors=n, cpus=cpus / n, gpus=0.0, device="cpu")
        for n in (int(n) for n in args.actors.split(","))
    }
    runs: dict[str, list[tuple[float, ...]]] = {"in-process": [], **{label: [] for label in shapes}}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        photos, where = _photo_folder(Path(scratch) / "photos", args.photos)
        cluster_wall, _ = timed(lambda: cutout_ray.connect("local"))
        try:
            for round_ in range(args.rounds):  # alternated, so a change in the machine's load hits every row alike
                out = Path(scratch) / f"round-{round_}"
                runs["in-process"].append(_in_process(photos, out / "in-process", settings))
                for label, shape in shapes.items():
                    runs[label].append(_on_ray(photos, out / label.replace(", ", "-"), settings, shape))
        finally:
            ray.shutdown()
    print(f"bench batch: {len(photos)} photos ({where}), segmenter {segmenter}, {cpus} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(default)')}; "
          f"the local Ray cluster started in {cluster_wall:.1f} s (not counted); medians of {args.rounds} rounds")
    print(f"{'run':<14} {'start s':>8} {'photos/s':>9} {'vs in-process':>14} {'wall s':>7} {'CPU s/photo':>12} "
          f"{'driver CPU s':>13}   photos/s of each round")
    medians = {
        label: [statistics.median(values) for values in zip(*rounds, strict=True)] for label, rounds in runs.items()
    }
    reference = medians["in-process"][1]
    for label, (start, rate, wall, per_photo, driver) in medians.items():
        driver_text = "-" if label == "in-process" else f"{driver:.1f}"  # in-process, the work is all this process's
        each = ", ".join(f"{r[1]:.2f}" for r in runs[label])
        print(f"{label:<14} {start:>8.1f} {rate:>9.2f} {rate / reference:>14.2f} {wall:>7.1f} {per_photo:>12.2f} "
              f"{driver_text:>13}   {each}")
    return 0


def _photo_folder(folder: Path, count: int) -> tuple[list[tuple[Path, Path]], str]:
    """(photo, output) pairs of ``count`` photos linked into ``folder``, and where they come from."""
    folder.mkdir(parents=True)
    if (PERSONS_DEV / "images").is_dir():
        for source in sorted((PERSONS_DEV / "images").glob("*.jpg"))[:count]:
            (folder / source.name).symlink_to(source.resolve())
        where = "persons-dev"
    else:
        for index in range(count):
            (folder / f"astronaut-{index}.png").symlink_to(ASTRONAUT)
        where = "the bundled astronaut under several names"
    return [(source.absolute(), target) for source, target in plan(folder, folder.parent / "unused")], where


def _retarget(jobs: list[tuple[Path, Path]], out: Path) -> list[tuple[Path, Path]]:
    return [(source, out / target.name) for source, target in jobs]


def _steady(times: list[float], first: int) -> tuple[float, float]:
    """(seconds until photo ``first`` was written, photos per second after it) from each photo's time written."""
    rest = times[-1] - times[first - 1]
    return times[first - 1], (len(times) - first) / rest if rest > 0 else float("nan")


def _in_process(jobs: list[tuple[Path, Path]], out: Path, settings: CutoutSettings) -> tuple[float, ...]:
    """(start s, photos/s, wall s, CPU s per photo, CPU s) of the in-process loop."""
    from server.commands.cutout_ray import PHOTOS_PER_BLOCK
    from server.transport import cutters

    times: list[float] = []
    cpu_per_photo: list[float] = []
    start = time.perf_counter()

    def work() -> None:
        cut = cutters.local("cpu", preload=[settings.segmenter])
        for source, target in _retarget(jobs, out):
            cpu = time.process_time()
            cut_out_photo(source, target, cut, settings)
            cpu_per_photo.append(time.process_time() - cpu)
            times.append(time.perf_counter() - start)

    wall, cpu = timed(work)
    return (*_steady(times, min(PHOTOS_PER_BLOCK, len(times))), wall, sum(cpu_per_photo) / len(times), cpu)


def _on_ray(jobs: list[tuple[Path, Path]], out: Path, settings: CutoutSettings, shape) -> tuple[float, ...]:
    """(start s, photos/s, wall s, the actors' CPU s per photo, this process's CPU s) of one run on the cluster."""
    from server.commands import cutout_ray

    times: list[float] = []
    cpu_per_photo: list[float] = []
    start = time.time()  # the actors' clock: on one machine, the same

    def work() -> None:
        for row in cutout_ray.results(_retarget(jobs, out), settings, shape, overwrite=True):
            if row["status"] != cutout_ray.DONE:
                raise CliError(f"bench batch: {row['source']}: {row['status']} {row['message']}")
            times.append(row["finished_at"] - start)
            cpu_per_photo.append(row["cpu_seconds"])

    wall, cpu = timed(work)
    times.sort()
    return (*_steady(times, min(cutout_ray.PHOTOS_PER_BLOCK, len(times))), wall, sum(cpu_per_photo) / len(times), cpu)
