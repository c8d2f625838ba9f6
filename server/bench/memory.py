"""``python -m server bench memory``: the memory one large cut-out adds to the server, whole pipeline.

For each photo size (12 and 24 MP) and ``edges`` mode (``off`` and ``fast``), a fresh process set
up as ``python -m server`` (glibc's malloc tuned by :mod:`server.pipeline.allocator`, OpenMP
waiting passively) loads the segmenter (the installed default unless ``--segmenter``), runs one
small cut-out to warm up, then runs the large one the way the server does — the cut-out and
its result as the frames sent back — and prints the rise of its peak resident memory during
that call (Linux resets the peak through ``/proc/self/clear_refs``), with the call's wall and
CPU seconds. The photo is the demo photo enlarged, so the edge band follows a real person's
outline. The goal (issue 20) is under 2 GB added at 24 MP for the default and for ``edges fast``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

from server.bench.models import DEMO, MEMORY_SIZES, REPO

#: the goal for a 24 MP cut-out, in MB (10⁶ bytes)
GOAL_MB = 2000

SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as python -m server does, before torch loads
    sys.path.insert(0, {repo!r})
    from server.pipeline.allocator import keep_freed_memory
    keep_freed_memory()
    import numpy as np
    from PIL import Image
    from server.pipeline.cutout import run_cutout
    from server.pipeline.model_cache import ModelCache
    from server.transport.handler import result_frames

    def status_kb(key):  # /proc/self/status (Linux)
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(key))

    segmenter, edges, width, height = {segmenter!r}, {edges!r}, {width}, {height}
    cache = ModelCache({device!r})
    demo = Image.open({demo!r}).convert("RGB")
    photo = np.asarray(demo.resize((width, height), Image.BILINEAR))
    result_frames(run_cutout(np.asarray(demo), segmenter, {{"edges": edges}}, cache))  # loads and warms up
    del demo
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
    before = status_kb("VmRSS:")
    start, cpu = time.perf_counter(), time.process_time()
    result = run_cutout(photo, segmenter, {{"edges": edges}}, cache)
    frames = result_frames(result)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    peak = status_kb("VmHWM:")
    print(json.dumps({{"segmenter": result.segmenter, "before": before * 1024, "added": (peak - before) * 1024,
                       "seconds": seconds, "cpu": cpu_seconds, "frames": len(frames)}}))
""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--segmenter", default=None, help="segmenter (default: the installed default)")
    parser.add_argument("--edges", default="off,fast", help="comma-separated edges modes (default %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")


def measure(segmenter: str | None, edges: str, size: tuple[int, int], device: str) -> dict:
    """One cut-out of ``size`` in a fresh process: its report (bytes before, bytes added, seconds, CPU seconds)."""
    width, height = size
    script = SCRIPT.format(repo=str(REPO), segmenter=segmenter, edges=edges, width=width, height=height,
                           device=device, demo=str(DEMO))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=1800, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip() or "no output")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> int:
    if not sys.platform.startswith("linux"):
        print("bench memory reads the peak resident size from /proc: Linux only")
        return 1
    print(f"memory benchmark: one cut-out per fresh process, device {args.device}; MB = 10⁶ bytes")
    print(f"{'segmenter':<10} {'edges':<6} {'size':<6} {'before MB':>10} {'added MB':>9} {'s':>7} {'CPU s':>7}")
    verdicts = []
    for edges in args.edges.split(","):
        for label, size in MEMORY_SIZES.items():
            try:
                report = measure(args.segmenter, edges, size, args.device)
            except RuntimeError as exc:
                print(
                    f"{args.segmenter or 'default':<10} {edges:<6} {label:<6} failed: {str(exc).splitlines()[-1][:100]}"
                )
                verdicts.append(False)
                continue
            added = report["added"] / 1e6
            print(f"{report['segmenter']:<10} {edges:<6} {label:<6} {report['before'] / 1e6:>10.0f} {added:>9.0f} "
                  f"{report['seconds']:>7.2f} {report['cpu']:>7.2f}", flush=True)
            if label == "24 MP":
                verdicts.append(added < GOAL_MB)
    print(f"24 MP: goal under {GOAL_MB} MB added — {'met' if verdicts and all(verdicts) else 'NOT met'}")
    return 0
