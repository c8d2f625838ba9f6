"""``python -m server broker``: one endpoint for clients in front of many workers (see server/transport/broker.py)."""

from __future__ import annotations

import argparse
import signal

from cutout_common.protocol import DEFAULT_ENDPOINT
from server.commands.common import add_max_pixels_argument, config_from
from server.commands.errors import CliError

HELP = "load-balancing broker: clients in front, workers behind"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from server.transport.broker import DEFAULT_BACKEND

    parser.add_argument("--frontend", default=DEFAULT_ENDPOINT, help="endpoint clients connect to")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, help="endpoint workers connect to")
    parser.add_argument("--heartbeat", type=float, default=1.0, help="seconds between heartbeats")
    parser.add_argument("--queue-size", type=int, default=64)
    parser.add_argument("--request-timeout", type=float, default=600.0)
    add_max_pixels_argument(parser)
    parser.add_argument("--curve", dest="curve_dir", default=None, metavar="DIR",
                        help="CURVE keys (python -m server keys DIR): clients from DIR/allowed, "
                             "workers from DIR/workers")
    parser.add_argument("--insecure", action="store_true")


def run(args: argparse.Namespace) -> int:
    import zmq

    from server.transport.broker import Broker, BrokerConfig
    from server.transport.security import SecurityError

    broker = Broker(config_from(BrokerConfig, args))
    try:
        front, back = broker.bind()
    except (SecurityError, zmq.ZMQError) as exc:
        raise CliError(str(exc)) from None
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: broker.stop())
    print(f"Person Cutout broker: clients on {front}, workers on {back}", flush=True)
    broker.serve_forever()
    return 0
