"""Blocks whose calls call other contracts (``call_contract``): Block-STM over several namespaces.

A block call's execution reads and writes its own contract's state and,
through the contracts it calls, theirs and the registry's. The broker
records every read by location ``(namespace, key)`` -- a chunk result's
``[key, writer, space]`` entries, CALLBACK ``get``/``scan`` with ``space``
-- and every write, the callees' ``nested_writes`` included, so Block-STM
validates a call against what its callees read as well.

Three parts: Block-STM alone (:class:`~wasmpool.broker.blocks.BlockRun`)
with pure-Python contracts calling contracts, against a plain loop; the
broker core driven with plain frames (a fake worker answering as a real
one would); and real worker processes running the ``proxy``, ``callee``
and ``ledger`` fixtures, against the calls executed one after another.
"""

from __future__ import annotations

import random
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pool.blocksim import View, run_block
from tests.pool.conftest import FIXTURES
from tests.pool.test_block_core import DictView, check_against_serial, run_chunked, storage_of
from tests.pool.test_blocks import (
    BLOCK_CONFIG,
    BURN,
    BURN_GAS,
    Fixture,
    assert_same,
    committed,
    new_fixture,
    root_of,
    serial_block,
)
from tests.pool.test_core import PROBE_ID, Harness, command, reply_body
from wasmpool.broker import contracts
from wasmpool.broker.blocks import BlockCall, BlockResult, BlockRun, Outcome, compute_root
from wasmpool.broker.blocks.coordinator import MAX_CHUNK
from wasmpool.broker.jobs import Job
from wasmpool.broker.outgoing import Outgoing, Side
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, Op, Status
from wasmpool.wire.receipts import Location, Value, events_of
from wasmpool.worker.execute import Runtime, execute
from wasmpool.worker.host import Host
from wasmpool.worker.modules import Loaded
from wasmpool.worker.modules import load as load_module
from wasmpool.worker.readers import MappingState

W1, W2 = b"w1", b"w2"
KEY = b"balance"
GAS = 10_000_000
State = dict[Location, Value]


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


def final(h: Harness, identity: bytes, job_id: bytes, entries: list[dict[str, Any]],
          lookups: bool = True) -> list[Outgoing]:
    """A chunk's FINAL. With ``lookups``, first what a worker does before writing into a contract: read
    its registry record (a CALLBACK; the read joins the call's reads)."""
    for index, body in enumerate(entries if lookups else ()):
        for space in dict.fromkeys(space for space, _, _ in body.get("nested_writes", ())):
            address = bytes.fromhex(space)
            h.callback(identity, job_id, 1000 + index, op="get", key=address, space=p.REGISTRY_SPACE,
                       index=index)
            body["reads"] = [[address, -1, p.REGISTRY_SPACE], *body["reads"]]
    return h.worker(identity, Command.FINAL, job_id, {"status": "ok", "code": 0, "chunk": entries})


def block_result(outs: list[Outgoing]) -> BlockResult:
    (out,) = [o for o in outs if o.side is Side.FRONTEND]
    assert command(out) is Command.FINAL, reply_body(out)
    return BlockResult.from_wire(reply_body(out))


def root_of_store(h: Harness) -> bytes:
    return compute_root(h.store.items())


# --- Block-STM alone: simulated contracts calling contracts, against a plain loop ---------------------

TOKENS = ("token-0", "token-1", "token-2")  # three instances of one token: three namespaces
ROUTER = "router"
ACCOUNTS = (b"a", b"b", b"c")


class Frame:
    """One outermost call's buffer over the state it reads (a view), with checkpoints, as a worker's
    transaction: a callee that fails is rolled back to its checkpoint, its reads stay made."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.writes: dict[Location, Value] = {}
        self.gas = 1_000

    def get(self, location: Location) -> int:
        self.gas += 200
        value = self.writes[location] if location in self.writes else self.view.get(*location)
        return 0 if value is None else int.from_bytes(value, "little")

    def put(self, location: Location, amount: int) -> None:
        self.gas += 500
        self.writes[location] = amount.to_bytes(8, "little")


@dataclass(frozen=True)
class Hop:
    """A token move (called directly or by the router): reverts when the sender is short."""

    token: int
    frm: bytes
    to: bytes
    amount: int

    def apply(self, frame: Frame) -> int:
        space = TOKENS[self.token]
        have = frame.get((space, self.frm))
        if have < self.amount:
            return 1
        frame.put((space, self.frm), have - self.amount)
        frame.put((space, self.to), frame.get((space, self.to)) + self.amount)
        return 0

    def run(self, view: View) -> Outcome:
        frame = Frame(view)
        if self.apply(frame):
            return Outcome(Status.REVERTED, gas_used=frame.gas, error="short")
        return Outcome(Status.OK, gas_used=frame.gas, writes=frame.writes)


@dataclass(frozen=True)
class Route:
    """The router calls each hop in turn (a failed hop is rolled back and the router goes on), records
    the hops' codes in its own namespace, and reverts at the end when told to (then nothing lands)."""

    hops: tuple[Hop, ...]
    revert: bool = False

    def run(self, view: View) -> Outcome:
        frame = Frame(view)
        codes = []
        for hop in self.hops:
            checkpoint = dict(frame.writes)
            code = hop.apply(frame)
            if code:
                frame.writes = checkpoint
            codes.append(code)
        frame.put((ROUTER, b"last"), int.from_bytes(bytes(codes), "little"))
        if self.revert:
            return Outcome(Status.REVERTED, gas_used=frame.gas, writes=frame.writes, error="router")
        return Outcome(Status.OK, output=bytes(codes), gas_used=frame.gas, writes=frame.writes)


@st.composite
def routed_blocks(draw: st.DrawFn) -> tuple[list[Hop | Route], State]:
    account = st.sampled_from(ACCOUNTS)
    hop = st.builds(Hop, st.integers(0, len(TOKENS) - 1), account, account, st.integers(0, 60))
    route = st.builds(Route, st.lists(hop, min_size=1, max_size=4).map(tuple), st.booleans())
    calls = draw(st.lists(st.one_of(hop, route, route), max_size=30))
    initial: State = {(token, account): draw(st.integers(0, 100)).to_bytes(8, "little")
                      for token in TOKENS for account in ACCOUNTS}
    return calls, initial


@pytest.mark.parametrize("losses", [0, 3], ids=["no-losses", "workers-lost"])
@pytest.mark.parametrize("workers", [1, 2, 4], ids=lambda n: f"{n}-workers")
@given(block=routed_blocks(), seed=st.integers(0, 2**32))
@settings(max_examples=25, deadline=None)
def test_random_blocks_of_routed_calls_match_serial_execution(block: tuple[list[Hop | Route], State],
                                                              seed: int, workers: int, losses: int) -> None:
    """Per-read interleavings (blocksim's simulated workers): a router's reads and writes in the tokens'
    namespaces, its failed hops' reads included, validate like its own."""
    calls, initial = block
    execute = lambda tx_index, view: calls[tx_index].run(view)  # noqa: E731
    run = run_block(len(calls), execute, storage_of(initial), workers=workers, seed=seed, losses=losses)
    check_against_serial(calls, initial, run)  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", [2, 4], ids=lambda n: f"{n}-workers")
@given(block=routed_blocks(), seed=st.integers(0, 2**32))
@settings(max_examples=25, deadline=None)
def test_random_chunked_blocks_of_routed_calls_match_serial_execution(
        block: tuple[list[Hop | Route], State], seed: int, workers: int) -> None:
    """Chunks (the pool's tasks, test_block_core's driver): a chunk's calls see its routers' writes."""
    calls, initial = block
    run = run_chunked(calls, initial, workers, seed, 2)  # type: ignore[arg-type]
    check_against_serial(calls, initial, run)  # type: ignore[arg-type]


def test_a_failed_hops_read_is_validated() -> None:
    """A route whose hop reverted had read the sender's balance: once the lower call funding the sender
    is recorded, the route runs again (a read set without the failed hop's read would keep the revert)."""
    initial: State = {(TOKENS[0], b"c"): (5).to_bytes(8, "little")}
    calls: list[Hop | Route] = [Hop(0, b"c", b"a", 5), Route((Hop(0, b"a", b"b", 5),))]
    run = BlockRun(len(calls), storage_of(initial))
    funding, routing = run.next_task(), run.next_task()
    assert funding is not None and routing is not None
    early = calls[1].run(DictView(initial))  # ran before the funding: its hop reverted
    assert early.output == b"\x01" and set(early.writes) == {(ROUTER, b"last")}
    assert run.finish_reads(routing, early, {(TOKENS[0], b"a"): None})  # the failed hop's read
    assert run.finish_reads(funding, calls[0].run(DictView(initial)),
                            {(TOKENS[0], b"c"): None, (TOKENS[0], b"a"): None})
    again = run.next_task()
    assert again is not None and (again.tx_index, again.incarnation) == (1, 1)


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
    result = block_result(final(h, W1, job, entries, lookups=False))
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


@pytest.mark.parametrize("where", ["not-looked-up", "own-namespace"])
def test_a_nested_write_where_the_call_did_not_go_is_not_recorded(where: str) -> None:
    """A worker writes only into contracts the call looked up in the registry, never into the call's own
    namespace through nested_writes: a result that does is not recorded (the call runs again)."""
    h = harness()
    x, y = contract(h, b"x"), contract(h, b"y")
    ready(h, W1)
    ((job, _),) = chunks_to(block(h, [x]), W1)
    space = y if where == "not-looked-up" else x
    outs = final(h, W1, job, [entry([], [[space, KEY, b"1"]])], lookups=where == "own-namespace")
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


@pytest.mark.parametrize(("touched", "held"), [((), False), (("y",), True), (("registry",), True)],
                         ids=["fresh", "touched-a-reached-contract", "looked-one-up"])
def test_a_re_executed_call_that_touched_the_blocks_reach_waits(touched: tuple[str, ...], held: bool) -> None:
    """An ordinary call on an outside contract whose losing attempt touched a contract the block reached
    (its own callee, found through the registry) is held like a call on that contract."""
    h = harness()
    x, y, other = contract(h, b"x"), contract(h, b"y"), contract(h, b"o")
    ready(h, W1)
    ((job, _),) = chunks_to(block(h, [x]), W1)
    if "registry" in touched:  # the block's call looked y up (a registry read) without reading its state
        h.callback(W1, job, 1, op="get", key=bytes.fromhex(y), space=p.REGISTRY_SPACE, index=0)
    else:
        h.callback(W1, job, 1, op="get", key=KEY, space=y, index=0)
    call = Job(b"r", b"c", Op.CALL, PROBE_ID, b"", 0.0, 1.0, h.core.calls, namespace=other,
               touched=frozenset({y} if touched else ()))
    assert h.blocks.holds(call) is held


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


@pytest.mark.parametrize(("key", "restarts"), [(b"m", 1), (b"z", 0)], ids=["in-the-range", "past-it"])
def test_an_ordinary_commit_into_a_range_the_block_paged_starts_the_block_again(key: bytes,
                                                                                 restarts: int) -> None:
    """A key put by an outside call into a range of Y the block paged (a phantom) starts the block again;
    one outside the range does not."""
    h = harness()
    x, y = contract(h, b"x"), contract(h, b"y")
    ready(h, W1)
    ((job, _),) = chunks_to(block(h, [x]), W1)
    page = h.callback(W1, job, 1, op="scan", start=b"a", end=b"q", order=0, limit=10, space=y, index=0)
    assert page["entries"] == [] and not page["more"]
    h.store.commit_many({}, {(y, key): b"new"})
    h.blocks.committed(y, {key: b"new"})
    outs = final(h, W1, job, [entry([])])
    assert h.core.counters["blocks_restarted"] == restarts and block_outcome(outs) is not bool(restarts)


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


# --- real worker processes against serial execution ---------------------------------------------------


class SerialCalls:
    """The reference: a block's calls executed one after another in this process by the worker's own
    :func:`~wasmpool.worker.execute.execute`, over a dict of the pool's committed state (every
    namespace and the registry), each call seeing the ok writes of the calls before it -- its callees'
    included. No Block-STM, no broker, no chunks."""

    def __init__(self, modules: dict[str, bytes]) -> None:
        self.modules = {code_id: load_module(code) for code_id, code in modules.items()}
        self.runtime = Runtime.of(Host())

    def module(self, code_id: str, index: int | None = None, called: bool = False) -> Loaded:
        return self.modules[code_id]

    def execute(self, call: BlockCall, state: State) -> Outcome:
        own = call.code_id
        record = contracts.Contract.decode(bytes.fromhex(own), state[contracts.REGISTRY, bytes.fromhex(own)])
        job = {"code_id": record.code_id, "function": call.function, "args": list(call.args),
               "input": call.input, "context": dict(call.context), "gas_limit": call.gas_limit,
               "timeout": 60.0, "readonly": False, "address": bytes.fromhex(own)}
        result = execute(job, MappingState(state, own), self.module, self.runtime)
        writes: dict[Location, Value] = {(own, key): value for key, value in result.writes.items()}
        writes.update(((space, key), value) for space, key, value in result.nested_writes)
        return Outcome(result.status, output=result.output, gas_used=result.gas_used, logs=tuple(result.logs),
                       writes=writes, results=tuple(result.results), error=result.error,
                       versions={**(result.versions or {}), "floats": BLOCK_CONFIG.floats},
                       events=events_of(result.events))

    def block(self, calls: Sequence[BlockCall], before: Mapping[Location, Value]) -> BlockResult:
        return serial_block(self.execute, calls, before)


@dataclass
class World:
    """Contracts on one pool: ledgers (instances of one code), proxies and callees (fixtures)."""

    fixture: Fixture
    codes: dict[str, str]
    ledgers: list[str]
    proxies: list[str]
    callees: list[str]

    def serial(self) -> SerialCalls:
        return SerialCalls(self.fixture.modules)


def fixture_module(name: str) -> bytes:
    return (FIXTURES / f"{name}.wasm").read_bytes()


def world_on(fixture: Fixture) -> World:
    """The contracts, made on ``fixture``'s pool."""
    codes = {name: fixture.deploy(fixture_module(name)) for name in ("proxy", "callee", "ledger")}
    made = {name: [fixture.instantiate(codes[name], b"%s-%d" % (name.encode(), i)) for i in range(count)]
            for name, count in (("ledger", 3), ("proxy", 4), ("callee", 2))}
    return World(fixture, codes, made["ledger"], made["proxy"], made["callee"])


class Worlds:
    """One pool per number of workers, each with its contracts, kept for the module (the tests ask for
    1, 2 and 4 workers in turn: starting worker processes once per size, not at every change)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[int, World] = {}

    def get(self, workers: int) -> World:
        if workers not in self.made:
            self.made[workers] = world_on(new_fixture(self.root, workers))
        world = self.made[workers]
        world.fixture.settle()
        return world

    def close(self) -> None:
        for world in self.made.values():
            world.fixture.pool.stop()


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worlds]:
    made = Worlds(tmp_path_factory.mktemp("block-calls"))
    try:
        yield made
    finally:
        made.close()


def record(address: str, function: str, input: bytes = b"", gas: int = 0, cap: int = 256) -> bytes:
    """One call of a proxy's input (see proxy.wat)."""
    name = function.encode()
    return bytes.fromhex(address) + struct.pack("<I", len(name)) + name + struct.pack("<QII", gas, cap,
                                                                                       len(input)) + input


def move(source: int, to: int, amount: int) -> bytes:
    """ledger.wat's move input."""
    return bytes([source, to]) + struct.pack("<q", amount)


def store(key: bytes, value: bytes) -> bytes:
    """callee.wat's store input."""
    return struct.pack("<I", len(key)) + key + value


def through(proxy: str, *records: bytes, function: str = "run_and_write") -> BlockCall:
    return BlockCall(proxy, function, input=b"".join(records), gas_limit=GAS)


def swap(w: World, proxy: str, a: int, b: int, amount: int, first: int = 0, second: int = 1) -> BlockCall:
    """A swap through a proxy: ``amount`` of ledger ``first`` from a to b, twice that of ``second`` back."""
    return through(proxy, record(w.ledgers[first], "move", move(a, b, amount)),
                   record(w.ledgers[second], "move", move(b, a, 2 * amount)))


def run_and_check(w: World, calls: Sequence[BlockCall]) -> BlockResult:
    """Execute a block on the pool and check it against serial execution over the same pre-state."""
    fixture = w.fixture
    before = committed(fixture.db)
    expected = w.serial().block(calls, before)
    with fixture.pool.client(timeout=60.0) as client:
        result = client.execute_block(calls)
    assert_same(result, expected)
    assert root_of(dict(committed(fixture.db))) == result.state_root
    return result


def balances(w: World, ledger: int) -> list[int]:
    state = committed(w.fixture.db)
    found = [state.get((w.ledgers[ledger], bytes([account]))) for account in range(3)]
    return [0 if value is None else struct.unpack("<q", value)[0] for value in found]


@pytest.mark.parametrize("workers", [1, 2, 4], ids=lambda n: f"{n}-workers")
def test_a_block_of_swaps_contending_on_the_same_balances_equals_serial(worlds: Worlds, workers: int) -> None:
    """Swaps through four proxies between three instances of one ledger code, three accounts in all,
    with direct moves and balance reads between them: every call reads what an earlier one wrote."""
    w = worlds.get(workers)
    rng = random.Random(workers)
    calls = []
    for i in range(24):
        a, b = rng.sample(range(3), 2)
        first, second = rng.sample(range(3), 2)
        calls.append(swap(w, w.proxies[i % 4], a, b, rng.randint(1, 9), first, second))
        if i % 4 == 3:
            calls.append(BlockCall(w.ledgers[first], "move", input=move(b, a, 1), gas_limit=GAS))
            calls.append(through(w.proxies[i % 4], record(w.ledgers[second], "balance", bytes([a]))))
    before = [balances(w, ledger) for ledger in range(3)]
    result = run_and_check(w, calls)
    assert all(r.status is Status.OK for r in result.receipts)
    assert {space for space, _, _ in result.writes} >= set(w.ledgers)  # the callees' writes committed
    assert [sum(balances(w, ledger)) for ledger in range(3)] == [sum(b) for b in before]  # moves conserve


@pytest.mark.parametrize("workers", [2, 4], ids=lambda n: f"{n}-workers")
def test_failed_callees_leave_no_writes_but_their_reads_still_validate(worlds: Worlds, workers: int) -> None:
    """A callee that reads a value and reverts costs its caller gas by the value's length: a later call
    reading through a failing callee must see the earlier calls' writes (its read validated), while
    reverted, trapped and out-of-gas callees' writes never land."""
    w = worlds.get(workers)
    callee, proxies = w.callees[0], w.proxies
    key = b"steer-%d" % workers
    calls = []
    for i in range(8):  # chunks start with a read of what the chunk before wrote last
        calls.append(through(proxies[i % 4], record(callee, "read_then_revert", key)))
        calls.append(through(proxies[(i + 1) % 4], record(callee, "store_then_revert", store(b"lost", b"r")),
                             record(callee, "store_then_trap", store(b"lost", b"t")),
                             record(callee, "store_then_spin", store(b"lost", b"s"), gas=200_000)))
        value = b"x" * (100 * (i + 1))
        calls.append(through(proxies[(i + 2) % 4], record(callee, "store", store(key, value))))
    result = run_and_check(w, calls)
    assert all(r.status is Status.OK for r in result.receipts)  # the callers go on after failed calls
    assert (callee, b"lost") not in {(space, k) for space, k, _ in result.writes}
    gas = [r.gas_used for r in result.receipts[0::3]]
    assert len(set(gas)) == len(gas)  # each failed read saw the value written just before it


# --- random blocks with calls between contracts -------------------------------------------------------


def random_call(w: World, rng: random.Random) -> BlockCall:
    """One call of a random block: direct or through one or two proxies, into ledgers and callees."""
    account = lambda: rng.randrange(3)  # noqa: E731 - a short generator of account numbers
    ledger, callee, proxy = rng.choice(w.ledgers), rng.choice(w.callees), rng.choice(w.proxies)
    key = b"k%d" % rng.randrange(3)
    kind = rng.randrange(10)
    if kind == 0:
        return BlockCall(ledger, "move", input=move(account(), account(), rng.randint(1, 5)), gas_limit=GAS)
    inner = [record(ledger, "move", move(account(), account(), rng.randint(1, 5))),
             record(ledger, "balance", bytes([account()])),
             record(callee, "store", store(key, b"v" * rng.randint(1, 40))),
             record(callee, "read", key),
             record(callee, "read_then_revert", key),
             record(callee, "store_then_revert", store(key, b"r")),
             record(callee, "store_then_spin", store(key, b"s"), gas=150_000),
             record(callee, "scan", cap=4096)][kind - 1 if kind < 9 else rng.randrange(8)]
    if rng.random() < 0.25:  # a chain: proxy -> proxy -> the callee
        other = rng.choice([p_ for p_ in w.proxies if p_ != proxy])
        inner = record(other, rng.choice(["run", "run_and_write"]), inner, cap=4096)
    return through(proxy, inner, *([record(ledger, "balance", bytes([account()]))] if kind == 9 else []),
                   function=rng.choice(["run", "run_and_write"]))


@pytest.mark.parametrize("workers", [2, 4], ids=lambda n: f"{n}-workers")
@pytest.mark.parametrize("seed", range(3))
def test_random_blocks_with_calls_between_contracts_equal_serial(worlds: Worlds, workers: int,
                                                                 seed: int) -> None:
    w = worlds.get(workers)
    rng = random.Random(1000 * workers + seed)
    calls = [random_call(w, rng) for _ in range(30)]
    run_and_check(w, calls)


def test_a_chain_of_chunks_carries_the_callees_writes_over(worlds: Worlds) -> None:
    """One worker, more calls than a chunk holds: the next chunk continues the running one and reads the
    balances the earlier chunk's callees wrote (nested writes, carried over the chain) without asking."""
    w = worlds.get(1)
    calls = [swap(w, w.proxies[i % 4], i % 3, (i + 1) % 3, 1 + i % 5, i % 3, (i + 1) % 3)
             for i in range(MAX_CHUNK + 12)]
    with w.fixture.pool.client() as client:
        before = client.stats()["counters"].get("block_tasks", 0)
    result = run_and_check(w, calls)
    assert all(r.status is Status.OK for r in result.receipts)
    with w.fixture.pool.client() as client:
        assert client.stats()["counters"]["block_tasks"] - before == 2  # two chunks, no re-execution


def test_a_block_starts_again_when_an_outside_call_reaches_into_what_it_read(worlds: Worlds) -> None:
    """An ordinary call on a proxy the block never touches moves ledger balances the block already read
    (through its callee): the block cannot count that commit as before it, so it runs again from the new
    state, and its result is serial execution after the ordinary call."""
    w = worlds.get(2)
    fixture = w.fixture
    burner = fixture.instantiate(fixture.probe, b"burner")
    ledger, reader, outside = w.ledgers[2], w.proxies[0], w.proxies[3]
    calls = [through(reader, record(ledger, "balance", bytes([0]))),
             BlockCall(burner, "write_then_burn", (BURN,), gas_limit=BURN_GAS)]  # keeps the block running
    before = committed(fixture.db)
    with fixture.pool.client() as client:
        restarts = client.stats()["counters"].get("blocks_restarted", 0)
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.update(result=execute_block(fixture, calls)))
    thread.start()
    try:
        assert one_busy_one_idle(fixture, thread), "the block ended before the outside call"
        with fixture.pool.client() as client:
            moved = client.call(outside, "run_and_write", input=record(ledger, "move", move(0, 1, 3)),
                                gas_limit=GAS)
        assert moved.ok, moved.error
    finally:
        thread.join(60)
    serial = w.serial()
    state = dict(before)
    state.update(serial.execute(through(outside, record(ledger, "move", move(0, 1, 3))), state).writes)
    assert_same(box["result"], serial.block(calls, state))
    assert root_of(dict(committed(fixture.db))) == box["result"].state_root
    with fixture.pool.client() as client:
        assert client.stats()["counters"]["blocks_restarted"] - restarts == 1


def execute_block(fixture: Fixture, calls: Sequence[BlockCall]) -> BlockResult:
    with fixture.pool.client(timeout=60.0) as client:
        return client.execute_block(calls)


def one_busy_one_idle(fixture: Fixture, thread: threading.Thread) -> bool:
    """Wait until one worker has finished its part of the block while the other still runs its part."""
    with fixture.pool.client(timeout=5.0) as client:
        while thread.is_alive():
            busy = [w["busy"] for w in client.stats()["worker_list"]]
            if sorted(busy) == [False, True]:
                return True
    return False
