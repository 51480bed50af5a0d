"""CurveZMQ for the pool: key files, socket options, and ZAP authentication of clients.

Theory of operation. CurveZMQ encrypts and authenticates every ZeroMQ
connection with Curve25519 key pairs. Each party has a *certificate*: a
text file ``NAME.key`` holding its public key and a private twin
``NAME.key_secret`` holding both keys (the czmq/pyzmq format, written by
:func:`zmq.auth.create_certificates`, keys in Z85 text: 40 characters).

- The *server* (the broker's frontend and backend ROUTER sockets) sets
  ``curve_server`` and its own secret key (:func:`apply_server`). Every
  connecting peer must prove it holds the secret of some key pair.
- A *client* (a pool client or a worker) sets its own key pair plus the
  server's public key (:func:`apply_client`); it can then only talk to the
  holder of that server secret, and everything on the wire is encrypted.
- *Which* client keys the server accepts is decided by a ZAP handler (the
  ZeroMQ Authentication Protocol, RFC 27) bound on the server socket's
  context: :func:`authenticator` runs pyzmq's handler in a thread or in the
  running asyncio loop and loads the allowed public keys from a directory of
  ``*.key`` files. A peer whose key is not there fails the handshake and the
  server's application never sees a single message from it; a peer without
  CURVE fails too, because the mechanisms differ.
- *Roles*: the broker's two sockets accept two separate sets of keys. Each
  socket names a ZAP domain (:class:`PeerRole`: ``clients`` on the frontend,
  ``workers`` on the backend) and the handler checks a peer's key against
  that domain's directory only, so a client's key cannot register as a
  worker (and see, or forge the results of, other clients' calls) and a
  worker's key cannot call. A key in both sets is refused at startup. The
  broker's ``--curve-public-dir DIR`` holds them as ``DIR/clients/*.key``
  and ``DIR/workers/*.key`` (:meth:`CurveServer.from_dir`), the layout
  ``wasmpool keys generate`` writes.

Without CURVE the backend must not be reachable by strangers: bind it to
loopback or a private interface. :func:`exposed` tells whether an endpoint
is bound beyond loopback; the broker warns at startup when its backend is.

libzmq accepts *every* CURVE key when no ZAP handler is bound on the
context, so the authenticator must run, on the same context as the server
sockets, for as long as they are open: start it before binding.

Every problem with a key file or the allowed-keys directory (missing,
unreadable, not a certificate, a malformed key) is raised as
:class:`SecurityError` with the path in its message, before any socket
option is touched: pyzmq's own loader would only log such errors.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.asyncio import AsyncioAuthenticator
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.z85 import Z85CHARS

PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
DEFAULT_KEY_NAMES = ("broker", "worker", "client")
Z85_KEY_LENGTH = 40  # a 32-byte Curve25519 key in Z85 text


class FileMode(IntEnum):
    """Permissions given to generated files and directories."""

    SECRET = 0o600  # the owner only: a secret key
    PUBLIC = 0o644  # public keys are meant to be shared
    KEY_DIR = 0o700  # a directory created to hold secrets


class SecurityError(Exception):
    """A key file or key directory cannot be used; the message names the path and the reason."""


class PeerRole(StrEnum):
    """Who connects to a server socket; also the ZAP domain and the allowed-keys subdirectory's name."""

    CLIENTS = "clients"  # the frontend: deploy, call, query, blocks
    WORKERS = "workers"  # the backend: take jobs and report their results


class AuthMode(StrEnum):
    """Where the ZAP handler runs: its own thread, or a task of the running asyncio loop."""

    THREAD = "thread"
    ASYNCIO = "asyncio"


AUTHENTICATORS: dict[AuthMode, type[zmq.auth.Authenticator]] = {
    AuthMode.THREAD: ThreadAuthenticator,
    AuthMode.ASYNCIO: AsyncioAuthenticator,
}


# ---------------------------------------------------------------------------
# Key files


def key_paths(directory: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """``(DIR/NAME.key, DIR/NAME.key_secret)``: where the key pair called ``name`` lives."""
    _check_name(name)
    base = Path(directory)
    return base / f"{name}{PUBLIC_SUFFIX}", base / f"{name}{SECRET_SUFFIX}"


def _check_name(name: str) -> None:
    """A key name must be a plain file name, so it can never point outside its directory."""
    if not name or name.startswith(".") or "/" in name or os.sep in name:
        raise SecurityError(f"invalid key name {name!r}: use a plain file name such as 'broker'")


def generate_keys(directory: str | os.PathLike[str], name: str, *, force: bool = False) -> tuple[Path, Path]:
    """Write a new key pair ``NAME.key`` + ``NAME.key_secret`` in ``directory``; returns both paths.

    The pair is made in a private scratch directory and moved into place, so
    the secret is never readable by others (mode 0600), even for an instant.
    Existing files are kept (``SecurityError``) unless ``force`` is true.
    """
    public_path, secret_path = key_paths(directory, name)
    target = Path(directory)
    if not target.is_dir():
        raise SecurityError(f"{target}: not a directory")
    if not force:
        _refuse_existing(public_path, secret_path)
    try:
        scratch = Path(tempfile.mkdtemp(prefix=".keys-", dir=target))  # mode 0700
    except OSError as exc:
        raise SecurityError(f"{target}: cannot write keys: {exc.strerror or exc}") from exc
    try:
        made_public, made_secret = (Path(p) for p in zmq.auth.create_certificates(scratch, name))
        made_secret.chmod(FileMode.SECRET)
        made_public.chmod(FileMode.PUBLIC)
        _place(made_secret, secret_path, force)
        _place(made_public, public_path, force)
    except OSError as exc:
        raise SecurityError(f"{target}: cannot write keys: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return public_path, secret_path


def _refuse_existing(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            raise SecurityError(f"{path}: already exists; refusing to overwrite it")


def _place(made: Path, path: Path, force: bool) -> None:
    """Move ``made`` to ``path``: replacing it when ``force``, else never overwriting.

    A hard link never overwrites, atomically; where the file system has no
    hard links, an existence check before the move does nearly as well.
    """
    if not force:
        try:
            os.link(made, path)
            return
        except FileExistsError:
            raise SecurityError(f"{path}: already exists; refusing to overwrite it")
        except OSError:
            _refuse_existing(path)
    os.replace(made, path)


def load_secret(path: str | os.PathLike[str]) -> tuple[bytes, bytes]:
    """``(public, secret)`` Z85 keys from a ``.key_secret`` certificate."""
    public, secret = _load_certificate(Path(path))
    if secret is None:
        raise SecurityError(f"{path}: no secret key in this file (is it the public '{PUBLIC_SUFFIX}' file?)")
    return public, secret


def load_public(path: str | os.PathLike[str]) -> bytes:
    """The Z85 public key of a certificate (``.key``; a ``.key_secret`` works too)."""
    public, _ = _load_certificate(Path(path))
    return public


def _load_certificate(path: Path) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        reason = "is a directory, not a key file" if path.is_dir() else "no such key file"
        raise SecurityError(f"{path}: {reason}")
    try:
        public, secret = zmq.auth.load_certificate(path)
    except OSError as exc:
        raise SecurityError(f"{path}: cannot read key file: {exc.strerror or exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise SecurityError(f"{path}: not a CurveZMQ certificate (no public-key line)") from exc
    _check_key(path, "public", public)
    if secret is not None:
        _check_key(path, "secret", secret)
    return public, secret


def _check_key(path: Path, which: str, key: bytes) -> None:
    """A key must be 40 Z85 characters, or libzmq would reject it later with a bare EINVAL."""
    if len(key) != Z85_KEY_LENGTH or not all(c in Z85CHARS for c in key):
        raise SecurityError(f"{path}: malformed {which} key (want {Z85_KEY_LENGTH} Z85 characters)")


def load_allowed(directory: str | os.PathLike[str]) -> dict[Path, bytes]:
    """Every ``*.key`` file of the allowed-clients directory and its public key, all validated.

    An empty directory is an error: a server configured with it could accept nobody.
    """
    path = Path(directory)
    if not path.is_dir():
        raise SecurityError(f"{path}: allowed public keys directory does not exist")
    try:
        files = sorted(path.glob(f"*{PUBLIC_SUFFIX}"))
    except OSError as exc:
        raise SecurityError(f"{path}: cannot list allowed public keys: {exc.strerror or exc}") from exc
    if not files:
        raise SecurityError(f"{path}: no '*{PUBLIC_SUFFIX}' files: no client could connect")
    return {file: load_public(file) for file in files}


# ---------------------------------------------------------------------------
# Sockets


@dataclass(frozen=True, slots=True)
class CurveServer:
    """How server sockets do CURVE: their secret key file and the allowed public keys of each role.

    ``public_dir`` holds the keys of clients (the frontend), ``worker_dir``
    those of workers (the backend). A server for clients alone (a test
    server, an embedding without workers) may leave ``worker_dir`` out;
    the broker requires it (:meth:`roles`).
    """

    secret_file: Path
    public_dir: Path
    worker_dir: Path | None = None

    @classmethod
    def from_dir(cls, secret_file: str | os.PathLike[str], public_dir: str | os.PathLike[str]) -> CurveServer:
        """The broker CLI's meaning: ``public_dir`` holds ``clients/`` and ``workers/``; checked now."""
        base = Path(public_dir)
        missing = [role.value for role in PeerRole if not (base / role).is_dir()]
        if missing:
            raise SecurityError(f"{base}: no {' or '.join(f'{m}/' for m in missing)} directory: the broker "
                                f"accepts clients' keys from {base / PeerRole.CLIENTS} and workers' from "
                                f"{base / PeerRole.WORKERS} (wasmpool keys generate writes them)")
        made = cls(Path(secret_file), base / PeerRole.CLIENTS, base / PeerRole.WORKERS)
        made.roles()
        return made

    def allowed(self) -> dict[PeerRole, Path]:
        """The directory of allowed keys of each role this server has."""
        dirs = {PeerRole.CLIENTS: self.public_dir}
        if self.worker_dir is not None:
            dirs[PeerRole.WORKERS] = self.worker_dir
        return dirs

    def check(self) -> None:
        """Raise :class:`SecurityError` now if any file this configuration names is unusable."""
        load_secret(self.secret_file)
        keys = {role: load_allowed(path) for role, path in self.allowed().items()}
        _check_apart(keys)

    def roles(self) -> None:
        """:meth:`check`, and that workers have keys of their own (what a broker needs)."""
        if self.worker_dir is None:
            raise SecurityError("CURVE on the broker needs the workers' keys apart from the clients' "
                                "(worker_dir): one set for both would let a client register as a worker")
        self.check()


def _check_apart(keys: dict[PeerRole, dict[Path, bytes]]) -> None:
    """No key may be both a client's and a worker's: roles are told apart by key alone."""
    if len(keys) < 2:
        return
    workers = {key: path for path, key in keys[PeerRole.WORKERS].items()}
    both = [(path, workers[key]) for path, key in keys[PeerRole.CLIENTS].items() if key in workers]
    if both:
        client, worker = both[0]
        raise SecurityError(f"{client} and {worker}: the same key is allowed as a client and as a worker; "
                            "give each role its own key pair")


def apply_server(socket: zmq.Socket[Any], config: CurveServer, role: PeerRole = PeerRole.CLIENTS) -> None:
    """Make ``socket`` a CURVE server for peers of ``role``; call before ``bind``.

    Peer keys are checked by the ZAP handler of :func:`authenticator`,
    which must be running on this socket's context, against ``role``'s
    allowed keys only (the socket's ZAP domain names the role).
    """
    public, secret = load_secret(config.secret_file)
    _check_unused(socket)
    if role not in config.allowed():
        raise SecurityError(f"no allowed keys for {role} in this CURVE configuration")
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.zap_domain = role.value.encode()
    socket.curve_server = True


def apply_client(socket: zmq.Socket[Any], client_secret_file: str | os.PathLike[str],
                 server_public_file: str | os.PathLike[str]) -> None:
    """Make ``socket`` a CURVE client: its key pair and the server's public key; call before ``connect``.

    The client then talks only to the holder of the matching server secret.
    """
    public, secret = load_secret(client_secret_file)
    server = load_public(server_public_file)
    _check_unused(socket)
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_serverkey = server


BROKER_KEY = "broker"  # a client's or worker's --curve-public-dir holds the broker's key as broker.key


@dataclass(frozen=True, slots=True)
class CurveClient:
    """A socket setup (``setup_socket=``) making a DEALER a CURVE client; picklable for worker processes.

    ``secret_file`` is the peer's own ``NAME.key_secret``; ``server_public_file``
    the broker's ``broker.key``.
    """

    secret_file: Path
    server_public_file: Path

    @classmethod
    def from_dir(cls, secret_file: str | os.PathLike[str], public_dir: str | os.PathLike[str]) -> CurveClient:
        """The CLI's meaning: ``public_dir`` holds ``broker.key``; both files are checked now."""
        made = cls(Path(secret_file), key_paths(public_dir, BROKER_KEY)[0])
        made.check()
        return made

    def check(self) -> None:
        """Raise :class:`SecurityError` now if either key file is unusable."""
        load_secret(self.secret_file)
        load_public(self.server_public_file)

    def __call__(self, socket: zmq.Socket[Any]) -> None:
        apply_client(socket, self.secret_file, self.server_public_file)


def _check_unused(socket: zmq.Socket[Any]) -> None:
    """Security options only apply to later binds and connects: refuse a socket already in use."""
    if socket.getsockopt(zmq.LAST_ENDPOINT):
        raise SecurityError("CURVE options must be set before the socket binds or connects")


# ---------------------------------------------------------------------------
# Authentication


@contextmanager
def authenticator(config: CurveServer, *, context: zmq.Context[Any] | None = None,
                  mode: AuthMode = AuthMode.THREAD) -> Iterator[zmq.auth.Authenticator]:
    """Run a ZAP handler that accepts the client keys of ``config.public_dir``, for the ``with`` block.

    ``context`` must be the server sockets' context (default: the global
    instance). ``AuthMode.ASYNCIO`` needs a running event loop, the one that
    serves the sockets. Only one handler can run per context.
    """
    config.check()
    if mode is AuthMode.ASYNCIO:
        asyncio.get_running_loop()  # RuntimeError here rather than a stray loop later
    auth = AUTHENTICATORS[mode](context or zmq.Context.instance())
    try:
        auth.start()
    except zmq.ZMQError as exc:
        auth.stop()
        raise SecurityError(f"cannot start the ZAP authenticator: {exc} (one already runs on this context?)")
    try:
        allow_clients(auth, config)
        yield auth
    finally:
        auth.stop()


def allow_clients(auth: zmq.auth.Authenticator, config: CurveServer) -> int:
    """(Re)load the allowed keys of every role into a running authenticator; returns how many there are.

    Each role's directory becomes its own ZAP domain, so a key is accepted
    only on the sockets of its role. Call it again after adding or removing
    key files: the handler keeps the sets it loaded last.
    """
    config.check()
    count = 0
    for role, directory in config.allowed().items():
        count += len(load_allowed(directory))
        auth.configure_curve(domain=role.value, location=directory)
    return count


LOOPBACK_NAMES = frozenset({"localhost", "lo", "ip6-localhost"})


def exposed(endpoint: str) -> bool:
    """True when ``endpoint`` (a bind address) may be reached from other machines.

    ``tcp://`` on a wildcard, a routable address, a host name or an
    interface other than loopback is exposed; loopback addresses, ``ipc://``
    and ``inproc://`` are not.
    """
    transport, _, address = endpoint.partition("://")
    if transport not in ("tcp", "ws", "wss", "udp", "pgm", "epgm"):
        return False
    host = address.rsplit(":", 1)[0].strip("[]").split(";")[-1]
    if host in LOOPBACK_NAMES:
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*", an interface or a host name
        return True
