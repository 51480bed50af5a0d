"""Only real losses count toward the poison-pill cap: real broker, real worker processes, real sockets.

- A whole worker host dies: the broker still lists its processes (nothing
  was sent to them since), so the next call is sent to one corpse after
  another. Those sends fail; the call never reached them, and it must run
  on the live worker instead of failing ``WORKER_LOST``.
- A fake worker sends READY again each time it is given a call: READY from
  a worker that holds jobs hands them back unrun, which is no loss either.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from tests.pool.chaos import wait_until
from tests.pool.conftest import TEST_LIMITS, start_pool, unique
from wasmpool.broker.config import BrokerConfig
from wasmpool.client import Client, Result
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.supervisor import start_workers
from wasmpool.worker.versions import WORKER_VERSIONS

AS_A_WORKER = {"versions": WORKER_VERSIONS.as_dict()}  # a fake's READY: it runs by this checkout's versions

QUIET = BrokerConfig(limits=TEST_LIMITS, grace=3.0, heartbeat_interval=600.0, liveness=3,
                     compile_on_deploy=False)
"""Heartbeats every 10 min: the broker learns of the dead processes only by sending them a job (and
sends them nothing else: no deployed module to compile ahead)."""

BOUNCES = 3  # the poison-pill cap (max_losses): as many READYs would have failed the call


def in_background(call: Callable[[], Result]) -> tuple[threading.Thread, list[Result | BaseException]]:
    out: list[Result | BaseException] = []

    def run() -> None:
        try:
            out.append(call())
        except BaseException as exc:
            out.append(exc)
    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_a_call_sent_to_a_dead_hosts_processes_runs_on_a_live_worker(tmp_path: Path,
                                                                     probe_wasm: bytes) -> None:
    pool = start_pool(tmp_path / "state.db", workers=3, config=QUIET)
    try:
        pool.wait_for_workers(3)
        with pool.client() as client:
            code_id = client.deploy(unique(probe_wasm))
            dead = pool.workers
            for process in dead:  # the whole host goes down at once
                os.kill(process.pid or 0, signal.SIGKILL)
            for process in dead:
                process.join(10)
            pool.workers = start_workers(WorkerConfig(endpoint=pool.backend), 1)  # another host
            wait_until(lambda: client.stats()["workers"] == 4, "the new worker beside the unnoticed dead")
            result = client.call(code_id, "add", [2, 3])
            assert result.ok and result.results == [5] and result.attempts == 1
            counters = client.stats()["counters"]
            assert counters["workers_lost"] == 3 and counters.get("lost_died", 0) == 0
    finally:
        pool.stop()


def test_a_worker_sending_ready_again_does_not_fail_the_calls_it_held(tmp_path: Path,
                                                                     probe_wasm: bytes) -> None:
    pool = start_pool(tmp_path / "state.db", workers=0)
    context: zmq.Context[Any] = zmq.Context()
    fake = context.socket(zmq.DEALER)
    fake.linger = 0
    try:
        fake.connect(pool.backend)
        with pool.client() as client:
            code_id = client.deploy(unique(probe_wasm))
            fake.send_multipart(p.encode(p.WORKER_TAG, Command.READY, b"fake", AS_A_WORKER))
            wait_until(lambda: client.stats()["workers"] == 1, "the fake worker registered")
            caller = Client(pool.frontend, timeout=60.0, retries=0)
            thread, out = in_background(lambda: caller.call(code_id, "add", [40, 2]))
            for bounce in range(BOUNCES + 1):  # given the call, it registers again (drops the call) instead
                assert receive_request(fake)
                if bounce < BOUNCES:
                    fake.send_multipart(p.encode(p.WORKER_TAG, Command.READY, b"fake", AS_A_WORKER))
            assert client.stats()["counters"]["requeued_dropped"] == BOUNCES
            pool.workers = start_workers(WorkerConfig(endpoint=pool.backend, heartbeat=0.2), 1)
            wait_until(lambda: client.stats()["workers"] == 2, "a real worker")
            fake.send_multipart(p.encode(p.WORKER_TAG, Command.DISCONNECT, b"bye", {}))  # leaves holding it
            thread.join(60)
            caller.close()
            (result,) = out
            assert isinstance(result, Result) and result.ok and result.results == [42], result
    finally:
        fake.close(linger=0)
        context.term()
        pool.stop()


def receive_request(sock: zmq.Socket[Any]) -> bool:
    """Wait for the next REQUEST (heartbeats are skipped); False when none comes within a minute."""
    while sock.poll(60_000):
        frames = sock.recv_multipart()
        if frames[1] == bytes((Command.REQUEST,)):
            return True
    return False
