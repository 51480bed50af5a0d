"""The broker core's side of calls between contracts, socket-free (plain frames, a fake clock).

A call of contract A that calls contract B (``call_contract``) reads B's
registry record and B's state through CALLBACKs naming their namespace
(``space``), fetches B's module by code id, and ends with a result whose
``nested_writes`` carry what B wrote. The broker records every read by
location, checks them all at commit, commits both namespaces' writes in one
transaction, refuses writes into a namespace the call never looked up, and
holds every namespace a repeatedly losing call touched while it runs alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.pool.test_core import CLIENT, OTHER, OTHER_ID, PROBE_ID, Harness, command, only_client_reply
from wasmpool.broker import contracts
from wasmpool.broker.core import MAX_MODULE_FETCHES
from wasmpool.broker.outgoing import Outgoing, Side
from wasmpool.broker.state import SQLiteStore
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode

ALICE = b"alice"
REGISTRY = p.REGISTRY_SPACE


def dispatched(outs: list[Outgoing]) -> tuple[bytes, bytes]:
    """The worker the one job among ``outs`` went to, and the job's id."""
    (job,) = [o for o in outs if o.side is Side.BACKEND and command(o) is Command.REQUEST]
    return job.identity, job.frames[2]


def no_reply(outs: list[Outgoing]) -> bool:
    return not [o for o in outs if o.side is Side.FRONTEND]


def instance(h: Harness, salt: bytes) -> str:
    """A contract of the probe module made by ALICE with ``salt`` (run and committed): its hex address."""
    worker, job = dispatched(h.client({"op": "instantiate", "code_id": PROBE_ID, "salt": salt,
                                       "caller": ALICE, "admin": ALICE}))
    _, reply = only_client_reply(h.final(worker, job))
    assert reply["status"] == "ok"
    return str(reply["address"])


def pool(workers: int = 1, **config: Any) -> tuple[Harness, str, str]:
    """A core with ``workers`` workers and two contracts, A and B."""
    h = Harness(max_client_workers=workers, **config)
    h.deploy()
    for n in range(workers):
        h.ready(b"w%d" % (n + 1))
    return h, instance(h, b"a"), instance(h, b"b")


def call(h: Harness, address: str, op: str = "call", identity: bytes = CLIENT) -> tuple[bytes, bytes]:
    return dispatched(h.client({"op": op, "code_id": address, "function": "run"}, identity=identity))


def look_up(h: Harness, worker: bytes, job: bytes, callee: str, seq: int = 1) -> dict[str, Any]:
    """The callee's registry record, as a worker's call_contract reads it."""
    reply = h.callback(worker, job, seq, op="get", space=REGISTRY, key=bytes.fromhex(callee))
    assert reply["value"] is not None
    record: dict[str, Any] = p.unpack(reply["value"])
    return record


def nested(space: str, key: bytes, value: bytes | None) -> list[Any]:
    return [space, key, value]


# --- callbacks: other namespaces, other modules ---------------------------------------------------


def test_a_read_naming_a_space_reads_that_namespace_and_is_recorded_by_location() -> None:
    h, a, b = pool()
    h.store.commit(b, {}, {b"k": b"b's"})
    h.store.commit(a, {}, {b"k": b"a's"})
    worker, job = call(h, a)
    record = look_up(h, worker, job, b)
    assert record["code_id"] == PROBE_ID
    assert h.callback(worker, job, 2, op="get", space=b, key=b"k")["value"] == b"b's"
    assert h.callback(worker, job, 3, op="get", key=b"k")["value"] == b"a's"
    assert h.callback(worker, job, 4, op="get", space=a, key=b"j")["value"] is None  # its own, named
    running = h.core.workers[worker].job
    assert running is not None
    registry_version = h.store.get(REGISTRY, bytes.fromhex(b)).version
    assert running.foreign == {(REGISTRY, bytes.fromhex(b)): registry_version,
                               (b, b"k"): h.store.get(b, b"k").version}
    assert running.reads == {b"k": h.store.get(a, b"k").version, b"j": 0}
    assert running.callees == {b} and running.touching() == {a, b}


def test_a_scan_naming_a_space_pages_that_namespace_and_records_its_range_there() -> None:
    h, a, b = pool()
    h.store.commit(b, {}, {b"a1": b"1", b"a2": b"2"})
    worker, job = call(h, a)
    page = h.callback(worker, job, 1, op="scan", space=b, start=b"a", end=b"b", order=0, limit=16)
    assert page["entries"] == [[b"a1", b"1"], [b"a2", b"2"]] and not page["more"]
    running = h.core.workers[worker].job
    assert running is not None and not running.ranges and not running.reads
    ((space, scanned),) = running.foreign_ranges
    assert space == b and [key for key, _ in scanned.entries] == [b"a1", b"a2"]
    assert set(running.foreign) == {(b, b"a1"), (b, b"a2")}


@pytest.mark.parametrize("fields", [
    {"op": "get", "key": b"k", "space": "wasmpool/history"},  # the other reserved namespace
    {"op": "get", "key": b"k", "space": PROBE_ID},  # a legacy call's namespace (a code id)
    {"op": "get", "key": b"k", "space": "AB" * 20},  # an address not in lowercase
    {"op": "scan", "start": b"", "end": b"", "order": 0, "limit": 4, "space": REGISTRY},
    {"op": "code", "code_id": "zz"},
], ids=["history", "code-id-namespace", "uppercase", "scan-registry", "bad-code-id"])
def test_namespaces_and_modules_a_worker_may_not_name_are_refused_by_the_schema(fields: dict[str, Any]
                                                                                  ) -> None:
    h, a, _ = pool()
    worker, job = call(h, a)
    assert h.worker(worker, Command.CALLBACK, job, {"seq": 1, **fields}) == []
    assert h.core.counters["dropped"] == 1


def test_a_code_callback_naming_a_code_id_sends_that_module_once_per_attempt() -> None:
    h, a, _ = pool()
    h.deploy(OTHER)
    worker, job = call(h, a)
    assert h.callback(worker, job, 1, op="code", code_id=OTHER_ID)["code"] == OTHER
    assert h.callback(worker, job, 2, op="code")["code"] is not None  # its own module: another one
    assert "error" in h.callback(worker, job, 3, op="code", code_id=OTHER_ID)  # the same again
    assert "error" in h.callback(worker, job, 4, op="code", code_id=PROBE_ID)
    assert "no module" in h.callback(worker, job, 5, op="code", code_id="00" * 32)["error"]
    assert h.core.counters["code_fetches"] == 2 and h.core.counters["refused_code_fetches"] == 2


def test_one_attempt_fetches_a_bounded_number_of_distinct_modules() -> None:
    h, a, _ = pool()
    modules = [OTHER + bytes([0, 3, 2, 0x61 + n % 26, 0x61 + n // 26]) for n in range(MAX_MODULE_FETCHES)]
    ids = [h.deploy(module) for module in modules]  # the same module with a custom section each
    worker, job = call(h, a)
    for seq, code_id in enumerate(ids[:-1]):
        assert "code" in h.callback(worker, job, seq, op="code", code_id=code_id)
    assert "code" in h.callback(worker, job, 99, op="code")
    assert "at most" in h.callback(worker, job, 100, op="code", code_id=ids[-1])["error"]


# --- commits -------------------------------------------------------------------------------------


def test_nested_writes_commit_with_the_callers_in_one_transaction_and_reach_the_client(
        monkeypatch: pytest.MonkeyPatch) -> None:
    h, a, b = pool()
    heard: list[tuple[str, dict[bytes, bytes | None]]] = []
    monkeypatch.setattr(h.blocks, "committed", lambda space, writes: heard.append((space, writes)))
    worker, job = call(h, a)
    look_up(h, worker, job, b)
    h.callback(worker, job, 2, op="get", space=b, key=b"balance")
    running = h.core.workers[worker].job
    assert running is not None
    key = running.key
    sequence = h.store.sequence()
    event = [b"moved", [[b"amount", b"5"]], bytes.fromhex(b)]
    moved = [nested(b, b"balance", b"5"), nested(b, b"gone", None)]
    _, reply = only_client_reply(h.final(worker, job, writes={b"mine": b"1"}, events=[event],
                                         nested_writes=moved))
    assert reply["status"] == "ok" and h.store.sequence() == sequence + 1  # one commit
    assert h.store.get(a, b"mine") == (b"1", sequence + 1)
    assert h.store.get(b, b"balance") == (b"5", sequence + 1)
    assert h.store.get(b, b"gone") == (None, sequence + 1)
    assert reply["writes"] == {b"mine": b"1"}
    assert reply["nested_writes"] == [[b, b"balance", b"5"], [b, b"gone", None]]
    assert reply["events"] == [event]  # the emitter passes through
    assert heard == [(a, {b"mine": b"1"}), (b, {b"balance": b"5", b"gone": None})]
    assert p.unpack(h.store.receipt(key) or b"") == reply  # the receipt went with the commit


def test_a_call_whose_callee_alone_wrote_commits_the_callees_writes() -> None:
    h, a, b = pool()
    worker, job = call(h, a)
    look_up(h, worker, job, b)
    _, reply = only_client_reply(h.final(worker, job, nested_writes=[nested(b, b"k", b"v")]))
    assert reply["status"] == "ok" and reply["writes"] == {}
    assert h.store.get(b, b"k").value == b"v" and h.core.counters["commits"] == 3  # two instantiates


@pytest.mark.parametrize("status, code", [("reverted", ErrorCode.REVERTED), ("trap", ErrorCode.TRAP),
                                          ("out_of_gas", ErrorCode.OUT_OF_GAS)])
def test_a_failed_call_commits_no_nested_write(status: str, code: ErrorCode) -> None:
    h, a, b = pool()
    worker, job = call(h, a)
    look_up(h, worker, job, b)
    sequence = h.store.sequence()
    _, reply = only_client_reply(h.final(worker, job, status=status, code=code, writes={b"x": b"1"},
                                         nested_writes=[nested(b, b"k", b"v")]))
    assert reply["status"] == status and "nested_writes" not in reply and reply["writes"] == {}
    assert h.store.sequence() == sequence


def test_a_query_with_nested_writes_is_refused_as_read_only() -> None:
    h, a, b = pool()
    worker, job = call(h, a, op="query")
    look_up(h, worker, job, b)
    sequence = h.store.sequence()
    _, reply = only_client_reply(h.final(worker, job, nested_writes=[nested(b, b"k", b"v")]))
    assert reply["status"] == "error" and reply["code"] == ErrorCode.READ_ONLY
    assert "nested_writes" not in reply and h.store.sequence() == sequence


def test_a_nested_write_into_a_namespace_the_call_never_looked_up_is_refused() -> None:
    h, a, b = pool()
    c = instance(h, b"c")
    worker, job = call(h, a)
    look_up(h, worker, job, b)
    h.callback(worker, job, 2, op="get", space=c, key=b"k")  # c's state read, but never looked up
    sequence = h.store.sequence()
    _, reply = only_client_reply(h.final(worker, job, writes={b"x": b"1"},
                                         nested_writes=[nested(b, b"k", b"v"), nested(c, b"k", b"v")]))
    assert reply["status"] == "error" and reply["code"] == ErrorCode.INTERNAL
    assert c in reply["error"] and "never looked up" in reply["error"]
    assert h.store.sequence() == sequence and h.core.counters["refused_nested_writes"] == 1


def test_a_nested_write_into_an_address_with_no_contract_is_refused() -> None:
    h, a, _ = pool()
    nobody = "cd" * 20
    worker, job = call(h, a)
    assert h.callback(worker, job, 1, op="get", space=REGISTRY, key=bytes.fromhex(nobody))["value"] is None
    _, reply = only_client_reply(h.final(worker, job, nested_writes=[nested(nobody, b"k", b"v")]))
    assert reply["code"] == ErrorCode.INTERNAL and h.store.get(nobody, b"k").value is None


def test_nested_writes_into_the_callers_own_namespace_or_from_a_legacy_call_are_refused() -> None:
    h, a, b = pool()
    worker, job = call(h, a)
    look_up(h, worker, job, a)
    _, reply = only_client_reply(h.final(worker, job, nested_writes=[nested(a, b"k", b"v")]))
    assert reply["code"] == ErrorCode.INTERNAL and "own namespace" in reply["error"]
    worker, job = call(h, PROBE_ID)  # a call by code id: not a contract, it calls no one
    look_up(h, worker, job, b)
    _, reply = only_client_reply(h.final(worker, job, nested_writes=[nested(b, b"k", b"v")]))
    assert reply["code"] == ErrorCode.INTERNAL and h.store.get(b, b"k").value is None


def test_the_count_of_nested_writes_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("wasmpool.broker.core.MAX_NESTED_WRITES", 2)
    h, a, b = pool()
    worker, job = call(h, a)
    look_up(h, worker, job, b)
    writes = [nested(b, b"k%d" % n, b"v") for n in range(3)]
    _, reply = only_client_reply(h.final(worker, job, nested_writes=writes))
    assert reply["code"] == ErrorCode.INTERNAL and "more than 2" in reply["error"]


# --- re-execution on what other namespaces changed -------------------------------------------------


def test_a_stale_read_in_a_callees_namespace_makes_the_call_run_again() -> None:
    h, a, b = pool()
    worker, job = call(h, a)
    look_up(h, worker, job, b)
    assert h.callback(worker, job, 2, op="get", space=b, key=b"balance")["version"] == 0
    h.store.commit(b, {}, {b"balance": b"100"})  # another call moved b's balance meanwhile
    outs = h.final(worker, job, writes={b"x": b"1"}, nested_writes=[nested(b, b"balance", b"5")])
    assert no_reply(outs) and h.core.counters["reexecutions"] == 1
    assert h.store.get(a, b"x").value is None and h.store.get(b, b"balance").value == b"100"
    worker, retry = dispatched(outs)
    look_up(h, worker, retry, b)
    assert h.callback(worker, retry, 2, op="get", space=b, key=b"balance")["value"] == b"100"
    _, reply = only_client_reply(h.final(worker, retry, nested_writes=[nested(b, b"balance", b"95")]))
    assert reply["status"] == "ok" and reply["attempts"] == 2 and h.store.get(b, b"balance").value == b"95"


def test_a_stale_foreign_read_of_a_call_that_wrote_only_its_own_namespace_runs_it_again() -> None:
    h, a, b = pool()
    worker, job = call(h, a)
    look_up(h, worker, job, b)
    h.callback(worker, job, 2, op="get", space=b, key=b"price")
    h.store.commit(b, {}, {b"price": b"2"})
    outs = h.final(worker, job, writes={b"bought": b"1"})  # its own write rests on b's price
    assert no_reply(outs) and h.store.get(a, b"bought").value is None


def test_a_query_that_read_a_callees_state_that_changed_runs_again() -> None:
    h, a, b = pool()
    worker, job = call(h, a, op="query")
    look_up(h, worker, job, b)
    h.callback(worker, job, 2, op="get", space=b, key=b"k")
    h.store.commit(b, {}, {b"k": b"changed"})
    outs = h.final(worker, job, results=[1])
    assert no_reply(outs) and h.core.counters["reexecutions"] == 1


def test_a_phantom_in_a_callees_scanned_range_makes_the_call_run_again() -> None:
    h, a, b = pool()
    h.store.commit(b, {}, {b"a1": b"1"})
    worker, job = call(h, a)
    look_up(h, worker, job, b)
    h.callback(worker, job, 2, op="scan", space=b, start=b"a", end=b"b", order=0, limit=16)
    h.store.commit(b, {}, {b"a0": b"new"})  # inserted into the range b's page covered
    outs = h.final(worker, job, writes={b"sum": b"1"}, nested_writes=[nested(b, b"seen", b"1")])
    assert no_reply(outs) and h.core.counters["reexecutions"] == 1 and h.store.get(b, b"seen").value is None


def test_a_migrate_of_the_callee_between_lookup_and_commit_makes_the_call_run_again() -> None:
    h, a, b = pool()
    h.deploy(OTHER)
    worker, job = call(h, a)
    look_up(h, worker, job, b)
    migration = contracts.migration(h.store, b, OTHER_ID, ALICE)  # committed as the broker commits it
    h.store.commit_many(migration.reads(), migration.writes())
    outs = h.final(worker, job, nested_writes=[nested(b, b"k", b"old code's")])
    assert no_reply(outs) and h.store.get(b, b"k").value is None
    worker, retry = dispatched(outs)
    assert look_up(h, worker, retry, b)["code_id"] == OTHER_ID


# --- exclusive re-execution holds every namespace the call touched ----------------------------------


def lose_once(h: Harness, a: str, b: str) -> tuple[bytes, bytes]:
    """A call of a that reads b's balance and loses it to a commit: it is queued to run alone."""
    worker, job = call(h, a)
    look_up(h, worker, job, b)
    h.callback(worker, job, 2, op="get", space=b, key=b"balance")
    h.store.commit(b, {}, {b"balance": b"1"})
    outs = h.final(worker, job, nested_writes=[nested(b, b"balance", b"2")])
    assert no_reply(outs) and h.core.counters["exclusive_runs"] == 1
    return dispatched(outs)


def test_a_call_run_alone_holds_its_callees_namespace_too() -> None:
    h, a, b = pool(workers=2, exclusive_after=1)
    worker, retry = lose_once(h, a, b)
    assert h.core.exclusive == {a, b}
    assert no_reply(h.client({"op": "call", "code_id": b, "function": "run"}))
    assert len(h.core.queue) == 1  # a call of b waits, with w2 idle
    look_up(h, worker, retry, b)
    outs = h.final(worker, retry, nested_writes=[nested(b, b"balance", b"3")])
    assert only_client_reply(outs)[1]["attempts"] == 2 and not h.core.exclusive
    assert [o for o in outs if o.side is Side.BACKEND]  # released: the call of b goes out


def test_a_running_call_that_writes_into_a_held_namespace_runs_again_after_the_hold() -> None:
    h, a, b = pool(workers=2, exclusive_after=1)
    c = instance(h, b"c")
    cw, other = call(h, c, identity=b"client-2")  # dispatched before the hold: c is not held
    worker, retry = lose_once(h, a, b)
    look_up(h, cw, other, b)  # c's call goes into b, which a's exclusive run holds
    outs = h.final(cw, other, nested_writes=[nested(b, b"balance", b"c's")])
    assert no_reply(outs) and h.core.counters["fenced_commits"] == 1
    assert h.store.get(b, b"balance").value == b"1" and len(h.core.queue) == 1  # waits for a's run
    look_up(h, worker, retry, b)
    assert h.callback(worker, retry, 2, op="get", space=b, key=b"balance")["version"] > 0
    outs = h.final(worker, retry, nested_writes=[nested(b, b"balance", b"2")])
    assert only_client_reply(outs)[1]["status"] == "ok" and h.store.get(b, b"balance").value == b"2"
    assert dispatched(outs)  # c's call runs again now


def test_a_call_that_lost_touching_a_held_namespace_waits_for_the_hold() -> None:
    h, _, b = pool(workers=2, exclusive_after=2)
    c = instance(h, b"c")
    worker, job = call(h, c)
    look_up(h, worker, job, b)
    h.callback(worker, job, 2, op="get", space=b, key=b"k")
    h.store.commit(b, {}, {b"k": b"changed"})
    h.core.holds.update({b})  # as if an exclusive run held b
    outs = h.final(worker, job, nested_writes=[nested(b, b"k", b"c's")])
    assert no_reply(outs) and not [o for o in outs if o.side is Side.BACKEND]
    assert h.core.queue[0].touched == {c, b}  # its last attempt went into b: it waits


def test_a_call_to_run_alone_waits_for_a_running_call_that_went_into_its_namespaces() -> None:
    h, a, b = pool(workers=2, exclusive_after=1)
    c = instance(h, b"c")
    cw, other = call(h, c, identity=b"client-2")
    look_up(h, cw, other, b)  # c's call has gone into b
    worker, job = call(h, a)
    look_up(h, worker, job, b)
    h.callback(worker, job, 2, op="get", space=b, key=b"balance")
    h.store.commit(b, {}, {b"balance": b"1"})
    outs = h.final(worker, job, nested_writes=[nested(b, b"balance", b"2")])  # stale: to run alone
    assert no_reply(outs) and not [o for o in outs if o.side is Side.BACKEND]  # c's call touches b
    assert h.core.queue[0].exclusive and h.core.queue[0].held == {a, b}
    outs = h.final(cw, other)  # c's call ends (it wrote nothing): a's runs alone now
    assert only_client_reply(outs)[1]["status"] == "ok" and dispatched(outs)[0] == cw


def test_a_call_with_nested_writes_keeps_its_receipt_in_sqlite_across_a_restart(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    h = Harness(max_client_workers=1)
    h.core.store = h.store = store
    h.deploy()
    h.ready(b"w1")
    a, b = instance(h, b"a"), instance(h, b"b")
    request = {"op": "call", "code_id": a, "function": "run"}
    worker, job = dispatched(h.client(request, rid=b"once"))
    look_up(h, worker, job, b)
    outs = h.final(worker, job, writes={b"x": b"1"}, nested_writes=[nested(b, b"k", b"v")])
    _, reply = only_client_reply(outs)
    assert reply["status"] == "ok"
    store.close()
    restarted = Harness()
    restarted.core.store = restarted.store = SQLiteStore(tmp_path / "state.db")
    outs = restarted.client(request, rid=b"once")  # the client's retry, to a broker that never ran it
    assert only_client_reply(outs) == (Command.FINAL, reply)
    assert restarted.core.counters["receipts_replayed"] == 1
    assert restarted.store.get(b, b"k").value == b"v" and restarted.store.get(a, b"x").value == b"1"
    restarted.store.close()
