"""Liveness, lost jobs, the poison-pill cap, stored replies and draining, on the core with a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pool.test_core import CLIENT, PROBE, Harness, command, job_of, only_client_reply, reply_body
from wasmpool.broker.config import BrokerConfig
from wasmpool.broker.core import BrokerCore, client_scope, scoped_key
from wasmpool.broker.liveness import ReplyCache
from wasmpool.wire import protocol as p
from wasmpool.wire.liveness import Backoff, Liveness
from wasmpool.wire.protocol import Command, ErrorCode
from wasmpool.worker.validate import module_error

CFG = BrokerConfig()
WINDOW = CFG.heartbeat_interval * CFG.liveness


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.deploy()
    return harness


def ready(h: Harness, identity: bytes) -> list[Any]:
    """READY from a worker of this version (it heartbeats while busy)."""
    return h.worker(identity, Command.READY, body={"heartbeats": True})


def test_ready_with_heartbeats_is_answered_with_the_brokers_numbers(h: Harness) -> None:
    (out,) = ready(h, b"w")
    assert command(out) is Command.HEARTBEAT
    assert reply_body(out) == {"interval": CFG.heartbeat_interval, "liveness": CFG.liveness,
                               "max_body": CFG.limits.max_body,  # the worker sizes its results by it
                               "pinned": []}  # the whole pinned set, even empty: it replaces the last one
    assert p.decode_broker(out.frames).body["liveness"] == 3  # what the worker accepts


def test_the_broker_heartbeats_each_worker_once_per_interval(h: Harness) -> None:
    ready(h, b"w1")
    ready(h, b"w2")
    assert h.core.heartbeats() == []  # READY's answer was a HEARTBEAT already
    h.clock.now += CFG.heartbeat_interval
    assert {o.identity for o in h.core.heartbeats()} == {b"w1", b"w2"}
    assert h.core.heartbeats() == []
    h.clock.now += CFG.heartbeat_interval
    assert [command(o) for o in h.core.heartbeats()] == [Command.HEARTBEAT] * 2


def test_a_silent_busy_worker_loses_its_job_to_another_within_the_window(h: Harness) -> None:
    job = job_of(ready(h, b"frozen") + h.call(), b"frozen")
    ready(h, b"spare")
    h.clock.now += WINDOW - 0.01
    h.worker(b"spare", Command.HEARTBEAT)
    assert h.core.tick() == []
    h.clock.now += 0.02
    again = job_of(h.core.tick(), b"spare")
    assert again != job and h.core.counters["lost_silent"] == 1
    assert h.final(b"frozen", job, writes={b"k": b"v"})[0].frames[1] == bytes((Command.DISCONNECT,))
    _, body = only_client_reply(h.final(b"spare", again, writes={b"k": b"v"}))
    assert body["status"] == "ok" and body["attempts"] == 2 and h.store.sequence() == 1


def test_a_busy_worker_that_keeps_heartbeating_is_not_lost(h: Harness) -> None:
    job = job_of(ready(h, b"w") + h.call(timeout=30.0), b"w")
    for _ in range(20):
        h.clock.now += CFG.heartbeat_interval
        h.worker(b"w", Command.HEARTBEAT)
        assert h.core.tick() == []
    assert h.core.workers[b"w"].job is not None and h.core.workers[b"w"].job.job_id == job


def test_an_older_worker_without_busy_heartbeats_is_judged_by_its_jobs_deadline(h: Harness) -> None:
    h.ready(b"old")
    h.call(timeout=20.0)
    h.clock.now += 20.0
    h.core.tick()
    assert b"old" in h.core.workers


def test_a_heartbeating_worker_that_overruns_its_job_is_dropped(h: Harness) -> None:
    ready(h, b"wedged")
    job_of(h.call(timeout=1.0), b"wedged")
    deadline = 1.0 + CFG.grace
    h.clock.now += deadline
    h.worker(b"wedged", Command.HEARTBEAT)
    _, body = only_client_reply(h.core.tick())  # the client hears of the timeout first
    assert body["code"] == ErrorCode.TIMEOUT
    h.clock.now += WINDOW
    h.worker(b"wedged", Command.HEARTBEAT)
    (out,) = h.core.tick()
    assert out.identity == b"wedged" and command(out) is Command.DISCONNECT
    assert b"wedged" not in h.core.workers and h.core.counters["workers_overran"] == 1


@pytest.mark.parametrize("how", ["died", "left", "silent"])
def test_a_job_that_loses_three_workers_fails_with_worker_lost(h: Harness, how: str) -> None:
    h.call()
    replies = []
    for n in range(CFG.max_losses):
        identity = b"w%d" % n
        job_of(ready(h, identity), identity)
        if how == "died":
            replies += h.core.worker_lost(identity)
        elif how == "left":
            replies += h.worker(identity, Command.DISCONNECT)
        else:
            h.clock.now += WINDOW
            replies += h.core.tick()
    _, body = only_client_reply(replies)
    assert body["status"] == "error" and body["code"] == ErrorCode.WORKER_LOST
    assert "3 times" in body["error"] and body["attempts"] == 3
    assert h.core.counters["poison_pills"] == 1 and h.core.in_flight() == 0


def test_a_lost_job_gets_a_fresh_time_budget(h: Harness) -> None:
    job_of(ready(h, b"w1") + h.call(timeout=4.0), b"w1")
    h.clock.now += 3.0
    h.core.worker_lost(b"w1")
    h.clock.now += 4.0  # past the first attempt's deadline, within the second's
    assert h.core.tick() == []
    assert h.core.queue[0].deadline == pytest.approx(h.clock.now - 4.0 + 4.0 + CFG.grace)


def test_a_committed_reply_survives_a_restart_of_the_core(h: Harness) -> None:
    body = {"op": "call", "code_id": p.code_id(PROBE), "function": "add"}
    job = job_of(h.ready(b"w") + h.client(body, rid=b"once"), b"w")
    h.final(b"w", job, writes={b"k": b"v"}, results=[1])
    restarted = BrokerCore(h.store, config=BrokerConfig(), clock=h.clock, validate=module_error)
    request = p.encode(p.CLIENT_TAG, Command.REQUEST, b"once", body)
    (out,) = restarted.client_message(CLIENT, request)  # the same session, reconnected
    assert command(out) is Command.FINAL and reply_body(out)["results"] == [1]
    assert restarted.counters["receipts_replayed"] == 1 and h.store.sequence() == 1
    assert restarted.queue == type(restarted.queue)()  # not run again
    assert restarted.client_message(b"another-session", request) == []  # another client's: queued
    assert len(restarted.queue) == 1


def test_replies_expire_after_their_ttl() -> None:
    h = Harness(result_ttl=10.0)
    h.deploy()
    h.client({"op": "stats"}, rid=b"s")
    key = scoped_key(client_scope(CLIENT, None, h.core.boot), b"s")
    assert h.core.replies.get(key, h.clock.now) is not None
    h.clock.now += 10.0
    assert h.core.replies.get(key, h.clock.now) is None


def test_a_draining_broker_refuses_new_work_and_finishes_what_it_has(h: Harness) -> None:
    job = job_of(h.ready(b"w") + h.call(), b"w")
    h.core.drain()
    (out,) = h.call()
    assert command(out) is Command.ERROR and reply_body(out)["code"] == ErrorCode.BUSY
    assert "shutting down" in reply_body(out)["message"]
    assert command(h.client({"op": "stats"})[0]) is Command.FINAL
    assert h.core.in_flight() == 1
    _, body = only_client_reply(h.final(b"w", job))
    assert body["status"] == "ok" and h.core.in_flight() == 0


def test_reply_cache_is_bounded_by_count_and_age() -> None:
    cache = ReplyCache(capacity=2, ttl=5.0)
    for n, rid in enumerate([b"a", b"b", b"c"]):
        cache.put(rid, [rid], float(n))
    assert b"a" not in cache and len(cache) == 2
    assert cache.expire(6.5) == 1 and list(cache) == [b"c"]


def test_backoff_doubles_to_its_ceiling_and_resets() -> None:
    backoff = Backoff(1.0, 32.0)
    assert [backoff.next() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 32, 32]
    backoff.reset()
    assert backoff.next() == 1


def test_liveness_numbers() -> None:
    live = Liveness(1.0, 3)
    assert live.window == 3.0
    assert live.expires(10.0, heartbeats_busy=True, job_deadline=100.0) == 13.0
    assert live.expires(10.0, heartbeats_busy=False, job_deadline=100.0) == 103.0
    assert not live.overran(started=0.0, budget=5.0, now=7.9) and live.overran(0.0, 5.0, 8.0)


def test_losing_a_worker_lets_a_waiting_exclusive_job_run_on_an_idle_one() -> None:
    h = Harness(exclusive_after=1, max_client_workers=3)  # one client on every worker (no fairness limit)
    h.deploy()
    for identity in (b"w1", b"w2", b"w3"):
        h.ready(identity)
    a = job_of(h.call(), b"w1")
    b = job_of(h.call(), b"w2")
    job_of(h.call(), b"w3")
    h.callback(b"w1", a, 1, op="get", key=b"k")
    h.final(b"w2", b, writes={b"k": b"v"})  # a's read is now stale
    assert h.final(b"w1", a, writes={b"k": b"w"}) == []  # a waits to run alone: w3 still runs c
    assert h.core.queue[0].exclusive and set(h.core.idle) == {b"w1", b"w2"}
    h.core.worker_lost(b"w3")  # c goes back to the queue; a may run now
    running = [w.job for w in h.core.workers.values() if w.job is not None]
    assert [job.exclusive for job in running] == [True] and h.core.stats()["queue"] == 1
