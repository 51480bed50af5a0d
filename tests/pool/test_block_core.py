"""The Block-STM core: parallel blocks give exactly the receipts, gas, writes and root of serial execution.

The calls are pure-Python stand-ins for contracts (a token and counters)
whose status, gas and writes depend on the values they read; one test runs
the real token contract through the engine. The reference is the plain
loop :func:`serial` below, independent of the code under test.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pool.blocksim import View, execute_block, is_abort, run_block, run_serial
from wasmpool.broker.blocks import (
    BlockCall,
    BlockResult,
    BlockRun,
    MVMemory,
    Outcome,
    Receipt,
    RollingCommit,
    Scheduler,
    StateTree,
    Task,
    TaskAborted,
    TaskKind,
    TxStatus,
    Version,
    compute_root,
)
from wasmpool.broker.blocks.mvmemory import ReadKind
from wasmpool.broker.blocks.scheduler import SchedulerError
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Status
from wasmpool.wire.receipts import Location, Value, encode

TOKEN = "token"
COUNTER = "counter"
BASE_GAS = 1000
READ_GAS = 200
WRITE_GAS = 500
BURN_GAS = 1000  # per unit of the counter a Burn reads
State = dict[tuple[str, bytes], bytes | None]


# --- pure-Python contracts ------------------------------------------------------------


def number(value: bytes | None) -> int:
    return 0 if value is None else int.from_bytes(value, "little")


def encoded(n: int) -> bytes:
    return n.to_bytes(8, "little")


def balance_key(account: bytes) -> bytes:
    return b"bal:" + account


class Meter:
    """Gas and reads of one simulated call: gas depends on the sizes of what was read."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.gas = BASE_GAS

    def get(self, contract: str, key: bytes) -> int:
        value = self.view.get(contract, key)
        self.gas += READ_GAS + len(value or b"")
        return number(value)

    def wrote(self, writes: Mapping[tuple[str, bytes], bytes | None]) -> int:
        return self.gas + sum(WRITE_GAS + len(value or b"") for value in writes.values())


@dataclass(frozen=True)
class Transfer:
    """Move ``amount`` from ``frm`` to ``to``; reverts when ``frm`` is short."""

    frm: bytes
    to: bytes
    amount: int

    def run(self, view: View) -> Outcome:
        meter = Meter(view)
        have = meter.get(TOKEN, balance_key(self.frm))
        if have < self.amount:
            return Outcome(Status.REVERTED, gas_used=meter.gas, error="insufficient balance")
        if self.frm == self.to:
            return Outcome(Status.OK, gas_used=meter.gas)
        other = meter.get(TOKEN, balance_key(self.to))
        writes = {(TOKEN, balance_key(self.frm)): encoded(have - self.amount),
                  (TOKEN, balance_key(self.to)): encoded(other + self.amount)}
        return Outcome(Status.OK, output=str(have - self.amount).encode(), gas_used=meter.wrote(writes),
                       logs=(b"transfer", self.frm + b">" + self.to), writes=writes)


@dataclass(frozen=True)
class Mint:
    """Create tokens: every mint reads and writes the hot key ``supply``."""

    to: bytes
    amount: int

    def run(self, view: View) -> Outcome:
        meter = Meter(view)
        supply = meter.get(TOKEN, b"supply")
        have = meter.get(TOKEN, balance_key(self.to))
        writes = {(TOKEN, b"supply"): encoded(supply + self.amount),
                  (TOKEN, balance_key(self.to)): encoded(have + self.amount)}
        return Outcome(Status.OK, gas_used=meter.wrote(writes), logs=(b"mint",), writes=writes,
                       results=(supply + self.amount,))


@dataclass(frozen=True)
class Sweep:
    """Move a whole balance and delete the emptied account's key."""

    frm: bytes
    to: bytes

    def run(self, view: View) -> Outcome:
        meter = Meter(view)
        have = meter.get(TOKEN, balance_key(self.frm))
        if have == 0 or self.frm == self.to:
            return Outcome(Status.OK, gas_used=meter.gas)
        other = meter.get(TOKEN, balance_key(self.to))
        writes = {(TOKEN, balance_key(self.frm)): None, (TOKEN, balance_key(self.to)): encoded(other + have)}
        return Outcome(Status.OK, gas_used=meter.wrote(writes), writes=writes)


@dataclass(frozen=True)
class Increment:
    """Add one to a counter (another contract's key space)."""

    counter: bytes

    def run(self, view: View) -> Outcome:
        meter = Meter(view)
        value = meter.get(COUNTER, self.counter) + 1
        writes = {(COUNTER, self.counter): encoded(value)}
        return Outcome(Status.OK, output=str(value).encode(), gas_used=meter.wrote(writes), writes=writes,
                       results=(value,))


@dataclass(frozen=True)
class Poke:
    """Traps when the account's balance is odd (returning writes anyway), else adds one to it."""

    account: bytes

    def run(self, view: View) -> Outcome:
        meter = Meter(view)
        have = meter.get(TOKEN, balance_key(self.account))
        writes = {(TOKEN, balance_key(self.account)): encoded(have + 1)}
        if have % 2:
            return Outcome(Status.TRAP, gas_used=meter.gas, logs=(b"poked",), writes=writes,
                           error="unreachable")
        return Outcome(Status.OK, gas_used=meter.wrote(writes), writes=writes)


@dataclass(frozen=True)
class Burn:
    """Costs gas in proportion to a counter's value: out of gas (with writes returned) past ``limit``."""

    counter: bytes
    limit: int

    def run(self, view: View) -> Outcome:
        meter = Meter(view)
        value = meter.get(COUNTER, self.counter)
        meter.gas += BURN_GAS * value
        writes = {(COUNTER, self.counter): encoded(value + 1)}
        if meter.wrote(writes) > self.limit:
            return Outcome(Status.OUT_OF_GAS, gas_used=self.limit, writes=writes, error="out of gas")
        return Outcome(Status.OK, gas_used=meter.wrote(writes), writes=writes)


Call = Transfer | Mint | Sweep | Increment | Poke | Burn


def executor(calls: Sequence[Call]) -> Callable[[int, View], Outcome]:
    def execute(tx_index: int, view: View) -> Outcome:
        return calls[tx_index].run(view)

    return execute


# --- the reference: a plain loop ----------------------------------------------------------


class DictView:
    def __init__(self, state: State) -> None:
        self.state = state

    def get(self, contract: str, key: bytes) -> bytes | None:
        return self.state.get((contract, key))


def serial(calls: Sequence[Call], initial: State) -> tuple[list[Outcome], State, State]:
    """Outcomes, the final state and the combined write set of running the calls in order."""
    state = dict(initial)
    written: State = {}
    outcomes = []
    for call in calls:
        outcome = call.run(DictView(state))
        if outcome.status == Status.OK:
            state.update(outcome.writes)
            written.update(outcome.writes)
        outcomes.append(outcome)
    return outcomes, state, written


def storage_of(state: State) -> Callable[[str, bytes], bytes | None]:
    return lambda contract, key: state.get((contract, key))


def root_of(state: State) -> bytes:
    return compute_root((c, k, v) for (c, k), v in state.items() if v is not None)


def check_against_serial(calls: Sequence[Call], initial: State, run: BlockRun) -> None:
    outcomes, final, written = serial(calls, initial)
    assert run.outcomes() == outcomes
    assert run.writes() == written
    tree = StateTree.from_items((c, k, v) for (c, k), v in initial.items() if v is not None)
    result, after = run.result(tree)
    assert after.root == root_of(final)
    expected = BlockResult.build(outcomes, written, root_of(final))
    assert result.encode() == expected.encode()
    for receipt in result.receipts:
        if receipt.status != Status.OK:
            assert receipt.writes == ()


# --- random blocks --------------------------------------------------------------------------


@st.composite
def blocks(draw: st.DrawFn) -> tuple[list[Call], State]:
    accounts = [b"a%d" % i for i in range(draw(st.sampled_from([3, 60])))]
    counters = [b"c%d" % i for i in range(draw(st.sampled_from([1, 2, 20])))]
    account, counter = st.sampled_from(accounts), st.sampled_from(counters)
    amount = st.integers(0, 120)
    call = st.one_of(
        st.builds(Transfer, account, account, amount), st.builds(Transfer, account, account, amount),
        st.builds(Transfer, account, account, amount), st.builds(Mint, account, amount),
        st.builds(Increment, counter), st.builds(Sweep, account, account), st.builds(Poke, account),
        st.builds(Burn, counter, st.integers(BASE_GAS, BASE_GAS + 10 * BURN_GAS)),
    )
    calls = draw(st.lists(call, max_size=40))
    initial: State = {}
    for name in draw(st.lists(st.sampled_from(accounts), unique=True)):
        initial[TOKEN, balance_key(name)] = encoded(draw(st.integers(0, 150)))
    for name in draw(st.lists(st.sampled_from(counters), unique=True)):
        initial[COUNTER, name] = encoded(draw(st.integers(0, 6)))
    return calls, initial


@pytest.mark.parametrize("losses", [0, 4], ids=["no-losses", "workers-lost"])
@pytest.mark.parametrize("workers", [1, 2, 4], ids=lambda n: f"{n}-workers")
@given(block=blocks(), seed=st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_random_blocks_match_serial_execution(block: tuple[list[Call], State], seed: int, workers: int,
                                              losses: int) -> None:
    calls, initial = block
    run = run_block(len(calls), executor(calls), storage_of(initial), workers=workers, seed=seed,
                    losses=losses)
    check_against_serial(calls, initial, run)


# --- a block with failures in the middle ------------------------------------------------------

A, B, C = b"alice", b"bob", b"carol"
MIXED: list[Call] = [
    Mint(A, 100),
    Transfer(A, B, 31),  # bob: 31, odd
    Poke(B),  # traps: its write of bob's balance must vanish
    Transfer(B, C, 50),  # reverts: bob has 31
    Burn(b"x", BASE_GAS + 5 * BURN_GAS),  # counter x is 10: out of gas, its write must vanish
    Transfer(B, C, 31),  # sees bob at 31 (not the trap's 32)
    Increment(b"x"),  # sees 10 (not the burn's 11)
    Transfer(A, C, 69),
]
MIXED_STATE: State = {(COUNTER, b"x"): encoded(10)}


@pytest.mark.parametrize(("workers", "seed", "losses"),
                         [pytest.param(w, s, n, id=f"{w}-workers-seed-{s}-losses-{n}")
                          for w, s, n in itertools.product([1, 2, 4], range(6), [0, 3])])
def test_failed_calls_leave_no_writes_and_later_calls_do_not_see_them(workers: int, seed: int,
                                                                      losses: int) -> None:
    run = run_block(len(MIXED), executor(MIXED), storage_of(MIXED_STATE), workers=workers, seed=seed,
                    losses=losses)
    check_against_serial(MIXED, MIXED_STATE, run)
    result, _ = run.result(StateTree.from_items([(COUNTER, b"x", encoded(10))]))
    statuses = [receipt.status for receipt in result.receipts]
    assert statuses == [Status.OK, Status.OK, Status.TRAP, Status.REVERTED, Status.OUT_OF_GAS,
                        Status.OK, Status.OK, Status.OK]
    assert [result.receipts[i].writes for i in (2, 3, 4)] == [(), (), ()]
    assert result.receipts[4].gas_used == BASE_GAS + 5 * BURN_GAS
    assert result.receipts[5].output == b"0"  # bob had exactly 31
    assert result.receipts[6].results == (11,)
    assert dict(((c, k), v) for c, k, v in result.writes) == {
        (TOKEN, b"supply"): encoded(100), (TOKEN, balance_key(A)): encoded(0),
        (TOKEN, balance_key(B)): encoded(0), (TOKEN, balance_key(C)): encoded(100),
        (COUNTER, b"x"): encoded(11),
    }


# --- determinism and the machinery at work -------------------------------------------------------

HOT: list[Call] = [Mint(A, 50), *[Transfer([A, B, C][i % 3], [B, C, A][i % 3], 7 + i % 5) for i in range(30)],
                   *[Increment(b"x") for _ in range(5)], Poke(A), Sweep(B, C), Burn(b"x", 8000)]


def test_every_interleaving_gives_the_same_bytes() -> None:
    encodings = set()
    for workers, seed in itertools.product([1, 2, 4], range(8)):
        result, _ = execute_block(len(HOT), executor(HOT), storage_of({}), StateTree(), workers=workers,
                                  seed=seed)
        encodings.add(result.encode())
    assert len(encodings) == 1


def test_contention_exercises_aborts_and_dependencies() -> None:
    """With four workers on hot accounts, the parallel machinery is really used (and still correct)."""
    totals = {"aborts": 0, "suspensions": 0, "lost": 0, "refused": 0}
    for seed in range(10):
        run = run_block(len(HOT), executor(HOT), storage_of({}), workers=4, seed=seed, losses=3)
        check_against_serial(HOT, {}, run)
        for name in totals:
            totals[name] += getattr(run.stats, name)
        assert run.stats.executions >= len(HOT)
    assert all(totals.values()), totals


def test_one_worker_without_losses_executes_each_call_once() -> None:
    calls: list[Call] = [Increment(b"c%d" % i) for i in range(10)]
    run = run_block(len(calls), executor(calls), storage_of({}), workers=1, seed=1)
    assert run.stats.executions == 10
    assert run.stats.aborts == run.stats.suspensions == 0


def test_an_empty_block_is_done_at_once() -> None:
    run = run_block(0, executor([]), storage_of({}), workers=2)
    assert run.done
    assert run.outcomes() == []
    assert run.writes() == {}


def test_run_serial_is_the_plain_loop() -> None:
    outcomes, writes = run_serial(len(MIXED), executor(MIXED), storage_of(MIXED_STATE))
    expected, _, written = serial(MIXED, MIXED_STATE)
    assert outcomes == expected
    assert writes == written


# --- the scheduler ----------------------------------------------------------------------------------


def first_task(scheduler: Scheduler) -> Task | None:
    """Probe until a task comes out or both indices are past the end."""
    while not scheduler.exhausted:
        task = scheduler.next_task()
        if task is not None:
            return task
    return None


def test_scheduler_hands_out_executions_in_order_then_validations() -> None:
    scheduler = Scheduler(2)
    assert first_task(scheduler) == Task(TaskKind.EXECUTION, 0, 0)
    assert first_task(scheduler) == Task(TaskKind.EXECUTION, 1, 0)
    assert first_task(scheduler) is None  # both running; nothing else to do now
    assert not scheduler.done
    follow = scheduler.finish_execution(0, 0, wrote_new_location=True)
    assert follow is None  # validation_idx passed 0 long ago: it comes back down
    assert scheduler.validation_idx == 0
    assert first_task(scheduler) == Task(TaskKind.VALIDATION, 0, 0)
    assert scheduler.finish_validation(0, aborted=False) is None
    assert scheduler.finish_execution(1, 0, wrote_new_location=False) is None  # not validated past 1 yet
    assert first_task(scheduler) == Task(TaskKind.VALIDATION, 1, 0)
    assert scheduler.finish_validation(1, aborted=False) is None
    assert scheduler.done


def test_a_reexecution_behind_validation_is_validated_at_once() -> None:
    scheduler = Scheduler(2)
    first_task(scheduler), first_task(scheduler)
    scheduler.finish_execution(0, 0, wrote_new_location=True)
    scheduler.finish_execution(1, 0, wrote_new_location=True)
    assert first_task(scheduler) == Task(TaskKind.VALIDATION, 0, 0)
    assert first_task(scheduler) == Task(TaskKind.VALIDATION, 1, 0)
    assert scheduler.try_validation_abort(1, 0)
    assert scheduler.finish_validation(1, aborted=True) == Task(TaskKind.EXECUTION, 1, 1)
    scheduler.finish_validation(0, aborted=False)
    assert scheduler.finish_execution(1, 1, wrote_new_location=False) == Task(TaskKind.VALIDATION, 1, 1)
    assert scheduler.finish_validation(1, aborted=False) is None
    assert scheduler.done


def test_scheduler_suspends_on_a_dependency_and_resumes_with_a_new_incarnation() -> None:
    scheduler = Scheduler(2)
    first_task(scheduler), first_task(scheduler)
    assert scheduler.add_dependency(1, blocking=0)
    assert scheduler.status(1) == (TxStatus.ABORTING, 0)
    scheduler.finish_execution(0, 0, wrote_new_location=True)
    assert scheduler.status(1) == (TxStatus.READY_TO_EXECUTE, 1)
    assert scheduler.execution_idx == 1
    tasks = {first_task(scheduler), first_task(scheduler)}
    assert tasks == {Task(TaskKind.VALIDATION, 0, 0), Task(TaskKind.EXECUTION, 1, 1)}


def test_scheduler_does_not_suspend_on_an_executed_transaction() -> None:
    scheduler = Scheduler(2)
    first_task(scheduler), first_task(scheduler)
    scheduler.finish_execution(0, 0, wrote_new_location=True)
    assert not scheduler.add_dependency(1, blocking=0)
    assert scheduler.is_executing(1, 0)


def test_validation_abort_reissues_the_execution_and_revalidates_above() -> None:
    scheduler = Scheduler(3)
    for _ in range(3):
        first_task(scheduler)
    for tx in range(3):
        scheduler.finish_execution(tx, 0, wrote_new_location=True)
    assert first_task(scheduler) == Task(TaskKind.VALIDATION, 0, 0)
    assert first_task(scheduler) == Task(TaskKind.VALIDATION, 1, 0)
    assert scheduler.try_validation_abort(1, 0)
    assert not scheduler.try_validation_abort(1, 0)  # once per incarnation
    assert scheduler.finish_validation(1, aborted=True) == Task(TaskKind.EXECUTION, 1, 1)
    assert scheduler.validation_idx == 2


def test_a_lost_execution_is_reissued_and_its_late_result_refused() -> None:
    scheduler = Scheduler(1)
    task = first_task(scheduler)
    assert task == Task(TaskKind.EXECUTION, 0, 0)
    assert scheduler.task_lost(task)
    assert not scheduler.task_lost(task)  # already re-issued
    assert not scheduler.is_executing(0, 0)
    assert first_task(scheduler) == Task(TaskKind.EXECUTION, 0, 1)
    with pytest.raises(SchedulerError):
        scheduler.finish_execution(0, 0, wrote_new_location=False)


# --- the multi-version memory -------------------------------------------------------------------------


class CountingStorage:
    def __init__(self, state: State) -> None:
        self.state = state
        self.reads = 0

    def __call__(self, contract: str, key: bytes) -> bytes | None:
        self.reads += 1
        return self.state.get((contract, key))


def test_reads_see_the_highest_lower_writer_or_the_base() -> None:
    storage = CountingStorage({("t", b"k"): b"base"})
    memory = MVMemory(5, storage)
    memory.record(Version(1, 0), {}, {("t", b"k"): b"one"})
    memory.record(Version(3, 2), {}, {("t", b"k"): None})
    assert memory.read(("t", b"k"), 0).value == b"base"
    assert memory.read(("t", b"k"), 1).kind is ReadKind.BASE
    assert memory.read(("t", b"k"), 2)[:3] == (ReadKind.VALUE, b"one", Version(1, 0))
    assert memory.read(("t", b"k"), 4)[:3] == (ReadKind.VALUE, None, Version(3, 2))
    assert storage.reads == 1  # the base is read once per block


def test_estimates_name_the_transaction_to_wait_for() -> None:
    memory = MVMemory(3, storage_of({}))
    memory.record(Version(0, 0), {}, {("t", b"k"): b"v"})
    memory.convert_writes_to_estimates(0)
    assert memory.read(("t", b"k"), 2)[::3] == (ReadKind.ESTIMATE, 0)
    assert memory.read(("t", b"k"), 0).kind is ReadKind.BASE


def test_record_reports_new_locations_and_drops_stale_ones() -> None:
    memory = MVMemory(2, storage_of({}))
    assert memory.record(Version(0, 0), {}, {("t", b"a"): b"1", ("t", b"b"): b"2"})
    assert not memory.record(Version(0, 1), {}, {("t", b"a"): b"3"})
    assert memory.read(("t", b"b"), 1).kind is ReadKind.BASE
    assert memory.record(Version(0, 2), {}, {("t", b"c"): b"4"})
    assert memory.snapshot() == {("t", b"c"): b"4"}


def test_validation_fails_when_a_read_version_changed() -> None:
    memory = MVMemory(3, storage_of({}))
    memory.record(Version(0, 0), {}, {("t", b"k"): b"v"})
    memory.record(Version(2, 0), {("t", b"k"): Version(0, 0), ("t", b"z"): None}, {})
    assert memory.validate_read_set(2)
    memory.record(Version(1, 0), {}, {("t", b"z"): b"new"})
    assert not memory.validate_read_set(2)


# --- the coordinator's events -------------------------------------------------------------------------


def test_reads_of_a_task_that_is_not_live_are_refused() -> None:
    run = BlockRun(2, storage_of({}))
    task = run.next_task()
    assert task is not None
    assert run.read(task, "t", b"k") is None
    assert run.task_lost(task)
    with pytest.raises(TaskAborted):
        run.read(task, "t", b"k")
    assert not run.finish(task, Outcome(Status.OK, writes={("t", b"k"): b"late"}))
    assert run.stats.refused == 1


def test_a_read_of_an_estimate_suspends_the_task_until_its_writer_finishes() -> None:
    run = BlockRun(3, storage_of({}))
    tasks = [run.next_task() for _ in range(3)]
    assert tasks == [Task(TaskKind.EXECUTION, i, 0) for i in range(3)]
    zero, one, two = tasks
    assert zero is not None and one is not None and two is not None
    assert run.read(one, "t", b"a") is None  # before 0 wrote it
    assert run.finish(one, Outcome(Status.OK, writes={("t", b"b"): b"from 1"}))
    assert run.finish(zero, Outcome(Status.OK, writes={("t", b"a"): b"from 0"}))
    again = run.next_task()  # validating 1 failed: its write of b is now an ESTIMATE
    assert again == Task(TaskKind.EXECUTION, 1, 1)
    assert run.stats.aborts == 1
    with pytest.raises(TaskAborted):
        run.read(two, "t", b"b")
    assert run.stats.suspensions == 1
    assert not run.finish(two, Outcome(Status.OK))
    assert run.read(again, "t", b"a") == b"from 0"
    assert run.finish(again, Outcome(Status.OK, writes={("t", b"b"): b"from 1 again"}))
    resumed = run.next_task()
    assert resumed == Task(TaskKind.EXECUTION, 2, 1)
    assert run.read(resumed, "t", b"b") == b"from 1 again"
    assert run.finish(resumed, Outcome(Status.OK))
    assert run.next_task() is None
    assert run.done
    assert run.writes() == {("t", b"a"): b"from 0", ("t", b"b"): b"from 1 again"}


def test_results_are_unavailable_before_the_block_is_done() -> None:
    run = BlockRun(1, storage_of({}))
    with pytest.raises(RuntimeError):
        run.outcomes()


# --- receipts -------------------------------------------------------------------------------------------


def test_results_round_trip_through_msgpack() -> None:
    result, _ = execute_block(len(MIXED), executor(MIXED), storage_of(MIXED_STATE), StateTree(), workers=2)
    assert BlockResult.decode(result.encode()) == result
    assert len(result.digest()) == 32
    assert result.gas_used == sum(r.gas_used for r in result.receipts)


def test_block_calls_round_trip() -> None:
    call = BlockCall("ab" * 32, "transfer", (1, -2, 0.5), b"bob 5", {"caller": b"ann", "height": 7}, 5000)
    assert BlockCall.from_wire(msgpack.unpackb(encode(call.to_wire()))) == call


def test_a_failed_outcome_has_no_writes_in_its_receipt() -> None:
    outcome = Outcome(Status.TRAP, writes={("t", b"k"): b"v"}, error="boom")
    receipt = Receipt.from_outcome(3, outcome)
    assert receipt.writes == ()
    assert Receipt.from_wire(receipt.to_wire()) == receipt


# --- the real token contract on the engine ------------------------------------------------------------

REAL_GAS = 1_000_000


def engine_executor(token_wasm: bytes, calls: Sequence[tuple[str, bytes, bytes]]) -> Callable[[int, View],
                                                                                                 Outcome]:
    """Execute (function, input, caller) calls of the token contract with a host reading through the view."""
    from wasmpool import wasm
    from wasmpool.worker import codes
    from wasmpool.worker.host import CallContext, CallState, Host

    code_id = p.code_id(token_wasm)
    module = wasm.compile(wasm.decode(token_wasm), metered=True)  # once: every call instantiates it

    class Reader:
        def __init__(self, view: View) -> None:
            self.view = view

        def get(self, key: bytes) -> bytes | None:
            return self.view.get(code_id, key)

    def execute(tx_index: int, view: View) -> Outcome:
        function, data, caller = calls[tx_index]
        call = CallState(reader=Reader(view), input=data, context=CallContext(caller=caller))
        host = Host()  # one per execution: simulated workers interleave
        host.begin(call)
        instance: Any = None
        try:
            instance = wasm.instantiate(module, imports=host.imports(), gas_limit=REAL_GAS)
            instance.exports[function]()
        except Exception as exc:
            if is_abort(exc):
                raise  # the coordinator suspended this execution: not an outcome
            code = codes.error_code(exc)
            gas = REAL_GAS if code is p.ErrorCode.OUT_OF_GAS else instance.gas_used
            return Outcome(p.status_for(code), gas_used=gas, logs=tuple(call.logs),
                           error=codes.error_message(exc))
        finally:
            host.end()
        return Outcome(Status.OK, output=call.output, gas_used=instance.gas_used, logs=tuple(call.logs),
                       writes={(code_id, key): value for key, value in call.writes.items()})

    return execute


@pytest.mark.parametrize("workers", [1, 2, 4], ids=lambda n: f"{n}-workers")
def test_the_token_contract_on_the_engine_matches_serial_execution(token_wasm: bytes, workers: int) -> None:
    people = [b"ann", b"ben", b"cat", b"dan"]
    calls = [("mint", b"ann 100", b"ann"), ("mint", b"ben 50", b"ann"), ("mint", b"cat 5", b"ben")]
    calls += [("transfer", b"%s %d" % (people[(i + 1) % 4], 10 + 7 * (i % 6)), people[i % 4])
              for i in range(14)]
    execute = engine_executor(token_wasm, calls)
    outcomes, writes = run_serial(len(calls), execute, storage_of({}))
    assert [o.status for o in outcomes[:3]] == [Status.OK, Status.OK, Status.REVERTED]
    assert {o.status for o in outcomes[3:]} == {Status.OK, Status.REVERTED}
    for seed in range(2):
        run = run_block(len(calls), execute, storage_of({}), workers=workers, seed=seed, losses=2)
        assert run.outcomes() == outcomes
        assert run.writes() == writes
    supply = sum(number(v) for (_, k), v in writes.items() if k.startswith(b"bal:"))
    assert supply == 150


# --- chunks: runs of consecutive calls executed by one worker (the pool's tasks) ------------------


class ChunkView:
    """One chunk call's view, as a worker has it: earlier ok calls of the chunk, else the run's chunk read."""

    def __init__(self, run: BlockRun, chunk: Sequence[Task], position: int,
                 written: dict[Location, tuple[int, Value]], served: dict[Location, Any]) -> None:
        self.run, self.chunk, self.position = run, chunk, position
        self.written, self.served = written, served
        self.reads: dict[Location, Any] = {}

    def get(self, contract: str, key: bytes) -> Value:
        location = (contract, key)
        if location in self.written:
            writer, value = self.written[location]
            task = self.chunk[writer]
            self.reads.setdefault(location, Version(task.tx_index, task.incarnation))
            return value
        if location not in self.served:
            self.served[location] = self.run.chunk_read(self.chunk, contract, key)
        value, version = self.served[location]
        self.reads.setdefault(location, version)
        return value


def execute_chunk(run: BlockRun, chunk: Sequence[Task],
                  calls: Sequence[Call]) -> list[tuple[Outcome, dict[Location, Any]]] | None:
    """Run a chunk's calls in order (None when a read aborted it): outcomes with their read sets."""
    written: dict[Location, tuple[int, Value]] = {}
    served: dict[Location, Any] = {}
    results = []
    for position, task in enumerate(chunk):
        view = ChunkView(run, chunk, position, written, served)
        try:
            outcome = calls[task.tx_index].run(view)
        except TaskAborted:
            return None
        for location, value in outcome.effective_writes().items():
            written[location] = (position, value)
        results.append((outcome, view.reads))
    return results


def run_chunked(calls: Sequence[Call], initial: State, workers: int, seed: int, losses: int,
                after_event: Callable[[BlockRun, random.Random], None] | None = None) -> BlockRun:
    """Simulated workers taking chunks; a chunk executes at one event and delivers at a later one."""
    rng = random.Random(seed)
    run = BlockRun(len(calls), storage_of(initial))
    busy: list[tuple[list[Task], list[tuple[Outcome, dict[Location, Any]]] | None] | None] = [None] * workers
    for _ in range(100_000):
        if after_event is not None:
            after_event(run, rng)
        if run.done:
            return run
        worker = rng.randrange(workers)
        held = busy[worker]
        if held is None:
            tasks = run.next_chunk(rng.randint(1, 6))
            busy[worker] = (tasks, None) if tasks else None
        elif losses and rng.random() < 0.1:
            losses -= 1
            busy[worker] = None
            for task in held[0]:
                run.task_lost(task)
        elif held[1] is None:
            results = execute_chunk(run, held[0], calls)
            busy[worker] = (held[0], results) if results is not None else None
        else:
            busy[worker] = None
            for task, (outcome, reads) in zip(held[0], held[1], strict=True):
                run.finish_reads(task, outcome, reads)
    raise AssertionError("the chunked block did not finish")


@pytest.mark.parametrize("losses", [0, 3], ids=["no-losses", "workers-lost"])
@pytest.mark.parametrize("workers", [1, 2, 4], ids=lambda n: f"{n}-workers")
@given(block=blocks(), seed=st.integers(0, 2**32))
@settings(max_examples=40, deadline=None)
def test_random_chunked_blocks_match_serial_execution(block: tuple[list[Call], State], seed: int,
                                                      workers: int, losses: int) -> None:
    calls, initial = block
    check_against_serial(calls, initial, run_chunked(calls, initial, workers, seed, losses))


@pytest.mark.parametrize("losses", [0, 3], ids=["no-losses", "workers-lost"])
@given(block=blocks(), seed=st.integers(0, 2**32), fold=st.integers(1, 8))
@settings(max_examples=60, deadline=None)
def test_calls_declared_final_mid_block_keep_their_serial_outcome(block: tuple[list[Call], State], seed: int,
                                                                 fold: int, losses: int) -> None:
    """The rolling commit's premise: once advance_final says a call is final, its outcome never changes.

    After random events of a chunked run with three workers (validations run
    ahead at random too), the calls newly final are given to a
    RollingCommit folding every ``fold`` locations; each one's outcome is
    then already the serial outcome, and the rolled result is byte for byte
    the one built after the block.
    """
    calls, initial = block
    expected, final_state, written = serial(calls, initial)
    tree = StateTree.from_items((c, k, v) for (c, k), v in initial.items() if v is not None)
    commit = RollingCommit(tree, fold=fold)
    finals: list[int] = []

    def after_event(run: BlockRun, rng: random.Random) -> None:
        if rng.random() < 0.3:
            run.validate_ahead()
        before = run.final
        run.roll(commit)
        assert run.final >= before
        for index in range(before, run.final):
            assert run.outcome(index) == expected[index], f"call {index} was final with another outcome"
        finals.append(run.final)

    run = run_chunked(calls, initial, 3, seed, losses, after_event)
    assert run.advance_final() == len(calls)
    result = run.roll(commit).result()
    assert result.encode() == BlockResult.build(expected, written, root_of(final_state)).encode()
    assert commit.tree.root == root_of(final_state)
    assert finals == sorted(finals)


def test_a_call_is_not_final_before_the_calls_below_it() -> None:
    calls = [Mint(A, 10), Transfer(A, B, 5)]
    run = BlockRun(len(calls), storage_of({}))
    first, second = run.next_task(), run.next_task()
    assert first is not None and second is not None
    outcome = calls[1].run(DictView({}))  # ran before the mint: reverts
    assert run.finish_reads(second, outcome, {(TOKEN, balance_key(A)): None})
    assert run.advance_final() == 0  # call 1 is executed, but call 0 is not
    with pytest.raises(RuntimeError, match="not final"):
        run.outcome(1)
    assert run.finish_reads(first, calls[0].run(DictView({})), {(TOKEN, b"supply"): None})
    assert run.advance_final() == 1  # call 1 read A's balance before the mint wrote it: not valid
    run.validate_ahead()
    assert run.reexecution_next  # the validation ahead found it and queued its re-execution
    again = run.next_task()
    assert again == Task(TaskKind.EXECUTION, 1, 1)
    state = {(TOKEN, balance_key(A)): encoded(10), (TOKEN, b"supply"): encoded(10)}
    reread = calls[1].run(DictView(state))
    assert run.finish_reads(again, reread, {(TOKEN, balance_key(A)): Version(0, 0),
                                            (TOKEN, balance_key(B)): None})
    assert run.advance_final() == 2 and run.outcome(1) == reread


def test_an_aborted_chunk_reexecutes_the_calls_that_read_its_writes_in_one_chunk() -> None:
    calls = [Mint(A, 10), Transfer(A, B, 5), Transfer(B, C, 2), Mint(C, 1)]
    run = BlockRun(len(calls), storage_of({(TOKEN, balance_key(A)): encoded(5)}))
    late = run.next_chunk(1)  # call 0, delivered after the chunk of calls 1..3 ran
    early = run.next_chunk(10)
    assert [task.tx_index for task in early] == [1, 2, 3]
    for tasks in (early, late):
        results = execute_chunk(run, tasks, calls)
        assert results is not None
        for task, (outcome, reads) in zip(tasks, results, strict=True):
            assert run.finish_reads(task, outcome, reads)
    again = run.next_chunk(10)  # 1 read A before 0 minted; 2 read 1's B, 3 read 2's C: all go again
    assert [(task.tx_index, task.incarnation) for task in again] == [(1, 1), (2, 1), (3, 1)]
    assert run.stats.aborts == 3


def test_a_chunk_read_of_an_estimate_suspends_every_call_of_the_chunk() -> None:
    calls = [Mint(A, 10), Mint(A, 1), Transfer(A, B, 5), Increment(b"x")]
    run = BlockRun(len(calls), storage_of({}))
    first, second = run.next_chunk(1), run.next_chunk(1)
    for tasks in (second, first):  # 1 runs before 0 wrote A: its validation fails, A is an ESTIMATE
        results = execute_chunk(run, tasks, calls)
        assert results is not None
        run.finish_reads(tasks[0], *results[0])
    assert [task.tx_index for task in run.next_chunk(1)] == [1]  # the re-execution of 1
    rest = run.next_chunk(3)
    assert [task.tx_index for task in rest] == [2, 3]
    with pytest.raises(TaskAborted, match="wait for transaction 1"):
        run.chunk_read(rest, TOKEN, balance_key(A))
    assert [run.scheduler.status(i)[0] for i in (2, 3)] == [TxStatus.ABORTING, TxStatus.ABORTING]
