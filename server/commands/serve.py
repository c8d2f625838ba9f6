"""``python -m server serve``: the server the GIMP plug-in talks to, until Ctrl+C or SIGTERM."""

from __future__ import annotations

import argparse
from pathlib import Path

from cutout_common.protocol import DEFAULT_ENDPOINT
from server import __version__
from server.commands.common import add_device_argument, add_max_pixels_argument, config_from, device_of
from server.commands.errors import CliError

HELP = "answer cut-out requests over ZeroMQ (for the GIMP plug-in)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint", default=DEFAULT_ENDPOINT, help="ZeroMQ endpoint to bind (tcp://127.0.0.1:* = free port)"
    )
    parser.add_argument("--endpoint-file", type=Path, default=None, help="write the bound endpoint here once serving")
    add_device_argument(parser)
    add_max_pixels_argument(parser)
    parser.add_argument("--queue-size", type=int, default=8, help="requests waiting before the server answers 'busy'")
    parser.add_argument("--workers", type=int, default=1, help="inference threads")
    parser.add_argument("--request-timeout", type=float, default=600.0, help="seconds a request may take")
    parser.add_argument("--preload", default=None, help="comma-separated segmenters to load at start")
    parser.add_argument("--curve", dest="curve_dir", default=None, metavar="DIR", help="require CURVE keys from DIR")
    parser.add_argument("--insecure", action="store_true", help="allow a non-loopback bind without authentication")


def run(args: argparse.Namespace) -> int:
    from server.transport.security import SecurityError
    from server.transport.service import Server, ServerConfig

    device = device_of(args)
    server = Server(config_from(ServerConfig, args, device=device))
    try:
        endpoint = server.bind()
    except SecurityError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:  # zmq.ZMQError: address in use, bad endpoint
        raise CliError(f"cannot bind {args.endpoint}: {exc}") from None
    for name in filter(None, (args.preload or "").split(",")):
        server.models.get(name.strip())
    if args.endpoint_file:
        args.endpoint_file.write_text(endpoint + "\n")
    print(f"Person Cutout server {__version__} on {endpoint} (device {device}); Ctrl+C stops it", flush=True)
    server.install_signal_handlers()
    server.serve_forever()
    return 0
