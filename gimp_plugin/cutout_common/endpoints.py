"""ZeroMQ endpoints read the way ZeroMQ reads them, for both ends: where a server binds, where a client connects.

The server refuses to bind anything reachable from other machines without keys
(``server/transport/security.py``); the GIMP plug-in starts a server only for the local
endpoint it was configured with, and tells the user at once when an endpoint it was given
cannot be one. Both read endpoints here, so they agree on what "local" means. Standard
library only (part of :mod:`cutout_common`, which runs in GIMP's own Python).
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

#: the only tcp endpoint form read here: ZeroMQ's own ``tcp://HOST:PORT``, nothing around it. ZeroMQ also
#: accepts source-address forms (``SRC;DEST``) and reads a port such as ``5555@127.0.0.1`` as 5555, while a
#: URL parser reads 127.0.0.1 as the host: such forms are not parsed.
_TCP = re.compile(r"tcp://(?P<host>\[[0-9A-Fa-f:.%\w]+\]|[\w.*-]+):(?P<port>\*|\d{1,5})")


class Endpoint(NamedTuple):
    """An endpoint as ZeroMQ will use it. ``host``/``port`` only for tcp; ``ipv6``: needs ZMQ_IPV6."""

    scheme: str
    host: str | None
    port: str | None
    local: bool
    ipv6: bool = False


def parse_endpoint(endpoint: str) -> Endpoint:
    """Read ``endpoint`` exactly as ZeroMQ binds it; ``ValueError`` for a form that is not read unambiguously.

    tcp hosts: an IPv4 literal, an IPv6 literal in brackets, ``localhost`` (loopback), ``*`` (every
    interface) or an interface name (reachable from that interface's network, so never local; a name
    that only looks like an address, such as ``127.1``, is taken for one). Ports: a number or ``*``.
    ``ipc://`` and ``inproc://`` stay on this machine; other transports are not local.
    """
    scheme, separator, _ = endpoint.partition("://")
    if not separator:
        raise ValueError(f"{endpoint!r} is not a ZeroMQ endpoint (transport://address)")
    if scheme in ("ipc", "inproc"):
        return Endpoint(scheme, None, None, local=True)
    if scheme != "tcp":
        return Endpoint(scheme, None, None, local=False)
    match = _TCP.fullmatch(endpoint)
    if match is None or int(match["port"] if match["port"] != "*" else 0) > 65535:
        raise ValueError(f"{endpoint!r} is not of the form tcp://HOST:PORT (source-address forms are not accepted)")
    host = match["host"]
    if host.startswith("["):
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"{endpoint!r}: {host} is not an IPv6 address") from None
        # an IPv4-mapped address is loopback or not depending on the Python version: not worth the doubt
        local = address.ipv4_mapped is None and address.is_loopback
        return Endpoint("tcp", host[1:-1], match["port"], local=local, ipv6=True)
    if host == "localhost":
        return Endpoint("tcp", host, match["port"], local=True)
    try:
        local = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        local = False  # '*', an interface name, or something the resolver may read as an address
    return Endpoint("tcp", host, match["port"], local=local)


def is_local_endpoint(endpoint: str) -> bool:
    """True for ipc://, inproc:// and tcp:// on a loopback address, read as ZeroMQ reads it."""
    try:
        return parse_endpoint(endpoint).local
    except ValueError:
        return False


def parse_connect(endpoint: str) -> Endpoint:
    """An endpoint a client can connect to: ``tcp://HOST:PORT`` with a real host and port number, or ``ipc://PATH``.

    ``ValueError`` otherwise — before any socket is made, so a typing mistake (``localhost:5555``,
    ``tcp://127.0.0.1``, ``tcp://*:5555``) is reported as such instead of as a ZeroMQ error or a
    silent server.
    """
    text = endpoint.strip()
    if "://" not in text:
        raise ValueError(f"{endpoint!r} has no transport: write tcp://HOST:PORT")
    parsed = parse_endpoint(text)
    if parsed.scheme == "ipc":
        if not text[len("ipc://"):]:
            raise ValueError(f"{endpoint!r} names no socket file")
        return parsed
    if parsed.scheme != "tcp":
        raise ValueError(
            f"{endpoint!r}: the server is reached over tcp:// (or ipc:// on this machine), not {parsed.scheme}://"
        )
    if parsed.host == "*" or parsed.port == "*" or int(parsed.port or 0) == 0:
        raise ValueError(f"{endpoint!r} names no single server: give a host name or address and a port number")
    return parsed
