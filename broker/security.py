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
ANY_DOMAIN = "*"
Z85_KEY_LENGTH = 40  # a 32-byte Curve25519 key in Z85 text


class FileMode(IntEnum):
    """Permissions given to generated files and directories."""

    SECRET = 0o600  # the owner only: a secret key
    PUBLIC = 0o644  # public keys are meant to be shared
    KEY_DIR = 0o700  # a directory created to hold secrets


class SecurityError(Exception):
    """A key file or key directory cannot be used; the message names the path and the reason."""


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
    """How a server socket does CURVE: its own secret key file and the directory of allowed client keys.

    ``domain`` is the ZAP domain of the server sockets; the default ``"*"``
    is the one the authenticator uses for every domain.
    """

    secret_file: Path
    public_dir: Path
    domain: str = ANY_DOMAIN

    def check(self) -> None:
        """Raise :class:`SecurityError` now if any file this configuration names is unusable."""
        load_secret(self.secret_file)
        load_allowed(self.public_dir)


def apply_server(socket: zmq.Socket[Any], config: CurveServer) -> None:
    """Make ``socket`` a CURVE server with the configured secret key; call before ``bind``.

    Client keys are checked by the ZAP handler of :func:`authenticator`,
    which must be running on this socket's context.
    """
    public, secret = load_secret(config.secret_file)
    _check_unused(socket)
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.zap_domain = config.domain.encode()
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
    """(Re)load the allowed client keys into a running authenticator; returns how many there are.

    Call it again after adding or removing key files: the handler keeps the
    set it loaded last.
    """
    allowed = load_allowed(config.public_dir)
    auth.configure_curve(domain=config.domain, location=config.public_dir)
    return len(allowed)
