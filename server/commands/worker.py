"""``python -m server worker --connect BACKEND``: serve a broker's requests on this machine."""

from __future__ import annotations

import argparse
import signal
import threading

from server.commands.common import add_device_argument, add_max_pixels_argument, curve_keys, device_of

HELP = "a worker that serves requests from a broker"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from server.transport.broker import DEFAULT_BACKEND

    parser.add_argument("--connect", default=DEFAULT_BACKEND, help="the broker's backend endpoint")
    add_device_argument(parser)
    parser.add_argument("--heartbeat", type=float, default=1.0)
    add_max_pixels_argument(parser)
    parser.add_argument("--curve", dest="curve_dir", default=None, metavar="DIR",
                        help="CURVE key folder (python -m server keys DIR): this worker's key pair and the "
                             "broker's key")


def run(args: argparse.Namespace) -> int:
    from server.transport.worker import run_worker

    curve = curve_keys(args.curve_dir, "worker")
    device = device_of(args)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"Person Cutout worker serving the broker at {args.connect}", flush=True)
    run_worker(
        args.connect, device=device, heartbeat=args.heartbeat, stop=stop, curve=curve, max_pixels=args.max_pixels
    )
    return 0
