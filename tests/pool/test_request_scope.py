"""Request ids belong to the client that sent them: real broker, real workers, real sockets and SQLite.

Two clients using the same request id make two requests: neither reads the
other's answer, neither pre-empts or takes over the other's request, and a
client's own retry, even across a broker restart, still gets its first
answer without running again (the CURVE case is in test_curve_pool.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

from tests.pool.chaos import wait_until
from tests.pool.conftest import Pool, rebind, start_pool, unique
from wasmpool.client import Client, Result, call_body
from wasmpool.wire.protocol import Op
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.supervisor import start_workers

SAME_ID = b"the-same-request-id"


def increment(client: Client, code_id: str, request_id: bytes = SAME_ID) -> Result:
    body = call_body(Op.CALL, code_id, "increment", None, None, None, None, None)
    return Result.from_body(client.request(body, request_id=request_id))


def count(client: Client, code_id: str) -> int:
    return int.from_bytes(client.state_get(code_id, b"count")[0] or b"", "little")


def test_another_client_reusing_a_request_id_runs_its_own_call(pool: Pool, counter_wasm: bytes) -> None:
    with pool.client() as first, pool.client() as second:
        code_id = first.deploy(unique(counter_wasm))
        assert increment(second, code_id).results == [1]  # the second client takes the id first
        assert increment(first, code_id).results == [2]  # the first one's call still runs
        assert increment(first, code_id).results == [2]  # its own retry: answered, not run again
        assert increment(second, code_id).results == [1]
        assert count(first, code_id) == 2


def test_a_request_in_flight_is_not_taken_over_by_another_client(tmp_path: Path, counter_wasm: bytes) -> None:
    pool = start_pool(tmp_path / "state.db", workers=0)  # no worker yet: both requests wait in the queue
    try:
        with pool.client() as client:
            code_id = client.deploy(unique(counter_wasm))
        answers: dict[str, Result] = {}

        def send(name: str) -> None:
            with pool.client() as mine:
                answers[name] = increment(mine, code_id)

        threads = [threading.Thread(target=send, args=(name,)) for name in ("first", "second")]
        for thread in threads:
            thread.start()
        with pool.client() as client:
            wait_until(lambda: client.stats()["queue"] == 2, "both requests queued, each its own")
            pool.workers = start_workers(WorkerConfig(endpoint=pool.backend, heartbeat=0.2), 1)
            for thread in threads:
                thread.join(60)
            assert sorted(answer.results[0] for answer in answers.values()) == [1, 2]
            assert count(client, code_id) == 2
    finally:
        pool.stop()


def test_a_session_keeps_its_answers_across_a_broker_restart(tmp_path: Path, counter_wasm: bytes) -> None:
    db, session = tmp_path / "state.db", b"my-session-id-01"
    first = start_pool(db, workers=1)
    try:
        first.wait_for_workers(1)
        with Client(first.frontend, timeout=30.0, session=session) as client:
            code_id = client.deploy(unique(counter_wasm))
            assert increment(client, code_id).results == [1]
        workers, first.workers = first.workers, []
        first.stop()  # the broker only: its memory of replies is gone, the receipts stay in SQLite
        second = rebind(lambda: start_pool(db, 0, frontend=first.frontend, backend=first.backend))
        second.workers = workers
        try:
            second.wait_for_workers(1)
            with Client(second.frontend, timeout=30.0, session=session) as client:
                assert increment(client, code_id).results == [1]  # the same session: the first answer
                assert count(client, code_id) == 1
            with second.client() as stranger:
                assert increment(stranger, code_id).results == [2]  # another client: its own call
                assert count(stranger, code_id) == 2
        finally:
            second.stop()
    finally:
        first.stop()
