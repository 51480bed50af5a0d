"""Blocks whose calls call other contracts (``call_contract``): Block-STM over several namespaces.

A block call's execution reads and writes its own contract's state and,
through the contracts it calls, theirs and the registry's. The broker
records every read by location ``(namespace, key)`` -- a chunk result's
``[key, writer, space]`` entries, CALLBACK ``get``/``scan`` with ``space``
-- and every write, the callees' ``nested_writes`` included, so Block-STM
validates a call against what its callees read as well.

The first part drives the broker core with plain frames (a fake worker
answering as a real one would); the second runs real worker processes on
the proxy and callee fixtures against serial execution.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.pool.test_core import PROBE_ID, Harness, command, reply_body
from wasmpool.broker import contracts
from wasmpool.broker.blocks import BlockResult, compute_root
from wasmpool.broker.outgoing import Outgoing, Side
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command

W1, W2 = b"w1", b"w2"
KEY = b"balance"


# --- helpers: a core with contracts, block chunks and a worker's answers ---------------------------------


def harness(**config: Any) -> Harness:
    h = Harness(block_chunks_per_worker=1, **config)
    h.deploy()
    return h


def contract(h: Harness, salt: bytes) -> str:
    """A contract of the probe code, created straight in the store; its address in hex."""
    pending = contracts.instantiation(h.store, PROBE_ID, b"creator", salt, None)
    h.store.commit_many({}, pending.writes())
    return pending.contract.namespace


def ready(h: Harness, identity: bytes) -> list[Outgoing]:
    return h.worker(identity, Command.READY, body={"credits": 1, "cache": [PROBE_ID]})


def block(h: Harness, targets: list[str], rid: bytes = b"blk") -> list[Outgoing]:
    body = {"op": "block", "calls": [{"code_id": target, "function": "add", "args": [i, 1]}
                                     for i, target in enumerate(targets)]}
    return h.client(body, rid=rid)


def chunks_to(outs: list[Outgoing], identity: bytes) -> list[tuple[bytes, list[dict[str, Any]]]]:
    """The chunk REQUESTs sent to ``identity``: (job id, the calls' job bodies)."""
    return [(o.frames[2], reply_body(o)["chunk"]) for o in outs
            if o.side is Side.BACKEND and o.identity == identity and command(o) is Command.REQUEST
            and "chunk" in reply_body(o)]


def requests_to(outs: list[Outgoing], identity: bytes) -> list[dict[str, Any]]:
    return [reply_body(o) for o in outs
            if o.side is Side.BACKEND and o.identity == identity and command(o) is Command.REQUEST]


def entry(reads: list[list[Any]], nested: list[list[Any]] | None = None, status: str = "ok",
          code: int = 0) -> dict[str, Any]:
    """One call's result in a chunk FINAL."""
    body = {"status": status, "code": code, "results": [], "output": b"", "gas_used": 5, "logs": [],
            "writes": {}, "error": None, "reads": reads}
    if nested:
        body["nested_writes"] = nested
    return body


def final(h: Harness, identity: bytes, job_id: bytes, entries: list[dict[str, Any]]) -> list[Outgoing]:
    return h.worker(identity, Command.FINAL, job_id, {"status": "ok", "code": 0, "chunk": entries})


def block_result(outs: list[Outgoing]) -> BlockResult:
    (out,) = [o for o in outs if o.side is Side.FRONTEND]
    assert command(out) is Command.FINAL, reply_body(out)
    return BlockResult.from_wire(reply_body(out))


def root_of_store(h: Harness) -> bytes:
    return compute_root(h.store.items())


# --- the coordinator, with plain frames --------------------------------------------------------------


def test_a_callees_reads_and_writes_join_its_call_and_the_chain_reads_them() -> None:
    """One worker, one chunk of two calls on X, each calling Y: Y's writes are the block's, in the root.

    The first call finds Y in the registry and reads Y's balance from the
    broker (CALLBACKs with ``space``); the second reads the first one's
    nested write along the chain (writer position 0, space Y).
    """
    h = harness()
    x, y = contract(h, b"x"), contract(h, b"y")
    ready(h, W1)
    ((job, calls),) = chunks_to(block(h, [x, x]), W1)
    assert [c["address"].hex() for c in calls] == [x, x]
    record = h.callback(W1, job, 1, op="get", key=bytes.fromhex(y), space=p.REGISTRY_SPACE, index=0)
    assert contracts.Contract.decode(bytes.fromhex(y), record["value"]).code_id == PROBE_ID
    assert h.callback(W1, job, 2, op="code", code_id=PROBE_ID, index=0)["code"] == h.store.get_code(PROBE_ID)
    assert h.callback(W1, job, 3, op="get", key=KEY, space=y, index=0)["value"] is None
    entries = [entry([[bytes.fromhex(y), -1, p.REGISTRY_SPACE], [KEY, -1, y]], [[y, KEY, b"1"]]),
               entry([[bytes.fromhex(y), -1, p.REGISTRY_SPACE], [KEY, 0, y]], [[y, KEY, b"2"]])]
    result = block_result(final(h, W1, job, entries))
    assert result.writes == ((y, KEY, b"2"),)
    assert [r.writes for r in result.receipts] == [((y, KEY, b"1"),), ((y, KEY, b"2"),)]
    assert h.store.get(y, KEY).value == b"2"
    assert result.state_root == root_of_store(h)
    assert h.core.counters["block_tasks_lost"] == 0


def test_a_foreign_read_made_stale_by_an_earlier_calls_callee_is_executed_again() -> None:
    """Two workers side by side: call 1 read Y's balance before call 0's callee wrote it.

    Only the read's location ``(Y, balance)`` ties call 1 to call 0 (they run
    on different workers and their own namespaces differ): validation must
    abort call 1 and run it again over call 0's write.
    """
    h = harness()
    x, z, y = contract(h, b"x"), contract(h, b"z"), contract(h, b"y")
    ready(h, W1)
    ready(h, W2)
    outs = block(h, [x, z])
    ((first, _),) = chunks_to(outs, W1)
    ((second, _),) = chunks_to(outs, W2)
    assert h.callback(W2, second, 1, op="get", key=KEY, space=y, index=0)["value"] is None
    assert not block_outcome(final(h, W2, second, [entry([[KEY, -1, y]])]))
    outs = final(h, W1, first, [entry([], [[y, KEY, b"7"]])])
    assert aborts(h) == 1
    (again, _), = chunks_to(outs, W1) + chunks_to(outs, W2)
    worker = W1 if chunks_to(outs, W1) else W2
    assert h.callback(worker, again, 1, op="get", key=KEY, space=y, index=0)["value"] == b"7"
    result = block_result(final(h, worker, again, [entry([[KEY, -1, y]], [[y, KEY, b"8"]])]))
    assert result.writes == ((y, KEY, b"8"),) and h.store.get(y, KEY).value == b"8"
    assert result.state_root == root_of_store(h)


def aborts(h: Harness) -> int:
    """Aborted incarnations of the running block so far (counted in the stats at its end)."""
    assert h.blocks.current is not None and h.blocks.current.run is not None
    return h.blocks.current.run.stats.aborts


def block_outcome(outs: list[Outgoing]) -> bool:
    """True when ``outs`` answer the block's client."""
    return any(o.side is Side.FRONTEND for o in outs)


def test_a_failed_calls_reads_still_validate_and_its_callees_writes_are_dropped() -> None:
    """Call 1 reverted after its callee wrote Y (the worker may report them): none of it counts, but its
    read of Y's balance (it steered the call) makes it run again once call 0 changed that balance."""
    h = harness()
    x, y = contract(h, b"x"), contract(h, b"y")
    ready(h, W1)
    ready(h, W2)
    outs = block(h, [x, x])
    ((first, _),) = chunks_to(outs, W1)
    ((second, _),) = chunks_to(outs, W2)
    h.callback(W2, second, 1, op="get", key=KEY, space=y, index=0)
    final(h, W2, second, [entry([[KEY, -1, y]], [[y, b"junk", b"!"]], status="reverted", code=1)])
    outs = final(h, W1, first, [entry([], [[y, KEY, b"1"]])])
    assert aborts(h) == 1  # the reverted call read what call 0 wrote
    worker = W1 if chunks_to(outs, W1) else W2
    ((again, _),) = chunks_to(outs, worker)
    assert h.callback(worker, again, 1, op="get", key=KEY, space=y, index=0)["value"] == b"1"
    result = block_result(final(h, worker, again, [entry([[KEY, -1, y]], [[y, b"junk", b"!"]],
                                                         status="reverted", code=1)]))
    assert result.writes == ((y, KEY, b"1"),)
    assert [r.status for r in result.receipts] == [p.Status.OK, p.Status.REVERTED]
    assert result.receipts[1].writes == () and h.store.get(y, b"junk").value is None


def test_a_read_of_a_chain_write_the_writer_did_not_make_is_refused() -> None:
    """A worker claiming call 0 wrote a location it did not write: not recorded (the call runs again)."""
    h = harness()
    x, y = contract(h, b"x"), contract(h, b"y")
    ready(h, W1)
    ((job, _),) = chunks_to(block(h, [x, x]), W1)
    outs = final(h, W1, job, [entry([], [[y, KEY, b"1"]]), entry([[b"other", 0, y]])])
    assert h.core.counters["block_tasks_lost"] == 1 and not block_outcome(outs)


def test_a_code_callback_serves_the_named_module_and_refuses_an_unknown_one() -> None:
    h = harness()
    x = contract(h, b"x")
    ready(h, W1)
    ((job, _),) = chunks_to(block(h, [x]), W1)
    assert h.callback(W1, job, 1, op="code", index=0)["code"] == h.store.get_code(PROBE_ID)
    refused = h.callback(W1, job, 2, op="code", code_id="ab" * 32, index=0)
    assert "code" not in refused or refused.get("code") is None


def test_ordinary_calls_on_a_contract_the_block_reached_wait_for_it() -> None:
    """Once a block's call read Y (a callee), an ordinary call on Y is held until the block ends."""
    h = harness()
    x, y, other = contract(h, b"x"), contract(h, b"y"), contract(h, b"o")
    ready(h, W1)
    ((job, _),) = chunks_to(block(h, [x]), W1)
    ready(h, W2)
    assert requests_to(h.call(code_id=other), W2)  # not reached: runs at once
    h.final(W2, requests_to_ids(h, W2)[0])
    h.callback(W1, job, 1, op="get", key=KEY, space=y, index=0)
    assert not requests_to(h.call(code_id=y), W2)  # reached: held
    outs = final(h, W1, job, [entry([[KEY, -1, y]])])
    assert block_outcome(outs) and requests_to(outs, W2)  # the block ended: the held call goes


def requests_to_ids(h: Harness, identity: bytes) -> list[bytes]:
    return [job.job_id for job in h.core.workers[identity].jobs]


def test_an_ordinary_commit_into_state_the_block_read_starts_the_block_again() -> None:
    """A call on another contract called into Y and committed Y's balance after the block read it: the
    block cannot count that call as before it (it saw the old value), so it runs again from the new state."""
    h = harness()
    x, y = contract(h, b"x"), contract(h, b"y")
    ready(h, W1)
    ((job, _),) = chunks_to(block(h, [x]), W1)
    assert h.callback(W1, job, 1, op="get", key=KEY, space=y, index=0)["value"] is None
    h.store.commit_many({}, {(y, KEY): b"5"})  # as the core commits an ordinary call's nested write
    h.blocks.committed(y, {KEY: b"5"})
    outs = final(h, W1, job, [entry([[KEY, -1, y]], [[y, KEY, b"1"]])])
    assert not block_outcome(outs) and h.core.counters["blocks_restarted"] == 1
    ((again, _),) = chunks_to(outs, W1)  # the block started again at once, on the freed worker
    assert h.callback(W1, again, 1, op="get", key=KEY, space=y, index=0)["value"] == b"5"
    result = block_result(final(h, W1, again, [entry([[KEY, -1, y]], [[y, KEY, b"6"]])]))
    assert result.writes == ((y, KEY, b"6"),) and result.state_root == root_of_store(h)


@pytest.mark.parametrize("blind", [True, False], ids=["blind-write", "read-then-written"])
def test_an_ordinary_commit_where_the_block_wrote_keeps_the_root_of_the_store(blind: bool) -> None:
    """An outside call's write to a location the block also writes: the block's lands last, in the store
    and in the state root alike."""
    h = harness()
    x, y = contract(h, b"x"), contract(h, b"y")
    ready(h, W1)
    ((job, _),) = chunks_to(block(h, [x, x]), W1)
    reads = [] if blind else [[b"seen", -1, y]]
    if not blind:
        h.callback(W1, job, 1, op="get", key=b"seen", space=y, index=0)
    h.store.commit_many({}, {(y, KEY): b"outside"})
    h.blocks.committed(y, {KEY: b"outside"})
    result = block_result(final(h, W1, job, [entry(reads, [[y, KEY, b"1"]]), entry([], [[y, b"k2", b"2"]])]))
    assert h.store.get(y, KEY).value == b"1"
    assert result.state_root == root_of_store(h)
