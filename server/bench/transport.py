"""``python -m server bench transport``: what the trip through ``serve`` costs.

A 12 MP RGBA layer (the bundled astronaut photo enlarged, so the default finds her and joins the helmet she
holds, as on a real photo; ``--photo`` names another) goes (a) through a ZeroMQ server on loopback and (b) through
the same
pipeline call in-process — decoding the pixel frame, the cut-out, and its result as the
uint8 frames a client uses — first with a no-op segmenter (pure transport and encoding cost),
then with a real one, asked as the GIMP plug-in asks for its default output (a layer mask:
``foreground`` off, so the mask alone comes back), then for the whole result (mask and
foreground colours, 48 MB back at 12 MP). The server has its own ZeroMQ context, as in its own
process. The client takes the frames as views of ZeroMQ's buffers, as a numpy caller does;
neither side copies a pixel frame.

The two run alternately, ``--repeat`` pairs, the order swapped every pair, so a neighbour's
load on a shared machine hits both alike; each pair gives a ratio, and the median ratio is
printed with the pairs' spread, in wall time and in this process's CPU time (the server runs
on threads of this process, so its work and ZeroMQ's are counted). The goals, with a real model on the CPU: a
ratio ≤ 1.05, and the plug-in's request (the mask) answered through the server within 3 s.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import zmq

from models import registry
from models.base import Segmenter
from models.stand_ins import Everyone
from server.bench.timing import timed
from server.pipeline import pixels
from server.pipeline.cutout import run_cutout
from server.pipeline.model_cache import ModelCache

#: the goals for a real segmenter: the trip through the server within 5 % of the in-process call, and a 12 MP
#: layer's mask back within this many seconds
GOAL_RATIO = 1.05
GOAL_SECONDS = 3.0
PHOTO = Path(__file__).resolve().parents[2] / "tests" / "data" / "astronaut.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--megapixels", type=float, default=12.0, help="layer size (default 12 MP, RGBA)")
    parser.add_argument("--repeat", type=int, default=5, help="pairs of runs per segmenter (default %(default)s)")
    parser.add_argument("--segmenter", default=None, help="real segmenter to compare (default: the installed default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--photo", type=Path, default=PHOTO, help="the photo enlarged to the layer (default: the "
                        "bundled astronaut)")


def _factory(name: str, device: str, weights: Path | None) -> Segmenter:
    if name == Everyone.name:
        return Everyone(weights or Path("."), device)
    return registry.create(name, device, weights)


def run(args: argparse.Namespace) -> int:
    from cutout_common.client import Client
    from server.transport.handler import result_frames
    from server.transport.service import Server, ServerConfig

    layer = photo_layer(args.photo, args.megapixels)
    height, width = layer.shape[:2]
    payload = layer.data  # sent from the array's own memory
    real = registry.resolve(args.segmenter)
    names = [Everyone.name, real]
    #: (label, segmenter, options): the plug-in's default request first, the one the goal is about
    runs = [(Everyone.name, Everyone.name, {}), (f"{real} mask", real, {"foreground": False}),
            (f"{real} all", real, {})]

    server_context = zmq.Context()  # its own I/O thread, as a server in its own process has
    server = Server(
        ServerConfig(endpoint="tcp://127.0.0.1:*", device=args.device, max_pixels=200_000_000),
        factory=_factory,
        names=names,
        context=server_context,
    )
    endpoint = server.start()
    cache = ModelCache(args.device, factory=_factory, names=names)
    print(f"transport benchmark: {width}×{height} RGBA ({width * height / 1e6:.1f} MP, {layer.nbytes / 1e6:.0f} MB), "
          f"device {args.device}, {args.repeat} alternating pairs; medians, ratio spread min–max")
    print(f"{'request':<14} {'in-process s':>13} {'via serve s':>12} {'ratio':>6} {'spread':>12} "
          f"{'CPU in s':>9} {'CPU via s':>10} {'CPU ratio':>10}")
    verdicts, seconds = {}, {}
    try:
        with Client(endpoint, deadline=600, silence_timeout=300, copy_frames=False) as client:
            for label, name, options in runs:
                def in_process(name=name, options=options) -> None:
                    image = pixels.decode(payload, width, height, "RGBA8")
                    result = run_cutout(pixels.to_rgb(image), name, options, cache)
                    result_frames(result)  # the uint8 frames the server would send

                def via_server(name=name, options=options) -> None:
                    reply = client.cutout(payload, width, height, "RGBA8", segmenter=name, options=options)
                    [np.frombuffer(data, np.uint8) for data in reply.frames.values()]  # the same frames, in place

                in_process()  # warm-up: loads the model in both places
                via_server()
                local, remote = [], []
                for pair in range(args.repeat):
                    first, second = (in_process, via_server) if pair % 2 == 0 else (via_server, in_process)
                    times = {first: timed(first), second: timed(second)}
                    local.append(times[in_process])
                    remote.append(times[via_server])
                wall_ratios = [r[0] / max(loc[0], 1e-9) for loc, r in zip(local, remote, strict=True)]
                cpu_ratios = [r[1] / max(loc[1], 1e-9) for loc, r in zip(local, remote, strict=True)]
                ratio = statistics.median(wall_ratios)
                print(
                    f"{label:<14} {statistics.median(w for w, _ in local):>13.3f} "
                    f"{statistics.median(w for w, _ in remote):>12.3f} {ratio:>6.3f} "
                    f"{min(wall_ratios):>5.3f}–{max(wall_ratios):<6.3f} "
                    f"{statistics.median(c for _, c in local):>9.3f} {statistics.median(c for _, c in remote):>10.3f} "
                    f"{statistics.median(cpu_ratios):>10.3f}",
                    flush=True,
                )
                if name == real:
                    verdicts[label] = ratio
                    seconds[label] = statistics.median(w for w, _ in remote)
    finally:
        server.close()
        server_context.term()
    for label, ratio in verdicts.items():
        print(f"{label} through the server: {ratio:.3f}× the in-process call — goal ≤ {GOAL_RATIO}: "
              f"{'met' if ratio <= GOAL_RATIO else 'NOT met'}; {seconds[label]:.2f} s"
              + (f" — goal ≤ {GOAL_SECONDS:g} s: {'met' if seconds[label] <= GOAL_SECONDS else 'NOT met'}"
                 if label.endswith(" mask") else ""))
    return 0


def photo_layer(path: Path, megapixels: float) -> np.ndarray:
    """``path`` enlarged (or shrunk) to about ``megapixels``, its proportions kept, as an opaque RGBA layer."""
    import cv2

    from server.pipeline.images import read_photo

    rgb = read_photo(path)
    scale = (megapixels * 1e6 / (rgb.shape[0] * rgb.shape[1])) ** 0.5
    width, height = round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)
    rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(np.dstack([rgb, np.full((height, width), 255, np.uint8)]))
