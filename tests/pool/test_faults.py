"""The pool under faults: real worker processes killed, frozen and restarted, a real broker restarted.

Every test builds its own pool (``tests.pool.chaos``): a broker thread over
SQLite in tmp_path and supervised worker processes with 0.25 s heartbeats.
Nothing is mocked; waits poll for events with deadlines.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.pool.chaos import (
    FaultPool,
    cpu_limited_worker,
    kill,
    replay,
    start_fault_pool,
    wait_until,
)
from tests.pool.conftest import FIXTURES, unique
from wasmpool.broker.state import SQLiteStore
from wasmpool.client import AsyncClient, Client, Result
from wasmpool.wire.errors import Busy
from wasmpool.wire.protocol import ErrorCode

SLOW = 20_000_000  # loop iterations of slow_mix: about two seconds of a worker's time
BIG_GAS = 10_000_000_000
PACE = 0.05  # seconds between the calls that keep flowing beside the poison pill
FAULTS_WASM = (FIXTURES / "faults.wasm").read_bytes()


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[FaultPool]:
    made = start_fault_pool(tmp_path / "state.db", workers=2)
    try:
        yield made
    finally:
        made.stop()


def value_of(client: Client, code_id: str, slot: int) -> int:
    value, _ = client.state_get(code_id, bytes((slot,)))
    return 0 if value is None else int.from_bytes(value, "little")


def slow_call(pool: FaultPool, code_id: str, x: int) -> Future[Result]:
    """slow_mix(0, x) from a thread of its own."""
    def run() -> Result:
        with pool.client() as client:
            return client.call(code_id, "slow_mix", [0, x, SLOW], gas_limit=BIG_GAS, timeout=30.0)
    executor = ThreadPoolExecutor(1)
    try:
        return executor.submit(run)
    finally:
        executor.shutdown(wait=False)


def test_kill_9_mid_job_the_job_completes_on_another_worker_and_commits_once(pool: FaultPool) -> None:
    with pool.client() as client:
        code_id = client.deploy(unique(FAULTS_WASM))
        pending = slow_call(pool, code_id, 7)
        victim = pool.busy_pid()
        os.kill(victim, signal.SIGKILL)
        result = pending.result(timeout=60)
        assert result.ok and result.results == [7] and result.attempts == 2
        assert value_of(client, code_id, 0) == 7
        assert client.stats()["sequence"] == 1  # one commit
        assert pool.counter("lost_died") == 1
        pool.wait_for_workers(2)  # the supervisor replaced the killed process


def test_a_sigstopped_worker_loses_its_job_and_its_late_final_is_ignored(pool: FaultPool) -> None:
    with pool.client() as client:
        code_id = client.deploy(unique(FAULTS_WASM))
        pending = slow_call(pool, code_id, 5)
        victim = pool.computing_pid()  # frozen mid-computation, so that it has a late FINAL to send
        os.kill(victim, signal.SIGSTOP)
        try:
            result = pending.result(timeout=60)  # re-dispatched once the liveness window passed
            assert result.ok and result.results == [5] and result.attempts == 2
            assert pool.counter("lost_silent") == 1
        finally:
            os.kill(victim, signal.SIGCONT)
        # the resumed worker finishes the old job; its FINAL (writes included) must not commit
        wait_until(lambda: pool.counter("stray_finals") + pool.counter("late_finals") >= 1, "the late FINAL")
        assert value_of(client, code_id, 0) == 5 and client.stats()["sequence"] == 1
        wait_until(lambda: victim in [w.pid for w in pool.thread.broker.core.workers.values()],
                   "the resumed worker to register again")
        assert client.call(code_id, "mix", [0, 1]).results == [5 * 31 + 1]


def test_a_contract_that_kills_every_worker_fails_after_three_losses_while_others_flow(
        tmp_path: Path) -> None:
    """``burn`` runs until the kernel kills its worker for exceeding RLIMIT_CPU (SIGXCPU), every time."""
    pool = start_fault_pool(tmp_path / "state.db", workers=2, target=cpu_limited_worker)
    try:
        with pool.client() as client:
            code_id = client.deploy(unique(FAULTS_WASM))
            burner = Client(pool.frontend, timeout=60.0)
            with ThreadPoolExecutor(1) as executor:
                pending = executor.submit(burner.call, code_id, "burn", gas_limit=BIG_GAS, timeout=120.0)
                flowing = []
                while not pending.done():  # paced: the healthy workers must stay within their CPU limit
                    flowing.append(client.call(code_id, "mix", [1, len(flowing) + 1]))
                    time.sleep(PACE)
                result = pending.result()
            burner.close()
            assert result.status == "error" and result.code is ErrorCode.WORKER_LOST
            assert "lost its worker 3 times" in (result.error or "") and result.attempts == 3
            assert pool.counter("poison_pills") == 1
            assert flowing and all(r.ok for r in flowing)
            mixed = [(i + 1, r.results[0]) for i, r in enumerate(flowing)]
            assert replay(mixed, value_of(client, code_id, 1)) == len(flowing)
    finally:
        pool.stop()


def test_a_broker_restart_loses_and_doubles_nothing(pool: FaultPool) -> None:
    """Clients retry with the same request ids across two broker restarts; workers re-register."""
    with pool.client() as client:
        code_id = client.deploy(unique(FAULTS_WASM))
    calls_per_client, clients = 40, 4
    outcomes: dict[int, list[tuple[int, Result]]] = {slot: [] for slot in range(clients)}
    errors: list[BaseException] = []

    def run(slot: int) -> None:
        try:
            with Client(pool.frontend, timeout=1.0, retries=60) as mine:
                for _ in range(calls_per_client):
                    x = random.randrange(1, 1 << 31)
                    outcomes[slot].append((x, mine.call(code_id, "mix", [slot, x])))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(clients)]
    for thread in threads:
        thread.start()
    for target in (40, 80):
        wait_until(lambda t=target: sum(len(o) for o in outcomes.values()) >= t, "calls to flow")
        pool.restart_broker()
    for thread in threads:
        thread.join(120)
    assert not errors
    with pool.client() as client:
        for slot, done in outcomes.items():
            assert all(r.ok for _, r in done)
            assert replay([(x, r.results[0]) for x, r in done], value_of(client, code_id, slot)) \
                == calls_per_client
        assert client.stats()["sequence"] == clients * calls_per_client


@pytest.mark.slow
def test_ten_thousand_calls_from_twenty_clients_while_workers_are_killed(tmp_path: Path) -> None:
    """Every call answered once; each slot's final value equals the serial replay of its commits."""
    pool = start_fault_pool(tmp_path / "state.db", workers=3)
    try:
        with pool.client() as client:
            code_id = client.deploy(unique(FAULTS_WASM))
        figures = asyncio.run(_chaos(pool, code_id, clients=20, calls=500, slots=10))
        with pool.client() as client:
            final = {slot: value_of(client, code_id, slot) for slot in range(10)}
            sequence = client.stats()["sequence"]
        committed = sum(replay(figures.committed[slot], final[slot]) for slot in range(10))
        assert figures.answered == 10_000 and figures.failed == 0, figures.failures.most_common(3)
        assert committed == sequence == 10_000  # nothing lost, nothing doubled
        assert figures.kills >= 5
        print(f"chaos: {figures.answered} calls answered, {figures.kills} workers killed, "
              f"{committed} commits, lost 0, duplicated 0, "
              f"{pool.counter('requeued')} requeued, {pool.counter('reexecutions')} re-executed")
    finally:
        pool.stop()


class Figures:
    def __init__(self, slots: int) -> None:
        self.committed: dict[int, list[tuple[int, int]]] = {slot: [] for slot in range(slots)}
        self.answered = self.failed = self.kills = 0
        self.failures: Counter[str] = Counter()


async def _chaos(pool: FaultPool, code_id: str, clients: int, calls: int, slots: int) -> Figures:
    figures = Figures(slots)
    rng = random.Random(1234)
    stop = asyncio.Event()

    async def one_client(index: int) -> None:
        async with AsyncClient(pool.frontend, timeout=5.0, retries=10) as client:
            for _ in range(calls):
                slot, x = rng.randrange(slots), rng.randrange(1, 1 << 31)
                result = await client.call(code_id, "mix", [slot, x], timeout=60.0)
                figures.answered += 1
                if result.ok:
                    figures.committed[slot].append((x, result.results[0]))
                else:
                    figures.failed += 1
                    figures.failures[f"{result.status}: {result.error}"] += 1

    async def killer() -> None:
        while not stop.is_set() and figures.kills < 8:
            await asyncio.sleep(rng.uniform(0.5, 1.5))
            alive = [w.pid for w in list(pool.thread.broker.core.workers.values())]  # registered ones
            if len(alive) >= 2:
                kill(rng.choice(alive), signal.SIGKILL)
                figures.kills += 1

    chaos = asyncio.create_task(killer())
    await asyncio.gather(*(one_client(i) for i in range(clients)))
    stop.set()
    await chaos
    return figures


def test_sigterm_lets_a_worker_finish_its_job_then_leave(pool: FaultPool) -> None:
    with pool.client() as client:
        code_id = client.deploy(unique(FAULTS_WASM))
        pending = slow_call(pool, code_id, 3)
        victim = pool.busy_pid()
        process = next(p for p in pool.supervisor.processes if p.pid == victim)
        os.kill(victim, signal.SIGTERM)
        result = pending.result(timeout=60)
        assert result.ok and result.results == [3] and result.attempts == 1  # finished where it began
        process.join(10)
        assert process.exitcode == 0 and pool.counter("workers_left") >= 1
        assert pool.counter("requeued") == 0


def test_a_worker_is_recycled_after_its_job_quota(tmp_path: Path) -> None:
    pool = start_fault_pool(tmp_path / "state.db", workers=1, max_jobs=2)
    try:
        with pool.client() as client:
            code_id = client.deploy(unique(FAULTS_WASM))
            assert all(client.call(code_id, "mix", [0, x]).ok for x in range(1, 6))
            wait_until(lambda: pool.supervisor.restarts >= 2, "a fresh process every two jobs")
            assert pool.counter("workers_left") >= 2  # each said DISCONNECT on its way out
            assert pool.counter("requeued") == 0  # recycling loses nothing
    finally:
        pool.stop()


def test_a_draining_broker_finishes_in_flight_calls_refuses_new_ones_and_stops(pool: FaultPool) -> None:
    with pool.client() as client:
        code_id = client.deploy(unique(FAULTS_WASM))
        pending = slow_call(pool, code_id, 9)
        pool.busy_pid()
        pool.thread.broker.drain(30.0)
        with pytest.raises(Busy, match="shutting down"):
            client.call(code_id, "mix", [1, 1])
        result = pending.result(timeout=60)
        assert result.ok and result.results == [9]
    wait_until(lambda: pool.thread.broker._sockets is None, "the broker to stop")
    store = SQLiteStore(pool.db)  # closed cleanly by the broker: reopens with the commit in it
    try:
        assert store.sequence() == 1 and store.get(code_id, bytes((0,))).value == (9).to_bytes(8, "little")
    finally:
        store.close()
