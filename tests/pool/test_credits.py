"""Worker credits and batches in the broker's state machine: no sockets, a fake clock.

A worker's READY names its credits (the jobs it may hold: one runs, the
rest wait in its socket). The broker fills free credits with one REQUEST
(a ``jobs`` batch when several), takes a ``finals`` FINAL result by result
in order, and when a worker goes, takes back every job it held.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack
import pytest

from tests.pool.test_core import PROBE_ID, Harness, command, only_client_reply, reply_body
from wasmpool.broker.outgoing import Outgoing, Side
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode

W = b"w1"


def requests_to(outs: list[Outgoing], identity: bytes) -> list[Outgoing]:
    return [o for o in outs
            if o.side is Side.BACKEND and o.identity == identity and command(o) is Command.REQUEST]


def jobs_in(out: Outgoing) -> list[tuple[bytes, dict[str, Any]]]:
    """The (job id, job body) pairs one REQUEST carries: itself, or its ``jobs`` batch."""
    body = reply_body(out)
    if "jobs" not in body:
        return [(out.frames[2], body)]
    return [(job_id, msgpack.unpackb(packed)) for job_id, packed in body["jobs"]]


def result(status: str = "ok", code: int = 0, **fields: Any) -> dict[str, Any]:
    return {"status": status, "code": code, "results": [7], "output": b"", "gas_used": 5, "logs": [],
            "writes": {}, "error": None, **fields}


def finals(h: Harness, identity: bytes, pairs: list[tuple[bytes, dict[str, Any]]]) -> list[Outgoing]:
    body = {"finals": [[job_id, body] for job_id, body in pairs]}
    return h.worker(identity, Command.FINAL, pairs[0][0], body)


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    harness.deploy()
    yield harness
    harness.core.settle()


def call(h: Harness, rid: bytes, **fields: Any) -> list[Outgoing]:
    return h.client({"op": "call", "code_id": PROBE_ID, "function": "add", **fields}, rid=rid)


def ready(h: Harness, identity: bytes, credits: int) -> list[Outgoing]:
    return h.worker(identity, Command.READY, body={"credits": credits, "cache": [PROBE_ID]})


def test_a_worker_is_given_as_many_jobs_as_its_credits(h: Harness) -> None:
    ready(h, W, 3)
    sent = [out for _ in range(5) for out in requests_to(h.call(), W)]
    assert len(sent) == 3  # one REQUEST per job while it had credits; the others wait in the queue
    assert h.core.stats()["in_flight"] == 3 and h.core.stats()["queue"] == 2
    assert h.core.workers[W].job is not None and h.core.workers[W].job.job_id == sent[0].frames[2]


def test_credits_freed_together_are_filled_with_one_batched_request(h: Harness) -> None:
    ready(h, W, 4)
    held = [out.frames[2] for _ in range(4) for out in requests_to(h.call(), W)]
    for _ in range(3):
        h.call()  # queued
    outs = finals(h, W, [(job_id, result()) for job_id in held[:3]])
    replies = [o for o in outs if o.side is Side.FRONTEND]
    assert [command(o) for o in replies] == [Command.FINAL] * 3
    (batch,) = requests_to(outs, W)
    jobs = jobs_in(batch)
    assert len(jobs) == 3 and batch.frames[2] == jobs[0][0]
    assert all(body["function"] == "add" and body["code_id"] == PROBE_ID for _, body in jobs)
    assert h.core.counters["batched_jobs"] == 3
    assert h.core.stats()["in_flight"] == 4 and h.core.stats()["queue"] == 0


def test_batched_results_are_answered_in_order_up_to_a_stray_one(h: Harness) -> None:
    ready(h, W, 3)
    rids = [b"a", b"b", b"c"]
    held = [requests_to(call(h, rid), W)[0].frames[2] for rid in rids]
    outs = finals(h, W, [(held[0], result()), (b"not-held", result()), (held[1], result())])
    assert [o.frames[2] for o in outs if o.side is Side.FRONTEND] == [b"a"]
    assert h.core.counters["stray_finals"] == 1
    assert h.core.workers[W].job is not None and h.core.workers[W].job.job_id == held[1]


def test_a_malformed_result_in_a_batch_fails_only_its_own_call(h: Harness) -> None:
    ready(h, W, 2)
    held = [requests_to(call(h, rid), W)[0].frames[2] for rid in (b"a", b"b")]
    outs = finals(h, W, [(held[0], {"status": "ok"}), (held[1], result())])
    bodies = {o.frames[2]: reply_body(o) for o in outs if o.side is Side.FRONTEND}
    assert bodies[b"a"]["code"] == ErrorCode.INTERNAL and "malformed result" in bodies[b"a"]["error"]
    assert bodies[b"b"]["status"] == "ok" and bodies[b"b"]["results"] == [7]


def test_writes_in_a_batch_commit_in_order(h: Harness) -> None:
    ready(h, W, 2)
    held = [requests_to(call(h, rid), W)[0].frames[2] for rid in (b"a", b"b")]
    finals(h, W, [(held[0], result(writes={b"k": b"1"})), (held[1], result(writes={b"k": b"2"}))])
    assert h.store.get(PROBE_ID, b"k") == (b"2", 2)


def test_a_callback_is_served_for_a_held_job_whose_predecessors_results_are_kept(h: Harness) -> None:
    ready(h, W, 2)
    held = [requests_to(call(h, rid), W)[0].frames[2] for rid in (b"a", b"b")]
    reply = h.callback(W, held[1], 1, op="get", key=b"k")  # job a finished; its FINAL not sent yet
    assert reply == {"seq": 1, "value": None, "version": 0}
    assert h.callback(W, b"unknown", 2, op="get", key=b"k")["error"] == "no such job on this broker"


def test_a_lost_worker_gives_back_every_job_it_held_in_order(h: Harness) -> None:
    ready(h, W, 3)
    for rid in (b"a", b"b", b"c"):
        call(h, rid)
    outs = h.worker(W, Command.DISCONNECT, b"bye")
    assert not [o for o in outs if o.side is Side.FRONTEND]
    assert [job.request_id for job in h.core.queue] == [b"a", b"b", b"c"]
    assert [job.attempts for job in h.core.queue] == [1, 0, 0]  # only the running one was tried
    assert [job.losses for job in h.core.queue] == [1, 0, 0]
    outs = ready(h, b"w2", 3)
    assert [job_id for out in requests_to(outs, b"w2") for job_id, _ in jobs_in(out)]  # all re-dispatched
    assert h.core.stats()["in_flight"] == 3 and h.core.stats()["queue"] == 0


def test_an_idle_worker_is_preferred_to_a_busy_one_with_credits() -> None:
    h = Harness(max_client_workers=2)  # one client on both workers (no fairness limit)
    h.deploy()
    ready(h, W, 4)
    h.call()
    ready(h, b"w2", 4)
    assert requests_to(h.call(), b"w2")  # w1 could take it too, but w2 has nothing to do
    assert [len(h.core.workers[w].jobs) for w in (W, b"w2")] == [1, 1]


def test_ready_without_credits_means_one(h: Harness) -> None:
    h.ready(W)
    assert len(requests_to(h.call(), W)) == 1 and not requests_to(h.call(), W)
    assert h.core.stats()["queue"] == 1


@pytest.mark.parametrize("credits", [0, p.MAX_CREDITS + 1, "2", -1],
                         ids=["zero", "too-many", "text", "negative"])
def test_bad_credits_are_dropped(h: Harness, credits: object) -> None:
    assert h.worker(W, Command.READY, body={"credits": credits}) == []
    assert W not in h.core.workers and h.core.counters["dropped"] == 1


def test_a_garbled_batch_final_is_dropped(h: Harness) -> None:
    ready(h, W, 2)
    h.call()
    assert h.worker(W, Command.FINAL, b"j", {"finals": [[b"j"]]}) == []
    assert h.core.counters["dropped"] == 1 and len(h.core.workers[W].jobs) == 1


def test_waiting_jobs_time_out_where_they_wait(h: Harness) -> None:
    ready(h, W, 2)
    call(h, b"a", timeout=1.0)
    call(h, b"b", timeout=1.0)
    h.clock.now += 1.0 + h.core.config.grace + 0.1
    outs = h.core.tick()
    timed_out = {o.frames[2]: reply_body(o)["status"] for o in outs if o.side is Side.FRONTEND}
    assert timed_out == {b"a": "timeout", b"b": "timeout"}


def test_a_single_final_still_answers_a_job_of_a_worker_with_credits(h: Harness) -> None:
    ready(h, W, 2)
    job = requests_to(call(h, b"solo"), W)[0].frames[2]
    cmd, body = only_client_reply(h.final(W, job))
    assert cmd is Command.FINAL and body["status"] == "ok"
    assert not h.core.workers[W].jobs and W in h.core.idle


# --- block chunks in credits ---------------------------------------------------------------------


def block(h: Harness, calls: int, rid: bytes = b"blk") -> list[Outgoing]:
    body = {"op": "block", "calls": [{"code_id": PROBE_ID, "function": "add", "args": [i, 1]}
                                     for i in range(calls)]}
    return h.client(body, rid=rid)


def chunk_request(out: Outgoing) -> tuple[bytes, dict[str, Any]]:
    body = reply_body(out)
    assert "chunk" in body
    return out.frames[2], body


def chunk_final(h: Harness, identity: bytes, job_id: bytes, calls: int) -> list[Outgoing]:
    """The chunk's FINAL: every call ok, reading nothing."""
    entries = [{**result(), "reads": []} for _ in range(calls)]
    return h.worker(identity, Command.FINAL, job_id, {"status": "ok", "code": 0, "chunk": entries})


def test_a_lone_worker_gets_its_next_chunk_while_one_runs_and_it_continues_that_chunk(h: Harness) -> None:
    """One worker: each chunk is sent as the one before starts running, naming it in ``after``.

    300 calls in chunks of 75 (four per worker): two are sent at once; each
    FINAL brings the next. Then the worker is lost: the calls of the chunk
    it ran count a loss each, those of the chunk waiting behind it none.
    """
    ready(h, W, 8)
    outs = block(h, 300)
    (first, second) = [chunk_request(o) for o in requests_to(outs, W)]
    assert len(first[1]["chunk"]) == 75 and "after" not in first[1]
    assert second[1]["after"] == first[0] and len(second[1]["chunk"]) == 75
    (third,) = [chunk_request(o) for o in requests_to(chunk_final(h, W, first[0], 75), W)]
    assert third[1]["after"] == second[0]
    lost = h.core.counters["block_tasks_lost"]
    h.worker(W, Command.DISCONNECT)
    assert h.core.counters["block_tasks_lost"] - lost == 75  # the running chunk's calls only
    sent = [chunk_request(o) for o in requests_to(ready(h, b"w2", 8), b"w2")]
    # The lost calls run alone from then on (a poison call is pinned): one call per chunk, the next
    # ones waiting in the credits as re-executions, each continuing the one before it.
    assert [len(body["chunk"]) for _, body in sent] == [1, 1, 1, 1]
    assert "after" not in sent[0][1]
    assert [body["after"] for _, body in sent[1:]] == [job_id for job_id, _ in sent[:-1]]


def test_chunks_are_not_chained_when_several_workers_share_a_block(h: Harness) -> None:
    """Two workers: each gets one chunk; a chunk waiting behind another would start from older state."""
    ready(h, W, 8)
    ready(h, b"w2", 8)
    outs = block(h, 16)
    for identity in (W, b"w2"):
        (request,) = [chunk_request(o) for o in requests_to(outs, identity)]
        assert "after" not in request[1]
