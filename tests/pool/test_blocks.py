"""Blocks through the pool: a real broker, real worker processes, receipts equal to serial execution.

The reference is :class:`Serial`: the same calls run one after another in
this process, on the engine with the real host ABI, over the state read
straight from the pool's SQLite file. A block's result must equal it byte
for byte (receipts, gas, logs, errors, write set) and its state root must
be the root of that state after the serial writes -- with 1, 2 or 4
worker processes, and with a worker killed (SIGKILL) in the middle of the
block.

Worker processes are slow to start, so one private pool is kept per module
(:class:`Pools`), rebuilt only when a test wants another number of workers;
its short time limits keep kills and timeouts quick.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pool.conftest import EXAMPLES, FIXTURES, TEST_LIMITS, Pool, start_pool
from tests.wasm.recursion import engine_recursion
from wasmpool import wasm
from wasmpool.broker.blocks import BlockCall, BlockResult, Outcome, compute_root
from wasmpool.broker.config import BrokerConfig
from wasmpool.broker.state import MemoryStore, SQLiteStore, StaleRead, StateStore
from wasmpool.cli import main
from wasmpool.client import AsyncClient, Client
from wasmpool.embed import Broker, BrokerThread
from wasmpool.wire import errors
from wasmpool.wire import protocol as p
from wasmpool.wire.prices import load_gas
from wasmpool.wire.protocol import Status
from wasmpool.wire.receipts import Location, Value, events_of
from wasmpool.worker import codes
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.host import CallContext, CallState, Host
from wasmpool.worker.modules import load as load_module
from wasmpool.worker.supervisor import start_workers
from wasmpool.worker.versions import WORKER_VERSIONS

BLOCK_CONFIG = BrokerConfig(limits=TEST_LIMITS, grace=0.5, default_timeout=1.5, heartbeat_interval=0.25,
                            liveness=4, max_attempts=3, block_chunks_per_worker=1)
# One chunk per worker: a block of a few calls is cut into chunks of several (in-chunk reads, chunk aborts).
SETTLE = 60.0
OWNER = b"own"
BURN = 1_000_000  # write_then_burn iterations: a call that keeps its worker busy for a while
BURN_GAS = 50_000_000
State = dict[Location, bytes]


# --- the reference: serial execution in this process ------------------------------------------


class _Reader:
    """The host's state reader over a dict of (code id, key) -> value."""

    def __init__(self, state: dict[Location, Value], code_id: str) -> None:
        self.state = state
        self.code_id = code_id

    def get(self, key: bytes) -> bytes | None:
        return self.state.get((self.code_id, key))

    def scan(self, start: bytes, end: bytes, order: int, limit: int) -> tuple[list[list[bytes]], bool]:
        """A page of the contract's live entries in [start, end) in key order (state iteration)."""
        keys = sorted(k for (c, k), v in self.state.items()
                      if c == self.code_id and v is not None and start <= k and (not end or k < end))
        if order:
            keys.reverse()
        page = [[k, self.state[self.code_id, k] or b""] for k in keys[:limit]]
        return page, len(keys) > limit


class Serial:
    """Calls executed one after another on the engine with the real host ABI (a worker's semantics)."""

    def __init__(self, modules: dict[str, bytes], instances: dict[str, str] | None = None) -> None:
        self.modules = {code_id: load_module(code).runnable()  # once, as a worker does
                        for code_id, code in modules.items()}
        self.loads = {code_id: load_gas(len(code)) for code_id, code in modules.items()}  # paid first
        self.instances = instances or {}  # contract address (hex) -> the code id it runs
        self.versions = {**WORKER_VERSIONS.as_dict(), "floats": BLOCK_CONFIG.floats}
        self.host = Host()

    def execute(self, call: BlockCall, state: dict[Location, Value]) -> Outcome:
        code_id = self.instances.get(call.code_id, call.code_id)  # an address runs its contract's code
        record = CallState(reader=_Reader(state, call.code_id), input=call.input,
                           context=CallContext(**call.context),
                           address=bytes.fromhex(call.code_id) if code_id != call.code_id else b"")
        self.host.begin(record)
        instance: Any = None
        load = self.loads[code_id]
        try:
            if load > call.gas_limit:
                raise wasm.GasExhausted()
            with engine_recursion():  # hypothesis sets its own recursion limit while an example runs
                instance = wasm.instantiate(self.modules[code_id], imports=self.host.imports(),
                                            gas_limit=call.gas_limit - load, canonical_nans=True)
                value = instance.exports[call.function](*call.args)
        except Exception as exc:
            code = codes.error_code(exc)
            gas = call.gas_limit if code is p.ErrorCode.OUT_OF_GAS else load + instance.gas_used
            return Outcome(p.status_for(code), gas_used=min(gas, call.gas_limit), logs=tuple(record.logs),
                           error=codes.error_message(exc), versions=self.versions)
        finally:
            self.host.end()
        results = () if value is None else value if isinstance(value, tuple) else (value,)
        writes = {(call.code_id, k): v for k, v in record.writes.items()}
        return Outcome(Status.OK, output=record.output, gas_used=load + instance.gas_used,
                       logs=tuple(record.logs), writes=writes, results=results, versions=self.versions,
                       events=events_of(record.events))

    def block(self, calls: Sequence[BlockCall], before: State) -> BlockResult:
        """The BlockResult of running ``calls`` in order over ``before``, with the root after them."""
        return serial_block(self.execute, calls, before)


def serial_block(execute: Callable[[BlockCall, dict[Location, Value]], Outcome], calls: Sequence[BlockCall],
                 before: Mapping[Location, Value]) -> BlockResult:
    """The BlockResult of ``calls`` executed one after another by ``execute`` over ``before``, each
    seeing the writes of the ok calls before it, with the state root after them: the serial reference."""
    state: dict[Location, Value] = dict(before)
    written: dict[Location, Value] = {}
    outcomes = []
    for call in calls:
        outcome = execute(call, state)
        state.update(outcome.effective_writes())
        written.update(outcome.effective_writes())
        outcomes.append(outcome)
    return BlockResult.build(outcomes, written, root_of(state))


def root_of(state: dict[Location, Value]) -> bytes:
    return compute_root((c, k, v) for (c, k), v in state.items() if v is not None)


def committed(db: Path) -> State:
    """The pool's committed state, read from its SQLite file with a connection of our own."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT code_id, key, value FROM state WHERE value IS NOT NULL").fetchall()
    connection.close()
    return {(code_id, bytes(key)): bytes(value) for code_id, key, value in rows}


def assert_same(result: BlockResult, expected: BlockResult) -> None:
    """Equal receipts (shown one by one on failure), write sets, roots, and canonical bytes."""
    assert len(result.receipts) == len(expected.receipts)
    for got, want in zip(result.receipts, expected.receipts, strict=True):
        assert got == want
    assert result.writes == expected.writes
    assert result.state_root == expected.state_root
    assert result.encode() == expected.encode()


# --- private pools ----------------------------------------------------------------------------


@dataclass
class Fixture:
    """A running pool with its database and the contracts deployed on it."""

    pool: Pool
    db: Path
    workers: int
    modules: dict[str, bytes] = field(default_factory=dict)
    token: str = ""
    counters: tuple[str, str] = ("", "")
    probe: str = ""
    instances: dict[str, str] = field(default_factory=dict)  # contract address (hex) -> code id

    def serial(self) -> Serial:
        return Serial(self.modules, self.instances)

    def instantiate(self, code_id: str, salt: bytes) -> str:
        with self.pool.client() as client:
            address = client.instantiate(code_id, salt=salt, caller=OWNER).address
        self.instances[address] = code_id
        return address

    def deploy(self, code: bytes) -> str:
        with self.pool.client() as client:
            code_id = client.deploy(code)
        self.modules[code_id] = code
        return code_id

    def live_pids(self) -> set[int]:
        return {process.pid for process in self.pool.workers if process.is_alive() and process.pid}

    def settle(self) -> None:
        """Replace dead worker processes and wait until the broker knows exactly the live ones."""
        dead = [process for process in self.pool.workers if not process.is_alive()]
        for process in dead:
            process.join()
            self.pool.workers.remove(process)
        missing = self.workers - len(self.pool.workers)
        if missing > 0:
            self.pool.workers += start_workers(WorkerConfig(endpoint=self.pool.backend, heartbeat=0.2),
                                               missing)
        deadline = time.monotonic() + SETTLE
        with self.pool.client(timeout=5.0) as client:
            while True:
                stats = client.stats()
                known = {w["pid"] for w in stats["worker_list"]}
                if known == self.live_pids() and stats["idle"] == self.workers:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the broker knows workers {known}, alive are {self.live_pids()}")
                time.sleep(0.02)


def new_fixture(root: Path, workers: int) -> Fixture:
    db = root / f"blocks-{workers}-{time.monotonic_ns()}.db"
    fixture = Fixture(start_pool(db, workers, config=BLOCK_CONFIG), db, workers)
    try:
        fixture.settle()
        fixture.token = fixture.deploy((EXAMPLES / "token.wasm").read_bytes())
        counter = (EXAMPLES / "counter.wasm").read_bytes()
        fixture.counters = (fixture.deploy(counter), fixture.deploy(counter + bytes([0, 2, 1, 99])))
        fixture.probe = fixture.deploy((FIXTURES / "probe.wasm").read_bytes())
        with fixture.pool.client() as client:  # the owner mints first: an ordinary commit before any block
            assert client.call(fixture.token, "mint", input=OWNER + b" 1000", context={"caller": OWNER}).ok
    except BaseException:
        fixture.pool.stop()
        raise
    return fixture


class Pools:
    """One private pool at a time, kept while tests want the same number of workers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.current: Fixture | None = None

    def get(self, workers: int) -> Fixture:
        if self.current is not None and self.current.workers != workers:
            self.close()
        if self.current is None:
            self.current = new_fixture(self.root, workers)
        self.current.settle()
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.pool.stop()
            self.current = None


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pools]:
    made = Pools(tmp_path_factory.mktemp("blocks"))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def two(pools: Pools) -> Fixture:
    return pools.get(2)


def call(code_id: str, function: str, text: bytes = b"", caller: bytes = b"", *args: int,
         gas: int = 10_000_000) -> BlockCall:
    return BlockCall(code_id, function, tuple(args), text, {"caller": caller} if caller else {}, gas)


def run_and_check(fixture: Fixture, calls: Sequence[BlockCall], *, dry_run: bool = False) -> BlockResult:
    """Execute a block on the pool and check it against serial execution over the same pre-state."""
    before = committed(fixture.db)
    expected = fixture.serial().block(calls, before)
    with fixture.pool.client(timeout=60.0) as client:
        result = client.execute_block(calls, dry_run=dry_run)
    assert result.dry_run is dry_run
    assert_same(result, BlockResult(expected.receipts, expected.writes, expected.state_root, dry_run))
    after = committed(fixture.db)
    assert after == before if dry_run else root_of(dict(after)) == result.state_root
    return result


# --- deterministic blocks ---------------------------------------------------------------------------


def test_failed_calls_in_the_middle_leave_no_writes_and_later_calls_do_not_see_them(two: Fixture) -> None:
    probe = two.probe
    calls = [call(probe, "put", b"first"), call(probe, "write_then_trap"), call(probe, "get"),
             call(probe, "write_then_revert"), call(probe, "get"),
             call(probe, "write_then_burn", b"", b"", 1_000_000, gas=5_000), call(probe, "get"),
             call(probe, "put", b"second"), call(probe, "get")]
    result = run_and_check(two, calls)
    statuses = [r.status for r in result.receipts]
    assert statuses == [Status.OK, Status.TRAP, Status.OK, Status.REVERTED, Status.OK, Status.OUT_OF_GAS,
                        Status.OK, Status.OK, Status.OK]
    assert [r.output for r in result.receipts if r.index in (2, 4, 6, 8)] == [b"first"] * 3 + [b"second"]
    for receipt in result.receipts:
        if receipt.status != Status.OK:
            assert receipt.writes == () and receipt.error
    assert result.receipts[5].gas_used == 5_000
    assert result.writes == ((probe, b"k", b"second"),)
    with two.pool.client() as client:
        assert client.state_get(probe, b"k")[0] == b"second"


def test_a_block_mixing_instances_of_one_code_equals_serial(two: Fixture) -> None:
    code = two.counters[0]
    one, other = two.instantiate(code, b"mixed-1"), two.instantiate(code, b"mixed-2")
    calls = [call(target, "increment") for target in (one, other, one, code, one, other)]
    calls += [call(target, "get") for target in (one, other)]
    result = run_and_check(two, calls)  # the serial reference runs each address's code in its namespace
    assert all(r.status is Status.OK for r in result.receipts)
    assert [r.results for r in result.receipts[6:]] == [(3,), (2,)]  # fresh instances: their own counts
    assert {namespace for namespace, _, _ in result.writes} == {one, other, code}


def test_a_dry_run_commits_nothing_and_predicts_the_real_run(two: Fixture) -> None:
    calls = [call(two.counters[0], "increment"), call(two.counters[0], "increment"),
             call(two.token, "transfer", b"a1 5", OWNER)]
    dry = run_and_check(two, calls, dry_run=True)
    real = run_and_check(two, calls)
    assert dry.receipts == real.receipts and dry.state_root == real.state_root and dry.writes == real.writes


def test_the_expected_state_root_is_checked_before_the_block_runs(two: Fixture) -> None:
    root = root_of(dict(committed(two.db)))
    calls = [call(two.counters[1], "increment")]
    with two.pool.client() as client:
        with pytest.raises(errors.StateRootMismatch, match=root.hex()):
            client.execute_block(calls, state_root=bytes(32))
        assert client.execute_block([], dry_run=True).state_root == root
        count = client.query(two.counters[1], "get").results
        result = client.execute_block(calls, state_root=root)
        assert result.receipts[0].results == (count[0] + 1,)
        with pytest.raises(errors.StateRootMismatch):
            client.execute_block(calls, state_root=root)  # the root moved on


def test_the_state_root_follows_ordinary_commits(two: Fixture) -> None:
    with two.pool.client() as client:
        before = client.execute_block([], dry_run=True)
        assert client.call(two.counters[0], "increment").ok
        after = client.execute_block([])
    assert before.receipts == after.receipts == ()
    assert before.state_root != after.state_root == root_of(dict(committed(two.db)))


@pytest.mark.parametrize(("calls", "error", "match"), [
    pytest.param(lambda f: [call("ab" * 32, "get")], errors.UnknownCode, r"calls\[0\]", id="unknown-code"),
    pytest.param(lambda f: [call(f.probe, "get"), {"code_id": f.probe}], errors.BadRequest,
                 r"calls\[1\]: missing field 'function'", id="missing-function"),
    pytest.param(lambda f: [call(f.probe, "get", gas=10**12)], errors.BadRequest, "gas_limit",
                 id="gas-above-the-ceiling"),
])
def test_a_malformed_block_is_refused_whole(two: Fixture, calls: Any, error: type[Exception],
                                            match: str) -> None:
    before = committed(two.db)
    with two.pool.client() as client, pytest.raises(error, match=match):
        client.execute_block(calls(two))
    assert committed(two.db) == before


def test_a_call_that_never_ends_fails_the_whole_block_after_the_retry_cap(two: Fixture) -> None:
    """Time limits are not outcomes (machines differ): the call is retried, then the block fails."""
    before = committed(two.db)
    calls = [call(two.probe, "put", b"lost"), call(two.probe, "write_then_spin", gas=10**9)]
    collector = gc.isenabled()
    with two.pool.client() as client:
        with pytest.raises(errors.BlockFailed, match="call 1 could not be executed: 3 executions"):
            client.execute_block(calls)
        with pytest.raises(errors.BlockFailed, match="time limit"):
            client.execute_block(calls, timeout=0.5)
    # A block that failed on a timer does not leave the collector paused (the broker is a thread of
    # this process here), even with no further message to handle: the next tick settles it.
    deadline = time.monotonic() + 5
    while gc.isenabled() is not collector and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gc.isenabled() is collector
    assert committed(two.db) == before


def test_a_broker_stopped_mid_block_leaves_the_collector_on(tmp_path: Path) -> None:
    """The broker (a thread of this process here) pauses the cyclic GC for a block; stopping restores it."""
    store = MemoryStore()
    token = (EXAMPLES / "token.wasm").read_bytes()
    store.put_code(p.code_id(token), token)
    thread = BrokerThread(Broker(store, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")).start()
    gc.enable()  # the process-wide setting, which a broker thread of an earlier test may have changed
    box: dict[str, BaseException] = {}

    def send() -> None:  # no worker ever takes the block: it runs until the broker stops
        try:
            with Client(thread.frontend, timeout=3.0, retries=0) as client:
                client.execute_block([BlockCall(p.code_id(token), "transfer", input=b"b 1")])
        except BaseException as exc:
            box["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while gc.isenabled() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not gc.isenabled(), "the block did not start"
    finally:
        thread.stop()
        gc_after_stop = gc.isenabled()
        gc.enable()
        sender.join(10)
    assert gc_after_stop


def test_ordinary_calls_wait_for_a_running_block(two: Fixture) -> None:
    """A call sent while a block runs is held until the block commits: it sees the block's writes."""
    counter = two.counters[1]
    calls = [call(two.probe, "write_then_burn", b"", b"", BURN, gas=BURN_GAS)]
    calls += [call(counter, "increment")] * 3
    with two.pool.client() as client:
        start = client.query(counter, "get").results[0]
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.update(result=_execute(two, calls)))
    thread.start()
    try:
        assert _busy_worker(two, thread) is not None
        with two.pool.client() as client:
            after = client.call(counter, "increment")
    finally:
        thread.join(60)
    assert after.ok and after.results == [start + 4]
    assert box["result"].receipts[-1].results == (start + 3,)


def test_the_async_client_executes_blocks(two: Fixture) -> None:
    async def run() -> BlockResult:
        async with AsyncClient(two.pool.frontend) as client:
            return await client.execute_block([call(two.counters[0], "increment")], dry_run=True)

    result = asyncio.run(run())
    assert result.dry_run and result.receipts[0].status == Status.OK and len(result.state_root) == 32


@pytest.mark.parametrize("suffix", [".json", ".msgpack"])
def test_the_block_command_reads_json_and_msgpack(two: Fixture, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str], suffix: str) -> None:
    path = tmp_path / f"block{suffix}"
    if suffix == ".json":
        path.write_text('[{"code_id": "%s", "function": "put", "text": "cli"},'
                        ' {"code_id": "%s", "function": "add", "args": [2, 3]},'
                        ' {"code_id": "%s", "function": "write_then_trap"}]' % ((two.probe,) * 3))
    else:
        wire = [call(two.probe, "put", b"cli").to_wire(), call(two.probe, "add", b"", b"", 2, 3).to_wire(),
                call(two.probe, "write_then_trap").to_wire()]
        path.write_bytes(msgpack.packb({"calls": wire}, use_bin_type=True))
    root = root_of(dict(committed(two.db))).hex()
    status = main(["block", str(path), "--dry-run", "--state-root", root, "--connect", two.pool.frontend])
    out = capsys.readouterr().out.splitlines()
    assert status == 1  # one receipt is not ok
    assert out[:2] == ["[0] ok", "[1] ok 5"] and out[2].startswith("[2] trap (")
    assert out[-1].startswith("state root: ") and out[-1].endswith("(dry run: nothing committed)")
    status = main(["block", str(path), "--state-root", "00" * 32, "--connect", two.pool.frontend])
    assert status == 2 and "StateRootMismatch" in capsys.readouterr().err


# --- the store's block interface --------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    made: StateStore = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "state.db")
    yield made
    made.close()


def test_commit_many_is_one_atomic_commit_across_contracts(store: StateStore) -> None:
    a, b = "a" * 64, "b" * 64
    store.commit(a, {}, {b"x": b"1"})
    sequence = store.commit_many({(a, b"x"): 1, (b, b"y"): 0}, {(a, b"x"): None, (b, b"y"): b"2"})
    assert sequence == 2 and store.get(a, b"x") == (None, 2) and store.get(b, b"y") == (b"2", 2)
    with pytest.raises(StaleRead):
        store.commit_many({(b, b"z"): 0, (a, b"x"): 1}, {(b, b"z"): b"3"})
    assert store.get(b, b"z") == (None, 0) and store.sequence() == 2
    assert sorted(store.items()) == [(b, b"y", b"2")]  # tombstones are not entries


# --- random blocks, against serial execution ----------------------------------------------------------


Spec = tuple[Any, ...]


@st.composite
def blocks(draw: st.DrawFn) -> list[Spec]:
    """Mints, transfers and counter increments over few or many accounts (a few mints first)."""
    names = [b"a%d" % i for i in range(draw(st.sampled_from([3, 40])))]
    account = st.sampled_from(names)
    mint = st.tuples(st.just("mint"), account, st.integers(1, 100), st.sampled_from([OWNER, OWNER, b"eve"]))
    transfer = st.tuples(st.just("transfer"), account, account, st.integers(0, 60))
    increment = st.tuples(st.just("increment"), st.integers(0, 1))
    head = draw(st.lists(mint, min_size=1, max_size=3))
    return head + draw(st.lists(st.one_of(transfer, transfer, increment, mint), min_size=1, max_size=10))


def block_calls(fixture: Fixture, specs: Sequence[Spec]) -> list[BlockCall]:
    calls = []
    for spec in specs:
        if spec[0] == "mint":
            _, to, amount, by = spec
            calls.append(call(fixture.token, "mint", b"%s %d" % (to, amount), by))
        elif spec[0] == "transfer":
            _, frm, to, amount = spec
            calls.append(call(fixture.token, "transfer", b"%s %d" % (to, amount), frm))
        else:
            calls.append(call(fixture.counters[spec[1]], "increment"))
    return calls


def _execute(fixture: Fixture, calls: Sequence[BlockCall]) -> BlockResult:
    with fixture.pool.client(timeout=60.0) as client:
        return client.execute_block(calls)


def _busy_worker(fixture: Fixture, thread: threading.Thread) -> int | None:
    """The pid of a worker busy with the block (polling the broker while the block runs)."""
    with fixture.pool.client(timeout=5.0) as client:
        while thread.is_alive():
            busy = [w["pid"] for w in client.stats()["worker_list"] if w["busy"]]
            if busy:
                return int(busy[0])
    return None


def execute_killing_a_worker(fixture: Fixture, calls: Sequence[BlockCall]) -> BlockResult:
    """Run the block while SIGKILLing a worker that is executing one of its calls."""
    box: dict[str, Any] = {}

    def client() -> None:
        try:
            box["result"] = _execute(fixture, calls)
        except BaseException as exc:  # reported below, in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=client)
    thread.start()
    try:
        victim = _busy_worker(fixture, thread)
        assert victim is not None, "the block ended before a worker could be killed"
        os.kill(victim, signal.SIGKILL)
        dead = [process for process in fixture.pool.workers if process.pid == victim]
        for process in dead:
            process.join(10)
            fixture.pool.workers.remove(process)
        fixture.pool.workers += start_workers(WorkerConfig(endpoint=fixture.pool.backend, heartbeat=0.2), 1)
    finally:
        thread.join(60)
    if "error" in box:
        raise box["error"]
    result: BlockResult = box["result"]
    return result


CONFIGURATIONS = [pytest.param(workers, kill, id=f"{workers}-workers{'-killed' if kill else ''}")
                  for workers in (2, 1, 4) for kill in (False, True)]


@pytest.mark.parametrize(("workers", "kill"), CONFIGURATIONS)
def test_random_blocks_match_serial_execution(pools: Pools, workers: int, kill: bool) -> None:
    fixture = pools.get(workers)

    @settings(max_examples=10 if kill else 15, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(specs=blocks())
    def check(specs: list[Spec]) -> None:
        fixture.settle()
        calls = block_calls(fixture, specs)
        if kill:
            calls.insert(0, call(fixture.probe, "write_then_burn", b"", b"", BURN, gas=BURN_GAS))
        before = committed(fixture.db)
        expected = fixture.serial().block(calls, before)
        result = execute_killing_a_worker(fixture, calls) if kill else _execute(fixture, calls)
        assert_same(result, expected)
        assert root_of(dict(committed(fixture.db))) == result.state_root

    lost = _counter(fixture, "block_tasks_lost")
    chunked = _counter(fixture, "block_chunk_calls") - _counter(fixture, "block_tasks")
    check()
    # Chunks held several calls each (calls dispatched beyond one per task).
    assert _counter(fixture, "block_chunk_calls") - _counter(fixture, "block_tasks") > chunked
    if kill:  # the kills did hit running calls (which were then executed again)
        assert _counter(fixture, "block_tasks_lost") > lost


def _counter(fixture: Fixture, name: str) -> int:
    with fixture.pool.client() as client:
        return int(client.stats()["counters"].get(name, 0))
