"""``python -m server keys DIR``: CURVE key pairs and allow-lists, for serving beyond loopback."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write CURVE key pairs and allow-lists for non-loopback serving"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path)


def run(args: argparse.Namespace) -> int:
    from server.transport.security import generate_keys

    paths = generate_keys(args.directory)
    print(f"server key pair: {paths['server']} (+ _secret)")
    print(f"client key pair: {paths['client']} (+ _secret) — copy both to the client machine")
    print(f"allowed clients: {paths['allowed']}/*.key")
    print(f"worker key pair: {paths['worker']} (+ _secret) — for 'python -m server worker --curve DIR'")
    print(f"allowed workers: {paths['workers']}/*.key")
    print(f"serve with: python -m server serve --endpoint tcp://0.0.0.0:5555 --curve {args.directory}")
    return 0
