"""``python -m server bench startup``: a cold command-line cut-out against a cold ``import torch``, in one run.

    python -m server bench startup [--rounds N] [--photo PHOTO] [--device cpu]

Each round starts two fresh Python processes, in alternating order: ``python -c "import torch"``, the
floor every cut-out stands on, and ``python -m server cutout PHOTO -o OUT`` with the default segmenter
(the bundled astronaut unless ``--photo``): everything a user waits for, from the interpreter's start
to the file written. Printed: the median wall and CPU seconds of each (CPU: of the child process, which
a busy machine inflates less than the wall clock) and the ratio of the medians (the goal: the cut-out
within :data:`GOAL_RATIO` × ``import torch``).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ASTRONAUT = REPO / "tests" / "data" / "astronaut.png"
#: the goal: a cold cut-out of the astronaut within this many times a cold ``import torch`` (issue 26)
GOAL_RATIO = 2.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=5, help="pairs of cold starts (default %(default)s)")
    parser.add_argument("--photo", type=Path, default=ASTRONAUT, help="the photo to cut out (default: the astronaut)")
    parser.add_argument("--device", default="cpu", help="the cut-out's --device (default cpu)")


def run(args: argparse.Namespace) -> int:
    from server.commands.errors import CliError

    if args.rounds < 1:
        raise CliError("--rounds must be at least 1")
    with tempfile.TemporaryDirectory(prefix="person-cutout-startup-") as folder:
        commands = {
            "import torch": [sys.executable, "-c", "import torch"],
            "cutout": [sys.executable, "-m", "server", "cutout", str(args.photo), "-o", str(Path(folder) / "out.png"),
                       "--overwrite", "--device", args.device],
        }
        times: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
        print(f"cold starts: {args.rounds} alternating pairs, {args.photo.name}, device {args.device}", flush=True)
        for round_number in range(args.rounds):
            order = list(commands) if round_number % 2 == 0 else list(commands)[::-1]
            for label in order:
                times[label].append(_cold_run(commands[label]))
    wall = {label: statistics.median(w for w, _ in runs) for label, runs in times.items()}
    cpu = {label: statistics.median(c for _, c in runs) for label, runs in times.items()}
    for label in commands:
        print(f"{label:<13} wall {wall[label]:6.2f} s (min {min(w for w, _ in times[label]):.2f})   "
              f"CPU {cpu[label]:6.2f} s")
    ratio = wall["cutout"] / wall["import torch"]
    verdict = "within" if ratio <= GOAL_RATIO else "ABOVE"
    print(f"cold CLI cut-out / import torch: {ratio:.2f}× wall ({cpu['cutout'] / cpu['import torch']:.2f}× CPU); "
          f"{verdict} the goal of {GOAL_RATIO}×")
    return 0


def _cold_run(command: list[str]) -> tuple[float, float]:
    """(wall, CPU seconds) of ``command`` in a fresh process, run from the checkout as a user would."""
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}  # as python -m server sets
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        from server.commands.errors import CliError

        raise CliError(f"{' '.join(command[1:3])} failed: {result.stderr.strip().splitlines()[-1:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
