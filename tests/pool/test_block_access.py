"""Declared access sets of block calls: prefetched reads, learned hints, predicted serial mode.

A block call may list the keys it expects to read (``access``). The broker
sends their values with the chunk, so the worker reads them without a
CALLBACK; a re-executed call gets what its previous incarnation read the
same way; and a block whose access sets predict high contention starts
serial. All of it is a hint: receipts, gas, writes and the state root stay
those of serial execution whatever the lists say -- checked here on a real
broker with real worker processes against the in-process serial reference
of ``tests/pool/test_blocks.py``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pool.test_blocks import OWNER, Fixture, Pools, assert_same, call, committed, root_of
from wasmpool.broker.blocks import BlockCall, BlockResult
from wasmpool.broker.blocks.coordinator import predicted_conflicts
from wasmpool.wire import errors
from wasmpool.wire import protocol as p
from wasmpool.wire.receipts import encode
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.host import DEFAULT_HOST_LIMITS
from wasmpool.worker.process import Worker
from wasmpool.worker.readers import UNWRITTEN, ChunkState

SETUP_BALANCE = 1_000


def balance(account: bytes) -> bytes:
    """The token contract's balance key (``balance_key`` in examples/token.c)."""
    return b"bal:" + account


def transfer(fixture: Fixture, sender: bytes, to: bytes, amount: int,
             access: Sequence[bytes] | None = None) -> BlockCall:
    """A token transfer; ``access`` defaults to the two balance keys it reads."""
    keys = (balance(sender), balance(to)) if access is None else tuple(access)
    return BlockCall(fixture.token, "transfer", (), b"%s %d" % (to, amount), {"caller": sender}, 1_000_000,
                     keys)


def counter(fixture: Fixture, name: str) -> int:
    with fixture.pool.client() as client:
        return int(client.stats()["counters"].get(name, 0))


def counters(fixture: Fixture, *names: str) -> dict[str, int]:
    with fixture.pool.client() as client:
        found = client.stats()["counters"]
    return {name: int(found.get(name, 0)) for name in names}


def grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before}


def execute(fixture: Fixture, calls: Sequence[BlockCall], dry_run: bool = False) -> BlockResult:
    with fixture.pool.client(timeout=60.0) as client:
        return client.execute_block(calls, dry_run=dry_run)


def same_outcome(result: BlockResult, expected: BlockResult) -> None:
    """Equal receipts, writes and root (a dry run and a real run of one block compare equal)."""
    assert_same(BlockResult(result.receipts, result.writes, result.state_root),
                BlockResult(expected.receipts, expected.writes, expected.state_root))


def fund(fixture: Fixture, accounts: Sequence[bytes]) -> None:
    """Mint SETUP_BALANCE to each account (an ordinary block: no hints)."""
    mints = [call(fixture.token, "mint", b"%s %d" % (a, SETUP_BALANCE), OWNER) for a in accounts]
    assert all(r.status == p.Status.OK for r in execute(fixture, mints).receipts)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    """A private pool of two worker processes (one chunk per worker: see BLOCK_CONFIG)."""
    pools = Pools(tmp_path_factory.mktemp("access"))
    try:
        fixture = pools.get(2)
        fixture.serial().execute(call(fixture.counters[0], "get"), {})  # the engine's one-time setup
        yield fixture
    finally:
        pools.close()


# --- prefetched reads ------------------------------------------------------------------------------


def test_declared_reads_come_with_the_chunk_not_through_callbacks(two: Fixture) -> None:
    senders = [b"pf-s%d" % i for i in range(10)]
    fund(two, senders)
    declared = [transfer(two, s, b"pf-r%d" % i, 7) for i, s in enumerate(senders)]
    bare = [BlockCall(c.code_id, c.function, c.args, c.input, c.context, c.gas_limit) for c in declared]
    expected = two.serial().block(declared, committed(two.db))
    names = ("callbacks", "block_prefetched", "block_aborts")

    start = counters(two, *names)
    same_outcome(execute(two, bare, dry_run=True), expected)  # also leaves the module in both workers
    without = grown(start, counters(two, *names))
    start = counters(two, *names)
    same_outcome(execute(two, declared, dry_run=True), expected)
    with_access = grown(start, counters(two, *names))

    reads = 2 * len(declared)  # distinct keys: no call reads another's write
    assert without["callbacks"] >= reads and without["block_aborts"] == 0
    assert with_access == {"callbacks": 0, "block_prefetched": reads, "block_aborts": 0}


def test_a_reexecuted_call_gets_its_previous_reads_sent_ahead(two: Fixture) -> None:
    """Learned hints: no access declared, yet the re-execution of an aborted call has its reads prefetched.

    Chunk 0 (a slow call, then a transfer from A) and chunk 1 (a transfer from
    A, then another) start together: chunk 1 reads A's balance before chunk 0
    writes it, is aborted, and runs again with what it read sent ahead.
    """
    fund(two, [b"lh-a", b"lh-b"])
    calls = [call(two.probe, "write_then_burn", b"", b"", 300_000, gas=50_000_000),
             call(two.token, "transfer", b"lh-c 5", b"lh-a"), call(two.token, "transfer", b"lh-d 3", b"lh-a"),
             call(two.token, "transfer", b"lh-e 1", b"lh-b")]
    expected = two.serial().block(calls, committed(two.db))
    start = counters(two, "block_prefetched", "block_aborts")
    same_outcome(execute(two, calls), expected)
    done = grown(start, counters(two, "block_prefetched", "block_aborts"))
    assert done["block_aborts"] >= 1
    assert done["block_prefetched"] >= 2  # call 2's two balance keys, at least


def test_calls_aborted_together_are_handed_out_together(two: Fixture) -> None:
    """Re-executions found by one round of validations go to a worker at once, not a round trip each.

    Two chunks of 16 start together (BLOCK_CONFIG: one chunk per worker).
    Three calls of the second, far apart, spend what the first chunk gives
    them: their prefetched balances are stale, so all three are aborted,
    and the validations run ahead find them together: one worker gets all
    three, the later ones waiting in its credits. Results equal serial.
    """
    payers, others = [b"tq-p%d" % i for i in range(16)], [b"tq-q%d" % i for i in range(16)]
    fund(two, payers + others)
    first = [transfer(two, payer, b"tq-r%d" % i, 1) for i, payer in enumerate(payers)]
    second = [transfer(two, other, b"tq-x%d" % i, 2) for i, other in enumerate(others)]
    for position, receiver in ((2, 0), (7, 1), (12, 2)):  # spends what call `receiver` of chunk 0 gave
        second[position] = transfer(two, b"tq-r%d" % receiver, b"tq-y%d" % position, 1)
    calls = first + second
    expected = two.serial().block(calls, committed(two.db))
    assert [r.status for r in expected.receipts[16:]].count(p.Status.OK) == 16
    names = ("block_aborts", "block_tasks_queued", "blocks_serial_predicted")
    start = counters(two, *names)
    same_outcome(execute(two, calls, dry_run=True), expected)
    done = grown(start, counters(two, *names))
    assert done["blocks_serial_predicted"] == 0
    assert done["block_aborts"] >= 3
    assert done["block_tasks_queued"] >= 1


def chunk_job(code_id: str, prefetched: list[list[Any]] | None = None) -> dict[str, Any]:
    job: dict[str, Any] = {"code_id": code_id, "function": "transfer", "gas_limit": 1000, "timeout": 1.0,
                           "readonly": False}
    return job if prefetched is None else {**job, "prefetched": prefetched}


def test_a_worker_chunk_reads_prefetched_answers_as_broker_answers_without_asking() -> None:
    """The worker side: answers sent with the chunk are read like CALLBACK answers (position -1).

    The chunk has no link to the broker at all: a CALLBACK would fail.
    """
    one, two_ = "a" * 64, "b" * 64
    jobs = [chunk_job(one, [[b"x", b"1"], [b"gone", None]]), chunk_job(two_, [[b"x", b"2"]]), chunk_job(one)]
    chunk = ChunkState(None, b"job")  # type: ignore[arg-type]  # no broker: any CALLBACK would fail
    assert chunk.prefill(jobs) == (3, "")
    chunk.wrote(0, one, {b"y": b"mine"})
    reader = chunk.reader(2, one)
    assert [reader.get(b"x"), reader.get(b"gone"), reader.get(b"y")] == [b"1", None, b"mine"]
    assert reader.reads == [[b"x", UNWRITTEN], [b"gone", UNWRITTEN], [b"y", 0]]
    assert chunk.reader(1, two_).get(b"x") == b"2"  # answers are per contract


def test_a_continuing_chunk_reads_the_writes_it_carries_at_their_chain_positions() -> None:
    """The worker side of a chain: the second chunk starts from the first one's writes, positions go on."""
    code = "a" * 64
    first = ChunkState(None, b"c1")  # type: ignore[arg-type]  # no broker: any CALLBACK would fail
    assert first.prefill([chunk_job(code), chunk_job(code)]) == (2, "")
    first.wrote(1, code, {b"x": b"from-1"})
    second = ChunkState(None, b"c2", first)  # type: ignore[arg-type]
    assert second.prefill([chunk_job(code, [[b"x", b"stale"], [b"y", b"7"]]), chunk_job(code)]) == (2, "")
    assert (second.base, second.end) == (2, 4)
    reader = second.reader(0, code)
    assert [reader.get(b"x"), reader.get(b"y")] == [b"from-1", b"7"]  # a carried write beats an answer
    assert reader.reads == [[b"x", 1], [b"y", UNWRITTEN]]
    second.wrote(0, code, {b"y": b"from-2"})
    assert second.reader(1, code).get(b"y") == b"from-2"
    assert second.written[code, b"y"] == (2, b"from-2")  # chain position 2: the third call of the chain


def test_a_chunk_that_continues_another_than_the_last_one_run_is_refused_by_the_worker() -> None:
    """Continuing a chunk the worker did not run last would read the wrong writes: its first call fails.

    An internal error (a nondeterministic code), so the broker re-issues the
    calls instead of recording anything.
    """
    worker = Worker(WorkerConfig(endpoint="tcp://127.0.0.1:1"))
    result = worker.execute_chunk(b"c2", [chunk_job("a" * 64)], after=b"c1")
    [entry] = result.chunk
    assert entry["code"] in p.NONDETERMINISTIC and "not the last chunk" in entry["error"]


def test_a_serial_block_runs_as_one_chain_of_chunks_without_waiting_or_aborts(two: Fixture) -> None:
    """A contended block goes serial: its chunks run on one worker, each sent while the one before runs.

    Each continuing chunk is sent before the chunk ahead of it has
    finished, so its prefetched balances are older than what that chunk
    writes: only the writes the worker carries along the chain give the
    right values. A stale read would show as an abort; there is none, and
    the receipts are those of serial execution.
    """
    hot = [b"ch-%d" % i for i in range(5)]
    fund(two, hot)
    calls = [transfer(two, hot[i % 5], hot[(i * 3 + 1) % 5], 1 + i % 4) for i in range(300)]
    expected = two.serial().block(calls, committed(two.db))
    names = ("block_aborts", "block_tasks_continued", "blocks_serial_predicted", "block_tasks_lost")
    start = counters(two, *names)
    same_outcome(execute(two, calls, dry_run=True), expected)
    done = grown(start, counters(two, *names))
    assert done["blocks_serial_predicted"] == 1
    assert done["block_tasks_continued"] >= 1
    assert done["block_aborts"] == 0 and done["block_tasks_lost"] == 0


def test_a_malformed_chunk_entry_stops_the_prefill_there() -> None:
    jobs = [chunk_job("a" * 64, [[b"x", b"1"]]), chunk_job("a" * 64, [[b"z", 5]]), chunk_job("a" * 64)]
    chunk = ChunkState(None, b"job")  # type: ignore[arg-type]
    well_formed, problem = chunk.prefill(jobs)
    assert well_formed == 1 and "prefetched" in problem
    assert chunk.fetched == {("a" * 64, b"x"): b"1"}


# --- hints never change results ---------------------------------------------------------------------


HINTS = ("correct", "none", "partial", "wrong", "extra")
Spec = tuple[str, bytes, bytes, int, str, list[bytes]]


@st.composite
def hinted_blocks(draw: st.DrawFn) -> list[Spec]:
    """Transfers and mints over few or many accounts, each with an access list of some kind."""
    names = [b"h%d" % i for i in range(draw(st.sampled_from([3, 30])))]
    account = st.sampled_from(names)
    junk = st.lists(st.binary(min_size=0, max_size=12), max_size=4)
    op = st.tuples(st.sampled_from(["transfer", "transfer", "transfer", "mint"]), account, account,
                   st.integers(0, 80), st.sampled_from(HINTS), junk)
    return draw(st.lists(op, min_size=1, max_size=14))


def hinted_calls(fixture: Fixture, specs: Sequence[Spec]) -> tuple[list[BlockCall], list[BlockCall]]:
    """The block with its access lists, and the same block without any."""
    hinted, bare = [], []
    for kind, first, second, amount, hint, junk in specs:
        if kind == "mint":
            keys = [b"owner", balance(second), b"supply"]
            plain = call(fixture.token, "mint", b"%s %d" % (second, amount), OWNER if amount % 7 else b"eve")
        else:
            keys = [balance(first), balance(second)]
            plain = call(fixture.token, "transfer", b"%s %d" % (second, amount), first)
        access = {"correct": keys, "none": [], "partial": keys[1:], "wrong": junk, "extra": keys + junk}[hint]
        bare.append(plain)
        hinted.append(BlockCall(plain.code_id, plain.function, plain.args, plain.input, plain.context,
                                plain.gas_limit, tuple(access)))
    return hinted, bare


def test_access_lists_of_any_quality_never_change_a_result(two: Fixture) -> None:
    @settings(max_examples=15, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(specs=hinted_blocks())
    def check(specs: list[Spec]) -> None:
        hinted, bare = hinted_calls(two, specs)
        before = committed(two.db)
        expected = two.serial().block(bare, before)
        same_outcome(execute(two, hinted, dry_run=True), expected)
        assert_same(execute(two, bare), expected)
        assert root_of(dict(committed(two.db))) == expected.state_root

    check()


# --- predicted serial mode --------------------------------------------------------------------------


def test_a_contended_block_with_access_sets_starts_serial(two: Fixture) -> None:
    hot = [b"hot-a", b"hot-b", b"hot-c"]
    fund(two, hot)
    declared = [transfer(two, hot[i % 3], hot[(i + 1) % 3], 1 + i % 5) for i in range(40)]
    bare = [BlockCall(c.code_id, c.function, c.args, c.input, c.context, c.gas_limit) for c in declared]
    expected = two.serial().block(declared, committed(two.db))
    names = ("blocks_serial_predicted", "blocks_serial", "block_aborts", "block_tasks")

    start = counters(two, *names)
    same_outcome(execute(two, declared, dry_run=True), expected)
    assert grown(start, counters(two, *names)) == {"blocks_serial_predicted": 1, "blocks_serial": 0,
                                                   "block_aborts": 0, "block_tasks": 1}
    start = counters(two, *names)
    same_outcome(execute(two, bare), expected)  # no access sets: optimistic, as before
    assert grown(start, counters(two, *names))["blocks_serial_predicted"] == 0


def test_a_block_without_overlap_between_chunks_is_not_predicted_serial(two: Fixture) -> None:
    senders = [b"np-s%d" % i for i in range(8)]
    fund(two, senders)
    calls = [transfer(two, s, b"np-r%d" % i, 1) for i, s in enumerate(senders)]
    start = counter(two, "blocks_serial_predicted")
    same_outcome(execute(two, calls, dry_run=True), two.serial().block(calls, committed(two.db)))
    assert counter(two, "blocks_serial_predicted") == start


A, B = ("t", b"a"), ("t", b"b")


@pytest.mark.parametrize(("access", "chunk", "workers", "conflicts"), [
    pytest.param([(A,), (A,)], 1, 2, 1, id="neighbour-chunks-overlap"),
    pytest.param([(A,), (A,)], 2, 2, 0, id="same-chunk-is-no-conflict"),
    pytest.param([(A,), (B,), (A,)], 1, 2, 0, id="two-chunks-apart-with-two-workers"),
    pytest.param([(A,), (B,), (A,)], 1, 3, 1, id="two-chunks-apart-with-three-workers"),
    pytest.param([(A,), (A,)], 1, 1, 0, id="one-worker-runs-chunks-in-turn"),
    pytest.param([(A,), (B,), (A,), (A,)], 2, 2, 2, id="an-earlier-chunk-behind-a-same-chunk-one"),
    pytest.param([(A,), (), (A, B)], 1, 4, 1, id="a-call-without-access-counts-for-nothing"),
    pytest.param([(A, B), (A, B)], 1, 2, 1, id="a-call-counts-once"),
])
def test_predicted_conflicts(access: list[tuple[tuple[str, bytes], ...]], chunk: int, workers: int,
                             conflicts: int) -> None:
    assert predicted_conflicts(access, chunk, workers) == conflicts


# --- the access field -------------------------------------------------------------------------------


TOO_LONG = DEFAULT_HOST_LIMITS.key + 1


@pytest.mark.parametrize("access", [
    pytest.param(b"bal:x", id="not-a-list"),
    pytest.param(["bal:x"], id="a-text-key"),
    pytest.param([b"k%d" % i for i in range(p.MAX_ACCESS_KEYS + 1)], id="too-many-keys"),
    pytest.param([b"k" * TOO_LONG], id="a-too-long-key"),
])
def test_a_bad_access_list_is_refused_naming_the_call(two: Fixture, access: Any) -> None:
    good = transfer(two, OWNER, b"bad-x", 1).to_wire()
    with two.pool.client() as client:
        with pytest.raises(errors.BadRequest, match=r"calls\[1\]: field 'access' must be"):
            client.execute_block([good, {**good, "access": access}], dry_run=True)
        assert client.execute_block([good], dry_run=True).receipts[0].status == p.Status.OK  # still serving


def test_the_largest_access_list_is_accepted(two: Fixture) -> None:
    keys = [b"k%d" % i for i in range(p.MAX_ACCESS_KEYS - 3)] + [b"k" * DEFAULT_HOST_LIMITS.key]
    calls = [transfer(two, OWNER, b"big-x", 1, [balance(OWNER), *keys, balance(b"big-x")])]
    same_outcome(execute(two, calls, dry_run=True), two.serial().block(calls, committed(two.db)))


def test_the_access_key_limit_is_the_abi_key_limit() -> None:
    assert DEFAULT_HOST_LIMITS.key == p.MAX_ACCESS_KEY


@pytest.mark.parametrize("access", [(), (b"bal:a", b"")], ids=["none", "two-keys"])
def test_block_calls_carry_access_on_the_wire_only_when_declared(access: tuple[bytes, ...]) -> None:
    made = BlockCall("ab" * 32, "transfer", (), b"b 5", {"caller": b"a"}, 5000, access)
    wire = made.to_wire()
    assert ("access" in wire) is bool(access)
    assert BlockCall.from_wire(msgpack.unpackb(encode(wire))) == made


@pytest.mark.parametrize("collector_on", [True, False], ids=["gc-on", "gc-off"])
def test_a_block_leaves_the_cyclic_collector_as_it_found_it(two: Fixture, collector_on: bool) -> None:
    """The broker pauses the cyclic GC while a block runs (its thread shares this process) and restores it.

    It restores it once the block's reply is sent (not before: the first
    collection would delay the reply), so the check comes after one more
    round trip, which the broker handles after settling the block.
    """
    senders = [b"gc-s%d" % i for i in range(4)]
    fund(two, senders)
    calls = [transfer(two, s, b"gc-r%d" % i, 1) for i, s in enumerate(senders)]
    with two.pool.client(timeout=60.0) as client:
        client.stats()  # the broker has settled whatever an earlier test left (a collector due back on)
    was = gc.isenabled()
    try:
        (gc.enable if collector_on else gc.disable)()
        with two.pool.client(timeout=60.0) as client:
            client.execute_block(calls, dry_run=True)
            client.stats()
        assert gc.isenabled() is collector_on
    finally:
        (gc.enable if was else gc.disable)()
