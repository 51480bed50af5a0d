"""A pool for measuring one call at a time: an embedded broker over a scratch SQLite file and one worker.

The pool's cost scripts (``scan_cost.py``, ``holders_cost.py``) run with it, so
they measure the same setup: ``with single_worker_pool() as client: ...``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from wasmpool.broker.config import BrokerConfig
from wasmpool.client import Client
from wasmpool.embed import Broker, BrokerThread
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.supervisor import start_workers, stop_workers

LOOPBACK = "tcp://127.0.0.1:*"
START_WAIT = 60.0  # seconds the worker may take to register


@contextmanager
def single_worker_pool(config: BrokerConfig | None = None) -> Iterator[Client]:
    """A client of a fresh broker (SQLite in a scratch directory, ``config``) with one registered worker."""
    with tempfile.TemporaryDirectory() as scratch:
        broker = Broker(f"sqlite:{scratch}/state.db", LOOPBACK, LOOPBACK, config=config)
        thread = BrokerThread(broker).start()
        workers = start_workers(WorkerConfig(endpoint=thread.backend), 1)
        try:
            with Client(thread.frontend, timeout=120.0) as client:
                deadline = time.monotonic() + START_WAIT
                while client.stats()["workers"] < 1 and time.monotonic() < deadline:
                    time.sleep(0.05)
                yield client
        finally:
            stop_workers(workers)
            thread.stop()
