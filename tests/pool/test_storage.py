"""A store that cannot write (a full disk): the call is answered, and the pool recovers by itself.

The broker runs over a real SQLite file whose size is capped with SQLite's
own ``PRAGMA max_page_count`` (what a full disk looks like to SQLite: no
page can be added, every write fails with "database or disk is full");
the broker, the worker process and the sockets are real. The worker holds
one job at a time (``prefetch=0``), so a worker left busy by a lost
answer would stop the pool.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pool.conftest import LOOPBACK, TEST_CONFIG, Pool, unique
from wasmpool.broker.metrics import render
from wasmpool.broker.state import SQLiteStore
from wasmpool.client import Client, Result, call_body
from wasmpool.embed import Broker, BrokerThread
from wasmpool.wire.protocol import ErrorCode, Op, Status
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.supervisor import start_workers

BIG = bytes(range(256)) * 128  # 32 KiB: a commit that needs new pages
UNLIMITED_PAGES = 1_073_741_823  # SQLite's largest max_page_count


class FillableStore(SQLiteStore):
    """SQLite whose file can be made full (no new page) and given room again, while the broker runs."""

    def fill(self) -> None:
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        self._db.execute(f"PRAGMA max_page_count = {pages}")

    def free(self) -> None:
        self._db.execute(f"PRAGMA max_page_count = {UNLIMITED_PAGES}")


@pytest.fixture
def full_pool(tmp_path: Path) -> Iterator[tuple[Pool, FillableStore]]:
    store = FillableStore(tmp_path / "state.db")
    broker = Broker(store, LOOPBACK, LOOPBACK, config=TEST_CONFIG)
    pool = Pool(BrokerThread(broker).start())
    try:
        pool.workers = start_workers(WorkerConfig(endpoint=pool.backend, heartbeat=0.2, prefetch=0), 1)
        pool.wait_for_workers(1)
        yield pool, store
    finally:
        pool.stop()
        store.close()


def put(client: Client, code_id: str, value: bytes, request_id: bytes) -> Result:
    body = call_body(Op.CALL, code_id, "put", None, value, None, None, None)
    return Result.from_body(client.request(body, request_id=request_id))


def test_a_full_disk_is_answered_and_commits_resume_when_space_returns(
        full_pool: tuple[Pool, FillableStore], probe_wasm: bytes, caplog: pytest.LogCaptureFixture) -> None:
    pool, store = full_pool
    with pool.client(timeout=10.0) as client:
        client.retries = 0  # an unanswered call must show as a RequestTimeout, not be hidden by a retry
        code_id = client.deploy(unique(probe_wasm))
        assert put(client, code_id, b"before", b"first").ok
        store.fill()
        with caplog.at_level(logging.ERROR, logger="wasmpool"):
            failed = put(client, code_id, BIG, b"big")
        assert (failed.status, failed.code) == (Status.ERROR, ErrorCode.STORAGE)
        assert "disk is full" in (failed.error or "")
        assert any(r.getMessage() == "storage_error" for r in caplog.records)
        assert client.stats()["counters"]["storage_errors"] == 1
        assert client.state_get(code_id, b"k")[0] == b"before"  # nothing written, reads still served
        assert client.query(code_id, "echo", input=b"still serving").output == b"still serving"
        again = put(client, code_id, BIG, b"big")  # the same id: tried again, not the stored failure
        assert again.code == ErrorCode.STORAGE and client.stats()["counters"]["storage_errors"] == 2
        assert "wasmpool_storage_errors_total 2" in render(client.stats()).splitlines()
        store.free()  # space returns: no restart
        assert put(client, code_id, BIG, b"big").ok
        assert client.state_get(code_id, b"k")[0] == BIG
        assert put(client, code_id, BIG, b"big").ok and client.stats()["sequence"] == 2  # now answered once
