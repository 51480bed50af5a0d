"""CurveZMQ over real sockets: who gets an answer, what the wire shows, and what bad key files say.

Every test binds a ROUTER server on a random loopback port (``tcp://127.0.0.1:*``,
read back through ``LAST_ENDPOINT``) in its own ZeroMQ context, so each one
runs its own ZAP handler. A refused peer is shown by silence: the server's
poll times out with nothing received, and so does the peer's. Encryption is
shown by a plain-TCP relay between client and server that keeps every byte
it forwards: a marker sent through CURVE never appears in that copy, the
same marker sent without CURVE does.
"""

from __future__ import annotations

import argparse
import logging
import selectors
import shutil
import socket
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.asyncio

from wasmpool.broker.security import (
    AuthMode,
    CurveServer,
    SecurityError,
    allow_clients,
    apply_client,
    apply_server,
    authenticator,
    exposed,
    generate_keys,
    key_paths,
    load_allowed,
    load_public,
    load_secret,
)
from wasmpool.cli import keys as keys_command
from wasmpool.cli import main
from wasmpool.embed import Broker

pytestmark = pytest.mark.timeout(30)

MARKER = b"wasmpool-plaintext-marker-5f1c0a7e"
REPLY = b"reply:"
ANSWER_MS = 5000  # an accepted peer's answer comes well within this
SILENCE_MS = 500  # how long a refused peer is watched for a message that must never come
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Keys:
    """Key files of one test: the broker's pair, an allowed client, a stranger, and the allowed dir."""

    broker_public: Path
    broker_secret: Path
    client_secret: Path
    stranger_secret: Path
    allowed_dir: Path

    def server(self) -> CurveServer:
        return CurveServer(secret_file=self.broker_secret, public_dir=self.allowed_dir)


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    key_dir = tmp_path / "keys"
    allowed = tmp_path / "allowed"
    key_dir.mkdir()
    allowed.mkdir()
    broker_public, broker_secret = generate_keys(key_dir, "broker")
    client_public, client_secret = generate_keys(key_dir, "client")
    _, stranger_secret = generate_keys(key_dir, "stranger")
    shutil.copy(client_public, allowed / client_public.name)
    return Keys(broker_public, broker_secret, client_secret, stranger_secret, allowed)


class Net:
    """One test's ZeroMQ context and every socket it made; all closed with linger 0 at the end."""

    def __init__(self) -> None:
        self.context: zmq.Context[Any] = zmq.Context()
        self.sockets: list[zmq.Socket[Any]] = []

    def socket(self, kind: int) -> zmq.Socket[Any]:
        sock: zmq.Socket[Any] = self.context.socket(kind)
        sock.linger = 0
        self.sockets.append(sock)
        return sock

    def server(self, config: CurveServer | None) -> tuple[zmq.Socket[Any], int]:
        """A ROUTER bound on a random loopback port (CURVE when ``config``); returns it and the port."""
        sock = self.socket(zmq.ROUTER)
        if config is not None:
            apply_server(sock, config)
        sock.bind(f"tcp://{LOOPBACK}:*")
        return sock, int(sock.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1])

    def client(self, port: int, secret: Path | None = None,
               server_public: Path | None = None) -> zmq.Socket[Any]:
        """A DEALER connected to ``port``: a CURVE client when ``secret`` is given, a plain one otherwise."""
        sock = self.socket(zmq.DEALER)
        if secret is not None and server_public is not None:
            apply_client(sock, secret, server_public)
        sock.connect(f"tcp://{LOOPBACK}:{port}")
        return sock

    def close(self) -> None:
        for sock in self.sockets:
            sock.close(linger=0)
        self.context.term()


@pytest.fixture
def net() -> Iterator[Net]:
    made = Net()
    yield made
    made.close()


def round_trip(server: zmq.Socket[Any], client: zmq.Socket[Any], wait_ms: int) -> tuple[bool, bool]:
    """The client sends MARKER and the server echoes it: (the server got it, the client got the echo)."""
    client.send(MARKER)
    if not server.poll(wait_ms):
        return False, client.poll(0) != 0
    identity, payload = server.recv_multipart()
    server.send_multipart([identity, REPLY + payload])
    if not client.poll(ANSWER_MS):
        return True, False
    return True, client.recv() == REPLY + MARKER


# ---------------------------------------------------------------------------
# Who gets through


def test_an_allowed_client_gets_a_reply(keys: Keys, net: Net) -> None:
    with authenticator(keys.server(), context=net.context):
        server, port = net.server(keys.server())
        client = net.client(port, keys.client_secret, keys.broker_public)
        assert round_trip(server, client, ANSWER_MS) == (True, True)


@pytest.mark.parametrize("curve_client", [pytest.param(True, id="key-not-allowed"),
                                          pytest.param(False, id="no-curve")])
def test_a_refused_client_gets_nothing_and_the_server_sees_nothing(keys: Keys, net: Net,
                                                                    curve_client: bool) -> None:
    with authenticator(keys.server(), context=net.context):
        server, port = net.server(keys.server())
        secret = keys.stranger_secret if curve_client else None
        refused = net.client(port, secret, keys.broker_public if curve_client else None)
        assert round_trip(server, refused, SILENCE_MS) == (False, False)
        allowed = net.client(port, keys.client_secret, keys.broker_public)
        assert round_trip(server, allowed, ANSWER_MS) == (True, True), "the server itself works"
        assert not server.poll(0), "nothing of the refused client's ever arrived"


def test_a_client_with_the_wrong_server_key_gets_nothing(keys: Keys, net: Net) -> None:
    with authenticator(keys.server(), context=net.context):
        server, port = net.server(keys.server())
        wrong_server = keys.stranger_secret  # a .key_secret holds a public key too
        client = net.client(port, keys.client_secret, wrong_server)
        assert round_trip(server, client, SILENCE_MS) == (False, False)


def test_reloading_the_allowed_keys_lets_a_new_client_in(keys: Keys, net: Net) -> None:
    config = keys.server()
    with authenticator(config, context=net.context) as auth:
        server, port = net.server(config)
        stranger_public = keys.stranger_secret.with_name("stranger.key")
        shutil.copy(stranger_public, keys.allowed_dir / stranger_public.name)
        assert allow_clients(auth, config) == 2
        client = net.client(port, keys.stranger_secret, keys.broker_public)
        assert round_trip(server, client, ANSWER_MS) == (True, True)


@pytest.mark.asyncio
@pytest.mark.parametrize(("who", "expected"), [pytest.param("client", (True, True), id="allowed"),
                                               pytest.param("stranger", (False, False), id="not-allowed")])
async def test_the_asyncio_authenticator(keys: Keys, who: str, expected: tuple[bool, bool]) -> None:
    ctx = zmq.asyncio.Context()
    server, client = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    try:
        with authenticator(keys.server(), context=ctx, mode=AuthMode.ASYNCIO):
            apply_server(server, keys.server())
            server.bind(f"tcp://{LOOPBACK}:*")
            port = int(server.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1])
            apply_client(client, keys.stranger_secret if who == "stranger" else keys.client_secret,
                         keys.broker_public)
            client.connect(f"tcp://{LOOPBACK}:{port}")
            await client.send(MARKER)
            got = bool(await server.poll(ANSWER_MS if expected[0] else SILENCE_MS))
            answered = False
            if got:
                identity, payload = await server.recv_multipart()
                await server.send_multipart([identity, REPLY + payload])
                answered = bool(await client.poll(ANSWER_MS)) and await client.recv() == REPLY + MARKER
            assert (got, answered) == expected
    finally:
        server.close(linger=0)
        client.close(linger=0)
        ctx.term()


def test_the_asyncio_authenticator_needs_a_running_loop(keys: Keys, net: Net) -> None:
    with pytest.raises(RuntimeError, match="no running event loop"), \
            authenticator(keys.server(), context=net.context, mode=AuthMode.ASYNCIO):
        pass


def test_only_one_authenticator_per_context(keys: Keys, net: Net) -> None:
    with authenticator(keys.server(), context=net.context), \
            pytest.raises(SecurityError, match="one already runs on this context"), \
            authenticator(keys.server(), context=net.context):
        pass


# ---------------------------------------------------------------------------
# What the wire shows


class Relay:
    """A loopback TCP relay to ``upstream_port`` that forwards both ways and keeps a copy of every byte."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server((LOOPBACK, 0))
        self.port: int = self.listener.getsockname()[1]
        self.seen = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()

    def wire(self) -> bytes:
        with self._lock:
            return bytes(self.seen)

    def _run(self) -> None:
        peers: dict[socket.socket, socket.socket] = {}
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self.listener:
                        self._accept(selector, peers)
                    else:
                        self._forward(selector, peers, sock)
        for sock in peers:
            sock.close()

    def _accept(self, selector: selectors.BaseSelector, peers: dict[socket.socket, socket.socket]) -> None:
        down, _ = self.listener.accept()
        up = socket.create_connection((LOOPBACK, self.upstream_port))
        peers[down], peers[up] = up, down
        selector.register(down, selectors.EVENT_READ)
        selector.register(up, selectors.EVENT_READ)

    def _forward(self, selector: selectors.BaseSelector, peers: dict[socket.socket, socket.socket],
                 sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if data:
            with self._lock:
                self.seen += data
            peers[sock].sendall(data)
            return
        other = peers.pop(sock)
        peers.pop(other)
        for end in (sock, other):
            selector.unregister(end)
            end.close()


@pytest.mark.parametrize("curve", [pytest.param(True, id="curve-hides-it"),
                                   pytest.param(False, id="plain-shows-it")])
def test_a_payload_is_never_plaintext_on_the_wire_with_curve(keys: Keys, net: Net,
                                                             curve: bool) -> None:
    config = keys.server() if curve else None
    with authenticator(keys.server(), context=net.context):
        server, port = net.server(config)
        with Relay(port) as relay:
            secret, server_public = (keys.client_secret, keys.broker_public) if curve else (None, None)
            client = net.client(relay.port, secret, server_public)
            assert round_trip(server, client, ANSWER_MS) == (True, True)
            wire = relay.wire()
    assert len(wire) > len(MARKER)
    assert (MARKER in wire) is not curve


# ---------------------------------------------------------------------------
# Key files and their errors


def test_a_generated_pair_loads_and_the_secret_is_private(tmp_path: Path) -> None:
    public_path, secret_path = generate_keys(tmp_path, "node")
    assert (public_path, secret_path) == key_paths(tmp_path, "node")
    assert (public_path.name, secret_path.name) == ("node.key", "node.key_secret")
    public, secret = load_secret(secret_path)
    assert load_public(public_path) == public != secret
    assert len(public) == len(secret) == 40
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.key", "node.key_secret"], "no scratch left"


def test_generating_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    _, secret_path = generate_keys(tmp_path, "node")
    before = load_secret(secret_path)
    with pytest.raises(SecurityError, match="already exists"):
        generate_keys(tmp_path, "node")
    assert load_secret(secret_path) == before
    generate_keys(tmp_path, "node", force=True)
    assert load_secret(secret_path) != before


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_generating_needs_an_existing_directory(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "target"
    if kind == "file":
        target.write_text("not a directory", encoding="utf-8")
    with pytest.raises(SecurityError, match="not a directory"):
        generate_keys(target, "node")


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden"])
def test_a_key_name_must_be_a_plain_file_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(SecurityError, match="invalid key name"):
        generate_keys(tmp_path, name)


GOOD_PUBLIC = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
SHORT_KEY = "tooshort"


def certificate(public: str, secret: str | None = None) -> str:
    lines = ["# a certificate", "metadata", "curve", f'    public-key = "{public}"']
    if secret is not None:
        lines.append(f'    secret-key = "{secret}"')
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "no such key file", id="missing"),
        pytest.param("", "not a CurveZMQ certificate", id="empty"),
        pytest.param("hello\nworld\n", "not a CurveZMQ certificate", id="not-a-certificate"),
        pytest.param(certificate(GOOD_PUBLIC), "no secret key", id="public-only"),
        pytest.param(certificate(GOOD_PUBLIC, SHORT_KEY), "malformed secret key", id="short-secret"),
        pytest.param(certificate(SHORT_KEY, GOOD_PUBLIC), "malformed public key", id="short-public"),
        pytest.param(certificate(GOOD_PUBLIC, "é" * 40), "malformed secret key", id="not-z85"),
    ],
)
def test_unusable_secret_files_raise_a_security_error(tmp_path: Path, content: str | None,
                                                      message: str) -> None:
    path = tmp_path / "x.key_secret"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SecurityError, match=message) as exc:
        load_secret(path)
    assert str(path) in str(exc.value)


def test_a_directory_is_not_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(SecurityError, match="is a directory"):
        load_public(tmp_path)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        pytest.param(None, "does not exist", id="missing-dir"),
        pytest.param({}, "no client could connect", id="empty-dir"),
        pytest.param({"ok.key": certificate(GOOD_PUBLIC), "bad.key": "garbage\n"}, "bad.key",
                     id="one-bad-key"),
    ],
)
def test_unusable_allowed_directories_raise_a_security_error(tmp_path: Path, files: dict[str, str] | None,
                                                             message: str) -> None:
    allowed = tmp_path / "allowed"
    if files is not None:
        allowed.mkdir()
        for name, text in files.items():
            (allowed / name).write_text(text, encoding="utf-8")
    with pytest.raises(SecurityError, match=message):
        load_allowed(allowed)


def test_a_bad_configuration_fails_before_the_authenticator_starts(keys: Keys, net: Net) -> None:
    config = CurveServer(secret_file=keys.broker_secret, public_dir=keys.allowed_dir / "missing")
    with pytest.raises(SecurityError, match="does not exist"), authenticator(config, context=net.context):
        pass
    with authenticator(keys.server(), context=net.context):  # the ZAP endpoint was left free
        pass


def test_a_client_needs_a_readable_server_key(keys: Keys, net: Net) -> None:
    sock = net.socket(zmq.DEALER)
    with pytest.raises(SecurityError, match="no such key file"):
        apply_client(sock, keys.client_secret, keys.allowed_dir / "nobody.key")


@pytest.mark.parametrize("side", ["server", "client"])
def test_curve_options_must_come_before_bind_or_connect(keys: Keys, net: Net, side: str) -> None:
    sock = net.socket(zmq.ROUTER if side == "server" else zmq.DEALER)
    sock.linger = 0
    sock.bind(f"tcp://{LOOPBACK}:*")
    with pytest.raises(SecurityError, match="before the socket binds or connects"):
        if side == "server":
            apply_server(sock, keys.server())
        else:
            apply_client(sock, keys.client_secret, keys.broker_public)


# ---------------------------------------------------------------------------
# wasmpool keys


def wasmpool(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_keys_generate_makes_the_three_pool_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "new" / "keys"
    status, out, err = wasmpool(capsys, "keys", "generate", str(target))
    assert (status, err) == (0, "")
    expected = [f"{name} {kind} {target / (name + suffix)}" for name in ("broker", "worker", "client")
                for kind, suffix in (("public", ".key"), ("secret", ".key_secret"))]
    assert out.splitlines() == expected
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    for name in ("broker", "worker", "client"):
        public, _ = load_secret(target / f"{name}.key_secret")
        assert load_public(target / f"{name}.key") == public
    shared = sorted(p.relative_to(target).as_posix() for p in target.rglob("*.key") if p.parent != target)
    assert shared == ["allowed/clients/client.key", "allowed/workers/worker.key", "broker/broker.key"]
    config = CurveServer.from_dir(target / "broker.key_secret", target / "allowed")
    assert (config.public_dir, config.worker_dir) == (target / "allowed/clients", target / "allowed/workers")


def test_the_broker_refuses_one_key_set_for_both_roles(keys: Keys, tmp_path: Path) -> None:
    with pytest.raises(SecurityError, match="no clients/ or workers/ directory"):
        CurveServer.from_dir(keys.broker_secret, keys.allowed_dir)  # the flat layout: one set for both
    with pytest.raises(SecurityError, match="apart from the clients'"):
        Broker(curve=keys.server())
    both = CurveServer(keys.broker_secret, keys.allowed_dir, worker_dir=keys.allowed_dir)
    with pytest.raises(SecurityError, match="allowed as a client and as a worker"):
        both.roles()


@pytest.mark.parametrize(("endpoint", "expected"), [
    ("tcp://127.0.0.1:5556", False), ("tcp://localhost:5556", False), ("tcp://[::1]:5556", False),
    ("ipc:///run/wasmpool/backend", False), ("inproc://backend", False), ("tcp://*:5556", True),
    ("tcp://0.0.0.0:5556", True), ("tcp://10.0.0.5:5556", True), ("tcp://eth0:5556", True),
])
def test_which_bind_addresses_are_exposed(endpoint: str, expected: bool) -> None:
    assert exposed(endpoint) is expected


def test_the_broker_warns_when_its_backend_is_exposed_without_curve(caplog: pytest.LogCaptureFixture) -> None:
    private = Broker("memory:", f"tcp://{LOOPBACK}:*", f"tcp://{LOOPBACK}:*")
    exposed_broker = Broker("memory:", f"tcp://{LOOPBACK}:*", "tcp://0.0.0.0:*")
    try:
        with caplog.at_level(logging.WARNING, logger="wasmpool"):
            private.bind()
            assert private.warnings == [] and not caplog.records
            exposed_broker.bind()
        (warning,) = exposed_broker.warnings
        assert "without CURVE" in warning and "register as a worker" in warning
        assert [r.getMessage() for r in caplog.records] == ["exposed_backend"]
    finally:
        private.close()
        exposed_broker.close()


def test_keys_generate_one_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = wasmpool(capsys, "keys", "generate", str(tmp_path), "--client", "edge")
    assert status == 0
    assert out.split() == ["edge", "public", str(tmp_path / "edge.key"),
                           "edge", "secret", str(tmp_path / "edge.key_secret")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["allowed", "edge.key", "edge.key_secret"]
    assert load_public(tmp_path / "allowed" / "clients" / "edge.key") == load_public(tmp_path / "edge.key")


def test_keys_generate_gives_each_role_its_own_keys(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    status, _, _ = wasmpool(capsys, "keys", "generate", str(tmp_path), "--worker", "w1", "--client", "c1")
    assert status == 0
    assert [p.name for p in (tmp_path / "allowed" / "workers").iterdir()] == ["w1.key"]
    assert [p.name for p in (tmp_path / "allowed" / "clients").iterdir()] == ["c1.key"]
    status, _, err = wasmpool(capsys, "keys", "generate", str(tmp_path / "x"), "--worker", "a",
                              "--client", "a")
    assert status == 2 and "one key pair per role" in err


def test_keys_generate_refuses_existing_files_and_writes_nothing(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    generate_keys(tmp_path, "worker")
    before = load_secret(tmp_path / "worker.key_secret")
    status, out, err = wasmpool(capsys, "keys", "generate", str(tmp_path))
    assert (status, out) == (1, "")
    assert f"{tmp_path / 'worker.key_secret'} exists; use --force" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["worker.key", "worker.key_secret"]
    status, _, _ = wasmpool(capsys, "keys", "generate", str(tmp_path), "--force")
    assert status == 0
    assert load_secret(tmp_path / "worker.key_secret") != before
    assert len(list(tmp_path.iterdir())) == 8  # six key files, the allowed/ and broker/ directories


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["keys"], "choose an action", id="no-action"),
        pytest.param(["keys", "generate", "DIR", "--client", "../up"], "invalid key name", id="bad-name"),
        pytest.param(["keys", "generate", "DIR/file"], "cannot create directory", id="dir-is-a-file"),
    ],
)
def test_keys_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                           message: str) -> None:
    (tmp_path / "file").write_text("in the way", encoding="utf-8")
    argv = [a.replace("DIR", str(tmp_path)) for a in argv]
    status, out, err = wasmpool(capsys, *argv)
    assert (status, out) == (2, "")
    assert message in err
    assert [p.name for p in tmp_path.iterdir()] == ["file"], "nothing written"


def test_keys_module_api() -> None:
    parser = argparse.ArgumentParser()
    keys_command.configure(parser)
    args = parser.parse_args(["generate", "d", "--client", "a", "--worker", "b", "--client", "c", "--force"])
    assert (args.keys_action, args.directory) == ("generate", Path("d"))
    assert (args.clients, args.workers) == (["a", "c"], ["b"])
    assert args.force is True
