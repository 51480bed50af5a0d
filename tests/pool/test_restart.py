"""Restarts and failures: state survives a broker restart; a dead worker's place is taken at once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.pool.conftest import TEST_CONFIG, rebind, start_pool, unique


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
        second = rebind(lambda: start_pool(db, 0, frontend=first.frontend, backend=first.backend))
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


def test_calls_keep_succeeding_when_a_worker_process_dies(tmp_path: Path, probe_wasm: bytes) -> None:
    pool = start_pool(tmp_path / "state.db", workers=2)
    try:
        pool.wait_for_workers(2)
        with pool.client() as client:
            code_id = client.deploy(unique(probe_wasm))
            assert client.call(code_id, "add", [1, 1]).ok
            (warm,) = [w["pid"] for w in client.stats()["worker_list"] if w["cached"]]
            victim = next(w for w in pool.workers if w.pid == warm)  # the one the next call would go to
            os.kill(warm, signal.SIGKILL)
            victim.join(10)
            time.sleep(1.0)  # the broker's transport notices the closed connection
            start = time.monotonic()
            results = [client.call(code_id, "add", [i, 1]) for i in range(20)]
            assert [r.results for r in results] == [[i + 1] for i in range(20)]
            assert time.monotonic() - start < TEST_CONFIG.grace  # nothing waited for a deadline
            assert client.stats()["workers"] == 1 and client.stats()["counters"]["workers_lost"] == 1
    finally:
        pool.stop()
