"""Fuzz the live broker: random frames and random msgpack at both sockets, a good client in between.

One invariant (h11's fuzz targets have one each): whatever peers send, the
broker keeps answering a well-behaved client correctly. Each hypothesis
example sends a burst of garbage to the frontend (as a client DEALER) and
to the backend (as a fake worker DEALER): raw random frames, and
protocol-shaped messages (right tag, real command byte, random or
schema-shaped msgpack bodies). Then the good client calls ``add`` with
random numbers and must get exactly their 32-bit sum. Every reply the
frontend fuzzer receives must itself be a well-formed frontend message,
and the garbage must show up in the broker's counters.

The fake worker never sends READY: a peer that registers is a worker, and
keeping strangers off the backend is CURVE's job (test_curve_pool.py).
Bounded: at most 60 examples and 30 seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pool.conftest import Pool, serving_pool, unique
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, Op

pytestmark = pytest.mark.timeout(120)

BUDGET = 30.0  # seconds of fuzzing at most
I32 = 2**32

scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
           | st.text(max_size=20) | st.binary(max_size=40))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
FIELD_NAMES = sorted({name for schema in (*p.CLIENT_SCHEMAS.values(), *p.WORKER_SCHEMAS.values())
                      for name in schema} | {"op"})
shaped_bodies = st.dictionaries(st.sampled_from(FIELD_NAMES), values | st.sampled_from([o.value for o in Op]),
                                max_size=6)
bodies = st.one_of(st.binary(max_size=64), values.map(lambda v: msgpack.packb(v, use_bin_type=True)),
                   shaped_bodies.map(lambda b: msgpack.packb(b, use_bin_type=True)))
request_ids = st.binary(min_size=0, max_size=40)
raw_messages = st.lists(st.binary(max_size=48), min_size=0, max_size=6)


def shaped(tag: bytes, commands: list[Command]) -> st.SearchStrategy[list[bytes]]:
    """Four frames with the right tag and a real command: the body and id are the fuzz."""
    command = st.sampled_from([bytes((c,)) for c in commands]) | st.binary(min_size=1, max_size=2)
    return st.tuples(command, request_ids, bodies).map(lambda t: [tag, t[0], t[1], t[2]])


frontend_messages = st.lists(raw_messages | shaped(p.CLIENT_TAG, list(Command)), max_size=5)
NOT_READY = [c for c in Command if c is not Command.READY]
backend_messages = st.lists(raw_messages | shaped(p.WORKER_TAG, NOT_READY), max_size=5)


class Fuzzers:
    """The two garbage sockets and the replies the frontend one got."""

    def __init__(self, pool: Pool) -> None:
        self.context = zmq.Context()
        self.front = self._dealer(pool.frontend)
        self.back = self._dealer(pool.backend)
        self.replies = 0

    def _dealer(self, endpoint: str) -> zmq.Socket[Any]:
        sock: zmq.Socket[Any] = self.context.socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(endpoint)
        return sock

    def send(self, sock: zmq.Socket[Any], messages: list[list[bytes]]) -> None:
        for frames in messages:
            if frames:  # ZeroMQ has no empty multipart message
                sock.send_multipart(frames)

    def check_replies(self) -> None:
        """Everything the frontend sent back is a well-formed frontend message (ERROR or FINAL)."""
        while self.front.poll(0):
            frames = self.front.recv_multipart()
            assert frames[0] == p.CLIENT_TAG and len(frames) == p.FRAME_COUNT, frames
            assert frames[1] in (bytes((Command.ERROR,)), bytes((Command.FINAL,))), frames
            p.unpack(frames[3])
            self.replies += 1
        while self.back.poll(0):  # the fake worker's answers (DISCONNECT, CALLBACK_REPLY): just drained
            self.back.recv_multipart()

    def close(self) -> None:
        self.front.close(linger=0)
        self.back.close(linger=0)
        self.context.term()


@pytest.fixture(scope="module")
def fuzz_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    yield from serving_pool(tmp_path_factory, "fuzz", 1)


def test_the_broker_serves_a_good_client_through_garbage(fuzz_pool: Pool, probe_wasm: bytes) -> None:
    fuzzers = Fuzzers(fuzz_pool)
    client = fuzz_pool.client(timeout=20.0)
    started = time.monotonic()
    try:
        probe = client.deploy(unique(probe_wasm))
        before = client.stats()["counters"]

        @settings(max_examples=60, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(front=frontend_messages, back=backend_messages, a=st.integers(0, I32 - 1),
               b=st.integers(0, I32 - 1))
        def example(front: list[list[bytes]], back: list[list[bytes]], a: int, b: int) -> None:
            if time.monotonic() - started > BUDGET:
                return
            fuzzers.send(fuzzers.front, front)
            fuzzers.send(fuzzers.back, back)
            result = client.call(probe, "add", [a, b])
            total = (a + b) % I32
            assert result.ok and result.results == [total - I32 if total >= 2**31 else total]
            fuzzers.check_replies()

        example()
        after = client.stats()
        assert after["workers"] == 1  # the real worker; the fake one never registered
        garbage = sum(after["counters"].get(k, 0) - before.get(k, 0) for k in after["counters"]
                      if k.startswith("error_") or k == "dropped")
        assert garbage > 0 and fuzzers.replies > 0
        assert fuzz_pool.thread.error is None and fuzz_pool.thread._thread.is_alive()
    finally:
        client.close()
        fuzzers.close()
