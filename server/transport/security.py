"""Who may talk to the server: loopback by default, CURVE keys for anything else.

pyzmq's own ``zmq.auth`` does the work (key files, ZAP allow-list); this module
only decides when it is required and where the files live.

Key folder layout (``python -m server keys DIR``)::

    DIR/server.key, DIR/server.key_secret   the server's (or broker's) key pair
    DIR/client.key, DIR/client.key_secret   one client's key pair (give it to the GIMP machine)
    DIR/allowed/*.key                       public keys of the clients allowed in
    DIR/worker.key, DIR/worker.key_secret   one worker's key pair (give it to a GPU machine)
    DIR/workers/*.key                       public keys of the workers a broker accepts
"""

from __future__ import annotations

import itertools
import shutil
import threading
from pathlib import Path

import zmq

from cutout_common.endpoints import Endpoint, is_local_endpoint, parse_endpoint  # noqa: F401  (read by both ends)


class SecurityError(RuntimeError):
    pass


def check_bind(endpoint: str, insecure: bool, curve_dir: str | None) -> None:
    """Refuse a bind that may be reachable from other machines unless CURVE keys or ``--insecure`` are given."""
    try:
        local = parse_endpoint(endpoint).local
        why = "it is reachable from other machines"
    except ValueError as exc:
        local, why = False, f"it cannot be checked: {exc}"
    if local or insecure:
        return
    if curve_dir is None:
        raise SecurityError(
            f"refusing to bind {endpoint}: {why}. "
            "Create keys with 'python -m server keys DIR' and pass --curve DIR, "
            "or pass --insecure to serve without authentication"
        )
    if not (Path(curve_dir) / "server.key_secret").is_file():
        raise SecurityError(f"no server.key_secret in {curve_dir}; run: python -m server keys {curve_dir}")


def bind(sock: zmq.Socket, endpoint: str) -> str:
    """Bind ``sock`` (IPv6 switched on for an IPv6 literal) and return the endpoint ZeroMQ reports."""
    try:
        if parse_endpoint(endpoint).ipv6:
            sock.setsockopt(zmq.IPV6, 1)
    except ValueError:
        pass  # allowed by check_bind with keys or --insecure: ZeroMQ reads it as it will
    sock.bind(endpoint)
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)


# --------------------------------------------------------------------------- keys


def generate_keys(directory: Path) -> dict[str, Path]:
    """Write the server, client and worker key pairs and the two allow-lists; existing pairs are kept.

    Keeping them matters: running ``keys`` again on a folder in use (say, to add the worker pair
    an older version did not write) must not lock out the clients that hold today's keys.
    """
    from zmq.auth import create_certificates

    directory = Path(directory)
    paths: dict[str, Path] = {}
    for role, allow_list in (("server", None), ("client", "allowed"), ("worker", "workers")):
        public = directory / f"{role}.key"
        if not (public.is_file() and (directory / f"{role}.key_secret").is_file()):
            directory.mkdir(parents=True, exist_ok=True)
            public_name, secret_name = create_certificates(str(directory), role)
            public = Path(public_name)
            Path(secret_name).chmod(0o600)
        paths[role] = public
        if allow_list:
            folder = directory / allow_list
            folder.mkdir(exist_ok=True)
            if not (folder / public.name).is_file():
                shutil.copy(public, folder / public.name)
            paths[allow_list] = folder
    return paths


class _Authenticators:
    """One ZAP handler per ZeroMQ context (ZeroMQ allows no more), shared by every CURVE socket in it.

    Each socket gets its own ZAP domain and allow-list folder, so a broker's clients and its
    workers are admitted by different keys (pyzmq: ``socket.zap_domain`` +
    ``auth.configure_curve(domain=..., location=...)``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_context: dict[int, tuple[object, int]] = {}
        self._domains = itertools.count()

    def acquire(self, context: zmq.Context, allow_dir: Path) -> str:
        from zmq.auth.thread import ThreadAuthenticator

        with self._lock:
            auth, users = self._by_context.get(id(context), (None, 0))
            if auth is None:
                auth = ThreadAuthenticator(context)
                auth.start()
            domain = f"person-cutout-{next(self._domains)}"
            auth.configure_curve(domain=domain, location=str(allow_dir))
            self._by_context[id(context)] = (auth, users + 1)
            return domain

    def release(self, context: zmq.Context, domain: str) -> None:
        with self._lock:
            auth, users = self._by_context.get(id(context), (None, 0))
            if auth is None:
                return
            auth.certs.pop(domain, None)
            if users <= 1:
                auth.stop()
                del self._by_context[id(context)]
            else:
                self._by_context[id(context)] = (auth, users - 1)


_authenticators = _Authenticators()


class CurveGate:
    """A socket made a CURVE server that admits only the public keys in one allow-list folder."""

    def __init__(self, context: zmq.Context, sock: zmq.Socket, curve_dir: str, allow_list: str = "allowed"):
        from zmq.auth import load_certificate

        folder = Path(curve_dir) / allow_list
        if not folder.is_dir():
            raise SecurityError(f"no {allow_list}/ folder in {curve_dir}; run: python -m server keys {curve_dir}")
        self._context = context
        self.domain = _authenticators.acquire(context, folder)
        public, secret = load_certificate(str(Path(curve_dir) / "server.key_secret"))
        sock.zap_domain = self.domain.encode()
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_server = True

    def stop(self) -> None:
        _authenticators.release(self._context, self.domain)


def configure_curve(context: zmq.Context, sock: zmq.Socket, curve_dir: str, allow_list: str = "allowed") -> CurveGate:
    """Make ``sock`` a CURVE server admitting the keys in ``curve_dir/allow_list``; ``.stop()`` when closed."""
    return CurveGate(context, sock, curve_dir, allow_list)


def client_keys(curve_dir: str) -> tuple[bytes, bytes, bytes]:
    """(client public, client secret, server public) for :class:`cutout_common.client.Client`."""
    return _keys(curve_dir, "client")


def worker_keys(curve_dir: str) -> tuple[bytes, bytes, bytes]:
    """(worker public, worker secret, broker public) for ``python -m server worker --curve DIR``."""
    return _keys(curve_dir, "worker")


def _keys(curve_dir: str, role: str) -> tuple[bytes, bytes, bytes]:
    from zmq.auth import load_certificate

    secret_file = Path(curve_dir) / f"{role}.key_secret"
    if not secret_file.is_file():
        raise SecurityError(f"no {secret_file.name} in {curve_dir}; run: python -m server keys {curve_dir}")
    public, secret = load_certificate(str(secret_file))
    server_public, _ = load_certificate(str(Path(curve_dir) / "server.key"))
    return public, secret, server_public
