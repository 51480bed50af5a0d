"""The broker's memory is bounded by bytes, whatever one client or one fake worker sends.

Real broker (a thread), real worker process, real sockets: a body of nested
empty arrays within every per-container limit, one client queueing big
calls, big query results, a fake worker's huge cache report and its
repeated module fetches. Each is refused or bounded with a typed answer
while another client is still served.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from tests.pool.chaos import wait_until
from tests.pool.conftest import TEST_LIMITS, Pool, start_pool, unique
from wasmpool.broker.config import BrokerConfig
from wasmpool.broker.core import MAX_CODE_FETCHES
from wasmpool.client import Client
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode, Op
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.supervisor import start_workers
from wasmpool.worker.versions import WORKER_VERSIONS

AS_A_WORKER = {"versions": WORKER_VERSIONS.as_dict()}  # a fake's READY: it runs by this checkout's versions

KIB = 1024
INPUT = 256 * KIB
CALL = INPUT + KIB  # a call's body: its input and the rest
ECHO = 48 * KIB  # a query's output (the probe echoes its input from its 256 KiB memory)
BOUNDED = BrokerConfig(limits=TEST_LIMITS, grace=3.0, max_client_bytes=4 * CALL,
                       max_inflight_bytes=6 * CALL, reply_cache_bytes=8 * ECHO, reply_cache_entry=2 * ECHO)


@pytest.fixture
def idle_pool(tmp_path: Path) -> Iterator[Pool]:
    """A bounded broker with no worker yet: what clients send stays in it."""
    pool = start_pool(tmp_path / "state.db", workers=0, config=BOUNDED)
    try:
        yield pool
    finally:
        pool.stop()


def dealer(context: zmq.Context[Any], endpoint: str) -> zmq.Socket[Any]:
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(endpoint)
    return sock


def reply(sock: zmq.Socket[Any]) -> p.Message:
    assert sock.poll(30_000), "no reply"
    return p.decode_reply(sock.recv_multipart())


def test_a_body_of_nested_empty_arrays_is_refused_before_it_is_built(idle_pool: Pool) -> None:
    arrays = msgpack.packb([[[]] * 1000] * 1000)  # 10^6 lists in 1 MB; each level within max_array_len
    frames = [p.CLIENT_TAG, bytes((Command.REQUEST,)), b"nested", b"\x81\xa2op" + arrays]
    context: zmq.Context[Any] = zmq.Context()
    try:
        sock = dealer(context, idle_pool.frontend)
        sock.send_multipart(frames)
        answer = reply(sock)
        assert answer.command is Command.ERROR and answer.body["code"] == ErrorCode.TOO_LARGE
        assert "max_objects" in answer.body["message"]
    finally:
        context.destroy(linger=0)


def test_one_client_cannot_fill_the_broker_with_queued_calls(idle_pool: Pool, probe_wasm: bytes) -> None:
    context: zmq.Context[Any] = zmq.Context()
    try:
        with idle_pool.client() as client:
            code_id = client.deploy(unique(probe_wasm))
        greedy, other = dealer(context, idle_pool.frontend), dealer(context, idle_pool.frontend)
        body = {"op": Op.CALL, "code_id": code_id, "function": "input_len", "input": bytes(INPUT)}
        for index in range(8):  # twice its byte allowance; nothing runs (no worker)
            greedy.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, b"g%d" % index, body))
        refused = [reply(greedy) for _ in range(4)]  # the four beyond its allowance, answered at once
        assert {(m.command, m.body["code"]) for m in refused} == {(Command.ERROR, ErrorCode.BUSY)}
        assert all("max_client_bytes" in m.body["message"] for m in refused)
        other.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, b"o1", body))  # another client: taken
        with idle_pool.client() as client:
            wait_until(lambda: client.stats()["queue"] == 5, "the other client's call queued")
            assert client.stats()["inflight_bytes"] <= BOUNDED.max_inflight_bytes
        idle_pool.workers = start_workers(WorkerConfig(endpoint=idle_pool.backend, heartbeat=0.2), 1)
        answers = [reply(greedy) for _ in range(4)] + [reply(other)]
        assert all(m.command is Command.FINAL and m.body["results"] == [INPUT] for m in answers)
        with idle_pool.client() as client:
            assert client.stats()["inflight_bytes"] == 0
    finally:
        context.destroy(linger=0)


def test_big_replies_are_not_kept_and_the_kept_ones_are_bounded(idle_pool: Pool, probe_wasm: bytes) -> None:
    idle_pool.workers = start_workers(WorkerConfig(endpoint=idle_pool.backend, heartbeat=0.2), 1)
    idle_pool.wait_for_workers(1)
    with idle_pool.client() as client:
        code_id = client.deploy(unique(probe_wasm))
        for size in [3 * ECHO] * 4 + [ECHO] * 12:  # over the entry limit, then more than the cache holds
            assert len(client.query(code_id, "echo", input=bytes(size)).output) == size
        stats = client.stats()
        assert 0 < stats["reply_cache_bytes"] <= BOUNDED.reply_cache_bytes
        assert stats["reply_cache_entries"] <= BOUNDED.reply_cache_bytes // ECHO + 2  # the small ones too


def test_a_fake_worker_cannot_advertise_a_huge_cache_or_fetch_a_module_again_and_again(
        idle_pool: Pool, probe_wasm: bytes) -> None:
    context: zmq.Context[Any] = zmq.Context()
    try:
        fake = dealer(context, idle_pool.backend)
        huge = {"cache": [f"{n:064x}" for n in range(p.MAX_CACHE_REPORT + 1)]}
        fake.send_multipart(p.encode(p.WORKER_TAG, Command.READY, b"r", huge))
        with idle_pool.client() as client:
            wait_until(lambda: client.stats()["counters"].get("dropped", 0) == 1, "the READY dropped")
            assert client.stats()["workers"] == 0
            fake.send_multipart(p.encode(p.WORKER_TAG, Command.READY, b"r", AS_A_WORKER))
            wait_until(lambda: client.stats()["workers"] == 1, "the fake registered")
            code_id = client.deploy(unique(probe_wasm))
            caller = Client(idle_pool.frontend, timeout=30.0, retries=0)
            caller.socket.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, b"c", {
                "op": Op.CALL, "code_id": code_id, "function": "nothing", "timeout": 1.0}))
            job = next(frames for frames in iter(fake.recv_multipart, None)
                       if frames[1] == bytes((Command.REQUEST,)))[2]
            for seq in range(MAX_CODE_FETCHES + 3):
                fake.send_multipart(p.encode(p.WORKER_TAG, Command.CALLBACK, job, {"op": "code", "seq": seq}))
            codes = []
            while len(codes) < MAX_CODE_FETCHES + 3:
                frames = fake.recv_multipart()
                if frames[1] == bytes((Command.CALLBACK_REPLY,)):
                    codes.append(p.unpack(frames[3]).get("code"))
            assert [c is not None for c in codes] == [True] * MAX_CODE_FETCHES + [False] * 3
            caller.close()
    finally:
        context.destroy(linger=0)


