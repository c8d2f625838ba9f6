"""What several commands ask the same way: the device, CURVE keys, a server to connect to, configs from flags."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

from cutout_common.protocol import DEFAULT_ENDPOINT, DEFAULT_MAX_PIXELS, SILENCE_SECONDS
from server.commands.errors import CliError

Config = TypeVar("Config")


def add_device_argument(parser: argparse.ArgumentParser, note: str = "") -> None:
    parser.add_argument("--device", default="auto", help=f"auto (CUDA, else MPS, else CPU), cpu, cuda or mps{note}")


def device_of(args: argparse.Namespace) -> str:
    """The torch device the flags ask for; an absent accelerator is an error, not a silent CPU run."""
    from server.pipeline.devices import resolve

    try:
        return resolve(args.device)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def add_max_pixels_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="largest image accepted (width × height)"
    )


def add_connection_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """``--connect`` (a server or broker; in-process when absent unless ``required``), ``--curve``,
    ``--silence-timeout``."""
    if required:
        parser.add_argument(
            "--connect", default=DEFAULT_ENDPOINT, metavar="ENDPOINT", help="the server (default %(default)s)"
        )
    else:
        parser.add_argument(
            "--connect", default=None, metavar="ENDPOINT", help="use a running server instead of in-process"
        )
    parser.add_argument(
        "--curve", default=None, metavar="DIR", help="CURVE key folder for --connect (python -m server keys)"
    )
    parser.add_argument("--silence-timeout", type=float, default=SILENCE_SECONDS, metavar="SECONDS",
                        help="with --connect: give up when the server says nothing this long (default %(default)s)")


def curve_keys(folder: str | None, kind: str = "client") -> tuple[bytes, bytes, bytes] | None:
    """The key triple for a CURVE connection from ``folder`` (None without one), as ``kind`` (client or worker)."""
    if not folder:
        return None
    from server.transport.security import SecurityError, client_keys, worker_keys

    try:
        return (client_keys if kind == "client" else worker_keys)(folder)
    except SecurityError as exc:
        raise CliError(str(exc)) from None


def config_from(cls: type[Config], args: argparse.Namespace, **given: Any) -> Config:
    """A config dataclass from the flags whose names are its fields, ``given`` values first."""
    names = {field.name for field in dataclasses.fields(cls)}
    values = {name: getattr(args, name) for name in names if hasattr(args, name)}
    return cls(**{**values, **given})
