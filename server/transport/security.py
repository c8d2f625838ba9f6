"""Who may talk to the server: loopback by default, CURVE keys for anything else.

pyzmq's own ``zmq.auth`` does the work (key files, ZAP allow-list); this module
only decides when it is required and where the files live.

Key folder layout (``python -m server keys DIR``)::

    DIR/server.key, DIR/server.key_secret   the server's key pair
    DIR/client.key, DIR/client.key_secret   one client's key pair (give it to the GIMP machine)
    DIR/allowed/*.key                       public keys of the clients allowed in
"""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import zmq


class SecurityError(RuntimeError):
    pass


def is_local_endpoint(endpoint: str) -> bool:
    """True for ipc://, inproc:// and tcp:// on a loopback address."""
    scheme = endpoint.split("://", 1)[0]
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp":
        return False
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # '*', an interface name or a hostname: reachable from elsewhere


def check_bind(endpoint: str, insecure: bool, curve_dir: str | None) -> None:
    """Refuse a non-loopback bind unless CURVE keys are configured or ``--insecure`` was given."""
    if is_local_endpoint(endpoint) or insecure:
        return
    if curve_dir is None:
        raise SecurityError(
            f"refusing to bind {endpoint}: it is reachable from other machines. "
            "Create keys with 'python -m server keys DIR' and pass --curve DIR, "
            "or pass --insecure to serve without authentication"
        )
    if not (Path(curve_dir) / "server.key_secret").is_file():
        raise SecurityError(f"no server.key_secret in {curve_dir}; run: python -m server keys {curve_dir}")


def generate_keys(directory: Path) -> dict[str, Path]:
    """Write a server key pair, one client key pair and an allow-list holding that client."""
    from zmq.auth import create_certificates

    directory = Path(directory)
    allowed = directory / "allowed"
    allowed.mkdir(parents=True, exist_ok=True)
    server_public, server_secret = create_certificates(str(directory), "server")
    client_public, client_secret = create_certificates(str(directory), "client")
    shutil.copy(client_public, allowed / "client.key")
    for secret in (server_secret, client_secret):
        Path(secret).chmod(0o600)
    return {"server": Path(server_public), "client": Path(client_public), "allowed": allowed}


def configure_curve(context: zmq.Context, socket: zmq.Socket, curve_dir: str):
    """Make ``socket`` a CURVE server that admits only the public keys in ``curve_dir/allowed``."""
    from zmq.auth import load_certificate
    from zmq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain="*", location=str(Path(curve_dir) / "allowed"))
    public, secret = load_certificate(str(Path(curve_dir) / "server.key_secret"))
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
    return auth


def client_keys(curve_dir: str) -> tuple[bytes, bytes, bytes]:
    """(client public, client secret, server public) for :class:`cutout_common.client.Client`."""
    from zmq.auth import load_certificate

    client_public, client_secret = load_certificate(str(Path(curve_dir) / "client.key_secret"))
    server_public, _ = load_certificate(str(Path(curve_dir) / "server.key"))
    return client_public, client_secret, server_public
