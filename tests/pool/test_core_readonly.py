"""A job that wrote nothing (a query) is answered only when its reads still hold, socket-free.

Its reads were served from committed state at different moments; when a
commit changed one of them (or a scanned range) before its FINAL, it may
have seen half of that commit, so the broker runs it again instead of
answering, as it re-executes a stale commit.
"""

from __future__ import annotations

from tests.pool.test_core import PROBE_ID, Harness, command, only_client_reply
from wasmpool.broker.outgoing import Outgoing, Side
from wasmpool.wire.protocol import Command


def dispatched(outs: list[Outgoing]) -> tuple[bytes, bytes]:
    """The worker a job went to among ``outs``, and the job's id."""
    (job,) = [o for o in outs if o.side is Side.BACKEND and command(o) is Command.REQUEST]
    return job.identity, job.frames[2]


def two_workers() -> Harness:
    h = Harness(max_client_workers=2)
    h.deploy()
    h.ready(b"w1")
    h.ready(b"w2")
    return h


def test_a_query_whose_read_changed_before_its_final_runs_again() -> None:
    h = two_workers()
    qw, query = dispatched(h.client({"op": "query", "code_id": PROBE_ID, "function": "get"}))
    cw, call = dispatched(h.call())
    assert h.callback(qw, query, 1, op="get", key=b"x")["version"] == 0
    h.callback(cw, call, 1, op="get", key=b"x")
    assert only_client_reply(h.final(cw, call, writes={b"x": b"1"}))[1]["status"] == "ok"
    outs = h.final(qw, query, results=[0])  # read x at version 0; it is 1 now
    assert [o for o in outs if o.side is Side.FRONTEND] == []
    assert h.core.counters["reexecutions"] == 1
    rw, retry = dispatched(outs)
    assert h.callback(rw, retry, 1, op="get", key=b"x")["version"] == 1
    _, body = only_client_reply(h.final(rw, retry, results=[1]))
    assert body["status"] == "ok" and body["results"] == [1] and body["attempts"] == 2


def test_a_query_whose_scanned_range_gained_a_key_runs_again() -> None:
    h = two_workers()
    qw, query = dispatched(h.client({"op": "query", "code_id": PROBE_ID, "function": "list"}))
    cw, call = dispatched(h.call())
    page = h.callback(qw, query, 1, op="scan", start=b"a", end=b"b", order=0, limit=16)
    assert page["entries"] == [] and not page["more"]
    assert only_client_reply(h.final(cw, call, writes={b"a1": b"v"}))[1]["status"] == "ok"
    outs = h.final(qw, query, results=[0])  # a phantom: a1 appeared in the range it read empty
    assert [o for o in outs if o.side is Side.FRONTEND] == []
    assert h.core.counters["reexecutions"] == 1


def test_a_query_and_a_call_that_wrote_nothing_are_answered_when_their_reads_hold() -> None:
    h = two_workers()
    qw, query = dispatched(h.client({"op": "query", "code_id": PROBE_ID, "function": "get"}))
    cw, call = dispatched(h.call())
    h.callback(qw, query, 1, op="get", key=b"x")
    h.callback(cw, call, 1, op="get", key=b"y")
    _, body = only_client_reply(h.final(cw, call, results=[7]))
    assert body["status"] == "ok" and body["attempts"] == 1
    _, body = only_client_reply(h.final(qw, query, results=[0]))
    assert body["status"] == "ok" and body["attempts"] == 1
    assert h.core.counters["reexecutions"] == 0
