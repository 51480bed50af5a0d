"""The broker's state machine, driven by frames and a fake clock: no sockets, no sleeps."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmpool.broker import server
from wasmpool.broker.blocks.coordinator import attach_blocks
from wasmpool.broker.config import BrokerConfig, trust_deployer
from wasmpool.broker.core import BrokerCore
from wasmpool.broker.outgoing import Outgoing, Side
from wasmpool.broker.state import MemoryStore
from wasmpool.embed import Broker
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode
from wasmpool.worker.validate import module_error

FIXTURES = Path(__file__).parent / "fixtures"
PROBE = (FIXTURES / "probe.wasm").read_bytes()
PROBE_ID = p.code_id(PROBE)
OTHER = bytes.fromhex("0061736d01000000" "0503010000" "070a01066d656d6f72790200")  # only memory, exported
OTHER_ID = p.code_id(OTHER)
CLIENT = b"client-1"


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """A core plus helpers speaking the protocol to it."""

    def __init__(self, **config: Any) -> None:
        self.clock = Clock()
        self.store = MemoryStore()
        self.core = BrokerCore(self.store, config=BrokerConfig(**config), clock=self.clock,
                               validate=module_error)
        self.blocks = attach_blocks(self.core)  # as the server composes the broker
        self.rid = 0

    def client(self, body: dict[str, Any], rid: bytes | None = None,
               identity: bytes = CLIENT) -> list[Outgoing]:
        if rid is None:
            self.rid += 1
            rid = b"req-%d" % self.rid
        return self.core.client_message(identity, p.encode(p.CLIENT_TAG, Command.REQUEST, rid, body))

    def worker(self, identity: bytes, command: Command, rid: bytes = b"w", body: dict[str, Any] | None = None
               ) -> list[Outgoing]:
        return self.core.worker_message(identity, p.encode(p.WORKER_TAG, command, rid, body or {}))

    def ready(self, identity: bytes, cache: list[str] | None = None) -> list[Outgoing]:
        return self.worker(identity, Command.READY, body={} if cache is None else {"cache": cache})

    def deploy(self, module: bytes = PROBE) -> str:
        (reply,) = self.client({"op": "deploy", "code": module})
        return str(reply_body(reply)["code_id"])

    def call(self, function: str = "add", code_id: str = PROBE_ID, **fields: Any) -> list[Outgoing]:
        return self.client({"op": "call", "code_id": code_id, "function": function, **fields})

    def final(self, identity: bytes, job_id: bytes, status: str = "ok", code: int = 0,
              writes: dict[bytes, bytes | None] | None = None, **fields: Any) -> list[Outgoing]:
        body = {"status": status, "code": code, "results": [], "output": b"", "gas_used": 5, "logs": [],
                "writes": writes or {}, "error": None, **fields}
        return self.worker(identity, Command.FINAL, job_id, body)

    def callback(self, identity: bytes, job_id: bytes, seq: int, **fields: Any) -> dict[str, Any]:
        (out,) = self.worker(identity, Command.CALLBACK, job_id, {"seq": seq, **fields})
        assert out.side is Side.BACKEND and out.frames[1] == bytes((Command.CALLBACK_REPLY,))
        return reply_body(out)


def reply_body(out: Outgoing) -> dict[str, Any]:
    body: dict[str, Any] = msgpack.unpackb(out.frames[3])
    return body


def command(out: Outgoing) -> Command:
    return Command(out.frames[1][0])


def job_of(outs: list[Outgoing], identity: bytes) -> bytes:
    """The job id dispatched to ``identity`` among ``outs``."""
    (job,) = [o for o in outs if o.side is Side.BACKEND and o.identity == identity
              and command(o) is Command.REQUEST]
    return job.frames[2]


def only_client_reply(outs: list[Outgoing]) -> tuple[Command, dict[str, Any]]:
    (out,) = [o for o in outs if o.side is Side.FRONTEND]
    return command(out), reply_body(out)


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.deploy()
    return harness


# --- deploy, requests ----------------------------------------------------------------------


def test_deploy_stores_the_module_under_its_sha256(h: Harness) -> None:
    assert h.store.get_code(PROBE_ID) == PROBE


def test_an_invalid_module_is_refused_with_the_engines_message() -> None:
    h = Harness()
    (out,) = h.client({"op": "deploy", "code": b"\x00asm\x01\x00\x00\x00\x05"}, rid=b"d")
    assert out.frames[:3] == [p.CLIENT_TAG, bytes((Command.ERROR,)), b"d"]
    body = reply_body(out)
    assert body["code"] == ErrorCode.INVALID_MODULE
    assert body["message"].startswith("invalid module: ")
    assert h.store.get_code(p.code_id(b"\x00asm\x01\x00\x00\x00\x05")) is None


def test_a_core_cannot_be_built_without_a_validator() -> None:
    # The broker does not know the engine: nothing checks deploys unless whoever starts it says how.
    with pytest.raises(TypeError, match="validate"):
        BrokerCore(MemoryStore())  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="validate"):
        server.Broker("memory:", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")  # type: ignore[call-arg]


def test_the_validator_handed_to_the_core_judges_deploys() -> None:
    seen: list[bytes] = []

    def refuse(module: bytes) -> str | None:
        seen.append(module)
        return "not today"

    core = BrokerCore(MemoryStore(), validate=refuse)
    (out,) = core.client_message(CLIENT, p.encode(p.CLIENT_TAG, Command.REQUEST, b"d", {"op": "deploy",
                                                                                      "code": PROBE}))
    assert seen == [PROBE]
    assert reply_body(out)["code"] == ErrorCode.INVALID_MODULE
    assert reply_body(out)["message"] == "invalid module: not today"


def test_trusting_the_deployer_is_an_explicit_choice_that_stores_any_bytes() -> None:
    garbage = b"\x00asm\x01\x00\x00\x00\x05"
    core = BrokerCore(MemoryStore(), validate=trust_deployer)
    (out,) = core.client_message(CLIENT, p.encode(p.CLIENT_TAG, Command.REQUEST, b"d", {"op": "deploy",
                                                                                      "code": garbage}))
    assert command(out) is Command.FINAL and reply_body(out)["code_id"] == p.code_id(garbage)
    assert core.store.get_code(p.code_id(garbage)) == garbage


def test_the_public_broker_validates_with_the_engine() -> None:
    broker = Broker("memory:", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
    try:
        assert broker.core.validate is module_error
        assert module_error(b"\x00asm\x01\x00\x00\x00\x05") is not None and module_error(PROBE) is None
    finally:
        broker.close()


def test_a_core_without_blocks_attached_refuses_a_block() -> None:
    core = BrokerCore(MemoryStore(), validate=module_error)
    body = {"op": "block", "calls": [{"code_id": PROBE_ID, "function": "add"}]}
    (out,) = core.client_message(CLIENT, p.encode(p.CLIENT_TAG, Command.REQUEST, b"b", body))
    assert command(out) is Command.ERROR and reply_body(out)["code"] == ErrorCode.BAD_REQUEST
    assert core.in_flight() == 0


def test_calling_an_unknown_code_id_is_an_error(h: Harness) -> None:
    kind, body = only_client_reply(h.call(code_id="0" * 64))
    assert kind is Command.ERROR and body["code"] == ErrorCode.UNKNOWN_CODE


@pytest.mark.parametrize(("field", "value"), [("gas_limit", 10**12), ("timeout", 10**4)],
                         ids=["gas", "timeout"])
def test_limits_above_the_maximum_are_bad_requests(h: Harness, field: str, value: int) -> None:
    kind, body = only_client_reply(h.call(**{field: value}))
    assert kind is Command.ERROR and body["code"] == ErrorCode.BAD_REQUEST and field in body["message"]


def test_state_get_reads_committed_state(h: Harness) -> None:
    h.store.commit(PROBE_ID, {}, {b"k": b"v"})
    kind, body = only_client_reply(h.client({"op": "state_get", "code_id": PROBE_ID, "key": b"k"}))
    assert (kind, body) == (Command.FINAL, {"value": b"v", "version": 1})


GARBAGE = {
    "one-frame": [b"hello"],
    "bad-tag": [b"HTTP/1.1", b"\x02", b"id", b"\x80"],
    "bad-msgpack": [p.CLIENT_TAG, b"\x02", b"id", b"\xc1"],
    "unknown-command": [p.CLIENT_TAG, b"\x42", b"id", b"\x80"],
    "unknown-op": [p.CLIENT_TAG, b"\x02", b"id", msgpack.packb({"op": "nope"})],
}


@pytest.mark.parametrize("frames", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_from_a_client_gets_an_error_and_is_counted(h: Harness, frames: list[bytes]) -> None:
    (out,) = h.core.client_message(CLIENT, frames)
    assert out.side is Side.FRONTEND and out.identity == CLIENT and command(out) is Command.ERROR
    assert reply_body(out)["message"]
    assert sum(v for k, v in h.core.counters.items() if k.startswith("error_")) == 1


def test_an_oversized_body_gets_too_large() -> None:
    h = Harness(limits=p.ProtocolLimits(max_body=100))
    (out,) = h.core.client_message(CLIENT, [p.CLIENT_TAG, b"\x02", b"id", b"\x80" + b"\x00" * 200])
    assert reply_body(out)["code"] == ErrorCode.TOO_LARGE and out.frames[2] == b"id"


def test_garbage_from_a_worker_is_dropped_and_counted(h: Harness) -> None:
    assert h.core.worker_message(b"w", [p.WORKER_TAG, b"\x05", b"j", b"\xc1"]) == []
    assert h.core.worker_message(b"w", [b"junk"]) == []
    assert h.core.counters["dropped"] == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=30), max_size=5), st.binary(max_size=8))
def test_no_frames_make_the_core_raise(frames: list[bytes], identity: bytes) -> None:
    h = Harness()
    h.core.client_message(identity, frames)
    h.core.worker_message(identity, frames)
    h.core.tick()


# --- routing ---------------------------------------------------------------------------------


def test_a_call_waits_in_the_queue_until_a_worker_is_ready(h: Harness) -> None:
    assert h.call() == []
    assert h.core.stats()["queue"] == 1
    outs = h.ready(b"w1")
    job = job_of(outs, b"w1")
    request = msgpack.unpackb(outs[0].frames[3])
    assert request["function"] == "add" and request["readonly"] is False
    assert request["gas_limit"] == BrokerConfig().default_gas
    assert h.core.stats()["in_flight"] == 1 and job


def test_a_call_goes_to_the_idle_worker_that_has_the_module(h: Harness) -> None:
    h.ready(b"cold", cache=[OTHER_ID])
    h.ready(b"warm", cache=[PROBE_ID])
    assert job_of(h.call(), b"warm")


def test_without_a_cached_module_the_longest_idle_worker_gets_the_call(h: Harness) -> None:
    h.ready(b"first")
    h.ready(b"second")
    assert job_of(h.call(), b"first")


def test_a_ready_worker_takes_a_queued_job_for_its_cached_module_first(h: Harness) -> None:
    other = h.deploy(OTHER)
    h.call(code_id=other)
    h.call()
    assert job_of(h.ready(b"w", cache=[PROBE_ID]), b"w")
    assert h.core.queue[0].code_id == other


def test_a_final_hands_the_credit_back_and_the_next_job_follows(h: Harness) -> None:
    first = job_of(h.ready(b"w") + h.call(), b"w")
    assert h.call() == []  # w is busy: queued
    outs = h.final(b"w", first)
    assert only_client_reply(outs)[0] is Command.FINAL
    assert job_of(outs, b"w") != first and h.core.stats()["queue"] == 0


def test_a_cache_report_on_final_steers_routing(h: Harness) -> None:
    h.ready(b"w1")
    h.ready(b"w2")
    job = job_of(h.call(), b"w1")
    _, body = only_client_reply(h.final(b"w1", job, cache=[PROBE_ID], hits=0, misses=1))
    assert not {"cache", "hits", "misses"} & body.keys()  # the report is the broker's, not the client's
    assert h.core.workers[b"w1"].cache == {PROBE_ID}
    assert job_of(h.call(), b"w1")  # w2 was idle longer, but w1 has the module


def test_a_final_from_an_unknown_worker_asks_it_to_register(h: Harness) -> None:
    (out,) = h.final(b"stranger", b"job")
    assert out.identity == b"stranger" and command(out) is Command.DISCONNECT


def test_heartbeat_from_an_unknown_worker_asks_it_to_register(h: Harness) -> None:
    (out,) = h.worker(b"stranger", Command.HEARTBEAT)
    assert out.identity == b"stranger" and command(out) is Command.DISCONNECT


def test_a_worker_that_disconnects_with_a_job_has_it_run_elsewhere(h: Harness) -> None:
    h.ready(b"w1")
    h.call()
    h.ready(b"w2")
    h.worker(b"w1", Command.DISCONNECT)
    assert h.core.stats()["workers"] == 1
    # w2 was idle when w1 left: the job moved there at once
    assert h.core.workers[b"w2"].job is not None


def test_a_lost_worker_is_forgotten_and_its_job_runs_elsewhere(h: Harness) -> None:
    h.ready(b"w1")
    job_of(h.call(), b"w1")
    h.ready(b"w2")
    outs = h.core.worker_lost(b"w1")
    assert job_of(outs, b"w2") and h.core.counters["workers_lost"] == 1
    assert list(h.core.workers) == [b"w2"]
    assert h.core.worker_lost(b"never-seen") == []


def test_the_queue_is_bounded(h: Harness) -> None:
    h.core.config = BrokerConfig(max_queue=1)
    h.call()
    kind, body = only_client_reply(h.call())
    assert kind is Command.ERROR and body["code"] == ErrorCode.BUSY


# --- callbacks, commits, MVCC ----------------------------------------------------------------


def test_callbacks_serve_code_and_committed_state(h: Harness) -> None:
    h.store.commit(PROBE_ID, {}, {b"k": b"v"})
    job = job_of(h.ready(b"w") + h.call(), b"w")
    assert h.callback(b"w", job, 1, op="code") == {"seq": 1, "code": PROBE}
    assert h.callback(b"w", job, 2, op="get", key=b"k") == {"seq": 2, "value": b"v", "version": 1}
    assert h.callback(b"w", job, 3, op="get", key=b"none") == {"seq": 3, "value": None, "version": 0}
    assert h.core.workers[b"w"].job.reads == {b"k": 1, b"none": 0}  # type: ignore[union-attr]


def test_a_callback_for_a_job_the_worker_does_not_hold_is_refused(h: Harness) -> None:
    h.ready(b"w")
    assert "error" in h.callback(b"w", b"nope", 1, op="get", key=b"k")


def test_an_ok_result_commits_its_writes_and_reaches_the_client(h: Harness) -> None:
    job = job_of(h.ready(b"w") + h.call(), b"w")
    outs = h.final(b"w", job, writes={b"k": b"v"}, results=[3])
    kind, body = only_client_reply(outs)
    assert kind is Command.FINAL
    assert body["status"] == "ok" and body["results"] == [3] and body["writes"] == {b"k": b"v"}
    assert h.store.get(PROBE_ID, b"k").value == b"v"
    assert h.core.stats()["jobs_done"] == 1


@pytest.mark.parametrize("status", ["trap", "out_of_gas", "reverted", "timeout", "error"])
def test_any_other_status_commits_nothing(h: Harness, status: str) -> None:
    job = job_of(h.ready(b"w") + h.call(), b"w")
    _, body = only_client_reply(h.final(b"w", job, status=status, code=20, writes={b"k": b"v"}))
    assert body["status"] == status and body["writes"] == {}
    assert h.store.sequence() == 0


def test_a_query_that_writes_is_refused(h: Harness) -> None:
    h.ready(b"w")
    job = job_of(h.client({"op": "query", "code_id": PROBE_ID, "function": "put"}), b"w")
    _, body = only_client_reply(h.final(b"w", job, writes={b"k": b"v"}))
    assert body["status"] == "error" and body["code"] == ErrorCode.READ_ONLY
    assert "read-only" in body["error"] and h.store.sequence() == 0


def test_a_stale_read_is_re_executed_against_fresh_state() -> None:
    h = Harness(max_client_workers=2)  # one client's two calls side by side (no fairness limit)
    h.deploy()
    h.ready(b"w1")
    h.ready(b"w2")
    job1 = job_of(h.call(), b"w1")
    job2 = job_of(h.call(), b"w2")
    for worker, job in ((b"w1", job1), (b"w2", job2)):
        h.callback(worker, job, 1, op="get", key=b"balance")
    assert only_client_reply(h.final(b"w1", job1, writes={b"balance": b"1"}))[1]["status"] == "ok"
    outs = h.final(b"w2", job2, writes={b"balance": b"1"})  # read version 0, now 1: stale
    assert [o for o in outs if o.side is Side.FRONTEND] == []
    assert h.core.counters["reexecutions"] == 1
    retry = job_of(outs, b"w1")  # w1's FINAL made it idle again: the retry went there at once
    assert h.callback(b"w1", retry, 1, op="get", key=b"balance")["version"] == 1
    _, body = only_client_reply(h.final(b"w1", retry, writes={b"balance": b"2"}))
    assert body["status"] == "ok" and body["attempts"] == 2
    assert h.store.get(PROBE_ID, b"balance").value == b"2"


def test_a_repeatedly_stale_job_runs_alone_on_its_contract() -> None:
    h = Harness(exclusive_after=1, max_client_workers=2)
    h.deploy()
    h.ready(b"w1")
    h.ready(b"w2")
    job1, job2 = job_of(h.call(), b"w1"), job_of(h.call(), b"w2")
    h.call()  # a third call waits in the queue
    for worker, job in ((b"w1", job1), (b"w2", job2)):
        h.callback(worker, job, 1, op="get", key=b"x")
    h.final(b"w1", job1, writes={b"x": b"1"})  # commits; w1 takes the third call
    outs = h.final(b"w2", job2, writes={b"x": b"2"})  # stale: re-executed alone
    assert h.core.counters["exclusive_runs"] == 1
    assert [o for o in outs if o.side is Side.BACKEND] == []  # w1 still runs the third call: wait
    third = h.core.workers[b"w1"].job
    assert third is not None
    outs = h.final(b"w1", third.job_id)
    retry = job_of(outs, b"w1")  # the contract is quiet now: the retry runs, alone
    assert h.core.stats()["idle"] == 1 and h.core.exclusive == {PROBE_ID}
    h.call()  # a new call of the same contract waits behind the exclusive run
    assert h.core.stats()["queue"] == 1
    outs = h.final(b"w1", retry, writes={b"x": b"3"})
    assert only_client_reply(outs)[1]["attempts"] == 2
    assert job_of(outs, b"w2") and not h.core.exclusive  # released: the waiting call goes out


def test_too_many_stale_reads_end_in_a_conflict() -> None:
    h = Harness(max_attempts=1)
    h.deploy()
    job = job_of(h.ready(b"w") + h.call(), b"w")
    h.callback(b"w", job, 1, op="get", key=b"x")
    h.store.commit(PROBE_ID, {}, {b"x": b"changed"})
    _, body = only_client_reply(h.final(b"w", job, writes={b"x": b"mine"}))
    assert body["status"] == "error" and body["code"] == ErrorCode.CONFLICT


# --- request ids -----------------------------------------------------------------------------


def test_a_repeated_request_id_is_not_run_twice(h: Harness) -> None:
    h.client({"op": "call", "code_id": PROBE_ID, "function": "f"}, b"same")
    h.client({"op": "call", "code_id": PROBE_ID, "function": "f"}, b"same")
    assert len(h.core.queue) == 1 and h.core.counters["duplicates"] == 1


def test_the_same_request_id_from_another_client_is_another_request(h: Harness) -> None:
    h.client({"op": "call", "code_id": PROBE_ID, "function": "f"}, b"same")
    h.client({"op": "call", "code_id": PROBE_ID, "function": "f"}, b"same", identity=b"client-2")
    assert len(h.core.queue) == 2 and h.core.counters["duplicates"] == 0
    outs = h.ready(b"w1") + h.ready(b"w2")
    replies = h.final(b"w1", job_of(outs, b"w1")) + h.final(b"w2", job_of(outs, b"w2"))
    assert sorted(out.identity for out in replies) == [CLIENT, b"client-2"]  # each gets its own answer


def test_a_curve_key_scopes_request_ids_whatever_the_connection(h: Harness) -> None:
    body = p.encode(p.CLIENT_TAG, Command.REQUEST, b"same", {"op": "call", "code_id": PROBE_ID,
                                                             "function": "f"})
    h.core.client_message(b"conn-1", body, principal=b"K" * 40)
    h.core.client_message(b"conn-2", body, principal=b"K" * 40)  # the same key, reconnected
    h.core.client_message(b"conn-1", body, principal=b"L" * 40)  # another key
    assert len(h.core.queue) == 2
    job = job_of(h.ready(b"w"), b"w")
    (out,) = [o for o in h.final(b"w", job) if o.side is Side.FRONTEND]
    assert out.identity == b"conn-2"  # the answer goes to the key's latest connection


def test_a_finished_request_id_gets_the_same_answer_again(h: Harness) -> None:
    first = h.client({"op": "stats"}, b"s1")
    again = h.client({"op": "stats"}, b"s1")
    assert first == again and h.core.counters["duplicates"] == 1


# --- time ---------------------------------------------------------------------------------------


def test_a_call_past_its_deadline_times_out_and_its_late_result_commits_nothing(h: Harness) -> None:
    job = job_of(h.ready(b"w") + h.call(timeout=1.0), b"w")
    h.clock.now += 1.0 + BrokerConfig().grace - 0.01
    assert h.core.tick() == []
    h.clock.now += 0.02
    _, body = only_client_reply(h.core.tick())
    assert body["status"] == "timeout" and body["code"] == ErrorCode.TIMEOUT
    assert h.final(b"w", job, writes={b"k": b"v"}) == []
    assert h.core.counters["late_finals"] == 1 and h.store.sequence() == 0
    assert h.core.stats()["idle"] == 1  # the late FINAL handed the credit back


def test_a_call_that_waits_too_long_in_the_queue_times_out(h: Harness) -> None:
    h.call(timeout=1.0)
    h.clock.now += 10
    _, body = only_client_reply(h.core.tick())
    assert body["status"] == "timeout" and "queue" in body["error"]
    assert h.core.stats()["queue"] == 0


def test_a_silent_idle_worker_is_forgotten(h: Harness) -> None:
    h.ready(b"w")
    cfg = BrokerConfig()
    h.clock.now += cfg.heartbeat_interval * (cfg.liveness - 1)
    h.worker(b"w", Command.HEARTBEAT)
    h.clock.now += cfg.heartbeat_interval * (cfg.liveness - 1)
    h.core.tick()
    assert h.core.stats()["workers"] == 1
    h.clock.now += cfg.heartbeat_interval * cfg.liveness
    h.core.tick()
    assert h.core.stats()["workers"] == 0


def test_stats_sum_the_workers_cache_counters(h: Harness) -> None:
    h.worker(b"w1", Command.READY, body={"hits": 3, "misses": 1})
    h.worker(b"w2", Command.READY, body={"hits": 1, "misses": 3})
    stats = h.core.stats()
    assert (stats["cache_hits"], stats["cache_misses"], stats["cache_hit_rate"]) == (4, 4, 0.5)
    assert stats["workers"] == stats["idle"] == 2


# --- the server's collector policy -------------------------------------------------------------


@pytest.mark.parametrize("collector_on", [True, False], ids=["gc-on", "gc-off"])
def test_the_collector_is_paused_while_a_block_runs_and_restored_after(collector_on: bool) -> None:
    was = gc.isenabled()
    (gc.enable if collector_on else gc.disable)()
    try:
        policy = server.CollectorPolicy()
        policy.observe(False, 0)
        assert gc.isenabled() is collector_on  # no block: untouched
        policy.observe(True, 1)
        assert not gc.isenabled()  # a block runs: no full collection mid-block
        policy.observe(True, 1)
        collections = gc.get_stats()[2]["collections"]
        policy.observe(True, 2)  # the next block started right after: a collection between them
        assert not gc.isenabled()
        assert (gc.get_stats()[2]["collections"] > collections) is collector_on
        policy.observe(False, 2)
        assert gc.isenabled() is collector_on  # the block ended: as it was found
    finally:
        (gc.enable if was else gc.disable)()


def test_a_stopping_server_turns_the_collector_back_on_mid_block() -> None:
    was = gc.isenabled()
    gc.enable()
    try:
        policy = server.CollectorPolicy()
        policy.observe(True, 1)
        assert not gc.isenabled()
        policy.close()
        assert gc.isenabled()
        policy.close()  # idempotent
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
