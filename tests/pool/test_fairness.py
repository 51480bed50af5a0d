"""Fairness: one client cannot take every worker, and a block cannot hold other contracts' calls.

The dispatch decisions are checked in the core with a fake clock; the
outcomes a client sees (its calls answered while another client's spinning
calls or a looping block run) with a broker and worker processes on
loopback sockets.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from tests.pool.conftest import TEST_LIMITS, Pool, dealer, start_pool, unique
from tests.pool.test_core import PROBE, PROBE_ID, Harness, command, reply_body
from wasmpool.broker.config import BrokerConfig
from wasmpool.broker.outgoing import Outgoing, Side
from wasmpool.cli import broker as broker_command
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command

A, B = b"client-a", b"client-b"
SPIN_GAS = 10**10  # far more than a call can burn before its time limit


# --- the core, with a fake clock ---------------------------------------------------------------------


def sent_to(outs: list[Outgoing]) -> list[bytes]:
    """The workers that got a REQUEST among ``outs``, in order."""
    return [o.identity for o in outs if o.side is Side.BACKEND and command(o) is Command.REQUEST]


def job_sent(outs: list[Outgoing], identity: bytes) -> bytes:
    (job,) = [o.frames[2] for o in outs
              if o.side is Side.BACKEND and o.identity == identity and command(o) is Command.REQUEST]
    return job


def call(h: Harness, client: bytes, code_id: str = PROBE_ID) -> list[Outgoing]:
    return h.client({"op": "call", "code_id": code_id, "function": "add", "args": [1, 2]}, identity=client)


def answered(outs: list[Outgoing], client: bytes) -> bool:
    return any(o.side is Side.FRONTEND and o.identity == client for o in outs)


def test_the_default_limit_is_all_workers_but_one() -> None:
    h = Harness()
    assert h.core.client_worker_limit() == 1  # no worker yet: at least one
    for n in range(1, 5):
        h.ready(b"w%d" % n)
        assert h.core.client_worker_limit() == max(1, n - 1)
    assert Harness(max_client_workers=3).core.client_worker_limit() == 3


def test_a_client_at_its_limit_is_skipped_and_the_next_clients_call_runs() -> None:
    """Two workers, one each: A's second call waits even with a worker idle; B's call takes it."""
    h = Harness()
    h.deploy()
    h.ready(b"w1")
    h.ready(b"w2")
    first = job_sent(call(h, A), b"w1")
    assert sent_to(call(h, A)) == [] and sent_to(call(h, A)) == []  # w2 is idle, but not for A
    assert set(h.core.idle) == {b"w2"} and len(h.core.queue) == 2
    assert h.core.counters["client_limit_waits"] >= 1
    b1 = job_sent(call(h, B), b"w2")
    outs = h.final(b"w2", b1)  # w2 free again: only A has work, and A is at its limit
    assert answered(outs, B) and sent_to(outs) == [] and set(h.core.idle) == {b"w2"}
    assert sent_to(call(h, B)) == [b"w2"]  # B's next call still finds it at once
    outs = h.final(b"w1", first)  # A's running call ends: A's next call takes its place
    assert answered(outs, A) and sent_to(outs) == [b"w1"] and len(h.core.queue) == 1


def test_a_long_queue_of_one_client_does_not_hide_another_clients_call() -> None:
    """The skipped calls do not use up the dispatch window: B's call behind many of A's is found."""
    h = Harness(dispatch_window=2)
    h.deploy()
    h.ready(b"w1")
    h.ready(b"w2")
    job_sent(call(h, A), b"w1")
    b0 = job_sent(call(h, B), b"w2")
    for _ in range(5):
        call(h, A)
    call(h, B)
    assert len(h.core.queue) == 6
    outs = h.final(b"w2", b0)
    assert sent_to(outs) == [b"w2"] and [job.client for job in h.core.queue] == [A] * 5


def test_a_client_fills_the_credits_of_the_workers_it_already_holds() -> None:
    """The limit counts workers: A's calls wait in the credits of its worker, the other stays free."""
    h = Harness()
    h.deploy()
    h.worker(b"w1", Command.READY, body={"credits": 4})
    h.worker(b"w2", Command.READY, body={"credits": 4})
    for _ in range(4):
        call(h, A)
    assert len(h.core.workers[b"w1"].jobs) == 4 and not h.core.workers[b"w2"].jobs
    assert sent_to(call(h, B)) == [b"w2"]


def block_of(h: Harness, code_id: str, calls: int, client: bytes = b"block-client") -> list[Outgoing]:
    body = {"op": "block", "calls": [{"code_id": code_id, "function": "add", "args": [i, 1]}
                                     for i in range(calls)]}
    return h.client(body, rid=b"blk", identity=client)


def test_a_block_holds_only_calls_on_its_own_contracts() -> None:
    h = Harness()
    h.deploy()
    other = h.deploy(unique(PROBE))
    h.ready(b"w1")
    h.ready(b"w2")
    assert sent_to(block_of(h, PROBE_ID, 1)) == [b"w1"]  # one task: w2 stays idle
    assert sent_to(call(h, B, PROBE_ID)) == []  # the block's contract: held until the block ends
    assert sent_to(call(h, B, other)) == [b"w2"]  # another contract: runs at once


def test_a_running_block_leaves_a_freed_worker_to_a_call_that_waited_the_bound() -> None:
    h = Harness(max_block_hold=1.0)
    h.deploy()
    other = h.deploy(unique(PROBE))
    h.ready(b"w1")
    h.ready(b"w2")
    outs = block_of(h, PROBE_ID, 3)  # one call per chunk: w1 and w2 each get one, one waits
    tasks = {identity: job_sent(outs, identity) for identity in (b"w1", b"w2")}
    assert sent_to(call(h, B, other)) == []  # no worker free
    h.clock.now += 1.5  # past max_block_hold
    entries = [{"status": "ok", "code": 0, "results": [1], "output": b"", "gas_used": 5, "logs": [],
                "writes": {}, "error": None, "reads": []}]
    outs = h.worker(b"w1", Command.FINAL, tasks[b"w1"], {"status": "ok", "code": 0, "chunk": entries})
    (request,) = [o for o in outs if o.side is Side.BACKEND and command(o) is Command.REQUEST]
    assert request.identity == b"w1" and "chunk" not in reply_body(request)  # the call, not the block
    assert h.core.counters["block_yields"] >= 1 and not h.core.queue


def test_without_an_overdue_call_a_freed_worker_goes_to_the_block() -> None:
    h = Harness(max_block_hold=1.0)
    h.deploy()
    other = h.deploy(unique(PROBE))
    h.ready(b"w1")
    h.ready(b"w2")
    outs = block_of(h, PROBE_ID, 3)
    tasks = {identity: job_sent(outs, identity) for identity in (b"w1", b"w2")}
    call(h, B, other)
    h.clock.now += 0.5  # within the bound
    entries = [{"status": "ok", "code": 0, "results": [1], "output": b"", "gas_used": 5, "logs": [],
                "writes": {}, "error": None, "reads": []}]
    outs = h.worker(b"w1", Command.FINAL, tasks[b"w1"], {"status": "ok", "code": 0, "chunk": entries})
    (request,) = [o for o in outs if o.side is Side.BACKEND and command(o) is Command.REQUEST]
    assert "chunk" in reply_body(request) and len(h.core.queue) == 1


# --- real processes and sockets ------------------------------------------------------------------------

BLOCK_TASK_TIMEOUT = 2.0  # default_timeout: the time limit of each call of a block


@pytest.fixture
def fair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    """Two worker processes with the default fairness policies; a block's calls are cut after 2 s.

    One pool per test: each leaves its workers busy with spinning calls.
    """
    config = BrokerConfig(limits=TEST_LIMITS, grace=3.0, default_timeout=BLOCK_TASK_TIMEOUT)
    pool = start_pool(tmp_path_factory.mktemp("fair") / "state.db", workers=2, config=config)
    try:
        pool.wait_for_workers(2)
        yield pool
    finally:
        pool.stop()


def send(sock: zmq.Socket[bytes], rid: bytes, body: dict[str, Any]) -> None:
    sock.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, rid, body))


def spin_block(code_id: str, calls: int, timeout: float) -> dict[str, Any]:
    return {"op": "block", "timeout": timeout,
            "calls": [{"code_id": code_id, "function": "spin", "gas_limit": SPIN_GAS} for _ in range(calls)]}


def test_one_clients_spinning_calls_leave_a_worker_to_another_client(fair: Pool, probe_wasm: bytes) -> None:
    """Client A sends six calls that spin for 3 s each; client B's quick calls (2 s timeout) are all ok.

    Without the limit A's calls sit on both workers (running and prefetched)
    and every call of B waits behind at least one of them past its timeout.
    """
    with fair.client() as client:
        probe = client.deploy(unique(probe_wasm))
    spinner = dealer(fair.frontend)
    try:
        for n in range(6):
            send(spinner, b"spin-%d" % n,
                 {"op": "call", "code_id": probe, "function": "spin", "gas_limit": SPIN_GAS, "timeout": 3.0})
        with fair.client(timeout=30.0) as other:
            other.stats()  # A's calls are in the broker by now (one socket each, in order)
            results = [other.call(probe, "add", [n, 1], timeout=2.0) for n in range(5)]
            stats = other.stats()
        assert [(r.status, r.results) for r in results] == [("ok", [n + 1]) for n in range(5)]
        # A's calls sit on at most one worker: whether a second worker was ever refused to them
        # (client_limit_waits) depends on whether the first still had credits when they came
        assert stats["workers"] == 2
    finally:
        spinner.close(linger=0)


def test_a_block_with_a_looping_call_does_not_hold_calls_on_other_contracts(fair: Pool,
                                                                             probe_wasm: bytes) -> None:
    """A block's call loops (cut after 2 s, re-run until the block's 20 s limit); B's calls are answered.

    B's calls on another contract are ok while the block still runs; a call
    on the block's own contract waits for the block (its state is the block's).
    """
    with fair.client() as client:
        looping, other = client.deploy(unique(probe_wasm)), client.deploy(unique(probe_wasm))
    blocker = dealer(fair.frontend)
    try:
        send(blocker, b"blk", spin_block(looping, 1, timeout=20.0))
        with fair.client(timeout=30.0) as caller:
            caller.stats()
            results = [caller.call(other, "add", [n, 1], timeout=3.0) for n in range(5)]
            assert [(r.status, r.results) for r in results] == [("ok", [n + 1]) for n in range(5)]
            assert caller.query(looping, "add", [1, 1]).results == [2]  # queries never wait for blocks
        assert not blocker.poll(0)  # the block is still running
    finally:
        blocker.close(linger=0)


def test_a_block_on_every_worker_yields_one_to_a_waiting_call(fair: Pool, probe_wasm: bytes) -> None:
    """Two looping block calls hold both workers; a call that waited ``max_block_hold`` gets one freed.

    Each looping call is cut by its time limit (2 s) and re-run; without the
    policy the freed worker re-runs it at once, and B's call (5 s timeout)
    waits until the block's 20 s limit.
    """
    with fair.client() as client:
        looping, other = client.deploy(unique(probe_wasm)), client.deploy(unique(probe_wasm))
    blocker = dealer(fair.frontend)
    try:
        send(blocker, b"blk2", spin_block(looping, 2, timeout=20.0))
        with fair.client(timeout=30.0) as caller:
            caller.stats()
            result = caller.call(other, "add", [2, 3], timeout=5.0)
            stats = caller.stats()
        assert (result.status, result.results) == ("ok", [5])
        assert stats["counters"].get("block_yields", 0) >= 1
        assert not blocker.poll(0)  # the block is still running
    finally:
        blocker.close(linger=0)


def test_a_block_whose_call_keeps_reaching_its_time_limit_fails_long_before_its_deadline(
        fair: Pool, probe_wasm: bytes) -> None:
    """A looping block call is cut at 2 s and run again; its third cut fails the block (20 s limit).

    Before, it was re-run until the block's own deadline, holding every call
    on the block's contract that long.
    """
    with fair.client() as client:
        looping = client.deploy(unique(probe_wasm))
    blocker = dealer(fair.frontend)
    try:
        started = time.monotonic()
        send(blocker, b"blk3", spin_block(looping, 1, timeout=20.0))
        assert blocker.poll(15_000), "no answer before the block's 20 s limit"
        message = p.decode_reply(blocker.recv_multipart(), TEST_LIMITS)
        assert message.command is Command.ERROR
        assert f"on {BrokerConfig().block_call_timeouts} executions" in message.body["message"]
        assert time.monotonic() - started < 15.0
        with fair.client() as client:  # and the block's contract serves calls again
            assert client.call(looping, "add", [1, 1]).results == [2]
            assert client.stats()["counters"].get("blocks_cut_by_time", 0) >= 1
    finally:
        blocker.close(linger=0)


# --- the command line ------------------------------------------------------------------------------------


def parsed(argv: list[str]) -> BrokerConfig:
    parser = argparse.ArgumentParser()
    broker_command.configure(parser)
    return broker_command.broker_config(parser.parse_args(argv))


def test_the_broker_command_sets_both_policies() -> None:
    defaults = parsed([])
    assert (defaults.max_client_workers, defaults.max_block_hold) == (0, 1.0)
    config = parsed(["--max-client-workers", "3", "--max-block-hold", "0.25"])
    assert (config.max_client_workers, config.max_block_hold) == (3, 0.25)


@pytest.mark.parametrize("argv", [["--max-client-workers", "-1"], ["--max-block-hold", "-0.5"]])
def test_negative_fairness_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parsed(argv)


def test_a_call_is_not_queued_at_a_worker_behind_another_clients_waiting_calls() -> None:
    """A's calls stack up at w1; C runs one call on w2: B's call waits behind C's running call, not A's."""
    h = Harness()
    h.deploy()
    h.worker(b"w1", Command.READY, body={"credits": 4})
    h.worker(b"w2", Command.READY, body={"credits": 4})
    for _ in range(3):
        call(h, A)
    assert sent_to(call(h, b"client-c")) == [b"w2"]
    assert sent_to(call(h, B)) == [b"w2"]  # behind C's running call only
    assert sent_to(call(h, b"client-d")) == []  # behind A's and behind B's waiting call: neither
    assert [job.client for job in h.core.queue] == [b"client-d"]


def test_a_call_arriving_while_another_clients_calls_stack_up_is_answered(fair: Pool,
                                                                         probe_wasm: bytes) -> None:
    """A's six spinning calls stack up at one worker, C's one spinning call runs on the other; B's call is ok.

    B's call (2 s timeout) waits behind C's single call (3 s), not behind
    A's stack of 18 s, where it would time out.
    """
    with fair.client() as client:
        probe = client.deploy(unique(probe_wasm))
    spinner, single = dealer(fair.frontend), dealer(fair.frontend)
    try:
        spin = {"op": "call", "code_id": probe, "function": "spin", "gas_limit": SPIN_GAS, "timeout": 3.0}
        for n in range(6):
            send(spinner, b"spin-%d" % n, spin)
        with fair.client(timeout=30.0) as other:
            other.stats()  # A's calls are in the broker by now
            send(single, b"one", spin)
            while other.stats()["in_flight"] < 7:  # C's call holds the second worker
                time.sleep(0.01)
            result = other.call(probe, "add", [2, 3], timeout=2.0)
        assert (result.status, result.results) == ("ok", [5])
    finally:
        spinner.close(linger=0)
        single.close(linger=0)
