"""Every outcome that changes or decides state survives a broker restart: no retry ever runs twice.

A client (one session) sends calls ending each way a call can end, and a
block, then the broker is stopped and a new one started on the same SQLite
file (its memory of replies is gone; the worker process stays). The same
session retries every request id: each gets the very body it got first,
and the new broker runs nothing (no job, no block, no commit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.pool.conftest import rebind, start_pool, unique
from wasmpool.client import Client, block_body, call_body
from wasmpool.wire.protocol import Op

SESSION = b"durable-outcomes"
SMALL_GAS = 20_000


def requests(probe: str, counter: str) -> dict[bytes, dict[str, Any]]:
    """One request per outcome kind, by request id."""
    def call(function: str, args: list[int] | None = None, **extra: Any) -> dict[str, Any]:
        return call_body(Op.CALL, probe, function, args, extra.get("input"), None, extra.get("gas"), None)
    increments = [{"code_id": counter, "function": "increment"}] * 3
    return {
        b"ok-writes": call("put", input=b"kept"),
        b"ok-no-writes": call("add", [2, 3]),
        b"reverted": call("write_then_revert"),
        b"trap": call("write_then_trap"),
        b"out_of_gas": call("spin", gas=SMALL_GAS),
        b"block": block_body(increments, False, None, None),
    }


def test_retries_after_a_restart_get_the_first_answer_and_run_nothing(
        tmp_path: Path, probe_wasm: bytes, counter_wasm: bytes) -> None:
    db = tmp_path / "state.db"
    first = start_pool(db, workers=1)
    try:
        first.wait_for_workers(1)
        with Client(first.frontend, timeout=30.0, session=SESSION) as client:
            probe, counter = client.deploy(unique(probe_wasm)), client.deploy(unique(counter_wasm))
            sent = requests(probe, counter)
            answers = {rid: client.request(body, request_id=rid) for rid, body in sent.items()}
            sequence = client.stats()["sequence"]
        statuses = {rid: body.get("status", "block") for rid, body in answers.items()}
        assert statuses == {b"ok-writes": "ok", b"ok-no-writes": "ok", b"reverted": "reverted",
                            b"trap": "trap", b"out_of_gas": "out_of_gas", b"block": "block"}
        workers, first.workers = first.workers, []
        first.stop()
        second = rebind(lambda: start_pool(db, 0, frontend=first.frontend, backend=first.backend))
        second.workers = workers
        try:
            second.wait_for_workers(1)
            with Client(second.frontend, timeout=30.0, session=SESSION) as client:
                again = {rid: client.request(body, request_id=rid) for rid, body in sent.items()}
                stats = client.stats()
                assert client.state_get(counter, b"count")[0] == (3).to_bytes(8, "little")
        finally:
            second.stop()
        assert again == answers
        assert stats["jobs_done"] == 0 and stats["counters"].get("blocks_done", 0) == 0
        assert stats["counters"]["receipts_replayed"] == len(sent) and stats["sequence"] == sequence
        print("durable outcomes across a restart: " + ", ".join(
            f"{rid.decode()} {statuses[rid]} -> replayed" for rid in sent))
    finally:
        first.stop()
