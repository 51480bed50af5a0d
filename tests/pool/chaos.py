"""Helpers for the fault tests: a pool with supervised workers, ways to hurt them, and the serial replay.

A :class:`FaultPool` is a broker (in a thread, over SQLite) whose worker
processes are kept alive by a real :class:`~wasmpool.worker.supervisor.Supervisor`:
a killed worker is replaced as ``wasmpool worker`` would replace it. The
liveness numbers are shortened (0.25 s heartbeats, 3 missed = dead) so the
tests wait for events in well under a second; nothing else is faked.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.pool.conftest import LOOPBACK, TEST_LIMITS, BrokerEndpoints, rebind
from wasmpool.broker.config import BrokerConfig
from wasmpool.client import Client
from wasmpool.embed import Broker, BrokerThread
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.process import main as worker_main
from wasmpool.worker.supervisor import Supervisor

HEARTBEAT = 0.25
FAULT_CONFIG = BrokerConfig(limits=TEST_LIMITS, grace=3.0, default_timeout=10.0,
                            heartbeat_interval=HEARTBEAT, liveness=3)
CPU_LIMIT_SECONDS = 2  # RLIMIT_CPU of the poison-pill test's workers
WAIT = 60.0
U64 = 1 << 64
MIX = 31
T = TypeVar("T")


def worker_config(endpoint: str, max_jobs: int = 0) -> WorkerConfig:
    """Workers for the fault tests: short heartbeats and reconnect delays."""
    return WorkerConfig(endpoint=endpoint, heartbeat=HEARTBEAT, reconnect_min=0.2, reconnect_max=1.0,
                        max_jobs=max_jobs)


def cpu_limited_worker(config: WorkerConfig) -> None:
    """A worker process the kernel kills (SIGXCPU) after CPU_LIMIT_SECONDS of CPU time; no core dump.

    This is how the poison-pill test gets a contract that kills every worker
    running it: a real OS resource limit, nothing in the worker's code.
    """
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_SECONDS, CPU_LIMIT_SECONDS + 1))
    worker_main(config)


def wait_until(probe: Callable[[], T | None], what: str, timeout: float = WAIT, every: float = 0.02) -> T:
    """Poll ``probe`` until it returns something other than None/False (or fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def wait_for_stats(client: Client, ready: Callable[[dict[str, Any]], bool],
                   timeout: float = WAIT) -> dict[str, Any]:
    """Poll the broker's stats until ``ready`` holds for them; returns them (fails after ``timeout``)."""
    last: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        nonlocal last
        last = client.stats()
        return last if ready(last) else None
    try:
        return wait_until(probe, "the broker's stats", timeout, every=0.05)
    except AssertionError as exc:
        raise AssertionError(f"stats never got there: {last}") from exc


@dataclass
class FaultPool(BrokerEndpoints):
    """A broker thread over ``db`` and supervised worker processes."""

    db: Path
    thread: BrokerThread
    supervisor: Supervisor
    config: BrokerConfig = FAULT_CONFIG
    _watching: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None

    def client(self, timeout: float = 30.0, retries: int = 2) -> Client:
        return Client(self.frontend, timeout=timeout, retries=retries)

    def stats(self) -> dict[str, object]:
        with self.client(timeout=5.0) as client:
            return client.stats()

    def counter(self, name: str) -> int:
        counters = self.thread.broker.core.counters
        return counters[name]

    def wait_for_workers(self, count: int) -> None:
        wait_until(lambda: len(self.thread.broker.core.workers) >= count, f"{count} workers")

    def busy_pid(self) -> int:
        """The pid of a worker holding a job (waits for one)."""
        def probe() -> int | None:
            busy = [w.pid for w in list(self.thread.broker.core.workers.values()) if w.job is not None]
            return busy[0] if busy else None
        return wait_until(probe, "a busy worker")

    def computing_pid(self) -> int:
        """The pid of a worker whose job has started (the broker served its first read; waits for one).

        A job handed to a worker may still wait in its socket; a worker frozen
        then and resumed later drops it on reconnecting, without running it.
        """
        def probe() -> int | None:
            running = [w.pid for w in list(self.thread.broker.core.workers.values())
                       if w.job is not None and w.job.reads]
            return running[0] if running else None
        return wait_until(probe, "a worker computing a job")

    def supervise(self) -> None:
        """Replace dead workers in the background, as ``wasmpool worker`` does."""
        def loop() -> None:
            while not self._watching.wait(0.1):
                self.supervisor.check()
        self._watcher = threading.Thread(target=loop, name="test-supervisor", daemon=True)
        self._watcher.start()

    def restart_broker(self) -> None:
        """Stop the broker (its store closes) and start a new one on the same ports and database."""
        frontend, backend = self.frontend, self.backend
        self.thread.stop()
        self.thread = rebind(lambda: _broker(self.db, frontend, backend, self.config))

    def stop(self) -> None:
        self._watching.set()
        if self._watcher is not None:
            self._watcher.join(5)
        self.supervisor.stop(drain=5.0)
        self.thread.stop()


def _broker(db: Path, frontend: str, backend: str, config: BrokerConfig) -> BrokerThread:
    broker = Broker(f"sqlite:{db}", frontend, backend, config=config)
    try:
        return BrokerThread(broker).start()
    except BaseException:
        broker.close()
        raise


def start_fault_pool(db: Path, workers: int, *, config: BrokerConfig = FAULT_CONFIG,
                     target: Callable[[WorkerConfig], None] | None = None, max_jobs: int = 0) -> FaultPool:
    """A broker on random loopback ports and ``workers`` supervised worker processes (registered)."""
    thread = _broker(db, LOOPBACK, LOOPBACK, config)
    supervisor = Supervisor(worker_config(thread.backend, max_jobs), workers, target=target, min_uptime=0.0)
    pool = FaultPool(db, thread, supervisor.start(), config)
    try:
        pool.supervise()
        pool.wait_for_workers(workers)
    except BaseException:
        pool.stop()
        raise
    return pool


def kill(pid: int, signum: int) -> None:
    """Send ``signum`` to ``pid`` if it still exists."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


# --- the serial replay ---------------------------------------------------------------------------


def mix(value: int, x: int) -> int:
    """The contract's step on unsigned 64-bit values."""
    return (value * MIX + x) % U64


def replay(calls: Iterable[tuple[int, int]], final: int) -> int:
    """Check committed ``(x, result)`` calls of one slot form one serial chain from 0 to ``final``.

    Each result determines the value it was computed from (31 is invertible
    modulo 2**64), so the chain's order is the commit order. Returns the
    chain's length; raises AssertionError when a call is lost, doubled or out
    of any serial order.
    """
    inverse = pow(MIX, -1, U64)
    after: dict[int, int] = {}
    count = 0
    for x, result in calls:
        before = ((result % U64 - x) * inverse) % U64
        assert before not in after, f"two commits from the same value {before}"
        after[before] = result % U64
        count += 1
    value, steps = 0, 0
    while value in after:
        value = after.pop(value)
        steps += 1
    assert steps == count, f"{count - steps} committed call(s) are not on the serial chain"
    assert value == final % U64, "the stored value differs from the serial replay"
    return steps


def signed(value: int) -> int:
    """An unsigned 64-bit value as the i64 the contract returns."""
    return value - U64 if value >= 1 << 63 else value
