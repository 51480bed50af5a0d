"""CurveZMQ on the whole pool: a real broker, real worker processes and clients, all with keys.

One broker runs with ``Broker(curve=CurveServer(...))``, accepting the keys
of ``client`` and ``other`` as clients and of ``worker`` as a worker: each key
in its own role only. Two worker processes connect: one with the
worker key, one with a stranger's key. Allowed clients are served end to
end (blocking, asyncio and the CLI); a client with an unknown key, or with
no CURVE at all, gets nothing and raises the typed ``RequestTimeout``; the
stranger worker never registers (the broker's worker list only ever shows
the allowed worker's pid). A plain-TCP relay in front of the frontend shows
the traffic is encrypted: the call's input and output never appear on it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from tests.pool.conftest import LOOPBACK, TEST_CONFIG, WORKER_START, unique
from tests.pool.test_security import Relay
from wasmpool.broker.security import CurveClient, CurveServer, generate_keys
from wasmpool.cli import main
from wasmpool.client import AsyncClient, Client, Result, call_body
from wasmpool.embed import Broker, BrokerThread
from wasmpool.wire import errors
from wasmpool.wire.protocol import Op
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.supervisor import start_workers, stop_workers

pytestmark = pytest.mark.timeout(90)

MARKER = b"curve-pool-plaintext-marker-9d2e"
REFUSED_WAIT = 0.5  # seconds a refused client waits (it must hear nothing)
WATCH = 1.0  # seconds the stranger worker is watched (five of its heartbeat intervals)


@dataclass(frozen=True)
class PoolKeys:
    keys: Path  # every key pair
    allowed: Path  # the broker's accepted public keys: clients/{client,other}.key, workers/worker.key
    broker_public: Path  # a directory holding only broker.key (what workers and clients get)

    def secret(self, name: str) -> Path:
        return self.keys / f"{name}.key_secret"


@dataclass
class CurvePool:
    thread: BrokerThread
    keys: PoolKeys
    worker_pid: int
    stranger_pid: int

    @property
    def frontend(self) -> str:
        return self.thread.frontend

    def client(self, name: str = "client", timeout: float = 10.0, retries: int = 2) -> Client:
        return Client(self.frontend, timeout=timeout, retries=retries, curve_secret=self.keys.secret(name),
                      curve_public_dir=self.keys.broker_public)


@pytest.fixture(scope="module")
def pool_keys(tmp_path_factory: pytest.TempPathFactory) -> PoolKeys:
    base = tmp_path_factory.mktemp("curve")
    keys, allowed, broker_public = base / "keys", base / "allowed", base / "broker"
    for directory in (keys, allowed / "clients", allowed / "workers", broker_public):
        directory.mkdir(parents=True)
    for name in ("broker", "worker", "client", "other", "stranger"):
        public, _ = generate_keys(keys, name)
        if name in ("client", "other"):
            shutil.copy(public, allowed / "clients" / public.name)
        if name == "worker":
            shutil.copy(public, allowed / "workers" / public.name)
        if name == "broker":
            shutil.copy(public, broker_public / public.name)
    return PoolKeys(keys, allowed, broker_public)


def _worker(backend: str, keys: PoolKeys, name: str) -> WorkerConfig:
    return WorkerConfig(endpoint=backend, heartbeat=0.2,
                        setup_socket=CurveClient.from_dir(keys.secret(name), keys.broker_public))


@pytest.fixture(scope="module")
def curve_pool(pool_keys: PoolKeys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CurvePool]:
    curve = CurveServer.from_dir(pool_keys.secret("broker"), pool_keys.allowed)
    broker = Broker(f"sqlite:{tmp_path_factory.mktemp('curve-state') / 'state.db'}", LOOPBACK, LOOPBACK,
                    config=TEST_CONFIG, curve=curve)
    with BrokerThread(broker) as thread:
        stranger = start_workers(_worker(thread.backend, pool_keys, "stranger"), 1)
        allowed = start_workers(_worker(thread.backend, pool_keys, "worker"), 1)
        try:
            made = CurvePool(thread, pool_keys, allowed[0].pid or 0, stranger[0].pid or 0)
            _wait_for_a_worker(made)
            yield made
        finally:
            stop_workers(allowed + stranger)


def _wait_for_a_worker(pool: CurvePool) -> None:
    with pool.client(timeout=5.0) as client:
        deadline = time.monotonic() + WORKER_START
        while not client.stats()["workers"]:
            if time.monotonic() > deadline:
                raise TimeoutError("the allowed worker never registered")
            time.sleep(0.05)


def test_allowed_clients_and_workers_work_end_to_end(curve_pool: CurvePool, probe_wasm: bytes) -> None:
    with curve_pool.client() as client:
        probe = client.deploy(unique(probe_wasm))
        result = client.call(probe, "add", [40, 2])
        assert result.ok and result.results == [42]
        assert client.call(probe, "put", input=b"kept").ok
        assert client.state_get(probe, b"k")[0] == b"kept"


def test_a_worker_with_an_unknown_key_never_registers(curve_pool: CurvePool) -> None:
    with curve_pool.client() as client:
        deadline = time.monotonic() + WATCH  # the stranger heartbeats every 0.2 s: it had five chances
        while time.monotonic() < deadline:
            stats = client.stats()
            assert stats["workers"] == 1
            assert [w["pid"] for w in stats["worker_list"]] == [curve_pool.worker_pid]
            time.sleep(0.1)
        assert curve_pool.stranger_pid not in {w["pid"] for w in client.stats()["worker_list"]}


HANDSHAKE_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH


def handshake(endpoint: str, keys: PoolKeys, name: str) -> int:
    """Connect a CURVE DEALER with ``name``'s key and return how its handshake ended (a monitor event)."""
    context: zmq.Context[Any] = zmq.Context()
    sock = context.socket(zmq.DEALER)
    monitor = sock.get_monitor_socket(HANDSHAKE_EVENTS)
    try:
        CurveClient.from_dir(keys.secret(name), keys.broker_public)(sock)
        sock.connect(endpoint)
        assert monitor.poll(int(WORKER_START * 1000)), "no handshake at all"
        event: int = recv_monitor_message(monitor)["event"]
        return event
    finally:
        sock.disable_monitor()
        monitor.close(linger=0)
        sock.close(linger=0)
        context.term()


@pytest.mark.parametrize(("name", "side", "allowed"), [
    pytest.param("worker", "backend", True, id="worker-key-as-worker"),
    pytest.param("client", "backend", False, id="client-key-as-worker"),
    pytest.param("client", "frontend", True, id="client-key-as-client"),
    pytest.param("worker", "frontend", False, id="worker-key-as-client"),
])
def test_a_key_is_accepted_in_its_own_role_only(curve_pool: CurvePool, name: str, side: str,
                                                allowed: bool) -> None:
    """A client key cannot register as a worker (and see or forge calls); a worker key cannot call."""
    endpoint = curve_pool.thread.backend if side == "backend" else curve_pool.frontend
    expected = zmq.EVENT_HANDSHAKE_SUCCEEDED if allowed else zmq.EVENT_HANDSHAKE_FAILED_AUTH
    assert handshake(endpoint, curve_pool.keys, name) == expected


@pytest.mark.parametrize("who", ["stranger-key", "no-curve"])
def test_a_client_with_an_unknown_key_gets_nothing(curve_pool: CurvePool, probe_wasm: bytes,
                                                   who: str) -> None:
    refused = (curve_pool.client("stranger", timeout=REFUSED_WAIT, retries=1) if who == "stranger-key"
               else Client(curve_pool.frontend, timeout=REFUSED_WAIT, retries=1))
    with refused, pytest.raises(errors.RequestTimeout):
        refused.deploy(unique(probe_wasm))
    with curve_pool.client() as client:  # the broker keeps serving allowed clients
        assert client.stats()["workers"] == 1
        deploys = client.stats()["counters"].get("deploys", 0)
        client.deploy(unique(probe_wasm))
        assert client.stats()["counters"]["deploys"] == deploys + 1


def test_traffic_is_encrypted(curve_pool: CurvePool, probe_wasm: bytes) -> None:
    port = int(curve_pool.frontend.rsplit(":", 1)[1])
    with curve_pool.client() as client:
        probe = client.deploy(unique(probe_wasm))
    with Relay(port) as relay:
        with Client(f"tcp://127.0.0.1:{relay.port}", timeout=10.0,
                    curve_secret=curve_pool.keys.secret("client"),
                    curve_public_dir=curve_pool.keys.broker_public) as client:
            result = client.call(probe, "echo", input=MARKER)
        wire = relay.wire()
    assert result.output == MARKER  # it went through the relay, both ways
    assert len(wire) > 2 * len(MARKER) and MARKER not in wire


@pytest.mark.asyncio
async def test_the_async_client_takes_the_same_keys(curve_pool: CurvePool) -> None:
    async with AsyncClient(curve_pool.frontend, timeout=10.0, curve_secret=curve_pool.keys.secret("client"),
                           curve_public_dir=curve_pool.keys.broker_public) as client:
        assert (await client.stats())["workers"] == 1


def test_the_cli_connects_with_keys(curve_pool: CurvePool, capsys: pytest.CaptureFixture[str]) -> None:
    keys = curve_pool.keys
    status = main(["stats", "--json", "--connect", curve_pool.frontend, "--curve-secret",
                   str(keys.secret("client")), "--curve-public-dir", str(keys.broker_public)])
    assert status == 0 and '"workers": 1' in capsys.readouterr().out


def test_curve_options_go_together_and_name_bad_files(tmp_path: Path, pool_keys: PoolKeys,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--connect", "tcp://127.0.0.1:1", "--curve-secret",
                 str(pool_keys.secret("client"))]) == 2
    assert "go together" in capsys.readouterr().err
    missing = tmp_path / "nope.key_secret"
    assert main(["worker", "--connect", "tcp://127.0.0.1:1", "--curve-secret", str(missing),
                 "--curve-public-dir", str(pool_keys.broker_public)]) == 2
    assert str(missing) in capsys.readouterr().out
    assert main(["broker", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
                 "--state", "memory:", "--curve-secret", str(pool_keys.secret("broker")),
                 "--curve-public-dir", str(tmp_path)]) == 2
    assert "no clients/ or workers/ directory" in capsys.readouterr().out
    (tmp_path / "clients").mkdir()
    (tmp_path / "workers").mkdir()
    assert main(["broker", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
                 "--state", "memory:", "--curve-secret", str(pool_keys.secret("broker")),
                 "--curve-public-dir", str(tmp_path)]) == 2
    assert "no '*.key' files" in capsys.readouterr().out


def test_request_ids_are_scoped_by_the_clients_key(curve_pool: CurvePool, counter_wasm: bytes) -> None:
    """Another key's client reusing an id runs its own call; the same key on a new connection does not."""
    body = call_body(Op.CALL, "", "increment", None, None, None, None, None)
    with curve_pool.client() as client, curve_pool.client("other") as other:
        body["code_id"] = client.deploy(unique(counter_wasm))
        assert Result.from_body(client.request(body, request_id=b"shared")).results == [1]
        assert Result.from_body(other.request(body, request_id=b"shared")).results == [2]
    with curve_pool.client() as reconnected:  # the first key again, on a new socket and session
        assert Result.from_body(reconnected.request(body, request_id=b"shared")).results == [1]
        assert reconnected.state_get(body["code_id"], b"count")[0] == (2).to_bytes(8, "little")
