"""``python -m server bench transport``: what the trip through ``serve`` costs.

A 12 MP RGBA layer goes (a) through a ZeroMQ server on loopback and (b) through
the same pipeline call in-process, first with a no-op segmenter (pure transport
and encoding cost), then with a real one. Figures are ratios against the
in-process run in the same process; the goal is < 1.05 with a real model on CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from models import registry
from models.base import Segmenter
from models.stand_ins import Everyone
from server.bench.timing import median_seconds
from server.pipeline import pixels
from server.pipeline.cutout import run_cutout
from server.pipeline.model_cache import ModelCache


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--megapixels", type=float, default=12.0, help="layer size (default 12 MP, RGBA)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median is printed)")
    parser.add_argument("--segmenter", default=None, help="real segmenter to compare (default: the installed default)")
    parser.add_argument("--device", default="cpu")


def _factory(name: str, device: str, weights: Path | None) -> Segmenter:
    if name == Everyone.name:
        return Everyone(weights or Path("."), device)
    return registry.create(name, device, weights)


def run(args: argparse.Namespace) -> int:
    from cutout_common.client import Client
    from server.transport.service import Server, ServerConfig, result_frames

    width = int(round((args.megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(args.megapixels * 1e6 / width))
    layer = np.random.default_rng(0).integers(0, 256, (height, width, 4), dtype=np.uint8)
    payload = layer.tobytes()
    real = args.segmenter or registry.default_name()
    names = [Everyone.name, real]

    server = Server(
        ServerConfig(endpoint="tcp://127.0.0.1:*", device=args.device, max_pixels=200_000_000),
        factory=_factory,
        names=names,
    )
    endpoint = server.start()
    cache = ModelCache(args.device, factory=_factory)
    print(f"transport benchmark: {width}×{height} RGBA ({width * height / 1e6:.1f} MP, {len(payload) / 1e6:.0f} MB), "
          f"device {args.device}, median of {args.repeat}")
    print(f"{'segmenter':<12} {'in-process s':>13} {'via serve s':>12} {'ratio':>7} {'overhead ms':>12}")
    try:
        with Client(endpoint, deadline=600, silence_timeout=300) as client:
            for name in names:
                def in_process(name=name) -> None:
                    image = pixels.decode(payload, width, height, "RGBA8")
                    result = run_cutout(pixels.to_rgb(image), name, {}, cache)
                    [bytes(data) for _, data in result_frames(result)]

                def via_server(name=name) -> None:
                    client.cutout(payload, width, height, "RGBA8", segmenter=name)

                in_process()  # warm-up: loads the model in both places
                via_server()
                local = median_seconds(in_process, args.repeat)
                remote = median_seconds(via_server, args.repeat)
                print(f"{name:<12} {local:>13.3f} {remote:>12.3f} {remote / local:>7.3f} {(remote - local) * 1000:>12.0f}")
    finally:
        server.close()
    return 0
