"""Prefetch and batches with real worker processes: jobs wait at a worker, results travel together.

Workers hold ``1 + prefetch`` jobs (default 8): under load the broker
fills several freed credits with one REQUEST, and a worker sends the
results of consecutive jobs that wrote nothing in one FINAL. These tests
check what a client can observe: every request answered exactly once and
in full, a batch really used, a result never kept back behind a long job,
and writes committed before later jobs read.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator

import pytest
import zmq

from tests.pool.conftest import Pool, serving_pool, unique
from wasmpool.cli import worker as worker_command
from wasmpool.client import Client
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode
from wasmpool.worker.config import DEFAULT_PREFETCH, WorkerConfig, credits
from wasmpool.worker.supervisor import start_workers, stop_workers

CALLS = 400


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    """A pool of its own: one worker process with the default prefetch."""
    yield from serving_pool(tmp_path_factory, "prefetch", 1)


def dealer(endpoint: str) -> zmq.Socket[bytes]:
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(endpoint)
    return sock


def test_the_default_prefetch_gives_eight_credits() -> None:
    assert credits(DEFAULT_PREFETCH) == 8
    assert credits(0) == 1 and credits(10**6) == p.MAX_CREDITS


def test_pipelined_calls_are_batched_and_each_answered_once_in_full(single: Pool, probe_wasm: bytes) -> None:
    with single.client() as client:
        probe = client.deploy(unique(probe_wasm))
        before = client.stats()["counters"].get("batched_jobs", 0)
    sock = dealer(single.frontend)
    prefix = os.urandom(4)
    try:
        for n in range(CALLS):
            body = {"op": "call", "code_id": probe, "function": "add", "args": [n, 1]}
            sock.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, prefix + n.to_bytes(4, "big"), body))
        answers: dict[int, list[int]] = {}
        while len(answers) < CALLS:
            assert sock.poll(30_000), f"only {len(answers)} of {CALLS} answered"
            message = p.decode_reply(sock.recv_multipart())
            n = int.from_bytes(message.request_id[4:], "big")
            assert n not in answers, f"call {n} answered twice"
            answers[n] = message.body["results"]
        assert not sock.poll(300), "an extra answer arrived"
    finally:
        sock.close(linger=0)
    assert answers == {n: [n + 1] for n in range(CALLS)}
    with single.client() as client:
        stats = client.stats()
    assert stats["counters"]["batched_jobs"] > before  # freed credits were filled several at a time
    assert stats["in_flight"] == 0 and stats["queue"] == 0


def test_a_result_is_not_kept_back_behind_a_long_job(single: Pool, probe_wasm: bytes) -> None:
    with single.client() as client:
        probe = client.deploy(unique(probe_wasm))
    sock = dealer(single.frontend)
    try:
        quick = {"op": "call", "code_id": probe, "function": "add", "args": [2, 3]}
        slow = {"op": "call", "code_id": probe, "function": "spin", "gas_limit": 10**9, "timeout": 3.0}
        sock.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, b"quick", quick))
        sock.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, b"slow", slow))
        assert sock.poll(10_000)
        first = p.decode_reply(sock.recv_multipart())
        answered = time.monotonic()
        assert first.request_id == b"quick" and first.body["results"] == [5]
        assert sock.poll(10_000)
        second = p.decode_reply(sock.recv_multipart())
        assert second.request_id == b"slow" and second.body["status"] == "timeout"
        assert time.monotonic() - answered > 1.0  # the quick answer came while the slow call still ran
    finally:
        sock.close(linger=0)


def test_writes_are_committed_before_later_jobs_read(single: Pool, counter_wasm: bytes) -> None:
    with single.client() as client:
        counter = client.deploy(unique(counter_wasm))
        before = client.stats()["counters"].get("reexecutions", 0)
    sock = dealer(single.frontend)
    try:
        for n in range(50):  # all held by one worker at once, or queued right behind
            body = {"op": "call", "code_id": counter, "function": "increment"}
            sock.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, b"inc-%d" % n, body))
        statuses = []
        for _ in range(50):
            assert sock.poll(30_000)
            statuses.append(p.decode_reply(sock.recv_multipart()).body["status"])
    finally:
        sock.close(linger=0)
    assert statuses == ["ok"] * 50
    with single.client() as client:
        stats = client.stats()
        count = client.query(counter, "get").results
    assert stats["counters"].get("reexecutions", 0) == before  # one worker: never a stale read
    assert count == [50]


def test_one_client_object_still_works_with_prefetch(single: Pool, probe_wasm: bytes) -> None:
    with Client(single.frontend) as client:
        probe = client.deploy(unique(probe_wasm))
        assert [client.call(probe, "add", [n, n]).results for n in range(20)] == [[2 * n] for n in range(20)]


def test_a_worker_answers_each_job_of_a_batch_in_order_even_malformed_ones() -> None:
    """A hand-driven ROUTER in place of the broker: READY's credits, then a batch the worker must refuse."""
    context = zmq.Context.instance()
    router: zmq.Socket[bytes] = context.socket(zmq.ROUTER)
    router.linger = 0
    router.bind("tcp://127.0.0.1:*")
    endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
    workers = start_workers(WorkerConfig(endpoint=endpoint, heartbeat=0.2), 1)
    try:
        identity, ready = receive_from_worker(router, Command.READY)
        assert ready.body["credits"] == credits(DEFAULT_PREFETCH)
        batch = {"jobs": [[b"job-1", b"\xc1 not msgpack"], [b"job-2", p.pack({"function": "f"})]]}
        router.send_multipart([identity, *p.encode(p.WORKER_TAG, Command.REQUEST, b"job-1", batch)])
        _, final = receive_from_worker(router, Command.FINAL)
        results = final.body.get("finals", [[final.request_id, final.body]])
        if len(results) == 1:  # the two results may also come one FINAL each
            _, second = receive_from_worker(router, Command.FINAL)
            results.append([second.request_id, second.body])
        assert [job_id for job_id, _ in results] == [b"job-1", b"job-2"]
        assert [result["code"] for _, result in results] == [ErrorCode.BAD_REQUEST] * 2
        assert "not valid msgpack" in results[0][1]["error"]
        assert "missing field" in results[1][1]["error"]
    finally:
        stop_workers(workers)
        router.close(linger=0)


def receive_from_worker(router: zmq.Socket[bytes], wanted: Command) -> tuple[bytes, p.Message]:
    """The next message of kind ``wanted`` from the worker (HEARTBEATs skipped), with its identity."""
    while True:
        assert router.poll(30_000), f"no {wanted.name} from the worker"
        identity, *frames = router.recv_multipart()
        message = p.decode_worker(frames)
        if message.command is wanted:
            return identity, message


@pytest.mark.parametrize(("argv", "expected"), [([], DEFAULT_PREFETCH), (["--prefetch", "0"], 0),
                                                (["--prefetch", "15"], 15)], ids=["default", "zero", "most"])
def test_the_worker_command_takes_prefetch(argv: list[str], expected: int) -> None:
    parser = argparse.ArgumentParser()
    worker_command.configure(parser)
    config = worker_command.config_from(parser.parse_args(argv), "tcp://127.0.0.1:5556")
    assert config.prefetch == expected
    assert credits(config.prefetch) == expected + 1


@pytest.mark.parametrize("value", ["-1", "16", "two"])
def test_the_worker_command_refuses_a_prefetch_out_of_range(value: str) -> None:
    parser = argparse.ArgumentParser()
    worker_command.configure(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--prefetch", value])
