"""``python -m server hello``: what a running server offers (device, segmenters and whether they are installed)."""

from __future__ import annotations

import argparse
import json

from server.commands.common import add_connection_arguments, curve_keys
from server.commands.errors import CliError

HELP = "ask a running server what it offers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser, required=True)


def run(args: argparse.Namespace) -> int:
    from cutout_common.client import Client, ServerError

    with Client(args.connect, curve=curve_keys(args.curve)) as client:
        try:
            info = client.hello(timeout=args.silence_timeout)
        except ServerError as exc:
            raise CliError(str(exc)) from None
    print(json.dumps({k: v for k, v in info.items() if k not in ("v", "id", "type", "frames")}, indent=2))
    return 0
