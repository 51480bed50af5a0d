"""State iteration through a real pool: worker processes, ZeroMQ, SQLite and the memory store.

Entries come from the broker in pages (``scan`` CALLBACKs); each page's
range joins the call's read set, so a call whose scanned range gained,
lost or changed a key before it committed is executed again (phantoms).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.pool import scanning as s
from tests.pool.conftest import LOOPBACK, TEST_CONFIG, Pool, unique
from tests.pool.test_concurrency import in_threads
from wasmpool.client import Client
from wasmpool.embed import Broker, BrokerThread
from wasmpool.wire.protocol import MAX_SCAN_PAGE, Status
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.iteration import MAX_ITERATORS, page_sizes
from wasmpool.worker.supervisor import start_workers

GAS = 200_000_000


@pytest.fixture(scope="module")
def memory_pool() -> Iterator[Pool]:
    """A pool over the memory store: one worker process."""
    broker = Broker("memory:", LOOPBACK, LOOPBACK, config=TEST_CONFIG)
    pool = Pool(BrokerThread(broker).start())
    try:
        pool.workers = start_workers(WorkerConfig(endpoint=pool.backend, heartbeat=0.2), 1)
        pool.wait_for_workers(1)
        yield pool
    finally:
        pool.stop()


@pytest.fixture(params=["sqlite", "memory"])
def any_pool(request: pytest.FixtureRequest, pool: Pool, memory_pool: Pool) -> Pool:
    return pool if request.param == "sqlite" else memory_pool


def deploy_scanner(client: Client) -> str:
    return str(client.deploy(unique(s.SCANNER.read_bytes())))


def run(client: Client, code_id: str, *ops: bytes, query: bool = False) -> Any:
    send = client.query if query else client.call
    return send(code_id, "run", input=s.script(*ops), gas_limit=GAS)


MANY = 2 * MAX_SCAN_PAGE + 37  # more than any one page can carry
KEYS = [b"k%04d" % i for i in range(MANY)]


def _fill(client: Client, code_id: str) -> dict[bytes, bytes]:
    values = {key: b"value-%d" % i for i, key in enumerate(KEYS)}
    result = run(client, code_id, *(s.put(k, v) for k, v in values.items()))
    assert result.ok, result.error
    return values


def test_a_scan_over_many_keys_reads_them_in_order_in_pages(any_pool: Pool) -> None:
    with any_pool.client() as client:
        code_id = deploy_scanner(client)
        values = _fill(client, code_id)
        model = s.Model(values)
        for order in (0, 1):
            result = run(client, code_id, s.scan(order=order))
            assert result.ok, result.error
            assert s.pairs(result.output) == model.view({}, b"", b"", order)
            assert len(s.pairs(result.output)) == MANY


def test_bounds_and_the_calls_own_writes_and_deletes(any_pool: Pool) -> None:
    with any_pool.client() as client:
        code_id = deploy_scanner(client)
        values = _fill(client, code_id)
        model = s.Model(values)
        writes: dict[bytes, bytes | None] = {b"k0100": b"mine", b"k0100x": b"new", b"k0101": None,
                                             b"k0200": None, b"k9": b"after"}
        ops = [s.put(k, v) if v is not None else s.delete(k) for k, v in writes.items()]
        for start, end, order in [(b"k0090", b"k0210", 0), (b"k0090", b"k0210", 1), (b"k05", b"", 0),
                                  (b"k05", b"", 1), (b"", b"k0003", 0), (b"z", b"", 0)]:
            result = run(client, code_id, *ops, s.scan(start, end, order))
            assert result.ok, result.error
            assert s.pairs(result.output) == model.view(writes, start, end, order)


def test_caps_truncate_and_the_full_lengths_come_back(any_pool: Pool) -> None:
    with any_pool.client() as client:
        code_id = deploy_scanner(client)
        assert run(client, code_id, s.put(b"long-key", b"v" * 1000), s.put(b"k", b"")).ok
        result = run(client, code_id, s.scan(key_cap=4, value_cap=10))
        assert s.parse_scan(result.output, 4, 10) == [(1, 0, b"k", b""), (8, 1000, b"long", b"v" * 10)]


def test_a_query_scans(any_pool: Pool) -> None:
    with any_pool.client() as client:
        code_id = deploy_scanner(client)
        assert run(client, code_id, s.put(b"a", b"1"), s.put(b"b", b"2")).ok
        result = run(client, code_id, s.scan(order=1), query=True)
        assert result.ok and s.pairs(result.output) == [(b"b", b"2"), (b"a", b"1")]


def test_too_many_iterators_and_a_bad_id_trap(any_pool: Pool) -> None:
    with any_pool.client() as client:
        code_id = deploy_scanner(client)
        assert run(client, code_id, s.open_many(MAX_ITERATORS), s.put(b"x", b"y")).ok
        over = run(client, code_id, s.open_many(MAX_ITERATORS + 1), s.put(b"x", b"z"))
        assert over.status == Status.TRAP and "iterators" in (over.error or "")
        assert run(client, code_id, s.next_of(0)).status == Status.TRAP
        assert run(client, code_id, s.raw_order(2)).status == Status.TRAP
        lens = (1).to_bytes(4, "little") * 2
        assert run(client, code_id, s.scan(), query=True).output == lens + b"xy"  # only the first call wrote


def test_pages_are_fetched_not_one_round_trip_per_key(pool: Pool) -> None:
    with pool.client() as client:
        code_id = deploy_scanner(client)
        _fill(client, code_id)
        before = client.stats()
        result = run(client, code_id, s.scan(), query=True)
        after = client.stats()
        assert result.ok
        pages = len(page_sizes(MANY))  # a page says whether more follow: no empty page at the end
        callbacks = after["counters"]["callbacks"] - before["counters"]["callbacks"]
        scanned = after["counters"]["scan_pages"] - before["counters"]["scan_pages"]
        assert scanned == pages and callbacks <= pages + 1  # and perhaps the module's bytes


def test_the_memory_store_answers_as_sqlite_does(pool: Pool, memory_pool: Pool) -> None:
    ops = [s.put(b"b", b"2"), s.put(b"a", b"1"), s.put(b"c", b"3"), s.delete(b"b"), s.put(b"\xff", b"ff"),
           s.put(b"", b"empty")]
    queries = [s.scan(), s.scan(order=1), s.scan(b"a", b"c"), s.scan(b"b", b"", 1), s.scan(b"\x00", b"\xff")]
    outputs = []
    for which in (pool, memory_pool):
        with which.client() as client:
            code_id = deploy_scanner(client)
            for op in ops:
                assert run(client, code_id, op).ok
            outputs.append([run(client, code_id, q, s.put(b"a", b"again"), q).output for q in queries])
    assert outputs[0] == outputs[1]


# --- phantoms ------------------------------------------------------------------------------------

def test_an_insert_into_a_scanned_range_makes_the_scanning_call_run_again(pool: Pool) -> None:
    """A call counts a range, then spins; meanwhile another call inserts into the range and commits."""
    with pool.client() as client:
        code_id = deploy_scanner(client)
        assert run(client, code_id, s.put(b"k/1", b"x"), s.put(b"k/2", b"x")).ok
        slow: dict[str, Any] = {}

        def scanning() -> None:
            with pool.client() as mine:
                slow["result"] = run(mine, code_id, s.count_insert(10, b"k/", b"k0", b"k/slow"), s.wait(8000))

        pages = client.stats()["counters"].get("scan_pages", 0)
        thread = threading.Thread(target=scanning)
        thread.start()
        # the slow call has scanned (the broker served its page) and spins for some 0.4 s: not a fixed
        # sleep, which a slow call compiled and run faster than the sleep would finish before the insert
        deadline = time.monotonic() + 30.0
        while client.stats()["counters"].get("scan_pages", 0) == pages:
            assert time.monotonic() < deadline, "the slow call never scanned"
            time.sleep(0.005)
        inserted = run(client, code_id, s.put(b"k/3", b"x"))
        thread.join()
        assert inserted.ok
        result = slow["result"]
        assert result.ok, result.error
        # serial order: the insert, then the slow call, which counts three keys
        assert result.output == bytes([3]) and result.attempts >= 2
        final = run(client, code_id, s.scan(b"k/", b"k0"), query=True)
        assert [k for k, _ in s.pairs(final.output)] == [b"k/1", b"k/2", b"k/3", b"k/slow"]


@pytest.mark.parametrize("seed", range(3))
def test_concurrent_capped_inserts_into_a_scanned_range_are_serializable(pool: Pool, seed: int) -> None:
    """Each call counts the range and inserts its own key if fewer than LIMIT are there.

    Without range validation two calls that counted the same keys both
    insert and the range ends over the cap; serially it holds exactly
    LIMIT keys, the inserters counted 0 .. LIMIT-1 once each (their serial
    order), and every other call counted LIMIT.
    """
    limit, calls = 4, 10
    with pool.client() as client:
        code_id = deploy_scanner(client)
        assert run(client, code_id, s.put(b"other", b"outside the range")).ok

        def one(mine: Client, index: int) -> Any:
            key = b"slot/%d-%d" % (seed, index)
            spin = s.wait(30 * (index % 3))
            return key, run(mine, code_id, s.count_insert(limit, b"slot/", b"slot0", key), spin)

        done = in_threads(pool, one, calls)
        assert all(result.ok for _, result in done), [r.error for _, r in done]
        final = run(client, code_id, s.scan(b"slot/", b"slot0"), query=True)
        stored = [k for k, _ in s.pairs(final.output)]
        inserters = {key: result.output[0] for key, result in done if key in stored}
        assert len(stored) == limit
        assert sorted(inserters.values()) == list(range(limit))
        assert all(result.output[0] == limit for key, result in done if key not in stored)
        model = s.Model({b"other": b"outside the range"})  # the serial order the counts give
        for key in sorted(inserters, key=inserters.__getitem__):
            assert model.count_insert(limit, b"slot/", b"slot0", key) == inserters[key]
