"""Committed state lives in SQLite: it survives a broker restart, and workers re-register."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import zmq

from tests.pool.conftest import Pool, start_pool, unique

REBIND_TRIES = 50


def _rebind(start: Callable[[], Pool]) -> Pool:
    """Start again on the same ports; the old listeners close asynchronously, so retry briefly."""
    for _ in range(REBIND_TRIES):
        try:
            return start()
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EADDRINUSE:
                raise
            time.sleep(0.1)
    return start()


def test_committed_state_survives_a_broker_restart(tmp_path: Path, counter_wasm: bytes) -> None:
    db = tmp_path / "state.db"
    first = start_pool(db, workers=1)
    try:
        first.wait_for_workers(1)
        with first.client() as client:
            code_id = client.deploy(unique(counter_wasm))
            assert [client.call(code_id, "increment").results for _ in range(3)] == [[1], [2], [3]]
        worker = first.workers
        first.workers = []
        first.stop()  # the broker only; the worker process keeps running
        second = _rebind(lambda: start_pool(db, 0, frontend=first.frontend, backend=first.backend))
        second.workers = worker
        try:
            second.wait_for_workers(1)  # the old worker registers with the new broker
            with second.client() as client:
                assert client.state_get(code_id, b"count")[0] == (3).to_bytes(8, "little")
                assert client.query(code_id, "get").results == [3]
                assert client.call(code_id, "increment").results == [4]
        finally:
            second.stop()
    finally:
        first.stop()
