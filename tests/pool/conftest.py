"""Fixtures for the pool's tests: a real broker, real worker processes, real sockets and SQLite.

One pool (broker thread + two worker processes) is shared by the whole
session, because starting worker processes is the slow part. Tests that
need a private pool (restarts) build their own with :func:`start_pool`.
Tests stay independent by deploying their own copy of a contract
(:func:`unique`): a different code id is a fresh state namespace.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TypeVar

import pytest
import zmq

from wasmpool.broker.config import BrokerConfig
from wasmpool.client import Client
from wasmpool.embed import Broker, BrokerThread
from wasmpool.wire.protocol import ProtocolLimits
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.supervisor import start_workers, stop_workers

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LOOPBACK = "tcp://127.0.0.1:*"
TEST_LIMITS = ProtocolLimits(max_body=1024 * 1024, max_bin_len=1024 * 1024)
TEST_CONFIG = BrokerConfig(limits=TEST_LIMITS, grace=3.0, default_timeout=10.0, compile_on_deploy=False)
"""Tests count fetches, misses and tiers of first calls: deploys are not compiled ahead unless a test
asks (``tests/pool/test_compile_on_deploy.py``)."""
WORKER_START = 60.0
_tags = itertools.count()


class BrokerEndpoints:
    """The endpoints of the broker thread a test pool holds as ``thread``."""

    thread: BrokerThread

    @property
    def frontend(self) -> str:
        return self.thread.frontend

    @property
    def backend(self) -> str:
        return self.thread.backend


@dataclass
class Pool(BrokerEndpoints):
    """A running broker (in a thread) and its worker processes."""

    thread: BrokerThread
    workers: list[BaseProcess] = field(default_factory=list)

    def client(self, timeout: float = 30.0) -> Client:
        return Client(self.frontend, timeout=timeout)

    def wait_for_workers(self, count: int) -> None:
        """Block until ``count`` workers have registered (they start in about a second)."""
        with self.client(timeout=5.0) as client:
            deadline = time.monotonic() + WORKER_START
            while client.stats()["workers"] < count:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"fewer than {count} workers registered")
                time.sleep(0.05)

    def stop(self) -> None:
        stop_workers(self.workers)
        self.thread.stop()


def start_pool(db: Path, workers: int, frontend: str = LOOPBACK, backend: str = LOOPBACK,
               config: BrokerConfig = TEST_CONFIG) -> Pool:
    """A broker on loopback (random ports unless given) over the SQLite file ``db``, plus workers."""
    broker = Broker(f"sqlite:{db}", frontend, backend, config=config)
    try:
        pool = Pool(BrokerThread(broker).start())
    except BaseException:
        broker.close()
        raise
    if workers:
        pool.workers = start_workers(WorkerConfig(endpoint=pool.backend, heartbeat=0.2), workers)
    return pool


def serving_pool(factory: pytest.TempPathFactory, name: str, workers: int) -> Iterator[Pool]:
    """A pool over a fresh SQLite file, once its ``workers`` registered; stopped afterwards (for fixtures)."""
    pool = start_pool(factory.mktemp(name) / "state.db", workers=workers)
    try:
        pool.wait_for_workers(workers)
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def empty_pool(tmp_path: Path) -> Iterator[Pool]:
    """A broker over a fresh SQLite file, no worker yet (a test starts its own); stopped afterwards."""
    pool = start_pool(tmp_path / "state.db", workers=0)
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="session")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    """The shared pool: two worker processes."""
    yield from serving_pool(tmp_path_factory, "pool", 2)


@pytest.fixture
def client(pool: Pool) -> Iterator[Client]:
    with pool.client() as made:
        yield made


def dealer(endpoint: str) -> zmq.Socket[bytes]:
    """A bare client DEALER on ``endpoint`` (for tests that speak the protocol by hand)."""
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(endpoint)
    return sock


def unique(module: bytes) -> bytes:
    """``module`` plus a custom section with a fresh name: same code, new code id and namespace."""
    name = f"test-{next(_tags)}".encode()
    payload = bytes([len(name)]) + name
    return module + bytes([0, len(payload)]) + payload


@pytest.fixture(scope="session")
def probe_wasm() -> bytes:
    return (FIXTURES / "probe.wasm").read_bytes()


@pytest.fixture(scope="session")
def token_wasm() -> bytes:
    return (EXAMPLES / "token.wasm").read_bytes()


@pytest.fixture(scope="session")
def counter_wasm() -> bytes:
    return (EXAMPLES / "counter.wasm").read_bytes()


@pytest.fixture
def probe(client: Client, probe_wasm: bytes) -> str:
    """A freshly deployed probe contract's code id."""
    return client.deploy(unique(probe_wasm))


@pytest.fixture
def token(client: Client, token_wasm: bytes) -> str:
    """A freshly deployed token contract's code id."""
    return client.deploy(unique(token_wasm))


REBIND_TRIES = 50
_T = TypeVar("_T")


def rebind(start: Callable[[], _T]) -> _T:
    """Start again on the same ports; the old listeners close asynchronously, so retry briefly."""
    for _ in range(REBIND_TRIES):
        try:
            return start()
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EADDRINUSE:
                raise
            time.sleep(0.1)
    return start()
