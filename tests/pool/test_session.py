"""The worker's session, driven by plain frames and a fake clock: no sockets, no threads, no sleeps.

Every frame the session builds is read back with the broker's own decoder
(``decode_worker``), so what is checked here is what a broker would accept.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.pool.test_core import Clock
from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode, Status
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.session import NOTHING_DUE, WorkerSession
from wasmpool.worker.versions import WORKER_VERSIONS

PID = 4242
OK = m.CallResult(Status.OK, ErrorCode.OK, [1], gas_used=5)
OK_BODY = {"status": "ok", "code": 0, "results": [1], "output": b"", "gas_used": 5, "logs": [], "writes": {},
           "error": None}
JOB = {"code_id": "a" * 64, "function": "add", "args": [1, 2], "input": b"", "context": {},
       "gas_limit": 1000, "timeout": 5.0, "readonly": False}


class FakeCache:
    """A module cache as the session sees it: counters, a generation, the cached code ids."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.generation = 0
        self.ids: list[str] = []

    def keys(self) -> list[str]:
        return list(self.ids)

    def add(self, code_id: str) -> None:
        self.ids.append(code_id)
        self.generation += 1


class Fixture:
    def __init__(self, **config: Any) -> None:
        self.clock = Clock()
        self.cache = FakeCache()
        self.session = WorkerSession(WorkerConfig(**config), self.cache, self.clock, pid=PID)

    def hear(self, command: Command, request_id: bytes = b"r", body: dict[str, Any] | None = None) -> None:
        self.session.heard(p.encode(p.WORKER_TAG, command, request_id, body or {}))

    def job(self, job_id: bytes, **fields: Any) -> None:
        self.hear(Command.REQUEST, job_id, {**JOB, **fields})

    def after(self, seconds: float) -> None:
        self.clock.now += seconds


def sent(frames: list[bytes] | None) -> p.Message:
    assert frames is not None
    return p.decode_worker(frames)


@pytest.fixture
def f() -> Fixture:
    return Fixture(heartbeat=1.0, liveness=3, reconnect_min=1.0, reconnect_max=4.0)


# --- READY ---------------------------------------------------------------------------------------


def test_ready_offers_credits_for_the_running_job_and_the_prefetched_ones(f: Fixture) -> None:
    f.cache.add("c" * 64)
    ready = sent(f.session.ready())
    assert ready.command is Command.READY
    assert ready.body == {"hits": 0, "misses": 0, "cache": ["c" * 64], "pid": PID, "heartbeats": True,
                          "credits": 8, "versions": WORKER_VERSIONS.as_dict()}
    assert sent(Fixture(prefetch=0).session.ready()).body["credits"] == 1


def test_ready_drops_what_the_worker_held_for_a_broker_that_forgot_it(f: Fixture) -> None:
    f.job(b"j1")
    f.job(b"j2")
    f.session.finished(b"j0", OK, leaving=False)  # kept: jobs wait
    f.hear(Command.DISCONNECT)
    assert f.session.disconnected and f.session.has_news()
    f.session.ready()
    assert not f.session.disconnected and not f.session.has_news()
    assert f.session.next_job() is None and f.session.finals == []


# --- jobs ----------------------------------------------------------------------------------------


def test_jobs_queue_in_order_and_a_batch_becomes_its_jobs_with_a_malformed_one_refused(f: Fixture) -> None:
    f.job(b"j1")
    batch = [[b"j2", p.pack(JOB)], [b"j3", p.pack({"function": "add"})], [b"j4", p.pack(JOB)]]
    f.hear(Command.REQUEST, b"j2", {"jobs": batch})
    order = []
    while (message := f.session.next_job()) is not None:
        order.append((message.request_id, "refused" in message.body))
    assert order == [(b"j1", False), (b"j2", False), (b"j3", True), (b"j4", False)]


def test_a_garbled_frame_is_dropped_but_counts_as_heard(f: Fixture) -> None:
    f.after(2.5)
    f.session.heard([p.WORKER_TAG, bytes((Command.REQUEST,)), b"x", b"\xc1not msgpack"])
    assert f.session.last_heard == f.clock.now and not f.session.has_news()


# --- heartbeats and reconnecting -----------------------------------------------------------------


def test_a_heartbeat_is_due_after_an_interval_without_sending(f: Fixture) -> None:
    f.session.ready()
    f.after(0.9)
    assert f.session.due() is NOTHING_DUE
    assert f.session.wait_time(deadline=f.clock.now + 5) == pytest.approx(0.1)
    f.after(0.1)
    due = f.session.due()
    assert sent(due.send).command is Command.HEARTBEAT and due.reconnect is None
    assert f.session.due() is NOTHING_DUE  # sending counts: the next one is an interval away


def test_the_brokers_numbers_answering_ready_are_adopted(f: Fixture) -> None:
    f.hear(Command.HEARTBEAT, body={"interval": 0.25, "liveness": 5})
    assert (f.session.liveness.interval, f.session.liveness.window) == (0.25, 1.25)
    f.after(0.25)
    assert sent(f.session.due().send).command is Command.HEARTBEAT


def test_a_silent_broker_means_reconnecting_after_a_growing_delay_reset_by_any_frame(f: Fixture) -> None:
    delays = []
    for _ in range(4):
        f.after(3.0)
        assert f.session.due().reconnect is None  # the window is 3 s: silent for exactly 3 s is alive
        f.after(0.01)
        due = f.session.due()
        assert due.reconnect is not None
        delays.append(due.reconnect)
        assert f.session.disconnected  # the worker registers again on the new socket
        f.session.connected()
        f.session.ready()
    assert delays == [1.0, 2.0, 4.0, 4.0] and f.session.reconnects == 4
    f.hear(Command.HEARTBEAT)
    f.after(3.01)
    assert f.session.due().reconnect == 1.0


def test_reconnecting_drops_the_jobs_the_broker_will_give_to_others(f: Fixture) -> None:
    f.job(b"j1")
    f.after(3.5)
    assert f.session.due().reconnect is not None
    assert f.session.next_job() is None


# --- CALLBACKs -----------------------------------------------------------------------------------


def test_a_callback_is_answered_by_its_own_reply_only(f: Fixture) -> None:
    first = sent(f.session.ask(b"job", lambda seq: m.ReadCallback(b"k", seq)))
    assert first.command is Command.CALLBACK and first.body == {"op": "get", "key": b"k", "seq": 1}
    with pytest.raises(errors.StateUnavailable, match="no answer"):
        f.session.answer()
    second = sent(f.session.ask(b"job", lambda seq: m.ReadCallback(b"k", seq, 3)))
    assert second.body == {"op": "get", "key": b"k", "index": 3, "seq": 2}
    f.hear(Command.CALLBACK_REPLY, b"job", {"seq": 1, "value": b"late"})  # the earlier question's
    f.hear(Command.CALLBACK_REPLY, b"other", {"seq": 2, "value": b"theirs"})
    assert not f.session.answered()
    f.hear(Command.CALLBACK_REPLY, b"job", {"seq": 2, "value": b"v", "version": 3})
    assert f.session.answered() and f.session.answer() == m.ReadReply(2, b"v", 3)


def test_a_refused_callback_and_a_forgetful_broker_fail_the_read(f: Fixture) -> None:
    code = sent(f.session.ask(b"job", lambda seq: m.CodeCallback(seq)))
    assert code.body == {"op": "code", "seq": 1}
    seq = code.body["seq"]
    f.hear(Command.CALLBACK_REPLY, b"job", {"seq": seq, "error": "no such job"})
    with pytest.raises(errors.StateUnavailable, match="refused: no such job"):
        f.session.answer()
    f.session.ask(b"job", m.CodeCallback)
    f.hear(Command.DISCONNECT)
    assert f.session.answered()
    with pytest.raises(errors.StateUnavailable, match="forgot this worker"):
        f.session.answer()


def test_a_job_arriving_during_a_callback_waits_for_its_turn(f: Fixture) -> None:
    f.session.ask(b"job", m.CodeCallback)
    f.job(b"next")
    assert not f.session.answered()
    message = f.session.next_job()
    assert message is not None and message.request_id == b"next"


# --- FINALs --------------------------------------------------------------------------------------


def test_results_wait_for_the_next_jobs_up_to_half_the_credits(f: Fixture) -> None:
    for n in range(6):
        f.job(b"j%d" % n)
    frames = [f.session.finished(b"d%d" % n, m.CallResult(Status.OK, ErrorCode.OK, [n]), leaving=False)
              for n in range(4)]
    assert frames[:3] == [None, None, None]  # 8 credits: at most 4 results in one FINAL
    final = sent(frames[3])
    assert final.command is Command.FINAL and final.request_id == b"d0"
    assert [[job_id, body["results"]] for job_id, body in final.body["finals"]] == [
        [b"d0", [0]], [b"d1", [1]], [b"d2", [2]], [b"d3", [3]]]
    assert final.body["hits"] == 0 and "leaving" not in final.body


def test_a_single_result_goes_as_it_is_when_no_job_waits(f: Fixture) -> None:
    f.cache.add("c" * 64)
    final = sent(f.session.finished(b"j", OK, leaving=False))
    assert final.request_id == b"j" and final.body == {**OK_BODY, "hits": 0, "misses": 0, "cache": ["c" * 64]}
    again = sent(f.session.finished(b"k", OK, leaving=False))
    assert "cache" not in again.body  # the cache did not change since the last report


CANNOT_WAIT: dict[str, m.CallResult | m.ChunkFinal] = {
    "writes": m.CallResult(Status.OK, ErrorCode.OK, writes={b"k": b"v"}),
    "nested writes": m.CallResult(Status.OK, ErrorCode.OK, nested_writes=[["ab" * 20, b"k", b"v"]]),
    "chunk": m.ChunkFinal([m.ChunkCallResult.of(OK, [[b"k", -1]]).to_body()]),
    "leaving": OK,
}


@pytest.mark.parametrize("why", list(CANNOT_WAIT))
def test_a_result_that_cannot_wait_goes_at_once_with_those_kept(f: Fixture, why: str) -> None:
    f.job(b"waiting")
    assert f.session.finished(b"quick", OK, leaving=False) is None
    final = sent(f.session.finished(b"now", CANNOT_WAIT[why], leaving=why == "leaving"))
    assert [job_id for job_id, _ in final.body["finals"]] == [b"quick", b"now"]
    assert final.body.get("leaving", False) is (why == "leaving")
    assert final.body["finals"][1][1] == CANNOT_WAIT[why].to_body()


def test_while_a_job_computes_kept_results_go_and_heartbeats_when_due(f: Fixture) -> None:
    f.job(b"long")
    assert f.session.finished(b"quick", OK, leaving=False) is None
    [final] = f.session.while_computing()
    assert sent(final).request_id == b"quick" and f.session.finals == []
    f.after(0.5)
    assert f.session.while_computing() == []
    f.after(0.5)
    [beat] = f.session.while_computing()
    assert sent(beat).command is Command.HEARTBEAT


# --- the watchdog --------------------------------------------------------------------------------


def test_the_watchdog_fires_only_past_the_time_limit_plus_its_margin() -> None:
    f = Fixture(watchdog=5.0)
    f.session.computing(2.0)
    assert f.session.busy
    f.after(7.0)
    assert not f.session.wedged()
    f.after(0.01)
    assert f.session.wedged()
    f.session.computed()
    assert not f.session.busy and not f.session.wedged()
    never = Fixture(watchdog=0)
    never.session.computing(1.0)
    never.after(1e6)
    assert not never.session.wedged()


def test_the_main_threads_turn_is_ready_when_forgotten_and_the_next_job_otherwise(f: Fixture) -> None:
    f.job(b"stale")
    f.hear(Command.DISCONNECT)
    send, job = f.session.turn()
    assert sent(send).command is Command.READY and job is None  # the stale job went to another worker
    f.job(b"fresh")
    send, job = f.session.turn()
    assert send is None and job is not None and job.request_id == b"fresh"
    assert f.session.turn() == (None, None)
